# Guest plan of ./demo: our rdma_rxe with ODP at work.
set -e
D=$RXE_DEV G=$RXE_GID_INDEX
echo "== kernel $(uname -r); rdma_rxe $(modinfo -F version rdma_rxe) from $(modinfo -n rdma_rxe)"
echo "== rxe0 on $RXE_IP, RoCEv2 GID index $G"
echo "== ODP capabilities (ibv_devinfo -v)"
ibv_devinfo -v -d "$D" | sed -n '/odp_caps/,/completion_timestamp_mask\|xrc_odp_caps/p'
counters() { grep -H . /sys/class/infiniband/$D/ports/1/hw_counters/odp_* 2>/dev/null | sed 's|.*/||'; }
echo "== ODP counters before"
counters
echo "== ib_write_bw --odp: 64 KiB writes into on-demand-paged memory"
ib_write_bw -d "$D" -x "$G" --odp -s 65536 -n 500 >/tmp/srv.log 2>&1 &
sleep 2
ib_write_bw -d "$D" -x "$G" --odp -s 65536 -n 500 "$RXE_IP" | sed -n '/#bytes/,$p'
wait
echo "== ODP counters after (faults taken lazily while the transfer ran)"
counters
