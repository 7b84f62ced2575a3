// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe.
 *
 * An ODP MR pins nothing, and registering one costs the same whatever its
 * size: the MR's umem is an implicit ib_umem_odp (an anchor with no page
 * lists and no notifier), and each RXE_ODP_CHILD_SIZE-aligned chunk of the
 * range gets its own child ib_umem_odp - page lists plus an mmu interval
 * notifier over the chunk - the first time rxe touches the chunk (the
 * children are rxe_odp_implicit.c's).  An IB_ACCESS_HUGETLB MR (children
 * are PAGE_SIZE only) is instead one ib_umem_odp over the whole range, made
 * at registration.
 *
 * A child's (or the HUGETLB umem's) dma_list has one entry per umem page:
 * zero while the page is not mirrored, otherwise the page's "DMA address"
 * with ODP_READ_ALLOWED_BIT / ODP_WRITE_ALLOWED_BIT in its low bits.  rxe
 * has no DMA device (ib_uses_virt_dma()), so that address is the page's
 * kernel virtual address and rxe reads and writes the page through it.
 *
 * Every rxe access to an ODP MR goes through rxe_odp_map_prefix_and_lock(),
 * after rxe_odp_mr_va() checked the range against the MR: it finds the
 * umem that mirrors the address (a chunk's child is made only by a fault
 * that succeeds in it, rxe_odp_implicit.c), looks the range up
 * in its dma_list under umem_mutex and, on a missing page or a missing
 * write permission, faults it in with ib_umem_odp_map_dma_and_lock()
 * (HMM).  The access then happens with umem_mutex still held, so an
 * invalidation, which unmaps under the same mutex, can never pull a page
 * out from under a copy or an atomic.  A packet copy into an explicit MR
 * first tries the umem of the MR's last copy, with the pages checked as it
 * copies them (rxe_odp_copy_mirrored()); only a miss there takes the full
 * path.
 *
 * Locking
 * -------
 * odp->children_rwsem (rw_semaphore; one per ODP MR)
 *	Keeps an implicit MR's children alive while they are used.  Held for
 *	read by an rxe task (or a prefetch) from finding the umem of an
 *	address until it has dropped that umem's umem_mutex
 *	(rxe_odp_mirror_and_lock() .. rxe_odp_unlock()), one umem at a time,
 *	never recursively.  An explicit MR's children, and a HUGETLB MR's
 *	umem, are only freed at MR release, which waits for every MR
 *	reference, so its accesses do not take it.  Held for write to add a
 *	child (across ib_umem_odp_alloc_child(), which allocates with
 *	GFP_KERNEL and inserts the child's notifier, taking mmap_lock for
 *	write the first time the mm gets a notifier, and across the first
 *	fault in the child, which takes mmap_lock for read and umem_mutex,
 *	before the child is published) and to remove one (across
 *	ib_umem_odp_release(), which takes the child's umem_mutex and waits
 *	for an invalidation in progress in the mm to finish): by the rxe task
 *	that adds a child, which first releases least recently used ones past
 *	the implicit_max_children bound, then downgrades to read (implicit) or
 *	drops it (explicit); by an implicit MR's reap work (system_wq); by
 *	MR cleanup.  Never taken by a notifier callback, so none of those
 *	waits can close a cycle.  Users of the xarray odp->children: store
 *	and erase under it (write); load under it (read), or for an explicit
 *	MR with none of it (xa_load() is RCU-safe; a child is published
 *	whole by xa_store()).  odp->last_umem, an explicit MR's, is set and
 *	read with none of it either, for the same reason.
 * odp->children's xa_lock (spinlock, taken inside the xarray calls)
 *	Also taken by a child's invalidate callback, after it dropped the
 *	child's umem_mutex, to mark the child for the reap work (then it
 *	queues the work).  Nothing is taken under it.
 * umem_odp->umem_mutex (mutex; one per child, or per HUGETLB MR)
 *	Guards dma_list and npages, and orders faults against invalidations
 *	(mmu_interval_read_retry() is checked under it).  Held while rxe
 *	copies to or from, or does an atomic on, mirrored pages, and by the
 *	invalidate callback while it unmaps.  Taken only in process context:
 *	by rxe tasks (the requester, completer and responder run on the rxe_wq
 *	workqueue and may sleep) and by the mmu notifier, which may run with
 *	mmap_lock, i_mmap_rwsem or page locks held, or from direct reclaim.
 *	So while it is held nothing may take mmap_lock, allocate memory that
 *	can enter reclaim, wait for anything an invalidation can block, or
 *	take a second umem_mutex (all share one lock class).
 * rxe_atomic_ops_lock (spinlock, BH-disabling; rxe_mr.c)
 *	Makes rxe's 8-byte atomics atomic with respect to each other, pinned
 *	or ODP.  ODP atomics take it inside umem_mutex.
 * mmap_lock of the owning mm (read)
 *	Taken by ib_umem_odp_map_dma_and_lock() around hmm_range_fault(),
 *	and by rxe_odp_fault_window() and rxe_odp_fault_ahead_len() to look
 *	up VMAs, with umem_mutex NOT held; umem_mutex is taken after it is
 *	dropped.
 * rxe_odp_prefetch_lock (spinlock; rxe_odp_advise.c)
 *	Guards the queue of prefetch requests not yet started and the MR
 *	references they hold, and orders the SGE checks of a prefetch
 *	against dereg marking the MR invalid (rxe_odp_prefetch_cancel_mr()).
 *	A leaf: only MR lookups (RCU and a kref) and kref puts happen under
 *	it; it is never held with another ODP lock nor across a fault.  A
 *	prefetch then mirrors with the locks of an rxe task, in this order.
 *
 * Order: children_rwsem -> mmap_lock -> umem_mutex -> rxe_atomic_ops_lock;
 * children_rwsem -> xa_lock.  The access path takes children_rwsem (read,
 * implicit MRs) and umem_mutex with a trylock first and sleeps only when
 * that fails (rxe_odp_down_read(), rxe_odp_lock_mutex(); rxe_odp_loc.h
 * says why).
 *
 * Teardown: rxe_odp_mr_release() runs when no reference to the MR is left,
 * so no rxe task or prefetch uses a umem of the MR; it releases every child
 * under children_rwsem (write), each release waiting for that child's
 * callback in progress, and only then cancels the reap work, which nothing
 * can queue once the last child notifier is gone.  Dereg calls
 * rxe_odp_prefetch_cancel_mr() before it waits for the references, so a
 * queued prefetch never keeps it (or process exit, or device removal)
 * waiting, and a running one for at most one RXE_ODP_CHUNK_SIZE step.
 *
 * rxe's own locks - qp->state_lock, the task lock, the SRQ consumer lock,
 * the MR pool xarray lock (lookups use RCU and a reference) - are never held
 * when rxe calls into this file, and this file never takes them.  Callers
 * hold only a reference on the MR, which keeps it (and its umem) alive.
 */

