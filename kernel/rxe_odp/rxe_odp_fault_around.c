// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Fault-around and fault-ahead for rxe ODP.
 *
 * Each miss on an ODP MR costs a trip through HMM - mmap_lock, a page-table
 * walk, the notifier sequence check, umem_mutex - however few pages it
 * maps, and a first transfer into untouched memory misses once per page.
 * So a miss maps the whole aligned window of fault_around_pages pages that
 * holds the access, as the CPU's own fault-around does for file pages: a
 * sequential cold transfer then takes one fault per window.
 *
 * The window never leaves the umem (the MR, or its child chunk), nor the
 * VMAs that hold the first and the last byte of the access: the pages next
 * to a buffer may be a hole or a PROT_NONE guard page, and one such page
 * fails a whole HMM fault.  A write widens only over anonymous or shmem
 * memory, where the extra write faults just allocate zeroed pages (or
 * break COW) rather than dirty file pages nobody wrote, and never over a
 * userfaultfd-armed VMA.  HUGETLB umems map a huge page per fault already
 * and are left alone.
 *
 * Fault-around makes misses cheaper, not fewer in bytes: a first transfer
 * into fresh memory still allocates and zeroes every page it lands on
 * inside the transfer, on the CPU that runs it.  So a copy that misses
 * while it goes on where the last copy of the MR ended - a sequential
 * stream - also queues a prefetch of the next fault_ahead_pages pages on
 * the prefetch workqueue (rxe_odp_advise.c), where another CPU faults them
 * in while this one moves data; the stream queues the next stretch each
 * time it gets within half that distance of what was queued.  Fault-ahead
 * stays inside the MR and the VMA where it starts, follows the window's
 * VMA rules (so a write never faults file pages ahead), and is counted in
 * odp_pages_prefetched.
 */

#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/userfaultfd_k.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "rxe_odp_loc.h"

#ifdef CONFIG_INFINIBAND_ON_DEMAND_PAGING

/* One PMD of 4 KiB pages: a window never costs more than a huge page. */
#define RXE_ODP_FAULT_AROUND_MAX 512

static unsigned int rxe_odp_fault_around_pages = 16;

static int rxe_odp_fault_around_set(const char *val,
				    const struct kernel_param *kp)
{
	unsigned int pages;
	int err;

	err = kstrtouint(val, 0, &pages);
	if (err)
		return err;
	if (pages > RXE_ODP_FAULT_AROUND_MAX ||
	    (pages && !is_power_of_2(pages)))
		return -EINVAL;

	WRITE_ONCE(rxe_odp_fault_around_pages, pages);
	return 0;
}

static const struct kernel_param_ops rxe_odp_fault_around_ops = {
	.set = rxe_odp_fault_around_set,
	.get = param_get_uint,
};

module_param_cb(fault_around_pages, &rxe_odp_fault_around_ops,
		&rxe_odp_fault_around_pages, 0644);
MODULE_PARM_DESC(fault_around_pages,
		 "Window an ODP fault maps, in pages (0 = off, 2^n <= 512)");

/*
 * May the window widen over @vma for an access with this intent?  Not over
 * a userfaultfd-armed VMA: HMM cannot wait for the monitor, so a missing
 * page next to the access would fail the whole window.
 */
static bool rxe_odp_vma_fits_window(struct vm_area_struct *vma, bool write)
{
	if (vma->vm_flags & (VM_IO | VM_PFNMAP) || userfaultfd_armed(vma))
		return false;
	if (!write)
		return true;
	return vma_is_anonymous(vma) ||
	       (vma->vm_file && shmem_file(vma->vm_file));
}

/**
 * rxe_odp_fault_window - the range a miss on [@va, @va + @len) should fault
 * @umem_odp: the umem the access falls in
 * @va: user virtual address inside the umem
 * @len: bytes, > 0, with [@va, @va + @len) inside the umem
 * @write: the access writes
 * @fault_va: set to the start of the range to fault, <= @va
 * @fault_len: set to its length; it holds [@va, @va + @len)
 *
 * When the window cannot widen (fault-around off, a HUGETLB umem, the mm
 * gone, an odd VMA) the range is the access itself.  The VMAs may change
 * as soon as mmap_lock is dropped here, so a fault over the window can
 * still fail where the access alone would not: callers then fault just the
 * access.
 *
 * Context: process context, may sleep.  Takes the owner's mmap_lock for
 * read, so must be called with no umem_mutex held (see Locking in
 * rxe_odp.c).
 */
void rxe_odp_fault_window(struct ib_umem_odp *umem_odp, u64 va, u64 len,
			  bool write, u64 *fault_va, u64 *fault_len)
{
	u64 win = (u64)READ_ONCE(rxe_odp_fault_around_pages) << PAGE_SHIFT;
	struct mm_struct *mm = umem_odp->umem.owning_mm;
	struct vm_area_struct *first, *last;
	u64 start, end;

	*fault_va = va;
	*fault_len = len;
	if (win <= PAGE_SIZE || umem_odp->page_shift != PAGE_SHIFT)
		return;

	start = max_t(u64, ALIGN_DOWN(va, win), ib_umem_start(umem_odp));
	end = min_t(u64, ALIGN(va + len, win), ib_umem_end(umem_odp));
	if (start == va && end == va + len)
		return;

	if (!mmget_not_zero(mm))
		return;
	mmap_read_lock(mm);
	first = vma_lookup(mm, va);
	last = first;
	if (first && va + len > first->vm_end)
		last = vma_lookup(mm, va + len - 1);
	if (first && last && rxe_odp_vma_fits_window(first, write) &&
	    rxe_odp_vma_fits_window(last, write)) {
		*fault_va = max_t(u64, start, first->vm_start);
		*fault_len = min_t(u64, end, last->vm_end) - *fault_va;
	}
	mmap_read_unlock(mm);
	mmput(mm);
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

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
