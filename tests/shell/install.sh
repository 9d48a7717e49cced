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
