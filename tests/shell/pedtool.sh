#!/bin/bash
# pedtool's single-shot commands against known answers and the openssl CLI.
. "$(dirname "$0")/../lib.sh"
P=$BIN/pedtool

note "sskdf: OpenSSL's own SHA-512 test case"
expect_exit 0 "$P" sskdf -z 108cf63318555c787fa578731dd4f037 -info 53191b1dd3f94d83084d61d6 -len 16
expect_eq "$OUT" "0ad475c1826da3007637970c8b92b993"
expect_exit 2 "$P" sskdf -z 00 -len 0
expect_contains "$OUT" "out of range"

note "kwp: RFC 5649 section 6 example (192-bit KEK, 20-byte key)"
kek=5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8
expect_exit 0 "$P" kwp wrap -key $kek -data c37b7e6492584340bed12207808941155068f738
expect_eq "$OUT" "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
expect_exit 0 "$P" kwp unwrap -key $kek -data 138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a
expect_eq "$OUT" "c37b7e6492584340bed12207808941155068f738"
expect_exit 1 "$P" kwp unwrap -key $kek -data 138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6b
expect_contains "$OUT" "integrity check failed"
expect_exit 2 "$P" kwp wrap -key 00 -data 00

note "ecdh: agrees with openssl pkeyutl"
if command -v openssl >/dev/null; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$T/a.pem" 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$T/b.pem" 2>/dev/null
	openssl pkey -in "$T/b.pem" -pubout -out "$T/b.pub"
	want=$(openssl pkeyutl -derive -inkey "$T/a.pem" -peerkey "$T/b.pub" | od -An -v -tx1 | tr -d ' \n')
	expect_exit 0 "$P" ecdh -key "$T/a.pem" -peer "$T/b.pub"
	expect_eq "$OUT" "$want" "pedtool ecdh vs openssl pkeyutl"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/c.pem" 2>/dev/null
	expect_exit 1 "$P" ecdh -key "$T/c.pem" -peer "$T/b.pub"
	expect_contains "$OUT" "P-521"
fi

note "usage"
expect_exit 0 "$P" -help
expect_contains "$OUT" "handshake"
expect_exit 2 "$P" nosuch
expect_contains "$OUT" "unknown command"
expect_exit 0 "$P" -version
expect_contains "$OUT" "pedtool 0.1.0"
echo "pedtool ok"
