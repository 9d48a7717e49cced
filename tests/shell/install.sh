#!/bin/bash
# make install into a DESTDIR, the installed programs run from there, an
# edited configuration file survives a reinstall (the new one as .dist), and
# make uninstall leaves nothing behind.
. "$(dirname "$0")/../lib.sh"
set -e
D="$T/dest"
mk() { make --no-print-directory -C "$PED_SRCDIR" BUILD="$(basename "$PED_BUILD")" DESTDIR="$D" "$@"; }
mk install >"$T/out" 2>&1 || fail "install: $(cat "$T/out")"
for p in ped-device ikey pedtool hsmcm; do
	[ -x "$D/usr/local/bin/$p" ] || fail "$p not installed"
	"$D/usr/local/bin/$p" -version >/dev/null || fail "installed $p does not run"
done
for p in pedserver pedclient hsm-sim; do
	[ -x "$D/usr/local/sbin/$p" ] || fail "$p not installed"
	"$D/usr/local/sbin/$p" -version >/dev/null || fail "installed $p does not run"
done
for m in man1/ped-device.1 man1/ikey.1 man1/pedtool.1 man1/hsmcm.1 man8/pedserver.8 man8/pedclient.8 \
	man8/hsm-sim.8 man5/openped.conf.5; do
	[ -f "$D/usr/local/share/man/$m" ] || fail "$m not installed"
done
grep -q "^ExecStart=/usr/local/sbin/pedserver -mode start -foreground -configfile /usr/local/etc/openped/pedserver.conf" \
	"$D/usr/local/lib/systemd/system/pedserver.service" || fail "unit paths not substituted"
note "the PKCS#11 module, its p11-kit module file and its configuration"
t=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || cc -print-multiarch)
mod="/usr/local/lib${t:+/$t}/pkcs11/libopenped-pkcs11.so"
[ -f "$D$mod" ] || fail "the module is not in the multiarch pkcs11 directory: $(find "$D" -name '*.so')"
# not p11-kit's own directory (/usr/lib/...): the module file names the full path
grep -qx "module: $mod" "$D/usr/local/share/p11-kit/modules/openped.module" ||
	fail "module file: $(cat "$D/usr/local/share/p11-kit/modules/openped.module")"
[ -f "$D/usr/local/etc/openped/openped-pkcs11.conf" ] || fail "the module's configuration is not installed"
# p11-kit reads module files from its own directories, never from
# /usr/local/share/p11-kit/modules: install says how to link it in.
# Before, it said nothing, and p11-kit list-modules had no openped.
expect_contains "$(cat "$T/out")" "p11-kit does not read /usr/local/share/p11-kit/modules" "install's output"
expect_contains "$(cat "$T/out")" "ln -s /usr/local/share/p11-kit/modules/openped.module /etc/pkcs11/modules/" "install's output"
if command -v pkcs11-tool >/dev/null; then
	OUT=$(OPENPED_PKCS11_CONF="$D/usr/local/etc/openped/openped-pkcs11.conf" so_client "$D$mod" pkcs11-tool --module "$D$mod" -I 2>&1) || true
	expect_contains "$OUT" "Open PED PKCS#11 module"
fi
# with PREFIX=/usr it lands where p11-kit looks, named by its bare name
# (SYSCONFDIR the one this build reads: install refuses another)
make --no-print-directory -C "$PED_SRCDIR" BUILD="$(basename "$PED_BUILD")" DESTDIR="$T/usr-dest" PREFIX=/usr \
	SYSCONFDIR=/usr/local/etc install >"$T/out" 2>&1 ||
	fail "install with PREFIX=/usr: $(cat "$T/out")"
p11dir=$(pkg-config p11-kit-1 --variable p11_module_path)
[ -f "$T/usr-dest$p11dir/libopenped-pkcs11.so" ] || fail "not in p11-kit's module directory $p11dir"
grep -qx "module: libopenped-pkcs11.so" "$T/usr-dest/usr/share/p11-kit/modules/openped.module" || fail "module file under /usr"
expect_not_contains "$(cat "$T/out")" "p11-kit does not read" "install's output with PREFIX=/usr"
[ -f "$T/usr-dest/usr/local/etc/openped/openped-pkcs11.conf" ] || fail "configuration not in SYSCONFDIR/openped"

echo "# edited by the operator" >>"$D/usr/local/etc/openped/pedclient.conf"
mk install >"$T/out" 2>&1 || fail "reinstall: $(cat "$T/out")"
expect_contains "$(cat "$T/out")" "pedclient.conf was edited"
grep -q "edited by the operator" "$D/usr/local/etc/openped/pedclient.conf" || fail "the edited file was overwritten"
[ -f "$D/usr/local/etc/openped/pedclient.conf.dist" ] || fail "no .dist beside the edited file"
mk uninstall >"$T/out" 2>&1 || fail "uninstall: $(cat "$T/out")"
[ "$(find "$D" -type f)" = "$D/usr/local/etc/openped/pedclient.conf" ] || fail "left behind: $(find "$D" -type f)"

note "a clean install and uninstall leave nothing"
rm -rf "$D"
mk install >/dev/null 2>&1 || fail "install"
mk uninstall >/dev/null 2>&1 || fail "uninstall"
[ ! -e "$D" ] || [ -z "$(find "$D" -mindepth 1)" ] || fail "left behind: $(find "$D")"
echo "install ok"
