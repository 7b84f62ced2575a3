// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: the mirror of one umem (the bottom layer).
 *
 * A umem here is a chunk's child ib_umem_odp or a HUGETLB MR's whole-range
 * one.  Its dma_list has one entry per umem page: zero while the page is
 * not mirrored, otherwise the page's "DMA address" with
 * ODP_READ_ALLOWED_BIT / ODP_WRITE_ALLOWED_BIT in its low bits.  rxe has no
 * DMA device (ib_uses_virt_dma()), so that address is the page's kernel
 * virtual address and rxe reads and writes the page through it.
 *
 * A fault follows the pattern of Documentation/mm/hmm.rst through
 * ib_umem_odp_map_dma_and_lock(): read the notifier sequence, run
 * hmm_range_fault() under mmap_lock, take umem_mutex, check
 * mmu_interval_read_retry() under it, map.  An invalidation publishes its
 * sequence under umem_mutex before it unmaps.  So a page found in dma_list
 * under umem_mutex stays mirrored until the mutex is dropped.
 * rxe_odp_fault_around.c widens each fault to a window.
 *
 * This file knows nothing of MRs, chunks or prefetch; the locks are
 * described once, in "Locking" in rxe_odp.c.
 */

#include <linux/highmem.h>
#include <linux/ktime.h>
#include <linux/mmu_notifier.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"
#include "rxe_odp_trace.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* Faults that keep losing the race against invalidations give up after. */
#define RXE_ODP_FAULT_TRIES 8

/*
 * rxe_odp_count - count an event and its pages, for the device and the MR
 *
 * The device's hw counters (patch 0004) and the MR's statistics (@stats,
 * NULL for none) each count @event once and @npages pages.
 */
static void rxe_odp_count(struct ib_umem_odp *umem_odp,
			  struct rxe_odp_stats *stats, enum rxe_counters event,
			  enum rxe_counters pages, enum rxe_odp_stat mr_event,
			  enum rxe_odp_stat mr_pages, int npages)
{
	struct rxe_dev *rxe = to_rdev(umem_odp->umem.ibdev);

	rxe_counter_inc(rxe, event);
	atomic64_add(npages, &rxe->stats_counters[pages]);
	rxe_odp_stat_add(stats, mr_event, 1);
	rxe_odp_stat_add(stats, mr_pages, npages);
}

/**
 * __rxe_odp_invalidate - stop mirroring what an invalidation changes
 * @umem_odp: the umem whose notifier fired
 * @stats: its MR's statistics; NULL for a chunk's child not yet published,
 *	whose pages (only those of the fault that is making it) are then
 *	counted for the device alone
 * @range: what changes in the CPU page tables
 * @cur_seq: the sequence number to publish
 *
 * The body of every invalidate callback (rxe_odp_invalidate() and the
 * children's in rxe_odp_chunks.c).  Counts an invalidation that unmapped
 * pages; traces every one that reaches a umem with pages mirrored and
 * overlaps it, with the pages it unmapped (maybe none).
 * Needs umem_odp->umem_mutex, which also waits out any copy or atomic in
 * progress on the umem.
 */
void __rxe_odp_invalidate(struct ib_umem_odp *umem_odp,
			  struct rxe_odp_stats *stats,
			  const struct mmu_notifier_range *range,
			  unsigned long cur_seq)
{
	unsigned long start, end;
	int mapped, unmapped;

	lockdep_assert_held(&umem_odp->umem_mutex);

	/*
	 * 1. Publish the new sequence first, under umem_mutex: a fault that
	 * ran hmm_range_fault() before this change then fails
	 * mmu_interval_read_retry() when it gets umem_mutex, and faults
	 * again instead of mapping pages that are going away.
	 */
	mmu_interval_set_seq(&umem_odp->notifier, cur_seq);

	/*
	 * 2. A dying umem has nothing mirrored: ib_umem_odp_release() unmaps
	 * everything under umem_mutex before it removes the notifier, and
	 * a fresh umem has faulted nothing yet.  Nothing to unmap or count.
	 */
	if (!umem_odp->npages)
		return;

	/*
	 * 3. Unmap the overlap.  No copy or atomic is running (they hold
	 * umem_mutex), and later ones find dma_list cleared and fault again,
	 * after the CPU page tables have changed.
	 */
	start = max_t(u64, ib_umem_start(umem_odp), range->start);
	end = min_t(u64, ib_umem_end(umem_odp), range->end);
	if (start >= end)
		return;

	mapped = umem_odp->npages;
	ib_umem_odp_unmap_dma_pages(umem_odp, start, end);
	unmapped = mapped - umem_odp->npages;
	if (unmapped)
		rxe_odp_count(umem_odp, stats, RXE_CNT_ODP_INVALIDATIONS,
			      RXE_CNT_ODP_PAGES_INVALIDATED,
			      RXE_ODP_STAT_INVALIDATIONS,
			      RXE_ODP_STAT_PAGES_INVALIDATED, unmapped);
	trace_rxe_odp_invalidate(rxe_odp_stats_lkey(stats), start, end,
				 range->event, unmapped);
}

