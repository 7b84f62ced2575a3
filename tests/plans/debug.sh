# Guest plan of the "debug" suite: on the debug kernel, the drop-in plan, the
# fuzzers (tests/fuzz) and the ODP plan in one boot; the runner fails the run
# on any lockdep, KASAN, kmemleak, list-corruption or hung-task report in the
# kernel log.  --fuzz-seconds N (first) sets each fuzzer's run (default 120);
# the other arguments go to the ODP plan.
fuzz_seconds=120
if [ "${1:-}" = --fuzz-seconds ]; then
	fuzz_seconds=${2:?--fuzz-seconds needs a number}
	shift 2
fi
bash tests/plans/baseline.sh
bash tests/fuzz/guest-plan --seconds "$fuzz_seconds"
bash tests/plans/odp.sh "$@"
