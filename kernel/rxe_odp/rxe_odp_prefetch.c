// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: prefetch (the advise_mr verb) and fault-ahead.
 *
 * ibv_advise_mr() asks for ranges of ODP MRs to be mirrored ahead of use,
 * so that the rxe tasks that access them later find every page in dma_list
 * and fault nothing:
 *   PREFETCH           faults the pages in for reading;
 *   PREFETCH_WRITE     faults them in for writing (the MR needs local write);
 *   PREFETCH_NO_FAULT  faults nothing: it mirrors only the pages the CPU page
 *                      tables hold already, with the permission they have
 *                      there (hmm_range_fault() without HMM_PFN_REQ_FAULT, a
 *                      snapshot).
 * Pages mirrored this way are counted in odp_pages_prefetched, not in
 * odp_faults / odp_pages_faulted, which count only the faults of accesses;
 * odp_prefetches counts the requests accepted.  Each MR counts the same in
 * its own statistics, its prefetches being the accepted SGEs that name it;
 * the rxe_odp_prefetch tracepoint reports each SGE once it is done.
 *
 * Every SGE is checked before anything is mirrored, and a request that fails
 * a check changes nothing.  The errors, in the order they are checked:
 *   -EOPNOTSUPP  an advice other than the three above;
 *   -EINVAL      a flag other than IB_UVERBS_ADVISE_MR_FLAG_FLUSH;
 *   -ENOENT      an lkey that is not a valid ODP MR of this PD (no such
 *                key, another PD, a pinned MR, an MR being deregistered);
 *   -EPERM       PREFETCH_WRITE on an MR without IB_ACCESS_LOCAL_WRITE;
 *   -EINVAL      an SGE not inside its MR (or whose end overflows);
 *   -ENOMEM.
 * A zero-length SGE is checked like any other and mirrors nothing.
 *
 * With IB_UVERBS_ADVISE_MR_FLAG_FLUSH the verb mirrors the ranges itself and
 * returns when they are mirrored, or with the first error: -EFAULT (a page
 * that cannot be mirrored with the access asked: a hole, PROT_NONE, a
 * read-only mapping for PREFETCH_WRITE), -EBUSY (invalidations kept winning
 * the race), -ENOMEM, -ENOENT (the MR was deregistered meanwhile), -EINTR (a
 * fatal signal).  Without the flag the request is queued on
 * rxe_odp_prefetch_wq and the verb returns 0 at once; errors of queued work
 * are only logged (dynamic debug), and the other SGEs are still prefetched.
 * When one of its MRs is named by RXE_ODP_PREFETCH_MR_MAX queued SGEs
 * already, a new request is carried out in the caller instead (same
 * result, no error): what waits is bounded per MR, charged to the caller's
 * memory cgroup, and one process queueing much holds up no one else's
 * requests nor fault-ahead.
 *
 * Fault-ahead.  Fault-around (rxe_odp_fault_around.c) makes misses
 * cheaper, not fewer in bytes: a first transfer into fresh memory still
 * allocates and zeroes every page it lands on inside the transfer, on the
 * CPU that runs it.  So a copy that misses while it goes on where the last
 * copy of the MR ended - a sequential stream - also queues a prefetch of
 * the next fault_ahead_pages pages (rxe_odp_prefetch_ahead()), which
 * another CPU faults in while this one moves data; the stream queues the
 * next stretch each time it gets within half that distance of what was
 * queued.  Such a request has one range, checked by the rxe task that made
 * it, stays inside the MR and the VMA where it starts, follows the
 * window's VMA rules (so a write never faults file pages ahead), is counted
 * in odp_pages_prefetched but not in odp_prefetches, and is dropped rather
 * than run in the caller when RXE_ODP_AHEAD_MR_MAX SGEs of its MR are
 * queued.  It lives and is cancelled as the verb's requests are.
 *
 * Lifetime of a request
 * ---------------------
 * A request holds a pool reference on each MR it names, taken by the lookup
 * that validates the SGE.  That keeps the MR, its umem and the owning
 * mm_struct (grabbed by the umem), and with them the device: rxe_dereg_mr()
 * waits for the references, and removing the device waits for every user
 * context to close and so for every user MR to be deregistered (rxe has no
 * disassociate_ucontext).  The owning process may exit while a request
 * waits: its faults then fail (the core's mmget_not_zero()) and it ends.
 *
 * rxe_dereg_mr() calls rxe_odp_prefetch_cancel_mr() before it waits for the
 * references: under rxe_odp_prefetch_lock, the MR is marked invalid (so no
 * new request validates against it) and the SGEs of queued requests that
 * have not started, which sit on the MR's own list (a few dozen at most),
 * drop their references to it; a running request sees the mark before its
 * next step of at most RXE_ODP_CHUNK_SIZE.  So dereg (and process
 * exit, and device removal) never waits for a queued request, nor for more
 * than one step of a running one.  A request drops its MR references last;
 * after the last one it touches nothing but its own memory.  The work
 * function is this module's code: module exit destroys (drains) the
 * workqueue after every device is gone.
 *
 * Locking: rxe_odp_prefetch_lock guards what is queued; see "Locking" in
 * rxe_odp.c.
 */

#include <linux/list.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"
#include "rxe_odp_trace.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* Queued SGEs naming one MR; beyond this the caller does the work. */
#define RXE_ODP_PREFETCH_MR_MAX 64
/* A fault-ahead is dropped when this many SGEs of its MR wait already. */
#define RXE_ODP_AHEAD_MR_MAX 4

/**
 * struct rxe_odp_prefetch_sge - one checked SGE of a prefetch request
 * @mr: the ODP MR, referenced; NULL once the reference is dropped
 * @node: on the MR's odp->prefetch_sges while the request is queued
 * @iova: start of the range
 * @length: bytes
 */
struct rxe_odp_prefetch_sge {
	struct rxe_mr *mr;
	struct list_head node;
	u64 iova;
	u32 length;
};

/**
 * struct rxe_odp_prefetch - one advise_mr prefetch request
 * @work: runs the request on rxe_odp_prefetch_wq (queued requests)
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH*
 * @ahead: a fault-ahead (rxe_odp_prefetch_ahead()), not a verb's request
 * @num_sge: entries in @sge
 * @sge: the ranges
 */
struct rxe_odp_prefetch {
	struct work_struct work;
	enum ib_uverbs_advise_mr_advice advice;
	bool ahead;
	u32 num_sge;
	struct rxe_odp_prefetch_sge sge[] __counted_by(num_sge);
};

static struct workqueue_struct *rxe_odp_prefetch_wq;
static DEFINE_SPINLOCK(rxe_odp_prefetch_lock);

/* One step of a prefetch: what rxe_odp_prefetch_mirror() is asked and did. */
struct rxe_odp_prefetch_step {
	struct rxe_odp_mirror mirror;
	struct rw_semaphore *count_rwsem;
	bool counting;
	u64 len;
	u64 perm;
	bool fault;
	u64 bytes;
	unsigned long before;
};

/*
 * rxe_odp_prefetch_mirror - the mirror step of a prefetch
 * @mirror: in a struct rxe_odp_prefetch_step, whose bytes is set to how
 *	much from @va this step covers (at most RXE_ODP_CHUNK_SIZE, never past
 *	@end), before to how many of its pages were not mirrored as asked
 * @umem_odp: the umem holding @va, whose range ends at @end
 * @va: user virtual address
 * @end: end of the umem's range
 *
 * Context: process context, may sleep; no umem_mutex held.  Takes
 * umem_mutex to see what is mirrored already; if that is all, returns
 * with it held; otherwise drops it and faults (or, for NO_FAULT,
 * snapshots) the range with ib_umem_odp_map_dma_and_lock(), which runs
 * hmm_range_fault() under mmap_lock, takes umem_mutex, checks
 * mmu_interval_read_retry() under it (retrying internally until
 * HMM_RANGE_DEFAULT_TIMEOUT) and maps what it found.
 * Return: 0 with umem_mutex held; -EFAULT if a page cannot be mirrored as
 * asked or the owning process is gone; -EBUSY; -ENOMEM; nothing held.
 */
static int rxe_odp_prefetch_mirror(struct rxe_odp_mirror *mirror,
				   struct ib_umem_odp *umem_odp, u64 va,
				   u64 end)
{
	struct rxe_odp_prefetch_step *step =
		container_of(mirror, struct rxe_odp_prefetch_step, mirror);
	int ret;

	step->bytes = min3(step->len, end - va, (u64)RXE_ODP_CHUNK_SIZE);

	/* until the step has counted; rxe_odp_prefetch_step() drops it */
	down_write(step->count_rwsem);
	step->counting = true;
	mutex_lock(&umem_odp->umem_mutex);
	step->before =
		__rxe_odp_pages_missing(umem_odp, va, step->bytes, step->perm);
	if (!step->before)
		return 0;
	mutex_unlock(&umem_odp->umem_mutex);

	ret = ib_umem_odp_map_dma_and_lock(umem_odp, va, step->bytes,
					   step->perm, step->fault);
	if (ret >= 0)
		return 0;
	up_write(step->count_rwsem);
	step->counting = false;
	/* -EFAULT, -EPERM, -EINVAL: see above */
	return ret == -ENOMEM || ret == -EBUSY ? ret : -EFAULT;
}

/*
 * rxe_odp_prefetch_step - mirror the start of a range of an ODP MR
 * @mr: ODP MR, referenced by the caller
 * @va: user virtual address inside the MR
 * @len: bytes, > 0, inside the MR
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH*
 * @pages: increased by the pages this step newly mirrored
 *
 * Mirrors at most RXE_ODP_CHUNK_SIZE, and never past the end of the umem
 * that holds @va.  Counts the pages it newly mirrored (or, for
 * PREFETCH_WRITE, made writable) in odp_pages_prefetched and in the MR's
 * pages prefetched.  A chunk with no child gets one only if this leaves
 * pages mirrored in it.
 *
 * Context: process context, may sleep; no ODP lock held.
 * Locks: those of rxe_odp_mirror_and_lock(), for the whole step.
 * Return: the bytes handled (> 0); -EFAULT if a page cannot be mirrored as
 * asked or the owning process is gone; -EBUSY; -ENOMEM.
 */
static int rxe_odp_prefetch_step(struct rxe_mr *mr, u64 va, u64 len,
				 enum ib_uverbs_advise_mr_advice advice,
				 u64 *pages)
{
	struct rxe_odp_prefetch_step step = {
		.mirror.fn = rxe_odp_prefetch_mirror,
		.len = len,
		.perm = ODP_READ_ALLOWED_BIT,
		.fault = advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
	};
	struct rxe_dev *rxe = to_rdev(mr->ibmr.device);
	atomic64_t *prefetched =
		&rxe->stats_counters[RXE_CNT_ODP_PAGES_PREFETCHED];
	struct rxe_odp_mr *odp = rxe_odp_mr(mr);
	struct ib_umem_odp *umem_odp;
	unsigned long after;
	int ret;

	if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE)
		step.perm |= ODP_WRITE_ALLOWED_BIT;

	step.count_rwsem = &odp->stats.count_rwsem;
	umem_odp = rxe_odp_mirror_and_lock(odp, va, &step.mirror);
	if (IS_ERR(umem_odp)) {
		/* the mirror step counted nothing that is kept */
		if (step.counting)
			up_write(step.count_rwsem);
		ret = PTR_ERR(umem_odp);
		/* a NO_FAULT snapshot of a chunk with nothing mapped */
		if (ret == -ENODATA)
			return step.bytes;
		return ret == -ENOMEM || ret == -EBUSY ? ret : -EFAULT;
	}

	/*
	 * Count under the same hold of umem_mutex, and of count_rwsem since
	 * the look: no fault counted these pages meanwhile.  An invalidation
	 * between the look and the fault may make this an undercount.
	 */
	after = __rxe_odp_pages_missing(umem_odp, va, step.bytes, step.perm);
	rxe_odp_unlock(odp, umem_odp);
	up_write(step.count_rwsem);
	if (step.before > after) {
		atomic64_add(step.before - after, prefetched);
		rxe_odp_stat_add(&odp->stats, RXE_ODP_STAT_PAGES_PREFETCHED,
				 step.before - after);
		*pages += step.before - after;
	}

	return step.bytes;
}

