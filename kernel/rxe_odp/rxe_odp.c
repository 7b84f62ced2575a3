// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: ODP MRs' registration and release, and the
 * device's ODP capabilities (the top layer).
 *
 * An ODP MR pins nothing, and registering one costs the same whatever its
 * size: the MR's umem is an implicit ib_umem_odp (an anchor with no page
 * lists and no notifier), and each RXE_ODP_CHILD_SIZE-aligned chunk of the
 * range gets its own child ib_umem_odp - page lists plus an mmu interval
 * notifier over the chunk - the first time a page of the chunk is mirrored
 * (rxe_odp_chunks.c).  An IB_ACCESS_HUGETLB MR (children are PAGE_SIZE
 * only) is instead one ib_umem_odp over the whole range, made at
 * registration.
 *
 * Files, each using only those listed before it:
 *   rxe_odp_umem.c         the mirror of one umem: fault, look up, invalidate
 *   rxe_odp_warm.c         an explicit MR's warm translations: the pages
 *                          its recent copies went through
 *   rxe_odp_fault_around.c the window a fault covers
 *   rxe_odp_chunks.c       an MR's bounds, its chunks' children, implicit
 *                          MRs, and the one walk of accesses and prefetches
 *   rxe_odp_prefetch.c     advise_mr and fault-ahead, on the prefetch
 *                          workqueue
 *   rxe_odp_access.c       copies, atomics, atomic write, flush
 *   rxe_odp_stats.c        per-MR statistics for the rdma tool (restrack)
 *   rxe_odp.c              this file
 * and rxe_odp_trace.h, the rxe_odp tracepoints, which any of them fires
 * (instantiated in rxe_odp_trace.c).
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
 *	reference, so its accesses do not take it.  Also held for read, any MR,
 *	by the rdma tool's statistics while they sum the children's mirrored
 *	pages (rxe_odp_pages_mirrored(), in a netlink dump holding only a
 *	restrack reference on the MR).  Held for write to add a
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
 *	copies to or from, or does an atomic on, mirrored pages (but for a
 *	warm copy, which takes no lock: below), and by the invalidate
 *	callback while it unmaps.  Taken only in process context:
 *	by rxe tasks (the requester, completer and responder run on the rxe_wq
 *	workqueue and may sleep) and by the mmu notifier, which may run with
 *	mmap_lock, i_mmap_rwsem or page locks held, or from direct reclaim.
 *	So while it is held nothing may take mmap_lock, allocate memory that
 *	can enter reclaim, wait for anything an invalidation can block, or
 *	take a second umem_mutex (all share one lock class).
 * odp->warm_lock (spinlock; one per ODP MR)
 *	Orders the writers of odp->warm, the pages an explicit MR's recent
 *	copies found mirrored (rxe_odp_warm.c), and its eviction counts:
 *	taken inside umem_mutex by a copy that fills them (which also bumps
 *	odp->warm_seq around its changes) and by the invalidate callbacks,
 *	which forget the range's before they unmap it.  A copy through them
 *	(a warm copy) takes neither it nor umem_mutex: it is an RCU-sched
 *	reader, and an invalidation that dropped a translation of its range,
 *	or follows an eviction no grace period has covered yet, waits for a
 *	grace period (synchronize_rcu_expedited(), with only umem_mutex
 *	held); so an invalidation waits for a warm copy of its pages and
 *	none starts after it forgot them.  Only process context takes it
 *	(rxe tasks, the notifier), never from IRQ or BH; nothing is taken,
 *	nothing sleeps and nothing faults under it.
 * odp->stats.count_rwsem (rw_semaphore, one per MR)
 *	Held by a fault (read) or a prefetch step (write) from counting the
 *	pages it will add until they are mirrored, across mmap_lock and
 *	umem_mutex, so that a fault-ahead and the stream that catches up
 *	with it do not both count the same pages.  Faults of the MR run in
 *	parallel; a fault waits for a prefetch step of the same MR (one
 *	chunk at most) and the other way round.  Never taken by the warm
 *	path (nothing to fault) nor by invalidations.
 * rxe_atomic_ops_lock (spinlock, BH-disabling; rxe_mr.c)
 *	Makes rxe's 8-byte atomics atomic with respect to each other, pinned
 *	or ODP.  ODP atomics take it inside umem_mutex.
 * mmap_lock of the owning mm (read)
 *	Taken by ib_umem_odp_map_dma_and_lock() around hmm_range_fault(),
 *	and by rxe_odp_fault_window() and rxe_odp_fault_ahead_len() to look
 *	up VMAs, with umem_mutex NOT held; umem_mutex is taken after it is
 *	dropped.
 * rxe_odp_prefetch_lock (spinlock; rxe_odp_prefetch.c)
 *	Guards each ODP MR's list of queued prefetch SGEs (odp->prefetch_sges,
 *	odp->nr_prefetch_sges) and the MR references they hold, and orders the
 *	SGE checks of a prefetch against dereg marking the MR invalid
 *	(rxe_odp_prefetch_cancel_mr()).  A leaf: only MR lookups (RCU and a
 *	kref) and kref puts happen under it; nothing sleeps under it; it is
 *	never held with another ODP lock nor across a fault, and only process
 *	context takes it (verbs, dereg, the workqueue).  A prefetch then
 *	mirrors with the locks of an rxe task, in the order below.
 *
 * Order: children_rwsem -> count_rwsem -> mmap_lock -> umem_mutex ->
 * rxe_atomic_ops_lock; umem_mutex -> warm_lock;
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
 * when rxe calls into our files, and our files never take them.  Callers
 * hold only a reference on the MR, which keeps it (and its umem) alive.
 */

