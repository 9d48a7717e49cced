#!/bin/bash
# Crypto during a Remote PED operation (issue 29, docs/pkcs11.md): with the
# HSM's audit log on, an application's sign call through the PKCS#11 module
# made while an operator's login waits on the Remote PED waits until that
# login ends; with the module's ProbeTimeout it fails after that time
# instead (CKR_DEVICE_ERROR) and the application signs again once the
# ceremony is over; with the log off it does not wait at all.
#
# The Remote PED's answerer has no rule for the SO's blue key, so the
# operator's login stays open until the suite inserts it (ped-device
# -send): the suite orders the sign call's end against that moment, never
# against a fixed sleep.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) is not installed: make deps"

p11_start
new_keys au
cat >"$T/L.policy" <<P
write "SETTING SO" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
write rpv ${KEY[rpk]}
write "SETTING AU" ${KEY[au]}
write "SETTING PO" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "SO LOGIN" ${KEY[so]}
use "AU LOGIN" ${KEY[au]}
use "PO LOGIN" ${KEY[po]}
use "CO LOGIN" ${KEY[co]}
P
start_ped L $HSM_SERIAL "$T/L.policy"
hsmcm -c "hsm init -label p11; role login -name so; ped vector init; role logout; role init -name au
role login -name au; audit config evmask all; role logout
role login -name so; partition create -label $TOKEN; slot set -slot 1; partition init -label $TOKEN
role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --keypairgen --key-type EC:prime256v1 \
	--usage-sign --label sk --id 21 >"$T/gen.out" 2>&1 || fail "keypairgen: $(cat "$T/gen.out")"

# The Remote PED has an operator who acts only when the suite says
# (ped-device -send): a login stays open on it until the suite presents the
# key, so the suite knows when each ceremony ends. (p11_go_remote, without
# the answerer.)
kill -TERM "$PED_L_PID"
wait_gone 10 "$PED_L_PID"
start_pedserver A
start_pedclient
"${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$(ped_socket_of A)" -control "$T/R.ctl" \
	-events "$T/R.events" -keytimeout 120 >"$T/R.ped.log" 2>&1 &
track $!
wait_for 20 grep -q '"attached":true' "$T/R.events" || fail "the Remote PED did not attach: $(cat "$T/R.ped.log")"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "ped connect: $OUT"

