/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-Demand Paging for rxe: what our own files (rxe_odp*.c) share, by
 * layer: each file uses only those of the layers below it (the list is at
 * the top of rxe_odp.c).  The hooks upstream rxe calls are in rxe_odp.h;
 * the locks are described in the "Locking" comment of rxe_odp.c.
 */

#ifndef RXE_ODP_LOC_H
#define RXE_ODP_LOC_H

#include <linux/highmem.h>
#include <linux/jump_label.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/rwsem.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "rxe_odp.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/*
 * Each aligned chunk of this size gets its own child umem on first use;
 * rxe_odp_chunks.c says why this size.
 */
#define RXE_ODP_CHILD_SHIFT 26
#define RXE_ODP_CHILD_SIZE BIT_ULL(RXE_ODP_CHILD_SHIFT)

/* Copies, flushes and prefetches mirror and lock at most this at a time. */
#define RXE_ODP_CHUNK_SIZE SZ_1M

/*
 * Warm translations per explicit MR (a power of 2), and the pages of one
 * copy (a packet: an MTU spans at most two) that may go through them
 * (rxe_odp_warm.c).
 */
#define RXE_ODP_WARM_PAGES 8
#define RXE_ODP_WARM_COPY_PAGES 2

/**
 * struct rxe_odp_warm_page - a page a recent copy found mirrored
 * @tag: its page-aligned user address, with RXE_ODP_WARM_VALID and, if it
 *	is mirrored writable, RXE_ODP_WARM_WRITABLE (rxe_odp_warm.c); 0 when
 *	empty
 * @page: the mirrored page
 */
struct rxe_odp_warm_page {
	u64 tag;
	struct page *page;
};

/*
 * Per-MR ODP statistics, shown by `rdma resource show mr -dd`
 * (rxe_odp_stats.c).  Counted only where the fault, invalidate, prefetch
 * and chunk paths already do their slow work, never on a warm access.
 */
enum rxe_odp_stat {
	RXE_ODP_STAT_FAULTS,
	RXE_ODP_STAT_PAGES_FAULTED,
	RXE_ODP_STAT_INVALIDATIONS,
	RXE_ODP_STAT_PAGES_INVALIDATED,
	RXE_ODP_STAT_PREFETCHES,
	RXE_ODP_STAT_PAGES_PREFETCHED,
	RXE_ODP_STAT_CHUNKS_RELEASED,
	RXE_ODP_NR_STATS
};

/**
 * struct rxe_odp_stats - what the layers below the MR report its events to
 * @lkey: the MR's lkey, which names it in the tracepoints
 * @count: the counters of enum rxe_odp_stat, atomic as faults of different
 *	umems, invalidations and prefetches of one MR run in parallel
 * @count_rwsem: held from a fault's or a prefetch step's look at what is
 *	missing until its mirror is done (faults shared, prefetch steps
 *	exclusive), so a page one mirrors while the other faults it too is
 *	counted by one of them only (see Locking in rxe_odp.c)
 */
struct rxe_odp_stats {
	u32 lkey;
#ifndef RXE_ODP_NO_MR_STATS
	atomic64_t count[RXE_ODP_NR_STATS];
#endif
	struct rw_semaphore count_rwsem;
};

/* NULL @stats: a chunk not yet published (see __rxe_odp_invalidate()). */
static inline void rxe_odp_stat_add(struct rxe_odp_stats *stats,
				    enum rxe_odp_stat stat, u64 n)
{
#ifndef RXE_ODP_NO_MR_STATS
	if (stats)
		atomic64_add(n, &stats->count[stat]);
#endif
}

static inline u32 rxe_odp_stats_lkey(struct rxe_odp_stats *stats)
{
	return stats ? stats->lkey : 0;
}