#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/libnvdimm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

/* Lets users and the testbed tell this module from the stock rdma_rxe. */
MODULE_VERSION(RXE_ODP_VERSION "-odp");

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* Faults that keep losing the race against invalidations give up after. */
#define RXE_ODP_FAULT_TRIES 8

void rxe_odp_count(struct ib_umem_odp *umem_odp, enum rxe_counters events,
		   enum rxe_counters pages, int npages)
{
	struct rxe_dev *rxe = to_rdev(umem_odp->umem.ibdev);

	rxe_counter_inc(rxe, events);
	atomic64_add(npages, &rxe->stats_counters[pages]);
}

/**
 * rxe_odp_iova_to_va - the user virtual address an MR iova stands for
 * @mr: ODP MR
 * @iova: an iova that passed rxe_odp_mr_va()
 *
 * uverbs guarantees that the iova and the start address share their
 * offset in the page.  No lock needed.
 */
u64 rxe_odp_iova_to_va(struct rxe_mr *mr, u64 iova)
{
	return mr->umem->address + (iova - mr->ibmr.iova);
}

/**
 * rxe_odp_mr_va - check a range of an ODP MR and translate its start
 * @mr: ODP MR, referenced by the caller
 * @iova: start of the range, untrusted (from a WQE, a packet or a verb)
 * @len: bytes, untrusted; 0 is a range too
 * @va: set to the user virtual address of @iova on success
 *
 * The bounds check of every ODP access: copies (requester, responder,
 * completer), atomics, atomic write, flush and prefetch SGEs all enter
 * through it, before any lookup.  rxe's own mr_check_range() computes
 * @iova + @len without an overflow check in some 6.12 point releases, so
 * a range that wraps past 2^64 got through it; here every sum is checked.
 * Registration (rxe_odp_check_reg()) refuses an MR whose iova range or
 * user range wraps, so @va + @len cannot wrap once this passed.
 * No lock needed.
 * Return: 0; -EFAULT if [@iova, @iova + @len) is not inside the MR (or,
 * for an implicit MR, not inside the user address space).
 */
int rxe_odp_mr_va(struct rxe_mr *mr, u64 iova, u64 len, u64 *va)
{
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);
	u64 end, uva, uend;

	if (check_add_overflow(iova, len, &end) || iova < mr->ibmr.iova ||
	    end - mr->ibmr.iova > mr->ibmr.length)
		return -EFAULT;

	uva = rxe_odp_iova_to_va(mr, iova);
	if (check_add_overflow(uva, len, &uend) || uva < odp->start ||
	    uend > odp->end)
		return -EFAULT;

	*va = uva;
	return 0;
}