/*
 * rxe_odp_prefetch_range - mirror the range of one SGE
 * @sge: a checked SGE whose MR reference the caller holds
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH*
 * @in_caller: run by the verb's caller, whom a fatal signal interrupts
 * @pages: set to the pages it newly mirrored
 *
 * Stops early when the MR is being deregistered.
 * Context: process context, may sleep; no ODP lock held.
 * Return: 0; -ENOENT if the MR is being deregistered; -EINTR; an error of
 * rxe_odp_prefetch_step().
 */
static int rxe_odp_prefetch_range(struct rxe_odp_prefetch_sge *sge,
				  enum ib_uverbs_advise_mr_advice advice,
				  bool in_caller, u64 *pages)
{
	struct rxe_mr *mr = sge->mr;
	u64 va = rxe_odp_iova_to_va(mr, sge->iova);
	u64 left = sge->length;
	int ret;

	*pages = 0;
	while (left) {
		/* marked by rxe_odp_prefetch_cancel_mr() */
		if (READ_ONCE(mr->state) != RXE_MR_STATE_VALID)
			return -ENOENT;
		if (in_caller && fatal_signal_pending(current))
			return -EINTR;

		ret = rxe_odp_prefetch_step(mr, va, left, advice, pages);
		if (ret < 0)
			return ret;

		va += ret;
		left -= ret;
		cond_resched();
	}

	return 0;
}

