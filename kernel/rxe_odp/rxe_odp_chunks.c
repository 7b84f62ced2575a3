// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: an MR's range and its chunks - the bounds of
 * every access, the children of chunked ODP MRs, implicit ODP MRs, and the
 * walk every access and prefetch takes (rxe_odp_mirror_and_lock()).
 *
 * Every ODP MR but a HUGETLB one hangs off an implicit ib_umem_odp (an
 * anchor with no page lists and no notifier).  Each RXE_ODP_CHILD_SIZE-
 * aligned chunk of its range gets a child ib_umem_odp - page lists plus an
 * mmu interval notifier over the chunk - the first time rxe mirrors a page
 * of the chunk, so registration costs the same whatever the size, and an
 * invalidation only reaches the children it overlaps.  An access that
 * mirrors nothing (a hole, PROT_NONE, a wild iova of a peer) leaves no
 * child behind.
 *
 * An implicit MR (addr 0, length U64_MAX) is such an MR over the whole
 * user address space of the registering mm, [0, mm->task_size): its lkey
 * and rkey reach any address of that process, mapped before or after the
 * registration, with the access the MR was registered with.  Its children
 * are not kept until dereg as an explicit MR's are, since the address
 * space has room for millions of them:
 *  - an unmap (MMU_NOTIFY_UNMAP) that leaves a child with nothing mirrored
 *    marks it; the MR's reap work, RXE_ODP_REAP_DELAY later, releases the
 *    marked children still empty (a notifier cannot be removed from inside
 *    its own callback, and the delay keeps the child of a region that is
 *    unmapped and mapped again at once, as malloc does, from being made
 *    over and over);
 *  - at most implicit_max_children (module parameter) live per MR: making
 *    one more first releases the least recently used.
 * odp_implicit_children (live children of implicit MRs) and
 * odp_implicit_children_released (released by either rule, not counting
 * dereg) are device hw counters; each MR counts its own released children
 * too, and the rxe_odp_chunk_* tracepoints say which rule released one.
 *
 * Why 64 MiB children.  A child's lists cost 16 bytes per 4 KiB page
 * (pfn_list + dma_list), so 256 KiB per 64 MiB child, allocated zeroed on
 * first touch, under children_rwsem held for write.  Smaller children mean
 * more notifiers in the mm's interval tree (searched on every invalidation
 * of the process) and more creations as traffic spreads: a 1 GiB buffer
 * takes 16 children at 64 MiB, 512 at 2 MiB.  Larger children make the
 * first touch of a small buffer dear (4 MiB of lists at 1 GiB) and release
 * coarse: an unmap frees a child only once all of it is unmirrored.  64 MiB
 * is a multiple of the PMD size, so a THP or hugetlb page never straddles
 * two children, and with the default bound of 512 children an implicit MR
 * mirrors up to 32 GiB at once for at most 128 MiB of lists.
 *
 * Children are added, and an implicit MR's removed, with
 * odp->children_rwsem held for write.  An implicit MR's children are used
 * under it held for read (rxe_odp_mirror_and_lock() ..
 * rxe_odp_unlock()); an explicit MR's children stay until MR release,
 * so its accesses skip the rwsem (two atomics per packet).  See "Locking"
 * in rxe_odp.c.
 */

#include <linux/memcontrol.h>
#include <linux/mmu_notifier.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"
#include "rxe_odp_trace.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

#define RXE_ODP_IMPLICIT_MAX_CHILDREN 512
#define RXE_ODP_IMPLICIT_MAX_CHILDREN_LIMIT 65536

static unsigned int rxe_odp_implicit_max_children =
	RXE_ODP_IMPLICIT_MAX_CHILDREN;

static int rxe_odp_max_children_set(const char *val,
				    const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1,
				     RXE_ODP_IMPLICIT_MAX_CHILDREN_LIMIT);
}

static const struct kernel_param_ops rxe_odp_max_children_ops = {
	.set = rxe_odp_max_children_set,
	.get = param_get_uint,
};

module_param_cb(implicit_max_children, &rxe_odp_max_children_ops,
		&rxe_odp_implicit_max_children, 0644);
MODULE_PARM_DESC(implicit_max_children,
		 "Children per implicit ODP MR (1-65536, default 512)");

/* xarray mark of a child an unmap left with nothing mirrored */
#define RXE_ODP_CHILD_UNMAPPED XA_MARK_0

