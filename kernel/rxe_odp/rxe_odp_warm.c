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
 * umem_mutex, and forgotten by every invalidation of the range before it
 * returns.  A copy through them takes no lock: it is an RCU-sched reader
 * (preemption off, no call), and an invalidation that forgot a translation
 * waits for a grace period, so it never races a copy: it waits for it, and
 * the CPU page tables only change after the callback returns.  warm_lock
 * orders the writers (fills and invalidations of different umems of one
 * MR).  A lock taken by every copy cost warm small messages about a
 * percent under the testbed's TCG (issue 20).
 *
 * The copy through them, rxe_odp_warm_copy(), is inline in rxe_odp_loc.h.
 *
 * Only explicit MRs (and HUGETLB ones) have them: an implicit MR's children
 * are released while the MR lives (ib_umem_odp_release() unmaps without the
 * invalidate callback), and its accesses hold children_rwsem anyway.
 */

#include <linux/rcupdate.h>
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
 * rxe_odp_warm_forget(), which takes the same umem_mutex first.  A slot
 * that changes is emptied first, so that a copy reading it sees the tag
 * change around the page (rxe_odp_warm_copy()).
 * Context: rxe task; takes odp->warm_lock inside umem_mutex.
 */
void rxe_odp_warm_fill(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
		       u64 va, unsigned int length)
{
	const u64 rw = ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT;
	struct rxe_odp_warm_page *slot;
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
		slot = rxe_odp_warm_slot(odp, pva);
		if (slot->tag == tag && slot->page == page)
			continue;
		WRITE_ONCE(slot->tag, 0);
		smp_wmb(); /* pairs with rxe_odp_warm_copy(): empty, then page */
		WRITE_ONCE(slot->page, page);
		smp_wmb(); /* pairs with rxe_odp_warm_copy(): page, then tag */
		WRITE_ONCE(slot->tag, tag);
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
 * Waits for the copies that may have read them to finish (a grace period,
 * only when a translation was dropped), so the range's pages are not used
 * once the invalidate callback returns.
 * Context: the mmu notifier's invalidate callback, which may block; takes
 * odp->warm_lock inside umem_mutex, and sleeps after dropping it.
 */
void rxe_odp_warm_forget(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
			 u64 start, u64 end)
{
	bool dropped = false;
	unsigned int i;
	u64 pva;

	lockdep_assert_held(&umem_odp->umem_mutex);

	if (!odp || odp->implicit)
		return;

	spin_lock(&odp->warm_lock);
	for (i = 0; i < RXE_ODP_WARM_PAGES; i++) {
		pva = odp->warm[i].tag & PAGE_MASK;
		if ((odp->warm[i].tag & RXE_ODP_WARM_VALID) && pva < end &&
		    pva + PAGE_SIZE > start) {
			WRITE_ONCE(odp->warm[i].tag, 0);
			dropped = true;
		}
	}
	spin_unlock(&odp->warm_lock);

	/* a copy that read the translation before it was dropped is done */
	if (dropped)
		synchronize_rcu();
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