/**
 * struct rxe_odp_mr - the ODP side of one MR, the private of its umem
 * @root: the MR's umem (mr->umem): implicit if @chunked, else the
 *	HUGETLB umem that mirrors the whole range
 * @chunked: the range is mirrored by children created on demand
 * @implicit: the MR covers the whole address space of @mm (implicit ODP):
 *	its children are released when unmapped and bounded in number
 * @children: chunk index -> struct rxe_odp_child
 * @children_rwsem: write to add or remove a child; read to use a child of
 *	an implicit MR (an explicit MR's children stay until MR release)
 * @nr_children: children in @children (under @children_rwsem)
 * @lru_clock: ticks once per child use, for least-recently-used release
 * @reap_work: releases the children an unmap left empty, a little later
 * @mm: the registering mm, grabbed so children can be made from it
 * @start: first page of the range
 * @end: page after the range
 * @last_umem: the umem of an explicit MR's last copy (NULL until one, and
 *	always for an implicit MR); rxe_odp_copy_mirrored() says why it may
 *	be used without a lookup or a lock
 * @warm_lock: orders the writers of @warm and the eviction counts (a warm
 *	copy takes no lock: rxe_odp_warm.c)
 * @warm_seq: odd while a fill changes @warm; a copy that sees it change
 *	between its reads of @warm does not use them
 * @warm_evictions: fills that replaced a valid slot (under @warm_lock)
 * @warm_synced: the @warm_evictions that a finished grace period covers
 *	(under @warm_lock)
 * @warm: pages recent copies of an explicit MR found mirrored, slot by
 *	page number (rxe_odp_warm.c)
 * @prefetch_sges: SGEs of queued prefetch requests that name this MR
 *	(under rxe_odp_prefetch_lock, rxe_odp_prefetch.c)
 * @nr_prefetch_sges: entries on @prefetch_sges
 * @seq_next: iova where the last copy into or out of the MR ended
 * @ahead_end: iova up to which fault-ahead has been queued
 * @stats: per-MR statistics; written only off the warm path, and kept
 *	after the fields a warm copy reads
 *
 * @seq_next and @ahead_end are hints, read and written without a lock
 * (rxe_odp_fault_ahead()): a race only costs a fault-ahead, or adds one.
 */
struct rxe_odp_mr {
	struct ib_umem_odp *root;
	bool chunked;
	bool implicit;
	struct xarray children;
	struct rw_semaphore children_rwsem; /* see Locking in rxe_odp.c */
	unsigned int nr_children;
	atomic64_t lru_clock;
	struct delayed_work reap_work;
	struct mm_struct *mm;
	u64 start;
	u64 end;
	struct ib_umem_odp *last_umem;
	spinlock_t warm_lock; /* see Locking in rxe_odp.c */
	seqcount_t warm_seq;
	u64 warm_evictions;
	u64 warm_synced;
	struct rxe_odp_warm_page warm[RXE_ODP_WARM_PAGES];
	struct list_head prefetch_sges;
	unsigned int nr_prefetch_sges;
	u64 seq_next;
	u64 ahead_end;
	struct rxe_odp_stats stats;
};

/*
 * Every access to an ODP MR takes a umem_mutex (and, for an implicit MR,
 * children_rwsem), a few times per packet.  Their sleeping acquire starts
 * with might_sleep(), which on a PREEMPT_VOLUNTARY kernel (Debian's 6.12)
 * is a preemption point: a busy-polling process then takes the CPU from
 * the rxe task in the middle of a packet, which cost a fifth of warm
 * perftest bandwidth.  So the uncontended case, nearly always, takes them
 * with a trylock, which is no preemption point; contended, they are taken
 * as usual.
 */
static inline void rxe_odp_lock_mutex(struct mutex *lock) __acquires(lock)
{
	if (!mutex_trylock(lock))
		mutex_lock(lock);
}

static inline void rxe_odp_down_read(struct rw_semaphore *sem) __acquires(sem)
{
	if (!down_read_trylock(sem))
		down_read(sem);
}

static inline struct rxe_odp_mr *rxe_odp_mr(struct rxe_mr *mr)
{
	return to_ib_umem_odp(mr->umem)->private;
}

/**
 * struct rxe_odp_mirror - what a walk over an MR does in each umem
 * @fn: mirrors (a prefix of) the range from @va in @umem_odp, whose range
 *	ends at @end; returns >= 0 with @umem_odp's umem_mutex held, or an
 *	error with nothing held.  Embedded in the caller's own state, which
 *	@fn reaches with container_of().
 *
 * See rxe_odp_mirror_and_lock().
 */
struct rxe_odp_mirror {
	int (*fn)(struct rxe_odp_mirror *mirror, struct ib_umem_odp *umem_odp,
		  u64 va, u64 end);
};