/**
 * rxe_odp_check_reg - refuse an ODP MR that could not work over its range
 * @start: user virtual address
 * @length: bytes
 * @iova: the MR's first iova
 * @access: IB_ACCESS_* flags
 *
 * An implicit MR (@start 0, @length U64_MAX) covers the address space at
 * iova == address, so it must have @iova 0; an explicit MR's user range
 * and iova range must both end below 2^64 (rxe_odp_mr_va() relies on it).
 * Non-ODP MRs are rxe's and not checked here.
 * Context: reg_user_mr verb.
 * Return: 0, or -EINVAL.
 */
int rxe_odp_check_reg(u64 start, u64 length, u64 iova, int access)
{
	u64 end;

	if (!(access & IB_ACCESS_ON_DEMAND))
		return 0;
	if (!start && length == U64_MAX)
		return iova ? -EINVAL : 0;
	if (!length || check_add_overflow(start, length, &end) ||
	    end > U64_MAX - PAGE_SIZE || check_add_overflow(iova, length, &end))
		return -EINVAL;

	return 0;
}

/**
 * __rxe_odp_invalidate - stop mirroring what an invalidation changes
 * @umem_odp: the umem whose notifier fired
 * @range: what changes in the CPU page tables
 * @cur_seq: the sequence number to publish
 *
 * The body of every invalidate callback (rxe_odp_invalidate() and the
 * children's in rxe_odp_implicit.c).
 * Needs umem_odp->umem_mutex, which also waits out any copy or atomic in
 * progress on the umem.
 */
void __rxe_odp_invalidate(struct ib_umem_odp *umem_odp,
			  const struct mmu_notifier_range *range,
			  unsigned long cur_seq)
{
	unsigned long start, end;
	int mapped;

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
	if (umem_odp->npages != mapped)
		rxe_odp_count(umem_odp, RXE_CNT_ODP_INVALIDATIONS,
			      RXE_CNT_ODP_PAGES_INVALIDATED,
			      mapped - umem_odp->npages);
}

/*
 * rxe_odp_invalidate - the invalidate callback of a HUGETLB MR's umem
 * @mni: the notifier of the MR's umem
 * @range: what changes in the CPU page tables
 * @cur_seq: the sequence number to publish
 *
 * Context: mm core, process context, possibly with mmap_lock, i_mmap_rwsem
 * or page locks held, or in reclaim.  Takes umem_odp->umem_mutex.
 * Return: false if the range may not block (we would have to sleep on
 * umem_mutex), else true once the range is no longer mirrored.
 */
static bool rxe_odp_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct ib_umem_odp *umem_odp =
		container_of(mni, struct ib_umem_odp, notifier);

	if (!mmu_notifier_range_blockable(range))
		return false;

	mutex_lock(&umem_odp->umem_mutex);
	__rxe_odp_invalidate(umem_odp, range, cur_seq);
	mutex_unlock(&umem_odp->umem_mutex);

	return true;
}

static const struct mmu_interval_notifier_ops rxe_odp_mn_ops = {
	.invalidate = rxe_odp_invalidate,
};

/*
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
static struct page *__rxe_odp_page(struct ib_umem_odp *umem_odp, u64 va,
				   u64 perm, unsigned int *offset)
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

/*
 * rxe_odp_fault_and_lock - fault a range in, with the pages around it
 * @umem_odp: the MR's umem
 * @va: user virtual address inside the umem
 * @len: bytes, > 0, with [@va, @va + @len) inside the umem
 * @perm: permissions every page needs (see __rxe_odp_page())
 *
 * Faults the fault-around window of the range (rxe_odp_fault_around.c) or,
 * if the VMAs changed so that the window cannot be faulted, the range
 * alone.  Counts the fault and the pages it mirrors anew.
 *
 * Context and locks: as rxe_odp_map_range_and_lock().
 * Return: what ib_umem_odp_map_dma_and_lock() returned; on success (>= 0)
 * umem_odp->umem_mutex is held.
 */
static int rxe_odp_fault_and_lock(struct ib_umem_odp *umem_odp, u64 va, u64 len,
				  u64 perm) __acquires(&umem_odp->umem_mutex)
{
	u64 fault_va, fault_len;
	unsigned long missing;
	int ret;

	rxe_odp_fault_window(umem_odp, va, len, perm & ODP_WRITE_ALLOWED_BIT,
			     &fault_va, &fault_len);
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
		rxe_odp_count(umem_odp, RXE_CNT_ODP_FAULTS,
			      RXE_CNT_ODP_PAGES_FAULTED, missing);

	return ret;
}

/*
 * rxe_odp_map_range_and_lock - mirror a range and lock the mirror
 * @umem_odp: the MR's umem
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
static int rxe_odp_map_range_and_lock(struct ib_umem_odp *umem_odp, u64 va,
				      u64 len, bool write)
	__acquires(&umem_odp->umem_mutex)
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
		ret = rxe_odp_fault_and_lock(umem_odp, va, len, perm);
		if (ret < 0) {
			if (ret == -EBUSY || ret == -EAGAIN)
				continue;
			break;
		}

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

	if (ret == -ENOMEM)
		return ret;
	if (ret == -EBUSY || ret == -EAGAIN)
		return -EBUSY;

	/* -EFAULT, -EPERM (read-only VMA), -EINVAL (owner gone, page size) */
	return -EFAULT;
}

