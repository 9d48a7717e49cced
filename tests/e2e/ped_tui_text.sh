#!/bin/bash
# Text from outside the ncurses PED, drawn one printable cell per byte: a
# key's label (the key may be anyone's) and the notes file (the HSM shell's
# output). A newline in a label moved the rest of it to the start of the
# next line of the key list, where it stayed; a tab or UTF-8 (ncurses draws
# those as several cells) pushed the line out of place.
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
export IKEY_STORE="$T/keys"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedtext

nl=$("$BIN/ikey" new -label "$(printf 'one\ntwo')")
tab=$("$BIN/ikey" new -label "$(printf 'a\tb\033[7mc')")
utf=$("$BIN/ikey" new -label "$(printf 'caf\303\251 end')")
printf 'hsmcm:> hsm init\n\tPlease attend\tto the PED. caf\303\251 end\n' >"$T/notes"
tm new-session -d -s "$S" -x 80 -y 24 "$BIN/ped-device -mode menu -control $T/t.ctl -notes $T/notes; sleep 30"
tm_wait "Select Mode"
tm_wait "$utf"

note "a label with a newline stays on its line"
line=$(screen | grep -F "$nl")
expect_contains "$line" "one?two" "the list line of the key labelled one\\ntwo"
! screen | grep -q '^two' || fail "the label's newline moved 'two' to the next line: $(screen)"

note "a tab, an escape sequence and UTF-8 are one cell a byte"
expect_contains "$(screen | grep -F "$tab")" "a b?[7mc" "the list line of a tab and escape label"
expect_contains "$(screen | grep -F "$utf")" "caf?? end" "the list line of a UTF-8 label"

note "the notes lines too"
tm_wait "Please attend to the PED. caf?? end"
echo "ped tui text ok"