/**
 * __rxe_odp_page - the mirrored page that holds a user address
 * @umem_odp: the MR's umem
 * @va: user virtual address inside the umem
 * @perm: ODP_READ_ALLOWED_BIT, optionally | ODP_WRITE_ALLOWED_BIT
 * @offset: set to @va's offset inside the returned page
 *
 * Needs umem_odp->umem_mutex; the page stays mirrored until it is dropped.
 * Return: the page, or NULL if the umem page holding @va is not mirrored
 * with every permission in @perm.
 */
struct page *__rxe_odp_page(struct ib_umem_odp *umem_odp, u64 va, u64 perm,
			    unsigned int *offset)
{
	unsigned long idx;
	dma_addr_t dma;
	u64 kaddr;

	lockdep_assert_held(&umem_odp->umem_mutex);

	idx = (va - ib_umem_start(umem_odp)) >> umem_odp->page_shift;
	dma = umem_odp->dma_list[idx];
	if ((dma & perm) != perm)
		return NULL;

	kaddr = (dma & ODP_DMA_ADDR_MASK) +
		(va & (BIT_ULL(umem_odp->page_shift) - 1));
	*offset = offset_in_page(kaddr);

	return ib_virt_dma_to_page(kaddr);
}

/**
 * __rxe_odp_pages_missing - umem pages of a range not mirrored as needed
 * @umem_odp: the umem
 * @va: user virtual address inside the umem
 * @len: bytes, > 0, with [@va, @va + @len) inside the umem
 * @perm: permissions every page needs (see __rxe_odp_page())
 *
 * Needs umem_odp->umem_mutex.
 * Return: how many umem pages the range spans that lack a permission of
 * @perm; 0 when the whole range is mirrored as needed.
 */
unsigned long __rxe_odp_pages_missing(struct ib_umem_odp *umem_odp, u64 va,
				      u64 len, u64 perm)
{
	unsigned long idx, last, missing = 0;

	lockdep_assert_held(&umem_odp->umem_mutex);

	idx = (va - ib_umem_start(umem_odp)) >> umem_odp->page_shift;
	last = (va + len - 1 - ib_umem_start(umem_odp)) >> umem_odp->page_shift;
	for (; idx <= last; idx++)
		if ((umem_odp->dma_list[idx] & perm) != perm)
			missing++;

	return missing;
}

/* umem pages that [@va, @va + @len) spans, @len > 0 */
static u32 rxe_odp_pages_spanned(struct ib_umem_odp *umem_odp, u64 va, u64 len)
{
	return ((va + len - 1) >> umem_odp->page_shift) -
	       (va >> umem_odp->page_shift) + 1;
}

/*
 * rxe_odp_fault_and_lock - fault a range in, with the pages around it
 * @umem_odp: the MR's umem
 * @stats: the MR's statistics
 * @va: user virtual address inside the umem
 * @len: bytes, > 0, with [@va, @va + @len) inside the umem
 * @perm: permissions every page needs (see __rxe_odp_page())
 *
 * Faults the fault-around window of the range (rxe_odp_fault_around.c) or,
 * if the VMAs changed so that the window cannot be faulted, the range
 * alone.  Counts the fault and the pages it mirrors anew, and traces it
 * (timed only while the tracepoint is on).
 *
 * Context and locks: as rxe_odp_map_range_and_lock().
 * Return: what ib_umem_odp_map_dma_and_lock() returned; on success (>= 0)
 * umem_odp->umem_mutex is held.
 */