/*
 * rxe_odp_prefetch_run - carry out a request
 * @req: a checked request, no longer queued
 * @in_caller: run by the verb's caller (see rxe_odp_prefetch_range())
 * @sync: stop at the first error and return it; otherwise go on with the
 *	next SGE
 *
 * Context: process context, may sleep; no ODP lock held.
 * Return: 0, or (@sync only) the first error of rxe_odp_prefetch_range().
 */
static int rxe_odp_prefetch_run(struct rxe_odp_prefetch *req, bool in_caller,
				bool sync)
{
	struct rxe_odp_prefetch_sge *sge;
	u64 pages;
	int err;
	u32 i;

	for (i = 0; i < req->num_sge; i++) {
		sge = &req->sge[i];
		if (!sge->mr)
			continue; /* dropped by rxe_odp_prefetch_cancel_mr() */

		err = rxe_odp_prefetch_range(sge, req->advice, in_caller,
					     &pages);
		if (trace_rxe_odp_prefetch_enabled())
			trace_rxe_odp_prefetch(sge->mr->lkey,
					       rxe_odp_iova_to_va(sge->mr,
								  sge->iova),
					       sge->length, req->advice,
					       req->ahead, pages, err);
		if (!err)
			continue;
		rxe_dbg_mr(sge->mr, "prefetch %#llx+%u advice %d: err = %d\n",
			   sge->iova, sge->length, req->advice, err);
		if (sync)
			return err;
	}

	return 0;
}

