#!/bin/bash
# Issue 33, memory: what the daemons of a Remote PED session keep mapped
# idle. Each used to ask the system for the openped group by name whenever
# it made a socket, even in a private directory no group may enter: that
# loads the NSS modules of /etc/nsswitch.conf (libnss_systemd, with libm
# and libcap: about 0.7 MiB resident in each process, for its whole life).
# A private runtime directory, as here, needs no such lookup.
# And the PED's own heap once a session is keyed: with a malloc arena per
# thread, and the handshake's freed OpenSSL temporaries kept under the
# channel made after them, its anonymous resident memory idle after the
# sessions below was 965 KiB (1.3 MiB after make bench's logins); one arena
# and the freed pages returned after each handshake make it 705.
# And libssl, linked into hsm-sim, pedserver and pedclient for their TLS
# links: the loader read its symbol tables and bound its references in
# every process, about 250 KiB resident, though none of these speaks TLS.
# It is now loaded when a TLS context is first made (ped/libssl.h).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
if [ ${#RUN[@]} -gt 0 ]; then
	skip "the daemons run under valgrind, whose own mappings are what /proc shows"
fi
# With only the built-in "files" source a group lookup loads no module, and
# the NSS check below would pass on any code.
nss_modules=1
grep -Eq '^group:.*[[:space:]](systemd|sss|ldap|winbind|nis|db|compat|extrausers)' /etc/nsswitch.conf 2>/dev/null ||
	nss_modules=0

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
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; ped disconnect"
[ $RC -eq 0 ] || fail "remote RPV init: $OUT"
# a few sessions, as a PED's day has, and the last one left open and idle
c="ped connect -ip 127.0.0.1 -port $PORT_A -wait"
hsmcm -c "$c; ped disconnect; $c; ped disconnect; $c; ped disconnect; $c; ped disconnect; $c"
[ $RC -eq 0 ] || fail "five sessions: $OUT"

hsm_threads_at_most() { [ "$(ls "/proc/$HSM_PID/task" | wc -l)" -le "$1" ]; }
no_nss() {
	local name=$1 pid=$2 libs
	libs=$(awk '$6 ~ /libnss_/ { print $6 }' "/proc/$pid/maps" | sort -u | tr '\n' ' ')
	[ -z "$libs" ] || fail "$name (pid $pid) has NSS modules mapped with its runtime directory private: $libs"
	note "$name: no NSS module mapped"
}
no_libssl() {
	local name=$1 pid=$2
	! grep -q 'libssl' "/proc/$pid/maps" || fail "$name (pid $pid) has libssl mapped with no TLS configured"
	note "$name: libssl not mapped"
}
for d in "ped-device:$PED_A_PID" "pedserver:$(cat "$T/A-run/openped/pedserver.pid")" \
	"pedclient:$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")" "hsm-sim:$HSM_PID"; do
	no_libssl "${d%%:*}" "${d#*:}"
	if [ $nss_modules -eq 1 ]; then
		no_nss "${d%%:*}" "${d#*:}"
	fi
done
[ $nss_modules -eq 1 ] ||
	note "SKIP the NSS check: this system's group lookups load no NSS module (/etc/nsswitch.conf), so there is nothing to see"

# Anonymous and heap pages resident (thread stacks included): the PED's own
# working set, which no library sharing hides. glibc's allocator only: a
# sanitizer's allocator keeps its own shadow and quarantine.
if nm "$BIN/ped-device" 2>/dev/null | grep -q ' __[at]san_init'; then
	note "SKIP the PED's heap check: built with a sanitizer's allocator"
else
	anon=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = (NF < 6 || $6 == "[heap]") } /^Rss:/ && anon { n += $2 } END { print n + 0 }' 		"/proc/$PED_A_PID/smaps")
	note "ped-device: $anon KiB anonymous and heap resident, idle with a session keyed"
	[ "$anon" -le 840 ] || fail "an idle PED holds $anon KiB of anonymous memory resident after five handshakes (at most 840)"
	# pedclient made its 128 sessions' table at start-up, every page of it
	# written: 2.3 MiB of anonymous memory before any HSM asked
	pc=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
	anon=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = (NF < 6 || $6 == "[heap]") } /^Rss:/ && anon { n += $2 } END { print n + 0 }' \
		"/proc/$pc/smaps")
	note "pedclient: $anon KiB anonymous and heap resident, idle with a session open"
	[ "$anon" -le 1024 ] || fail "an idle pedclient holds $anon KiB of anonymous memory resident with one session (at most 1024)"
	# hsm-sim after a burst of shell sessions, each on its own thread: what
	# the threads freed stayed in their malloc arenas, about 1020 KiB in all;
	# with the freed pages given back when the last session ends, 820-840
	threads=$(ls "/proc/$HSM_PID/task" | wc -l)
	burst=()
	for i in $(seq 20); do
		"$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm showinfo; slot list" >/dev/null 2>&1 &
		burst+=($!)
	done
	for p in "${burst[@]}"; do wait "$p" || fail "a shell session of the burst failed"; done
	wait_for 10 hsm_threads_at_most "$threads" || fail "hsm-sim's session threads did not end"
	anon=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = (NF < 6 || $6 == "[heap]") } /^Rss:/ && anon { n += $2 } END { print n + 0 }' \
		"/proc/$HSM_PID/smaps")
	note "hsm-sim: $anon KiB anonymous and heap resident, idle after 20 concurrent shell sessions"
	[ "$anon" -le "${HSM_ANON_MAX:-920}" ] || fail "an idle hsm-sim holds $anon KiB of anonymous memory resident after a burst of sessions (at most ${HSM_ANON_MAX:-920})"
fi
echo "PASS"
