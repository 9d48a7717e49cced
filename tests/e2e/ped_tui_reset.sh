#!/bin/bash
# Clear held (F5) on the ncurses PED says what it did: at a menu, where
# chapter 5 says it has no effect, "no operation to reset" (the status line
# said "operation reset" there too); at a prompt, "operation reset", and
# the operation ends.
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
export IKEY_STORE="$T/keys"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedreset

tm new-session -d -s "$S" -x 80 -y 24 "$BIN/ped-device -mode menu -control $T/t.ctl; sleep 30"
tm_wait "Select Mode"
note "at a menu: nothing to reset"
keys F5
tm_wait "Clear held: no operation to reset"
! screen | grep -q "operation reset" || fail "the status line says an operation was reset at a menu: $(screen)"
tm_wait "Select Mode"

note "at a prompt: the operation is reset"
keys 4
tm_wait "Admin mode"
keys 1
tm_wait "3 List types"
keys 1
tm_wait "to log in to."
keys F5
tm_wait "Clear held: operation reset"
tm_wait "3 List types"
echo "ped tui reset ok"
