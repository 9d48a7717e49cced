#!/bin/bash
# The main job: a key ceremony rehearsed end to end over the Remote PED path,
# on loopback, with no hardware. hsm-sim hosts an HSM and a backup HSM;
# pedclient sits beside it; pedserver serves a headless PED whose "key
# holders" answer from a policy file; a second PED is cabled to the backup
# HSM. The PEDs' screens and the HSM shell's output are shown as they
# happen. Everything runs in a temp dir and is stopped and removed at exit.
# scripts/demo.sh [BUILD] [--tui]: with --tui (make demo-tui) the remote PED
# is the ncurses one in this terminal, for a person to press the keys; the
# HSM shell's steps run behind it and are printed when the PED is closed.
set -u
build=${1:-build}
tui=0
[ "${2:-}" = --tui ] && tui=1
top=$(cd "$(dirname "$0")/.." && pwd)
BIN="$top/$build/bin"
T=$(mktemp -d "${TMPDIR:-/tmp}/ped-demo.XXXXXX")
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data" IKEY_STORE="$T/keys"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
pids=()
status=1

cleanup() {
	set +e
	"$BIN/pedclient" -mode stop -configfile "$T/pedclient.conf" >/dev/null 2>&1
	"$BIN/pedserver" -mode stop -configfile "$T/pedserver.conf" >/dev/null 2>&1
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
	if [ $status -eq 0 ]; then
		echo "== demo passed: every step returned 'No Error'; no process or file left behind"
	else
		echo "== demo FAILED (see the output above)"
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() { echo "demo: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }
wait_for() {
	local n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -gt 500 ] && return 1
		sleep 0.02
	done
}

for p in hsm-sim hsmcm pedserver pedclient ped-device ikey; do
	[ -x "$BIN/$p" ] || die "$BIN/$p is missing: build first (make)"
done

step "iKeys: blank keys in a simulated key store ($IKEY_STORE)"
declare -A K
for l in rpk so1 so2 so3 hsmdom dom po co po2 co2 bso bdom bpo bco; do
	K[$l]=$("$BIN/ikey" new -label "$l") || die "ikey new"
done
"$BIN/ikey" list | sed 's/^/   /'

step "Daemons: hsm-sim, pedserver and pedclient on loopback, ephemeral ports"
: >"$T/pedserver.conf"
: >"$T/pedclient.conf"
"$BIN/hsm-sim" -state "$T/state" -socket "$T/hsm.sock" -logfile "$T/hsm.log" &
pids+=($!)
wait_for test -S "$T/ped-496771.sock" || die "hsm-sim did not start"
"$BIN/pedserver" -mode start -port 0 -admin 0 -logfile "$T/pedserver.log" -configfile "$T/pedserver.conf" |
	sed 's/^/   /'
"$BIN/pedclient" -mode start -admin 0 -listenport -1 -logfilename "$T/pedclient.log" -configfile "$T/pedclient.conf" | sed 's/^/   /'
port=$("$BIN/pedserver" -mode show -configfile "$T/pedserver.conf" | awk '/Server Port:/{print $3}')
[ -n "$port" ] || die "pedserver is not serving"

# What the key holders at each PED do, as policy files (ped-device -policy).
# The one-time password and the HSM's identity come from the shell's output,
# as the operator reads them off the screen.
cat >"$T/remote.policy" <<P
password $T/step.out
identity $T/step.out
write rpv ${K[rpk]}
use rpv ${K[rpk]}
mofn "SETTING SO" 2 3
write "SETTING SO" ${K[so1]} ${K[so2]} ${K[so3]}
newpin "SETTING SO" 11112222 33334444 55556666
pin ${K[so1]} 11112222
pin ${K[so2]} 33334444
pin ${K[so3]} 55556666
use "SO LOGIN" ${K[so1]} ${K[so3]}
# domains: the HSM's own, the partition's, and the restore target reuses the partition's
reuse "SETTING DOMAIN" no no yes
write "SETTING DOMAIN" ${K[hsmdom]} ${K[dom]}
use "READING DOMAIN" ${K[dom]}
use "SETTING DOMAIN" ${K[dom]}
write "SETTING PO" ${K[po]} ${K[po2]}
use "PO LOGIN" ${K[po]} / ${K[po2]}
write "SETTING CO" ${K[co]} ${K[co2]}
use "CO LOGIN" ${K[co]} / ${K[co]} / ${K[co2]}
P
cat >"$T/backup.policy" <<P
write "SETTING SO" ${K[bso]}
use "SO LOGIN" ${K[bso]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${K[bdom]}
use "READING DOMAIN" ${K[dom]}
use "SETTING DOMAIN" ${K[dom]}
write "SETTING PO" ${K[bpo]}
use "PO LOGIN" ${K[bpo]}
write "SETTING CO" ${K[bco]}
use "CO LOGIN" ${K[bco]}
P
"$BIN/ped-device" -headless -hsm "$T/ped-496771.sock" -policy "$T/backup.policy" -events "$T/backup.events" \
	-control "$T/backup.ctl" >"$T/backup.log" 2>&1 &
pids+=($!)
wait_for grep -q '"event":"attached"' "$T/backup.events" || die "the backup HSM's PED did not attach"

run() {
	local title=$1 cmds=$2
	step "$title"
	printf '%s\n' "$cmds" >"$T/step.cmds"
	"$BIN/hsmcm" -socket "$T/hsm.sock" -f "$T/step.cmds" >"$T/step.out" 2>&1
	local rc=$?
	[ $tui -eq 1 ] || sleep 0.2 # let the screen printer catch up before the shell's output
	sed -e '/^$/d' -e 's/^/   /' "$T/step.out"
	[ $rc -eq 0 ] || die "step failed: $title"
}

ceremony() {
	run "Remote RPV initialization: a one-time password on the zeroized HSM, then the orange key" \
		"ped connect -ip 127.0.0.1 -port $port -password -wait
	ped vector init"
	run "HSM init over the session the HSM keyed with the new RPV: blue SO keyset 2 of 3 with PINs, red domain 1 of 1" \
		"hsm init -label demo-hsm"
	run "A new Remote PED session keyed with the orange key (the RPK stays in the PED)" \
		"ped disconnect
	ped connect -ip 127.0.0.1 -port $port
	ped get"
	run "Partition, its PO and CO, objects" \
		"role login -name so
	partition create -label payments
	slot set -slot 1
	partition init -label payments
	role login -name po
	role init -name co
	role login -name co
	object create -label master-key -value k1
	object create -label signing-key -value k2
	partition contents"
	run "The backup HSM (local PED) and a backup of the partition" \
		"slot set -slot 20
	hsm init -label demo-backup
	slot set -slot 1
	role login -name co
	partition archive backup -slot 20 -partition payments-bk
	partition archive list -slot 20"
	run "Restore into a second partition in the same cloning domain" \
		"slot set -slot 0
	role login -name so
	partition create -label restored
	slot set -slot 2
	partition init -label restored
	role login -name po
	role init -name co
	role login -name co
	partition archive restore -slot 20 -partition payments-bk
	partition contents"

	step "pedserver -mode show"
	"$BIN/pedserver" -mode show -configfile "$T/pedserver.conf" | sed -n '/Ped2 Connection/,/Client Software/p' | sed 's/^/   /'

	step "Summary"
	objs=$(grep -c "Object Label" "$T/step.out")
	echo "   HSM 154438865288 initialized remotely: RPV (orange 1 of 1), SO (blue 2 of 3, PINs), domain (red 1 of 1)"
	echo "   partition 'payments' with CO; $objs objects backed up to the backup HSM and restored to 'restored'"
	echo "   keys written: $("$BIN/ikey" list -json | grep -o '"blank":false' | wc -l) of ${#K[@]} (ikey list -json)"
	[ "$objs" -eq 2 ] || die "expected 2 restored objects, found $objs"
}

if [ $tui -eq 1 ]; then
	[ -t 0 ] && [ -t 1 ] || die "demo-tui needs a terminal"
	step "You are the key holders at the remote PED. It opens in Remote PED mode; answer its screens:"
	echo "   HSM identity          the PED shows the HSM's serial and HOC fingerprint: the line"
	echo "                         'HSM: ... identity' under the keys must match; Yes"
	echo "   one-time password     the line 'HSM: ... enter following password' under the keys"
	echo "   orange RPK            label rpk (${K[rpk]}); no PIN"
	echo "   blue SO, 2 of 3       M=2, N=3; keys so1 so2 so3 with PINs 11112222 33334444 55556666;"
	echo "                         log in with so1 and so3"
	echo "   red domain            reuse: No (HSM: hsmdom), No (payments: dom), Yes (restored: present dom)"
	echo "   blue PO, black CO     payments: po, co; restored: po2, co2; no PIN (Enter twice)"
	echo "   duplicates            No"
	echo "   keys: i picks a key to insert, r removes it; q quits once the shell below says it is done"
	printf '   Press Enter to start the PED... '
	read -r _
	(
		wait_for grep -q '"attached":true' "$T/remote.events" || exit 1
		ceremony >"$T/ceremony.log" 2>&1
		echo $? >"$T/ceremony.rc"
	) &
	pids+=($!)
	: >"$T/step.out"
	"$BIN/ped-device" -mode remote -events "$T/remote.events" -control "$T/remote.ctl" -notes "$T/step.out"
	[ -s "$T/ceremony.rc" ] || die "the PED was closed before the ceremony ended"
	cat "$T/ceremony.log"
	[ "$(cat "$T/ceremony.rc")" = 0 ] || die "the ceremony did not complete"
	status=0
	exit 0
fi

"$BIN/ped-device" -headless -mode remote -policy "$T/remote.policy" -events "$T/remote.events" \
	-control "$T/remote.ctl" >"$T/remote.log" 2>&1 &
pids+=($!)
wait_for grep -q '"attached":true' "$T/remote.events" || die "the remote PED did not attach to pedserver"
echo "   PED (remote) attached to pedserver; PED (backup) cabled to the backup HSM"

# Each PED screen, as it appears, one line per screen.
touch "$T/remote.events" "$T/backup.events"
python3 -u - "$T/remote.events" "$T/backup.events" <<'PY' &
import json, sys, time
files = [(open(p), "remote" if "remote" in p else "backup") for p in sys.argv[1:]]
last = {}
while True:
    idle = True
    for f, name in files:
        line = f.readline()
        if not line:
            continue
        idle = False
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") != "screen":
            continue
        parts = [l.strip() for l in e["text"].split("\n") if l.strip()]
        # digits being typed: show the prompt once, not every keystroke
        if parts and (set(parts[-1]) == {"*"} or (parts[-1].startswith(">") and len(parts[-1]) > 1)):
            continue
        text = " / ".join(parts)
        if text and last.get(name) != text:
            last[name] = text
            print("   [PED %-6s] %s" % (name, text), flush=True)
    if idle:
        time.sleep(0.05)
PY
pids+=($!)

ceremony || exit 1
status=0
