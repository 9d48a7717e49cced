#!/bin/bash
# A hostile network between pedclient and pedserver. hostile_relay sits on the
# TCP link (pedclient dials it, it dials pedserver) and, per case, tampers
# with one frame of the secure channel at a point picked at random from a
# recorded good session: bit flips, a truncated frame, a duplicated frame, a
# frame replayed from the recorded session, two frames swapped, a forged frame,
# a frame's type byte changed (to the other channel type, a relay control
# type or an unknown one).
# Each case runs ROUNDS times (default 5) on two ceremonies through the relay:
#  - login:  ped connect + SO login (the PED sends the SO split, a CSP);
#  - domain: ped connect + partition init reusing the blue and red keysets
#            (the PED sends the PO secret and the domain, CSPs);
#  - otp:    the backup HSM (zeroized) keyed with a one-time password (1e1s)
#            and ped vector init (the HSM sends the RPV and the RPV static
#            key, CSPs, to a second PED behind a second pedserver); the
#            tampering stays in that session, not the one keyed after it
#            with the new RPV.
# After each tampered session: hsmcm got a documented error within the
# timeout (no hang), no login or CSP was accepted (the ceremony's command
# failed, hsm-sim's state files are byte for byte unchanged), none of the
# test's secrets is in the bytes the relay saw, every daemon is alive, the
# PED stayed attached to its pedserver (only the session ends), and a clean
# ceremony straight to pedserver still works.
# A round whose ceremony ended before the relay reached its frame tried
# nothing: it is NOT-REACHED, with why (pedserver's refusal, or how far the
# session got and what the daemons logged), and fails the run.
# Ends with "result: relay_cases=N csp_accepted=N"; exit 0 only if no
# tampered session had a login or CSP accepted, every daemon survived and
# every round reached its frame.
# SEED fixes the first round's seed (printed either way) to repeat a run.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
set -e

ROUNDS=${ROUNDS:-5}
CASES=${CASES:-bitflip truncate duplicate replay reorder forge retype}
CEREMONIES=${CEREMONIES:-login domain otp}
SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
HSMCM_TIMEOUT=${HSMCM_TIMEOUT:-40}
SLOW_SECS=${SLOW_SECS:-12} # an error later than this is reported as slow
# the daemons' logs of every round that is not plainly ok are kept here
DEBUG_DIR=${DEBUG_DIR:-$PED_BUILD/test-logs/hostile_relay}
rm -rf "$DEBUG_DIR"
RELAY="$TOOLS/hostile_relay"
[ -x "$RELAY" ] || fail "$RELAY not built"
echo "seed: $SEED (SEED=$SEED repeats this run)"

PIN_SO=73915862
PIN_DOM=58204719
new_keys rpk so dom rpk2
start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2
start_pedserver B -pinginterval 1 -pingtimeout 2
start_pedclient -pinginterval 1 -pingtimeout 2
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
use rpv ${KEY[rpk]}
write "SETTING SO" ${KEY[so]}
newpin "SETTING SO" $PIN_SO
pin ${KEY[so]} $PIN_SO
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[dom]}
newpin "SETTING DOMAIN" $PIN_DOM
use "SETTING DOMAIN" ${KEY[dom]}
pin ${KEY[dom]} $PIN_DOM
reuse "SETTING PO" yes
use "SETTING PO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
P
# hundreds of logins with PINs: the cheap test cost, on purpose (the relay,
# not the mask, is under test)
start_remote_ped A A "$T/A.policy" -pinmaskcost 8
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
# PED B writes the backup HSM's RPV onto its own orange key
printf '%s\nreuse rpv no\nwrite rpv %s\n' "$OPERATOR" "${KEY[rpk2]}" >"$T/B.policy"
start_remote_ped B B "$T/B.policy"
wait_for 10 shown B "Ped2 Connection Status:   Connected" || fail "pedserver B does not see its PED: $OUT"

note "set-up, straight to pedserver: RPV with the one-time password, HSM init, two partitions"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; hsm init -label hostile; ped disconnect"
[ $RC -eq 0 ] || fail "RPV and HSM init: $OUT"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; partition create -label target; partition create -label ref; ped disconnect"
[ $RC -eq 0 ] || fail "SO login and partitions: $OUT"
hsmcm -c "slot list"
TARGET_SLOT=1 REF_SLOT=2
expect_contains "$OUT" "target"

