#!/bin/bash
# make reliability: every fuzz target for FUZZ_SECONDS, then each fault,
# hostile-relay, capture, network, endurance, brute-force and fake-HSM script; one
# table and one summary line (docs/security.md explains each figure).
#
# Each script ends with "result: key=value ..." lines; figures of the same
# key add up. A script that exits 77 was skipped (its last line says why)
# and counts as nothing; any other non-zero exit fails the run.
# Usage: reliability.sh BUILD   (FUZZ_SECONDS, default 20; ROUNDS, default 20:
# rounds per fault and hostile-relay case, each at a random point)
set -u
export ROUNDS=${ROUNDS:-20}
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export PED_BUILD="$top/$build" PED_SRCDIR="$top"
logdir="$top/$build/reliability-logs"
rm -rf "$logdir"
mkdir -p "$logdir"

declare -A SUM
keys="decoders execs crashes faults survived relay_cases csp_accepted secrets_in_capture net_cases net_passed logins fd_growth rss_growth_kib brute_cases brute_exact data_lost"
keys+=" fake_hsm_attacks attack_splits attack_csps attack_logins attack_written rpk_checks rpk_lost crack_s crack_range_s crack_range_cpu_s"
for k in $keys; do SUM[$k]=0; done
failed=() skipped=()

# collect NAME LOG: adds the log's result lines to the sums
collect() {
	local line kv k v
	while read -r line; do
		for kv in ${line#result: }; do
			k=${kv%%=*} v=${kv#*=}
			[[ $v =~ ^[0-9]+$ ]] || continue
			# growth is the worst of any run, not a sum
			case $k in
			fd_growth|rss_growth_kib) [ "$v" -gt "${SUM[$k]:-0}" ] && SUM[$k]=$v ;;
			*) SUM[$k]=$(( ${SUM[$k]:-0} + v )) ;;
			esac
		done
	done < <(grep '^result: ' "$2")
}

# run NAME COMMAND...: one part of the run, its output kept in a log
run() {
	local name=$1 log="$logdir/${1//\//_}.log" start=$EPOCHREALTIME rc secs
	shift
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
	case $rc in
	0) printf 'PASS  %-32s %5ss  %s\n' "$name" "$secs" "$(grep '^result: ' "$log" | sed 's/^result: //' | tr '\n' ' ')" ;;
	77) skipped+=("$name"); printf 'SKIP  %-32s %s\n' "$name" "$(tail -n 1 "$log")"; return ;;
	*) failed+=("$name"); printf 'FAIL  %-32s %5ss  (exit %d) log: %s\n' "$name" "$secs" "$rc" "$log"
	   tail -n 15 "$log" | sed 's/^/      | /' ;;
	esac
	collect "$name" "$log"
}

echo "== make reliability (fuzz ${FUZZ_SECONDS:-20} s per target, $ROUNDS rounds per case; logs in $logdir)"
run fuzz make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
shopt -s nullglob
for t in tests/faults/*.sh tests/reliability/*.sh; do
	case $t in *_lib.sh) continue ;; esac
	n=${t#tests/}
	run "${n%.sh}" bash "$t"
done

s() { echo "${SUM[$1]}"; }
echo
printf '%-44s %s\n' "decoders fuzzed / executions / crashes" "$(s decoders) / $(s execs) / $(s crashes)"
printf '%-44s %s\n' "faults injected / survived / data lost" "$(s faults) / $(s survived) / $(s data_lost)"
printf '%-44s %s\n' "hostile-relay cases / CSP accepted" "$(s relay_cases) / $(s csp_accepted)"
printf '%-44s %s\n' "secrets found in the capture" "$(s secrets_in_capture)"
printf '%-44s %s\n' "hostile-network cases / passed" "$(s net_cases) / $(s net_passed)"
printf '%-44s %s\n' "endurance logins / fd growth / RSS growth KiB" "$(s logins) / $(s fd_growth) / $(s rss_growth_kib)"
printf '%-44s %s\n' "brute-force lockouts / exact" "$(s brute_cases) / $(s brute_exact)"
printf '%-44s %s\n' "fake-HSM attacks / splits / CSPs / logins" \
	"$(s fake_hsm_attacks) / $(s attack_splits) / $(s attack_csps) / $(s attack_logins)"
printf '%-44s %s\n' "fake-HSM RPK checks / RPK lost" "$(s rpk_checks) / $(s rpk_lost)"
printf '%-44s %s\n' "password search s: found / all 10^8 / CPU" \
	"$(s crack_s) / $(s crack_range_s) / $(s crack_range_cpu_s)"
[ ${#skipped[@]} -gt 0 ] && echo "skipped: ${skipped[*]}"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "reliability: decoders=$(s decoders) execs=$(s execs) crashes=$(s crashes) faults=$(s faults)" \
	"survived=$(s survived) relay_cases=$(s relay_cases) csp_accepted=$(s csp_accepted)" \
	"secrets_in_capture=$(s secrets_in_capture) logins=$(s logins) fd_growth=$(s fd_growth)" \
	"rss_growth_kib=$(s rss_growth_kib) data_lost=$(s data_lost) attack_splits=$(s attack_splits)" \
	"attack_csps=$(s attack_csps) attack_logins=$(s attack_logins) rpk_lost=$(s rpk_lost)"
[ ${#failed[@]} -eq 0 ] && [ "$(s crashes)" -eq 0 ] && [ "$(s csp_accepted)" -eq 0 ] &&
	[ "$(s secrets_in_capture)" -eq 0 ] && [ "$(s data_lost)" -eq 0 ] && [ "$(s survived)" -eq "$(s faults)" ] &&
	[ "$(s fd_growth)" -eq 0 ] && [ "$(s attack_splits)" -eq 0 ] && [ "$(s attack_csps)" -eq 0 ] &&
	[ "$(s attack_logins)" -eq 0 ] && [ "$(s rpk_lost)" -eq 0 ]
