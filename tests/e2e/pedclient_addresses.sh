#!/bin/bash
# pedclient dials every address a pedserver's name resolves to, in order:
# it used to try only the first, so a name that resolves to ::1 first (as
# localhost does on many systems) failed against a pedserver listening on
# IPv4 while `pedclient -mode testid`, which tries them all, said it worked.
# The name is given to pedclient alone through a private /etc/hosts (a
# mount namespace).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
command -v unshare >/dev/null || skip "no unshare(1)"
unshare -m true 2>/dev/null || skip "cannot make a mount namespace (not root, or not permitted)"

start_hsm
start_pedserver S
printf '%s\n' "$OPERATOR" >"$T/P.policy"
start_remote_ped P S "$T/P.policy"
{ printf '::1 dual.test\n127.0.0.1 dual.test\n'; cat /etc/hosts; } >"$T/hosts"
[ -e "$T/pedclient.conf" ] || : >"$T/pedclient.conf"
unshare -m --propagation private sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$T/hosts" \
	"${RUN[@]}" "$BIN/pedclient" -configfile "$T/pedclient.conf" -mode start -admin 0 -listenport -1 \
	-logfilename "$T/pedclient.log" >"$T/pc.out" 2>&1 || fail "pedclient: $(cat "$T/pc.out")"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"

hsmcm -c "ped connect -ip dual.test -port $PORT_S -password -wait; ped disconnect"
[ $RC -eq 0 ] || fail "ped connect by a name whose first address refuses: $OUT $(tail -n 5 "$T/pedclient.log")"
echo "pedclient addresses ok"
