# A program on a terminal the test drives through tmux: keys in
# (send-keys), the screen out (capture-pane). Source after lib.sh, then set
# S, the tmux server's and session's name; TMUX_WHO names the program in a
# failed wait. A test may redefine screen (a longer history, -J).
command -v tmux >/dev/null || skip "tmux is not installed (make deps installs it)"
export TMUX_TMPDIR="$T"
TMUX_WHO=${TMUX_WHO:-the PED}
tm() { tmux -L "$S" "$@"; }
screen() { tm capture-pane -p -t "$S"; }
tm_wait() {
	wait_for 20 eval "screen | grep -qF -- \"$1\"" || { screen >&2; fail "$TMUX_WHO never showed '$1'"; }
}
keys() { tm send-keys -t "$S" "$@"; }
cleanup_tmux() { [ -z "${S:-}" ] || tm kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; _cleanup' EXIT