/* What an access asks of rxe_odp_access_mirror(), and what it got. */
struct rxe_odp_access {
	u64 len;
	bool write;
	unsigned int bytes;
	bool faulted;
};

/*
 * rxe_odp_access_mirror - the mirror step of an access (copy, atomic, flush)
 * @umem_odp: the umem holding @va, whose range ends at @end
 * @va: user virtual address
 * @end: end of the umem's range
 * @arg: a struct rxe_odp_access; bytes is set to how much from @va this
 *	step covers (at most RXE_ODP_CHUNK_SIZE, never past @end), faulted
 *	to true if it had to fault
 *
 * Context, locks and return: as rxe_odp_map_range_and_lock().
 */
static int rxe_odp_access_mirror(struct ib_umem_odp *umem_odp, u64 va, u64 end,
				 void *arg)
{
	struct rxe_odp_access *acc = arg;
	int ret;

	acc->bytes = min3(acc->len, (u64)RXE_ODP_CHUNK_SIZE, end - va);
	ret = rxe_odp_map_range_and_lock(umem_odp, va, acc->bytes, acc->write);
	if (ret > 0)
		acc->faulted = true;

	return ret;
}

/**
 * rxe_odp_map_prefix_and_lock - mirror and lock the start of a range
 * @odp: the MR's ODP state
 * @va: user virtual address inside the MR, with [@va, @va + @len) checked
 *	by rxe_odp_mr_va()
 * @len: bytes, > 0
 * @write: the caller will write, so the pages must be mapped writable
 * @bytes: set to how much of [@va, @va + @len) is mirrored and locked: at
 *	most RXE_ODP_CHUNK_SIZE, and never past the end of one umem
 * @faulted: if not NULL, set to true when pages had to be faulted in (left
 *	alone otherwise)
 *
 * Callers walk a range with it, one umem (and at most one chunk) at a
 * time, dropping everything with rxe_odp_unlock() in between.
 * Context: rxe task (or a verb), may sleep.  Must be called with no
 * spinlock and no ODP lock held.
 * Locks: as rxe_odp_mirror_and_lock(): the range mirrored as asked until
 * rxe_odp_unlock(); on error nothing held.
 * Return: the umem; ERR_PTR(-EFAULT) if a page cannot be mirrored with the
 * needed access; ERR_PTR(-EBUSY); ERR_PTR(-ENOMEM).
 */
struct ib_umem_odp *rxe_odp_map_prefix_and_lock(struct rxe_odp_mr *odp, u64 va,
						u64 len, bool write,
						unsigned int *bytes,
						bool *faulted)
{
	struct rxe_odp_access acc = { .len = len, .write = write };
	struct ib_umem_odp *umem_odp;
	int err;

	umem_odp = rxe_odp_mirror_and_lock(odp, va, rxe_odp_access_mirror, &acc);
	if (IS_ERR(umem_odp)) {
		err = PTR_ERR(umem_odp);
		/* a child that cannot be made is a page that cannot be */
		return ERR_PTR(err == -ENOMEM || err == -EBUSY ? err : -EFAULT);
	}

	*bytes = acc.bytes;
	if (acc.faulted && faulted)
		*faulted = true;

	return umem_odp;
}

/**
 * rxe_odp_unlock - drop what rxe_odp_map_prefix_and_lock() took
 * @odp: the MR's ODP state
 * @umem_odp: the umem it returned
 */
void rxe_odp_unlock(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp)
{
	mutex_unlock(&umem_odp->umem_mutex);
	rxe_odp_umem_unlock(odp);
}

/*
 * __rxe_odp_copy - copy between a kernel buffer and mirrored user memory
 * @umem_odp: the MR's umem
 * @va: user virtual address inside the umem
 * @addr: kernel buffer
 * @length: bytes
 * @dir: RXE_TO_MR_OBJ writes the user memory, RXE_FROM_MR_OBJ reads it
 *
 * Needs umem_odp->umem_mutex, taken by rxe_odp_map_range_and_lock() for
 * this range.
 * Return: 0; -EFAULT if a page is not mirrored as needed.
 */
static int __rxe_odp_copy(struct ib_umem_odp *umem_odp, u64 va, void *addr,
			  unsigned int length, enum rxe_mr_copy_dir dir)
{
	u64 perm = ODP_READ_ALLOWED_BIT;
	unsigned int offset, bytes;
	struct page *page;
	u8 *kva;

	lockdep_assert_held(&umem_odp->umem_mutex);

	if (dir == RXE_TO_MR_OBJ)
		perm |= ODP_WRITE_ALLOWED_BIT;

	while (length) {
		page = __rxe_odp_page(umem_odp, va, perm, &offset);
		if (!page)
			return -EFAULT;

		bytes = min_t(unsigned int, length, PAGE_SIZE - offset);
		kva = kmap_local_page(page);
		if (dir == RXE_TO_MR_OBJ)
			memcpy(kva + offset, addr, bytes);
		else
			memcpy(addr, kva + offset, bytes);
		kunmap_local(kva);

		va += bytes;
		addr += bytes;
		length -= bytes;
	}

	return 0;
}

