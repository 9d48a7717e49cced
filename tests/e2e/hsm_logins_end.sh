#!/bin/bash
# Regression: logins were flags per session and HSM, never cleared in other
# sessions. An operator logged in as HSM SO kept that login after another
# session zeroized the HSM and initialized it again with a new SO keyset, and
# could create partitions on it without the new blue key. Now wiping or
# replacing credentials ends every other session's logins to that HSM.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom so2 dom2
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]} ${KEY[so2]}
write "SETTING DOMAIN" ${KEY[dom]} ${KEY[dom2]}
use "SO LOGIN" ${KEY[so]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label first"
[ $RC -eq 0 ] || fail "hsm init: $OUT"

# Session A, fed line by line, logs in as the SO and stays open.
mkfifo "$T/fifo"
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" <"$T/fifo" >"$T/a.out" 2>&1 ) &
APID=$!
exec 7>"$T/fifo"
results() { grep -c '^Command Result' "$T/a.out" || true; }
echo "role login -name so" >&7
wait_for 30 eval '[ $(results) -ge 1 ]' || fail "SO login: $(cat "$T/a.out")"
expect_contains "$(cat "$T/a.out")" "Command Result : No Error"

note "session B zeroizes the HSM and initializes it with a new SO keyset"
hsmcm -c "hsm zeroize; hsm init -label second"
[ $RC -eq 0 ] || fail "zeroize and init: $OUT"

note "session A's SO login ended with the keyset it was made with"
echo "partition create -label stolen" >&7
wait_for 30 eval '[ $(results) -ge 2 ]' || fail "partition create: $(cat "$T/a.out")"
exec 7>&-
wait $APID || true
OUT=$(cat "$T/a.out")
expect_contains "$OUT" "Error: log in as HSM SO first"
expect_contains "$OUT" "CKR_USER_NOT_LOGGED_IN"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "Partitions -> 0"
echo "logins end with their credentials ok"