# The secrets of this test: PINs, the one-time passwords, every share as
# stored and unmasked, the RPV static keys; read again before each scan, as
# ped vector init writes new ones.
secrets() {
	{
		echo "pin-so text:$PIN_SO"
		echo "pin-domain text:$PIN_DOM"
		# every one-time password the HSM printed
		grep -o 'enter following password: [0-9]\{8\}' "$TRANSCRIPT" | awk '{print "one-time-password-" NR " text:" $4}'
		python3 "$PED_SRCDIR/tests/reliability/ikey_secrets.py" "$IKEY_STORE" "${KEY[so]}=$PIN_SO" "${KEY[dom]}=$PIN_DOM"
		cat "$T/secrets.seen" 2>/dev/null
	} | sort -u >"$T/secrets.new"
	mv "$T/secrets.new" "$T/secrets"
	cp "$T/secrets" "$T/secrets.seen"
}
secrets
grep -q -- '-unmasked ' "$T/secrets" || fail "no unmasked share among the secrets: $(cat "$T/secrets")"
grep -q -- 'rpv-.*-share ' "$T/secrets" || fail "no RPV among the secrets"
note "secrets looked for: $(awk '{print $1}' "$T/secrets" | tr '\n' ' ')"

# ceremony_cmd CEREMONY PORT SLOT: the hsmcm commands of a ceremony through port PORT.
ceremony_cmd() {
	case $1 in
	login) echo "ped connect -ip 127.0.0.1 -port $2; role login -name so" ;;
	domain) echo "ped connect -ip 127.0.0.1 -port $2; slot set -slot $3; partition init -label t$RANDOM" ;;
	otp) echo "ped connect -slot 20 -ip 127.0.0.1 -port $2 -password; slot set -slot 20; ped vector init" ;;
	esac
}
# Before a ceremony: PED B writes onto a blank orange key (a written one would
# need the operator to agree to overwrite it); its secrets are kept first.
prepare() {
	[ "$1" = otp ] || return 0
	secrets
	"$BIN/ikey" erase "${KEY[rpk2]}" -force >/dev/null || fail "cannot erase the orange key of PED B"
}
# Which pedserver and HSM slot a ceremony uses.
server_of() { if [ "$1" = otp ]; then echo B; else echo A; fi; }
hsm_slot_of() { if [ "$1" = otp ]; then echo 20; else echo 0; fi; }

# run_hsmcm FILE COMMANDS: hsmcm with a timeout; output in FILE, status in $RC, seconds in $SECS.
run_hsmcm() {
	local start=$EPOCHREALTIME
	set +e
	timeout "$HSMCM_TIMEOUT" "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" -c "$2" 2>&1 | tee -a "$TRANSCRIPT" >"$1"
	RC=${PIPESTATUS[0]}
	set -e
	SECS=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}

# Back to idle: the session closed on the HSM's side, pedserver free, the PED awaiting a command.
# ped disconnect is refused (the Remote PED is in use: CKR_DEVICE_ERROR) while
# the session key is being computed: ask again.
disconnected() {
	hsmcm -c "ped disconnect -slot $1"
	! grep -q "the Remote PED is in use" <<<"$OUT"
}
# settled [SECONDS [CEREMONY]]: its session closed by the HSM, its pedserver
# free again with its PED attached (the next round must not start without
# one: it would be refused before its frame).
settled() {
	local cer=${2:-login}
	wait_for "${1:-20}" disconnected "$(hsm_slot_of "$cer")"
	wait_for "${1:-20}" shown "$(server_of "$cer")" "Client Information:         Not Available" &&
		wait_for "${1:-20}" shown "$(server_of "$cer")" "Ped2 Connection Status:   Connected"
}
settle() { settled 20 "${1:-login}" || fail "pedserver still serves a client or has no PED: $OUT"; }

# Times the PED of a ceremony's pedserver left it (its event log).
ped_detaches() { grep -c '"event":"pedserver","attached":false' "$T/$(server_of "$1").events" || true; }

# Where each daemon's log ends now: log_mark, then since_mark LOG gives
# what LOG got since.
declare -A MARK
log_mark() {
	local l
	for l in A B pedclient hsm; do MARK[$l]=$(stat -c %s "$T/$l.log" 2>/dev/null || echo 0); done
}
since_mark() { tail -c +"$((${MARK[$1]} + 1))" "$T/$1.log" 2>/dev/null || true; }

# The last warning or error LOG got since log_mark, without its time stamp.
warned_since() { since_mark "$1" | grep -v '^[^ ]* [^ ]* INFO ' | tail -n 1 | cut -d' ' -f2-; }

