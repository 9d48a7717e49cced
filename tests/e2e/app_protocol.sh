#!/bin/bash
# hsm-sim's application protocol (docs/protocol.md, section 13) spoken
# directly (tests/tools/p11_call), for what the PKCS#11 module's suites
# cannot show: the greeting and malformed requests; two applications and
# one application on two connections; who may do what (chapter 8's roles);
# CKR_USER_ALREADY_LOGGED_IN without the PED and
# CKR_USER_ANOTHER_ALREADY_LOGGED_IN; session objects; an operator's role
# logout seen by the next call; C_InitToken and C_InitPIN as PED
# ceremonies; an activated role's challenge; a client killed in the middle
# of a PED login while hsm-sim serves everyone else, and nothing left of
# it (hsmcm's application list); the Remote PED, and its loss.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys so hdom po pdom co cu rpk po2 pdom2 co2
start_hsm
cat >"$T/L.policy" <<P
write "SETTING SO" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]} ${KEY[pdom2]}
write rpv ${KEY[rpk]}
write "SETTING PO" ${KEY[po]} ${KEY[po2]}
write "SETTING CO" ${KEY[co]} ${KEY[co2]}
write "SETTING CU" ${KEY[cu]}
use "SO LOGIN" ${KEY[so]}
use "PO LOGIN" ${KEY[po]}
use "CO LOGIN" ${KEY[co]}
use "CU LOGIN" ${KEY[cu]}
P
start_ped L $HSM_SERIAL "$T/L.policy"
hsmcm -c "hsm init -label app; role login -name so; ped vector init; hsm changehsmpolicy -policy 21 -value 0; partition create -label p1; partition create -label p2; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role logout; role login -name co; role init -name cu"
[ $RC -eq 0 ] || fail "setup: $OUT"

# calls SCRIPT: p11_call runs it (one connection per name), output in $OUT
calls() { OUT=$("${RUN[@]}" "$TOOLS/p11_call" "$HSM_SOCK" 2>&1 <<<"$1") || fail "p11_call: $OUT"; }
logins() { cat "$T"/L*.events | grep -c "\"title\":\"$1 LOGIN" || true; }
# a line of $OUT, exactly
line() { grep -qxF -- "$1" <<<"$OUT" || fail "no line '$1' in: $OUT"; }

note "greeting: another version is told ours and closed; malformed requests are answered, a wrong frame ends the connection"
calls "x hello 2
a raw 0000000100ff
a raw 00000002000a
a raw 0000
a slots
b frame 0x20 00"
line "hello: version 1, closed"
line "raw: CKR_FUNCTION_NOT_SUPPORTED"
line "raw: CKR_ARGUMENTS_BAD"
[ "$(grep -c '^raw: CKR_ARGUMENTS_BAD$' <<<"$OUT")" = 2 ] || fail "a truncated header is not answered CKR_ARGUMENTS_BAD: $OUT"
line "slots: CKR_OK"
line "frame: closed"

note "slots: the admin slot, every slot the HSM has room for, the backup HSM's admin slot"
calls "a slots
a token 1
a token 2
a token 3
a token 5000"
line "slot 0 kind 2 hsm 0 present 1 serial $HSM_SERIAL"
line "slot 1 kind 1 hsm 0 present 1 serial $((HSM_SERIAL + 1))"
line "slot 2 kind 1 hsm 0 present 1 serial $((HSM_SERIAL + 2))"
line "slot 3 kind 1 hsm 0 present 0 serial "
line "slot 15 kind 1 hsm 0 present 0 serial "
line "slot 20 kind 3 hsm 1 present 1 serial $BACKUP_SERIAL"
# CKF_RNG|LOGIN_REQUIRED|USER_PIN_INITIALIZED|PROTECTED_AUTHENTICATION_PATH|CLOCK_ON_TOKEN|TOKEN_INITIALIZED
expect_contains "$OUT" "token: CKR_OK label p1                               flags 0x54d"
expect_contains "$OUT" "token: CKR_OK label                                  flags 0x145" # p2: not initialized
line "token: CKR_TOKEN_NOT_PRESENT"
line "token: CKR_SLOT_ID_INVALID"

