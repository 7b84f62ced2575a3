/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-Demand Paging for rxe: tracepoints, trace system rxe_odp.
 *
 * Every event names its MR by lkey (rxe's MR index is lkey >> 8) and gives
 * user virtual addresses (addr): what the mm, and so an invalidation, sees.
 * An MR registered with ibv_reg_mr() has iova == addr.  The events take
 * plain values, so any layer of rxe_odp may fire them, and cost one static
 * branch each when off; rxe_odp_trace.c instantiates them.
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM rxe_odp

#if !defined(RXE_ODP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define RXE_ODP_TRACE_H

#include <linux/mmu_notifier.h>
#include <linux/tracepoint.h>
#include <rdma/ib_verbs.h>

/* So that perf and trace-cmd can print the names of these enums too. */
TRACE_DEFINE_ENUM(MMU_NOTIFY_UNMAP);
TRACE_DEFINE_ENUM(MMU_NOTIFY_CLEAR);
TRACE_DEFINE_ENUM(MMU_NOTIFY_PROTECTION_VMA);
TRACE_DEFINE_ENUM(MMU_NOTIFY_PROTECTION_PAGE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_SOFT_DIRTY);
TRACE_DEFINE_ENUM(MMU_NOTIFY_RELEASE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_MIGRATE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_EXCLUSIVE);
TRACE_DEFINE_ENUM(IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH);
TRACE_DEFINE_ENUM(IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE);
TRACE_DEFINE_ENUM(IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT);

/* The TRACE_EVENT() DSL, laid out by hand as in-tree trace headers are. */
/* clang-format off */
#define rxe_odp_show_mmu_event(event)                                        \
	__print_symbolic(event, { MMU_NOTIFY_UNMAP, "unmap" },               \
			 { MMU_NOTIFY_CLEAR, "clear" },                      \
			 { MMU_NOTIFY_PROTECTION_VMA, "protection_vma" },    \
			 { MMU_NOTIFY_PROTECTION_PAGE, "protection_page" },  \
			 { MMU_NOTIFY_SOFT_DIRTY, "soft_dirty" },            \
			 { MMU_NOTIFY_RELEASE, "release" },                  \
			 { MMU_NOTIFY_MIGRATE, "migrate" },                  \
			 { MMU_NOTIFY_EXCLUSIVE, "exclusive" })

#define rxe_odp_show_advice(advice)                                          \
	__print_symbolic(advice,                                             \
			 { IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH, "read" },    \
			 { IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE,        \
			   "write" },                                        \
			 { IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,     \
			   "no_fault" })

/*
 * A fault of an access (copy, atomic, flush): @pages_asked is the window
 * faulted (fault-around included), @pages_mirrored the pages it mirrored
 * anew, @ret what ib_umem_odp_map_dma_and_lock() returned (>= 0 success),
 * @ns the time the fault took (0 if the event was enabled meanwhile).
 */
TRACE_EVENT(rxe_odp_fault,
	    TP_PROTO(u32 lkey, u64 addr, u64 len, u64 fault_addr,
		     u32 pages_asked, u32 pages_mirrored, bool write, int ret,
		     u64 ns),
	    TP_ARGS(lkey, addr, len, fault_addr, pages_asked, pages_mirrored,
		    write, ret, ns),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(u64, addr)
			     __field(u64, len)
			     __field(u64, fault_addr)
			     __field(u32, pages_asked)
			     __field(u32, pages_mirrored)
			     __field(bool, write)
			     __field(int, ret)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->lkey = lkey;
			   __entry->addr = addr;
			   __entry->len = len;
			   __entry->fault_addr = fault_addr;
			   __entry->pages_asked = pages_asked;
			   __entry->pages_mirrored = pages_mirrored;
			   __entry->write = write;
			   __entry->ret = ret;
			   __entry->ns = ns;),
	    TP_printk("lkey=%#x addr=%#llx len=%llu fault_addr=%#llx pages_asked=%u pages_mirrored=%u %s ret=%d ns=%llu",
		      __entry->lkey, __entry->addr, __entry->len,
		      __entry->fault_addr, __entry->pages_asked,
		      __entry->pages_mirrored,
		      __entry->write ? "write" : "read", __entry->ret,
		      __entry->ns));

/*
 * An mmu notifier callback on one umem of an MR (lkey 0: a chunk not yet
 * published, see __rxe_odp_invalidate()): [@start, @end) is the overlap of
 * the change with the umem, @pages how many mirrored pages it unmapped.
 */