/*
 * rxe_odp_prefetch_free - drop a request's MR references and free it
 *
 * After the last MR reference is gone the device may go too: nothing here
 * touches it.
 * Context: process context.  No longer queued.
 */
static void rxe_odp_prefetch_free(struct rxe_odp_prefetch *req)
{
	u32 i;

	for (i = 0; i < req->num_sge; i++)
		if (req->sge[i].mr)
			rxe_put(req->sge[i].mr);
	kvfree(req);
}

/*
 * __rxe_odp_prefetch_room - whether every MR of a request may queue it
 * @req: a checked request
 * @max: how many queued SGEs an MR may have before this one's
 *
 * Needs rxe_odp_prefetch_lock.
 */
static bool __rxe_odp_prefetch_room(struct rxe_odp_prefetch *req,
				    unsigned int max)
{
	u32 i;

	lockdep_assert_held(&rxe_odp_prefetch_lock);
	for (i = 0; i < req->num_sge; i++)
		if (rxe_odp_mr(req->sge[i].mr)->nr_prefetch_sges >= max)
			return false;

	return true;
}

/*
 * __rxe_odp_prefetch_enqueue - put a checked request's SGEs on their MRs
 *
 * Needs rxe_odp_prefetch_lock; the caller then queues @req->work.
 */