note "two applications, one of them on two connections: logins are the application's"
co=$(logins CO)
cu=$(logins CU)
calls "a1@A open 1 rw =sa
a1@A login \$sa user
a1@A login \$sa user
a1@A login \$sa cu
a1@A info \$sa
a2@A open 1 ro =sa2
a2@A info \$sa2
b@B open 1 rw =sb
b@B info \$sb
b@B login \$sb cu
b@B info \$sb
c@C open 1 ro =sc
c@C info \$sc
a1@A data \$sa pdata token private =pd
a1@A data \$sa pubd token public =pubd
a2@A data \$sa2 ro token public
b@B data \$sb cud token public
b@B label \$sb \$pd
b@B destroy \$sb \$pd
c@C find \$sc
c@C label \$sc \$pubd
c@C label \$sc \$pd
c@C data \$sc x session public
a1@A data \$sa mine session private =so1
a2@A label \$sa2 \$so1
b@B label \$sb \$so1
a1@A ec \$sa k1 token =pub =priv
a2@A sign \$sa2 \$priv
b@B sign \$sb \$priv
c@C sign \$sc \$priv
c@C random \$sc 100
a1@A close \$sa
a2@A label \$sa2 \$so1
a2@A close \$sa2
a2@A info \$sa"
# A's second login: no PED; A's CU login: another role is logged in
expect_contains "$OUT" "login: CKR_OK
login: CKR_USER_ALREADY_LOGGED_IN
login: CKR_USER_ANOTHER_ALREADY_LOGGED_IN"
[ "$(logins CO)" = $((co + 1)) ] || fail "CKR_USER_ALREADY_LOGGED_IN asked the PED"
[ "$(logins CU)" = $((cu + 1)) ] || fail "B's Crypto User login did not use the PED"
line "info: CKR_OK state 3" # R/W user functions (A)
line "info: CKR_OK state 1" # R/O user functions: A's other connection
line "info: CKR_OK state 2" # B before its login: R/W public
line "info: CKR_OK state 0" # C: R/O public
line "data: CKR_SESSION_READ_ONLY"
line "data: CKR_ACTION_PROHIBITED"       # the Crypto User makes nothing
line "label: CKR_OK pdata"               # ... but reads private objects
line "destroy: CKR_ACTION_PROHIBITED"    # ... and destroys none
line "find: CKR_OK 1"                    # C sees the public object only
line "label: CKR_OK pubd"
line "label: CKR_USER_NOT_LOGGED_IN"     # C: a private object by its handle
line "data: CKR_USER_NOT_LOGGED_IN"
line "label: CKR_OK mine"                # A's session object, from its other connection
line "label: CKR_OBJECT_HANDLE_INVALID"  # not B's; and gone with its session
line "sign: CKR_OK CKR_OK 64 bytes"
line "sign: CKR_USER_NOT_LOGGED_IN"
line "random: CKR_OK 100 bytes"
line "info: CKR_SESSION_HANDLE_INVALID"
so1=$(grep -o '^data: CKR_OK [0-9]*' <<<"$OUT" | tail -n 1 | awk '{print $3}')
[ "$so1" -ge 4611686018427387904 ] || fail "a session object's handle has no bit 62: $so1"

note "the Partition SO: no R/O session beside it, no key, no private object"
calls "d@D open 1 ro =ro
d@D open 1 rw =sd
d@D login \$sd so
d@D close \$ro
d@D login \$sd so
d@D open 1 ro
d@D info \$sd
d@D find \$sd
d@D data \$sd x token public
d@D logout \$sd
d@D logout \$sd"
line "login: CKR_SESSION_READ_ONLY_EXISTS"
line "open: CKR_SESSION_READ_WRITE_SO_EXISTS"
line "info: CKR_OK state 4"
line "find: CKR_OK 2"
line "data: CKR_ACTION_PROHIBITED"
line "logout: CKR_USER_NOT_LOGGED_IN"

