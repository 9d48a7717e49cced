#!/bin/bash
# The PED on USB with no hardware and no root: a umockdev test bed presents
# the PED's USB device and forwards its bulk endpoints to a headless PED;
# pedserver runs under umockdev's preload and finds the PED through libusb.
# A full Remote PED login over USB, short reads, a stalled endpoint in each
# direction, an unplug (Disconnected, the HSM side gets an error) and a
# re-plug (served again without restarting pedserver).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

TESTBED="$PED_BUILD/tests/usb_testbed"
[ -x "$TESTBED" ] || skip "no USB test bed: umockdev's library (libumockdev-dev) was missing at build time"
PRELOAD=libumockdev-preload.so.0
ldconfig -p | grep -q "$PRELOAD" || skip "umockdev's preload library $PRELOAD is not installed"
# Under ThreadSanitizer (make check-tsan) umockdev's preload loses its ioctl
# socket to the test bed right after the PED's first transfer (its stderr:
# "Error communicating with ioctl socket, received EOF") and aborts
# pedserver, whichever of the two preloads comes first; pedserver's USB
# transport runs in its event loop's thread alone.
if nm "$BIN/pedserver" 2>/dev/null | grep -q ' __tsan_init'; then
	skip "a ThreadSanitizer build: umockdev's preload drops the test bed's ioctl socket under it"
fi
# Under AddressSanitizer the preload comes before ASan's runtime; that is
# how umockdev works, not a link error.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# The sanitizers create log_path's directories at start-up with mkdir, which
# the preload wraps before it has found libc's (a crash in _dl_init). A bare
# file name needs no mkdir: the reports go to the same directory, from there.
bare_log_path() { # VAR: log_path=DIR/NAME becomes log_path=NAME, and we cd to DIR
	local v=${!1:-} p
	p=$(sed -n 's/.*log_path=\([^:]*\).*/\1/p' <<<"$v")
	case $p in */*) cd "${p%/*}"; export "$1=${v/log_path=$p/log_path=${p##*/}}" ;; esac
}
bare_log_path ASAN_OPTIONS
bare_log_path UBSAN_OPTIONS