static void __rxe_odp_prefetch_enqueue(struct rxe_odp_prefetch *req)
{
	struct rxe_odp_mr *odp;
	u32 i;

	lockdep_assert_held(&rxe_odp_prefetch_lock);
	for (i = 0; i < req->num_sge; i++) {
		odp = rxe_odp_mr(req->sge[i].mr);
		list_add_tail(&req->sge[i].node, &odp->prefetch_sges);
		odp->nr_prefetch_sges++;
	}
}

/*
 * __rxe_odp_prefetch_dequeue - take a queued request's SGEs off their MRs
 *
 * An SGE whose MR reference rxe_odp_prefetch_cancel_mr() dropped is off
 * its list already.  Needs rxe_odp_prefetch_lock.
 */
static void __rxe_odp_prefetch_dequeue(struct rxe_odp_prefetch *req)
{
	u32 i;

	lockdep_assert_held(&rxe_odp_prefetch_lock);
	for (i = 0; i < req->num_sge; i++) {
		if (!req->sge[i].mr)
			continue;
		list_del(&req->sge[i].node);
		rxe_odp_mr(req->sge[i].mr)->nr_prefetch_sges--;
	}
}

static void rxe_odp_prefetch_work(struct work_struct *work)
{
	struct rxe_odp_prefetch *req =
		container_of(work, struct rxe_odp_prefetch, work);
	struct rxe_odp_prefetch_sge *sge = &req->sge[0];
	bool write = req->advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE;

	/* From here on the MR references are ours, not dereg's to drop. */
	spin_lock(&rxe_odp_prefetch_lock);
	__rxe_odp_prefetch_dequeue(req);
	spin_unlock(&rxe_odp_prefetch_lock);

	if (req->ahead && sge->mr)
		sge->length = rxe_odp_fault_ahead_len(sge->mr, sge->iova,
						      sge->length, write);
	rxe_odp_prefetch_run(req, false, false);
	rxe_odp_prefetch_free(req);
}

/*
 * rxe_odp_prefetch_alloc - a new request with no SGE filled in yet
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH*
 * @num_sge: entries in its @sge
 * @gfp: allocation flags
 *
 * Return: the request, zeroed but for the fields above, or NULL.
 */
static struct rxe_odp_prefetch *
rxe_odp_prefetch_alloc(enum ib_uverbs_advise_mr_advice advice, u32 num_sge,
		       gfp_t gfp)
{
	struct rxe_odp_prefetch *req;

	req = kvzalloc(struct_size(req, sge, num_sge), gfp);
	if (!req)
		return NULL;
	INIT_WORK(&req->work, rxe_odp_prefetch_work);
	req->advice = advice;
	req->num_sge = num_sge;
	return req;
}

/*
 * __rxe_odp_prefetch_check_sge - look up and check one SGE
 * @pd: the PD of the verb
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH*
 * @ib_sge: the SGE as given
 * @sge: filled in; @sge->mr holds a reference when it is set, even on error
 *
 * Needs rxe_odp_prefetch_lock, so that an MR found valid here is not being
 * deregistered unseen by rxe_odp_prefetch_cancel_mr().
 * Return: 0; -ENOENT, -EPERM or -EINVAL as listed at the top of this file.
 */
static int __rxe_odp_prefetch_check_sge(struct rxe_pd *pd,
					enum ib_uverbs_advise_mr_advice advice,
					const struct ib_sge *ib_sge,
					struct rxe_odp_prefetch_sge *sge)
{
	struct rxe_dev *rxe = to_rdev(pd->ibpd.device);
	struct rxe_mr *mr;
	u64 va;

	lockdep_assert_held(&rxe_odp_prefetch_lock);

	mr = rxe_pool_get_index(&rxe->mr_pool, ib_sge->lkey >> 8);
	if (!mr)
		return -ENOENT;
	sge->mr = mr;
	sge->iova = ib_sge->addr;
	sge->length = ib_sge->length;