/* rxe_odp_umem.c: the mirror of one umem */
void __rxe_odp_invalidate(struct ib_umem_odp *umem_odp,
			  struct rxe_odp_stats *stats,
			  const struct mmu_notifier_range *range,
			  unsigned long cur_seq);
struct page *__rxe_odp_page(struct ib_umem_odp *umem_odp, u64 va, u64 perm,
			    unsigned int *offset);
unsigned long __rxe_odp_pages_missing(struct ib_umem_odp *umem_odp, u64 va,
				      u64 len, u64 perm);
int rxe_odp_map_range_and_lock(struct ib_umem_odp *umem_odp,
			       struct rxe_odp_stats *stats, u64 va, u64 len,
			       bool write);

/* rxe_odp_warm.c: the warm translations of an explicit MR */
void rxe_odp_warm_init(struct rxe_odp_mr *odp);
void rxe_odp_warm_fill(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
		       u64 va, unsigned int length);
DECLARE_STATIC_KEY_FALSE(rxe_odp_warm_delay_key);
void rxe_odp_warm_delay(void);
void rxe_odp_warm_forget(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp,
			 u64 start, u64 end);

/* rxe_odp_fault_around.c: the window of a fault */
bool rxe_odp_vma_fits_window(struct vm_area_struct *vma, bool write);
void rxe_odp_fault_window(struct ib_umem_odp *umem_odp, u64 va, u64 len,
			  bool write, u64 *fault_va, u64 *fault_len);

/* rxe_odp_chunks.c: children, the walk */
void rxe_odp_children_init(struct rxe_odp_mr *odp);
void rxe_odp_children_destroy(struct rxe_odp_mr *odp);
struct ib_umem_odp *rxe_odp_mirror_and_lock(struct rxe_odp_mr *odp, u64 va,
					    struct rxe_odp_mirror *mirror);
void rxe_odp_unlock(struct rxe_odp_mr *odp, struct ib_umem_odp *umem_odp);
unsigned long rxe_odp_pages_mirrored(struct rxe_odp_mr *odp,
				     unsigned int *children);

/*
 * The bounds check and the warm copy run for every packet of an ODP MR and
 * are inline: as calls (into rxe_odp_chunks.c and rxe_odp_warm.c) they
 * measurably slowed warm small messages under the testbed's TCG, where the
 * instructions of the copy cost what a pinned MR's do (odp_bench latency
 * and perf; issue 20).
 */

/**
 * rxe_odp_iova_to_va - the user virtual address an MR iova stands for
 * @mr: ODP MR
 * @iova: an iova that passed rxe_odp_mr_va()
 *
 * uverbs guarantees that the iova and the start address share their
 * offset in the page.  No lock needed.
 */
static inline u64 rxe_odp_iova_to_va(struct rxe_mr *mr, u64 iova)
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
static inline int rxe_odp_mr_va(struct rxe_mr *mr, u64 iova, u64 len, u64 *va)
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

/* struct rxe_odp_warm_page.tag: the page's user address and these */
#define RXE_ODP_WARM_VALID BIT(0)
#define RXE_ODP_WARM_WRITABLE BIT(1)

static inline struct rxe_odp_warm_page *
rxe_odp_warm_slot(struct rxe_odp_mr *odp, u64 va)
{
	return &odp->warm[(va >> PAGE_SHIFT) & (RXE_ODP_WARM_PAGES - 1)];
}

/**
 * rxe_odp_warm_copy - copy through the warm translations, if they hold
 * @odp: the MR's ODP state
 * @va: user virtual address inside the MR (rxe_odp_mr_va() checked it)
 * @addr: kernel buffer
 * @length: bytes, > 0
 * @dir: RXE_TO_MR_OBJ writes the MR, RXE_FROM_MR_OBJ reads it
 *
 * Context: rxe task.  Takes no lock: an RCU-sched reader (preemption off)
 * from its first read of the translations to the end of the copy, which
 * does not sleep; an invalidation that may have to wait for it waits for a
 * grace period (rxe_odp_warm_forget(); Locking in rxe_odp.c).
 * Return: true if every page of the range (at most RXE_ODP_WARM_COPY_PAGES)
 * had a translation, writable for RXE_TO_MR_OBJ, and the copy is done;
 * false if nothing was copied.
 */
