#!/bin/bash
# make bench, rows 4 and 5 (issue #33): applications' operations through a
# PKCS#11 module (tests/tools/bench_p11), against the same operations
# in-process with OpenSSL (the floor) and SoftHSM2, in one run; then C_Login
# through a headless PED (3 of 5 with PINs) to the first signature.
#
#   scripts/bench_p11.sh BUILD OUT_PREFIX
#
# Writes OUT_PREFIX.txt (the table) and OUT_PREFIX.json (a JSON object for
# bench.json); exits non-zero only when it cannot run. SoftHSM2 missing
# (Debian's softhsm2) skips its column, with the reason in the table.
set -u -o pipefail # a failing bench_p11 must not hide behind its sed
build=${1:-build}
out=${2:-$build/bench-p11}
top=$(cd "$(dirname "$0")/.." && pwd)
BIN="$top/$build/bin" TOOLS="$top/$build/tests" MODULE="$top/$build/lib/libopenped-pkcs11.so"
SECONDS_PER=${BENCH_P11_SECONDS:-1}
ROUNDS=${BENCH_P11_ROUNDS:-3}
LOGINS=${BENCH_P11_LOGINS:-40}
T=$(mktemp -d "${TMPDIR:-/tmp}/ped-bench-p11.XXXXXX")
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data" IKEY_STORE="$T/keys"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench_p11: $*" >&2; exit 1; }
wait_for() { local n=0; until "$@" >/dev/null 2>&1; do n=$((n + 1)); [ $n -gt 2000 ] && return 1; sleep 0.01; done; }
[ -x "$TOOLS/bench_p11" ] || die "$TOOLS/bench_p11 is missing: make first"
[ -f "$MODULE" ] || die "$MODULE is missing: make first"