# usb COMMAND: the test bed's control socket; the reply in $USB
usb() {
	USB=$(python3 - "$T/usb.ctl" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(512).decode().strip())
PY
)
}
stat_of() { usb stats; sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$USB"; }
# on failure, what pedserver and the test bed saw
_usb_fail() { usb stats; echo "--- test bed stats: $USB"; echo "--- pedserver log"; tail -n 40 "$T/U.log" 2>/dev/null; echo "--- test bed"; cat "$T/testbed.log" 2>/dev/null; echo "--- PED"; tail -n 15 "$T/U.ped.log" 2>/dev/null; tail -n 8 "$T/U.events" 2>/dev/null; }
fail() { _usb_fail >&2; echo "FAIL: $*" >&2; exit 1; }

new_keys rpk so dom
start_hsm

note "the test bed, under umockdev's preload as umockdev-wrapper runs its tests"
LD_PRELOAD=$PRELOAD "$TESTBED" -ped "$T/usb-ped.sock" -control "$T/usb.ctl" -env "$T/usb.env" >"$T/testbed.log" 2>&1 &
track $!
TB_PID=$!
wait_for 20 test -s "$T/usb.env" || { cat "$T/testbed.log" >&2; fail "the test bed did not start"; }
UMOCKDEV_DIR=$(sed -n 's/^UMOCKDEV_DIR=//p' "$T/usb.env")
[ -d "$UMOCKDEV_DIR" ] || fail "no test bed directory: $UMOCKDEV_DIR"

LD_PRELOAD=$PRELOAD UMOCKDEV_DIR=$UMOCKDEV_DIR start_pedserver U -pinginterval 1 -pingtimeout 3 -pedwritelay 50 -logtrace 1
start_pedclient -pinginterval 1 -pingtimeout 3
cat >"$T/U.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
write so ${KEY[so]}
write domain ${KEY[dom]}
P
"${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$T/usb-ped.sock" -policy "$T/U.policy" \
	-control "$T/U.ctl" -events "$T/U.events" -keytimeout 20 >"$T/U.ped.log" 2>&1 &
track $!

note "pedserver -mode show: the USB PED's firmware version, Connected"
wait_for 20 shown U "Ped2 Connection Status:   Connected" || fail "pedserver does not see the USB PED: $OUT"
expect_contains "$OUT" "Ped2 Attached On:         USB bus 1 device 2 (1209:0001)"
expect_contains "$OUT" "Firmware Version:        0.1.0"
grep -q "USB PED bus 1 device 2 (1209:0001): interface 0, bulk IN 0x81, bulk OUT 0x01" "$T/U.log" ||
	fail "pedserver did not log the USB PED's endpoints"

note "a full Remote PED ceremony over USB: RPV with a one-time password, HSM init, SO login"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_U -password; ped vector init; hsm init -label usb; ped disconnect"
[ $RC -eq 0 ] || fail "remote RPV and HSM init over USB: $OUT"
expect_contains "$OUT" "Successfully initialized the HSM."
login() {
	hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_U; role login -name so; role logout; ped disconnect"
	[ $RC -eq 0 ] || fail "$1: $OUT"
	wait_for 10 shown U "Client Information:         Not Available" || fail "session still shown after $1: $OUT"
}
login "SO login over USB"
[ "$(stat_of in)" -gt 3 ] && [ "$(stat_of out)" -gt 3 ] || fail "little went over the bulk endpoints: $USB"
expect_eq "$(stat_of zlp_missing)" 0 "OUT transfers ending on a packet boundary without a zero-length packet"

note "short reads: the PED's frames arrive in 7-byte transfers"
usb "short on"
login "login with short reads"
usb "short off"

note "a stalled bulk OUT endpoint: the halt is cleared and the frame sent again"
usb stall-out
login "login across an OUT stall"
grep -q "bulk OUT endpoint stalled: clearing the halt" "$T/U.log" || fail "the OUT stall was not reported"
note "a stalled bulk IN endpoint: the halt is cleared and reading goes on"
usb stall-in
login "login across an IN stall"
grep -q "bulk IN endpoint stalled: clearing the halt" "$T/U.log" || fail "the IN stall was not reported"
[ "$(stat_of clear_halt)" -ge 2 ] || fail "halts not cleared through usbfs: $USB"

note "unplugged: Disconnected, and the HSM side gets an error"
usb unplug
wait_for 10 shown U "Ped2 Connection Status:   Disconnected" || fail "still connected after the unplug: $OUT"
expect_contains "$OUT" "Firmware Version:        Not Available"
grep -q "USB PED bus 1 device 2 (1209:0001): unplugged" "$T/U.log" || fail "the unplug was not logged"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_U"
[ $RC -ne 0 ] || fail "ped connect succeeded with the PED unplugged: $OUT"
alive "$(cat "$T/U-run/openped/pedserver.pid")" || fail "pedserver died with the unplug"

note "plugged in again: the same pedserver serves it"
usb plug
wait_for 20 shown U "Ped2 Connection Status:   Connected" || fail "the re-plugged PED is not seen: $OUT"
expect_contains "$OUT" "Firmware Version:        0.1.0"
login "login after the re-plug"

note "re-plugged while another program holds it: retried until it can be claimed"
usb unplug
wait_for 10 shown U "Ped2 Connection Status:   Disconnected" || fail "still connected after the unplug: $OUT"
usb "busy 2"
usb plug
wait_for 20 shown U "Ped2 Connection Status:   Connected" || fail "a PED that was busy at the plug is never served: $OUT"
grep -q "cannot claim interface 0: Resource busy (retrying every" "$T/U.log" || fail "the busy claim was not reported"
[ "$(grep -c "ERROR.*cannot claim interface 0: Resource busy" "$T/U.log")" -eq 1 ] || fail "the retries were logged as errors each time"
login "login after a busy re-plug"

note "unplugged mid-session: the session ends with an error, pedserver stays up"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_U"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
usb unplug
wait_for 10 shown U "Ped2 Connection Status:   Disconnected" || fail "still connected: $OUT"
wait_for 10 shown U "Client Information:         Not Available" || fail "the session outlived the PED: $OUT"
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "a login went through with the PED unplugged: $OUT"
usb plug
wait_for 20 shown U "Ped2 Connection Status:   Connected" || fail "the re-plugged PED is not seen: $OUT"
hsmcm -c "ped disconnect"
login "login after the second re-plug"

note "pedserver stops cleanly with the USB PED open"
pedserver_cmd U -mode stop
[ $RC -eq 0 ] || fail "stop: $OUT"
grep -q "stopped" "$T/U.log" || fail "pedserver did not log its stop"
[ "$(stat_of releases)" -ge 1 ] || fail "the interface was not released: $USB"
kill -0 "$TB_PID" || fail "the test bed died"
echo "PASS"
