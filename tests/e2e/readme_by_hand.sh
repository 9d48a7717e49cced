#!/bin/bash
# Issue #32, item 14: README's "Remote PED by hand", run as written (PATH
# to this build; the ncurses PED headless with a policy; hsmcm's
# interactive line fed "ped vector init"), in a network namespace of its
# own so its fixed ports are free. On loopback it must listen on loopback
# only (it opened 0.0.0.0:1503 and 0.0.0.0:9697); it must say which
# command takes its own terminal and that the password is typed on the
# PED; and its "stop everything" lines must leave no process behind.
if [ "${1:-}" != --inside ]; then
	. "$(dirname "$0")/../lib.sh"
	set -e
	[ "$(id -u)" = 0 ] || skip "needs root: a network namespace for the README's fixed ports"
	command -v unshare >/dev/null && command -v ss >/dev/null || skip "unshare or ss is missing (make deps)"
	unshare --net true 2>/dev/null || skip "cannot make a network namespace here"
	sect() { awk -v h="$1" '$0 == h { on = 1; next } on && /^## / { exit } on' "$PED_SRCDIR/README.md"; }
	sect "## Remote PED by hand" >"$T/section"
	grep -qi "own terminal" "$T/section" || fail "README does not say which command takes its own terminal"
	grep -qi "type .* on the.*PED\|on the PED" "$T/section" || fail "README does not say the password is typed on the PED"
	grep -qi "stop everything" "$T/section" || fail "README does not say how to stop everything"
	block() { awk -v n="$1" '/^```sh$/ { b++; on = b == n; next } /^```$/ { on = 0; next } on' "$T/section"; }
	block 1 >"$T/start.sh"
	block 2 >"$T/stop.sh"
	[ -s "$T/stop.sh" ] || fail "README's Remote PED by hand has no lines that stop everything"
	unshare --net --fork --kill-child bash "$0" --inside "$T" || exit $?
	echo "readme by hand ok"
	exit 0
fi

O=$2
. "$(dirname "$0")/../lib.sh"
set -e
ip link set lo up
mkdir -m 700 "$O/run" "$O/data" "$O/home"
export XDG_RUNTIME_DIR="$O/run" XDG_DATA_HOME="$O/data" HOME="$O/home"
cd "$O"
transcript="$O/transcript"
: >"$transcript"
# the README's shell: one bash that runs its lines in order
run() { # LINE [stdin]
	echo "\$ $1"
	OUT=$(bash -c "export PATH=$BIN:\$PATH; ${1//\$PWD\/build\/bin/$BIN}" <<<"${2:-}" 2>&1 | tee -a "$transcript"
	      exit "${PIPESTATUS[0]}") || fail "'$1' failed: $OUT"
	echo "$OUT"
}
while IFS= read -r line; do
	cmd=${line%%#*}
	cmd=${cmd%"${cmd##*[! ]}"}
	case $cmd in
	"" | export\ PATH=*) continue ;;
	ped-device*)
		keys=($(grep -o '^[0-9A-F]\{16\}$' "$transcript"))
		printf 'password %s\nidentity %s\nwrite rpv %s\n' "$transcript" "$transcript" "${keys[0]}" >"$O/ped.policy"
		"$BIN/${cmd%% *}" ${cmd#* } -headless -policy "$O/ped.policy" -events "$O/ped.events" >"$O/ped.log" 2>&1 &
		ped=$!
		track $ped
		wait_for 20 grep -q '"attached":true' "$O/ped.events" || fail "the PED did not attach: $(cat "$O/ped.log")"
		;;
	hsmcm) run "$cmd" "ped vector init" ; expect_contains "$OUT" "No Error" ;;
	*) run "$cmd" ;;
	esac
	case $cmd in
	hsm-sim*) hsm_pid=$(sed -n 's/^hsm-sim started (pid \([0-9]*\)).*/\1/p' <<<"$OUT"); track "$hsm_pid" ;;
	pedserver\ -mode\ start*) track "$(cat "$O/run/openped/pedserver.pid")" ;;
	pedclient\ -mode\ start*) track "$(cat "$O/run/openped/pedclient.pid")" ;;
	esac
done <"$O/start.sh"
expect_contains "$OUT" "Ped2 Connection Status:   Connected" "pedserver -mode show"

note "on loopback, nothing listens beyond it"
ss -ltnH >"$O/listening"
cat "$O/listening"
grep -q ':1503 ' "$O/listening" || fail "pedserver is not on 1503"
! awk '{ print $4 }' "$O/listening" | grep -v '^127\.0\.0\.1:\|^\[::1\]:' || fail "listening beyond loopback: $(cat "$O/listening")"

note "the README's stop lines stop everything"
kill -TERM "$ped"
wait_gone 10 "$ped" || fail "the PED did not stop"
while IFS= read -r line; do
	cmd=${line%%#*}
	cmd=${cmd%"${cmd##*[! ]}"}
	[ -n "$cmd" ] || continue
	run "${cmd//kill PID/kill $hsm_pid}"
done <"$O/stop.sh"
for p in "${_pids[@]}"; do wait_gone 20 "$p" || fail "pid $p ($(cat /proc/$p/comm 2>/dev/null)) is still running"; done
[ -z "$(ss -ltnH)" ] || fail "still listening: $(ss -ltnH)"
echo "inside ok"
