#!/bin/bash
# Issue 32, item 17: -json for pedserver -mode show, pedclient -mode show
# and hsmcm's results, so scripts need not parse the text; standard output
# is then the JSON alone, and the text output stays as documented.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
command -v python3 >/dev/null || skip "python3 is needed to read the JSON"
# py EXPR: EXPR over the JSON on standard input (d), printed
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

start_hsm
start_pedserver A -ip 127.0.0.1
start_pedclient
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -out "$T/c.pem" \
	-subj /CN=box2 -days 2 2>/dev/null || fail "openssl req"
pedserver_cmd A -appliance register -name box2 -certificate "$T/c.pem" -ip 192.0.2.10
[ $RC -eq 0 ] || fail "register: $OUT"

note "pedserver -mode show -json"
XDG_RUNTIME_DIR="$T/A-run" "$BIN/pedserver" -mode show -json -configfile "$T/A.conf" >"$T/s.json" 2>"$T/s.err" ||
	fail "show -json: $(cat "$T/s.json" "$T/s.err")"
[ ! -s "$T/s.err" ] || fail "show -json wrote to standard error: $(cat "$T/s.err")"
expect_eq "$(py 'd["server_port"]' <"$T/s.json")" "$PORT_A" "server_port"
expect_eq "$(py 'd["external_server"]' <"$T/s.json")" False "external_server"
expect_eq "$(py 'd["ped"]["connected"], d["client"]' <"$T/s.json")" "False None" "ped, client"
XDG_RUNTIME_DIR="$T/A-run" "$BIN/pedserver" -mode show -json -name box2 -configfile "$T/A.conf" >"$T/s2.json" ||
	fail "show -json -name: $(cat "$T/s2.json")"
expect_eq "$(py 'd["appliance"]["ip"], d["appliance"]["port"]' <"$T/s2.json")" "192.0.2.10 9697" "appliance"
pedserver_cmd A -mode show
expect_contains "$OUT" "External Server Interface: No"
expect_contains "$OUT" "Show command passed."

note "pedclient -mode show -json, with the PED id mappings"
pedclient_cmd -mode setid -id 7 -id_ip 127.0.0.1 -id_port "$PORT_A"
pedclient_cmd -mode assignid -id 7 -id_serialnumber "$HSM_SERIAL"
"$BIN/pedclient" -mode show -json -configfile "$T/pedclient.conf" >"$T/c.json" 2>"$T/c.err" ||
	fail "pedclient show -json: $(cat "$T/c.json" "$T/c.err")"
[ ! -s "$T/c.err" ] || fail "pedclient show -json wrote to standard error: $(cat "$T/c.err")"
expect_eq "$(py 'd["mappings"][0]["id"], d["mappings"][0]["hsm_serial"], d["sessions"]' <"$T/c.json")" \
	"7 $HSM_SERIAL []" "mappings"

note "hsmcm -json: one object per command"
set +e
"$BIN/hsmcm" -socket "$HSM_SOCK" -json -c "slot list; role login -name so -password x" >"$T/h.json" 2>"$T/h.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "hsmcm -json exited $rc: $(cat "$T/h.json" "$T/h.err")"
[ "$(wc -l <"$T/h.json")" -eq 2 ] || fail "not one line per command: $(cat "$T/h.json")"
first=$(head -n 1 "$T/h.json") second=$(tail -n 1 "$T/h.json")
expect_eq "$(py 'd["command"], d["code"], d["result"], d["success"]' <<<"$first")" "slot list 0 No Error True" "slot list"
py 'any("'"$HSM_SERIAL"'" in l for l in d["output"])' <<<"$first" | grep -q True || fail "slot list output: $first"
expect_eq "$(py 'd["success"], d["code"] != 0' <<<"$second")" "False True" "the failed login"
py 'd["result"]' <<<"$second" | grep -q '^CKR_' || fail "no result name: $second"
hsmcm -c "slot list"
expect_contains "$OUT" "Command Result : No Error"
set +e
"$BIN/hsmcm" -socket "$HSM_SOCK" -json </dev/null >"$T/i.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "-json without -c or -f exited $rc: $(cat "$T/i.out")"
echo "json output ok"
