#!/bin/bash
# The 001 seed's backup session (lines 60-140) replayed with our programs,
# as docs/operator-guide.md shows it: hsmcm starts listing the available
# HSMs, slot set slot 1, ped get (local, PED id 0), ped connect ip ... and
# ped get (remote, PED id 100), role login -name Crypto Officer asked for
# its password at the terminal, the backup HSM connected with -slot, and
# partition archive backup -slot 20 -par SAbck1 creating the backup
# partition through the Remote PED. Also chapter 5's PED screens as the
# remote PED showed them. The whole transcript is compared with the guide's
# (ports and the PED's pid aside). PED_GUIDE_OUT=FILE keeps the transcript.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
command -v tmux >/dev/null || skip "tmux is not installed (make deps installs it)"

export TMUX_TMPDIR="$T"
S=g
tm() { tmux -L "$S" "$@"; }
screen() { tm capture-pane -p -J -S -1000 -t "$S"; }
tm_wait() {
	wait_for 60 eval "screen | grep -qF -- \"$1\"" || { screen >&2; fail "hsmcm never showed '$1'"; }
}
results() { screen | grep -c "^Command Result" || true; }
# run LINE: typed at the prompt; waits for its result
run() {
	local want=$(($(results) + 1))
	tm send-keys -t "$S" -l "$1"; tm send-keys -t "$S" Enter
	wait_for 60 eval '[ $(results) -ge '"$want"' ]' || { screen >&2; fail "$1"; }
}
cleanup_tmux() { tm kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; _cleanup' EXIT

new_keys so hdom po dom co rpkA bso bdom rpkB bpo bco
start_hsm
# set-up with PEDs cabled to each HSM: the RPVs, the HSMs, the partition, an activated CO
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
write rpv ${KEY[rpkA]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]} / ${KEY[co]}
P
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nreuse "SETTING DOMAIN" no\nwrite "SETTING DOMAIN" %s\nwrite rpv %s\n' \
	"${KEY[bso]}" "${KEY[bso]}" "${KEY[bdom]}" "${KEY[rpkB]}" >"$T/b.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "hsm init -label main; role login -name so; ped vector init; partition create -label SA52_P1; slot set -slot 1; partition init -label SA52_P1; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin1; role logout; role login -name co -password userpin1; object create -label master-key -value k1; object create -label signing-key -value k2
slot set -slot 20; hsm init -label BackupHSM; role login -name so; ped vector init"
[ $RC -eq 0 ] || fail "set-up: $OUT"
kill -TERM "$PED_A_PID" "$PED_B_PID"; wait_gone 10 "$PED_A_PID"; wait_gone 10 "$PED_B_PID"

# the Remote PED at the operator's workstation
start_pedserver W
start_pedclient
# The CO logs in with its challenge, so the HSM's session is never keyed (the
# orange key is asked at the first PED operation): only the backup HSM's is.
cat >"$T/r.policy" <<P
use rpv ${KEY[rpkB]}
use "SO LOGIN" ${KEY[bso]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]} / ${KEY[bpo]}
reuse "SETTING DOMAIN" yes
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
start_remote_ped R W "$T/r.policy"

tm new-session -d -s "$S" -x 160 -y 80 "$BIN/hsmcm -socket $HSM_SOCK; sleep 60"
tm set-option -t "$S" history-limit 5000 >/dev/null
tm_wait "Current Slot Id: 0"
run "slot set slot 1"
run "ped get"
run "ped connect ip 127.0.0.1 port $PORT_W"
run "ped get"
tm send-keys -t "$S" -l "role login -name Crypto Officer"; tm send-keys -t "$S" Enter
tm_wait "Enter the password:"
tm send-keys -t "$S" -l "userpin1"; tm send-keys -t "$S" Enter
tm_wait "User is activated, PED is not required."
wait_for 20 eval '[ $(results) -ge 5 ]' || { screen >&2; fail "login"; }
run "ped disconnect"
run "ped connect ip 127.0.0.1 port $PORT_W -slot 20"
run "ped get -slot 20"
run "partition archive backup -slot 20 -par SAbck1"
out=$(screen)
[ -z "${PED_GUIDE_OUT:-}" ] || { printf '%s\n' "$out" >"$PED_GUIDE_OUT"; grep '"event":"screen"' "$T/R.events" >"$PED_GUIDE_OUT.screens"; }

for l in "Available HSMs:" "Label ->                SA52_P1" "Label ->                BackupHSM" \
	"Configuration ->        Remote Backup HSM (PED) Backup Device" "Current Slot Id: 1     (OpenPED User Slot" \
	"HSM slot 1 listening to local PED (PED id=0)." "HSM slot 1 listening to remote PED (PED id=100)." \
	"Option -password was not supplied.  It is required." "Enter the password: ********" \
	"User is activated, PED is not required." "HSM slot 20 listening to remote PED (PED id=100)." \
	"Logging in as the SO on slot 20." "Creating partition SAbck1 on slot 20." \
	"Logging into the container SAbck1 on slot 20 as the user." "Creating Domain for the partition SAbck1 on slot 20." \
	"Verifying that all objects can be backed up..." "Backing up objects..." "Backup Complete." \
	"Cloned object 1 to partition SAbck1 (new handle 1)." "2 objects have been backed up to partition SAbck1"; do
	expect_contains "$out" "$l" "the transcript"
done
# the whole transcript as docs/operator-guide.md prints it, but for the
# port and the PED's pid
norm() { expand | sed -E 's/[[:space:]]+$//; s/(port|127\.0\.0\.1:)[ ]?[0-9]+/\1 PORT/g; s/ped-device:[0-9]+/ped-device:PID/g'; }
awk '/^## The 001 session/ { on = 1 } on && /^```$/ { if (++n == 2) exit; next } on && n == 1' \
	"$PED_SRCDIR/docs/operator-guide.md" | norm >"$T/guide.doc"
[ -s "$T/guide.doc" ] || fail "no transcript in the operator guide's 001 session"
printf '%s\n' "$out" | norm | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$T/guide.out"
diff "$T/guide.doc" "$T/guide.out" >"$T/guide.diff" ||
	fail "the 001 session is not what docs/operator-guide.md prints: $(cat "$T/guide.diff")"
expect_not_contains "$out" "userpin1" "the transcript"
expect_not_contains "$out" "Error in execution" "the transcript"
# chapter 5's screens, as the Remote PED showed them
for s in 'COMPUTE SESSION KEY.\nInsert a\nRPK / Remote\nPED Key (ORANGE)' 'SO LOGIN...\nInsert a\nSO / HSM Admin\nPED Key (BLUE)' \
	'SETTING DOMAIN...\nWould you like to\nreuse an existing\nkeyset? (Y/N)'; do
	grep '"event":"screen"' "$T/R.events" | grep -qF "$s" || fail "the PED never showed: $s"
done
echo "guide transcripts ok"
