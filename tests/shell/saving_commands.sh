#!/bin/bash
# Issue 32: the commands that write pedserver's and pedclient's files.
#  1. a command saves only what it exists to change (-appliance register
#     -ip/-port, -regen, -appliance delete, setid with log options);
#  4. -mode config -name N -set configures appliance N, not the server;
#     -mode start -name with an unregistered name fails;
#  5. an option's value is never the next option; -ignoreidletimeout 0 clears;
#  6. unknown settings in a file are refused with file, line, nearest name;
# 10. a rewritten file keeps its comments, order, mode and owner.
. "$(dirname "$0")/../lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
command -v openssl >/dev/null || skip "openssl is needed to make an appliance certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -out "$T/c.pem" \
	-subj /CN=box2 -days 2 2>/dev/null || fail "openssl req"
S="$T/pedserver.conf" C="$T/pedclient.conf"
srv() { "$BIN/pedserver" "$@" -configfile "$S"; }
cli() { "$BIN/pedclient" "$@" -configfile "$C"; }
# lib.sh's expect_exit under set -e: a failing status must not end the suite
expect_exit() { set +e; _expect_exit "$@"; set -e; }
_expect_exit() {
	local want=$1; shift
	OUT=$("$@" 2>&1); local rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $OUT"
}

note "1: -appliance register -ip/-port name the appliance, not the server"
: >"$S"
expect_exit 0 srv -appliance register -name box2 -certificate "$T/c.pem" -ip 192.0.2.10 -port 9697
grep -q 'ip = "192.0.2.10"' "$S" || fail "the appliance's address was not stored: $(cat "$S")"
grep -Eq '^ *Server(IP|Port)' "$S" && fail "register stored the server's own address: $(cat "$S")"
expect_exit 0 srv -regen -commonname box1 -force -port 1600 -loginfo 0
grep -Eq '^ *(ServerPort|LogInfo)' "$S" && fail "-regen stored its command line's options: $(cat "$S")"
grep -q '^ClientCertificate' "$S" || fail "-regen did not store its certificate"
expect_exit 0 srv -appliance delete -name box2 -ip 198.51.100.1 -logfile "$T/x.log"
grep -Eq '^ *(ServerIP|LogFileName)' "$S" && fail "-appliance delete stored its options: $(cat "$S")"
: >"$C"
expect_exit 0 cli -mode setid -id 1 -id_ip host -id_port 1503 -loginfo 0 -logfilename "$T/F"
grep -Eq '^ *(LogInfo|LogFileName)' "$C" && fail "setid stored its log options: $(cat "$C")"
grep -q 'ip = "host"' "$C" || fail "setid did not store the mapping"
expect_exit 0 cli -mode assignid -id 1 -id_serialnumber 77 -logtrace 1
grep -q '^ *LogTrace' "$C" && fail "assignid stored -logtrace"

note "4: -mode config -name N -set changes appliance N; start -name checks the name"
: >"$S"
expect_exit 0 srv -appliance register -name box2 -certificate "$T/c.pem" -ip 192.0.2.10
expect_exit 0 srv -mode config -name box2 -set -port 9700
grep -q 'port = 9700' "$S" || fail "the appliance's port was not changed: $(cat "$S")"
grep -q '^ServerPort' "$S" && fail "-name -set changed the server's own port: $(cat "$S")"
expect_exit 2 srv -mode config -name box2 -set -idletimeout 5
expect_contains "$OUT" "the server's own setting"
expect_exit 1 srv -mode config -name nothere -set -port 1
expect_contains "$OUT" "No appliance named 'nothere' is registered"
expect_exit 1 srv -mode start -name nothere
expect_contains "$OUT" "No appliance named 'nothere' is registered"
[ ! -e "$XDG_RUNTIME_DIR/openped/pedserver.pid" ] || fail "start -name nothere started pedserver"

