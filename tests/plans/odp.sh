# Guest plan of the "odp" suite: our ODP C tests, perftest with --odp, and
# rdma-core's test_odp as Debian ships it.  Verdicts are RESULT lines.
. tests/lib/guest.sh
G=$RXE_GID_INDEX D=$RXE_DEV IP=$RXE_IP

bash tests/odp/guest-plan "$@"

for t in write_bw read_bw send_bw atomic_bw; do
	pair_test "perftest/ib_${t}_odp" 300 "ib_$t -d $D -x $G --odp -n 500" "ib_$t -d $D -x $G --odp -n 500 $IP"
done

tests/peers/pyverbs test_odp
exit 0