/*
 * rxe_odp_copy_mirrored - the copy of a packet whose pages are mirrored
 * @odp: the MR's ODP state
 * @va: user virtual address inside the MR
 * @addr: kernel buffer
 * @length: bytes, > 0
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 *
 * The warm path of nearly every packet, without the lookups of
 * rxe_odp_map_prefix_and_lock(): the umem of the MR's last copy
 * (odp->last_umem) holds the whole range, its umem_mutex is free and every
 * page is mirrored with the needed access.  Only an explicit MR sets
 * last_umem: its umems are freed at MR release, which the caller's MR
 * reference holds off, so the pointer stays good without children_rwsem.
 * Anything else - another umem, a contended mutex, a page to fault - is
 * left to rxe_odp_copy_chunks(), which does the copy again from the start.
 * Return: true if the copy is done.
 */
static bool rxe_odp_copy_mirrored(struct rxe_odp_mr *odp, u64 va, void *addr,
				  unsigned int length, enum rxe_mr_copy_dir dir)
{
	/* pairs with the release in rxe_odp_copy_chunks() */
	struct ib_umem_odp *umem_odp = smp_load_acquire(&odp->last_umem);
	bool done;

	if (!umem_odp || length > RXE_ODP_CHUNK_SIZE ||
	    va < ib_umem_start(umem_odp) || va + length > ib_umem_end(umem_odp))
		return false;
	/* never sleeps: see rxe_odp_lock_mutex() */
	if (!mutex_trylock(&umem_odp->umem_mutex))
		return false;
	done = !__rxe_odp_copy(umem_odp, va, addr, length, dir);
	mutex_unlock(&umem_odp->umem_mutex);

	return done;
}

/*
 * rxe_odp_copy_chunks - the copy of rxe_odp_mr_copy(), faulting as needed
 * @mr: ODP MR, referenced by the caller
 * @va: user virtual address inside the MR
 * @addr: kernel buffer
 * @length: bytes, > 0
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 * @faulted: set to true if pages had to be faulted in (left alone otherwise)
 *
 * Context and return: as rxe_odp_mr_copy().
 */
static int rxe_odp_copy_chunks(struct rxe_mr *mr, u64 va, void *addr,
			       unsigned int length, enum rxe_mr_copy_dir dir,
			       bool *faulted)
{
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);
	bool write = dir == RXE_TO_MR_OBJ;
	struct ib_umem_odp *umem_odp;
	unsigned int bytes;
	int err;

	while (length) {
		umem_odp = rxe_odp_map_prefix_and_lock(odp, va, length, write,
						       &bytes, faulted);
		if (IS_ERR(umem_odp)) {
			err = PTR_ERR(umem_odp);
			rxe_dbg_mr(mr, "cannot mirror va %#llx+%u, err = %d\n",
				   va, length, err);
			return err;
		}
		err = __rxe_odp_copy(umem_odp, va, addr, bytes, dir);
		rxe_odp_unlock(odp, umem_odp);
		if (err)
			return err;
		if (!odp->implicit && READ_ONCE(odp->last_umem) != umem_odp) {
			/* pairs with rxe_odp_copy_mirrored(): umem seen whole */
			smp_store_release(&odp->last_umem, umem_odp);
		}

		va += bytes;
		addr += bytes;
		length -= bytes;
	}

	return 0;
}

/**
 * rxe_odp_mr_copy - rxe_mr_copy() for an ODP MR
 * @mr: ODP MR, referenced by the caller
 * @iova: start, untrusted: checked here (rxe_odp_mr_va())
 * @addr: kernel buffer
 * @length: bytes, > 0
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 *
 * A copy that goes on where the last one into the MR ended may queue a
 * fault-ahead of what follows (rxe_odp_fault_ahead()).
 *
 * Context: rxe task, may sleep.  Takes and drops umem_mutex (and an
 * implicit MR's children_rwsem) per chunk (rxe_odp_map_prefix_and_lock()).
 * Return: 0; -EFAULT if the range is not inside the MR or a page cannot
 * be mirrored with the needed access (the callers report a local
 * protection error for an lkey, a remote access error for an rkey);
 * -EBUSY; -ENOMEM.
 */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir)
{
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);
	bool faulted = false;
	u64 va;
	int err;

	err = rxe_odp_mr_va(mr, iova, length, &va);
	if (err) {
		rxe_dbg_mr(mr, "copy %#llx+%u outside the MR\n", iova, length);
		return err;
	}

	if (!rxe_odp_copy_mirrored(odp, va, addr, length, dir)) {
		err = rxe_odp_copy_chunks(mr, va, addr, length, dir, &faulted);
		if (err)
			return err;
	}

	rxe_odp_fault_ahead(mr, odp, iova, length, dir == RXE_TO_MR_OBJ,
			    faulted);
	return 0;
}

