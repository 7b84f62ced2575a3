# Guest plan of ./demo: our rdma_rxe with ODP at work.
set -e
D=$RXE_DEV G=$RXE_GID_INDEX IP=$RXE_IP
echo "== kernel $(uname -r); rdma_rxe $(modinfo -F version rdma_rxe) from $(modinfo -n rdma_rxe)"
echo "== provider: $(dpkg-query -W -f '${Package} ${Version}' rxe-odp-provider 2>/dev/null || echo stock)"
echo "== rxe0 on $IP, RoCEv2 GID index $G"
echo "== ODP capabilities (ibv_devinfo -v)"
ibv_devinfo -v -d "$D" | sed -n '/general_odp_caps/,/completion_timestamp_mask\|xrc_odp_caps/p'
counters() {
	sleep 0.1 # the core caches hw_counters for a few ms
	for f in /sys/class/infiniband/$D/ports/1/hw_counters/odp_*; do
		printf '  %-32s %s
' "${f##*/}" "$(cat "$f")"
	done
}
# pair SERVER-ARGS... : runs "$@" as server and "$@ $IP" as client.
pair() {
	"$@" >/tmp/server.log 2>&1 &
	sleep 2
	"$@" "$IP"
	wait $! || { cat /tmp/server.log; return 1; }
}
echo "== ODP counters before"
counters
echo
echo "== ib_write_bw --odp: 64 KiB writes into on-demand-paged memory"
pair ib_write_bw -d "$D" -x "$G" --odp -s 65536 -n 500 -F | sed -n '/#bytes/,/^-*$/p'
echo "== ibv_rc_pingpong -O: implicit ODP, one MR for the whole address space"
pair ibv_rc_pingpong -d "$D" -g "$G" -O -c -n 100 | grep -v address
echo "== ibv_rc_pingpong -o -P: ODP with prefetch (ibv_advise_mr)"
pair ibv_rc_pingpong -d "$D" -g "$G" -o -P -n 100 | grep -v address
echo "== Open MPI + UCX over rxe0 with ODP: NetPIPE (NPopenmpi), two ranks, 64 KiB..1 MiB"
faulted0=$(cat /sys/class/infiniband/$D/ports/1/hw_counters/odp_pages_faulted)
mpirun --allow-run-as-root --oversubscribe -np 2 --mca pml ucx --mca osc ucx \
	--mca btl '^vader,sm,tcp' -x UCX_TLS=self,rc_v -x "UCX_NET_DEVICES=$D:1" \
	-x UCX_REG_NONBLOCK_MEM_TYPES=host -x UCX_RNDV_THRESH=16384 -x UCX_RNDV_SCHEME=get_zcopy \
	NPopenmpi -l 65536 -u 1048576 -p 0 -o /tmp/np.out 2>&1 | grep -e '-->'
sleep 0.1
echo "   odp_pages_faulted +$(($(cat /sys/class/infiniband/$D/ports/1/hw_counters/odp_pages_faulted) - faulted0)) during the MPI run"
echo
echo "== ODP counters after: faults taken lazily, prefetches, invalidations"
counters
