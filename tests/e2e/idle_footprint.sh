#!/bin/bash
# Issue 33, memory: what the daemons of a Remote PED session keep mapped
# idle. Each used to ask the system for the openped group by name whenever
# it made a socket, even in a private directory no group may enter: that
# loads the NSS modules of /etc/nsswitch.conf (libnss_systemd, with libm
# and libcap: about 0.7 MiB resident in each process, for its whole life).
# A private runtime directory, as here, needs no such lookup.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
if [ ${#RUN[@]} -gt 0 ]; then
	skip "the daemons run under valgrind, whose own mappings are what /proc shows"
fi
# With only the built-in "files" source a group lookup loads no module, and
# the check below would pass on any code.
grep -Eq '^group:.*[[:space:]](systemd|sss|ldap|winbind|nis|db|compat|extrausers)' /etc/nsswitch.conf 2>/dev/null ||
	skip "this system's group lookups load no NSS module (/etc/nsswitch.conf), so there is nothing to see"

new_keys rpk
start_hsm
start_pedserver A
start_pedclient
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
P
start_remote_ped A A "$T/A.policy"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; ped disconnect; ped connect -ip 127.0.0.1 -port $PORT_A -wait"
[ $RC -eq 0 ] || fail "remote RPV init and a session: $OUT"

no_nss() {
	local name=$1 pid=$2 libs
	libs=$(awk '$6 ~ /libnss_/ { print $6 }' "/proc/$pid/maps" | sort -u | tr '\n' ' ')
	[ -z "$libs" ] || fail "$name (pid $pid) has NSS modules mapped with its runtime directory private: $libs"
	note "$name: no NSS module mapped"
}
no_nss ped-device "$PED_A_PID"
no_nss pedserver "$(cat "$T/A-run/openped/pedserver.pid")"
no_nss pedclient "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
no_nss hsm-sim "$HSM_PID"
echo "PASS"
