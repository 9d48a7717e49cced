#!/bin/bash
# Fault injection: the store (iKeys and HSM state on one small tmpfs) fills
# up, or is remounted read-only, before a random step of the Remote PED
# ceremony. The ceremony must stop with a CKR_* error and the cause in a log;
# every file that existed stays byte for byte; ikey verify passes; the state
# loads in a fresh hsm-sim, holds exactly the steps done before the fault,
# and equals what the running hsm-sim shows (nothing kept only in memory);
# with space freed / the store writable again, a fresh ceremony succeeds.
# ROUNDS (default 10) rounds, each with both faults; FAULT_SEED replays.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
. "$(dirname "$0")/faults_lib.sh"

MNT="$T/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=16m,mode=0700 tmpfs "$MNT" 2>/dev/null || skip "cannot mount a tmpfs (mount not permitted)"
_disk_cleanup() {
	local p
	for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait_gone 10 "$p"; done
	mount -o remount,rw "$MNT" 2>/dev/null
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	_cleanup
}
trap _disk_cleanup EXIT
mkdir -m 700 "$MNT/keys" "$MNT/state" # a store and a state directory must be private
rmdir "$IKEY_STORE" 2>/dev/null
ln -sfn "$MNT/keys" "$IKEY_STORE"
ln -sfn "$MNT/state" "$T/state"

start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2
start_pedclient -pinginterval 1 -pingtimeout 2
prepare_ceremony
ped_restart "$CER_POLICY"
hsmcm -f "$CER_CMDS"
[ $RC -eq 0 ] || fail "the ceremony fails without faults: $OUT"

snapshot() { (cd "$MNT" && find keys state -type f \( -name '*.ikey' -o -name '*.state' \) -print0 | xargs -0 -r sha256sum) >"$T/snap"; }
inject() {
	case $1 in
	full) dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null; sync ;;
	ro) mount -o remount,ro "$MNT" || fail "remount ro" ;;
	esac
}
heal() {
	case $1 in
	full) rm -f "$MNT/fill" ;;
	ro) mount -o remount,rw "$MNT" || fail "remount rw" ;;
	esac
}
live_info() { hsmcm -c "hsm showinfo; slot list"; LIVE_INFO=$OUT; }

started=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
	for mode in full ro; do
		CASE_OK=1 CASE_LOST=0
		FAULTS=$((FAULTS + 1))
		k=$((1 + RANDOM % 12)) # the fault comes before step k (1..12: a write follows)
		hsmcm -c "ped disconnect"
		hsmcm -c "hsm zeroize -force"
		[ $RC -eq 0 ] || fail "zeroize: $OUT"
		rm -f "$MNT"/keys/*.ikey "$MNT"/keys/*.lock # the last case's keys, checked already
		prepare_ceremony "$T/round.out"
		ped_restart "$CER_POLICY"
		rm -f "$T/fifo" "$T/round.out"; mkfifo "$T/fifo"
		( exec timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" <"$T/fifo" >"$T/round.out" 2>&1 ) &
		cpid=$!
		exec 7>"$T/fifo"
		i=0 stopped=-1
		while IFS= read -r step; do
			if [ $i -eq $k ]; then snapshot; : >"$T/hsm.log.mark"; inject $mode; fi
			echo "$step" >&7
			wait_for 60 eval "[ \$(grep -c '^Command Result' '$T/round.out') -gt $i ]" ||
				{ case_fail "step $i ($step) did not answer in 60 s"; stopped=$i; break; }
			if tail -n 3 "$T/round.out" | grep -q "^Command Result : 0x"; then stopped=$i; break; fi
			i=$((i + 1))
		done <"$CER_CMDS"
		exec 7>&-
		wait_for 30 eval "! alive $cpid" || { case_fail "hsmcm hangs"; kill -KILL $cpid; }
		wait $cpid
		echo "round $round $mode: fault before step $k; stopped at step $stopped"
		if [ $stopped -lt $k ]; then
			case_fail "the ceremony stopped at step $stopped, before the fault at $k: $(tail -n 8 "$T/round.out")"
		fi
		[ $stopped -ge 0 ] || case_fail "the ceremony completed on a full/read-only store"
		grep -Eq "Command Result : 0x[0-9a-f]+ \((CKR|RC)_[A-Z_]+\)" "$T/round.out" || case_fail "no CKR_* error: $(tail -n 5 "$T/round.out")"
		case $mode in full) why="No space left on device" ;; ro) why="Read-only file system" ;; esac
		cat "$T/hsm.log" "$T/A.ped.log" "$T/round.out" | grep -qi "$why\|ENOSPC\|EROFS\|no space\|read-only" ||
			case_fail "the cause ($why) is in no log: $(tail -n 3 "$T/hsm.log"; tail -n 12 "$T/round.out"; tail -n 5 "$T/A.ped.log"; grep -i "fail\|error" "$T/A.events" | tail -n 5)"
		(cd "$MNT" && sha256sum --quiet -c "$T/snap") >"$T/sum.out" 2>&1 || case_lost "files changed under the fault: $(cat "$T/sum.out")"
		keys_ok
		done_steps=$stopped
		[ $stopped -lt 0 ] && done_steps=${#CER_STEPS[@]}
		check_state "$done_steps" 0
		live_info
		[ "$LIVE_INFO" = "$LOADED_INFO" ] || case_fail "hsm-sim shows state it has not saved:
--- running:
$LIVE_INFO
--- saved:
$LOADED_INFO"
		heal $mode
		fresh_ceremony
		[ $CASE_OK = 1 ] && SURVIVED=$((SURVIVED + 1))
		[ $CASE_LOST = 1 ] && DATA_LOST=$((DATA_LOST + 1))
	done
done
echo "rounds took $((SECONDS - started)) s"
result
