#!/bin/bash
# make reliability: the fake HSM of tests/e2e/fake_hsm.sh (findings 1 and 2
# of docs/security.md, "Security issue, 2026-12: attacker findings") with
# the one-time password searched offline over the whole 10^8 space on every
# core, the operator's password drawn at random: downgrade with a stolen
# orange key (PED holding the RPK, and a fresh PED), hostile handshakes
# against the cached RPK, a session keyed with the password the operator
# types, and one keyed with the password found from the PED's tag.
# Ends with "result: fake_hsm_attacks=N attack_splits=N attack_csps=N
# attack_logins=N attack_written=N rpk_checks=N rpk_lost=N crack_s=N
# crack_range_s=N crack_range_cpu_s=N" (crack_s: until the password was
# found; crack_range_s and _cpu_s: the whole space at the rate measured, in
# seconds and CPU seconds); exit 0 only if the fake HSM got no
# split, CSP or login and the PED kept the HSM's RPK.
set -u
n=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
OPERATOR_OTP=$(printf '%08d' $((n % 100000000)))
export OPERATOR_OTP CRACK_HINT=0-99999999
echo "operator's one-time password: $OPERATOR_OTP (searched from 00000000 to 99999999)"
exec bash "$(dirname "$0")/../e2e/fake_hsm.sh"
