#!/bin/bash
# What a wire tap sees: a whole Remote PED ceremony captured on loopback with
# tcpdump (remote RPV initialization with a one-time password, HSM init, SO
# login, a partition created and initialized with the blue and red keysets
# reused, so the PO secret and the domain cross the link), then every byte of
# the capture searched for each of the ceremony's secrets: the PINs and the
# one-time password (read from the PED's policy), every iKey share as stored
# and unmasked with its PIN, the RPV and the RPV static key (read from the
# key files), each as raw bytes, hex and base64. A canary sent in clear on
# the same port must be found, so a capture that missed the traffic fails.
# Ends with "result: secrets_in_capture=N"; exit 0 only if N is 0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
set -e

TCPDUMP=$(command -v tcpdump || true)
[ -n "$TCPDUMP" ] || skip "tcpdump is not installed (scripts/install-deps.sh installs it)"
SCAN="$PED_SRCDIR/tests/reliability/scan_secrets.py"
PEER="$PED_SRCDIR/tests/e2e/relay_peer.py"

new_keys rpk so dom
start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2
start_pedclient -pinginterval 1 -pingtimeout 2
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
write "SETTING SO" ${KEY[so]}
newpin "SETTING SO" $(printf '7%07d' $((RANDOM * RANDOM % 10000000)))
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[dom]}
newpin "SETTING DOMAIN" $(printf '5%07d' $((RANDOM * RANDOM % 10000000)))
use "SETTING DOMAIN" ${KEY[dom]}
reuse "SETTING PO" yes
use "SETTING PO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
P
# the PINs a key holder types: the same as the ones chosen at creation
pin_so=$(awk '$1 == "newpin" && $2 == "\"SETTING" && $3 == "SO\"" {print $4}' "$T/A.policy")
pin_dom=$(awk '$1 == "newpin" && $2 == "\"SETTING" && $3 == "DOMAIN\"" {print $4}' "$T/A.policy")
printf 'pin %s %s\npin %s %s\n' "${KEY[so]}" "$pin_so" "${KEY[dom]}" "$pin_dom" >>"$T/A.policy"
start_remote_ped A A "$T/A.policy"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
admin_port=$(awk '/Admin Port:/{print $3}' <<<"$OUT")

note "tcpdump on lo: pedserver's port $PORT_A and its admin port $admin_port"
"$TCPDUMP" -i lo -w "$T/ceremony.pcap" -U -s 0 "tcp and (port $PORT_A or port $admin_port)" >"$T/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
track $TCPDUMP_PID
if ! wait_for 20 grep -q "listening on lo" "$T/tcpdump.log"; then
	alive $TCPDUMP_PID || skip "tcpdump cannot capture here: $(tail -n 1 "$T/tcpdump.log")"
	fail "tcpdump did not start listening: $(cat "$T/tcpdump.log")"
fi
# Capturing for real: a query on the admin port shows up in the file.
capturing() { shown A "Ped2 Connection Status" && [ "$(stat -c %s "$T/ceremony.pcap")" -gt 200 ]; }
wait_for 20 capturing || fail "tcpdump wrote no packets: $(cat "$T/tcpdump.log")"

note "the ceremony: remote RPV init with the one-time password, HSM init, SO login, a partition with the domain"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; hsm init -label capture; ped disconnect"
[ $RC -eq 0 ] || fail "RPV and HSM init: $OUT"
expect_contains "$OUT" "Successfully initialized the HSM."
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; partition create -label cap; slot set -slot 1; partition init -label cap; ped disconnect"
[ $RC -eq 0 ] || fail "SO login and partition init: $OUT"
expect_contains "$OUT" "Partition initialized."
grep -q '"scheme":"2e2s"' "$T/A.events" || fail "the orange-key session did not run 2e2s"

note "a canary in clear on pedserver's port: the capture must hold it"
canary="CAPTURE-CANARY-$RANDOM$RANDOM"
python3 "$PEER" "tcp:127.0.0.1:$PORT_A" raw "$(printf %s "$canary" | od -An -tx1 | tr -d ' \n')" closed 5 >/dev/null ||
	fail "pedserver did not close on the canary"
wait_for 10 grep -q "$canary" "$T/ceremony.pcap" || fail "the canary never reached the capture"
kill -INT $TCPDUMP_PID
wait_gone 10 $TCPDUMP_PID || fail "tcpdump did not stop"
grep "packets captured" "$T/tcpdump.log" | sed 's/^/    /'

# The secrets: from the policy (PINs, one-time password) and the key files
# (shares as stored and unmasked, the RPV, the RPV static key).
{
	awk '$1 == "pin" {print "pin-" $2 " text:" $3}' "$T/A.policy"
	echo "one-time-password text:$(last_password)"
	python3 "$PED_SRCDIR/tests/reliability/ikey_secrets.py" "$IKEY_STORE" "${KEY[so]}=$pin_so" "${KEY[dom]}=$pin_dom"
} >"$T/secrets"
for want in one-time-password "pin-${KEY[so]}" "pin-${KEY[dom]}" "rpv-${KEY[rpk]}-share" "rpv-${KEY[rpk]}-rpv-static-key" \
	"so-${KEY[so]}-unmasked" "domain-${KEY[dom]}-unmasked"; do
	grep -q "^$want " "$T/secrets" || fail "secret $want not found in the test's own files: $(cat "$T/secrets")"
done
note "looking for $(wc -l <"$T/secrets") secrets: $(awk '{print $1}' "$T/secrets" | tr '\n' ' ')"
echo "canary text:$canary" >"$T/canary"
python3 "$SCAN" "$T/canary" "$T/ceremony.pcap" >/dev/null && fail "the scanner does not find the canary"
set +e
python3 "$SCAN" "$T/secrets" "$T/ceremony.pcap" | tee "$T/scan.out"
set -e
n=$(sed -n 's/^secrets_found=//p' "$T/scan.out")
[ -n "$n" ] || fail "scanner gave no count"
echo "capture: $(stat -c %s "$T/ceremony.pcap") bytes"
echo "result: secrets_in_capture=$n"
[ "$n" -eq 0 ]
