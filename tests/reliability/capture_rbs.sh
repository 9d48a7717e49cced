#!/bin/bash
# What a wire tap sees of both links of a backup to the Remote Backup
# Service (issue #30): the HSM host -> workstation link (hsm-sim -network)
# and the workstation -> RBS host link (rbs), captured with tcpdump across
# three network namespaces and searched for every challenge secret,
# command, label and object value that crossed them
# (tests/e2e/network_three_hosts.sh, which make check runs too). Ends with
# its "result: secrets_in_capture=N" line, added to capture_tls.sh's in
# make reliability's table; skipped where namespaces cannot be made.
exec bash "$(dirname "$0")/../e2e/network_three_hosts.sh"
