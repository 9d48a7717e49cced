#!/bin/bash
# The ncurses PED through tmux: power-on in Local PED mode, < to the mode menu (Clear held does nothing
# there), hsm init with a blue 2-of-3 keyset with PINs and a red 1-of-1 (procedure 4; M and N as ">02" on
# a line of their own), "Token found" before the prompt, a login, leaving the mode (no RPK held: no
# warning), Admin mode's List types ("Found keys:", the type, a blank line) and Duplicate, and resizing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"

S=ped
# tm_wait TEXT: poll the pane until TEXT shows
# pick SERIAL: move the key picker to SERIAL and insert it
pick() {
	local i=0 s
	keys Home
	for s in $(printf '%s\n' "${KEY[@]}" | sort); do
		[ "$s" = "$1" ] && break
		i=$((i + 1))
	done
	keys Up Up Up Up Up Up Up Up Up Up
	while [ $i -gt 0 ]; do keys Down; i=$((i - 1)); done
	keys i
	tm_wait "iKey port: $1"
}

new_keys k1 k2 k3 k4 spare
start_hsm
tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -hsm $T/ped-$HSM_SERIAL.sock -control $T/tui.ctl -keytimeout 60; sleep 30"
tm set-option -t "$S" remain-on-exit on >/dev/null

# below_line TEXT: the display line under the one holding TEXT (the pane's box drawn around it)
below_line() { screen | grep -A1 -F -- "$1" | tail -n 1 | sed 's/^ *x \(.\{20\}\).*/\1/; s/ *$//'; }

note "power-on: Local PED mode, awaiting a command; < is the mode menu"
tm_wait "Local PED mode"
tm_wait "Awaiting command..."
keys BSpace
tm_wait "Select Mode"
for l in "1 Local PED-SCP" "4 Admin" "7 Remote PED" "0 Local PED-USB" "PED V."; do tm_wait "$l"; done
# Clear held (F5): "no effect ... when a menu is open" (it turned the PED off)
keys F5
keys 1
tm_wait "Not supported for"
keys BSpace
tm_wait "Select Mode"
keys 0
tm_wait "Awaiting command..."

note "hsm init from the keypad: SO keyset 2 of 3 with PINs, domain 1 of 1"
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label tmux" >"$T/init.out" 2>&1; echo $? >"$T/init.rc" ) &
track $!
tm_wait "reuse an existing"
keys n
tm_wait "M value? (1-16)"
keys 2
tm_wait ">02"
[ -z "$(below_line "M value? (1-16)")" ] || fail "no blank line between 'M value?' and '>02': $(screen)"
keys Enter
tm_wait "N value? (M-16)"
keys 3 Enter
tm_wait "PED Key (BLUE)"
pick "${KEY[k1]}"
keys Enter
tm_wait "blank."
keys y
tm_wait "Enter new PED PIN:"
keys 1 2 3 4 5 6 Enter
tm_wait "Confirm new PED PIN:"
keys 1 2 3 4 5 6 Enter
tm_wait "Keys write: 01 of 03"
pick "${KEY[k2]}"
keys Enter
tm_wait "blank."
keys y
tm_wait "Enter new PED PIN:"
keys Enter
tm_wait "Confirm new PED PIN:"
# no PIN, as chapter 5 shows it: "Enter new PED PIN:" then "Confirm new PED PIN:", no blank line
[ "$(below_line "Enter new PED PIN:")" = "Confirm new PED PIN:" ] || fail "no PIN: a line between 'Enter new PED PIN:' and 'Confirm': $(screen)"
keys Enter
tm_wait "Keys write: 02 of 03"
pick "${KEY[k4]}"
keys Enter
tm_wait "blank."
keys y
tm_wait "Enter new PED PIN:"
keys 6 5 4 3 2 1 Enter
tm_wait "Confirm new PED PIN:"
keys 6 5 4 3 2 1 Enter
tm_wait "Are you duplicating"
keys n
tm_wait "SETTING DOMAIN..."
keys n
tm_wait "M value?"
keys 1 Enter
tm_wait "N value?"
keys 1 Enter
tm_wait "PED Key (RED)"
pick "${KEY[k3]}"
keys Enter
tm_wait "Overwrite? YES/NO"
keys y
tm_wait "Enter new PED PIN:"
keys Enter Enter
tm_wait "Are you duplicating"
keys n
wait_for 20 test -s "$T/init.rc" || fail "hsm init did not finish"
[ "$(cat "$T/init.rc")" = 0 ] || fail "hsm init: $(cat "$T/init.out")"

note "a login: two keys, one with a PIN"
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1; echo $? >"$T/login.rc" ) &
track $!
tm_wait "Token found"
tm_wait "SO LOGIN..."
pick "${KEY[k1]}"
keys Enter
tm_wait "Enter PED PIN:"
keys 1 2 3 4 5 6 Enter
tm_wait "Keys read: 01 of 02"
pick "${KEY[k2]}"
keys Enter
wait_for 20 test -s "$T/login.rc" || fail "login did not finish"
[ "$(cat "$T/login.rc")" = 0 ] || fail "login: $(cat "$T/login.out")"
tm_wait "Awaiting command..."

note "Admin mode: identify a key, then duplicate it onto a blank key"
keys BSpace
tm_wait "Select Mode" # no RPK held in Local PED mode: no "invalidate the RPK" warning
keys 4
for l in "Admin mode..." "1 PED Key" "5 Backup Devices" "7 Software Update" "9 Self Test"; do tm_wait "$l"; done
keys F5
keys 1
tm_wait "3 List types"
pick "${KEY[k3]}"
keys 3
tm_wait "Found keys:"
tm_wait "Domain"
[ -z "$(below_line "Domain")" ] || fail "no blank line before 'Press ENTER.': $(screen)"
keys Enter
keys 1
tm_wait "to log in to."
keys Enter
tm_wait "Logged in."
keys Enter
tm_wait "7 Duplicate"
keys 7
tm_wait "Insert a blank or"
pick "${KEY[spare]}"
keys Enter
tm_wait "blank."
keys y
tm_wait "Duplicate written."
keys n
tm_wait "2 Logout"
"$BIN/ikey" show "${KEY[spare]}" >"$T/spare.txt"
"$BIN/ikey" show "${KEY[k3]}" >"$T/k3.txt"
grep -qi "domain" "$T/spare.txt" || fail "the duplicate is not a domain key: $(cat "$T/spare.txt")"
[ "$(grep -i keyset "$T/spare.txt")" = "$(grep -i keyset "$T/k3.txt")" ] || fail "the duplicate is of another keyset"

note "resize: too small says so, 80x24 again redraws"
tm resize-window -t "$S" -x 60 -y 20
tm_wait "needs an 80x24 terminal"
tm resize-window -t "$S" -x 80 -y 24
tm_wait "PED Key mode"

note "quit restores the terminal"
keys q
wait_for 20 eval '! test -e "$T/tui.ctl"' || fail "ped-device did not quit"
wait_for 10 eval '! screen | grep -q "iKey port"' || fail "the terminal still shows the PED after quitting"
echo PASS