note "5: a value is not the next option; -ignoreidletimeout 0 clears the setting"
set +e; OUT=$(srv -mode config -set -logfile -show 2>&1); rc=$?; set -e
[ $rc -eq 2 ] || fail "-logfile -show accepted ($rc): $OUT"
expect_contains "$OUT" "-logfile needs a value FILE, not the option -show"
grep -q 'LogFileName' "$S" && fail "-logfile -show stored a log file: $(cat "$S")"
set +e; OUT=$(srv -mode config -set LogFileName -show 2>&1); rc=$?; set -e
[ $rc -eq 2 ] || fail "LogFileName -show accepted: $OUT"
expect_exit 0 srv -mode config -set -logfile=-dash.log
grep -q 'LogFileName = "-dash.log"' "$S" || fail "-logfile=VALUE not stored: $(cat "$S")"
: >"$C"
expect_exit 0 cli -mode config -set -ignoreidletimeout
grep -q 'IgnoreIdleTimeout = true' "$C" || fail "-ignoreidletimeout not set: $(cat "$C")"
expect_exit 0 cli -mode config -set -ignoreidletimeout 0
grep -q 'IgnoreIdleTimeout = false' "$C" || fail "-ignoreidletimeout 0 did not clear it: $(cat "$C")"
expect_exit 0 cli -mode config -set -listenport -1
grep -q 'ListenPort = -1' "$C" || fail "a negative number was taken for an option"

note "6: unknown settings are refused with file, line and the nearest name"
printf '# ours\nServerPort = 1503;\nServerPrt = 1503;\n' >"$T/typo.conf"
set +e; OUT=$("$BIN/pedserver" -mode config -show -configfile "$T/typo.conf" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "ServerPrt accepted: $OUT"
expect_contains "$OUT" "typo.conf:3: unknown setting 'ServerPrt' (did you mean 'ServerPort'?)"
printf 'ped_timout = 5;\n' >"$T/hsm.conf"
set +e; OUT=$("$BIN/hsm-sim" -configfile "$T/hsm.conf" -state "$T/state" -socket "$T/h.sock" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "hsm-sim took ped_timout"
expect_contains "$OUT" "hsm.conf:1: unknown setting 'ped_timout' (did you mean 'ped_timeout'?)"
set +e; OUT=$("$BIN/hsm-sim" -configfile "$PED_SRCDIR/conf/pedserver.conf" -state "$T/state" -socket "$T/h.sock" 2>&1)
rc=$?; set -e
[ $rc -ne 0 ] || fail "hsm-sim took pedserver's file"
expect_contains "$OUT" "pedserver.conf:"
expect_contains "$OUT" "unknown setting 'ServerIP'"
printf 'key_timeout = 5;\nkey_timout = 5;\n' >"$T/ped.conf"
set +e; OUT=$("$BIN/ped-device" -headless -configfile "$T/ped.conf" -control "$T/p.ctl" </dev/null 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "ped-device took key_timout"
expect_contains "$OUT" "ped.conf:2: unknown setting 'key_timout' (did you mean 'key_timeout'?)"
# the shipped files are read as they are
for f in pedserver pedclient; do
	expect_exit 0 "$BIN/$f" -mode config -show -configfile "$PED_SRCDIR/conf/$f.conf"
done

note "10: -set and setid keep comments, order, mode and owner"
cp "$PED_SRCDIR/conf/pedserver.conf" "$S"
chmod 640 "$S"
expect_exit 0 srv -mode config -set -port 1600 -logfile "$T/p.log"
diff <(grep -v '^ServerPort\|^LogFileName' "$PED_SRCDIR/conf/pedserver.conf") <(grep -v '^ServerPort\|^LogFileName' "$S") ||
	fail "-set changed more than its two settings"
grep -q '^ServerPort = 1600;$' "$S" || fail "ServerPort not edited in place: $(grep ServerPort "$S")"
grep -q "^LogFileName = \"$T/p.log\"; *# empty" "$S" || fail "LogFileName's comment lost: $(grep LogFileName "$S")"
[ "$(stat -c %a "$S")" = 640 ] || fail "mode changed to $(stat -c %a "$S")"
cp "$PED_SRCDIR/conf/pedclient.conf" "$C"
chmod 644 "$C"
expect_exit 0 cli -mode setid -id 3 -id_ip h3 -id_port 1503
[ "$(grep -c '^#\|# ' "$C")" = "$(grep -c '^#\|# ' "$PED_SRCDIR/conf/pedclient.conf")" ] || fail "setid dropped comments"
[ "$(stat -c %a "$C")" = 644 ] || fail "setid changed the mode to $(stat -c %a "$C")"
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
	chown nobody "$S" "$C"
	expect_exit 0 srv -mode config -set -idletimeout 900
	expect_exit 0 cli -mode releaseid -id 3
	[ "$(stat -c %U "$S")" = nobody ] || fail "-set by root took the file from its owner: $(stat -c %U "$S")"
	[ "$(stat -c %U "$C")" = nobody ] || fail "releaseid by root took the file from its owner"
else
	note "10: the owner part needs root (skipped)"
fi
echo "saving commands ok"
