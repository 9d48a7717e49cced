#!/bin/bash
# Issue 32, item 16: one option vocabulary. Every program takes -version,
# --version, -v, -V, -help, --help and -h, with status 0, the answer on
# standard output and nothing on standard error; -v is the version
# everywhere, never "verbose" in some programs. A second hsm-sim on a
# socket in use names the pid that holds it, as pedserver does.
. "$(dirname "$0")/../lib.sh"
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data" IKEY_STORE="$T/keys"
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

programs=(hsm-sim hsmcm ikey ped-device pedclient pedserver pedtool)
for p in "${programs[@]}"; do
	for o in -version --version -v -V -help --help -h; do
		timeout 10 "$BIN/$p" "$o" </dev/null >"$T/out" 2>"$T/err"
		rc=$?
		[ $rc -eq 0 ] || fail "$p $o exited $rc: $(cat "$T/out" "$T/err")"
		[ -s "$T/out" ] || fail "$p $o printed nothing on standard output"
		[ ! -s "$T/err" ] || fail "$p $o wrote to standard error: $(cat "$T/err")"
		case $o in
		-h | -help | --help) grep -qi usage "$T/out" || fail "$p $o: no usage: $(cat "$T/out")" ;;
		*) grep -q '[0-9]\.[0-9]' "$T/out" || fail "$p $o: no version: $(cat "$T/out")"
		   [ "$(wc -l <"$T/out")" -eq 1 ] || fail "$p $o: more than the version: $(cat "$T/out")" ;;
		esac
	done
done

note "a second hsm-sim on the same socket names the one running"
"$BIN/hsm-sim" -state "$T/s1" -socket "$T/h.sock" -pidfile "$T/h1.pid" -logfile "$T/h1.log" &
track $!
first=$!
wait_for 20 test -S "$T/h.sock" || fail "hsm-sim did not start: $(cat "$T/h1.log")"
set +e
OUT=$(timeout 20 "$BIN/hsm-sim" -state "$T/s2" -socket "$T/h.sock" -pidfile "$T/h2.pid" -logfile "$T/h2.log" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "a second hsm-sim started on a socket in use"
expect_contains "$OUT$(cat "$T/h2.log" 2>/dev/null)" "already running as pid $first"
alive "$first" || fail "the first hsm-sim died"
echo "option vocabulary ok"
