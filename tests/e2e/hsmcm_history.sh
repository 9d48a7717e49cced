#!/bin/bash
# hsmcm's interactive history (XDG_DATA_HOME/openped/hsmcm_history) keeps
# commands for 'history' and '!N' but never a line that may carry a secret:
# -password and -challenge in any case, prefix or alias the parser accepts,
# the reference's -challengeSecret, and misspellings the parser refuses.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
start_hsm
export XDG_DATA_HOME="$T/data"
printf '%s\n' "slot list" "role login -name co -PWD 31415926" "role login -n co -p 27182818" \
	"role createchallenge -c 16180339 -name co" "role login -name co -Pass 14142135" \
	"role createchallenge -name co -challengeSecret 17320508" "role login -name co -passwrod 22360679" \
	"history" "exit" |
	timeout 60 "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" >"$T/out" 2>&1 || true
H=$(find "$T/data" -name hsmcm_history)
[ -n "$H" ] || fail "no history file: $(cat "$T/out")"
grep -qx "slot list" "$H" || fail "plain command not kept: $(cat "$H")"
for s in 31415926 27182818 16180339 14142135 17320508 22360679; do
	grep -q "$s" "$H" && fail "secret $s in the history: $(cat "$H")"
done
[ "$(stat -c %a "$H")" = 600 ] || fail "history mode $(stat -c %a "$H")"
expect_contains "$(cat "$T/out")" "1  slot list"
echo "hsmcm history ok"