/* How long a marked child may be used again before it is released. */
#define RXE_ODP_REAP_DELAY HZ

/**
 * struct rxe_odp_child - one chunk's child umem
 * @umem: the child umem; its private points back here once published
 * @odp: the MR's ODP state
 * @idx: chunk index in @odp->children
 * @last_use: @odp->lru_clock at the last use (implicit MRs only)
 */
struct rxe_odp_child {
	struct ib_umem_odp *umem;
	struct rxe_odp_mr *odp;
	unsigned long idx;
	u64 last_use;
};

static struct rxe_dev *rxe_odp_dev(struct rxe_odp_mr *odp)
{
	return to_rdev(odp->root->umem.ibdev);
}

/*
 * rxe_odp_child_invalidate - interval notifier callback of a child umem
 *
 * Forgets the MR's warm translations of the range (rxe_odp_warm_forget())
 * and unmaps what the range covers (__rxe_odp_invalidate()).  When an unmap
 * leaves a child of an implicit MR with nothing mirrored, marks the child
 * and queues the MR's reap work, which releases it.
 *
 * Context: as rxe_odp_invalidate() (rxe_odp.c).  Takes the child's
 * umem_mutex, inside it the MR's warm_lock, then (to mark) the xarray's
 * spinlock; never children_rwsem.
 * The child cannot go away meanwhile: releasing it removes this notifier,
 * which waits for the callback to return.
 * Return: false if the range may not block, else true once the range is
 * no longer mirrored.
 */
static bool rxe_odp_child_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct ib_umem_odp *umem_odp =
		container_of(mni, struct ib_umem_odp, notifier);
	struct rxe_odp_child *child;
	bool reap;

	if (!mmu_notifier_range_blockable(range))
		return false;

	mutex_lock(&umem_odp->umem_mutex);
	/* NULL until published, and then nothing is mirrored yet anyway */
	child = umem_odp->private;
	rxe_odp_warm_forget(child ? child->odp : NULL, umem_odp, range->start,
			    range->end);
	__rxe_odp_invalidate(umem_odp, child ? &child->odp->stats : NULL, range,
			     cur_seq);
	reap = child && child->odp->implicit &&
	       range->event == MMU_NOTIFY_UNMAP && !umem_odp->npages;
	mutex_unlock(&umem_odp->umem_mutex);

	if (reap) {
		xa_set_mark(&child->odp->children, child->idx,
			    RXE_ODP_CHILD_UNMAPPED);
		queue_delayed_work(system_wq, &child->odp->reap_work,
				   RXE_ODP_REAP_DELAY);
	}

	return true;
}

static const struct mmu_interval_notifier_ops rxe_odp_child_mn_ops = {
	.invalidate = rxe_odp_child_invalidate,
};

/*
 * rxe_odp_child_release - take a child out of its MR and free it
 * @odp: the MR's ODP state
 * @child: a child in @odp->children
 * @dereg: the whole MR goes (not counted as a release)
 *
 * ib_umem_odp_release() unmaps every page of the child under its
 * umem_mutex (dirtying those mapped writable) and removes its notifier,
 * waiting for a callback in progress to return.
 * Context: process context, may sleep; not from a notifier callback.
 * Needs children_rwsem held for write: no rxe task uses the child (an
 * explicit MR's children, used without it, go only at MR release).
 */
static void rxe_odp_child_release(struct rxe_odp_mr *odp,
				  struct rxe_odp_child *child, bool dereg)
{
	struct rxe_dev *rxe = rxe_odp_dev(odp);
	atomic64_t *live = &rxe->stats_counters[RXE_CNT_ODP_IMPLICIT_CHILDREN];

	lockdep_assert_held_write(&odp->children_rwsem);

	xa_erase(&odp->children, child->idx);
	odp->nr_children--;
	ib_umem_odp_release(child->umem);
	kfree(child);

	if (odp->implicit) {
		atomic64_dec(live);
		if (!dereg) {
			rxe_counter_inc(rxe,
					RXE_CNT_ODP_IMPLICIT_CHILDREN_RELEASED);
			rxe_odp_stat_add(&odp->stats,
					 RXE_ODP_STAT_CHUNKS_RELEASED, 1);
		}
	}
}

enum rxe_odp_chunk_event {
	RXE_ODP_CHUNK_ADD,
	RXE_ODP_CHUNK_EVICT,
	RXE_ODP_CHUNK_RELEASE,
};

