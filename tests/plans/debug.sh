# Guest plan of the "debug" suite: on the debug kernel, the drop-in plan and
# the ODP plan in one boot; the runner fails the run on any lockdep, KASAN,
# kmemleak, list-corruption or hung-task report in the kernel log.
bash tests/plans/baseline.sh
bash tests/plans/odp.sh "$@"
