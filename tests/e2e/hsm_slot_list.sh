#!/bin/bash
# slot list as chapter 13 and the 001 transcript show it: each HSM's
# application partitions, then its admin partition, then the next HSM, then
# the backup HSMs (one slot each); every slot with its own label and serial
# number, its model, firmware version, configuration, description and
# status. hsmcm starts, as lunacm does, by listing the available HSMs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom
start_hsm
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role login -name so; partition create -label p1; partition create -label p2"
[ $RC -eq 0 ] || fail "setup: $OUT"

hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "slot list: $OUT"
order=$(awk '/Slot Id ->/{printf "%s ", $NF}' <<<"$OUT")
expect_eq "$order" "1 2 0 20 " "slot order (application partitions, admin, backup HSM)"
# the first slot's block, line by line
block=$(awk '/Slot Id ->/{n++} n==1' <<<"$OUT")
for l in "Label ->                p1" "Serial Number ->        154438865289" "Model ->                OpenPED HSM simulator" \
	"Firmware Version ->" "Configuration ->        OpenPED User Partition With SO (PED) Signing With Cloning Mode" \
	"Slot Description ->     User Token Slot" "HSM Status ->"; do
	expect_contains "$block" "$l" "slot 1"
done
block=$(awk '/Slot Id ->/{n++} n==2' <<<"$OUT")
expect_contains "$block" "Serial Number ->        154438865290" "slot 2 (its own serial)"
block=$(awk '/Slot Id ->/{n++} n==3' <<<"$OUT")
expect_contains "$block" "Label ->                main" "the admin slot"
expect_contains "$block" "Serial Number ->        $HSM_SERIAL" "the admin slot"
expect_contains "$block" "HSM Status ->           OK" "the admin slot"
block=$(awk '/Slot Id ->/{n++} n==4' <<<"$OUT")
expect_contains "$block" "Serial Number ->        $BACKUP_SERIAL" "the backup HSM"
expect_contains "$block" "Configuration ->        Remote Backup HSM (PED) Backup Device" "the backup HSM"
expect_contains "$block" "HSM Status ->           Zeroized" "the backup HSM"
expect_contains "$OUT" "Current Slot Id: 0"

note "hsmcm starts with the available HSMs, as lunacm does"
session_open
session_run "slot set slot 1"
session_close
expect_contains "$OUT" "Available HSMs:"
expect_contains "$OUT" "Slot Id ->              20"
expect_contains "$OUT" "Current Slot Id: 1     (OpenPED User Slot"
expect_eq "$(grep -c '^Command Result' <<<"$OUT")" 1 "result lines (the listing at start has none)"
echo "slot list ok"
