# Helpers for Remote PED tests: pedservers (each with its own runtime
# directory, so several can run at once), the pedclient beside hsm-sim, and
# headless PEDs in Remote PED mode. Source after ../lib.sh and hsm_lib.sh.
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

# pedserver_cmd NAME ARGS...: the pedserver CLI for instance NAME; output in
# $OUT, status in $RC.
pedserver_cmd() {
	local name=$1
	shift
	mkdir -p "$T/$name-run"
	[ -e "$T/$name.conf" ] || : >"$T/$name.conf"
	set +e
	# A file, not $(...): a daemon started under valgrind keeps valgrind's copy of stderr open.
	XDG_RUNTIME_DIR="$T/$name-run" timeout 60 "${RUN[@]}" "$BIN/pedserver" "$@" -configfile "$T/$name.conf" >"$T/cmd.out" 2>&1
	RC=$?
	OUT=$(cat "$T/cmd.out")
	set -e
}

# start_pedserver NAME [options]: on ephemeral ports; sets PORT_<NAME>.
start_pedserver() {
	local name=$1
	shift
	pedserver_cmd "$name" -mode start -port 0 -admin 0 -logfile "$T/$name.log" "$@"
	[ $RC -eq 0 ] || fail "pedserver $name did not start: $OUT"
	expect_contains "$OUT" "Background process started"
	track "$(cat "$T/$name-run/openped/pedserver.pid")"
	pedserver_cmd "$name" -mode show
	eval "PORT_$name=$(awk '/Server Port:/{print $3}' <<<"$OUT")"
}

ped_socket_of() { echo "$T/$1-run/openped/pedserver-ped.sock"; }

# pedclient_cmd ARGS...: the pedclient CLI beside hsm-sim; $OUT and $RC.
pedclient_cmd() {
	[ -e "$T/pedclient.conf" ] || : >"$T/pedclient.conf"
	set +e
	timeout 60 "${RUN[@]}" "$BIN/pedclient" -configfile "$T/pedclient.conf" "$@" >"$T/cmd.out" 2>&1
	RC=$?
	OUT=$(cat "$T/cmd.out")
	set -e
}

start_pedclient() {
	pedclient_cmd -mode start -admin 0 -listenip 127.0.0.1 -listenport 0 -logfilename "$T/pedclient.log" "$@"
	[ $RC -eq 0 ] || fail "pedclient did not start: $OUT"
	track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
}

# start_remote_ped NAME PEDSERVER POLICY [options]: a headless PED in Remote
# PED mode attached to pedserver instance PEDSERVER.
start_remote_ped() {
	local name=$1 server=$2 policy=$3
	shift 3
	"${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$(ped_socket_of "$server")" \
		-policy "$policy" -control "$T/$name.ctl" -events "$T/$name.events" -keytimeout 20 "$@" \
		>"$T/$name.ped.log" 2>&1 &
	track $!
	eval "PED_${name}_PID=$!"
	wait_for 20 grep -q '"attached":true' "$T/$name.events" || { cat "$T/$name.ped.log" >&2; fail "PED $name did not attach to pedserver $server"; }
	# the PED is attached once pedserver has read its greeting, not when the
	# PED has sent it: a client before that is told the PED is unplugged
	wait_for 20 shown "$server" "Ped2 Connection Status:   Connected" || fail "pedserver $server does not see PED $name: $OUT"
}

# start_scripted_ped NAME PEDSERVER SCRIPT: a headless PED in Remote PED
# mode that plays SCRIPT (its log in $T/NAME.log); sets PED_<NAME>_PID.
start_scripted_ped() {
	local name=$1 server=$2 script=$3
	"${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$(ped_socket_of "$server")" \
		-script "$script" -control "$T/$name.ctl" -events "$T/$name.events" >"$T/$name.log" 2>&1 &
	track $!
	eval "PED_${name}_PID=$!"
	wait_for 20 grep -q '"attached":true' "$T/$name.events" || { cat "$T/$name.log" >&2; fail "scripted PED $name did not attach to pedserver $server"; }
}

# shown NAME TEXT: pedserver NAME's -mode show contains TEXT.
shown() {
	pedserver_cmd "$1" -mode show
	grep -qF -- "$2" <<<"$OUT"
}

# An initialized HSM (label $1) whose PED wrote the orange key (RPV set), then
# went away: where each Remote PED test starts, after `new_keys so dom rpk`.
# Lines after the label go into the local PED's policy between the domain
# and the RPV.
init_hsm_with_rpv() {
	local label=$1
	shift
	start_hsm
	{
		echo "write \"SETTING SO\" ${KEY[so]}"
		echo "write \"SETTING DOMAIN\" ${KEY[dom]}"
		local line
		for line in "$@"; do echo "$line"; done
		echo "write rpv ${KEY[rpk]}"
	} >"$T/init.policy"
	start_ped L "$HSM_SERIAL" "$T/init.policy"
	hsmcm -c "hsm init -label $label; role login -name so; ped vector init"
	[ $RC -eq 0 ] || fail "setup: $OUT"
	kill -TERM "$PED_L_PID"
	wait_gone 10 "$PED_L_PID"
}