STRESS=("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" "$TOKEN")
waits() { grep -c "waits for the Remote PED operation on HSM $HSM_SERIAL" "$T/hsm.log" || true; }
now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }
field() { awk -v k="$2" '/^after:/{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$1"; }
send() { "$BIN/ped-device" -send "$*" -control "$T/R.ctl" >/dev/null; }
asks() { [ "$("$BIN/ped-device" -send prompt -control "$T/R.ctl" 2>/dev/null | head -n 1)" = "$1" ]; }

# present TYPE KEY: when the Remote PED asks for a TYPE key, the operator
# presents KEY and takes it out once the PED is done with it.
present() {
	wait_for 30 asks "insert-read $1" || fail "the Remote PED did not ask for a $1 key: $(tail -n 3 "$T/R.events")"
	send insert "$2"
	send press enter
	wait_for 30 eval '! asks "insert-read $1"' || fail "the Remote PED did not take the $1 key: $(tail -n 3 "$T/R.events")"
	send remove
}

# app NAME [then]: an application that has logged in through the Remote
# PED and signed once, waiting for $T/NAME.go to sign again ($T/NAME.out);
# "then": and for $T/NAME.then to sign once more.
app() {
	local then=()
	[ "${2:-}" != then ] || then=("$T/$1.then")
	"${STRESS[@]}" probe sk "$T/$1.go" "${then[@]}" >"$T/$1.out" 2>&1 &
	eval "APP_$1=$!"
	if [ ! -e "$T/keyed" ]; then
		present RPV "${KEY[rpk]}" # the session key, at the first PED operation
		touch "$T/keyed"
	fi
	present User "${KEY[co]}"
	wait_for 60 grep -q "signed before" "$T/$1.out" || fail "application $1 did not log in and sign: $(cat "$T/$1.out")"
}

# so_login_starts NAME: an operator's SO login that waits on the Remote PED
# for its blue key.
so_login_starts() {
	(exec timeout 150 "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/$1.login" 2>&1) &
	eval "LOGIN_$1=$!"
	wait_for 30 asks "insert-read SO" || fail "the SO login did not reach the Remote PED: $(cat "$T/$1.login")"
}

# so_login_ends NAME: the operator presents the blue key; the login succeeds.
so_login_ends() {
	local pid
	eval "pid=\$LOGIN_$1"
	send insert "${KEY[so]}"
	send press enter
	wait "$pid" || fail "the SO login: $(cat "$T/$1.login")"
	expect_contains "$(cat "$T/$1.login")" "Command Result : No Error"
	wait_for 30 asks "idle -" || fail "the Remote PED did not finish the SO login"
	send remove
}

note "log on: a sign call during a Remote PED login waits until the login ends"
app on
so_login_starts on
w=$(waits)
touch "$T/on.go"
wait_for 30 eval '[ "$(waits)" -gt '"$w"' ]' || fail "the sign call did not wait for the Remote PED login: $(cat "$T/on.out")"
! grep -q '^after:' "$T/on.out" || fail "the sign call returned during the login: $(cat "$T/on.out")"
alive "$LOGIN_on" || fail "the login ended early: $(cat "$T/on.login")"
ended=$(now_ms)
so_login_ends on
wait "$APP_on" || fail "application on: $(cat "$T/on.out")"
expect_contains "$(cat "$T/on.out")" "after: 0x0 " "the sign call after the login"
at=$(field "$T/on.out" at)
[ "$at" -ge "$ended" ] || fail "the sign call returned at $at, before the login ended at $ended"
note "the sign call waited $(field "$T/on.out" took) ms"

note "log on, ProbeTimeout 1500 ms: the call fails after it; once the login is over crypto works"
sed 's/^};/  ProbeTimeout = 1500;\n};/' "$OPENPED_PKCS11_CONF" >"$T/probe.conf"
grep -q 'ProbeTimeout = 1500;' "$T/probe.conf" || fail "no ProbeTimeout in $T/probe.conf"
OPENPED_PKCS11_CONF="$T/probe.conf" app probe then
so_login_starts probe
touch "$T/probe.go"
wait_for 30 grep -q '^after:' "$T/probe.out" || fail "the sign call did not give up: $(cat "$T/probe.out")"
expect_contains "$(cat "$T/probe.out")" "after: 0x30 " "a sign call past ProbeTimeout" # CKR_DEVICE_ERROR
took=$(field "$T/probe.out" took)
[ "$took" -ge 1500 ] || fail "the sign call gave up after $took ms, before ProbeTimeout"
alive "$LOGIN_probe" || fail "the login ended before the sign call gave up: $(cat "$T/probe.login")"
so_login_ends probe
touch "$T/probe.then"
wait "$APP_probe" || fail "application probe: $(cat "$T/probe.out")"
expect_contains "$(cat "$T/probe.out")" "again: 0x0" "the same session's next sign call after the login"

note "log off: a sign call during a Remote PED login does not wait"
(exec timeout 150 "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name au; audit config evmask none; role logout" >"$T/au.out" 2>&1) &
au=$!
present Audit "${KEY[au]}"
wait "$au" || fail "audit config evmask none: $(cat "$T/au.out")"
app off
so_login_starts off
w=$(waits)
touch "$T/off.go"
wait_for 30 grep -q '^after:' "$T/off.out" || fail "the sign call did not return: $(cat "$T/off.out")"
expect_contains "$(cat "$T/off.out")" "after: 0x0 " "a sign call with the log off"
alive "$LOGIN_off" || fail "the login is over: nothing was measured: $(cat "$T/off.login")"
[ "$(waits)" = "$w" ] || fail "a call waited with the log off: $(tail -n 3 "$T/hsm.log")"
so_login_ends off
wait "$APP_off" || fail "application off: $(cat "$T/off.out")"
echo "crypto during Remote PED operations ok"