/*
 * rxe_odp_atomic_begin_and_lock - find and lock the u64 of an atomic
 * @mr: ODP MR, referenced by the caller
 * @iova: target of the atomic
 * @umem: set to the umem that mirrors it
 * @page: set to the mirrored page holding it
 * @offset: set to its offset in @page
 *
 * Context: rxe task, may sleep.
 * Locks: returns RESPST_NONE with what rxe_odp_map_prefix_and_lock() takes
 * held (release with rxe_odp_unlock()) and the u64 mirrored writable; any
 * other state with nothing held.
 * Return: RESPST_NONE; RESPST_ERR_RKEY_VIOLATION if the u64 is outside the
 * MR or cannot be mirrored writable; RESPST_ERR_MISALIGNED_ATOMIC.
 */
static enum resp_states rxe_odp_atomic_begin_and_lock(struct rxe_mr *mr,
						      u64 iova,
						      struct ib_umem_odp **umem,
						      struct page **page,
						      unsigned int *offset)
{
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);
	struct ib_umem_odp *umem_odp;
	unsigned int bytes;
	u64 va;

	if (rxe_odp_mr_va(mr, iova, sizeof(u64), &va)) {
		rxe_dbg_mr(mr, "iova out of range\n");
		return RESPST_ERR_RKEY_VIOLATION;
	}

	if (unlikely(va & (sizeof(u64) - 1))) {
		rxe_dbg_mr(mr, "iova not aligned\n");
		return RESPST_ERR_MISALIGNED_ATOMIC;
	}

	/* aligned, so inside one page and so one umem: bytes is 8 */
	umem_odp = rxe_odp_map_prefix_and_lock(odp, va, sizeof(u64), true,
					       &bytes, NULL);
	if (IS_ERR(umem_odp))
		return RESPST_ERR_RKEY_VIOLATION;

	*umem = umem_odp;
	*page = __rxe_odp_page(umem_odp, va,
			       ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT,
			       offset);
	if (WARN_ON_ONCE(!*page || bytes != sizeof(u64)))
		goto err_unlock;

	return RESPST_NONE;

err_unlock:
	rxe_odp_unlock(odp, umem_odp);
	return RESPST_ERR_RKEY_VIOLATION;
}

/**
 * rxe_odp_mr_atomic_op - rxe_mr_do_atomic_op() for an ODP MR
 * @mr: ODP MR in the valid state, referenced by the caller
 * @iova: target, 8-byte aligned
 * @opcode: IB_OPCODE_RC_COMPARE_SWAP or IB_OPCODE_RC_FETCH_ADD
 * @compare: compare value of a compare-and-swap
 * @swap_add: swap value or addend
 * @orig_val: set to the value found
 *
 * Context: rxe responder task, may sleep.  Takes umem_mutex (and an
 * implicit MR's children_rwsem), then rxe_atomic_ops_lock for the 8-byte
 * operation itself.
 * Return: RESPST_NONE (0); RESPST_ERR_RKEY_VIOLATION;
 * RESPST_ERR_MISALIGNED_ATOMIC.
 */
int rxe_odp_mr_atomic_op(struct rxe_mr *mr, u64 iova, int opcode, u64 compare,
			 u64 swap_add, u64 *orig_val)
{
	struct ib_umem_odp *umem_odp;
	enum resp_states state;
	unsigned int offset;
	struct page *page;
	u64 *target;
	u8 *kva;
	u64 value;

	state = rxe_odp_atomic_begin_and_lock(mr, iova, &umem_odp, &page,
					      &offset);
	if (state != RESPST_NONE)
		return state;

	kva = kmap_local_page(page);
	target = (u64 *)(kva + offset);

	spin_lock_bh(&rxe_atomic_ops_lock);
	value = *target;
	*orig_val = value;
	if (opcode == IB_OPCODE_RC_COMPARE_SWAP) {
		if (value == compare)
			*target = swap_add;
	} else {
		*target = value + swap_add;
	}
	spin_unlock_bh(&rxe_atomic_ops_lock);

	kunmap_local(kva);
	rxe_odp_unlock(rxe_odp_mr(mr), umem_odp);

	return RESPST_NONE;
}

/**
 * rxe_odp_mr_atomic_write - rxe_mr_do_atomic_write() for an ODP MR
 * @mr: ODP MR in the valid state, referenced by the caller
 * @iova: target, 8-byte aligned
 * @value: value to store
 *
 * Context: rxe responder task, may sleep.  Takes umem_mutex (and an
 * implicit MR's children_rwsem).
 * Return: RESPST_NONE (0); RESPST_ERR_RKEY_VIOLATION;
 * RESPST_ERR_MISALIGNED_ATOMIC.
 */
