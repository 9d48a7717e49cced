# Shared by the fault-injection scripts (tests/faults/*.sh): the Remote PED
# ceremony they interrupt, the checks run after each fault, the tally.
# Source after ../lib.sh, ../e2e/hsm_lib.sh and ../e2e/remote_lib.sh.
: "${ROUNDS:=10}"
: "${FAULT_SEED:=$RANDOM}"
RANDOM=$FAULT_SEED
echo "seed: $FAULT_SEED (FAULT_SEED=$FAULT_SEED ROUNDS=$ROUNDS to replay)"
FAULTS=0 SURVIVED=0 DATA_LOST=0
# The e2e helpers turn set -e back on; a fault script counts failures instead.
for _f in hsmcm pedserver_cmd pedclient_cmd; do
	eval "_e2e_$(declare -f $_f)"
	eval "$_f() { _e2e_$_f \"\$@\"; set +e; }"
done
set +e
CEREMONY_NO=0

# result: the last line every fault script prints; its exit status.
result() {
	echo "result: faults=$FAULTS survived=$SURVIVED data_lost=$DATA_LOST"
	[ "$SURVIVED" -eq "$FAULTS" ] && [ "$DATA_LOST" -eq 0 ]
}

# case_fail WHY: this case did not survive (reported, counted; the script goes on).
CASE_OK=1
case_fail() { echo "  CASE FAILED: $*" >&2; CASE_OK=0; }
case_lost() { echo "  DATA LOST: $*" >&2; CASE_OK=0; CASE_LOST=1; }

# The ceremony: a Remote PED session keyed with the one-time password on a
# zeroized HSM, the RPV (orange key), HSM init (blue, red), SO login, a
# partition, its PO (black) and domain (red), its CO (black), CO login,
# three objects. Each run uses fresh blank keys; the PED is restarted with
# a policy naming them. Sets CER_CMDS (the hsmcm -f file). prepare_ceremony
# [FILE]: the key holders read the one-time password and the HSM's identity
# off FILE, where the caller writes hsmcm's output (default: $TRANSCRIPT).
CER_STEPS=(
	"ped connect -ip 127.0.0.1 -port @PORT@ -password"
	"ped vector init"
	"hsm init -label cer@N@"
	"role login -name so"
	"partition create -label pc"
	"slot set -slot 1"
	"partition init -label pi"
	"role login -name po"
	"role init -name co"
	"role login -name co"
	"object create -label o1 -value one"
	"object create -label o2 -value two"
	"object create -label o3 -value three"
	"ped disconnect"
)
prepare_ceremony() {
	CEREMONY_NO=$((CEREMONY_NO + 1))
	local n=$CEREMONY_NO
	new_keys "rpk$n" "so$n" "hd$n" "pd$n" "po$n" "co$n"
	cat >"$T/cer$n.policy" <<P
password ${1:-$TRANSCRIPT}
identity ${1:-$TRANSCRIPT}
write rpv ${KEY[rpk$n]}
use rpv ${KEY[rpk$n]}
write "SETTING SO" ${KEY[so$n]}
use "SO LOGIN" ${KEY[so$n]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hd$n]} ${KEY[pd$n]}
use "SETTING DOMAIN" ${KEY[pd$n]}
write "SETTING PO" ${KEY[po$n]}
use "PO LOGIN" ${KEY[po$n]}
write "SETTING CO" ${KEY[co$n]}
use "CO LOGIN" ${KEY[co$n]}
P
	CER_CMDS="$T/cer$n.cmds"
	: >"$CER_CMDS"
	local s
	for s in "${CER_STEPS[@]}"; do
		s=${s//@PORT@/$PORT_A}
		echo "${s//@N@/$n}" >>"$CER_CMDS"
	done
	CER_POLICY="$T/cer$n.policy"
}

# (Re)start the PED with a policy; the previous one stopped.
ped_restart() {
	if [ -n "${PED_A_PID:-}" ] && alive "$PED_A_PID"; then
		kill -TERM "$PED_A_PID"
		wait_gone 10 "$PED_A_PID" || kill -KILL "$PED_A_PID"
	fi
	rm -f "$T/A.events"
	start_remote_ped A A "$1"
	wait_for 20 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
}

# committed OUTFILE: the steps hsmcm reported done, one "N command" a line
# (N from 0), from the "hsmcm:> CMD" ... "Command Result : No Error" pairs.
committed() {
	awk '/^hsmcm:> /{ cmd = substr($0, 9); n++ } /^Command Result : No Error/{ print n - 1, cmd }' "$1"
}