static inline bool rxe_odp_warm_copy(struct rxe_odp_mr *odp, u64 va, void *addr,
				     unsigned int length,
				     enum rxe_mr_copy_dir dir)
{
	u64 need = RXE_ODP_WARM_VALID;
	struct page *page[RXE_ODP_WARM_COPY_PAGES];
	unsigned int n, i, offset, bytes;
	u64 first = va & PAGE_MASK;
	unsigned int seq;
	u8 *kva;

	n = ((va + length - 1) >> PAGE_SHIFT) - (va >> PAGE_SHIFT) + 1;
	if (odp->implicit || n > RXE_ODP_WARM_COPY_PAGES)
		return false;
	if (dir == RXE_TO_MR_OBJ)
		need |= RXE_ODP_WARM_WRITABLE;

	rcu_read_lock_sched();
	/* never waits for a fill: one in progress sends the copy the slow way */
	seq = raw_read_seqcount(&odp->warm_seq);
	if (seq & 1)
		goto miss;
	for (i = 0; i < n; i++) {
		u64 pva = first + ((u64)i << PAGE_SHIFT);
		struct rxe_odp_warm_page *slot = rxe_odp_warm_slot(odp, pva);
		u64 tag = READ_ONCE(slot->tag);

		if ((tag & PAGE_MASK) != pva || (tag & need) != need)
			goto miss;
		page[i] = READ_ONCE(slot->page);
	}
	if (read_seqcount_retry(&odp->warm_seq, seq))
		goto miss;
	if (static_branch_unlikely(&rxe_odp_warm_delay_key))
		rxe_odp_warm_delay();

	offset = offset_in_page(va);
	for (i = 0; i < n; i++) {
		bytes = min_t(unsigned int, length, PAGE_SIZE - offset);
		kva = kmap_local_page(page[i]);
		if (dir == RXE_TO_MR_OBJ)
			memcpy(kva + offset, addr, bytes);
		else
			memcpy(addr, kva + offset, bytes);
		kunmap_local(kva);
		offset = 0;
		addr += bytes;
		length -= bytes;
	}
	rcu_read_unlock_sched();
	return true;

miss:
	rcu_read_unlock_sched();
	return false;
}

/* rxe_odp_prefetch.c: prefetch and fault-ahead */
void rxe_odp_prefetch_ahead(struct rxe_mr *mr, u64 iova, u64 len, bool write);
void rxe_odp_stream_ahead(struct rxe_mr *mr, u64 end, u64 ahead, bool write,
			  bool faulted);
u64 rxe_odp_fault_ahead_len(struct rxe_mr *mr, u64 iova, u64 len, bool write);

/**
 * rxe_odp_fault_ahead - follow a copy for the fault-ahead of its stream
 * @mr: ODP MR, referenced by the caller
 * @odp: its ODP state
 * @iova: start of a copy just done
 * @len: its bytes, > 0
 * @write: the copy wrote the MR
 * @faulted: the copy had to fault pages in
 *
 * A copy is sequential when it starts where the last copy of the MR ended;
 * rxe_odp_stream_ahead() decides what a sequential one queues.  Inline, as
 * it runs for every packet: a warm copy with no stream running ahead of it
 * (@ahead_end behind it, or already at the MR's end) has nothing to queue.
 * Context: rxe task, with no ODP lock held.
 */
static inline void rxe_odp_fault_ahead(struct rxe_mr *mr,
				       struct rxe_odp_mr *odp, u64 iova,
				       u64 len, bool write, bool faulted)
{
	u64 mr_end = mr->ibmr.iova + mr->ibmr.length;
	bool sequential = READ_ONCE(odp->seq_next) == iova;
	u64 end = iova + len;
	u64 ahead;

	WRITE_ONCE(odp->seq_next, end);
	if (!sequential)
		return;
	ahead = READ_ONCE(odp->ahead_end);
	if (!faulted && (ahead < end || ahead >= mr_end))
		return;
	rxe_odp_stream_ahead(mr, end, ahead, write, faulted);
}

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */

#endif /* RXE_ODP_LOC_H */