TRACE_EVENT(rxe_odp_invalidate,
	    TP_PROTO(u32 lkey, u64 start, u64 end, unsigned int event,
		     u32 pages),
	    TP_ARGS(lkey, start, end, event, pages),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(u64, start)
			     __field(u64, end)
			     __field(unsigned int, event)
			     __field(u32, pages)),
	    TP_fast_assign(__entry->lkey = lkey;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->event = event;
			   __entry->pages = pages;),
	    TP_printk("lkey=%#x start=%#llx end=%#llx event=%s pages=%u",
		      __entry->lkey, __entry->start, __entry->end,
		      rxe_odp_show_mmu_event(__entry->event),
		      __entry->pages));

/*
 * One SGE of a prefetch, done: @pages mirrored anew (for PREFETCH_WRITE,
 * or made writable), @ahead for a fault-ahead rather than ibv_advise_mr(),
 * @ret 0 or the error that stopped it.
 */
TRACE_EVENT(rxe_odp_prefetch,
	    TP_PROTO(u32 lkey, u64 addr, u32 len, unsigned int advice,
		     bool ahead, u64 pages, int ret),
	    TP_ARGS(lkey, addr, len, advice, ahead, pages, ret),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(u64, addr)
			     __field(u32, len)
			     __field(unsigned int, advice)
			     __field(bool, ahead)
			     __field(u64, pages)
			     __field(int, ret)),
	    TP_fast_assign(__entry->lkey = lkey;
			   __entry->addr = addr;
			   __entry->len = len;
			   __entry->advice = advice;
			   __entry->ahead = ahead;
			   __entry->pages = pages;
			   __entry->ret = ret;),
	    TP_printk("lkey=%#x addr=%#llx len=%u advice=%s%s pages=%llu ret=%d",
		      __entry->lkey, __entry->addr, __entry->len,
		      rxe_odp_show_advice(__entry->advice),
		      __entry->ahead ? " ahead" : "", __entry->pages,
		      __entry->ret));

/* A sequential stream queued the fault-ahead of [@addr, @addr + @len). */
TRACE_EVENT(rxe_odp_fault_ahead,
	    TP_PROTO(u32 lkey, u64 addr, u64 len, bool write),
	    TP_ARGS(lkey, addr, len, write),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(u64, addr)
			     __field(u64, len)
			     __field(bool, write)),
	    TP_fast_assign(__entry->lkey = lkey;
			   __entry->addr = addr;
			   __entry->len = len;
			   __entry->write = write;),
	    TP_printk("lkey=%#x addr=%#llx len=%llu %s", __entry->lkey,
		      __entry->addr, __entry->len,
		      __entry->write ? "write" : "read"));

/*
 * A chunk's child umem [@start, @end): @pages mirrored in it, @children
 * the MR's children after the event.
 */
DECLARE_EVENT_CLASS(rxe_odp_chunk,
		    TP_PROTO(u32 lkey, u64 start, u64 end, u32 pages,
			     u32 children),
		    TP_ARGS(lkey, start, end, pages, children),
		    TP_STRUCT__entry(__field(u32, lkey)
				     __field(u64, start)
				     __field(u64, end)
				     __field(u32, pages)
				     __field(u32, children)),
		    TP_fast_assign(__entry->lkey = lkey;
				   __entry->start = start;
				   __entry->end = end;
				   __entry->pages = pages;
				   __entry->children = children;),
		    TP_printk("lkey=%#x start=%#llx end=%#llx pages=%u children=%u",
			      __entry->lkey, __entry->start, __entry->end,
			      __entry->pages, __entry->children));

/* A child was published after its first successful mirror. */
DEFINE_EVENT(rxe_odp_chunk, rxe_odp_chunk_add,
	     TP_PROTO(u32 lkey, u64 start, u64 end, u32 pages, u32 children),
	     TP_ARGS(lkey, start, end, pages, children));

/* An implicit MR's least recently used child went to make room. */
DEFINE_EVENT(rxe_odp_chunk, rxe_odp_chunk_evict,
	     TP_PROTO(u32 lkey, u64 start, u64 end, u32 pages, u32 children),
	     TP_ARGS(lkey, start, end, pages, children));

/* An implicit MR's child that an unmap left empty was released. */
DEFINE_EVENT(rxe_odp_chunk, rxe_odp_chunk_release,
	     TP_PROTO(u32 lkey, u64 start, u64 end, u32 pages, u32 children),
	     TP_ARGS(lkey, start, end, pages, children));

/* clang-format on */

#endif /* RXE_ODP_TRACE_H */

/* Out of tree: the header is found through -I$(src) (Kbuild). */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE rxe_odp_trace
#include <trace/define_trace.h>
