# Helpers for the PKCS#11 suites: hsm-sim with an initialized HSM and a
# partition "p1" with its Crypto Officer, a headless PED that answers every
# login (local, then Remote through pedclient and pedserver), and the module
# configured for that hsm-sim. Source after ../lib.sh; sources hsm_lib.sh
# and remote_lib.sh.
#
#   p11_start            hsm-sim, or skip when it does not serve the
#                        application protocol (it closes on APP_HELLO)
#   p11_init_hsm         the HSM, its RPV (orange key), partition p1 and its CO,
#                        through hsmcm and the local PED "L"
#   p11_go_remote        the local PED stops; a Remote PED "R" through
#                        pedserver A and pedclient serves the HSM from now on
#   client CMD...        runs a client (pkcs11-tool, p11tool, openssl) with
#                        the module's configuration, under the sanitizer
#                        runtime or valgrind when the build asks for it
#   ped_logins NAME      how many CO logins PED NAME has served
. "$(dirname "${BASH_SOURCE[0]}")/hsm_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/remote_lib.sh"

MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
TOKEN=p1
export OPENPED_PKCS11_CONF="$T/openped-pkcs11.conf"
export OPENPED_PKCS11_LOG="$T/pkcs11.log"
cat >"$OPENPED_PKCS11_CONF" <<C
# the module's configuration for this suite: hsm-sim's socket, and PED
# timeouts short enough that a lost PED fails the suite, not its timeout
Module = {
  Socket = "$HSM_SOCK";
  PEDTimeout1 = 20000;
  PEDTimeout2 = 40000;
  PEDTimeout3 = 10000;
};
C

[ -f "$MODULE" ] || fail "$MODULE is missing: run make"

# The clients are other people's programs: an ASan module runs in them
# with the sanitizer's runtime preloaded (so_client, ../lib.sh); under
# valgrind the module's memory errors fail the suite, the clients' leaks
# are theirs.
CLIENT_RUN=()
if [ "${PED_VALGRIND:-0}" = 1 ]; then
	CLIENT_RUN=(valgrind -q --error-exitcode=99 --leak-check=no --log-file="$T/valgrind.%p.log"
		--suppressions="$(dirname "${BASH_SOURCE[0]}")/pkcs11.supp")
fi
client() { so_client "$MODULE" "${CLIENT_RUN[@]}" "$@"; }

p11_start() {
	new_keys so hdom po pdom co rpk
	start_hsm
	local probe
	probe=$("$TOOLS/p11_hello" "$HSM_SOCK") && return 0
	[ $? -eq 3 ] && skip "hsm-sim does not serve the application protocol yet"
	fail "hsm-sim's application protocol: $probe"
}

p11_init_hsm() {
	cat >"$T/L.policy" <<P
write "SETTING SO" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
write rpv ${KEY[rpk]}
write "SETTING PO" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "SO LOGIN" ${KEY[so]}
use "PO LOGIN" ${KEY[po]}
use "CO LOGIN" ${KEY[co]}
P
	start_ped L $HSM_SERIAL "$T/L.policy"
	hsmcm -c "hsm init -label p11; role login -name so; ped vector init; partition create -label $TOKEN; slot set -slot 1; partition init -label $TOKEN; role login -name po; role init -name co"
	[ $RC -eq 0 ] || fail "initializing the HSM and partition $TOKEN: $OUT"
}

p11_go_remote() {
	kill -TERM "$PED_L_PID"
	wait_gone 10 "$PED_L_PID"
	start_pedserver A
	start_pedclient
	echo "use rpv ${KEY[rpk]}" >"$T/R.policy"
	start_remote_ped R A "$T/R.policy"
	hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
	[ $RC -eq 0 ] || fail "ped connect: $OUT"
	# keyed with the orange key at the first command that needs the PED (chapter 5)
	wait_for 30 grep -q '"event":"session"' "$T/R.events" || fail "pedserver opened no session: $(cat "$T/R.ped.log")"
}

ped_logins() {
	local f="$T/$1.events"
	[ -f "$f" ] || { echo 0; return; }
	grep -c '"title":"CO LOGIN' "$f" || true
}

# p11_pubkey LABEL PEM: the public key LABEL of the token as PEM, read by
# p11tool (pkcs11-tool 0.23's --read-object of an EC key frees memory it
# then reads: an ASan build of the module would report it as ours).
p11_pubkey() {
	client p11tool --provider "$MODULE" --batch --export-pubkey "pkcs11:token=$TOKEN;object=$1;type=public" \
		>"$2" 2>"$T/export.err" || fail "exporting the public key $1: $(cat "$T/export.err")"
}

# p11_verify PEM DATA SIG: a SHA-256 signature (DER, as openssl writes it)
# checked by openssl with the public key alone, outside the module.
p11_verify() {
	openssl dgst -sha256 -verify "$1" -signature "$3" "$2" >"$T/verify.out" 2>&1 ||
		fail "openssl does not verify the signature: $(cat "$T/verify.out")"
}
