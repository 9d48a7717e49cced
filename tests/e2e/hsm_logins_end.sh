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
session_open
session_run "role login -name so"
expect_contains "$(cat "$T/session.out")" "Command Result : No Error"

note "session B zeroizes the HSM and initializes it with a new SO keyset"
hsmcm -c "hsm zeroize -force; hsm init -label second"
[ $RC -eq 0 ] || fail "zeroize and init: $OUT"

note "session A's SO login ended with the keyset it was made with"
session_run "partition create -label stolen"
session_close
expect_contains "$OUT" "Error: log in as HSM SO first"
expect_contains "$OUT" "CKR_USER_NOT_LOGGED_IN"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "Partitions -> 0"
echo "logins end with their credentials ok"