#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

/* Lets users and the testbed tell this module from the stock rdma_rxe. */
MODULE_VERSION(RXE_ODP_VERSION "-odp");

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/**
 * rxe_odp_check_reg - refuse an ODP MR that could not work over its range
 * @start: user virtual address
 * @length: bytes
 * @iova: the MR's first iova
 * @access: IB_ACCESS_* flags
 *
 * An implicit MR (@start 0, @length U64_MAX) covers the address space at
 * iova == address, so it must have @iova 0.  An explicit MR's user range
 * must lie in the caller's user address space, where alone a page can ever
 * be mirrored, and its iova range must end below 2^64: rxe_odp_mr_va() and
 * the window arithmetic of rxe_odp_fault_around.c rely on both.  Non-ODP
 * MRs are rxe's and not checked here.
 * Context: reg_user_mr verb, in the registering process.
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
	    end > current->mm->task_size ||
	    check_add_overflow(iova, length, &end))
		return -EINVAL;

	return 0;
}

/*
 * rxe_odp_invalidate - the invalidate callback of a HUGETLB MR's umem
 * @mni: the notifier of the MR's umem
 * @range: what changes in the CPU page tables
 * @cur_seq: the sequence number to publish
 *
 * Context: mm core, process context, possibly with mmap_lock, i_mmap_rwsem
 * or page locks held, or in reclaim.  Takes umem_odp->umem_mutex, and
 * inside it the MR's warm_lock; may wait for an RCU grace period
 * (rxe_odp_warm_forget()).
 * Return: false if the range may not block (we would have to sleep on
 * umem_mutex), else true once the range is no longer mirrored.
 */
static bool rxe_odp_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct ib_umem_odp *umem_odp =
		container_of(mni, struct ib_umem_odp, notifier);
	struct rxe_odp_mr *odp = umem_odp->private;

	if (!mmu_notifier_range_blockable(range))
		return false;

	mutex_lock(&umem_odp->umem_mutex);
	/* NULL while rxe_odp_mr_init_user() is still setting the MR up */
	rxe_odp_warm_forget(odp, umem_odp, range->start, range->end);
	__rxe_odp_invalidate(umem_odp, odp ? &odp->stats : NULL, range,
			     cur_seq);
	mutex_unlock(&umem_odp->umem_mutex);

	return true;
}

static const struct mmu_interval_notifier_ops rxe_odp_mn_ops = {
	.invalidate = rxe_odp_invalidate,
};

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
 * and no notifier, whose children are made on first access.  The range was
 * checked by rxe_odp_check_reg() (patch 0001).
 * Context: process context (reg_user_mr verb).
 * Return: the umem or ERR_PTR(): -EINVAL (an implicit HUGETLB MR), and the
 * errors of ib_umem_odp_get() / ib_umem_odp_alloc_implicit().
 */
static struct ib_umem_odp *rxe_odp_root_get(struct rxe_dev *rxe, u64 start,
					    u64 length, int access,
					    bool implicit)
{
	struct ib_umem_odp *root;

	if (implicit && (access & IB_ACCESS_HUGETLB))
		return ERR_PTR(-EINVAL);
	if (access & IB_ACCESS_HUGETLB)
		return ib_umem_odp_get(&rxe->ib_dev, start, length, access,
				       &rxe_odp_mn_ops);

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
 * (kernel, non-canonical) fail as outside the MR (rxe_odp_chunks.c).
 *
 * Context: process context (reg_user_mr verb).  No lock held or taken.
 * Return: 0; -EOPNOTSUPP for a device without virtual DMA; -ENOMEM;
 * -EINVAL; the errors of ib_umem_odp_get() and
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
	rxe_odp_warm_init(odp);
	INIT_LIST_HEAD(&odp->prefetch_sges);
	odp->stats.lkey = mr->lkey;
	init_rwsem(&odp->stats.count_rwsem);
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
