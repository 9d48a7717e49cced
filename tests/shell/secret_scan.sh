#!/bin/bash
# Buffers that held secrets are cleansed before they are freed: the scan tool
# hooks OpenSSL's allocator, runs handshakes of every scheme with a CSP,
# Shamir with PINs and key wrap, and searches every freed block.
. "$(dirname "$0")/../lib.sh"
"${RUN[@]}" "$TOOLS/secret_scan" || fail "secrets found in freed memory (or the scan could not run)"
