#!/bin/bash
# hsmcm's interactive history (XDG_DATA_HOME/openped/hsmcm_history) keeps
# commands for 'history' and '!N' but never a line that may carry a secret:
# -password and -challenge in any case, prefix or alias the parser accepts,
# the reference's -challengeSecret, and misspellings the parser refuses.
# The check cuts the line into words with hsm-sim's own tokenizer, so an
# option glued to a quoted word ("co"-challenge) is seen as hsm-sim sees it.
# A line over the limit is refused whole: nothing of it run or recorded.
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

note "quotes glued to an option, an object's value, lines at and over the limit"
# 4095 characters is the longest line; 5046 used to be read as two commands,
# the second (the tail of the secret) run and recorded.
fit="hsm showpolicies$(printf '%*s' $((4095 - 16)) '')"
long="role login -name co -password $(printf 'A%.0s' $(seq 5000))LONGTAIL22360680"
[ ${#fit} = 4095 ] && [ ${#long} = 5046 ] || fail "test lines are ${#fit} and ${#long} long"
export XDG_DATA_HOME="$T/data2"
printf '%s\n' "slot list" 'role login -name "co"-challenge 16180340CH' 'ped connect -ip "x"-password 27182819PW' \
	"object create -label o -value 14142136OBJ" "$fit" "$long" "hsm showinfo" "!2" "!9" "history" "exit" |
	timeout 60 "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" >"$T/out2" 2>&1 || true
H=$(find "$T/data2" -name hsmcm_history)
[ -n "$H" ] || fail "no history file: $(cat "$T/out2")"
bad=()
for s in 16180340CH 27182819PW 14142136OBJ LONGTAIL22360680 AAAA; do
	grep -q "$s" "$H" && bad+=("secret $s in the history")
done
[ "$(cat "$H")" = "$(printf '%s\n' "slot list" "hsm showpolicies" "hsm showinfo" "hsm showpolicies")" ] ||
	bad+=("history is not the plain commands and !2")
grep -q "line of 5046 characters refused: at most 4095" "$T/out2" || bad+=("no error for the long line")
# seven commands ran (!2 too): the long line is neither run nor cut into more
n=$(grep -c '^Command Result' "$T/out2" || true)
[ "$n" = 7 ] || bad+=("$n command results, expected 7")
grep -q 'hsmcm:> no history entry 9$' "$T/out2" || bad+=("!9 found an entry")
grep -q '^   3  hsm showinfo' "$T/out2" || bad+=("the line after the long one is not entry 3")
[ ${#bad[@]} = 0 ] || fail "$(printf '%s; ' "${bad[@]}")history: $(cut -c1-80 "$H"); output: $(cut -c1-100 "$T/out2")"

note "scripts: a command over the limit is refused before it is sent"
hsmcm -c "slot list; hsm showinfo $(printf '%*s' 4090 '')x"
[ "$RC" = 1 ] || fail "hsmcm -c with a long command exited $RC: $OUT"
expect_contains "$OUT" "command of 4104 characters refused: at most 4095"
expect_not_contains "$OUT" "lost hsm-sim"
expect_eq "$(grep -c '^Command Result' <<<"$OUT")" 1 "commands run before the long one"
echo "hsmcm history ok"
