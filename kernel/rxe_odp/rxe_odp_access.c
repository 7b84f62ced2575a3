// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: copies, atomics, atomic write and flush of ODP
 * MRs, what rxe_mr.c hands over (patch 0002).
 *
 * Every entry first checks its range against the MR, overflow-safe
 * (rxe_odp_mr_va()), then walks it one umem and at most RXE_ODP_CHUNK_SIZE
 * at a time (rxe_odp_map_prefix_and_lock(), on rxe_odp_mirror_and_lock()):
 * the pages are looked up in dma_list under umem_mutex and, on a missing
 * page or a missing write permission, faulted in (rxe_odp_umem.c).  The
 * access then happens with umem_mutex still held, so an invalidation, which
 * unmaps under the same mutex, can never pull a page out from under a copy
 * or an atomic.  A packet copy into an explicit MR first tries the MR's
 * warm translations, the pages its recent copies went through
 * (rxe_odp_warm.c), then the umem of the MR's last copy, with the pages
 * checked as it copies them (rxe_odp_copy_mirrored()); only a miss there
 * takes the full path.  The last two remember the pages they copied
 * through in the warm translations.  A copy that goes on where the last
 * one ended may queue a fault-ahead (rxe_odp_prefetch.c).
 *
 * Context: rxe tasks (requester, completer, responder) on the rxe_wq
 * workqueue, which may sleep; callers hold a reference on the MR.  Locks:
 * "Locking" in rxe_odp.c.
 */

#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/libnvdimm.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* What an access asks of rxe_odp_access_mirror(), and what it got. */
struct rxe_odp_access {
	struct rxe_odp_mirror mirror;
	struct rxe_odp_stats *stats;
	u64 len;
	bool write;
	unsigned int bytes;
	bool faulted;
};

/*
 * rxe_odp_access_mirror - the mirror step of an access (copy, atomic, flush)
 * @mirror: in a struct rxe_odp_access, whose bytes is set to how much from
 *	@va this step covers (at most RXE_ODP_CHUNK_SIZE, never past @end)
 *	and faulted to true if it had to fault
 * @umem_odp: the umem holding @va, whose range ends at @end
 * @va: user virtual address
 * @end: end of the umem's range
 *
 * Context, locks and return: as rxe_odp_map_range_and_lock().
 */
static int rxe_odp_access_mirror(struct rxe_odp_mirror *mirror,
				 struct ib_umem_odp *umem_odp, u64 va, u64 end)
{
	struct rxe_odp_access *acc =
		container_of(mirror, struct rxe_odp_access, mirror);
	int ret;

	acc->bytes = min3(acc->len, (u64)RXE_ODP_CHUNK_SIZE, end - va);
	ret = rxe_odp_map_range_and_lock(umem_odp, acc->stats, va, acc->bytes,
					 acc->write);
	if (ret > 0)
		acc->faulted = true;

	return ret;
}

/*
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
static struct ib_umem_odp *
rxe_odp_map_prefix_and_lock(struct rxe_odp_mr *odp, u64 va, u64 len, bool write,
			    unsigned int *bytes, bool *faulted)
{
	struct rxe_odp_access acc = {
		.mirror.fn = rxe_odp_access_mirror,
		.stats = &odp->stats,
		.len = len,
		.write = write,
	};
	struct ib_umem_odp *umem_odp;
	int err;

	umem_odp = rxe_odp_mirror_and_lock(odp, va, &acc.mirror);
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
	if (done)
		rxe_odp_warm_fill(odp, umem_odp, va, length);
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
		if (!err)
			rxe_odp_warm_fill(odp, umem_odp, va, bytes);
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
 * Context: rxe task, may sleep.  A copy through the warm translations
 * takes no lock (an RCU-sched read section); any other takes and drops
 * umem_mutex (and an implicit MR's children_rwsem) per chunk
 * (rxe_odp_map_prefix_and_lock()).
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

	if (!rxe_odp_warm_copy(odp, va, addr, length, dir) &&
	    !rxe_odp_copy_mirrored(odp, va, addr, length, dir)) {
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

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
