# Shared helpers for the shell suites: a private temp dir removed on exit,
# daemons killed on exit, polling waits (never fixed sleeps), assertions.
# Source it first thing: . "$(dirname "$0")/../lib.sh"
set -u
: "${PED_BUILD:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}"
: "${PED_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
BIN="$PED_BUILD/bin"
TOOLS="$PED_BUILD/tests"
export PED_BUILD PED_SRCDIR

T=$(mktemp -d "${TMPDIR:-/tmp}/ped-test.XXXXXX")
_pids=()
_cleanup() {
	local p
	set +e # a test's own set -e must not cut the cleanup short
	# nor a second SIGTERM (check.sh's timeout signals the suite, then its
	# whole process group): the temp dir and daemons would outlive it
	trap '' TERM INT
	for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
	# Daemons' valgrind reports go to files: a daemon's exit status reaches no one.
	local vg bad=0
	for p in "${_pids[@]}"; do wait_gone 10 "$p"; done
	for vg in "$T"/valgrind.*.log; do
		[ -e "$vg" ] || continue
		# "==pid==" lines are errors and leaks; "--pid--" ones are valgrind's own notes
		grep -q '^==[0-9]*==' "$vg" || continue
		echo "valgrind: $vg" >&2
		cat "$vg" >&2
		bad=1
	done
	# PED_KEEP_TMP=1 keeps the temp dir (logs, events, keys) to look at a failure
	if [ "${PED_KEEP_TMP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
	[ $bad -eq 0 ] || exit 99
}
trap _cleanup EXIT

# PED_VALGRIND=1 runs the daemons and tools that tests start under valgrind.
RUN=()
if [ "${PED_VALGRIND:-0}" = 1 ]; then
	RUN=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --track-fds=no
		--log-file="$T/valgrind.%p.log")
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
note() { echo "--- $*"; }

# Remember a background process so it is stopped at exit.
track() { _pids+=("$1"); }

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds, for at least
# SECONDS (EPOCHREALTIME: $SECONDS ticks whole seconds, so "1" could be gone
# in a few milliseconds).
wait_for() {
	local limit=$1; shift
	local now=${EPOCHREALTIME/[.,]/}
	local deadline=$((10#$now + limit * 1000000))
	until "$@" >/dev/null 2>&1; do
		now=${EPOCHREALTIME/[.,]/}
		[ $((10#$now)) -ge $deadline ] && return 1
		sleep 0.02
	done
}

# alive PID: the process exists and is not a zombie waiting to be reaped
# (PID 1 in some containers reaps late, so kill -0 alone is not enough).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

# wait_gone SECONDS PID: poll until PID has exited.
wait_gone() { wait_for "$1" eval "! alive $2"; }

# silent_flood PID PORT: 16 connections to PORT on loopback that say
# nothing, held until $T/flood.done exists (or 60 s; FLOOD is the holder's
# pid); returns once PID runs a handshake thread for each of them.
silent_flood() {
	local pid=$1 port=$2 base
	base=$(ls "/proc/$pid/task" | wc -l)
	python3 - "$port" "$T/flood.done" <<'PY' &
import os, socket, sys, time
port, done = int(sys.argv[1]), sys.argv[2]
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
deadline = time.time() + 60
while not os.path.exists(done) and time.time() < deadline:
    time.sleep(0.05)
PY
	FLOOD=$!
	track $FLOOD
	wait_for 10 eval '[ "$(ls /proc/'"$pid"'/task | wc -l)" -ge $((base + 16)) ]' ||
		fail "the 16 silent connections hold no handshake ($(ls "/proc/$pid/task" | wc -l) threads, $base before)"
}

# so_runtime SO: the environment (NAME=value words) a program not built
# here needs to load our shared object SO: an ASan or TSan build of SO
# needs clang's shared sanitizer runtime loaded first, and the program's
# own leaks are not ours to count. Nothing for a plain build.
so_runtime() {
	local so=$1 undef rt
	undef=$(nm -D --undefined-only "$so" 2>/dev/null)
	if grep -q ' U __asan_' <<<"$undef"; then
		rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
		[ -f "$rt" ] || fail "$so is an ASan build and clang's shared ASan runtime is missing"
		echo "LD_PRELOAD=$rt ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0"
	elif grep -q ' U __tsan_' <<<"$undef"; then
		# gcc's (make check-tsan builds with gcc): clang 14's shared TSan
		# runtime crashes on start with this glibc, even preloaded in true
		rt=$(gcc -print-file-name=libtsan.so 2>/dev/null)
		[ -f "$rt" ] || fail "$so is a TSan build and gcc's shared TSan runtime (libtsan) is missing"
		# SO preloaded too, so never unloaded: TSan's atexit interceptor
		# registers the handler SO's thread.c gives it without SO's DSO
		# handle, and once the program dlclosed SO it ran unmapped at exit
		echo "LD_PRELOAD=$rt:$so"
	fi
}

# so_client SO CMD...: runs CMD, a program not built here (pkcs11-tool,
# p11tool, openssl), that loads our shared object SO (so_runtime).
so_client() {
	local so=$1 e
	shift
	e=$(so_runtime "$so") || exit 1
	if [ -n "$e" ]; then
		# shellcheck disable=SC2086 # NAME=value words, none with a space
		env $e "$@"
	else
		"$@"
	fi
}

# sanitizer_report PID: what a sanitizer build (make check-asan, check-tsan)
# reported for process PID into its log_path, if anything. A daemon's
# stderr is /dev/null: this is where a race or memory error it met shows.
sanitizer_report() {
	local opts p
	for opts in "${TSAN_OPTIONS:-}" "${ASAN_OPTIONS:-}"; do
		p=$(tr ':' '\n' <<<"$opts" | sed -n 's/^log_path=//p' | tail -n 1)
		[ -n "$p" ] && [ -s "$p.$1" ] && cat "$p.$1"
	done
	return 0
}

expect_eq() { [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"; }
expect_contains() { grep -qF -- "$2" <<<"$1" || fail "${3:-output} does not contain '$2': $1"; }
expect_not_contains() { ! grep -qF -- "$2" <<<"$1" || fail "${3:-output} contains '$2': $1"; }
# expect_exit CODE COMMAND...: run it and check its exit status; output in $OUT.
# (|| keeps a non-zero status from ending a suite that runs under set -e)
expect_exit() {
	local want=$1 rc=0; shift
	OUT=$("$@" 2>&1) || rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $OUT"
}
