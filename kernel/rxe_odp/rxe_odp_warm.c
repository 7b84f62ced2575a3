// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: the warm translations of an explicit MR - the
 * pages its last copies went through, so that a copy into pages already
 * mirrored costs what a pinned MR's does.
 *
 * A pinned MR's copy looks its page up in the MR's page xarray and copies.
 * Without this, a warm ODP copy also went through the umem of the page
 * (umem_mutex, range, page shift) and its dma_list, a vmalloc'ed array:
 * two more objects per packet, which measured about 3% of the one-way
 * latency of a small message under the testbed's TCG (odp_bench latency).
 * Here the MR's own ODP state keeps a few (page address -> struct page)
 * pairs, filled by a copy that found the page mirrored under its umem's
 * umem_mutex, and forgotten by every invalidation of the range under the
 * MR's warm_lock before it returns; a copy through them holds warm_lock,
 * so an invalidation never races it: it waits for the copy, and the CPU
 * page tables only change after the callback returns.
 *
 * The copy through them, rxe_odp_warm_copy(), is inline in rxe_odp_loc.h.
 *
 * Only explicit MRs (and HUGETLB ones) have them: an implicit MR's children
 * are released while the MR lives (ib_umem_odp_release() unmaps without the
 * invalidate callback), and its accesses hold children_rwsem anyway.
 */

#include <linux/spinlock.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/**
 * rxe_odp_warm_init - set up an MR's (empty) warm translations
 * @odp: the MR's ODP state, zeroed
 */
void rxe_odp_warm_init(struct rxe_odp_mr *odp)
{
	spin_lock_init(&odp->warm_lock);
}

/**
 * rxe_odp_warm_fill - remember the pages a copy went through
 * @odp: the MR's ODP state
 * @umem_odp: the umem that mirrors [@va, @va + @length), its umem_mutex held
 * @va: user virtual address of the copy
 * @length: its bytes, > 0
 *
 * Only pages mirrored now are remembered: holding umem_mutex, no
 * invalidation of them can be between its dma_list update and its
 * rxe_odp_warm_forget(), which takes the same umem_mutex first.
 * Context: rxe task; takes odp->warm_lock inside umem_mutex.
 */
void rxe_odp_warm_fill(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
		       u64 va, unsigned int length)
{
	const u64 rw = ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT;
	u64 pva, end = va + length;
	unsigned int offset;
	struct page *page;
	u64 tag;

	lockdep_assert_held(&umem_odp->umem_mutex);

	/* a packet's pages; a longer copy would only push them out */
	if (odp->implicit || ((end - 1) >> PAGE_SHIFT) - (va >> PAGE_SHIFT) >=
				     RXE_ODP_WARM_COPY_PAGES)
		return;

	spin_lock(&odp->warm_lock);
	for (pva = va & PAGE_MASK; pva < end; pva += PAGE_SIZE) {
		tag = pva | RXE_ODP_WARM_VALID | RXE_ODP_WARM_WRITABLE;
		page = __rxe_odp_page(umem_odp, pva, rw, &offset);
		if (!page) {
			tag &= ~(u64)RXE_ODP_WARM_WRITABLE;
			page = __rxe_odp_page(umem_odp, pva,
					      ODP_READ_ALLOWED_BIT, &offset);
		}
		if (!page)
			continue;
		rxe_odp_warm_slot(odp, pva)->page = page;
		rxe_odp_warm_slot(odp, pva)->tag = tag;
	}
	spin_unlock(&odp->warm_lock);
}

/**
 * rxe_odp_warm_forget - drop the translations of a range being invalidated
 * @odp: the MR's ODP state (NULL: an MR or a chunk not yet published,
 *	which nothing can have filled)
 * @umem_odp: the umem being invalidated, its umem_mutex held
 * @start: first user address of the range
 * @end: address after it
 *
 * Waits for a copy through them to finish (warm_lock), so the range's
 * pages are not used once the invalidate callback returns.
 * Context: the mmu notifier's invalidate callback, which may block.
 */
void rxe_odp_warm_forget(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
			 u64 start, u64 end)
{
	unsigned int i;
	u64 pva;

	lockdep_assert_held(&umem_odp->umem_mutex);

	if (!odp || odp->implicit)
		return;

	spin_lock(&odp->warm_lock);
	for (i = 0; i < RXE_ODP_WARM_PAGES; i++) {
		pva = odp->warm[i].tag & PAGE_MASK;
		if ((odp->warm[i].tag & RXE_ODP_WARM_VALID) && pva < end &&
		    pva + PAGE_SIZE > start)
			odp->warm[i].tag = 0;
	}
	spin_unlock(&odp->warm_lock);
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
