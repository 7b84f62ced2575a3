# Guest plan of the "odp" suite: our ODP C tests, perftest with --odp, and
# rdma-core's test_odp as Debian ships it.  Verdicts are RESULT lines.
. tests/lib/guest.sh
G=$RXE_GID_INDEX D=$RXE_DEV IP=$RXE_IP

# RFLAGS after cmpxchg16b on the CPU the testbed emulates
# (tests/testbed/cx16_flags.c): SKIP where the runner hides the instruction
# (QEMU before 8.0, which gets them wrong and double-faulted guests), FAIL
# when they are wrong.
if ! gcc -O2 -o /tmp/cx16_flags tests/testbed/cx16_flags.c; then
	result testbed/cx16_flags FAIL "does not build"
else
	echo "=== testbed/cx16_flags: /tmp/cx16_flags"
	timeout -k 5 60 /tmp/cx16_flags
	rc=$?
	case $rc in
	2) result testbed/cx16_flags SKIP "the guest CPU has no cmpxchg16b (the runner hides it on QEMU before 8.0)" ;;
	*) verdict testbed/cx16_flags 60 $rc ;;
	esac
fi

# Kernel text patching while every vCPU runs the patched code: a vCPU that
# ran a stale int3 oopsed guests on QEMU with a TCG thread per vCPU.
run_test_no_splat testbed/text_patching 120 bash tests/testbed/text_patching --seconds 20

bash tests/odp/guest-plan "$@"

# A peer's responses that fit no outstanding request (a read response with a
# NAK, an atomic ACK for a read, ...): each must fail its WQE; stock rxe
# completed it with success after a WARN (patch 0009).
run_test_no_splat fuzz/pkt_bad_responses 600 tests/fuzz/build/pkt_fuzz --only rc_response_bad \
	--seed 0x16 --seconds 30 --packets 0
# RDMA writes whose RETH says 0 bytes but that carry a payload: each must
# be refused as a length error; stock rxe copied the payload into no MR
# after a WARN (patch 0011).
run_test_no_splat fuzz/pkt_zero_length_writes_with_payload 600 tests/fuzz/build/pkt_fuzz \
	--only rc_write_zero_len --seed 0x11 --seconds 20 --packets 0
# The fuzzers, a minute each (the debug plan runs them itself, longer).
[ "${RXE_DEBUG_KERNEL:-0}" = 1 ] || bash tests/fuzz/guest-plan --seconds 60

# -F: perftest's clock calibration (TSC against gettimeofday, r^2 >= 0.9),
# done after the transfer, fails now and then in a loaded TCG guest (the
# debug kernel) and perftest then exits 1 with "Can't produce a report".
# These tests check that the transfers complete, not the figure.
for t in write_bw read_bw send_bw atomic_bw; do
	pair_test "perftest/ib_${t}_odp" 300 "ib_$t -d $D -x $G --odp -n 500 -F" "ib_$t -d $D -x $G --odp -n 500 -F $IP"
done

# Implicit ODP (one MR over the whole address space) at both ends, the
# received buffers checked (-c).
pair_test pingpong/rc_implicit_odp 120 "ibv_rc_pingpong -d $D -g $G -O -c" "ibv_rc_pingpong -d $D -g $G -O -c $IP"

# ODP with prefetch (ibv_advise_mr PREFETCH_WRITE, FLUSH) at both ends: the
# pair must pass, neither may report a failed prefetch, and the device must
# have counted both prefetches.
pf=/sys/class/infiniband/$D/ports/1/hw_counters/odp_prefetches
pf0=$(cat $pf 2>/dev/null || echo 0)
pair_test pingpong/rc_odp_prefetch 120 "ibv_rc_pingpong -d $D -g $G -o -P" "ibv_rc_pingpong -d $D -g $G -o -P $IP"
sleep 0.1
pf1=$(cat $pf 2>/dev/null || echo 0)
if grep -q "Couldn't prefetch" /tmp/pingpong_rc_odp_prefetch.server /tmp/pingpong_rc_odp_prefetch.client; then
	result pingpong/rc_odp_prefetch_advised FAIL "ibv_advise_mr failed in ibv_rc_pingpong"
elif [ $((pf1 - pf0)) -lt 2 ]; then
	result pingpong/rc_odp_prefetch_advised FAIL "odp_prefetches went from $pf0 to $pf1, not up by 2"
else
	result pingpong/rc_odp_prefetch_advised PASS
fi

# The rxe_odp tracepoints through perf record, perf trace, trace-cmd and
# bpftrace, as users read them; not on the debug kernel, which has no bpf()
# and is not what users trace (its lockdep sees tests/odp/tracepoints).
[ "${RXE_DEBUG_KERNEL:-0}" = 1 ] || bash tests/odp/trace-tools || result odp/trace_tools FAIL "exit $?"

tests/peers/pyverbs test_odp

# UCX (ucx_perftest, rc_v and ud_v) and Open MPI (tests/mpi/mpi_check) over
# rxe0 in this guest, with and without ODP, the ODP counters checked; about
# 5 minutes on TCG.  Not on the debug kernel (not tried there: its data path
# would take these 1 MiB runs past their deadlines).
[ "${RXE_DEBUG_KERNEL:-0}" = 1 ] || bash tests/mpi/guest-plan

# Last: it deletes and re-adds the device (and reloads rdma_rxe).
run_test odp/prefetch_link_delete 1800 bash tests/odp/prefetch-link-delete 20
exit 0
