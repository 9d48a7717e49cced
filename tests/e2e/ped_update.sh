#!/bin/bash
# Admin mode's Software Update as chapter 5 has it: "Upload Image? YES/NO",
# "Uploading image", the power-failure warning and "Save Image? YES/NO",
# "Success", and the new version shown afterwards (the mode menu, Self Test,
# pedserver). Nothing is written before Yes to Save: a refused image, No, or
# a PED killed while uploading or at the Save question keeps the old image
# across a restart. (It verified a signature and showed "Success" without
# saving anything or changing the version.)
. "$(dirname "$0")/../lib.sh"
set -e
command -v openssl >/dev/null || skip "openssl is not installed (make deps installs it)"
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data" IKEY_STORE="$T/keys"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
chmod 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
"$BIN/ikey" new -label spare >/dev/null

old=$("$BIN/ped-device" -version | sed 's/.*PED V\.\([^)]*\)).*/\1/')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$T/update.key" 2>/dev/null
openssl pkey -in "$T/update.key" -pubout -out "$T/update.pub" 2>/dev/null
# image VERSION FILE: a signed image
image() {
	{ echo "OPENPED-PED-IMAGE $1"; head -c 200000 /dev/urandom | base64; } >"$2"
	openssl dgst -sha512 -sign "$T/update.key" -out "$2.sig" "$2"
}
image 0.2.0 "$T/good.img"
image 0.3.0 "$T/bad.img"
echo tampered >>"$T/bad.img"
conf() { printf 'update_key = "%s";\nupdate_file = "%s";\n' "$T/update.pub" "$1" >"$T/ped.conf"; }

PED_PID=
start() {
	"${RUN[@]}" "$BIN/ped-device" -headless -mode admin -configfile "$T/ped.conf" -control "$T/ped.ctl" \
		-events "$T/ped.events" -pedserver "$T/no-pedserver.sock" >>"$T/ped.log" 2>&1 &
	PED_PID=$!
	track $PED_PID
	shows "Admin mode..."
}
send() { "$BIN/ped-device" -control "$T/ped.ctl" -send "$*" >/dev/null; }
screen() { "$BIN/ped-device" -control "$T/ped.ctl" -dump-screen 2>/dev/null | tr '\n' ' '; }
shows() {
	WANT=$1
	wait_for 20 eval 'screen | grep -qF -- "$WANT"' || fail "the PED never showed '$1': $(screen)"
}
# version_shown V: the mode menu's last line, and Self Test's, say PED V.V
version_shown() {
	send press "<"
	shows "Select Mode"
	shows "PED V.$1"
	send press 4
	shows "Admin mode..."
	send press 9
	for k in 1 2 3 4 5 6 7 8 9 0 yes no enter clear "<" ">"; do
		shows "Press $k"
		send press "$k"
	done
	shows "All segments lit?"
	send press yes
	shows "Test key reading?"
	send press no
	shows "PED V.$1 Press ENTER."
	send press enter
	shows "Admin mode..."
}
kill_ped() { kill -KILL "$PED_PID"; wait "$PED_PID" 2>/dev/null || true; }
saved() { test -e "$XDG_DATA_HOME/openped/ped-firmware.img"; }

note "a refused image (bad signature): Failure (VERIFY), the old version stays"
conf "$T/bad.img"
start
send press 7
shows "Software update Upload Image? YES/NO"
send press yes
shows "Software update Failure (VERIFY) Bad signature. Press ENTER"
send press enter
! saved || fail "a refused image was saved"
version_shown "$old"
kill_ped

note "killed while uploading: the old image at the next power-on"
conf "$T/good.img"
: >"$T/ped.events"
start
send press 7
shows "Upload Image? YES/NO"
send press yes
wait_for 20 grep -q '"stage":"upload"' "$T/ped.events" || fail "no upload: $(screen)"
kill_ped
! saved || fail "an image was saved before Save Image? YES"
start
version_shown "$old"
kill_ped

note "killed at the power-failure warning (Save Image? YES/NO): the old image"
start
send press 7
shows "Upload Image? YES/NO"
send press yes
shows "Software update ** WARNING ** A power failure during save is unsupported! Save Image? YES/NO"
grep -q '"text":"Software update\\nUploading image' "$T/ped.events" || fail "no 'Uploading image' screen"
kill_ped
! saved || fail "an image was saved before Save Image? YES"
start
version_shown "$old"

note "No to Save Image: the old image"
send press 7
shows "Upload Image? YES/NO"
send press yes
shows "Save Image? YES/NO"
send press no
shows "Admin mode..."
! saved || fail "an image was saved after No"
version_shown "$old"

note "Yes: Success, the PED boots the new image, and shows its version from then on"
send press 7
shows "Upload Image? YES/NO"
send press yes
shows "Save Image? YES/NO"
send press yes
shows "Software update Success Press ENTER"
saved || fail "no image saved after Success"
send press enter
shows "Local PED mode"
grep -q '"text":"BOOT V.[^"]*\\nloading PED...' "$T/ped.events" || fail "no boot screen after the update"
version_shown 0.2.0
kill_ped
start
version_shown 0.2.0
echo "ped update ok"