static int rxe_odp_fault_and_lock(struct ib_umem_odp *umem_odp,
				  struct rxe_odp_stats *stats, u64 va, u64 len,
				  u64 perm) __acquires(&umem_odp->umem_mutex)
{
	u64 t0 = trace_rxe_odp_fault_enabled() ? ktime_get_ns() : 0;
	u64 fault_va, fault_len;
	unsigned long missing;
	u32 asked;
	int ret;

	rxe_odp_fault_window(umem_odp, va, len, perm & ODP_WRITE_ALLOWED_BIT,
			     &fault_va, &fault_len);
	down_read(&stats->count_rwsem);
	for (;;) {
		/* Counted first, as the pages this fault adds. */
		mutex_lock(&umem_odp->umem_mutex);
		missing = __rxe_odp_pages_missing(umem_odp, fault_va, fault_len,
						  perm);
		mutex_unlock(&umem_odp->umem_mutex);

		/*
		 * Core reads the notifier sequence, runs hmm_range_fault()
		 * under mmap_lock, takes umem_mutex, checks
		 * mmu_interval_read_retry() under it (retrying internally on
		 * -EBUSY for up to HMM_RANGE_DEFAULT_TIMEOUT) and maps the
		 * pages; on success umem_mutex stays held.
		 */
		ret = ib_umem_odp_map_dma_and_lock(umem_odp, fault_va,
						   fault_len, perm, true);
		if ((ret != -EFAULT && ret != -EPERM) || fault_len == len)
			break;
		fault_va = va;
		fault_len = len;
	}
	if (ret >= 0)
		rxe_odp_count(umem_odp, stats, RXE_CNT_ODP_FAULTS,
			      RXE_CNT_ODP_PAGES_FAULTED, RXE_ODP_STAT_FAULTS,
			      RXE_ODP_STAT_PAGES_FAULTED, missing);
	up_read(&stats->count_rwsem);
	if (trace_rxe_odp_fault_enabled()) {
		asked = rxe_odp_pages_spanned(umem_odp, fault_va, fault_len);
		trace_rxe_odp_fault(rxe_odp_stats_lkey(stats), va, len,
				    fault_va, asked, ret >= 0 ? missing : 0,
				    perm & ODP_WRITE_ALLOWED_BIT, ret,
				    t0 ? ktime_get_ns() - t0 : 0);
	}

	return ret;
}

/**
 * rxe_odp_map_range_and_lock - mirror a range and lock the mirror
 * @umem_odp: the MR's umem
 * @stats: the MR's statistics, which count (and trace) the faults
 * @va: user virtual address inside the umem
 * @len: bytes, > 0, with [@va, @va + @len) inside the umem
 * @write: the caller will write, so the pages must be mapped writable
 *
 * The one translation step of every ODP access.  Pages that are missing, or
 * mapped read-only when @write is set, are faulted in through HMM with the
 * needed intent, together with the pages around them up to the
 * fault-around bound; a write to a mapping that forbids writing fails
 * rather than being done through a read-only page.
 *
 * Context: process context, may sleep (rxe tasks on rxe_wq).  Must be
 * called with no spinlock and no umem_mutex held.
 * Locks: on success returns with umem_odp->umem_mutex held and every page
 * of the range mirrored with the needed permission until the caller drops
 * it; on error returns with nothing held.
 * Return: 0 if the range was mirrored already, 1 if pages had to be
 * faulted in; -EFAULT if a page cannot be mirrored (a hole, PROT_NONE, a
 * write to a read-only mapping, a small page in a HUGETLB MR, or the
 * owning process or its mm is gone); -EBUSY if invalidations kept winning
 * the race RXE_ODP_FAULT_TRIES times; -ENOMEM.
 */
int rxe_odp_map_range_and_lock(struct ib_umem_odp *umem_odp,
			       struct rxe_odp_stats *stats, u64 va, u64 len,
			       bool write) __acquires(&umem_odp->umem_mutex)
{
	u64 perm = ODP_READ_ALLOWED_BIT;
	int tries;
	int ret = -EBUSY;

	/* the context check of might_sleep(), without its preemption point */
	__might_sleep(__FILE__, __LINE__);

	if (write)
		perm |= ODP_WRITE_ALLOWED_BIT;

	for (tries = 0; tries < RXE_ODP_FAULT_TRIES; tries++) {
		/* 1. Already mirrored: holding umem_mutex keeps it so. */
		rxe_odp_lock_mutex(&umem_odp->umem_mutex);
		if (!__rxe_odp_pages_missing(umem_odp, va, len, perm))
			return 0;
		mutex_unlock(&umem_odp->umem_mutex);

		/* 2. Fault; on success umem_mutex is held again. */
		ret = rxe_odp_fault_and_lock(umem_odp, stats, va, len, perm);
		if (ret == -EBUSY)
			continue;
		if (ret < 0)
			break;

		/*
		 * 3. Mapped under this very hold of umem_mutex: no
		 * invalidation can have run since, so this only fails if
		 * core mapped less than asked for.
		 */
		if (!__rxe_odp_pages_missing(umem_odp, va, len, perm))
			return 1;
		mutex_unlock(&umem_odp->umem_mutex);
		ret = -EBUSY;
	}

	if (ret == -ENOMEM || ret == -EBUSY)
		return ret;

	/* -EFAULT, -EPERM (read-only VMA), -EINVAL (owner gone, page size) */
	return -EFAULT;
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
