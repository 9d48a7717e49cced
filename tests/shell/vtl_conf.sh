#!/bin/bash
# vtl keeps this workstation's certificate beside the PKCS#11 module's
# configuration, by default the installed one (SYSCONFDIR, root's). A user
# who ran vtl createCert as the operator guide shows it (section 15) got
# "cannot make .../cert/client: RC_FILE_ERROR: file error", neither why
# nor what to do. vtl now says the file is not theirs to change and names
# -conf FILE and OPENPED_PKCS11_CONF; with -conf it works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/user_lib.sh"
set -e

# a configuration folder the user may not write in, as SYSCONFDIR/openped
mkdir -m 555 "$T/etc"
if [ "$(id -u)" = 0 ]; then
	other_user # root writes anywhere: the user is another one
	run_user() { as_other "$@"; }
	mkdir -m 700 "$T/home" && chown "$OTHER_UID:$OTHER_GID" "$T/home"
else
	run_user() { "$@"; }
	mkdir -m 700 "$T/home"
fi

note "createCert with a configuration the user may not change"
rc=0
OUT=$(run_user env -u OPENPED_PKCS11_CONF "$BIN/vtl" createCert -n ws1 -conf "$T/etc/openped-pkcs11.conf" 2>&1) || rc=$?
[ $rc = 1 ] || fail "createCert exited $rc: $OUT"
expect_contains "$OUT" "vtl: cannot make $T/etc/cert/client: Permission denied"
expect_contains "$OUT" "name one of your own with -conf FILE or OPENPED_PKCS11_CONF"
[ ! -e "$T/etc/cert" ] || fail "vtl made something in the folder it may not write in"

note "with a configuration of the user's own"
OUT=$(run_user env OPENPED_PKCS11_CONF="$T/home/openped-pkcs11.conf" "$BIN/vtl" createCert -n ws1 2>&1) ||
	fail "createCert with OPENPED_PKCS11_CONF: $OUT"
expect_contains "$OUT" "Certificate created and written to: $T/home/cert/client/ws1.pem"
grep -q "ClientCertFile = \"$T/home/cert/client/ws1.pem\"" "$T/home/openped-pkcs11.conf" ||
	fail "the certificate is not recorded: $(cat "$T/home/openped-pkcs11.conf")"
echo "vtl configuration ok"
