// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: fault-around, the window a fault covers.
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
bool rxe_odp_vma_fits_window(struct vm_area_struct *vma, bool write)
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

#endif /* CONFIG_INFINIBAND_ON_DEMAND_PAGING */
