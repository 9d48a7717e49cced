#!/bin/sh
# Installs the Debian packages the build and the tests need, and nothing when
# they are all present. Run as root (CI is); prints what it would need otherwise.
set -eu

# Build: compilers, pkg-config and the -dev packages of every library we link.
# libp11-kit-dev: the packaged PKCS#11 header libhsm's keys use (hsm-sim/include/hsm/ck.h).
# Tests: CUnit, tmux (ncurses UI), valgrind, iproute2 (namespaces), clang's
# sanitizer and libFuzzer runtimes, the openssl CLI (cross-checks of pedtool),
# umockdev (the USB PED test bed: library, headers and its preload), tcpdump
# (tests/reliability/capture.sh: a ceremony captured on loopback), strace
# (tests/e2e/daemon_abuse.sh: a daemon held back until its start times out),
# and the PKCS#11 clients the module's suites drive (tests/e2e/pkcs11_tool.sh,
# p11tool.sh, openssl_engine.sh): OpenSC's pkcs11-tool, GnuTLS's p11tool and
# OpenSSL's pkcs11 engine (libp11); make bench: SoftHSM2, the module the
# PKCS#11 rows are measured against (scripts/bench_p11.sh).
# Installation: systemd (systemd-analyze security and verify on the units,
# systemd-sysusers and systemd-tmpfiles in tests/e2e/installed.sh),
# util-linux (unshare, setpriv: the installed services as their own user
# in namespaces), dpkg-dev, debhelper, fakeroot and lintian (the Debian
# package, make deb and tests/shell/deb.sh).
PACKAGES="build-essential clang libclang-rt-14-dev pkg-config
libssl-dev openssl libp11-kit-dev libusb-1.0-0-dev libncurses-dev libconfig-dev libcunit1-dev
tmux valgrind iproute2 procps python3 groff-base man-db libumockdev-dev umockdev tcpdump strace
opensc gnutls-bin libengine-pkcs11-openssl softhsm2
systemd util-linux dpkg-dev debhelper fakeroot lintian"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

echo "install-deps: missing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
