#!/bin/bash
# Issue #32, item 9 and its acceptance: a fresh root. make install into a
# scratch DESTDIR; in namespaces of their own (mount, network, PID) that
# root is /usr/local, the sysusers file makes the openped user and group
# (systemd-sysusers), the tmpfiles file makes /run/openped, and each
# installed unit's ExecStart= runs as the openped user with the unit's
# environment and no capabilities. Then a member of the group runs the
# README's "Install" command lines as they are written there, with no
# extra options (a headless PED instead of the ncurses one), with and
# without an XDG_RUNTIME_DIR of their own; a non-member is kept out.
# Before: the units named hsm.sock while hsmcm looked for hsm-sim.sock,
# and a member's session with XDG_RUNTIME_DIR looked only there.
if [ "${1:-}" != --inside ]; then
	. "$(dirname "$0")/../lib.sh"
	set -e
	[ "$(id -u)" = 0 ] || skip "needs root: users, namespaces and mounts"
	for c in unshare setpriv systemd-sysusers systemd-tmpfiles ip; do
		command -v $c >/dev/null || skip "$c is missing (make deps)"
	done
	unshare --mount --net --pid --fork true 2>/dev/null || skip "cannot make namespaces here"
	D="$T/root"
	note "make install DESTDIR=$D"
	make --no-print-directory -C "$PED_SRCDIR" BUILD="$(basename "$PED_BUILD")" DESTDIR="$D" install >"$T/install.out" 2>&1 ||
		fail "make install: $(cat "$T/install.out")"
	note "the openped user and group from the installed sysusers file; alice a member, bob not"
	mkdir -p "$T/sys/etc"
	cp /etc/passwd /etc/group "$T/sys/etc/"
	cp /etc/shadow /etc/gshadow "$T/sys/etc/" 2>/dev/null || true
	systemd-sysusers --root="$T/sys" "$D/usr/local/lib/sysusers.d/openped.conf" >"$T/sysusers.out" 2>&1 ||
		fail "systemd-sysusers: $(cat "$T/sysusers.out")"
	grep -q '^openped:' "$T/sys/etc/passwd" || fail "sysusers made no openped user"
	chmod 711 "$T"
	mkdir -p "$T/home/alice" "$T/home/bob"
	for u in alice:61001 bob:61002; do
		n=${u%:*} id=${u#*:}
		! grep -q "^$n:" "$T/sys/etc/passwd" || skip "a user $n exists on this host"
		echo "$n:x:$id:$id::$T/home/$n:/bin/bash" >>"$T/sys/etc/passwd"
		echo "$n:x:$id:" >>"$T/sys/etc/group"
		chown "$id:$id" "$T/home/$n"
		chmod 700 "$T/home/$n"
	done
	sed -i 's/^\(openped:x:[0-9]*:\)$/\1alice/' "$T/sys/etc/group"
	grep -q '^openped:x:[0-9]*:alice$' "$T/sys/etc/group" || fail "alice not in group openped: $(grep openped "$T/sys/etc/group")"
	# the member's command lines: the block after "## Install" that has ped connect
	awk '/^## Install/ { on = 1 } on && /^```sh$/ { b++; next } on && /^```$/ { if (b == 2) exit; next } on && b == 2' \
		"$PED_SRCDIR/README.md" >"$T/readme.sh"
	grep -q 'hsmcm -c "ped connect' "$T/readme.sh" || fail "README's Install section has no member's command lines: $(cat "$T/readme.sh")"
	unshare --mount --net --pid --fork --kill-child --mount-proc bash "$0" --inside "$T" || exit $?
	echo "installed ok"
	exit 0
fi

# --- inside the namespaces ----------------------------------------------
O=$2 # the outer test's directory
. "$(dirname "$0")/../lib.sh"
set -e
mount --make-rprivate /
ip link set lo up
mount --bind "$O/sys/etc/passwd" /etc/passwd
mount --bind "$O/sys/etc/group" /etc/group
mount --bind "$O/root/usr/local" /usr/local
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /var/lib
systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/openped.conf || fail "systemd-tmpfiles"
expect_eq "$(stat -c '%U:%G %a' /run/openped)" "openped:openped 750" "/run/openped"
# StateDirectory=openped, StateDirectoryMode=0700
install -d -m 700 -o openped -g openped /var/lib/openped

# unit NAME: run the installed unit's ExecStart= as it would: its user, its
# environment, its umask, no capabilities; stderr (the journal) to a file.
unit() {
	local f=/usr/local/lib/systemd/system/$1.service exec envs
	exec=$(sed -n 's/^ExecStart=//p' "$f")
	exec=${exec//'${CREDENTIALS_DIRECTORY}'/\/run\/credentials\/$1.service}
	envs=$(sed -n 's/^Environment=//p' "$f")
	grep -qx 'User=openped' "$f" || fail "$1.service: not User=openped"
	# shellcheck disable=SC2086
	(umask 077 && exec env -i PATH=/usr/bin:/bin $envs setpriv --reuid=openped --regid=openped --init-groups \
		--inh-caps=-all --bounding-set=-all -- $exec >"$O/$1.journal" 2>&1) &
	track $!
}
unit hsm-sim
wait_for 20 test -S /run/openped/hsm-sim.sock || fail "hsm-sim.service made no /run/openped/hsm-sim.sock: $(ls -l /run/openped; cat "$O/hsm-sim.journal")"
unit pedclient
wait_for 20 test -S /run/openped/pedclient.sock || fail "pedclient.service: $(cat "$O/pedclient.journal")"
unit pedserver
wait_for 20 test -S /run/openped/pedserver-ped.sock || fail "pedserver.service: $(cat "$O/pedserver.journal")"
note "the services log to the journal (stderr)"
grep -q "serving" "$O/pedserver.journal" || fail "pedserver.service logged nothing to the journal"
[ ! -e /var/lib/openped/pedserver.log ] || fail "pedserver.service wrote a log file"
note "sockets: the openped group's, 0660"
for s in hsm-sim.sock pedclient.sock pedserver-ped.sock; do
	expect_eq "$(stat -c '%U:%G %a' "/run/openped/$s")" "openped:openped 660" "/run/openped/$s"
done

# as USER [VAR=VALUE...] -- COMMAND LINE: a login shell's environment, no more
as() {
	local u=$1
	shift
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	setpriv --reuid="$u" --regid="$u" --init-groups env -i HOME="$O/home/$u" USER="$u" \
		PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/bin "${envs[@]}" bash -c "$1"
}

note "alice (group openped) runs the README's lines unchanged"
transcript="$O/home/alice/transcript"
as alice -- ": >$transcript"
ped_started=
while IFS= read -r line; do
	cmd=${line%%#*}
	cmd=${cmd%"${cmd##*[! ]}"}
	[ -n "$cmd" ] || continue
	case $cmd in
	ped-device*)
		# the ncurses PED, headless: its key holder answers from a policy
		keys=($(grep -o '^[0-9A-F]\{16\}$' "$transcript"))
		[ ${#keys[@]} = 3 ] || fail "ikey new made ${#keys[@]} keys: $(cat "$transcript")"
		as alice -- "printf 'password %s\nidentity %s\nwrite rpv %s\n' $transcript $transcript ${keys[0]} >~/ped.policy"
		as alice -- "exec $cmd -headless -policy ~/ped.policy -events ~/ped.events -keytimeout 20 >~/ped.log 2>&1" &
		track $!
		wait_for 20 grep -q '"attached":true' "$O/home/alice/ped.events" ||
			fail "the member's PED did not attach to pedserver.service: $(cat "$O/home/alice/ped.log")"
		ped_started=1
		continue ;;
	esac
	echo "\$ $cmd"
	OUT=$(as alice -- "$cmd" 2>&1 | tee -a "$transcript"; exit "${PIPESTATUS[0]}") ||
		fail "as a member of openped, '$cmd' failed: $OUT"
	echo "$OUT"
	case $cmd in
	"pedserver -mode show") expect_contains "$OUT" "Ped2 Connection Status:   Connected" ;;
	"pedclient -mode show") expect_contains "$OUT" "Remote PED Sessions:        1" ;;
	"hsmcm -c \"ped vector init\"") expect_contains "$OUT" "No Error" ;;
	esac
done <"$O/readme.sh"
[ -n "$ped_started" ] || fail "the README's lines start no PED"

note "alice in a login session with an XDG_RUNTIME_DIR of her own reaches the services too"
as alice -- "mkdir -m 700 ~/run"
OUT=$(as alice XDG_RUNTIME_DIR="$O/home/alice/run" -- "pedserver -mode show && hsmcm -c 'hsm showinfo'" 2>&1) ||
	fail "with XDG_RUNTIME_DIR: $OUT"
expect_contains "$OUT" "Ped2 Connection Status:   Connected"

note "rbs.service: the host's key and choice made by the operator as openped, the password a credential"
# SYSCONFDIR/openped/rbs.password, root's; systemd copies it for the service
# (LoadCredential=) into a directory of the service's own, 0400
printf 'rbs unit password\n' >"$O/rbs.password"
install -d -m 700 -o openped -g openped /run/credentials/rbs.service
install -m 400 -o openped -g openped "$O/rbs.password" /run/credentials/rbs.service/rbs-password
grep -qx 'LoadCredential=rbs-password:/usr/local/etc/openped/rbs.password' /usr/local/lib/systemd/system/rbs.service ||
	fail "rbs.service takes no rbs-password credential from SYSCONFDIR: $(grep Credential /usr/local/lib/systemd/system/rbs.service)"
OUT=$(as openped XDG_DATA_HOME=/var/lib XDG_RUNTIME_DIR=/run -- \
	"printf 'rbs unit password\nrbs unit password\n' | rbs --genkey && printf '1\nX\n' | rbs --config" 2>&1) ||
	fail "rbs --genkey/--config as openped: $OUT"
expect_contains "$OUT" "1 Backup HSM(s) served"
unit rbs
wait_for 20 grep -q 'serving TLS on' "$O/rbs.journal" || fail "rbs.service: $(cat "$O/rbs.journal")"
expect_contains "$(cat "$O/rbs.journal")" "1 Backup HSM(s) of hsm-sim at /run/openped/hsm-sim.sock"
expect_not_contains "$(tr '\0' '\n' </proc/"$(pgrep -u openped -x rbs)"/environ)" "rbs unit password" "rbs's environment"

note "bob (not in the group) is kept out"
if OUT=$(as bob -- "hsmcm -c 'hsm showinfo'" 2>&1); then fail "a non-member used hsm-sim.service: $OUT"; fi
echo "inside ok"
