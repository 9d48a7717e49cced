#!/bin/sh
# make install / make uninstall.
#
#   scripts/install.sh install|uninstall BUILD
#   (PREFIX, DESTDIR and SYSCONFDIR come from the environment)
#
# Programs go to PREFIX/bin (ped-device, ikey, pedtool, hsmcm, vtl, rbs) and
# PREFIX/sbin (the daemons), man pages to PREFIX/share/man, the service
# units, the sysusers and tmpfiles files and the USB PED's udev rule to
# PREFIX/lib/systemd, sysusers.d, tmpfiles.d and udev/rules.d,
# the configuration files to SYSCONFDIR/openped. The PKCS#11 module goes to
# the multiarch pkcs11 directory, PREFIX/lib/TRIPLET/pkcs11 (p11-kit's own
# module directory when PREFIX is /usr), and its p11-kit module file to
# PREFIX/share/p11-kit/modules/openped.module, naming it by its full path
# when it is not in p11-kit's directory (p11-kit reads that file only when
# PREFIX is /usr: otherwise install says how to link it into
# /etc/pkcs11/modules). A configuration file the
# operator edited is never overwritten: the new one lands beside it as
# NAME.dist. A manifest lists every file and directory installed, so
# uninstall removes exactly those (an edited configuration file stays).
set -eu
action=$1
build=${2:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
: "${PREFIX:=/usr/local}"
: "${DESTDIR:=}"
if [ -z "${SYSCONFDIR:-}" ]; then
	if [ "$PREFIX" = /usr ]; then SYSCONFDIR=/etc; else SYSCONFDIR=$PREFIX/etc; fi
fi
root=$DESTDIR
share=$PREFIX/share/openped
manifest=$root$share/install-manifest

USER_PROGRAMS="ped-device ikey pedtool hsmcm vtl rbs"
DAEMONS="pedserver pedclient hsm-sim"
CONFS="pedserver pedclient hsm-sim ped-device openped-pkcs11"
MODULE=libopenped-pkcs11.so

# The multiarch triplet (x86_64-linux-gnu), as Debian lays out libraries.
triplet() {
	dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || ${CC:-cc} -print-multiarch 2>/dev/null || true
}
t=$(triplet)
pkcs11dir=$PREFIX/lib${t:+/$t}/pkcs11

newlist=$(mktemp)
trap 'rm -f "$newlist"' EXIT
record() { printf '%s\n' "$1" >>"$newlist"; }

mkdirs() { # DIR: create it and each missing parent, recording the ones made
	d=$1 todo=""
	[ -z "$root" ] || mkdir -p "$root"
	while [ ! -d "$root$d" ] && [ "$d" != / ]; do todo="$d $todo"; d=$(dirname "$d"); done
	for d in $todo; do
		mkdir -m 755 "$root$d"
		record "dir $d"
	done
}

put() { # MODE SRC DEST
	mkdirs "$(dirname "$3")"
	install -m "$1" "$2" "$root$3"
	record "file $3"
}

sum() { sha256sum "$1" | cut -d' ' -f1; }

do_install() {
	for p in $USER_PROGRAMS $DAEMONS; do
		[ -x "$top/$build/bin/$p" ] || { echo "install: $build/bin/$p is missing: run make first" >&2; exit 1; }
	done
	# The programs look for SYSCONFDIR/openped/NAME.conf: it is built in.
	built=$(cat "$top/$build/sysconfdir" 2>/dev/null || true)
	if [ "$built" != "$SYSCONFDIR" ]; then
		echo "install: $build was built to read its configuration from ${built:-?}/openped, not" \
			"$SYSCONFDIR/openped: run make with the same PREFIX (and SYSCONFDIR) first" >&2
		exit 1
	fi
	[ -f "$top/$build/lib/$MODULE" ] || { echo "install: $build/lib/$MODULE is missing: run make first" >&2; exit 1; }
	if [ -f "$manifest" ]; then
		# a reinstall: keep the record of the directories an earlier install made
		grep '^dir ' "$manifest" >>"$newlist" || true
	fi
	mkdirs "$share"
	for p in $USER_PROGRAMS; do put 755 "$top/$build/bin/$p" "$PREFIX/bin/$p"; done
	for p in $DAEMONS; do put 755 "$top/$build/bin/$p" "$PREFIX/sbin/$p"; done
	for m in "$top"/man/*.[158]; do
		n=$(basename "$m")
		put 644 "$m" "$PREFIX/share/man/man${n##*.}/$n"
	done
	tmp=$(mktemp)
	# rbs is the operator's program (--genkey, --config) and its --daemon a service
	for u in $DAEMONS rbs; do
		bindir=$PREFIX/sbin
		[ "$u" != rbs ] || bindir=$PREFIX/bin
		sed -e "s|@BINDIR@|$bindir|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" "$top/conf/$u.service" >"$tmp"
		put 644 "$tmp" "$PREFIX/lib/systemd/system/$u.service"
	done
	rm -f "$tmp"
	put 644 "$top/conf/openped.sysusers" "$PREFIX/lib/sysusers.d/openped.conf"
	put 644 "$top/conf/openped.tmpfiles" "$PREFIX/lib/tmpfiles.d/openped.conf"
	put 644 "$top/conf/openped.udev" "$PREFIX/lib/udev/rules.d/60-openped.rules"
	put 644 "$top/$build/lib/$MODULE" "$pkcs11dir/$MODULE"
	# p11-kit finds a bare name in its own module directory only
	p11dir=$(pkg-config p11-kit-1 --variable p11_module_path 2>/dev/null || true)
	tmp=$(mktemp)
	if [ "$pkcs11dir" = "$p11dir" ]; then
		cp "$top/conf/openped.module" "$tmp"
	else
		sed "s|^module: .*|module: $pkcs11dir/$MODULE|" "$top/conf/openped.module" >"$tmp"
	fi
	put 644 "$tmp" "$PREFIX/share/p11-kit/modules/openped.module"
	rm -f "$tmp"
	# p11-kit reads module files from its own directories only
	p11conf=$(pkg-config p11-kit-1 --variable p11_module_configs 2>/dev/null || true)
	if [ "$PREFIX/share/p11-kit/modules" != "${p11conf:-/usr/share/p11-kit/modules}" ]; then
		echo "install: p11-kit does not read $PREFIX/share/p11-kit/modules; for p11-kit and GnuTLS" \
			"to load the module: mkdir -p /etc/pkcs11/modules && ln -s" \
			"$PREFIX/share/p11-kit/modules/openped.module /etc/pkcs11/modules/"
	fi
	for f in "$top/README.md" "$top"/docs/*.md; do put 644 "$f" "$PREFIX/share/doc/openped/$(basename "$f")"; done
	mkdirs "$SYSCONFDIR/openped"
	for c in $CONFS; do
		dest=$SYSCONFDIR/openped/$c.conf
		if [ -f "$root$dest" ] && ! cmp -s "$top/conf/$c.conf" "$root$dest" &&
			! grep -q "^conf $dest $(sum "$root$dest")\$" "$manifest" 2>/dev/null; then
			echo "install: $dest was edited; the new one is $dest.dist"
			put 644 "$top/conf/$c.conf" "$dest.dist"
		else
			install -m 644 "$top/conf/$c.conf" "$root$dest"
			record "conf $dest $(sum "$root$dest")"
		fi
	done
	record "file $share/install-manifest"
	sort -u "$newlist" >"$manifest"
	echo "installed into ${DESTDIR:-/}$PREFIX (configuration in $SYSCONFDIR/openped)"
}

do_uninstall() {
	[ -f "$manifest" ] || { echo "uninstall: nothing installed under ${DESTDIR:-/}$PREFIX (no manifest)"; exit 0; }
	list=$(mktemp)
	cp "$manifest" "$list"
	grep '^file ' "$list" | while read -r _ f; do rm -f "$root$f"; done
	grep '^conf ' "$list" | while read -r _ f s; do
		if [ -f "$root$f" ] && [ "$(sum "$root$f")" != "$s" ]; then
			echo "uninstall: keeping $f (edited)"
		else
			rm -f "$root$f"
		fi
	done
	# directories last, deepest first, only if empty
	grep '^dir ' "$list" | cut -c5- | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- |
		while read -r d; do rmdir "$root$d" 2>/dev/null || true; done
	rm -f "$list"
	echo "uninstalled from ${DESTDIR:-/}$PREFIX"
}

case $action in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: $0 install|uninstall [BUILD]" >&2; exit 2 ;;
esac