# hsm-sim with one partition whose Crypto Officer is 3 of 5 with PINs (the
# masks at the test cost, as the other login rows), on a local headless PED
declare -A K
for l in so hdom po pdom co1 co2 co3 co4 co5; do K[$l]=$("$BIN/ikey" new -label $l) || die "ikey"; done
cat >"$T/ped.policy" <<P
write "SETTING SO" ${K[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${K[hdom]} ${K[pdom]}
write "SETTING PO" ${K[po]}
mofn "SETTING CO" 3 5
write "SETTING CO" ${K[co1]} ${K[co2]} ${K[co3]} ${K[co4]} ${K[co5]}
newpin "SETTING CO" 11111111 22222222 33333333 44444444 55555555
pin ${K[co1]} 11111111
pin ${K[co3]} 33333333
pin ${K[co5]} 55555555
use "SO LOGIN" ${K[so]}
use "PO LOGIN" ${K[po]}
use "CO LOGIN" ${K[co1]} ${K[co3]} ${K[co5]}
P
"$BIN/hsm-sim" -state "$T/state" -socket "$T/hsm.sock" -logfile "$T/hsm.log" &
pids+=($!)
wait_for test -S "$T/ped-154438865288.sock" || die "hsm-sim did not start"
"$BIN/ped-device" -headless -hsm "$T/ped-154438865288.sock" -policy "$T/ped.policy" -events "$T/ped.events" \
	-pinmaskcost 8 >"$T/ped.log" 2>&1 &
pids+=($!)
wait_for grep -q '"event":"attached"' "$T/ped.events" || die "the PED did not attach"
"$BIN/hsmcm" -socket "$T/hsm.sock" -c "hsm init -label bench; role login -name so; partition create -label p11; slot set -slot 1; partition init -label p11; role login -name po; role init -name co; role logout" \
	>"$T/setup.out" 2>&1 || { cat "$T/setup.out" >&2; die "setup failed"; }
export OPENPED_PKCS11_CONF="$T/openped-pkcs11.conf" OPENPED_PKCS11_LOG="$T/pkcs11.log"
printf 'Module = {\n  Socket = "%s";\n};\n' "$T/hsm.sock" >"$OPENPED_PKCS11_CONF"

# SoftHSM2 with a token of its own, in this run's directory
softhsm=/usr/lib/softhsm/libsofthsm2.so
sh_skip=""
if [ ! -f "$softhsm" ] || ! command -v softhsm2-util >/dev/null; then
	sh_skip="SoftHSM2 is not installed (Debian softhsm2; make deps installs it)"
else
	mkdir -p "$T/softhsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/softhsm" >"$T/softhsm2.conf"
	export SOFTHSM2_CONF="$T/softhsm2.conf"
	# a token per process: two processes changing one token's files (each
	# login does) left it unreadable in our runs
	for i in 0 1; do
		softhsm2-util --init-token --free --label bench$i --so-pin 87654321 --pin 12345678 >"$T/softhsm.out" 2>&1 ||
			sh_skip="softhsm2-util --init-token failed: $(tail -n 1 "$T/softhsm.out")"
	done
fi

# Rounds alternate the three so that each sees the machine as the others do
# (a shared host's speed drifts); medians per operation.
: >"$T/ops"
for r in $(seq "$ROUNDS"); do
	for cfg in "1 1" "2 4"; do
		th=$(( ${cfg% *} * ${cfg#* } ))
		"$TOOLS/bench_p11" ops openssl - - $cfg "$SECONDS_PER" | sed "s/^/floor $th /" >>"$T/ops" ||
			die "the OpenSSL floor"
		"$TOOLS/bench_p11" ops "$MODULE" p11 - $cfg "$SECONDS_PER" 2>"$T/ours.err" | sed "s/^/openped $th /" >>"$T/ops" ||
			die "libopenped-pkcs11.so: $(cat "$T/ours.err")"
		if [ -z "$sh_skip" ]; then
			"$TOOLS/bench_p11" ops "$softhsm" 'bench%d' 12345678 $cfg "$SECONDS_PER" 2>"$T/sh.err" |
				sed "s/^/softhsm $th /" >>"$T/ops" || die "SoftHSM2: $(cat "$T/sh.err")"
		fi
	done
done
# The floor under any operation sent to another process: a 4 KiB request
# and a 4 KiB reply between two threads through ped_framer, sleeping in
# each wait and looking first as the module and hsm-sim do (their spins)
ipc=""
for cfg in "1 0" "1 200" "8 0" "8 200"; do
	read -r rt us < <("$TOOLS/bench_wakeup" $cfg "$SECONDS_PER") || die "bench_wakeup $cfg"
	ipc="$ipc${ipc:+, }{\"pairs\": ${cfg% *}, \"spin_us\": ${cfg#* }, \"round_trips_per_s\": $rt, \"cpu_us_per_round_trip\": $us}"
	ipc_txt="${ipc_txt:-}$(printf '%-24s %3s %10s %10s\n' "ipc 4k round trip" "${cfg% *}" "spin ${cfg#* }" "$rt") ($us us CPU)
"
done
read -r l_med l_p99 < <("$TOOLS/bench_p11" login "$MODULE" p11 - "$LOGINS" | awk '{print $2, $3}') ||
	die "C_Login through the PED to the first signature"
[ -n "$l_med" ] || die "C_Login through the PED to the first signature"

med() { awk -v w="$1 $2 $3" '$1 " " $2 " " $3 == w { print $4 }' "$T/ops" | sort -g |
	awk '{ a[NR] = $1 } END { if (NR) printf "%.0f", a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
{
	printf '%-24s %3s %10s %10s %10s %9s %9s\n' "PKCS#11 ops/s" thr floor SoftHSM2 openped "/floor" "/SoftHSM2"
	json=""
	for op in ecdsa_p256_sign rsa2048_pkcs1_sign rsa2048_pkcs1_verify aes256_gcm_encrypt_4k genkeypair_p256; do
		for th in 1 8; do
			fl=$(med floor $th $op) sh=$(med softhsm $th $op) us=$(med openped $th $op)
			rf=$(ratio "$fl" "$us") rs=$(ratio "$us" "$sh")
			printf '%-24s %3s %10s %10s %10s %9s %9s\n' "$op" "$th" "$fl" "${sh:--}" "$us" "$rf" "$rs"
			json="$json${json:+, }{\"op\": \"$op\", \"threads\": $th, \"floor\": $fl, \"softhsm2\": ${sh:-null}, \"openped\": $us, \"floor_over_openped\": $( [ "$rf" = - ] && echo null || echo "$rf"), \"openped_over_softhsm2\": $( [ "$rs" = - ] && echo null || echo "$rs")}"
		done
	done
	echo "(ops/s, median of $ROUNDS rounds of ${SECONDS_PER} s; 8 threads = 2 processes x 4; /floor: how many times"
	echo " slower than in-process OpenSSL; /SoftHSM2: how many times faster than SoftHSM2${sh_skip:+; SoftHSM2 skipped: $sh_skip})"
	printf 'C_Login through the PED (3 of 5, PINs) to the first signature: median %s ms, p99 %s ms (%s logins)\n' \
		"$l_med" "$l_p99" "$LOGINS"
	echo "Round trips between two threads (bench_wakeup; 4 KiB each way; pairs; spin: each wait looks that many us"
	echo " before it sleeps), the floor under an operation sent to hsm-sim:"
	printf '%s' "$ipc_txt"
} >"$out.txt"
cat >"$out.json" <<EOF
{"rounds": $ROUNDS, "seconds": $SECONDS_PER, "softhsm2_skipped": $( [ -n "$sh_skip" ] && printf '"%s"' "$sh_skip" || echo null), "ops": [$json],
   "login_3of5_to_first_sign_median_ms": $l_med, "login_3of5_to_first_sign_p99_ms": $l_p99,
   "ipc_round_trips": [$ipc]}
EOF
cat "$out.txt"
