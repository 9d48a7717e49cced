#!/bin/bash
# Prompts instead of errors, when a terminal is there (001, line 121; chapter
# 8, role createchallenge): role login without -password on an activated
# role asks "Enter the password:" and reads it without echo; role
# createchallenge without -challenge asks for it twice. Without a terminal
# the error stays. Neither answer reaches the screen, hsmcm's history or
# hsm-sim's log.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
command -v tmux >/dev/null || skip "tmux is not installed (make deps installs it)"

export TMUX_TMPDIR="$T" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_DATA_HOME"
S=cm
tm() { tmux -L "$S" "$@"; }
screen() { tm capture-pane -p -J -S -200 -t "$S"; }
tm_wait() {
	wait_for 20 eval "screen | grep -qF -- \"$1\"" || { screen >&2; fail "hsmcm never showed '$1'"; }
}
type_line() { tm send-keys -t "$S" -l "$1"; tm send-keys -t "$S" Enter; }
cleanup_tmux() { tm kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; _cleanup' EXIT

new_keys so hdom po pdom co
start_hsm
all_roles_policy >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label prompts; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role createchallenge -name co -challenge \"open sesame\"; partition changepolicy -policy 22 -value 1; role logout; role login -name co -password \"open sesame\""
[ $RC -eq 0 ] || fail "setup: $OUT"
expect_contains "$OUT" "Role co activated"

note "without a terminal the missing -password is an error"
hsmcm -c "slot set -slot 1; role login -name co"
[ $RC -ne 0 ] || fail "a login without -password and without a terminal: $OUT"
expect_contains "$OUT" "Option -password was not supplied.  It is required."
expect_not_contains "$OUT" "Enter the password"

note "at a terminal it is asked for, and typed without echo"
tm new-session -d -s "$S" -x 150 -y 50 "$BIN/hsmcm -socket $HSM_SOCK; sleep 30"
tm set-option -t "$S" remain-on-exit on >/dev/null
tm_wait "hsmcm:>"
type_line "slot set -slot 1"
tm_wait "Current Slot Id: 1"
type_line "role login -name co"
tm_wait "Enter the password:"
type_line "open sesame"
tm_wait "User is activated, PED is not required."
screen | grep -qF "Enter the password: ***********" || { screen >&2; fail "the password was not shown as asterisks"; }
! screen | grep -qF "open sesame" || { screen >&2; fail "the password was echoed"; }

note "role createchallenge asks for the secret twice"
type_line "role login -name po"
wait_for 20 eval 'screen | grep -c "Command Result : No Error" | grep -q 3' || { screen >&2; fail "PO login"; }
type_line "role createchallenge -name co"
tm_wait "Enter the challenge secret:"
type_line "a new secret 1"
tm_wait "Re-enter the challenge secret:"
type_line "a new secret 1"
wait_for 20 eval 'screen | grep -c "Command Result : No Error" | grep -q 4' || { screen >&2; fail "createchallenge"; }
! screen | grep -qF "a new secret 1" || { screen >&2; fail "the challenge was echoed"; }
type_line "role createchallenge -name co"
tm_wait "Enter the challenge secret:"
type_line "one secret 12"
tm_wait "Re-enter the challenge secret:"
type_line "another one 12"
tm_wait "the two entries differ"
type_line "exit"

note "the challenge typed at the prompt is the CO's now; the old one is refused"
hsmcm -c "slot set -slot 1; role login -name co -password \"a new secret 1\""
[ $RC -eq 0 ] || fail "the challenge set at the prompt: $OUT"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
[ $RC -ne 0 ] || fail "the old challenge still logs in: $OUT"
expect_contains "$OUT" "CKR_PIN_INCORRECT"

note "no secret in the history or the log"
hist="$XDG_DATA_HOME/openped/hsmcm_history"
[ -f "$hist" ] || hist=$(find "$XDG_DATA_HOME" -name hsmcm_history | head -n 1)
[ -n "$hist" ] && grep -q "role login -name co" "$hist" || fail "no history: $(ls -R "$XDG_DATA_HOME")"
! grep -q "open sesame\|a new secret\|another one" "$hist" || fail "a secret in the history: $(cat "$hist")"
! grep -q "open sesame\|a new secret\|another one" "$T/hsm.log" || fail "a secret in hsm-sim's log"
echo "hsmcm prompts ok"