/*
 * rxe_odp_trace_child - fire a chunk tracepoint of a child
 *
 * With its range, the pages it mirrors (read without umem_mutex: a
 * snapshot) and @children, the MR's children after the event.
 */
static void rxe_odp_trace_child(enum rxe_odp_chunk_event event,
				struct rxe_odp_mr *odp,
				struct rxe_odp_child *child,
				unsigned int children)
{
	struct ib_umem_odp *umem = child->umem;
	u64 start = ib_umem_start(umem), end = ib_umem_end(umem);
	u32 pages = READ_ONCE(umem->npages);

	switch (event) {
	case RXE_ODP_CHUNK_ADD:
		trace_rxe_odp_chunk_add(odp->stats.lkey, start, end, pages,
					children);
		break;
	case RXE_ODP_CHUNK_EVICT:
		trace_rxe_odp_chunk_evict(odp->stats.lkey, start, end, pages,
					  children);
		break;
	case RXE_ODP_CHUNK_RELEASE:
		trace_rxe_odp_chunk_release(odp->stats.lkey, start, end, pages,
					    children);
		break;
	}
}

/*
 * rxe_odp_children_trim - release least recently used children
 * @odp: the MR's ODP state, implicit
 * @max: how many children may stay
 *
 * Context: process context, may sleep.  Needs children_rwsem held for
 * write: no child is in use, and last_use no longer moves.
 */
static void rxe_odp_children_trim(struct rxe_odp_mr *odp, unsigned int max)
{
	struct rxe_odp_child *child, *lru;
	unsigned long idx;

	lockdep_assert_held_write(&odp->children_rwsem);

	while (odp->nr_children > max) {
		lru = NULL;
		xa_for_each(&odp->children, idx, child)
			if (!lru || child->last_use < lru->last_use)
				lru = child;
		if (WARN_ON_ONCE(!lru))
			break;
		rxe_odp_trace_child(RXE_ODP_CHUNK_EVICT, odp, lru,
				    odp->nr_children - 1);
		rxe_odp_child_release(odp, lru, false);
	}
}

/*
 * rxe_odp_reap_work - release children an unmap left empty
 *
 * A child marked by rxe_odp_child_invalidate() is released if nothing is
 * mirrored in it still; one used again since (a new mapping at the same
 * place) stays.  Marking again after the mark is cleared queues the work
 * again; marking while it is queued rides along.
 * Context: system_wq.  Takes children_rwsem for write, then each marked
 * child's umem_mutex.
 */
static void rxe_odp_reap_work(struct work_struct *work)
{
	struct rxe_odp_mr *odp = container_of(to_delayed_work(work),
					      struct rxe_odp_mr, reap_work);
	struct rxe_odp_child *child;
	unsigned long idx;
	bool empty;

	down_write(&odp->children_rwsem);
	xa_for_each_marked(&odp->children, idx, child, RXE_ODP_CHILD_UNMAPPED) {
		xa_clear_mark(&odp->children, idx, RXE_ODP_CHILD_UNMAPPED);

		mutex_lock(&child->umem->umem_mutex);
		empty = !child->umem->npages;
		mutex_unlock(&child->umem->umem_mutex);

		if (!empty)
			continue;
		rxe_odp_trace_child(RXE_ODP_CHUNK_RELEASE, odp, child,
				    odp->nr_children - 1);
		rxe_odp_child_release(odp, child, false);
	}
	up_write(&odp->children_rwsem);
}

/*
 * rxe_odp_chunk - the chunk of an MR's range that holds a user address
 * @odp: the MR's ODP state, chunked
 * @va: user virtual address inside the MR
 * @first: set to the first address of the chunk inside the MR
 * @end: set to the end of the chunk inside the MR
 *
 * Return: the chunk's index in @odp->children.
 */
static unsigned long rxe_odp_chunk(struct rxe_odp_mr *odp, u64 va, u64 *first,
				   u64 *end)
{
	u64 base = va & ~(RXE_ODP_CHILD_SIZE - 1);

	*first = max_t(u64, odp->start, base);
	*end = min_t(u64, odp->end, base + RXE_ODP_CHILD_SIZE);

	return (va >> RXE_ODP_CHILD_SHIFT) -
	       (odp->start >> RXE_ODP_CHILD_SHIFT);
}

