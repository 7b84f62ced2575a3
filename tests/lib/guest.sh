# Helpers for guest plans (sourced inside the testbed guest).
# Each test prints one line "RESULT NAME PASS|FAIL|SKIP [reason]", also kept
# in $RXE_OUT/results.txt, which tests/lib/summary reads on the host.
# shellcheck shell=bash

: "${RXE_DEV:?not in the testbed guest}" "${RXE_GID_INDEX:?}" "${RXE_IP:?}" "${RXE_OUT:?}"
RESULTS=$RXE_OUT/results.txt

result() { # NAME STATUS [REASON]
	echo "RESULT $1 $2${3:+ $3}" | tee -a "$RESULTS"
}

# verdict NAME SECONDS RC: the RESULT of a command run under timeout SECONDS.
verdict() {
	if [ "$3" = 0 ]; then
		result "$1" PASS
	elif [ "$3" = 124 ]; then
		result "$1" FAIL "timeout after ${2}s"
	else
		result "$1" FAIL "exit $3"
	fi
}

# run_test NAME SECONDS CMD...: PASS when CMD exits 0 within SECONDS.
run_test() {
	local name=$1 secs=$2
	shift 2
	echo "=== $name: $*"
	timeout -k 5 "$secs" "$@"
	verdict "$name" "$secs" $?
}

# run_test_no_splat NAME SECONDS CMD...: as run_test, and FAIL too when the
# kernel logged a WARNING, BUG or Oops meanwhile (for what only shows there).
run_test_no_splat() {
	local name=$1 secs=$2 pat='WARNING:\|BUG:\|Oops' n0 new rc
	shift 2
	n0=$(dmesg | grep -c "$pat")
	echo "=== $name: $*"
	timeout -k 5 "$secs" "$@"
	rc=$?
	new=$(dmesg | grep "$pat" | tail -n +$((n0 + 1)) | head -n 1)
	if [ -n "$new" ]; then
		result "$name" FAIL "kernel: $new"
	else
		verdict "$name" "$secs" $rc
	fi
}

# pair_test NAME SECONDS "SERVER CMD" "CLIENT CMD": a client/server pair on
# rxe0; PASS when both exit 0.
pair_test() {
	local name=$1 secs=$2 srv=$3 cli=$4 spid rc_s rc_c log
	log=/tmp/${name//\//_}
	echo "=== $name: server: $srv"
	echo "=== $name: client: $cli"
	timeout -k 5 "$secs" bash -c "$srv" >"$log.server" 2>&1 &
	spid=$!
	sleep "${PAIR_DELAY:-2}"
	timeout -k 5 "$secs" bash -c "$cli" >"$log.client" 2>&1
	rc_c=$?
	wait $spid
	rc_s=$?
	pair_verdict "$name" "$log" $rc_s $rc_c server client
}

# pair_verdict NAME LOG RC_SERVER RC_CLIENT SERVER CLIENT: shows LOG.server
# and LOG.client under the labels SERVER and CLIENT (their tails, or all of
# it on failure: the error, on stderr, comes before the buffered stdout)
# and the RESULT: PASS when both exit codes are 0.
pair_verdict() {
	local n=15
	[ "$3" = 0 ] && [ "$4" = 0 ] || n=400
	sed "s/^/  $5| /" "$2.server" | tail -n $n
	sed "s/^/  $6| /" "$2.client" | tail -n $n
	if [ "$3" = 0 ] && [ "$4" = 0 ]; then
		result "$1" PASS
	else
		result "$1" FAIL "$5 exit $3, $6 exit $4"
	fi
}
