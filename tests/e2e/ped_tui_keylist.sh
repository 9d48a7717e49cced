#!/bin/bash
# The ncurses PED's key picker lists every key in the store: it held the
# first 64, and in a store of more (16 splits of a keyset, duplicates, the
# other roles' keys) the rest could not be picked or inserted.
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
export IKEY_STORE="$T/keys"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedlist

"$BIN/ikey" new -count 70 -label many >"$T/serials"
last=$(sort "$T/serials" | tail -n 1)
tm new-session -d -s "$S" -x 80 -y 24 "$BIN/ped-device -mode admin -control $T/t.ctl; sleep 30"
tm_wait "Admin mode"
note "Down to the 70th key, and insert it"
keys -N 69 Down
keys i
tm_wait "iKey port: $last"
tm_wait "Inserted $last"
echo "ped tui keylist ok"
