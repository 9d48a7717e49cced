#!/bin/bash
# Fuzz smoke: each fuzz target, built with the ordinary compiler and
# tests/fuzz/replay_main.c, replays its seed corpus and a fixed set of
# mutations of it (tests/tools/fuzz_mutate.c, fixed seed). Not fuzzing, but
# it keeps every decoder's known-bad inputs and their neighbours crash-free
# in every build, sanitizers included. A crashing input is kept under
# $PED_BUILD/fuzz-smoke-failures/ for make fuzz or a debugger.
. "$(dirname "$0")/../lib.sh"

MUTATIONS=${PED_FUZZ_MUTATIONS:-300}
SEED=${PED_FUZZ_SEED:-20240601}
replay="$PED_BUILD/fuzz-replay"
corpora="$PED_SRCDIR/tests/fuzz/corpus"

# Sanitizer builds: leaks in libraries we cannot fix, each with its reason.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$corpora/../lsan.supp:print_suppressions=0"

[ -x "$TOOLS/fuzz_mutate" ] || fail "$TOOLS/fuzz_mutate missing: build first (make)"
shopt -s nullglob
names=()
for src in "$PED_SRCDIR"/tests/fuzz/fuzz_*.c; do
	n=${src##*/fuzz_}; names+=("${n%.c}")
done
[ ${#names[@]} -gt 0 ] || fail "no fuzz targets in $PED_SRCDIR/tests/fuzz"

total=0
for name in "${names[@]}"; do
	bin="$replay/$name"
	[ -x "$bin" ] || fail "$bin missing: build first (make)"
	seeds=("$corpora/$name"/*)
	[ ${#seeds[@]} -gt 0 ] || fail "$name: no seed corpus in $corpora/$name"
	mut="$T/$name"
	mkdir -p "$mut"
	# The target's name in the seed, so each target gets its own mutations.
	"$TOOLS/fuzz_mutate" $((SEED ^ $(cksum <<<"$name" | cut -d' ' -f1))) "$MUTATIONS" "$mut" "${seeds[@]}" ||
		fail "$name: fuzz_mutate failed"
	log="$T/$name.log"
	start=$EPOCHREALTIME
	if ! "$bin" -v "$corpora/$name" "$mut" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		# A leak is reported at exit, after the last input: one at a time
		# finds the input to blame whichever way it failed.
		bad=
		for f in "$corpora/$name"/* "$mut"/*; do
			"$bin" "$f" >/dev/null 2>&1 || { bad=$f; break; }
		done
		keep="$PED_BUILD/fuzz-smoke-failures/$name"
		mkdir -p "$keep"
		[ -n "$bad" ] && cp "$bad" "$keep/"
		fail "$name failed (crash, leak or sanitizer report) on ${bad:-no single input} (copy in $keep; replay: $bin FILE)"
	fi
	count=$(sed -n 's/^replay: \([0-9]*\) inputs$/\1/p' "$log")
	[ "$count" = $((${#seeds[@]} + MUTATIONS)) ] || fail "$name: replayed ${count:-?} inputs of $((${#seeds[@]} + MUTATIONS))"
	total=$((total + count))
	note "$name: $count inputs in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"
done
note "fuzz smoke: ${#names[@]} targets, $total inputs"