# live NAME: p11_call fed line by line (send LINE), its output in $T/NAME.out
live() {
	mkfifo "$T/$1.fifo"
	(exec "${RUN[@]}" "$TOOLS/p11_call" "$HSM_SOCK" <"$T/$1.fifo" >"$T/$1.out" 2>&1) &
	LIVE_PID=$!
	exec 8>"$T/$1.fifo"
	LIVE_OUT="$T/$1.out"
}
send() { echo "$1" >&8; }
seen() { wait_for 30 grep -qxF -- "$1" "$LIVE_OUT" || fail "no '$1': $(cat "$LIVE_OUT")"; }
apps() { hsmcm -c "application list"; [ $RC -eq 0 ] || fail "application list: $OUT"; }

note "an operator's role logout in hsmcm is seen by a running application's next call"
live E
send "e@E open 1 rw =se"
send "e@E login \$se user"
send "e@E ec \$se k2 session =p2 =k2"
send "e@E signinit \$se \$k2"
seen "signinit: CKR_OK"
apps
expect_contains "$OUT" "Applications -> 1"
expect_contains "$OUT" ": p11_call (pid $LIVE_PID), connections 1, sessions 1, session objects 2"
expect_contains "$OUT" "  Session 1: slot 1, R/W, Crypto Officer"
hsmcm -c "slot set -slot 1; role login -name co; role logout -name co"
[ $RC -eq 0 ] || fail "role logout: $OUT"
send "e@E signdata \$se"
seen "signdata: CKR_USER_NOT_LOGGED_IN" # the operation on a private key ended
send "e@E sign \$se \$k2"
seen "sign: CKR_USER_NOT_LOGGED_IN"
send "e@E info \$se"
seen "info: CKR_OK state 2"
apps
expect_contains "$OUT" "  Session 1: slot 1, R/W, public"
exec 8>&-
wait "$LIVE_PID"
apps
expect_contains "$OUT" "Applications -> 0"
expect_contains "$OUT" "Sessions -> 0"

note "a client killed while its login waits on the PED: the others are served, nothing of it stays"
kill -TERM "$PED_L_PID"
wait_gone 10 "$PED_L_PID"
start_ped Q $HSM_SERIAL - # nobody presents a key
live V
send "v@V open 1 rw =sv"
send "v@V login \$sv user - 4000"
wait_for 30 grep -q '"title":"CO LOGIN' "$T/Q.events" || fail "the PED was not asked: $(cat "$T/Q.events")"
kill -KILL "$LIVE_PID"
wait "$LIVE_PID" 2>/dev/null || true
exec 8>&-
calls "f@F slots
f@F open 1 ro =sf
f@F token 1
f@F info \$sf"
line "slots: CKR_OK"
line "info: CKR_OK state 0"
apps
expect_contains "$OUT" "Applications -> 1" # the victim's record lives until its call ends
wait_for 30 grep -q "no answer from the PED within the caller's 4000 ms" "$T/hsm.log" ||
	fail "the PED wait was not bounded by the request's: $(tail -n 20 "$T/hsm.log")"
wait_for 10 eval 'apps; grep -q "Applications -> 0" <<<"$OUT"' || fail "the killed client's application stayed: $OUT"
expect_contains "$OUT" "Sessions -> 0"

note "a PED that does not answer within the request's PED timeout: CKR_TIMEOUT (the module's CKR_FUNCTION_CANCELED)"
# hsm-sim dropped the link of the unanswered ceremony: the PED attaches again
wait_for 30 eval '[ "$(grep -c "\"event\":\"attached\"" "$T/Q.events")" -ge 2 ]' || fail "the PED did not attach again"
calls "w@W open 1 rw =sw
w@W login \$sw user - 1500
w@W info \$sw"
line "login: CKR_TIMEOUT"
line "info: CKR_OK state 2"
kill -TERM "$PED_Q_PID"
wait_gone 10 "$PED_Q_PID"

