# Helpers for end-to-end tests of hsm-sim, hsmcm and headless PEDs.
# Source after ../lib.sh. Everything lives in $T; daemons are tracked and
# stopped at exit.
export IKEY_STORE="$T/keys"
HSM_SOCK="$T/hsm.sock"
HSM_SERIAL=154438865288
BACKUP_SERIAL=496771

# new_keys LABEL...: one blank key per label; sets KEY[label]=serial.
declare -A KEY
new_keys() {
	local l s
	for l in "$@"; do
		s=$("${RUN[@]}" "$BIN/ikey" new -label "$l") || fail "ikey new $l"
		KEY[$l]=$s
	done
}

# small_disks SIZE DIR...: a tmpfs of SIZE (mode 0700) on each DIR (made),
# for a full disk on cue; the daemons are stopped before they are
# unmounted at exit. No mount permitted: SKIP.
_small_disks=()
small_disks() {
	local size=$1 d
	shift
	for d in "$@"; do
		mkdir -p "$d"
		if ! mount -t tmpfs -o "size=$size,mode=0700" tmpfs "$d" 2>/dev/null; then
			for m in "${_small_disks[@]}"; do umount "$m"; done
			[ ${#_small_disks[@]} -eq 0 ] && skip "cannot mount a tmpfs (mount not permitted)"
			fail "cannot mount a second tmpfs on $d"
		fi
		_small_disks+=("$d")
	done
	trap 'set +e; for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait_gone 10 "$p"; done
		for m in "${_small_disks[@]}"; do umount "$m" || umount -l "$m"; done; _cleanup' EXIT
}

# auditor_keys POLICY_FILE: keys so, dom and au, and a headless PED policy
# that writes and presents them (the HSM SO, the domain, the Auditor).
auditor_keys() {
	new_keys so dom au
	cat >"$1" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
write "SETTING AU" ${KEY[au]}
use "AU LOGIN" ${KEY[au]}
P
}

start_hsm() {
	"${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -pidfile "$T/hsm.pid" \
		-logfile "$T/hsm.log" "$@" &
	track $!
	HSM_PID=$!
	wait_for 20 test -S "$T/ped-$BACKUP_SERIAL.sock" || { cat "$T/hsm.log" >&2; fail "hsm-sim did not start"; }
}

# start_ped NAME HSM_SERIAL POLICY_FILE [more options]: a headless PED on that HSM's local link.
# POLICY_FILE "-": no answerer; nobody presents a key until the test says so
# (ped-device -send), and every ceremony waits on it meanwhile.
start_ped() {
	local name=$1 serial=$2 policy=$3
	shift 3
	local answerer=(-policy "$policy")
	[ "$policy" != - ] || answerer=()
	"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$T/ped-$serial.sock" "${answerer[@]}" \
		-control "$T/$name.ctl" -events "$T/$name.events" -keytimeout 20 "$@" \
		>"$T/$name.log" 2>&1 &
	track $!
	eval "PED_${name}_PID=$!"
	wait_for 20 grep -q '"event":"attached"' "$T/$name.events" || { cat "$T/$name.log" >&2; fail "PED $name did not attach"; }
}

# play_script NAME SCRIPT [more options]: a headless PED on the HSM's local
# link that plays SCRIPT (ped-device -script), its log in $T/NAME.log; SPID
# is its pid, for `wait "$SPID"` once the script should have run through.
play_script() {
	local name=$1 script=$2
	shift 2
	"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$T/ped-$HSM_SERIAL.sock" -script "$script" \
		-control "$T/$name.ctl" -events "$T/$name.events" "$@" >"$T/$name.log" 2>&1 &
	SPID=$!
	track $SPID
	wait_for 20 grep -q '"event":"attached"' "$T/$name.events" || fail "scripted PED $name did not attach"
}

# stop_ped NAME...: the headless PEDs of those names stop. A PED whose HSM
# went away retries its link, as one cabled to a rebooting HSM does: a
# suite that restarts hsm-sim with new PEDs stops the old ones first, or
# an old PED (another policy) may take the link before the new one.
stop_ped() {
	local name pid
	for name in "$@"; do
		eval "pid=\${PED_${name}_PID:-}"
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone 20 "$pid" || fail "PED $name did not stop"
	done
}

# Everything hsmcm printed, as the operator read it: a PED policy's
# "password $TRANSCRIPT" and "identity $TRANSCRIPT" take the one-time
# password and the HSM's identity from it ($OPERATOR holds both lines).
TRANSCRIPT="$T/hsmcm.transcript"
: >"$TRANSCRIPT"
OPERATOR="password $TRANSCRIPT
identity $TRANSCRIPT"

# hsmcm ARGS...: runs hsmcm on our socket; output in $OUT (and appended to
# $TRANSCRIPT as it comes), status in $RC.
hsmcm() {
	set +e
	OUT=$(timeout 120 "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" "$@" 2>&1 | tee -a "$TRANSCRIPT"
	      exit "${PIPESTATUS[0]}")
	RC=$?
	set -e
}

# The one-time password hsmcm printed last.
last_password() { grep -o 'enter following password: [0-9]\{8\}' "$TRANSCRIPT" | tail -n 1 | awk '{print $4}'; }

# An hsmcm session that stays open, fed one line at a time (its output in
# $T/session.out): session_open; session_run LINE (waits for its Command
# Result); session_close (leaves the whole output in $OUT).
session_open() {
	mkfifo "$T/session.fifo"
	( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" <"$T/session.fifo" >"$T/session.out" 2>&1 ) &
	SESSION_PID=$!
	exec 7>"$T/session.fifo"
}
session_results() { grep -c '^Command Result' "$T/session.out" || true; }
session_run() {
	local want=$(($(session_results) + 1))
	echo "$1" >&7
	wait_for 30 eval '[ $(session_results) -ge '"$want"' ]' || fail "$1: $(cat "$T/session.out")"
}
session_close() {
	exec 7>&-
	wait "$SESSION_PID" || true
	OUT=$(cat "$T/session.out")
}

# The policy of a PED that writes and uses one key per role: the SO, the HSM's
# and the partition's domains, the Partition SO and the Crypto Officer (after
# `new_keys so hdom po pdom co`).
all_roles_policy() {
	cat <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
}
