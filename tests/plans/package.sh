# Guest plan of tests/testbed/package-path: checks the module and provider a
# user has after installing our packages (arg "installed") or purging them
# (arg "purged").  Verdicts are RESULT lines named package/<NAME>/..., NAME
# the second arg or else the state.  PROVIDER (third arg): "ours" (default;
# rxe-odp-provider installed) or "stock" (the distribution's).  ODP_TEST
# (fourth): "lazy" (default; tests/odp's, built for Debian 13) or
# "pingpong" (ibv_rc_pingpong with ODP and with implicit ODP, and with
# prefetch when the provider is ours: any Debian).
. tests/lib/guest.sh
state=${1:?installed or purged}
p=package/${2:-$state}
provider=${3:-ours}
odp_test=${4:-lazy}
case $provider in ours) want_so=rxe-odp-provider ;; stock) want_so=ibverbs-providers ;; *) echo "package.sh: PROVIDER must be ours or stock" >&2; exit 2 ;; esac
ver=$(cat /sys/module/rdma_rxe/version 2>/dev/null)
path=$(modinfo -n rdma_rxe)
so=/usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so
# Who ships the file there now: the package that diverted the stock one
# away, if any, else the one dpkg says owns it.
diverter=$(dpkg-divert --listpackage "$so" 2>/dev/null)
if [ -n "$diverter" ]; then
	owner=$diverter
	dpkg -L "$diverter" 2>/dev/null | grep -qx "$so" || owner="$diverter (diverts it but does not ship it)"
else
	owner=$(dpkg -S "$so" 2>/dev/null | cut -d: -f1)
fi
odp=0
ibv_devinfo -d "$RXE_DEV" -v | grep -q 'ODP_SUPPORT$\|ON_DEMAND' && odp=1
echo "rdma_rxe '$ver' from $path; $so from '$owner'; ODP caps: $odp"
if [ "$state" = installed ]; then
	case $ver:$path in
	*-odp:*/updates/dkms/*) result $p/module_from_dkms PASS ;;
	*) result $p/module_from_dkms FAIL "rdma_rxe '$ver' from $path" ;;
	esac
	[ "$owner" = "$want_so" ] && result $p/provider PASS ||
		result $p/provider FAIL "$so belongs to '$owner', not $want_so"
	[ $odp = 1 ] && result $p/odp_caps PASS || result $p/odp_caps FAIL "no ODP caps on $RXE_DEV"
	c=/sys/class/infiniband/$RXE_DEV/ports/1/hw_counters/odp_faults
	f0=$(cat $c 2>/dev/null || echo none)
	if [ "$odp_test" = lazy ]; then
		bash tests/odp/guest-plan --only lazy
	else
		D=$RXE_DEV G=$RXE_GID_INDEX
		pair_test $p/rc_pingpong_odp 120 "ibv_rc_pingpong -d $D -g $G -o -c" "ibv_rc_pingpong -d $D -g $G -o -c $RXE_IP"
		pair_test $p/rc_pingpong_implicit_odp 120 "ibv_rc_pingpong -d $D -g $G -O -c" "ibv_rc_pingpong -d $D -g $G -O -c $RXE_IP"
		if [ "$provider" = ours ]; then
			pf=/sys/class/infiniband/$D/ports/1/hw_counters/odp_prefetches
			pf0=$(cat $pf 2>/dev/null || echo 0)
			pair_test $p/rc_pingpong_odp_prefetch 120 "ibv_rc_pingpong -d $D -g $G -o -P" "ibv_rc_pingpong -d $D -g $G -o -P $RXE_IP"
			sleep 0.1
			pf1=$(cat $pf 2>/dev/null || echo 0)
			if grep -q "Couldn't prefetch" /tmp/package_*rc_pingpong_odp_prefetch.server /tmp/package_*rc_pingpong_odp_prefetch.client 2>/dev/null; then
				result $p/prefetch_advised FAIL "ibv_advise_mr failed in ibv_rc_pingpong"
			elif [ $((pf1 - pf0)) -lt 2 ]; then
				result $p/prefetch_advised FAIL "odp_prefetches went from $pf0 to $pf1, not up by 2"
			else
				result $p/prefetch_advised PASS
			fi
		fi
	fi
	f1=$(cat $c 2>/dev/null || echo none)
	if [ "$f0" != none ] && [ "$f1" -gt "$f0" ]; then
		result $p/odp_counters PASS
	else
		result $p/odp_counters FAIL "odp_faults went from $f0 to $f1"
	fi
else
	case $ver:$path in
	*-odp:* | *:*/updates/*) result $p/module_stock FAIL "rdma_rxe '$ver' from $path" ;;
	*) result $p/module_stock PASS ;;
	esac
	[ "$owner" = "ibverbs-providers" ] && result $p/provider_stock PASS ||
		result $p/provider_stock FAIL "$so belongs to '$owner'"
	[ $odp = 0 ] && result $p/no_odp_caps PASS || result $p/no_odp_caps FAIL "ODP caps on $RXE_DEV"
fi
exit 0
