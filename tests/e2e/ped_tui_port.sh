#!/bin/bash
# What the ncurses PED says of its key port is what holds now: a key
# inserted or removed through the control socket (ped-device -send) at a
# prompt that does not change the screen shows at once (the port line kept
# the old key, or none, until something else redrew it); "Inserted X" goes
# once X is out; r with the port empty says so (it said "Key removed").
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
export IKEY_STORE="$T/keys"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedport
send() { "$BIN/ped-device" -control "$T/t.ctl" -send "$*" >/dev/null; }

k1=$("$BIN/ikey" new -label one)
tm new-session -d -s "$S" -x 80 -y 24 "$BIN/ped-device -mode admin -control $T/t.ctl; sleep 30"
tm_wait "Admin mode"
keys 1
tm_wait "3 List types"

note "the control socket inserts and removes: the port line follows"
send insert "$k1"
tm_wait "iKey port: $k1"
send remove
tm_wait "iKey port: (empty)"

note "i inserts; removed through the socket, \"Inserted\" goes"
keys i
tm_wait "Inserted $k1"
send remove
tm_wait "iKey port: (empty)"
wait_for 10 eval '! screen | grep -q "Inserted $k1"' || fail "the status line still says the key is inserted: $(screen)"

note "r with the port empty"
keys r
tm_wait "No key in the port"
! screen | grep -q "Key removed" || fail "r said a key was removed from the empty port"
keys i
tm_wait "Inserted $k1"
keys r
tm_wait "Removed $k1"
tm_wait "iKey port: (empty)"
echo "ped tui port ok"
