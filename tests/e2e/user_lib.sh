# A second local user, for what another user of the machine can do: made
# with useradd, removed at exit. Source after ../lib.sh.
#   other_user          makes it (or skips the suite, saying why); sets
#                       OTHER, OTHER_UID, OTHER_GID
#   as_other CMD...     runs CMD as that user (no supplementary groups)
other_user() {
	[ "$(id -u)" = 0 ] || skip "needs root to make a second local user (useradd)"
	command -v useradd >/dev/null && command -v userdel >/dev/null || skip "no useradd/userdel on this machine"
	command -v setpriv >/dev/null || skip "no setpriv(1) to run commands as a second user"
	OTHER="pedt$$r$RANDOM"
	useradd -M -N -d /nonexistent -s /usr/sbin/nologin "$OTHER" >/dev/null 2>&1 ||
		skip "useradd $OTHER failed (read-only /etc/passwd?)"
	# before the temp dir goes: nothing of this user's outlives the suite
	trap 'userdel "$OTHER" >/dev/null 2>&1; _cleanup' EXIT
	OTHER_UID=$(id -u "$OTHER")
	OTHER_GID=$(id -g "$OTHER")
	# they must reach what they plant under $T, and nothing else of ours
	chmod 711 "$T"
}

as_other() { setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups -- "$@"; }