# why_unreached CEREMONY: why the round's ceremony ended before the relay's
# target, from the relay's count and the daemons' lines of the round.
why_unreached() {
	local srv why frames
	srv=$(server_of "$1")
	why=$(since_mark "$srv" | sed -n 's/.*refused client [^(]*(HSM [^)]*): //p' | head -n 1)
	if [ -n "$why" ]; then
		echo "pedserver $srv refused the session: $why"
		return
	fi
	if ! grep -q "connection accepted" "$T/relay.log"; then
		echo "pedclient never reached the relay: $(warned_since pedclient)"
		return
	fi
	frames=$(sed -n 's/.*channel frames \(c2s [0-9]* s2c [0-9]*\).*/\1/p' "$T/relay.log")
	echo "the session ended after ${frames:-no} channel frames; last warnings: $(warned_since "$srv");" \
		"$(warned_since pedclient); $(warned_since hsm)"
}

state_sum() { (cd "$T/state" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

daemons_alive() {
	local p
	for p in "$HSM_PID" "$(cat "$T/A-run/openped/pedserver.pid")" "$(cat "$T/B-run/openped/pedserver.pid")" \
		"$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")" "$PED_A_PID" "$PED_B_PID"; do
		alive "$p" || return 1
	done
}

# start_relay CEREMONY CASE SEED [options]: a relay in front of the ceremony's pedserver; sets RELAY_PID and RELAY_PORT.
start_relay() {
	local port_var="PORT_$(server_of "$1")" c=$2 s=$3
	shift 3
	rm -f "$T/relay.port"
	"$RELAY" -connect "127.0.0.1:${!port_var}" -portfile "$T/relay.port" -case "$c" -seed "$s" \
		-dump "$T/relay.dump" "$@" >"$T/relay.log" 2>&1 &
	RELAY_PID=$!
	track $RELAY_PID
	wait_for 10 test -s "$T/relay.port" || { cat "$T/relay.log" >&2; fail "relay did not start"; }
	RELAY_PORT=$(cat "$T/relay.port")
}
stop_relay() {
	kill -TERM "$RELAY_PID" 2>/dev/null || true
	wait "$RELAY_PID" 2>/dev/null || true
}

clean_ceremony() {
	run_hsmcm "$T/clean.out" "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; ped disconnect"
	[ $RC -eq 0 ] || { cat "$T/clean.out" >&2; fail "a clean ceremony after $1 failed"; }
}

note "reference sessions through a relay that only records"
: >"$T/relay.dump"
for cer in $CEREMONIES; do
	prepare "$cer"
	start_relay "$cer" record 0 -record "$T/ref-$cer.bin"
	run_hsmcm "$T/ref.out" "$(ceremony_cmd "$cer" "$RELAY_PORT" $REF_SLOT)"
	[ $RC -eq 0 ] || fail "reference $cer session through the relay: $(cat "$T/ref.out")"
	settle "$cer"
	stop_relay
	if [ "$cer" = otp ]; then
		# back to a zeroized backup HSM, without an RPV, for the tampered rounds
		hsmcm -c "slot set -slot 20; hsm zeroize -force; hsm showinfo"
		expect_contains "$OUT" "Remote PED vector -> not initialized"
	fi
	grep 'channel frames' "$T/relay.log" | sed "s/^/    $cer: /"
	[ -s "$T/ref-$cer.bin" ] || fail "nothing recorded for $cer"
done
secrets
python3 "$PED_SRCDIR/tests/reliability/scan_secrets.py" "$T/secrets" "$T/relay.dump" >"$T/scan.out" ||
	fail "secrets on the wire of a good session: $(cat "$T/scan.out")"
clean_ceremony "the reference sessions"

cases=0 accepted=0 leaked=0 hangs=0 dead=0 slow=0 stucks=0 unreached=0 detached=0 round_seed=$SEED
declare -A outcome
for c in $CASES; do
	for cer in $CEREMONIES; do
		for r in $(seq 1 "$ROUNDS"); do
			cases=$((cases + 1))
			before=$(state_sum)
			: >"$T/relay.dump"
			prepare "$cer"
			# ped vector init decides in the password session, then keys a new one with the
			# RPV: that one is a login's kind of session, tampered in the login rounds
			only_first=()
			[ "$cer" != otp ] || only_first=(-first-session)
			start_relay "$cer" "$c" "$round_seed" -reference "$T/ref-$cer.bin" "${only_first[@]}"
			detaches=$(ped_detaches "$cer")
			log_mark
			run_hsmcm "$T/round.out" "$(ceremony_cmd "$cer" "$RELAY_PORT" $TARGET_SLOT)"
			rc=$RC out=$(cat "$T/round.out")
			# the session must end when the HSM closes its end, the relay still in place
			stuck=0
			settled 10 "$cer" || stuck=1
			stop_relay
			[ $stuck = 0 ] || settled 10 "$cer" || fail "pedserver still serves a client or has no PED after the relay closed: $OUT"
			target=$(sed -n 's/^target: //p' "$T/relay.log")
			mutated=$(sed -n 's/^mutated: //p' "$T/relay.log" | tr '\n' ' ')
			err=$(grep -o '\(CKR\|PED_E\|RC\)_[A-Z_]*' <<<"$out" | tail -n 1 || true)
			verdict=ok
			if [ $rc -eq 124 ]; then
				verdict=HANG
				hangs=$((hangs + 1))
			elif [ $rc -eq 0 ]; then
				verdict=ACCEPTED
			elif [ -z "$err" ]; then
				verdict=NO-ERROR-NAME
			elif [ "${SECS%.*}" -ge "$SLOW_SECS" ]; then
				verdict=SLOW
				slow=$((slow + 1))
			fi
			unreached_why=
			if [ -z "$mutated" ]; then
				verdict="$verdict+NOT-REACHED"
				unreached=$((unreached + 1))
				unreached_why=$(why_unreached "$cer")
			fi
			if [ "$(ped_detaches "$cer")" != "$detaches" ]; then
				verdict="$verdict+PED-DETACHED"
				detached=$((detached + 1))
			fi
			if [ $stuck = 1 ]; then
				verdict="$verdict+STUCK"
				stucks=$((stucks + 1))
			fi
			if [ "$(state_sum)" != "$before" ]; then
				verdict="$verdict+STATE-CHANGED"
			fi
			if [ "${verdict%%+*}" = ACCEPTED ] || [ "${verdict#*STATE-CHANGED}" != "$verdict" ]; then
				accepted=$((accepted + 1))
				# a backup HSM given an RPV takes no more one-time passwords: zeroize it again
				[ "$cer" != otp ] || hsmcm -c "slot set -slot 20; hsm zeroize -force"
			fi
			secrets
			if ! python3 "$PED_SRCDIR/tests/reliability/scan_secrets.py" "$T/secrets" "$T/relay.dump" >"$T/scan.out"; then
				verdict="$verdict+SECRET-ON-WIRE"
				leaked=$((leaked + 1))
				cat "$T/scan.out"
			fi
			if ! daemons_alive; then
				verdict="$verdict+DAEMON-DIED"
				dead=$((dead + 1))
			fi
			printf '%-9s %-6s round %d seed %-10s %-5s %5ss %-28s | %s| %s\n' "$c" "$cer" "$r" "$round_seed" \
				"$verdict" "$SECS" "${err:-rc=$rc}" "$mutated" "$target"
			[ -z "$unreached_why" ] || echo "    not reached: $unreached_why"
			[ "${verdict#*PED-DETACHED}" = "$verdict" ] ||
				echo "    the PED left pedserver $(server_of "$cer"): $(grep 'pedserver link ended' "$T/$(server_of "$cer").ped.log" | tail -n 1)"
			[ "$verdict" = ok ] || { echo "    hsmcm said: $out"; sed 's/^/    relay: /' "$T/relay.log"; }
			outcome["$c"]="${outcome[$c]:+${outcome[$c]} }$verdict"
			if [ "$verdict" != ok ]; then
				mkdir -p "$DEBUG_DIR/$cases" && cp "$T"/*.log "$T"/*.events "$T/round.out" "$DEBUG_DIR/$cases/" 2>/dev/null || true
				echo "    logs: $DEBUG_DIR/$cases"
			fi
			round_seed=$(((round_seed * 1103515245 + 12345) % 2147483648))
			[ $dead -eq 0 ] || break 3
		done
	done
	clean_ceremony "case $c"
done

note "clean domain and one-time password ceremonies through a relay that tampers with nothing"
for cer in domain otp; do
	prepare $cer
	start_relay $cer pass 0
	run_hsmcm "$T/pass.out" "$(ceremony_cmd $cer "$RELAY_PORT" $TARGET_SLOT)"
	[ $RC -eq 0 ] || fail "clean $cer ceremony through the relay: $(cat "$T/pass.out")"
	settle $cer
	stop_relay
done
daemons_alive || { dead=$((dead + 1)); echo "a daemon died"; }

for c in $CASES; do
	echo "case $c:$(tr ' ' '\n' <<<"${outcome[$c]:-}" | sort | uniq -c | awk '{printf " %s x%d", $2, $1}')"
done
echo "hangs=$hangs slow=$slow stuck=$stucks not_reached=$unreached ped_detached=$detached secrets_on_wire=$leaked daemons_died=$dead"
echo "result: relay_cases=$cases csp_accepted=$accepted"
[ "$accepted" -eq 0 ] && [ "$dead" -eq 0 ] && [ "$hangs" -eq 0 ] && [ "$leaked" -eq 0 ] &&
	[ "$slow" -eq 0 ] && [ "$stucks" -eq 0 ] && [ "$unreached" -eq 0 ] && [ "$detached" -eq 0 ]