# keys_ok: every iKey file passes ikey verify.
keys_ok() {
	local out
	if ! out=$("$BIN/ikey" verify 2>&1); then
		case_lost "ikey verify: $out"
		return 1
	fi
}

# hsm_state_ok: a fresh hsm-sim process loads the state files (a running
# daemon only holds what it loaded): started on a copy, on its own sockets.
hsm_state_loads() {
	local d="$T/loadcheck"
	rm -rf "$d"; mkdir -p "$d"
	mkdir -m 700 "$d/state" # a state directory must be private
	cp -a "$T/state/." "$d/state/"
	"$BIN/hsm-sim" -state "$d/state" -socket "$d/hsm.sock" -logfile "$d/hsm.log" &
	local p=$!
	if ! wait_for 20 test -S "$d/hsm.sock"; then
		kill -KILL $p 2>/dev/null; wait $p 2>/dev/null
		case_lost "hsm-sim does not load the state: $(cat "$d/hsm.log")"
		return 1
	fi
	local o rc
	o=$(timeout 30 "$BIN/hsmcm" -socket "$d/hsm.sock" -c "hsm showinfo; slot list" 2>&1); rc=$?
	kill -TERM $p; wait $p 2>/dev/null
	if [ $rc -ne 0 ] || grep -qi "damaged\|checksum\|refus" "$d/hsm.log"; then
		case_lost "state does not load cleanly: $o $(cat "$d/hsm.log")"
		return 1
	fi
	LOADED_INFO=$o
}

# check_state DONE INFLIGHT_MAY_HAVE_COMMITTED: the HSM state (as a fresh
# hsm-sim loads it) matches the committed steps exactly; with
# INFLIGHT_MAY_HAVE_COMMITTED=1 (hsm-sim itself was killed, so the step in
# flight may have been saved without an answer) that one step may be there too.
# DONE: the number of steps hsmcm reported done.
check_state() {
	local done=$1 maybe=$2
	hsm_state_loads || return 1
	local info=$LOADED_INFO
	local inflight=-1
	[ "$maybe" = 1 ] && inflight=$done
	# step -> expected fact in hsm showinfo/slot list
	_expect_fact() { # STEP TEXT DESC
		local step=$1 text=$2 desc=$3 have=0
		grep -qF -- "$text" <<<"$info" && have=1
		if [ "$step" -lt "$done" ]; then
			[ $have = 1 ] || case_lost "$desc committed (step $step) but missing: $info"
		elif [ "$step" -eq "$inflight" ]; then
			: # either way
		else
			[ $have = 0 ] || case_fail "$desc present though step $step never completed (half-created?): $info"
		fi
	}
	_expect_fact 1 "Remote PED vector -> initialized" "RPV"
	_expect_fact 2 "HSM Initialized -> yes" "HSM init"
	_expect_fact 4 "Partitions -> 1" "partition"
	_expect_fact 6 "Label ->                pi" "partition init"
	return 0
}

# check_objects DONE MAYBE: with the CO committed, a CO login on the live HSM
# sees exactly the committed objects (one more allowed when MAYBE and the
# step in flight was an object create). Needs the PED on the ceremony's policy.
check_objects() {
	local done=$1 maybe=$2 want=0 extra=0 i
	[ "$done" -ge 10 ] || return 0 # CO login (step 9) never answered: nothing to count
	for i in 10 11 12; do [ "$done" -gt $i ] && want=$((want + 1)); done
	[ "$maybe" = 1 ] && [ "$done" -ge 10 ] && [ "$done" -le 12 ] && extra=1
	hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; slot set -slot 1; role login -name co; partition contents; ped disconnect"
	if [ $RC -ne 0 ]; then
		case_lost "CO login after the fault: $OUT"
		return 1
	fi
	local got
	got=$(awk '/Number of objects:/{print $4}' <<<"$OUT")
	if [ -z "$got" ] || [ "$got" -lt $want ] || [ "$got" -gt $((want + extra)) ]; then
		case_lost "objects: expected $want (+$extra), found ${got:-none}: $OUT"
		return 1
	fi
}

# fresh_ceremony: zeroize the HSM and run the whole ceremony with new keys: it must succeed.
fresh_ceremony() {
	hsmcm -c "ped disconnect"
	hsmcm -c "hsm zeroize -force"
	[ $RC -eq 0 ] || { case_fail "hsm zeroize: $OUT"; return 1; }
	prepare_ceremony
	ped_restart "$CER_POLICY"
	hsmcm -f "$CER_CMDS"
	if [ $RC -ne 0 ]; then
		case_fail "fresh ceremony failed: $(tail -n 20 <<<"$OUT")"
		return 1
	fi
	keys_ok
}