/*
 * rxe_odp_child_free - undo rxe_odp_child_alloc() of a child never published
 * @odp: the MR's ODP state
 * @child: the child; its umem_mutex not held
 *
 * Context: process context, may sleep.  Needs children_rwsem held for
 * write, from rxe_odp_child_alloc() on.
 */
static void rxe_odp_child_free(struct rxe_odp_mr *odp,
			       struct rxe_odp_child *child)
{
	lockdep_assert_held_write(&odp->children_rwsem);

	xa_release(&odp->children, child->idx);
	ib_umem_odp_release(child->umem);
	kfree(child);
}

/*
 * rxe_odp_child_alloc - make the child of one chunk, not yet published
 * @odp: the MR's ODP state
 * @va: user virtual address inside the chunk
 *
 * Reserves the chunk's slot in @odp->children, so that publishing it later
 * allocates nothing.  Our allocations are charged to the memory cgroup of
 * the registering mm; ib_umem_odp_alloc_child() allocates the page lists
 * (16 bytes per page of the chunk) without accounting, which only
 * publishing a child after a successful fault bounds (by what the process
 * has mapped, as the core's own ib_umem_odp_get() does at registration).
 * It also inserts the child's notifier, taking mmap_lock for write the first
 * time the mm gets one; the callback may run from then on and finds
 * private NULL.
 * Context: rxe task or verb, may sleep.  Needs children_rwsem held for
 * write.
 * Return: the child; ERR_PTR(-ENOMEM); ERR_PTR(-EFAULT) if the owning mm
 * is gone; another error of ib_umem_odp_alloc_child().
 */
static struct rxe_odp_child *rxe_odp_child_alloc(struct rxe_odp_mr *odp, u64 va)
{
	struct mem_cgroup *memcg, *old_memcg;
	struct rxe_odp_child *child;
	struct ib_umem_odp *umem;
	unsigned long idx;
	u64 first, end;
	int err;

	lockdep_assert_held_write(&odp->children_rwsem);

	/* ours is charged to the registering process, not to the kworker */
	memcg = get_mem_cgroup_from_mm(odp->mm);
	old_memcg = set_active_memcg(memcg);
	idx = rxe_odp_chunk(odp, va, &first, &end);
	child = kzalloc(sizeof(*child), GFP_KERNEL_ACCOUNT);
	err = child ? xa_reserve(&odp->children, idx, GFP_KERNEL_ACCOUNT) :
		      -ENOMEM;
	set_active_memcg(old_memcg);
	mem_cgroup_put(memcg);
	if (!child)
		return ERR_PTR(-ENOMEM);
	if (err)
		goto err_free_child;
	child->odp = odp;
	child->idx = idx;

	umem = ib_umem_odp_alloc_child(odp->root, first, end - first,
				       &rxe_odp_child_mn_ops);
	if (IS_ERR(umem)) {
		err = PTR_ERR(umem);
		goto err_release_slot;
	}
	child->umem = umem;

	return child;

err_release_slot:
	xa_release(&odp->children, child->idx);
err_free_child:
	kfree(child);
	return ERR_PTR(err);
}

/*
 * rxe_odp_child_publish - make a mirrored child reachable
 * @odp: the MR's ODP state
 * @child: from rxe_odp_child_alloc()
 *
 * Context: needs children_rwsem held for write and the child's
 * umem_mutex: the invalidate callback reads private under that mutex.
 * Return: 0, or -ENOMEM if the reserved slot could not be filled.
 */
static int rxe_odp_child_publish(struct rxe_odp_mr *odp,
				 struct rxe_odp_child *child)
{
	struct rxe_dev *rxe = rxe_odp_dev(odp);
	atomic64_t *live = &rxe->stats_counters[RXE_CNT_ODP_IMPLICIT_CHILDREN];
	int err;

	lockdep_assert_held_write(&odp->children_rwsem);
	lockdep_assert_held(&child->umem->umem_mutex);

	/* the slot is reserved: no allocation, and none may sleep here */
	err = xa_err(xa_store(&odp->children, child->idx, child, GFP_NOWAIT));
	if (WARN_ON_ONCE(err))
		return err;

	child->umem->private = child;
	odp->nr_children++;
	rxe_odp_trace_child(RXE_ODP_CHUNK_ADD, odp, child, odp->nr_children);
	if (odp->implicit) {
		atomic64_inc(live);
		WRITE_ONCE(child->last_use,
			   atomic64_inc_return(&odp->lru_clock));
	}

	return 0;
}

