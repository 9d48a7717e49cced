#!/bin/bash
# make bench's PKCS#11 program (tests/tools/bench_p11) does what the table
# says, briefly and with no time asserted: every operation runs through
# libopenped-pkcs11.so (1 thread, then 2 processes of 2 logged in through
# the PED), through in-process OpenSSL, and through SoftHSM2 when it is
# installed; the login row logs in through the PED and signs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e

OPS="ecdsa_p256_sign rsa2048_pkcs1_sign rsa2048_pkcs1_verify aes256_gcm_encrypt_4k genkeypair_p256"
BENCH=("${RUN[@]}" "$TOOLS/bench_p11")
# every operation once, each with a rate above zero
check_ops() { # WHAT FILE
	local op
	for op in $OPS; do
		grep -Eq "^$op [0-9]*[1-9][0-9]*(\.[0-9])?$" "$2" || fail "$1: no rate for $op: $(cat "$2")"
	done
	[ "$(wc -l <"$2")" -eq 5 ] || fail "$1: not five lines: $(cat "$2")"
}

note "the floor: in-process OpenSSL"
"${BENCH[@]}" ops openssl - - 1 1 0.05 >"$T/floor.out" 2>&1 || fail "floor: $(cat "$T/floor.out")"
check_ops floor "$T/floor.out"

p11_start
p11_init_hsm
note "the module, 1 thread and 2 processes of 2"
"${BENCH[@]}" ops "$MODULE" "$TOKEN" - 1 1 0.1 >"$T/one.out" 2>&1 || fail "module: $(cat "$T/one.out")"
check_ops "module, 1 thread" "$T/one.out"
"${BENCH[@]}" ops "$MODULE" "$TOKEN" - 2 2 0.1 >"$T/four.out" 2>&1 || fail "module x4: $(cat "$T/four.out")"
check_ops "module, 2 x 2" "$T/four.out"
before=$(ped_logins L)
"${BENCH[@]}" login "$MODULE" "$TOKEN" - 3 >"$T/login.out" 2>&1 || fail "login: $(cat "$T/login.out")"
grep -Eq '^login_to_sign [0-9.]+ [0-9.]+$' "$T/login.out" || fail "login: $(cat "$T/login.out")"
# the setup's login and three timed ones, each on the PED
[ $(($(ped_logins L) - before)) -eq 4 ] || fail "the PED served $(($(ped_logins L) - before)) logins, not 4"
# every process's application ends with it: sessions and keys gone
wait_for 10 eval 'hsmcm -c "application list"; grep -qxP "\\tApplications -> 0" <<<"$OUT"' ||
	fail "applications left in hsm-sim: $OUT"

softhsm=/usr/lib/softhsm/libsofthsm2.so
if [ -f "$softhsm" ] && command -v softhsm2-util >/dev/null; then
	note "SoftHSM2, a token per process"
	mkdir -p "$T/softhsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/softhsm" >"$T/softhsm2.conf"
	export SOFTHSM2_CONF="$T/softhsm2.conf"
	for i in 0 1; do
		softhsm2-util --init-token --free --label bench$i --so-pin 87654321 --pin 12345678 >/dev/null ||
			fail "softhsm2-util --init-token"
	done
	"${BENCH[@]}" ops "$softhsm" 'bench%d' 12345678 2 2 0.05 >"$T/sh.out" 2>&1 || fail "SoftHSM2: $(cat "$T/sh.out")"
	check_ops SoftHSM2 "$T/sh.out"
else
	note "SoftHSM2 is not installed: its part is skipped (make deps installs softhsm2)"
fi
# the IPC floor beside the table: round trips, sleeping and looking first
for cfg in "1 0" "2 200"; do
	"${RUN[@]}" "$TOOLS/bench_wakeup" $cfg 0.05 >"$T/ipc.out" 2>&1 || fail "bench_wakeup $cfg: $(cat "$T/ipc.out")"
	grep -Eq '^[1-9][0-9]* [0-9]+\.[0-9]+$' "$T/ipc.out" || fail "bench_wakeup $cfg: $(cat "$T/ipc.out")"
done
set +e
"$TOOLS/bench_wakeup" 0 0 1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bench_wakeup with no pair did not refuse (exit 2)"
set -e
echo "bench_p11 smoke ok"
