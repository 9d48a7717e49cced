#!/bin/bash
# The settings every daemon shares (ped/settings.h) behave the same on
# pedserver and pedclient: "-mode config -set Setting value", as the
# reference's troubleshooting writes it, and "-set -option value" store
# each in the file, which keeps its comments; -show reads it back.
. "$(dirname "$0")/../lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

shared="AdminPort ExternalAdmin IdleTimeout SocketReadTimeout SocketWriteTimeout LogFileName LogInfo LogWarning
	LogError LogTrace MaxLogFileSize PingInterval PingTimeout PidFile"
declare -A lifecycle=([pedserver]="InternalShutdownTimeout BgProcessStartupTimeout BgProcessShutdownTimeout"
	[pedclient]="ShutdownTimeout PStartupTimeout PShutdownTimeout")
# a value that is not the default, and how -show prints it
value() {
	case $1 in
	LogFileName | PidFile) echo "$T/$1.x" ;;
	ExternalAdmin | LogTrace) echo 1 ;;
	LogInfo | LogWarning | LogError) echo 0 ;;
	*) echo 5 ;;
	esac
}
shown_as() { case $1 in LogFileName | PidFile) echo "$1 = \"$2\"" ;; *) echo "$1 = $2" ;; esac; }

for d in pedserver pedclient; do
	conf="$T/$d.conf"
	for s in $shared ${lifecycle[$d]}; do
		v=$(value "$s")
		echo '# the operator note, kept' >"$conf"
		expect_exit 0 "$BIN/$d" -mode config -set "$s" "$v" -configfile "$conf"
		grep -q "^# the operator note, kept" "$conf" || fail "$d -set $s: the comment was lost"
		expect_exit 0 "$BIN/$d" -mode config -show -configfile "$conf"
		expect_contains "$OUT" "$(shown_as "$s" "$v")"
	done
	note "$d: -set Setting value for every shared setting"
	# the option form, and both forms at once
	: >"$conf"
	expect_exit 0 "$BIN/$d" -mode config -set PingTimeout 9 -pinginterval 7 -configfile "$conf"
	expect_exit 0 "$BIN/$d" -mode config -show -configfile "$conf"
	expect_contains "$OUT" "PingInterval = 7"
	expect_contains "$OUT" "PingTimeout = 9"
	# a value out of range is refused and not stored
	set +e; OUT=$("$BIN/$d" -mode config -set PingInterval 0 -configfile "$conf" 2>&1); rc=$?; set -e
	[ $rc -ne 0 ] || fail "$d: PingInterval 0 accepted"
	grep -qi "pinginterval.*out of range" <<<"$OUT" || fail "$d: PingInterval 0 not refused by name: $OUT"
	grep -q "PingInterval = 7" "$conf" || fail "$d: a refused value changed the file"
	note "$d: -set -option value, and a value out of range refused"
done
echo "daemon settings ok"
