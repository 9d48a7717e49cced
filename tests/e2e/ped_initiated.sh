#!/bin/bash
# PED-initiated (peer-to-peer) mode: pedserver dials the appliance's
# pedclient over TLS 1.3, both certificates verified against the registered
# ones, and the HSM's Remote PED session runs over that link. An
# unregistered pedserver is refused; -mode disconnect ends the link.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
new_keys rpk

note "identities: pedserver -regen, pedclient's own at first start; each registers the other"
pedserver_cmd S -regen -commonname ps-workstation -force
[ $RC -eq 0 ] || fail "regen: $OUT"
crt=$(sed -n 's/^Certificate created and written to: //p' <<<"$OUT")
key=$(sed -n 's/^Private Key created and written to: //p' <<<"$OUT")
[ "$(stat -c %a "$key")" = 600 ] || fail "private key mode $(stat -c %a "$key")"
[ -z "$(find "$(dirname "$key")" -name '*.tmp*')" ] || fail "temporary files left beside the key"
mkdir -p "$XDG_DATA_HOME/openped/cert/pedservers"
cp "$crt" "$XDG_DATA_HOME/openped/cert/pedservers/ps-workstation.pem"
start_hsm
start_pedclient
pedclient_cmd -mode show
tlsport=$(sed -n 's/^ *PED-initiated Port: *\([0-9]*\) .*/\1/p' <<<"$OUT")
[ -n "$tlsport" ] || fail "no PED-initiated port: $OUT"
appcert="$XDG_DATA_HOME/openped/cert/pedclient/pedclient.pem"
[ -s "$appcert" ] || fail "pedclient made no certificate"
pedserver_cmd S -appliance register -name hsmhost -certificate "$appcert" -ip 127.0.0.1 -port "$tlsport"
[ $RC -eq 0 ] || fail "register: $OUT"

start_pedserver S
printf '%s\nwrite rpv %s\n' "$OPERATOR" "${KEY[rpk]}" >"$T/P.policy"
start_remote_ped P S "$T/P.policy"

note "pedserver -mode connect: TLS to the appliance, link parked for its HSMs"
pedserver_cmd S -mode connect -name hsmhost
[ $RC -eq 0 ] || fail "connect: $OUT $(tail -5 "$T/S.log")"
expect_contains "$OUT" "Connecting to Luna SA. Please wait...."
expect_contains "$OUT" "Successfully connected to Luna SA."
wait_for 10 eval 'pedclient_cmd -mode show; grep -q "PED-initiated link:       ps-workstation, PED .*, ready" <<<"$OUT"' ||
	{ cat "$T/S.log" "$T/pedclient.log" >&2; fail "link not parked: $OUT"; }
pedserver_cmd S -mode show -name hsmhost
[ $RC -eq 0 ] || fail "show -name: $OUT"
expect_contains "$OUT" "Link Status:              connected"

note "the HSM's session runs over the PED-initiated link"
hsmcm -c "ped connect -password; ped get; ped vector init; ped get; ped disconnect"
[ $RC -eq 0 ] || fail "session over the PED-initiated link: $OUT"
expect_contains "$OUT" "remote PED"
grep -q '"auth":"password"' "$T/P.events" || fail "the PED saw no session"
# keyed again with the new RPV over the link pedserver dials in again (pedclient waits for it)
expect_contains "$OUT" "Remote PED connection re-established (full secure channel, 2e2s)."
# ped get names the password session, and not the one keyed after it
[ "$(grep -c ', one-time password session' <<<"$OUT")" = 1 ] || fail "ped get before and after vector init: $OUT"
grep -q '"auth":"rpv"' "$T/P.events" || fail "the PED saw no session keyed with the RPV"

note "the link comes back for the next session"
wait_for 10 eval 'pedclient_cmd -mode show; grep -q "PED-initiated link:       ps-workstation" <<<"$OUT"' ||
	fail "pedserver did not dial again: $OUT"

note "-mode disconnect ends it"
pedserver_cmd S -mode disconnect -name hsmhost
[ $RC -eq 0 ] || fail "disconnect: $OUT"
expect_contains "$OUT" "Connection to Luna SA terminated."
pedserver_cmd S -mode show -name hsmhost
expect_contains "$OUT" "Link Status:              not connected"
wait_for 10 eval 'pedclient_cmd -mode show; ! grep -q "PED-initiated link:" <<<"$OUT"' || { cat "$T/S.log" "$T/pedclient.log" >&2; fail "link still there: $OUT"; }

note "16 silent connections to pedclient's TLS port keep no registered pedserver out"
CPID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
silent_flood "$CPID" "$tlsport"
pedserver_cmd S -mode connect -name hsmhost
[ $RC -eq 0 ] || fail "connect during the flood: $OUT $(tail -5 "$T/pedclient.log")"
wait_for 10 eval 'pedclient_cmd -mode show; grep -q "PED-initiated link:       ps-workstation" <<<"$OUT"' ||
	fail "link not parked during the flood: $OUT"
grep -q 'cut short the TLS handshake of' "$T/pedclient.log" || fail "no cut logged"
touch "$T/flood.done"
wait_gone 20 "$FLOOD"
pedserver_cmd S -mode disconnect -name hsmhost
[ $RC -eq 0 ] || fail "disconnect: $OUT"
wait_for 10 eval 'pedclient_cmd -mode show; ! grep -q "PED-initiated link:" <<<"$OUT"' || fail "link still there: $OUT"

note "a pedserver's registration removed while its link is parked: the link is not used"
pedserver_cmd S -mode connect -name hsmhost
[ $RC -eq 0 ] || fail "connect: $OUT"
wait_for 10 eval 'pedclient_cmd -mode show; grep -q "PED-initiated link:       ps-workstation, PED .*, ready" <<<"$OUT"' ||
	fail "link not parked: $OUT"
mv "$XDG_DATA_HOME/openped/cert/pedservers/ps-workstation.pem" "$T/ps-workstation.pem"
hsmcm -c "ped connect; ped get; ped disconnect"
[ $RC -ne 0 ] || fail "a session ran over the link of a pedserver no longer registered: $OUT"
expect_not_contains "$OUT" "remote PED ped-device"
grep -q 'PED-initiated peer ps-workstation: its registration was removed or replaced: link closed' "$T/pedclient.log" ||
	fail "not logged: $(tail -5 "$T/pedclient.log")"
mv "$T/ps-workstation.pem" "$XDG_DATA_HOME/openped/cert/pedservers/ps-workstation.pem"
pedserver_cmd S -mode disconnect -name hsmhost
wait_for 10 eval 'pedclient_cmd -mode show; ! grep -q "PED-initiated link:" <<<"$OUT"' || fail "link still there: $OUT"

note "a pedserver whose certificate is not registered is refused"
rm "$XDG_DATA_HOME/openped/cert/pedservers/ps-workstation.pem"
cp "$appcert" "$XDG_DATA_HOME/openped/cert/pedservers/other.pem" # something registered, not pedserver's
pedserver_cmd S -mode connect -name hsmhost
[ $RC -ne 0 ] || fail "an unregistered pedserver was accepted"
expect_contains "$OUT" "Failed to connect to Luna SA"
grep -q "refused a PED-initiated connection" "$T/pedclient.log" || fail "refusal not logged"
echo "PED-initiated ok"