/*
 * rxe_odp_child_add_and_lock - mirror through a chunk that has no child
 * @odp: the MR's ODP state, chunked
 * @va: user virtual address inside the MR
 * @mirror: what the caller does in the umem (see rxe_odp_mirror_and_lock())
 *
 * A child is made for the chunk and @mirror run on it before anyone can
 * see it; it is published only if @mirror succeeded and left pages
 * mirrored.  So an access that faults nothing (a hole, PROT_NONE, a
 * read-only page to write) leaves no child behind, and what a peer or a
 * user can make us allocate is bounded by what the process has mapped.
 * Another task may have added the child meanwhile: then @mirror runs on
 * that one.
 *
 * Context: rxe task or verb, may sleep; no ODP lock held.  Takes
 * children_rwsem for write across the fault (children_rwsem -> mmap_lock
 * -> umem_mutex, as in "Locking" in rxe_odp.c); an explicit MR's accesses
 * of other chunks do not wait for it.
 * Locks: as rxe_odp_mirror_and_lock().
 * Return: as rxe_odp_mirror_and_lock().
 */
static struct ib_umem_odp *
rxe_odp_child_add_and_lock(struct rxe_odp_mr *odp, u64 va,
			   struct rxe_odp_mirror *mirror)
{
	unsigned int max = READ_ONCE(rxe_odp_implicit_max_children);
	struct rxe_odp_child *child;
	struct ib_umem_odp *umem;
	u64 first, end;
	int ret;

	down_write(&odp->children_rwsem);
	child = xa_load(&odp->children, rxe_odp_chunk(odp, va, &first, &end));
	if (child) {
		umem = child->umem;
		ret = mirror->fn(mirror, umem, va, end);
		if (ret < 0)
			goto err_unlock_children;
		goto out_locked;
	}

	/* make room for this one first */
	if (odp->implicit)
		rxe_odp_children_trim(odp, max - 1);

	child = rxe_odp_child_alloc(odp, va);
	if (IS_ERR(child)) {
		ret = PTR_ERR(child);
		goto err_unlock_children;
	}
	umem = child->umem;

	ret = mirror->fn(mirror, umem, va, end);
	if (ret < 0)
		goto err_free_child;
	/* 0 mirrored pages: a NO_FAULT prefetch that found nothing */
	ret = umem->npages ? rxe_odp_child_publish(odp, child) : -ENODATA;
	if (ret) {
		mutex_unlock(&umem->umem_mutex);
		goto err_free_child;
	}

out_locked:
	if (odp->implicit)
		downgrade_write(&odp->children_rwsem);
	else
		up_write(&odp->children_rwsem);
	return umem;

err_free_child:
	rxe_odp_child_free(odp, child);
err_unlock_children:
	up_write(&odp->children_rwsem);
	return ERR_PTR(ret);
}

/*
 * rxe_odp_umem_unlock - done with a umem of rxe_odp_umem_find_and_lock()
 * @odp: the MR's ODP state
 */
static void rxe_odp_umem_unlock(struct rxe_odp_mr *odp)
{
	if (odp->implicit)
		up_read(&odp->children_rwsem);
}

/*
 * rxe_odp_umem_find_and_lock - the umem that mirrors a user address
 * @odp: the MR's ODP state
 * @va: user virtual address inside the MR
 * @end: set to the end of that umem's range
 *
 * Context: rxe task or verb, may sleep.  Must be called without
 * umem_mutex held.
 * Locks: for an implicit MR, returns a umem with odp->children_rwsem held
 * for read, which keeps the umem alive until rxe_odp_umem_unlock().  An
 * explicit MR's umems live until MR release, which the caller's MR
 * reference holds off: nothing is held.  On error returns with nothing
 * held.
 * Return: the umem; ERR_PTR(-ENOENT) if the chunk of @va has no child yet.
 */
static struct ib_umem_odp *rxe_odp_umem_find_and_lock(struct rxe_odp_mr *odp,
						      u64 va, u64 *end)
{
	struct rxe_odp_child *child;
	u64 first;

	if (!odp->chunked) {
		*end = ib_umem_end(odp->root);
		return odp->root;
	}

	/* xa_load() alone is safe for an explicit MR: see the header */
	if (odp->implicit)
		rxe_odp_down_read(&odp->children_rwsem);
	child = xa_load(&odp->children, rxe_odp_chunk(odp, va, &first, end));
	if (!child) {
		rxe_odp_umem_unlock(odp);
		return ERR_PTR(-ENOENT);
	}

	/* racing readers may store out of order: LRU only roughly */
	if (odp->implicit)
		WRITE_ONCE(child->last_use,
			   atomic64_inc_return(&odp->lru_clock));
	return child->umem;
}

