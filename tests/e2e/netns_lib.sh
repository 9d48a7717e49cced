# Hosts as network namespaces for the e2e suites that cross a network
# (sourced after lib.sh). Skips with the reason where they cannot be made.
#
#   netns_hosts NAME...        make the namespaces (lo up); removed at exit,
#                              after _cleanup (and after netns_before_cleanup,
#                              if the suite defines one)
#   netns_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B
#                              a veth pair between two of them, /24 each, up

netns_hosts() {
	local n made=()
	[ "$(id -u)" = 0 ] || skip "network namespaces need root"
	command -v ip >/dev/null || skip "no ip command (iproute2)"
	for n in "$@"; do
		if ! ip netns add "$n" 2>/dev/null; then
			for m in "${made[@]}"; do ip netns del "$m"; done
			skip "cannot create network namespace ${#made[@]} of $# here"
		fi
		made+=("$n")
	done
	NETNS_MADE=("$@")
	trap netns_exit EXIT
	for n in "$@"; do ip -n "$n" link set lo up; done
}

netns_exit() {
	local n
	! declare -F netns_before_cleanup >/dev/null || netns_before_cleanup
	_cleanup
	for n in "${NETNS_MADE[@]}"; do ip netns del "$n" 2>/dev/null; done
}

netns_link() {
	ip link add "$2" type veth peer name "$5"
	ip link set "$2" netns "$1"
	ip link set "$5" netns "$4"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$4" addr add "$6/24" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}
