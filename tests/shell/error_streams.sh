#!/bin/bash
# Issue 32, item 18: errors on standard error, results on standard output,
# for every program: a script that keeps the output (2>/dev/null) gets the
# results alone, and one that keeps the errors gets no results in them.
. "$(dirname "$0")/../lib.sh"
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data" IKEY_STORE="$T/keys"
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

# fails STATUS TEXT CMD...: CMD exits STATUS, TEXT is on standard error and
# not on standard output.
fails() {
	local want=$1 text=$2 rc
	shift 2
	"$@" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$T/out" "$T/err")"
	grep -qF -- "$text" "$T/err" || fail "'$*': '$text' not on standard error: err=$(cat "$T/err") out=$(cat "$T/out")"
	! grep -qF -- "$text" "$T/out" || fail "'$*': '$text' on standard output: $(cat "$T/out")"
}
# works TEXT CMD...: CMD exits 0 with TEXT on standard output, nothing on standard error.
works() {
	local text=$1
	shift
	"$@" </dev/null >"$T/out" 2>"$T/err" || fail "'$*' failed: $(cat "$T/out" "$T/err")"
	grep -qF -- "$text" "$T/out" || fail "'$*': '$text' not on standard output: $(cat "$T/out")"
	[ ! -s "$T/err" ] || fail "'$*' wrote to standard error: $(cat "$T/err")"
}

S=(-configfile "$T/s.conf") C=(-configfile "$T/c.conf")
: >"$T/s.conf"
: >"$T/c.conf"
note "pedserver"
fails 2 "is not one of" "$BIN/pedserver" -mode bogus "${S[@]}"
fails 2 "out of range" "$BIN/pedserver" -mode config -set -port 99999 "${S[@]}"
fails 1 "No appliance named 'nothere' is registered" "$BIN/pedserver" -appliance delete -name nothere "${S[@]}"
fails 1 "cannot open $T/none.conf" "$BIN/pedserver" -mode show -configfile "$T/none.conf"
fails 1 "Show command failed" "$BIN/pedserver" -mode show "${S[@]}"
works "Config command passed." "$BIN/pedserver" -mode config -set -port 1600 "${S[@]}"
works "Server Name" "$BIN/pedserver" -appliance list "${S[@]}"
note "pedclient"
fails 1 "PED id 99 is not defined" "$BIN/pedclient" -mode testid -id 99 "${C[@]}"
fails 2 "needs -id" "$BIN/pedclient" -mode releaseid "${C[@]}"
works "PED id 1 maps to" "$BIN/pedclient" -mode setid -id 1 -id_ip h -id_port 1 "${C[@]}"
note "hsm-sim, hsmcm, ped-device, ikey, pedtool"
fails 2 "unknown option" "$BIN/hsm-sim" -bogus
fails 1 "cannot reach hsm-sim" "$BIN/hsmcm" -socket "$T/none.sock" -c "hsm show"
fails 2 "unknown option" "$BIN/ped-device" -bogus
fails 2 "unknown command" "$BIN/ikey" bogus
fails 1 "no key store at $IKEY_STORE" "$BIN/ikey" list
works "" "$BIN/ikey" new
fails 2 "unknown command" "$BIN/pedtool" bogus
echo "error streams ok"
