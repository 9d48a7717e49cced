#!/bin/bash
# What a wire tap sees of hsm-sim's network link (issue #30): the seed's
# backup session across two network namespaces over TLS, captured with
# tcpdump and searched for every challenge secret, command, label and
# result that crossed it (tests/e2e/network_two_hosts.sh, which make check
# runs too). Ends with its "result: secrets_in_capture=N" line; skipped
# where namespaces cannot be made.
exec bash "$(dirname "$0")/../e2e/network_two_hosts.sh"