	if (mr->lkey != ib_sge->lkey || mr_pd(mr) != pd ||
	    mr->ibmr.type != IB_MR_TYPE_USER || !rxe_mr_is_odp(mr) ||
	    READ_ONCE(mr->state) != RXE_MR_STATE_VALID) {
		rxe_dbg_pd(pd, "lkey %#x is not an ODP MR of this PD\n",
			   ib_sge->lkey);
		return -ENOENT;
	}

	if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
	    !(mr->access & IB_ACCESS_LOCAL_WRITE)) {
		rxe_dbg_mr(mr, "PREFETCH_WRITE without local write access\n");
		return -EPERM;
	}

	if (rxe_odp_mr_va(mr, sge->iova, sge->length, &va)) {
		rxe_dbg_mr(mr, "prefetch %#llx+%u is not inside the MR\n",
			   sge->iova, sge->length);
		return -EINVAL;
	}

	return 0;
}

/*
 * rxe_odp_prefetch_prepare - check every SGE and take the MR references
 * @req: a new request with @advice and @num_sge set, @sge zeroed
 * @pd: the PD of the verb
 * @sg_list: the SGEs as given
 * @queue: the request is to be queued: put its SGEs on their MRs' lists
 *	if it passes, unless one of them has RXE_ODP_PREFETCH_MR_MAX already
 *
 * Counts the request in the statistics of each MR it names, once per SGE.
 * Context: process context.  Takes rxe_odp_prefetch_lock.
 * Return: 0, with *@queue cleared if the caller must run the request
 * itself; the first error of __rxe_odp_prefetch_check_sge(), with the
 * references taken so far left in @req for rxe_odp_prefetch_free().
 */
static int rxe_odp_prefetch_prepare(struct rxe_odp_prefetch *req,
				    struct rxe_pd *pd,
				    const struct ib_sge *sg_list, bool *queue)
{
	int err = 0;
	u32 i;

	spin_lock(&rxe_odp_prefetch_lock);
	for (i = 0; i < req->num_sge; i++) {
		err = __rxe_odp_prefetch_check_sge(pd, req->advice, &sg_list[i],
						   &req->sge[i]);
		if (err)
			goto out_unlock;
	}

	/* counted here: once queued, dereg may take an SGE's MR away */
	for (i = 0; i < req->num_sge; i++)
		rxe_odp_stat_add(&rxe_odp_mr(req->sge[i].mr)->stats,
				 RXE_ODP_STAT_PREFETCHES, 1);

	if (*queue && !__rxe_odp_prefetch_room(req, RXE_ODP_PREFETCH_MR_MAX))
		*queue = false;
	if (*queue)
		__rxe_odp_prefetch_enqueue(req);

out_unlock:
	spin_unlock(&rxe_odp_prefetch_lock);
	return err;
}

/**
 * rxe_odp_advise_mr - the advise_mr device op
 * @ibpd: the PD the SGEs' lkeys must belong to
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH, _PREFETCH_WRITE or
 *	_PREFETCH_NO_FAULT
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH for a synchronous prefetch
 * @sg_list: ranges of ODP MRs (lkey, iova, length)
 * @num_sge: entries in @sg_list
 * @attrs: uverbs attributes (unused)
 *
 * Context: process context (the ADVISE_MR uverbs method), may sleep.  Takes
 * rxe_odp_prefetch_lock, and for a synchronous request the locks of
 * rxe_odp_prefetch_step().
 * Return: 0 once queued or (FLUSH) done; the errors listed at the top of
 * this file.
 */
int rxe_odp_advise_mr(struct ib_pd *ibpd,
		      enum ib_uverbs_advise_mr_advice advice, u32 flags,
		      struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs)
{
	bool queue = !(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH);
	struct rxe_pd *pd = to_rpd(ibpd);
	struct rxe_odp_prefetch *req;
	int err;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		break;
	default:
		rxe_dbg_pd(pd, "advice %d not supported\n", advice);
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EINVAL;
	if (!num_sge)
		return 0;

	req = rxe_odp_prefetch_alloc(advice, num_sge, GFP_KERNEL_ACCOUNT);
	if (!req)
		return -ENOMEM;

	err = rxe_odp_prefetch_prepare(req, pd, sg_list, &queue);
	if (err)
		goto out_free_req;

	rxe_counter_inc(to_rdev(ibpd->device), RXE_CNT_ODP_PREFETCHES);

	if (queue) {
		queue_work(rxe_odp_prefetch_wq, &req->work);
		return 0;
	}

	/* an asynchronous request run here for backpressure reports nothing */
	err = rxe_odp_prefetch_run(req, true,
				   flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH);

out_free_req:
	rxe_odp_prefetch_free(req);
	return err;
}

