# Guest plan of the "debug" suite: on the debug kernel, the drop-in plan, the
# fuzzers (tests/fuzz) and the ODP plan in one boot; the runner fails the run
# on any lockdep, KASAN, kmemleak, list-corruption or hung-task report in the
# kernel log.  --fuzz-seconds N sets each fuzzer's run (default 120);
# --no-baseline leaves out the drop-in plan (CI's short form); both come
# first, the other arguments go to the ODP plan.
fuzz_seconds=120 baseline=1
while [ $# -gt 0 ]; do
	case $1 in
	--fuzz-seconds) fuzz_seconds=${2:?--fuzz-seconds needs a number}; shift 2 ;;
	--no-baseline) baseline=0; shift ;;
	*) break ;;
	esac
done
[ $baseline = 0 ] || bash tests/plans/baseline.sh
bash tests/fuzz/guest-plan --seconds "$fuzz_seconds"
bash tests/plans/odp.sh "$@"