int rxe_odp_mr_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	struct ib_umem_odp *umem_odp;
	enum resp_states state;
	unsigned int offset;
	struct page *page;
	u8 *kva;

	state = rxe_odp_atomic_begin_and_lock(mr, iova, &umem_odp, &page,
					      &offset);
	if (state != RESPST_NONE)
		return state;

	kva = kmap_local_page(page);
	/* Do the atomic write after all prior operations have completed. */
	smp_store_release((u64 *)(kva + offset), value);
	kunmap_local(kva);

	rxe_odp_unlock(rxe_odp_mr(mr), umem_odp);

	return RESPST_NONE;
}

static bool rxe_odp_page_is_pmem(struct page *page)
{
	return region_intersects(page_to_phys(page), PAGE_SIZE, IORESOURCE_MEM,
				 IORES_DESC_PERSISTENT_MEMORY) ==
	       REGION_INTERSECTS;
}

/*
 * __rxe_odp_flush_pmem - write back the CPU caches over mirrored pmem
 * @umem_odp: the MR's umem
 * @va: user virtual address inside the umem
 * @length: bytes
 *
 * Needs umem_odp->umem_mutex, taken by rxe_odp_map_range_and_lock() for
 * this range.
 * Return: 0; -EFAULT if a page is not mirrored; -EINVAL if a page is not
 * persistent memory (a pinned MR would have been refused at registration).
 */
static int __rxe_odp_flush_pmem(struct ib_umem_odp *umem_odp, u64 va,
				unsigned int length)
{
	unsigned int offset, bytes;
	struct page *page;
	u8 *kva;

	lockdep_assert_held(&umem_odp->umem_mutex);

	while (length) {
		page = __rxe_odp_page(umem_odp, va, ODP_READ_ALLOWED_BIT,
				      &offset);
		if (!page)
			return -EFAULT;
		if (!rxe_odp_page_is_pmem(page))
			return -EINVAL;

		bytes = min_t(unsigned int, length, PAGE_SIZE - offset);
		kva = kmap_local_page(page);
		arch_wb_cache_pmem(kva + offset, bytes);
		kunmap_local(kva);

		va += bytes;
		length -= bytes;
	}

	return 0;
}

/**
 * rxe_odp_flush_pmem_iova - rxe_flush_pmem_iova() for an ODP MR
 * @mr: ODP MR, referenced by the caller
 * @iova: start, untrusted: checked here (rxe_odp_mr_va())
 * @length: bytes, > 0
 *
 * Pages are faulted in for reading, as the flush must reach every page
 * that RDMA may have written.
 *
 * Context: rxe responder task, may sleep.  Takes and drops umem_mutex (and
 * an implicit MR's children_rwsem) per chunk.
 * Return: 0; -EFAULT (outside the MR, or a page cannot be mirrored);
 * -EINVAL (not persistent memory); -EBUSY; -ENOMEM.
 */
int rxe_odp_flush_pmem_iova(struct rxe_mr *mr, u64 iova, unsigned int length)
{
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);
	struct ib_umem_odp *umem_odp;
	unsigned int bytes;
	u64 va;
	int err;

	err = rxe_odp_mr_va(mr, iova, length, &va);
	if (err)
		return err;

	while (length) {
		umem_odp = rxe_odp_map_prefix_and_lock(odp, va, length, false,
						       &bytes, NULL);
		if (IS_ERR(umem_odp))
			return PTR_ERR(umem_odp);
		err = __rxe_odp_flush_pmem(umem_odp, va, bytes);
		rxe_odp_unlock(odp, umem_odp);
		if (err)
			return err;

		va += bytes;
		length -= bytes;
	}

	return 0;
}

/*
 * rxe_odp_root_get - the umem an ODP MR hangs off
 * @rxe: the device
 * @start: user virtual address (0 for an implicit MR)
 * @length: bytes (U64_MAX for an implicit MR)
 * @access: IB_ACCESS_* flags
 * @implicit: the MR is implicit: the whole address space
 *
 * A HUGETLB MR gets one ib_umem_odp over the whole range now (children are
 * PAGE_SIZE only); any other MR an implicit umem, an anchor with no lists
 * and no notifier, whose children are made on first access.
 * Context: process context (reg_user_mr verb).
 * Return: the umem or ERR_PTR(): -EINVAL (empty range, or an implicit
 * HUGETLB MR), -EOVERFLOW, and the errors of ib_umem_odp_get() /
 * ib_umem_odp_alloc_implicit().
 */
static struct ib_umem_odp *rxe_odp_root_get(struct rxe_dev *rxe, u64 start,
					    u64 length, int access,
					    bool implicit)
{
	struct ib_umem_odp *root;
	u64 end;

	if (implicit && (access & IB_ACCESS_HUGETLB))
		return ERR_PTR(-EINVAL);
	if (access & IB_ACCESS_HUGETLB)
		return ib_umem_odp_get(&rxe->ib_dev, start, length, access,
				       &rxe_odp_mn_ops);

	if (!length)
		return ERR_PTR(-EINVAL);
	if (!implicit && (check_add_overflow(start, length, &end) ||
			  end > U64_MAX - PAGE_SIZE))
		return ERR_PTR(-EOVERFLOW);

	root = ib_umem_odp_alloc_implicit(&rxe->ib_dev, access);
	if (IS_ERR(root))
		return root;

	/* an implicit umem has no range of its own: record the MR's */
	root->umem.address = start;
	root->umem.length = length;

	return root;
}

