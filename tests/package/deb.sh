#!/bin/bash
# Issue #32, item 13: the Debian package. In a scratch copy of the source,
# dpkg-buildpackage -us -uc -b builds openped_VERSION_ARCH.deb; lintian
# finds no errors in it; it holds the programs, man pages, units,
# sysusers, tmpfiles and udev files and the configuration (conffiles in
# /etc/openped); installed into a scratch root (dpkg --root, its scripts
# run for that root), each program runs -version from there and the
# sysusers snippet made the openped user in that root only.
# Slow (a full build): make check-deb, not make check.
. "$(dirname "$0")/../lib.sh"
set -e
for c in dpkg-buildpackage dh lintian fakeroot; do
	command -v $c >/dev/null || skip "$c is missing (make deps installs dpkg-dev, debhelper, lintian, fakeroot)"
done
note "dpkg-buildpackage -us -uc -b in a scratch copy"
mkdir -p "$T/src/openped"
(cd "$PED_SRCDIR" && tar --exclude='./build*' --exclude=./.git --exclude='./debian/openped' -cf - .) |
	(cd "$T/src/openped" && tar -xf -)
(cd "$T/src/openped" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 || fail "dpkg-buildpackage: $(tail -40 "$T/build.log")"
deb=$(ls "$T"/src/openped_*.deb)
[ -f "$deb" ] || fail "no package: $(ls "$T/src")"
echo "built $(basename "$deb")"

note "lintian: no errors"
lintian --fail-on error "$deb" >"$T/lintian.out" 2>&1 || fail "lintian: $(cat "$T/lintian.out")"
cat "$T/lintian.out"

note "contents"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T/contents"
for f in /usr/bin/ped-device /usr/bin/ikey /usr/bin/pedtool /usr/bin/hsmcm /usr/bin/vtl /usr/bin/rbs \
	/usr/share/man/man1/rbs.1.gz /usr/sbin/pedserver /usr/sbin/pedclient \
	/usr/sbin/hsm-sim /usr/share/man/man8/pedserver.8.gz /usr/share/man/man1/ped-device.1.gz \
	/usr/share/man/man5/openped.conf.5.gz /etc/openped/pedserver.conf /etc/openped/pedclient.conf \
	/etc/openped/hsm-sim.conf /etc/openped/ped-device.conf /usr/lib/sysusers.d/openped.conf \
	/usr/lib/tmpfiles.d/openped.conf; do
	grep -qx "$f" "$T/contents" || fail "$f is not in the package: $(cat "$T/contents")"
done
for u in pedserver pedclient hsm-sim; do
	grep -q "/systemd/system/$u.service\$" "$T/contents" || fail "$u.service is not in the package"
done
grep -q '^/\(usr/\)\{0,1\}lib/udev/rules.d/60-openped.rules$' "$T/contents" || fail "the udev rule is not in the package"
dpkg-deb -e "$deb" "$T/control"
for c in pedserver pedclient hsm-sim ped-device; do
	grep -qx "/etc/openped/$c.conf" "$T/control/conffiles" || fail "/etc/openped/$c.conf is not a conffile"
done

note "installed into a scratch root"
R="$T/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc"
: >"$R/var/lib/dpkg/status"
cp /etc/passwd /etc/group "$R/etc/"
host_passwd=$(sha256sum /etc/passwd)
dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null -i "$deb" >"$T/dpkg.out" 2>&1 ||
	fail "dpkg -i: $(cat "$T/dpkg.out")"
expect_eq "$(sha256sum /etc/passwd)" "$host_passwd" "the host's /etc/passwd"
grep -q '^openped:' "$R/etc/passwd" || fail "the package made no openped user in its root: $(cat "$T/dpkg.out")"
gid=$(awk -F: '$1 == "openped" { print $3 }' "$R/etc/group")
expect_eq "$(stat -c '%g %a' "$R/run/openped" 2>&1)" "$gid 750" "the root's /run/openped (tmpfiles, after sysusers)"
for p in usr/bin/ped-device usr/bin/ikey usr/bin/pedtool usr/bin/hsmcm usr/bin/vtl usr/bin/rbs usr/sbin/pedserver usr/sbin/pedclient \
	usr/sbin/hsm-sim; do
	out=$("$R/$p" -version 2>&1) || fail "$p -version: $out"
	expect_contains "$out" "0.1.0" "$p -version"
done

note "the units' maintainer scripts: reload, try-restart on upgrade, purge"
# Before: dh_installsystemd (debhelper 13.11) looked in lib/systemd/system
# only, found none of the units in usr/lib and wrote no script for them:
# no daemon-reload on removal, and a purge left the operator's enablement
# links pointing at units that were gone.
for u in hsm-sim pedclient pedserver rbs; do
	grep -q "deb-systemd-helper purge.*'$u.service'" "$T/control/postrm" 2>/dev/null ||
		fail "postrm does not purge $u.service's state: $(cat "$T/control/postrm" 2>&1)"
	grep -q "deb-systemd-helper update-state '$u.service'" "$T/control/postinst" ||
		fail "postinst does not record $u.service's state"
done
grep -q "daemon-reload" "$T/control/postrm" || fail "postrm reloads no systemd on removal"
# an upgrade restarts the services that run, starts none that do not and
# never only stops them
grep -q "deb-systemd-invoke try-restart 'hsm-sim.service'" "$T/control/postinst" ||
	fail "postinst restarts no running service after an upgrade: $(cat "$T/control/postinst")"
[ ! -f "$T/control/preinst" ] || ! grep -q "deb-systemd-invoke stop" "$T/control/preinst" ||
	fail "preinst stops the services before an upgrade, and nothing starts them again"
if command -v systemctl >/dev/null; then
	systemctl --root="$R" enable hsm-sim.service pedserver.service >/dev/null 2>&1 || fail "systemctl --root enable"
	[ -L "$R/etc/systemd/system/multi-user.target.wants/hsm-sim.service" ] || fail "systemctl --root made no link"
	dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null -i "$deb" >"$T/dpkg.out" 2>&1 ||
		fail "dpkg -i over itself: $(cat "$T/dpkg.out")"
	[ -L "$R/etc/systemd/system/multi-user.target.wants/hsm-sim.service" ] || fail "an upgrade dropped the enablement"
	dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null --purge openped >"$T/dpkg.out" 2>&1 ||
		fail "dpkg --purge: $(cat "$T/dpkg.out")"
	[ -z "$(find "$R/etc/systemd" -name '*.service' 2>/dev/null)" ] ||
		fail "purge left enablement links: $(find "$R/etc/systemd" -name '*.service')"
fi
echo "deb ok"
