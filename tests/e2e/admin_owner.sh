#!/bin/bash
# Security issue 2026-12, finding 8: the admin ports listen on localhost
# for every local user, and they took "connect NAME" (pedserver dials a
# registered appliance and offers it the PED), "disconnect" and "stop" from
# anyone. Commands that change what a daemon does are now taken only on its
# Unix admin socket (runtime directory, 0600), from its own user or root
# (SO_PEERCRED); anyone may still read `show`.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
. "$(dirname "$0")/user_lib.sh"
set -e
other_user

# admin_as_other PORT LINE: LINE on the TCP admin port as the other user; the answer in $OUT
admin_as_other() {
	OUT=$(as_other bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s\n" "$2" >&3 && cat <&3' _ "$1" "$2" 2>&1) ||
		fail "the other user could not reach the admin port $1: $OUT"
}

note "an appliance registered by root, and pedserver serving"
pedserver_cmd S -regen -commonname ps-owner -force
[ $RC -eq 0 ] || fail "regen: $OUT"
crt=$(sed -n 's/^Certificate created and written to: //p' <<<"$OUT")
# nothing listens there: a dial shows as "dialing" or "failed"
pedserver_cmd S -appliance register -name hsmhost -certificate "$crt" -ip 127.0.0.1 -port 9
[ $RC -eq 0 ] || fail "register: $OUT"
start_pedserver S
SPID=$(cat "$T/S-run/openped/pedserver.pid")
ADM=$(cat "$T/S-run/openped/pedserver.admin")

note "another local user cannot make pedserver dial an appliance"
admin_as_other "$ADM" "connect hsmhost"
# -18: PED_E_ACTION_PROHIBITED (CKR_ACTION_PROHIBITED)
expect_contains "$OUT" "RESULT -18" "the answer to connect"
pedserver_cmd S -mode show -name hsmhost
expect_contains "$OUT" "Link Status:              not connected"
grep -q "refused 'connect' from the admin port" "$T/S.log" || fail "the refusal is not logged: $(tail -3 "$T/S.log")"
admin_as_other "$ADM" "disconnect hsmhost"
expect_contains "$OUT" "RESULT -18" "the answer to disconnect"

note "nor stop it"
admin_as_other "$ADM" "stop"
expect_contains "$OUT" "RESULT -18" "the answer to stop"
alive "$SPID" || fail "another user stopped pedserver"
pedserver_cmd S -mode show
[ $RC -eq 0 ] || fail "pedserver does not answer after another user's stop: $OUT"

note "they may still read its state"
admin_as_other "$ADM" "show"
expect_contains "$OUT" "RESULT 0" "show for another user"

note "the TCP port takes no state change from root either: the CLI uses the admin socket"
set +e
OUT=$(exec 3<>"/dev/tcp/127.0.0.1/$ADM" && printf 'connect hsmhost\n' >&3 && cat <&3)
set -e
expect_contains "$OUT" "RESULT -18" "root on the TCP port"
sock="$T/S-run/openped/pedserver-admin.sock"
[ -S "$sock" ] && [ "$(stat -c %a "$sock")" = 600 ] || fail "admin socket missing or not 0600: $(ls -l "$sock" 2>&1)"
pedserver_cmd S -mode connect -name hsmhost
expect_contains "$OUT" "Connecting to Luna SA. Please wait...."
grep -q "appliance hsmhost" "$T/S.log" || fail "root's connect did not reach pedserver: $OUT"
pedserver_cmd S -mode disconnect -name hsmhost
[ $RC -eq 0 ] || fail "root's disconnect: $OUT"
expect_contains "$OUT" "Connection to Luna SA terminated."

note "pedclient: another local user cannot stop it either"
start_pedclient -listenport -1
CPID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
admin_as_other "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.admin")" "stop"
expect_contains "$OUT" "RESULT -18" "pedclient's answer to stop"
alive "$CPID" || fail "another user stopped pedclient"
grep -q "refused 'stop' from the admin port" "$T/pedclient.log" || fail "pedclient did not log the refusal"
pedclient_cmd -mode stop
[ $RC -eq 0 ] || fail "pedclient -mode stop: $OUT"
wait_gone 10 "$CPID" || fail "pedclient did not stop"
echo "admin owner ok"
