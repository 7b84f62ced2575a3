// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: the children of chunked ODP MRs.
 *
 * Every ODP MR but a HUGETLB one hangs off an implicit ib_umem_odp (an
 * anchor with no page lists and no notifier).  Each RXE_ODP_CHILD_SIZE-
 * aligned chunk of its range gets a child ib_umem_odp - page lists plus an
 * mmu interval notifier over the chunk - the first time rxe touches the
 * chunk, so registration costs the same whatever the size, and an
 * invalidation only reaches the children it overlaps.
 *
 * Children are looked up and used under odp->children_rwsem held for read
 * (rxe_odp_umem_for_and_lock() .. rxe_odp_umem_unlock()); they are added
 * and removed with it held for write.  See "Locking" in rxe_odp.c.
 */

#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/**
 * struct rxe_odp_child - one chunk's child umem
 * @umem: the child umem; its private points back here once published
 * @odp: the MR's ODP state
 * @idx: chunk index in @odp->children
 */
struct rxe_odp_child {
	struct ib_umem_odp *umem;
	struct rxe_odp_mr *odp;
	unsigned long idx;
};

/*
 * rxe_odp_child_invalidate - interval notifier callback of a child umem
 *
 * Context: as rxe_odp_invalidate() (rxe_odp.c).  Takes the child's
 * umem_mutex; never children_rwsem.
 * Return: false if the range may not block, else true once the range is
 * no longer mirrored.
 */
static bool rxe_odp_child_invalidate(struct mmu_interval_notifier *mni,
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

static const struct mmu_interval_notifier_ops rxe_odp_child_mn_ops = {
	.invalidate = rxe_odp_child_invalidate,
};

/*
 * rxe_odp_child_release - take a child out of its MR and free it
 * @odp: the MR's ODP state
 * @child: a child in @odp->children
 *
 * ib_umem_odp_release() unmaps every page of the child under its
 * umem_mutex (dirtying those mapped writable) and removes its notifier,
 * waiting for a callback in progress to return.
 * Context: process context, may sleep; not from a notifier callback.
 * Needs children_rwsem held for write: no rxe task uses the child.
 */
static void rxe_odp_child_release(struct rxe_odp_mr *odp,
				  struct rxe_odp_child *child)
{
	lockdep_assert_held_write(&odp->children_rwsem);

	xa_erase(&odp->children, child->idx);
	odp->nr_children--;
	ib_umem_odp_release(child->umem);
	kfree(child);
}

/*
 * rxe_odp_child_create - make and publish the child of one chunk
 * @odp: the MR's ODP state
 * @idx: chunk index
 * @first: first address of the chunk inside the MR
 * @end: end of the chunk inside the MR
 *
 * Context: rxe task, may sleep.  Needs children_rwsem held for write.
 * ib_umem_odp_alloc_child() allocates with GFP_KERNEL and inserts the
 * child's notifier (taking mmap_lock for write the first time the mm gets
 * a notifier); its callback may run from then on, before the child is
 * published, and finds private NULL and nothing mirrored.
 * Return: the child; ERR_PTR(-ENOMEM); ERR_PTR(-EFAULT) if the owning mm
 * is gone; another error of ib_umem_odp_alloc_child().
 */
static struct rxe_odp_child *rxe_odp_child_create(struct rxe_odp_mr *odp,
						  unsigned long idx, u64 first,
						  u64 end)
{
	struct rxe_odp_child *child;
	struct ib_umem_odp *umem;
	int err;

	lockdep_assert_held_write(&odp->children_rwsem);

	child = kzalloc(sizeof(*child), GFP_KERNEL);
	if (!child)
		return ERR_PTR(-ENOMEM);
	child->odp = odp;
	child->idx = idx;

	umem = ib_umem_odp_alloc_child(odp->root, first, end - first,
				       &rxe_odp_child_mn_ops);
	if (IS_ERR(umem)) {
		err = PTR_ERR(umem);
		goto err_free_child;
	}
	child->umem = umem;

	err = xa_err(xa_store(&odp->children, idx, child, GFP_KERNEL));
	if (err)
		goto err_release_umem;
	odp->nr_children++;

	/* publish: the callback reads private under the same mutex */
	mutex_lock(&umem->umem_mutex);
	umem->private = child;
	mutex_unlock(&umem->umem_mutex);

	return child;

err_release_umem:
	ib_umem_odp_release(umem);
err_free_child:
	kfree(child);
	return ERR_PTR(err);
}

/**
 * rxe_odp_umem_for_and_lock - the umem that mirrors a user address
 * @odp: the MR's ODP state
 * @va: user virtual address
 * @end: set to the end of that umem's range
 *
 * For a chunked MR, creates the chunk's child umem on first use.
 * Context: rxe task, may sleep.  Must be called without umem_mutex held.
 * Locks: returns a umem with odp->children_rwsem held for read, which
 * keeps the umem alive until rxe_odp_umem_unlock(); on error returns with
 * nothing held.
 * Return: the umem; ERR_PTR(-EFAULT) if @va is outside the MR or the
 * owning mm is gone; ERR_PTR(-ENOMEM); another error of
 * ib_umem_odp_alloc_child().
 */
struct ib_umem_odp *rxe_odp_umem_for_and_lock(struct rxe_odp_mr *odp, u64 va,
					      u64 *end)
	__acquires(&odp->children_rwsem)
{
	struct rxe_odp_child *child;
	unsigned long idx;
	u64 first;

	if (va < odp->start || va >= odp->end)
		return ERR_PTR(-EFAULT);

	if (!odp->chunked) {
		down_read(&odp->children_rwsem);
		*end = ib_umem_end(odp->root);
		return odp->root;
	}

	idx = (va >> RXE_ODP_CHILD_SHIFT) - (odp->start >> RXE_ODP_CHILD_SHIFT);
	first = max_t(u64, odp->start, va & ~(RXE_ODP_CHILD_SIZE - 1));
	*end = min_t(u64, odp->end,
		     (va & ~(RXE_ODP_CHILD_SIZE - 1)) + RXE_ODP_CHILD_SIZE);

	down_read(&odp->children_rwsem);
	child = xa_load(&odp->children, idx);
	if (child)
		return child->umem;
	up_read(&odp->children_rwsem);

	down_write(&odp->children_rwsem);
	child = xa_load(&odp->children, idx);
	if (!child) {
		child = rxe_odp_child_create(odp, idx, first, *end);
		if (IS_ERR(child)) {
			up_write(&odp->children_rwsem);
			return ERR_CAST(child);
		}
	}
	downgrade_write(&odp->children_rwsem);

	return child->umem;
}

/**
 * rxe_odp_umem_unlock - done with the umem of rxe_odp_umem_for_and_lock()
 * @odp: the MR's ODP state
 */
void rxe_odp_umem_unlock(struct rxe_odp_mr *odp)
	__releases(&odp->children_rwsem)
{
	up_read(&odp->children_rwsem);
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
}

/**
 * rxe_odp_children_destroy - release every child of an MR
 * @odp: the MR's ODP state; no rxe task can reach the MR any more
 *
 * Context: process context (MR cleanup), may sleep.  Takes children_rwsem
 * for write.
 */
void rxe_odp_children_destroy(struct rxe_odp_mr *odp)
{
	struct rxe_odp_child *child;
	unsigned long idx;

	down_write(&odp->children_rwsem);
	xa_for_each(&odp->children, idx, child)
		rxe_odp_child_release(odp, child);
	up_write(&odp->children_rwsem);

	xa_destroy(&odp->children);
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