/* 64 MiB of 4 KiB pages: what one stream may have queued at most. */
#define RXE_ODP_FAULT_AHEAD_MAX 16384

static unsigned int rxe_odp_fault_ahead_pages = 1024;

static int rxe_odp_fault_ahead_set(const char *val,
				   const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, RXE_ODP_FAULT_AHEAD_MAX);
}

static const struct kernel_param_ops rxe_odp_fault_ahead_ops = {
	.set = rxe_odp_fault_ahead_set,
	.get = param_get_uint,
};

module_param_cb(fault_ahead_pages, &rxe_odp_fault_ahead_ops,
		&rxe_odp_fault_ahead_pages, 0644);

MODULE_PARM_DESC(fault_ahead_pages,
		 "Pages a sequential ODP stream faults ahead (0 = off)");

/**
 * rxe_odp_stream_ahead - queue the fault-ahead of a sequential copy
 * @mr: ODP MR, referenced by the caller
 * @end: iova where the copy ended
 * @ahead: @mr's ahead_end as rxe_odp_fault_ahead() read it
 * @write: the copy wrote the MR
 * @faulted: the copy had to fault pages in
 *
 * The part of rxe_odp_fault_ahead() that decides and queues.  A sequential
 * copy that faulted starts a stream; while a stream runs, each sequential
 * copy that comes within half the fault-ahead distance of its end queues
 * the stretch up to that distance past the copy.
 *
 * Context: rxe task, with no ODP lock held.
 */
void rxe_odp_stream_ahead(struct rxe_mr *mr, u64 end, u64 ahead, bool write,
			  bool faulted)
{
	u64 dist = (u64)READ_ONCE(rxe_odp_fault_ahead_pages) << PAGE_SHIFT;
	u64 mr_end = mr->ibmr.iova + mr->ibmr.length;
	u64 from, to;

	if (!dist)
		return;

	if (ahead >= end && ahead - end <= dist) {
		/* a stream runs ahead of this copy */
		if (ahead - end > dist / 2)
			return;
		from = ahead;
	} else if (faulted) {
		from = end;
	} else {
		return;
	}

	to = end + min(dist, mr_end - end);
	if (from >= to)
		return;
	/* one copy moves the stream, whatever other QPs of the MR do */
	if (cmpxchg(&rxe_odp_mr(mr)->ahead_end, ahead, to) != ahead)
		return;

	rxe_odp_prefetch_ahead(mr, from, to - from, write);
}

/**
 * rxe_odp_fault_ahead_len - how much of a queued fault-ahead to fault
 * @mr: ODP MR, referenced by the caller
 * @iova: start of the fault-ahead, inside the MR
 * @len: its bytes
 * @write: fault for writing
 *
 * Context: process context, may sleep.  Takes the owner's mmap_lock for
 * read, so must be called with no ODP lock held.
 * Return: the bytes from @iova that lie in the VMA holding @iova, if the
 * fault-around rules allow faulting over it (rxe_odp_vma_fits_window());
 * otherwise, or if the mm is gone, 0.
 */
u64 rxe_odp_fault_ahead_len(struct rxe_mr *mr, u64 iova, u64 len, bool write)
{
	struct mm_struct *mm = mr->umem->owning_mm;
	u64 va = rxe_odp_iova_to_va(mr, iova);
	struct vm_area_struct *vma;
	u64 ret = 0;

	if (!mmget_not_zero(mm))
		return 0;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, va);
	if (vma && rxe_odp_vma_fits_window(vma, write))
		ret = min(len, vma->vm_end - va);
	mmap_read_unlock(mm);
	mmput(mm);

	return ret;
}

