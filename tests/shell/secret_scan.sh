#!/bin/bash
# Buffers that held secrets are cleansed before they are freed: the scan tool
# hooks OpenSSL's allocator, runs handshakes of every scheme with a CSP,
# Shamir with PINs and key wrap, and searches every freed block.
. "$(dirname "$0")/../lib.sh"
# Never under valgrind: the tool reads freed memory on purpose, which is
# exactly what valgrind reports.
"$TOOLS/secret_scan" || fail "secrets found in freed memory (or the scan could not run)"
