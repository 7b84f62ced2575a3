# Helpers for plans of the two-host testbed (tests/testbed/run --hosts 2),
# sourced on hosta after tests/lib/guest.sh.  The peer (hostb) is reached by
# ssh with the key the runner made for the run.
# shellcheck shell=bash

: "${RXE_PEER:?not on hosta of the two-host testbed (tests/testbed/run --hosts 2)}"

# on_peer CMD...: CMD (one shell string) on the peer, in /repo, with the
# peer's RXE_* environment; its exit code.
on_peer() {
	ssh "$RXE_PEER" ". /etc/testbed.env; cd /repo && $*"
}

# link_netem SPEC|off: tc netem SPEC (e.g. "loss 1% delay 2ms 1ms reorder
# 10%") on both ends of the link, or none; 0 when both took it.
link_netem() {
	local q
	if [ "$1" = off ]; then
		q="tc qdisc del dev $RXE_NETDEV root 2>/dev/null; true"
	else
		q="tc qdisc replace dev $RXE_NETDEV root netem $1"
	fi
	bash -c "$q" && on_peer "$q" || return 1
	echo "  link: $(tc qdisc show dev "$RXE_NETDEV" | head -n 1) (both ends)"
}

# peer_pair_run LOG SECONDS PORT "SERVER CMD" "CLIENT CMD": a server on the
# peer (its output in LOG.server) and a client here (LOG.client), started
# once the peer listens on TCP PORT (up to 120 s); their exit codes in
# PAIR_RC_S and PAIR_RC_C.
peer_pair_run() {
	local log=$1 secs=$2 port=$3 spid i
	on_peer "timeout -k 5 $secs $4" >"$log.server" 2>&1 &
	spid=$!
	for i in $(seq 240); do
		on_peer "ss -Hltn 'sport = :$port' | grep -q ." && break
		kill -0 $spid 2>/dev/null || break
		sleep 0.5
	done
	timeout -k 5 "$secs" bash -c "$5" >"$log.client" 2>&1
	PAIR_RC_C=$?
	wait $spid
	PAIR_RC_S=$?
}

# peer_pair_test NAME SECONDS PORT "SERVER CMD" "CLIENT CMD": peer_pair_run
# and its RESULT: PASS when both exit 0.
peer_pair_test() {
	local name=$1 log=/tmp/${1//\//_}
	echo "=== $name: hostb: $4"
	echo "=== $name: hosta: $5"
	peer_pair_run "$log" "$2" "$3" "$4" "$5"
	pair_verdict "$name" "$log" $PAIR_RC_S $PAIR_RC_C hostb hosta
}

# netpipe_clean LOG: NetPIPE's integrity mode (-i) passed in LOG and
# reported no failure.
netpipe_clean() {
	grep -q 'Integrity check passed' "$1" && ! grep -q 'Integrity check failed' "$1"
}

# counter HOST NAME: an rxe0 hw counter on this host (here) or the peer (peer).
counter() {
	local f=/sys/class/infiniband/$RXE_DEV/ports/1/hw_counters/$2
	if [ "$1" = here ]; then
		cat "$f" 2>/dev/null || echo 0
	else
		on_peer "cat $f 2>/dev/null || echo 0"
	fi
}