/**
 * rxe_odp_mirror_and_lock - one step of a walk over an MR's range
 * @odp: the MR's ODP state
 * @va: user virtual address inside the MR (rxe_odp_mr_va() checked it)
 * @mirror: what the caller does in the umem (struct rxe_odp_mirror)
 *
 * The one walk of copies, atomics, flushes and prefetches: find the umem
 * that holds @va - making a chunk's child only when @mirror succeeds in it
 * (rxe_odp_child_add_and_lock()) - and run @mirror on it.
 * Context: rxe task or verb, may sleep; no ODP lock held.
 * Locks: on success returns the umem with its umem_mutex held and, for an
 * implicit MR, odp->children_rwsem held for read; release both with
 * rxe_odp_unlock().  On error nothing is held.
 * Return: the umem; ERR_PTR() of @mirror's error; ERR_PTR(-ENODATA) if a
 * new child would have had nothing mirrored (it is not kept); the errors
 * of rxe_odp_child_alloc().
 */
struct ib_umem_odp *rxe_odp_mirror_and_lock(struct rxe_odp_mr *odp, u64 va,
					    struct rxe_odp_mirror *mirror)
{
	struct ib_umem_odp *umem_odp;
	u64 end;
	int ret;

	umem_odp = rxe_odp_umem_find_and_lock(odp, va, &end);
	if (IS_ERR(umem_odp))
		return rxe_odp_child_add_and_lock(odp, va, mirror);

	ret = mirror->fn(mirror, umem_odp, va, end);
	if (ret < 0) {
		rxe_odp_umem_unlock(odp);
		return ERR_PTR(ret);
	}

	return umem_odp;
}

/**
 * rxe_odp_children_init - set up an MR's (empty) set of children
 * @odp: the MR's ODP state, with @root, @chunked, @start and @end set
 *
 * Context: process context (reg_user_mr verb).
 */
void rxe_odp_children_init(struct rxe_odp_mr *odp)
{
	xa_init(&odp->children);
	init_rwsem(&odp->children_rwsem);
	atomic64_set(&odp->lru_clock, 0);
	INIT_DELAYED_WORK(&odp->reap_work, rxe_odp_reap_work);
}

/**
 * rxe_odp_children_destroy - release every child of an MR
 * @odp: the MR's ODP state; no rxe task can reach the MR any more
 *
 * Once the last notifier is gone no callback can queue the reap work any
 * more; then it is cancelled (or waited for if it runs).
 * Context: process context (MR cleanup), may sleep.  Takes children_rwsem
 * for write; then waits for the reap work, which takes it too.
 */
void rxe_odp_children_destroy(struct rxe_odp_mr *odp)
{
	struct rxe_odp_child *child;
	unsigned long idx;

	down_write(&odp->children_rwsem);
	xa_for_each(&odp->children, idx, child)
		rxe_odp_child_release(odp, child, true);
	up_write(&odp->children_rwsem);

	cancel_delayed_work_sync(&odp->reap_work);
	xa_destroy(&odp->children);
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

/**
 * rxe_odp_pages_mirrored - how much of an MR is mirrored now
 * @odp: the MR's ODP state
 * @children: set to the number of its chunks' children (0 if not chunked)
 *
 * A snapshot for statistics: npages is read without umem_mutex, so a
 * fault or an invalidation in progress may or may not be in it.
 * Context: process context, may sleep; no ODP lock held.  Takes
 * children_rwsem for read, which keeps an implicit MR's children alive
 * and waits out a child being added.
 * Return: pages mirrored in all the MR's umems.
 */
unsigned long rxe_odp_pages_mirrored(struct rxe_odp_mr *odp,
				     unsigned int *children)
{
	struct rxe_odp_child *child;
	unsigned long idx, pages = 0;

	if (!odp->chunked) {
		*children = 0;
		return READ_ONCE(odp->root->npages);
	}

	down_read(&odp->children_rwsem);
	xa_for_each(&odp->children, idx, child)
		pages += READ_ONCE(child->umem->npages);
	*children = odp->nr_children;
	up_read(&odp->children_rwsem);

	return pages;
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
