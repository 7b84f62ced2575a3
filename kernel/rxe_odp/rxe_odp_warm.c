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
 * returns.
 *
 * A copy through them takes no lock (a lock taken by every copy cost warm
 * small messages about a percent under the testbed's TCG: issue 20).  It
 * reads the slots and copies as one RCU-sched read section, and uses what
 * it read only if no fill changed the slots meanwhile (odp->warm_seq).
 * An invalidation waits for a grace period, and so for every copy that
 * may still use one of its pages, when it dropped a slot of its range or
 * when a fill replaced a slot since the last grace period that followed
 * such a replacement: a copy can have read the replaced translation, of
 * any page, just before (odp->warm_evictions, odp->warm_synced).  The CPU
 * page tables only change after the invalidate callback returns, so no
 * copy races them.  warm_lock orders the writers (fills and invalidations
 * of different umems of one MR).
 *
 * The copy through them, rxe_odp_warm_copy(), is inline in rxe_odp_loc.h.
 *
 * Only explicit MRs (and HUGETLB ones) have them: an implicit MR's children
 * are released while the MR lives (ib_umem_odp_release() unmaps without the
 * invalidate callback), and its accesses hold children_rwsem anyway.
 */

#include <linux/jump_label.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/rcupdate.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/*
 * For tests only: a warm copy busy-waits this long between reading the
 * translations and copying, so that a test can invalidate the page in that
 * window and see the invalidation wait (tests/odp/warm_inval.c).  Off, the
 * static branch in rxe_odp_warm_copy() is a no-op.
 */
#define RXE_ODP_WARM_DELAY_MAX_MS 1000
static unsigned int rxe_odp_warm_delay_ms;
DEFINE_STATIC_KEY_FALSE(rxe_odp_warm_delay_key);

static int rxe_odp_warm_delay_set(const char *val,
				  const struct kernel_param *kp)
{
	int err;

	err = param_set_uint_minmax(val, kp, 0, RXE_ODP_WARM_DELAY_MAX_MS);
	if (err)
		return err;

	if (READ_ONCE(rxe_odp_warm_delay_ms))
		static_branch_enable(&rxe_odp_warm_delay_key);
	else
		static_branch_disable(&rxe_odp_warm_delay_key);
	return 0;
}

static const struct kernel_param_ops rxe_odp_warm_delay_ops = {
	.set = rxe_odp_warm_delay_set,
	.get = param_get_uint,
};

module_param_cb(warm_copy_delay_ms, &rxe_odp_warm_delay_ops,
		&rxe_odp_warm_delay_ms, 0600);
MODULE_PARM_DESC(warm_copy_delay_ms,
		 "Testing only: busy-wait in each warm ODP copy, ms (0 = off)");

/*
 * Timed by the clock, not mdelay(): under TCG a CPU's delay loop can be
 * calibrated a quarter short, and the test compares with the clock.
 * Context: inside rxe_odp_warm_copy()'s RCU-sched read section.
 */
void rxe_odp_warm_delay(void)
{
	u64 end = ktime_get_ns() +
		  (u64)READ_ONCE(rxe_odp_warm_delay_ms) * NSEC_PER_MSEC;

	while (ktime_get_ns() < end)
		cpu_relax();
}

/**
 * rxe_odp_warm_init - set up an MR's (empty) warm translations
 * @odp: the MR's ODP state, zeroed
 */
void rxe_odp_warm_init(struct rxe_odp_mr *odp)
{
	spin_lock_init(&odp->warm_lock);
	seqcount_init(&odp->warm_seq);
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
 * rxe_odp_warm_forget(), which takes the same umem_mutex first.  Replacing
 * a valid slot counts an eviction, which the next invalidation waits out.
 * Context: rxe task; takes odp->warm_lock inside umem_mutex.
 */
void rxe_odp_warm_fill(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
		       u64 va, unsigned int length)
{
	const u64 rw = ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT;
	struct rxe_odp_warm_page *slot;
	u64 pva, end = va + length;
	bool changing = false;
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
		if (!changing) {
			/*
			 * raw: a copy never waits for an odd count (it goes
			 * the slow way), so a writer preempted on PREEMPT_RT
			 * cannot stall one
			 */
			raw_write_seqcount_begin(&odp->warm_seq);
			changing = true;
		}
		if (slot->tag & RXE_ODP_WARM_VALID)
			odp->warm_evictions++;
		WRITE_ONCE(slot->page, page);
		WRITE_ONCE(slot->tag, tag);
	}
	if (changing)
		raw_write_seqcount_end(&odp->warm_seq);
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
 * Waits for the copies that may still use a page of the range (a grace
 * period, when a translation was dropped or evicted since the last one;
 * rxe_odp_warm.c says why), so the range's pages are not used once the
 * invalidate callback returns.
 * Context: the mmu notifier's invalidate callback, which may block; takes
 * odp->warm_lock inside umem_mutex, and waits with only umem_mutex held.
 */
void rxe_odp_warm_forget(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
			 u64 start, u64 end)
{
	bool dropped = false, uncovered;
	u64 evictions;
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
	evictions = odp->warm_evictions;
	uncovered = dropped || evictions != odp->warm_synced;
	spin_unlock(&odp->warm_lock);
	if (!uncovered)
		return;

	/*
	 * A copy that read a dropped or evicted translation is done after it.
	 * Expedited: a normal grace period (tens of ms) in every invalidation
	 * that follows an eviction made mm events under traffic about 4x
	 * slower than with a lock in the copy (stress_odp); an expedited one
	 * kept their pace.
	 */
	synchronize_rcu_expedited();

	spin_lock(&odp->warm_lock);
	if (evictions > odp->warm_synced)
		odp->warm_synced = evictions;
	spin_unlock(&odp->warm_lock);
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