/**
 * rxe_odp_prefetch_ahead - queue a fault-ahead
 * @mr: ODP MR, referenced by the caller
 * @iova: start of the range, inside the MR
 * @len: bytes, inside the MR, <= U32_MAX
 * @write: fault for writing (the MR was just written, so it allows it)
 *
 * rxe_odp_stream_ahead() says when.  Runs like a queued PREFETCH(_WRITE)
 * request, limited to the VMA where it starts; it is dropped rather than
 * made to wait when memory is short or RXE_ODP_AHEAD_MR_MAX SGEs of the
 * MR wait already.
 * Context: rxe task, no ODP lock held.  Takes rxe_odp_prefetch_lock.
 */
void rxe_odp_prefetch_ahead(struct rxe_mr *mr, u64 iova, u64 len, bool write)
{
	enum ib_uverbs_advise_mr_advice advice =
		write ? IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE :
			IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH;
	struct rxe_odp_prefetch *req;
	u64 va;

	/* made by the rxe task from a checked copy: checked all the same */
	if (rxe_odp_mr_va(mr, iova, len, &va))
		return;

	req = rxe_odp_prefetch_alloc(advice, 1, GFP_NOWAIT | __GFP_NOWARN);
	if (!req)
		return;
	req->ahead = true;
	req->sge[0].iova = iova;
	req->sge[0].length = len;

	spin_lock(&rxe_odp_prefetch_lock);
	if (rxe_odp_mr(mr)->nr_prefetch_sges >= RXE_ODP_AHEAD_MR_MAX ||
	    READ_ONCE(mr->state) != RXE_MR_STATE_VALID || !rxe_get(mr)) {
		spin_unlock(&rxe_odp_prefetch_lock);
		kvfree(req);
		return;
	}
	req->sge[0].mr = mr;
	__rxe_odp_prefetch_enqueue(req);
	spin_unlock(&rxe_odp_prefetch_lock);

	trace_rxe_odp_fault_ahead(mr->lkey, va, len, write);
	queue_work(rxe_odp_prefetch_wq, &req->work);
}

/**
 * rxe_odp_prefetch_cancel_mr - an ODP MR is about to be deregistered
 * @mr: the MR, still referenced by its owner
 *
 * Marks the MR invalid, so that no new prefetch validates against it and a
 * running one stops at its next step, and drops the references that queued
 * requests hold on it, so that dereg does not wait for them: a walk of the
 * MR's own list, at most RXE_ODP_PREFETCH_MR_MAX SGEs.
 * Context: process context (dereg_mr verb), before rxe_cleanup().  Takes
 * rxe_odp_prefetch_lock.
 */
void rxe_odp_prefetch_cancel_mr(struct rxe_mr *mr)
{
	struct rxe_odp_prefetch_sge *sge, *next;
	struct rxe_odp_mr *odp;

	if (!rxe_mr_is_odp(mr))
		return;
	odp = rxe_odp_mr(mr);

	spin_lock(&rxe_odp_prefetch_lock);
	WRITE_ONCE(mr->state, RXE_MR_STATE_INVALID);
	list_for_each_entry_safe(sge, next, &odp->prefetch_sges, node) {
		list_del(&sge->node);
		sge->mr = NULL;
		/* not the last reference: the owner still holds one */
		rxe_put(mr);
	}
	odp->nr_prefetch_sges = 0;
	spin_unlock(&rxe_odp_prefetch_lock);
}

/**
 * rxe_odp_advise_init - set up prefetch at module load
 *
 * Return: 0 or -ENOMEM.
 */
int rxe_odp_advise_init(void)
{
	rxe_odp_prefetch_wq =
		alloc_workqueue("rxe_odp_prefetch", WQ_UNBOUND, 0);

	return rxe_odp_prefetch_wq ? 0 : -ENOMEM;
}

/**
 * rxe_odp_advise_exit - tear prefetch down at module unload
 *
 * Called once every device is unregistered: no request can be made any
 * more, and the queued ones hold no MR (all were deregistered).  Destroying
 * the workqueue waits for them to run and return, so none runs this
 * module's code after it is gone.
 */
void rxe_odp_advise_exit(void)
{
	destroy_workqueue(rxe_odp_prefetch_wq);
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
