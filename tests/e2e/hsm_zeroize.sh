#!/bin/bash
# hsm zeroize as the reference has it: anyone at the shell may run it (no
# login: it destroys, it reveals nothing, and an HSM whose SO key is lost
# must still be zeroizable), but it asks "Type 'proceed' to continue, or
# 'quit' to quit now" unless -force; without a terminal and without -force
# it is refused and the HSM is untouched.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
command -v tmux >/dev/null || skip "tmux is not installed (make deps installs it)"

export TMUX_TMPDIR="$T" XDG_DATA_HOME="$T/data"
S=zz
tm() { tmux -L "$S" "$@"; }
screen() { tm capture-pane -p -J -S -200 -t "$S"; }
tm_wait() {
	wait_for 20 eval "screen | grep -qF -- \"$1\"" || { screen >&2; fail "hsmcm never showed '$1'"; }
}
type_line() { tm send-keys -t "$S" -l "$1"; tm send-keys -t "$S" Enter; }
cleanup_tmux() { tm kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; _cleanup' EXIT

new_keys so dom so2 dom2
start_hsm
printf 'write "SETTING SO" %s %s\nwrite "SETTING DOMAIN" %s %s\n' "${KEY[so]}" "${KEY[so2]}" "${KEY[dom]}" "${KEY[dom2]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label zz"
[ $RC -eq 0 ] || fail "hsm init: $OUT"

note "without a terminal and without -force: refused, nothing erased"
hsmcm -c "hsm zeroize"
[ $RC -ne 0 ] || fail "zeroized without confirmation: $OUT"
expect_contains "$OUT" "asks for confirmation and no terminal can answer: give -force"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> yes"

note "at a terminal: quit keeps the HSM, proceed zeroizes it (no login either time)"
tm new-session -d -s "$S" -x 150 -y 50 "$BIN/hsmcm -socket $HSM_SOCK; sleep 30"
tm set-option -t "$S" remain-on-exit on >/dev/null
tm_wait "hsmcm:>"
type_line "hsm zeroize"
tm_wait "Type 'proceed' to continue, or 'quit' to quit now ->"
type_line "quit"
tm_wait "Command Result : 0x1 (CKR_CANCEL)"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> yes"
type_line "hsm zeroize"
wait_for 20 eval 'screen | grep -c "quit now ->" | grep -q 2' || { screen >&2; fail "second prompt"; }
type_line "proceed"
tm_wait "The HSM was successfully zeroized."
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"

note "-force: no question"
hsmcm -c "hsm init -label zz2; hsm zeroize -force; hsm showinfo"
[ $RC -eq 0 ] || fail "hsm zeroize -force: $OUT"
expect_contains "$OUT" "The HSM was successfully zeroized."
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"
echo "hsm zeroize ok"
