#!/bin/bash
# Issue #32, items 9 and 12: the installed service units.
# - systemd-analyze security --offline scores each unit 2.x or lower (it
#   said 5.5-5.8 MEDIUM), with no capabilities and a system call filter,
#   while pedserver keeps the USB device nodes for a PED on USB;
# - the units and the programs name the same sockets: no unit overrides a
#   socket the shells and the PED look for by its default name, and the
#   runtime directory lets the openped group in (0750), as does the
#   tmpfiles entry that makes it at boot.
. "$(dirname "$0")/../lib.sh"
set -e
units=(hsm-sim pedserver pedclient rbs)
for u in "${units[@]}"; do
	sed -e "s|@BINDIR@|/usr/sbin|g" -e "s|@SYSCONFDIR@|/etc|g" "$PED_SRCDIR/conf/$u.service" >"$T/$u.service"
done

note "the sockets the units make are those the programs look for"
for u in "${units[@]}"; do
	exec_line=$(grep '^ExecStart=' "$T/$u.service")
	expect_not_contains "$exec_line" "-socket" "$u.service ExecStart (hsmcm looks for hsm-sim.sock)"
	expect_not_contains "$exec_line" "-pidfile" "$u.service ExecStart"
	grep -qx 'Environment=XDG_RUNTIME_DIR=/run XDG_DATA_HOME=/var/lib' "$T/$u.service" ||
		fail "$u.service: its runtime directory is not /run/openped"
	grep -qx 'RuntimeDirectoryMode=0750' "$T/$u.service" || fail "$u.service: /run/openped is not the group's (0750)"
	grep -qx 'User=openped' "$T/$u.service" || fail "$u.service: not the openped user"
done
grep -q '^d /run/openped 0750 openped openped' "$PED_SRCDIR/conf/openped.tmpfiles" ||
	fail "openped.tmpfiles does not make /run/openped for the group"
grep -q 'GROUP="openped"' "$PED_SRCDIR/conf/openped.udev" || fail "the USB PED is not the openped group's"

note "rbs.service: its password a credential of its own, never on its command line or in its environment"
grep -qx 'LoadCredential=rbs-password:/etc/openped/rbs.password' "$T/rbs.service" || fail "rbs.service: no rbs-password credential"
grep -q '^ExecStart=.* -password-file ${CREDENTIALS_DIRECTORY}/rbs-password$' "$T/rbs.service" ||
	fail "rbs.service does not read the credential: $(grep ExecStart "$T/rbs.service")"
! grep -qi '^Environment=.*pass' "$T/rbs.service" || fail "rbs.service: a password in the environment"

note "pedserver keeps USB: the USB device nodes and netlink for hotplug, nothing else"
grep -qx 'DeviceAllow=char-usb_device rw' "$T/pedserver.service" || fail "pedserver.service cannot open a USB PED"
grep -qx 'DevicePolicy=closed' "$T/pedserver.service" || fail "pedserver.service may open any device"
grep -q '^RestrictAddressFamilies=.*AF_NETLINK' "$T/pedserver.service" || fail "pedserver.service: no hotplug"
for u in hsm-sim pedclient rbs; do
	grep -qx 'PrivateDevices=yes' "$T/$u.service" || fail "$u.service sees the devices"
done

command -v systemd-analyze >/dev/null || skip "systemd-analyze is missing (make deps installs systemd)"
systemd-analyze security --help 2>/dev/null | grep -q -- '--offline' ||
	skip "this systemd-analyze has no security --offline (systemd 252 or later)"
note "systemd-analyze security --offline: 2.x or lower"
for u in "${units[@]}"; do
	out=$(cd "$T" && systemd-analyze security --offline=true "$u.service" 2>&1) || fail "systemd-analyze: $out"
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
	[ -n "$score" ] || fail "no score for $u: $out"
	echo "$u.service: $score"
	awk -v s="$score" 'BEGIN { exit !(s < 3.0) }' || fail "$u.service exposure $score, want 2.x or lower: $out"
	for want in 'CapabilityBoundingSet=~CAP_SYS_ADMIN' 'SystemCallFilter=~@privileged' RestrictSUIDSGID= \
		ProtectClock= UMask= 'SystemCallFilter=~@resources'; do
		! grep -q "✗ $want" <<<"$out" || fail "$u.service: $want is not set"
	done
done
note "systemd-analyze verify: the units parse"
for u in "${units[@]}"; do
	out=$(cd "$T" && systemd-analyze verify --man=no "$u.service" 2>&1 | grep -v 'is not executable\|No such file' || true)
	[ -z "$out" ] || fail "$u.service: $out"
done
echo "units ok"
