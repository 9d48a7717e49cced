#!/bin/bash
# PKCS#11 2.40's rules for what an application written to the standard
# relies on, checked by tests/tools/p11_conform.c through
# libopenped-pkcs11.so against hsm-sim, its logins on a headless PED:
# C_Initialize's arguments, blank-padded strings, the two-call convention
# (lists, operations, C_WrapKey, C_GetAttributeValue), operation states,
# template rules, session states, a forked child, and the login's end with
# the application's last session on the token, after which a login goes
# to the PED again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e

p11_start
p11_init_hsm
before=$(ped_logins L)
note "p11_conform: every rule, three rounds of operations"
# our own tool: built like the module (its sanitizer runtime, or under valgrind)
"${RUN[@]}" "$TOOLS/p11_conform" "$MODULE" "$TOKEN" >"$T/conform.out" 2>&1 || fail "$(cat "$T/conform.out")"
grep -q '^conformance: [0-9]* checks, 0 failed$' "$T/conform.out" || fail "$(cat "$T/conform.out")"
# the first login, and the one after every session was closed
[ $(($(ped_logins L) - before)) -eq 2 ] || fail "the PED served $(($(ped_logins L) - before)) logins, not 2"
echo "pkcs11 conformance ok: $(tail -n 1 "$T/conform.out")"