note "C_InitToken and C_InitPIN run partition init and role init on the PED"
cat >"$T/L.policy" <<P
reuse "SETTING DOMAIN" no
write "SETTING DOMAIN" ${KEY[pdom2]}
write "SETTING PO" ${KEY[po2]}
write "SETTING CO" ${KEY[co2]}
use "PO LOGIN" ${KEY[po2]} / ${KEY[po]}
use "CO LOGIN" ${KEY[co]}
use "CU LOGIN" ${KEY[cu]}
P
mv "$T/L.events" "$T/L1.events" # start_ped waits for this PED's "attached"
start_ped L $HSM_SERIAL "$T/L.policy"
calls "g@G open 2 ro =s2
g@G inittoken 2 second
g@G inittoken 2 second pin
g@G close \$s2
g@G inittoken 2 second
g@G inittoken 0 admin
g@G token 2
g@G open 2 rw =s2
g@G initpin \$s2
g@G login \$s2 so
g@G initpin \$s2
g@G initpin \$s2 pin
g@G initpin \$s2 challenge2
g@G token 2"
line "inittoken: CKR_SESSION_EXISTS"
line "inittoken: CKR_ARGUMENTS_BAD"
line "inittoken: CKR_OK"
line "inittoken: CKR_FUNCTION_NOT_SUPPORTED"
expect_contains "$OUT" "token: CKR_OK label second                           flags 0x545" # initialized, no CO
line "initpin: CKR_USER_NOT_LOGGED_IN"
line "initpin: CKR_OK"
line "initpin: CKR_PIN_LEN_RANGE" # partition policy 25: at least 8 characters
expect_contains "$OUT" "token: CKR_OK label second                           flags 0x54d"
[ "$(grep -c '^initpin: CKR_OK$' <<<"$OUT")" = 2 ] || fail "the challenge was not set: $OUT"

note "an activated role's challenge secret logs in, once the PED has cached its secret"
hsmcm -c "slot set -slot 1; role login -name po; role createchallenge -name co -challenge opensesame1; partition changepolicy -policy 22 -value 1"
[ $RC -eq 0 ] || fail "activation setup: $OUT"
co=$(logins CO)
calls "h@H open 1 rw =sh
h@H login \$sh user wrongsecret
h@H login \$sh user
h@H login \$sh user opensesame1
h@H logout \$sh
h@H login \$sh user opensesame1
h@H setpin \$sh opensesame1 opensesame2
h@H logout \$sh
h@H login \$sh user opensesame1
h@H login \$sh user opensesame2"
expect_contains "$OUT" "login: CKR_PIN_INCORRECT
login: CKR_PIN_INCORRECT
login: CKR_OK
logout: CKR_OK
login: CKR_OK
setpin: CKR_OK
logout: CKR_OK
login: CKR_PIN_INCORRECT
login: CKR_OK"
[ "$(logins CO)" = $((co + 1)) ] || fail "the challenge logins used the PED more than once"

note "the Remote PED: a wrong key, the right one, and the PED gone"
kill -TERM "$PED_L_PID"
wait_gone 10 "$PED_L_PID"
start_pedserver A
start_pedclient
printf 'use rpv %s\nuse "CU LOGIN" %s / %s\n' "${KEY[rpk]}" "${KEY[co]}" "${KEY[cu]}" >"$T/R.policy"
start_remote_ped R A "$T/R.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
wait_for 30 grep -q '"event":"session"' "$T/R.events" || fail "pedserver opened no session"
calls "r@R open 1 rw =sr
r@R login \$sr cu
r@R login \$sr cu
r@R info \$sr"
expect_contains "$OUT" "login: CKR_PIN_INCORRECT
login: CKR_OK
info: CKR_OK state 3"
grep -q '"remote":true' "$T/R.events" || fail "the logins did not go through the Remote PED"
kill -TERM "$PED_R_PID"
wait_gone 10 "$PED_R_PID"
wait_for 30 eval 'calls "r@R open 1 rw =sr
r@R login \$sr cu"; grep -qx "login: CKR_PED_UNPLUGGED" <<<"$OUT"' || fail "the Remote PED's loss: $OUT"
apps
expect_contains "$OUT" "Sessions -> 0"
echo "application protocol ok"
