# Guest plan "smoke", for every matrix kernel besides the default one
# (tests/testbed/run --kernel KVER --script tests/plans/smoke.sh): our
# rdma_rxe is the module loaded, the device advertises ODP, and the lazy and
# ops_absent tests pass.  Verdicts are RESULT lines.
. tests/lib/guest.sh

mod=$(cat /sys/module/rdma_rxe/version 2>/dev/null)
case $mod in
*-odp) result smoke/module_is_ours PASS ;;
*) result smoke/module_is_ours FAIL "rdma_rxe version '${mod:-none}' on $(uname -r)" ;;
esac
if ibv_devinfo -d "$RXE_DEV" -v | grep -q 'ODP_SUPPORT$\|ON_DEMAND'; then
	result smoke/odp_caps PASS
else
	result smoke/odp_caps FAIL "ibv_devinfo -v shows no ODP caps on $RXE_DEV"
fi
bash tests/odp/guest-plan --only lazy --only ops_absent
exit 0
