/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-Demand Paging for rxe: what the hooks in upstream rxe call.
 */

#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <rdma/ib_umem_odp.h>

#include "rxe.h"

/*
 * Per-transport ODP capability bits that 6.12 lacks; same values as the
 * later kernels that define them.
 */
#ifndef IB_ODP_SUPPORT_FLUSH
#define IB_ODP_SUPPORT_FLUSH BIT(6)
#endif
#ifndef IB_ODP_SUPPORT_ATOMIC_WRITE
#define IB_ODP_SUPPORT_ATOMIC_WRITE BIT(7)
#endif

/* Serialises rxe's 8-byte atomics (rxe_mr.c); ODP atomics take it too. */
extern spinlock_t rxe_atomic_ops_lock;

/* An ODP MR is one whose umem is an ib_umem_odp: nothing is pinned. */
static inline bool rxe_mr_is_odp(struct rxe_mr *mr)
{
	return IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING) && mr->umem &&
	       mr->umem->is_odp;
}

/* Access flags a user MR may ask for: huge pages only with ODP. */
static inline int rxe_mr_supported_access(int access)
{
	if (IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING) &&
	    (access & IB_ACCESS_ON_DEMAND))
		return RXE_ACCESS_SUPPORTED_MR | IB_ACCESS_HUGETLB;

	return RXE_ACCESS_SUPPORTED_MR;
}

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

void rxe_odp_init_caps(struct rxe_dev *rxe);
int rxe_odp_check_reg(u64 start, u64 length, u64 iova, int access);
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length, int access,
			 struct rxe_mr *mr);
void rxe_odp_mr_release(struct rxe_mr *mr);
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir);
int rxe_odp_mr_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
			 u64 swap_add, u64 *orig_val);
int rxe_odp_mr_atomic_write(struct rxe_mr *mr, u64 iova, u64 value);
int rxe_odp_flush_pmem_iova(struct rxe_mr *mr, u64 iova, unsigned int length);

/* rxe_odp_prefetch.c: prefetch */
int rxe_odp_advise_mr(struct ib_pd *ibpd,
		      enum ib_uverbs_advise_mr_advice advice, u32 flags,
		      struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs);
void rxe_odp_prefetch_cancel_mr(struct rxe_mr *mr);
int rxe_odp_advise_init(void);
void rxe_odp_advise_exit(void);

#else /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */

/*
 * Without ODP in the kernel the device advertises none, registration says
 * so, and rxe_mr_is_odp() is false so that nothing else is reached.
 */
static inline void rxe_odp_init_caps(struct rxe_dev *rxe)
{
}

static inline int rxe_odp_check_reg(u64 start, u64 length, u64 iova, int access)
{
	return 0;
}

static inline int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start,
				       u64 length, int access,
				       struct rxe_mr *mr)
{
	rxe_dbg_mr(mr,
		   "kernel built without CONFIG_INFINIBAND_ON_DEMAND_PAGING\n");
	return -EOPNOTSUPP;
}

static inline void rxe_odp_mr_release(struct rxe_mr *mr)
{
}

static inline int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
				  unsigned int length, enum rxe_mr_copy_dir dir)
{
	return -EOPNOTSUPP;
}

static inline int rxe_odp_mr_atomic_op(struct rxe_mr *mr, u64 iova, int opcode,
				       u64 compare, u64 swap_add, u64 *orig_val)
{
	return RESPST_ERR_RKEY_VIOLATION;
}

static inline int rxe_odp_mr_atomic_write(struct rxe_mr *mr, u64 iova,
					  u64 value)
{
	return RESPST_ERR_RKEY_VIOLATION;
}

static inline int rxe_odp_flush_pmem_iova(struct rxe_mr *mr, u64 iova,
					  unsigned int length)
{
	return -EOPNOTSUPP;
}

static inline int rxe_odp_advise_mr(struct ib_pd *ibpd,
				    enum ib_uverbs_advise_mr_advice advice,
				    u32 flags, struct ib_sge *sg_list,
				    u32 num_sge,
				    struct uverbs_attr_bundle *attrs)
{
	return -EOPNOTSUPP;
}

static inline void rxe_odp_prefetch_cancel_mr(struct rxe_mr *mr)
{
}

static inline int rxe_odp_advise_init(void)
{
	return 0;
}

static inline void rxe_odp_advise_exit(void)
{
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */

/*
 * rxe_odp_stats.c: per-MR statistics for the rdma tool.  A build with
 * RXE_ODP_MR_STATS=n (Kbuild) leaves them out, for perftest-scripts' A/B
 * of the warm path with and without them.
 */
#if defined(CONFIG_INFINIBAND_ON_DEMAND_PAGING) && !defined(RXE_ODP_NO_MR_STATS)
int rxe_odp_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);
#else
static inline int rxe_odp_fill_res_mr_entry(struct sk_buff *msg,
					    struct ib_mr *ibmr)
{
	return 0;
}

static inline int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg,
					     struct ib_mr *ibmr)
{
	return 0;
}
#endif

#endif /* RXE_ODP_H */