/**
 * rxe_odp_mr_init_user - register an ODP MR
 * @rxe: the device
 * @start: user virtual address; 0 with @length U64_MAX for implicit ODP
 * @length: bytes
 * @access: IB_ACCESS_* flags, including IB_ACCESS_ON_DEMAND
 * @mr: MR initialised by rxe_mr_init(), not yet in the pool index
 *
 * Pins nothing and builds no page list.  Except for HUGETLB MRs, nothing is
 * allocated per page either, so registration costs the same whatever the
 * size: page lists and notifiers come with each chunk's child umem, the
 * first time rxe touches the chunk.  An implicit MR covers the user
 * address space of the calling process, [0, TASK_SIZE): addresses above
 * (kernel, non-canonical) fail as outside the MR (rxe_odp_implicit.c).
 *
 * Context: process context (reg_user_mr verb).  No lock held or taken.
 * Return: 0; -EOPNOTSUPP for a device without virtual DMA; -ENOMEM;
 * -EINVAL; -EOVERFLOW; the errors of ib_umem_odp_get() and
 * ib_umem_odp_alloc_implicit().
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length, int access,
			 struct rxe_mr *mr)
{
	bool implicit = !start && length == U64_MAX;
	struct ib_umem_odp *root;
	struct rxe_odp_mr *odp;
	int err;

	/* dma_list must hold kernel addresses for rxe to copy through. */
	if (WARN_ON_ONCE(!ib_uses_virt_dma(&rxe->ib_dev)))
		return -EOPNOTSUPP;

	odp = kzalloc(sizeof(*odp), GFP_KERNEL_ACCOUNT);
	if (!odp)
		return -ENOMEM;

	root = rxe_odp_root_get(rxe, start, length, access, implicit);
	if (IS_ERR(root)) {
		err = PTR_ERR(root);
		rxe_dbg_mr(mr, "cannot make the ODP umem, err = %d\n", err);
		goto err_free_odp;
	}

	odp->root = root;
	odp->chunked = root->is_implicit_odp;
	odp->implicit = implicit;
	if (implicit) {
		odp->start = 0;
		odp->end = current->mm->task_size;
	} else {
		odp->start = ALIGN_DOWN(start, PAGE_SIZE);
		odp->end = ALIGN(start + length, PAGE_SIZE);
	}
	rxe_odp_children_init(odp);
	INIT_LIST_HEAD(&odp->prefetch_sges);
	odp->mm = current->mm;
	mmgrab(odp->mm);
	root->private = odp;

	mr->umem = &root->umem;
	mr->ibmr.type = IB_MR_TYPE_USER;
	mr->state = RXE_MR_STATE_VALID;

	return 0;

err_free_odp:
	kfree(odp);
	return err;
}

/**
 * rxe_odp_mr_release - release an ODP MR's umems
 * @mr: ODP MR being cleaned up
 *
 * Called from rxe_mr_cleanup(): the MR is out of the pool index and every
 * reference is gone, so no rxe task can reach it (or create a child) any
 * more.  An invalidation still running is serialised by umem_mutex inside
 * ib_umem_odp_release(), which unmaps every page of a umem (dirtying those
 * mapped writable) and then removes its notifier, waiting for a callback in
 * progress to return.  Children go first (rxe_odp_children_destroy()), the
 * root last.
 *
 * Context: process context, may sleep.  Must not hold any ODP lock.
 */
void rxe_odp_mr_release(struct rxe_mr *mr)
{
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);

	mr->umem = NULL;

	rxe_odp_children_destroy(odp);
	ib_umem_odp_release(odp->root);
	mmdrop(odp->mm);
	kfree(odp);
}

/**
 * rxe_odp_init_caps - advertise ODP, explicit and implicit
 * @rxe: the device, while its attributes are set up
 *
 * Context: device creation.  No lock.
 */
void rxe_odp_init_caps(struct rxe_dev *rxe)
{
	struct ib_odp_caps *caps = &rxe->attr.odp_caps;

	rxe->attr.kernel_cap_flags |= IBK_ON_DEMAND_PAGING;

	caps->general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	caps->per_transport_caps.rc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
		IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV |
		IB_ODP_SUPPORT_FLUSH | IB_ODP_SUPPORT_ATOMIC_WRITE;
	caps->per_transport_caps.ud_odp_caps = IB_ODP_SUPPORT_SEND |
					       IB_ODP_SUPPORT_RECV |
					       IB_ODP_SUPPORT_SRQ_RECV;
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
