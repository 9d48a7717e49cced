#!/bin/bash
# Security issue 2026-12, finding 4: when its data directory was refused
# (with neither HOME nor XDG_DATA_HOME, /tmp/openped-data-UID, which anyone
# can make first), pedclient fell back to fixed names in the shared /tmp:
# whoever had made /tmp/cert/... became its TLS identity and chose the
# pedservers it trusts. Now there is no fallback: pedclient refuses to start
# and says what to set.
# The run has a /tmp of its own (a mount namespace), so the real one is
# never touched, whatever the code under test does.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/user_lib.sh"
set -e
command -v unshare >/dev/null || skip "no unshare(1)"
unshare -m true 2>/dev/null || skip "cannot make a mount namespace (not root, or not permitted)"
other_user
export XDG_RUNTIME_DIR="$T/run"
mkdir -p "$XDG_RUNTIME_DIR"

# an identity of the other user's and their pedserver's certificate
: >"$T/theirs.conf"
XDG_DATA_HOME="$T/theirs" "$BIN/pedserver" -regen -commonname theirs -configfile "$T/theirs.conf" >"$T/regen.out"
CRT=$(sed -n 's/^Certificate created and written to: //p' "$T/regen.out")
KEY=$(sed -n 's/^Private Key created and written to: //p' "$T/regen.out")
[ -s "$CRT" ] && [ -s "$KEY" ] || fail "no identity made: $(cat "$T/regen.out")"
chown -R "$OTHER_UID:$OTHER_GID" "$T/theirs"
: >"$T/pc.conf"
mkdir "$T/newtmp"
export T BIN PED_BUILD OTHER_UID OTHER_GID CRT KEY
cat >"$T/ns.sh" <<'EOF'
set -e
as_other() { setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups -- "$@"; }
# A /tmp like the real one (1777), with this suite's directory and the
# build bound into it where they were.
mount -t tmpfs -o mode=1777,size=16m tmpfs "$T/newtmp"
for d in "$T" "$PED_BUILD"; do
	case $d in /tmp/*) mkdir -p "$T/newtmp/${d#/tmp/}" && mount --bind "$d" "$T/newtmp/${d#/tmp/}" ;; esac
done
mount --move "$T/newtmp" /tmp
# the other user is there first
as_other mkdir -m 755 "/tmp/openped-data-$(id -u)" /tmp/cert /tmp/cert/pedclient /tmp/cert/pedservers
as_other cp "$CRT" /tmp/cert/pedclient/pedclient.pem
as_other cp "$KEY" /tmp/cert/pedclient/pedclientKey.pem
as_other cp "$CRT" /tmp/cert/pedservers/theirs.pem
set +e
env -u HOME -u XDG_DATA_HOME "$BIN/pedclient" -mode start -configfile "$T/pc.conf" -admin 0 -listenip 127.0.0.1 \
	-listenport 0 -logfilename "$T/pc.log" >"$T/start.out" 2>&1
echo $? >"$T/start.rc"
"$BIN/pedclient" -mode show -configfile "$T/pc.conf" >"$T/show.out" 2>&1
"$BIN/pedclient" -mode stop -configfile "$T/pc.conf" >/dev/null 2>&1
find /tmp/cert -user 0 >"$T/made-by-root"
EOF
chmod 644 "$T/ns.sh"
unshare -m --propagation private bash "$T/ns.sh" || fail "could not set up the namespace's /tmp"
pid=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid" 2>/dev/null || true)
[ -z "$pid" ] || track "$pid"
if [ "$(cat "$T/start.rc")" = 0 ]; then
	fail "pedclient started on another user's /tmp/cert: $(grep -i 'PED-initiated' "$T/show.out")"
fi
[ ! -s "$T/made-by-root" ] || fail "pedclient wrote into another user's /tmp/cert: $(cat "$T/made-by-root")"
OUT=$(cat "$T/start.out")
expect_contains "$OUT" "XDG_DATA_HOME"
expect_not_contains "$OUT" "/tmp/cert"

note "with a data directory of its own it starts, and makes its identity there"
mkdir -m 700 "$T/home"
expect_exit 0 env -u XDG_DATA_HOME HOME="$T/home" "$BIN/pedclient" -mode start -configfile "$T/pc.conf" -admin 0 \
	-listenip 127.0.0.1 -listenport 0 -logfilename "$T/pc.log"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
[ -s "$T/home/.local/share/openped/cert/pedclient/pedclient.pem" ] || fail "no identity in the data directory"
[ "$(stat -c %a "$T/home/.local/share/openped/cert/pedclient")" = 700 ] || fail "the key's directory is not 0700"
expect_exit 0 "$BIN/pedclient" -mode stop -configfile "$T/pc.conf"
echo "no /tmp fallback ok"
