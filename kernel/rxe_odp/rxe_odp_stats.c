// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: per-MR statistics for the rdma tool.
 *
 * The device's hw counters (patches 0004, 0006, 0007) say that ODP works;
 * these say which MR faults, is invalidated, is prefetched and how much of
 * it is mirrored, through restrack (patch 0013 hooks the two ops):
 *   rdma resource show mr -dd      the fill_res_mr_entry op: driver
 *                                  attributes of each ODP MR
 *   rdma statistic mr show         the fill_stat_mr_entry op: the same
 *                                  values as the MR's hw counters
 * Both with -j for JSON.  The counters (struct rxe_odp_stats) are bumped by
 * the lower layers where they do the slow work anyway; pages mirrored and
 * live chunks are read here, when asked.
 *
 * Context: both ops run in the netlink dump of the rdma tool, in process
 * context with a restrack reference on the MR, which holds off
 * ib_dereg_mr_user() (it waits for the reference before calling dereg_mr):
 * the MR and its ODP state stay alive throughout.
 */

#include <rdma/restrack.h>
#include <uapi/rdma/rdma_netlink.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* Names as the rdma tool prints them, in enum rxe_odp_stat order. */
static const char *const rxe_odp_stat_names[RXE_ODP_NR_STATS] = {
	[RXE_ODP_STAT_FAULTS] = "odp_faults",
	[RXE_ODP_STAT_PAGES_FAULTED] = "odp_pages_faulted",
	[RXE_ODP_STAT_INVALIDATIONS] = "odp_invalidations",
	[RXE_ODP_STAT_PAGES_INVALIDATED] = "odp_pages_invalidated",
	[RXE_ODP_STAT_PREFETCHES] = "odp_prefetches",
	[RXE_ODP_STAT_PAGES_PREFETCHED] = "odp_pages_prefetched",
	[RXE_ODP_STAT_CHUNKS_RELEASED] = "odp_chunks_released",
};

/* Whether a counter of enum rxe_odp_stat means something for this MR. */
static bool rxe_odp_stat_shown(struct rxe_odp_mr *odp, int stat)
{
	return stat != RXE_ODP_STAT_CHUNKS_RELEASED || odp->implicit;
}

/*
 * rxe_odp_fill_values - put every statistic of an ODP MR into a message
 * @msg: the netlink message
 * @odp: the MR's ODP state
 * @put: rdma_nl_put_driver_u64() or rdma_nl_stat_hwcounter_entry()
 *
 * Context: as the ops; takes children_rwsem for read
 * (rxe_odp_pages_mirrored()).
 * Return: 0, or -EMSGSIZE.
 */
static int rxe_odp_fill_values(struct sk_buff *msg, struct rxe_odp_mr *odp,
			       int (*put)(struct sk_buff *msg, const char *name,
					  u64 value))
{
	unsigned int children;
	unsigned long pages;
	int i;

	for (i = 0; i < RXE_ODP_NR_STATS; i++)
		if (rxe_odp_stat_shown(odp, i) &&
		    put(msg, rxe_odp_stat_names[i],
			atomic64_read(&odp->stats.count[i])))
			return -EMSGSIZE;

	pages = rxe_odp_pages_mirrored(odp, &children);
	if (put(msg, "odp_pages_mirrored", pages))
		return -EMSGSIZE;
	/* an explicit MR's chunks stay until dereg: shown, never released */
	if (odp->chunked && put(msg, "odp_chunks", children))
		return -EMSGSIZE;

	return 0;
}

/**
 * rxe_odp_fill_res_mr_entry - the fill_res_mr_entry device op
 * @msg: the netlink message of `rdma resource show mr`
 * @ibmr: an MR of the device
 *
 * For an ODP MR, a table of driver attributes: "odp" (explicit or
 * implicit) and the statistics; for any other MR, nothing.  The rdma tool
 * prints them with -dd.
 * Return: 0, or -EMSGSIZE (the core retries the MR in the next message).
 */
int rxe_odp_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct rxe_odp_mr *odp;
	struct nlattr *table;
	const char *kind;

	if (!rxe_mr_is_odp(mr))
		return 0;
	odp = rxe_odp_mr(mr);
	kind = odp->implicit ? "implicit" : "explicit";

	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_DRIVER);
	if (!table)
		return -EMSGSIZE;
	if (rdma_nl_put_driver_string(msg, "odp", kind) ||
	    rxe_odp_fill_values(msg, odp, rdma_nl_put_driver_u64))
		goto err_cancel_table;
	nla_nest_end(msg, table);

	return 0;

err_cancel_table:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}

/**
 * rxe_odp_fill_stat_mr_entry - the fill_stat_mr_entry device op
 * @msg: the netlink message of `rdma statistic mr show`
 * @ibmr: an MR of the device
 *
 * For an ODP MR, the statistics as hw counters; for any other MR, nothing.
 * Return: 0, or -EMSGSIZE.
 */
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct nlattr *table;

	if (!rxe_mr_is_odp(mr))
		return 0;

	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	if (rxe_odp_fill_values(msg, rxe_odp_mr(mr),
				rdma_nl_stat_hwcounter_entry))
		goto err_cancel_table;
	nla_nest_end(msg, table);

	return 0;

err_cancel_table:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
