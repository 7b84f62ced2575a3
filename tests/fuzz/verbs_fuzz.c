// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * verbs_fuzz: seeded random verbs workloads against explicit ODP, implicit
 * ODP and pinned MRs on a loopback RC and UD pair of one rxe device, while
 * a second thread changes the process's page tables under them.
 *
 * The memory is four regions at fixed addresses far below the mmap base
 * (so that no library mapping ever lands in a hole we punch):
 *   E  160 MiB, explicit ODP: MR "e" over [start+1000, end-777) with every
 *      access (and flush), MR "ero" over all of it with remote read only,
 *      and MR "foreign" of another PD over all of it; three 64 MiB child
 *      edges inside
 *   I  160 MiB reached only through the implicit ODP MR "imp" (which also
 *      reaches E, P and G), two 64 MiB edges inside
 *   P  256 KiB, pinned MR "pin"
 *   G  64 KiB, ODP MR "ghost" whose memory was mirrored, then replaced by
 *      PROT_NONE: a valid key whose memory is gone
 * each inside a PROT_NONE reservation (guards) of 512 KiB on both sides.
 * Addresses are drawn near the interesting points of a region (its ends,
 * its MRs' ends, 64 MiB and 1 MiB edges, page edges), or absurd (0, kernel,
 * non-canonical), or - class "wrap", --no-wrap turns it off - just below
 * 2^64 with a length that wraps past it.  Keys are the region's own, the
 * implicit one, stale (deregistered), foreign (other PD), another region's
 * or random.  The main thread also damages single pages of E and I on
 * purpose (read-only, PROT_NONE, munmapped) and restores them: the model
 * knows those states.  The mm thread makes transient changes it undoes at
 * once (munmap + mmap back, mmap over, mprotect, MADV_DONTNEED, mremap
 * away and back, fork): the model does not know when they hit an
 * operation, only that they did (a generation count per region).
 *
 * The model: every operation is executed alone (post, wait for its
 * completions).  From the keys, ranges, access flags and page states it
 * computes the causes of failure the operation has; none: it MUST succeed
 * and every byte of every destination must be the source's, every guard
 * byte around it and every source byte unchanged; some: it MUST fail with
 * one of the statuses those causes give (rxe and the verbs spec: remote
 * key, range, access or unmirrorable remote page -> IBV_WC_REM_ACCESS_ERR
 * at the requester; local SGE outside an ODP MR or on memory ODP cannot
 * mirror -> IBV_WC_LOC_PROT_ERR, a local key that fails lookup or a pinned
 * MR's range -> stock rxe's IBV_WC_LOC_QP_OP_ERR (6.12 reports it as a
 * flush) for a source, LOC_PROT_ERR for a read or atomic sink; RC receive
 * buffer -> IBV_WC_REM_OP_ERR at the sender and LOC_PROT_ERR (ODP) or
 * LOC_QP_OP_ERR (stock) at the receiver; too
 * long -> IBV_WC_REM_INV_REQ_ERR; misaligned atomic -> refused by
 * post_send or IBV_WC_REM_INV_REQ_ERR; prefetch: the errno of the first
 * bad SGE), and each destination byte must be either what it was or what
 * success would have put there (the first packets may land), guards
 * exact; a key-level remote failure must leave the destination untouched.
 * An operation raced by the mm thread on a region it uses may end either
 * way, with the statuses of both views; if it succeeds its data must still
 * be exact, except that bytes of a region whose content a change dropped
 * (munmap, mmap over, DONTNEED) may read 0.  Anything else is a violation.
 * A QP pair that saw an error is replaced and must work at once.
 */
#include "odp_common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define PAGE ODP_PAGE
#define CHILD (64 * MIB) /* the ODP children of our MRs */
#define AREA 0x200000000000ull
#define GUARD (512 * KIB)
#define WIN (128 * KIB)	       /* draws stay within WIN of a point */
#define MAX_LEN (64 * KIB)     /* of one SGE or range */
#define SPAN_MAX (2 * MAX_LEN) /* of two SGEs */
#define GB 256		       /* guard bytes checked around each destination */
#define GRH 40
#define MAX_SPAN 8
#define MAX_VIOL_LOG 40
#define LOG_LEN 256

/* ---- random numbers: one stream per thread, all from the seed ---- */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *g, uint64_t n)
{
	return n ? rnd(g) % n : 0;
}

static bool chance(struct rng *g, unsigned int pct)
{
	return below(g, 100) < pct;
}

/* Index drawn with weights w[0..n). */
static int pick(struct rng *g, const unsigned int *w, int n)
{
	unsigned int sum = 0, x;
	int i;

	for (i = 0; i < n; i++)
		sum += w[i];
	x = (unsigned int)below(g, sum);
	for (i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* ---- options and counts ---- */
static struct {
	uint64_t seed;
	long ops;
	double seconds;
	bool wrap, mm, verbose;
	unsigned int mm_us;
	const char *trace;
} opt = { .ops = 0, .seconds = 60, .wrap = true, .mm = true, .mm_us = 5000 };

static FILE *trace_f;
static long violations;
static int timeouts;

enum kind { K_WRITE, K_READ, K_SEND, K_UD, K_CAS, K_FADD, K_AWRITE, K_FLUSH, K_PREFETCH, NKIND };
static const char *const kind_name[NKIND] = { "rdma_write",   "rdma_read", "rc_send",
					      "ud_send",      "cmp_swap",  "fetch_add",
					      "atomic_write", "flush",	   "prefetch" };
static struct {
	long ran, ok, failed, raced_ok, raced_failed, viol;
} cnt[NKIND];
static struct {
	long wrap, absurd, zero_len, stale, foreign, random_key, implicit_key, other_key, multi_sge;
	long clashes, page_changes, reregs, rc_recreated, ud_recreated, canaries, iova_wrap_regs;
} cls;
enum mm_act {
	MM_UNMAP_MAP,
	MM_MAP_OVER,
	MM_PROT_NONE,
	MM_PROT_RO,
	MM_DONTNEED,
	MM_MREMAP,
	MM_FORK,
	NMM
};
static const char *const mm_name[NMM] = { "munmap+mmap", "mmap-fixed", "mprotect-none",
					  "mprotect-ro", "dontneed",   "mremap",
					  "fork" };
static long mm_cnt[NMM], mm_err[NMM];

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	violations++;
	if (violations > MAX_VIOL_LOG)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("VIOLATION %s\n", line);
	fflush(stdout);
	if (trace_f) {
		fprintf(trace_f, "VIOLATION %s\n", line);
		fflush(trace_f);
	}
}

/* ---- regions ---- */
enum pstate { PG_RW, PG_RO, PG_NONE, PG_HOLE };
enum { R_E, R_I, R_P, R_G, NREG };

struct region {
	const char *name;
	uint64_t start, len; /* the memory */
	uint8_t *pg;	     /* enum pstate per page */
	uint64_t pts[12];    /* the points draws gather around */
	int npts;
	bool pinned; /* the pinned MR's: the model never damages it */
	pthread_mutex_t lock;
	/*
	 * The mm thread's changes, under lock: gen counts them, log keeps
	 * the last LOG_LEN (what they covered, whether content was lost).
	 */
	uint64_t gen;
	struct {
		uint64_t va, len;
		bool zap;
	} log[LOG_LEN];
};

static struct region reg[NREG];
static uint64_t tmp_area; /* reservation the mm thread mremaps to */
#define TMP_LEN (1 * MIB)

static struct region *reg_of(uint64_t va)
{
	int i;

	for (i = 0; i < NREG; i++)
		if (va >= reg[i].start - GUARD && va < reg[i].start + reg[i].len + GUARD)
			return &reg[i];
	return NULL;
}

/* State of the page holding va (guards are PROT_NONE), or -1 outside every region. */
static int page_state(uint64_t va, struct region **rp)
{
	struct region *r = reg_of(va);

	if (rp)
		*rp = r;
	if (!r)
		return -1;
	if (va < r->start || va >= r->start + r->len)
		return PG_NONE;
	return r->pg[(va - r->start) / PAGE];
}

/*
 * The bytes [addr, addr+len) can be mirrored through an ODP MR for the
 * access (write: read-write page; read: readable page), none of their pages
 * in a region of racemask counting.
 */
static bool mem_ok(uint64_t addr, uint64_t len, bool write, unsigned int racemask)
{
	uint64_t pg, last;

	if (!len)
		return true;
	if (addr + len < addr || addr + len == 0)
		return false;
	last = (addr + len - 1) & ~(PAGE - 1);
	for (pg = addr & ~(PAGE - 1);; pg += PAGE) {
		struct region *r;
		int st = page_state(pg, &r);

		if (st < 0 || (racemask & (1u << (r - reg))))
			return false;
		if (st != PG_RW && (write || st != PG_RO))
			return false;
		if (pg == last)
			return true;
	}
}

/* ---- MRs ---- */
enum { M_E, M_ERO, M_IMP, M_PIN, M_GHOST, M_FOREIGN, NMR };
struct fmr {
	const char *name;
	struct ibv_mr *mr;
	int access;
	bool odp, implicit, foreign;
	uint64_t lo, hi; /* iova range, [lo, hi) */
};

static struct fmr mrs[NMR];
static uint32_t stale[32];
static int nstale;
static struct odp_dev dev;
static struct ibv_pd *pd2;
static bool have_awrite, have_flush, have_prefetch;

static struct ibv_mr *reg_one(struct fmr *m)
{
	struct ibv_pd *pd = m->foreign ? pd2 : dev.pd;
	int acc = m->access | (m->odp ? IBV_ACCESS_ON_DEMAND : 0);

	if (m->implicit)
		m->mr = ibv_reg_mr(pd, NULL, SIZE_MAX, acc);
	else
		m->mr = ibv_reg_mr(pd, (void *)(uintptr_t)m->lo, m->hi - m->lo, acc);
	if (!m->mr)
		odp_log("ibv_reg_mr %s: %s", m->name, strerror(errno));
	return m->mr;
}

/* The live MR a key names (lkey or rkey), as rxe's lookup_mr() finds it. */
static struct fmr *resolve(uint32_t key, bool remote)
{
	int i;

	if (!key)
		return NULL;
	for (i = 0; i < NMR; i++) {
		if (!mrs[i].mr)
			continue;
		if ((remote ? mrs[i].mr->rkey : mrs[i].mr->lkey) == key)
			return &mrs[i];
	}
	return NULL;
}

/* The range is inside the MR (mr_check_range, overflow-safe as it must be). */
static bool range_ok(const struct fmr *m, uint64_t addr, uint64_t len)
{
	if (addr + len < addr || (len && addr + len == 0))
		return false;
	if (m->implicit)
		return true;
	return addr >= m->lo && addr + len <= m->hi;
}

/*
 * An implicit MR covers the user address space, [0, mm->task_size): a
 * prefetch past it is refused (EINVAL) like one outside an explicit MR.
 * task_size is 2^47 - 4096 with 4-level paging and up to 2^56 - 4096 with
 * 5-level: 0 inside for sure, 2 outside for sure, 1 either.
 */
static int beyond_user(const struct fmr *m, uint64_t addr, uint64_t len)
{
	if (!m->implicit)
		return 0;
	if (addr + len <= (1ull << 47) - 4096)
		return 0;
	if (addr + len > (1ull << 56) - 4096)
		return 2;
	return 1;
}

/* ---- operations ---- */
struct sge_d {
	uint64_t addr;
	uint32_t len;
	uint32_t key;
	char what[24]; /* address and key class, for the trace */
};

struct op {
	enum kind kind;
	long n;
	struct sge_d l[4]; /* local SGEs */
	int nl;
	struct sge_d r;	     /* remote range and rkey */
	struct sge_d rcv[2]; /* receive SGEs */
	int nrcv;
	uint64_t cmp, swap; /* atomics (swap: the added or written value) */
	bool cmp_match;
	int advice;
	uint32_t pflags;
	int flush_level;
};

/* Acceptable outcomes. */
#define ST(s) (1u << (s))
/* Pseudo-statuses of a requester: the post was refused, nothing completed. */
#define ST_NOT_POSTED 30
#define ST_NO_COMPLETION 31
#define ST_POSTFAIL ST(ST_NOT_POSTED)
#define RCV_NONE (1u << 31)
struct expect {
	uint32_t req;	/* requester completion statuses, ST_POSTFAIL */
	uint32_t rcv;	/* receiver statuses, RCV_NONE */
	uint32_t perr;	/* prefetch: bit e for errno e (<32), bit 0 success */
	bool untouched; /* a failure leaves the destination as it was */
};

static uint32_t sges_total(const struct sge_d *s, int n)
{
	uint32_t t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += s[i].len;
	return t;
}

/*
 * Whether the first n bytes of an SGE list are reachable with access acc
 * (write: into memory): as copy_data() walks it, an SGE is looked up only
 * when a byte lands in it, and only the bytes that land are range-checked.
 * LOCAL_OK, or how it fails: LOCAL_ODP when ODP refuses the range or the
 * memory of an ODP MR (a local protection error), LOCAL_STOCK when stock
 * rxe does (a key that fails lookup, or a pinned MR's range): its statuses;
 * LOCAL_WRAP for a pinned MR's range that passes 2^64, which 6.12.107's
 * mr_check_range() let through and later stock kernels refuse as any
 * range (LOCAL_STOCK), while the spec's answer is LOCAL_ODP's: either.
 */
enum { LOCAL_OK, LOCAL_ODP, LOCAL_STOCK, LOCAL_WRAP };
static int sges_ok(const struct sge_d *s, int ns, uint64_t n, int acc, bool write, unsigned int rm)
{
	int i;

	for (i = 0; i < ns && n; i++) {
		uint64_t take = s[i].len < n ? s[i].len : n;
		struct fmr *m;

		if (!take)
			continue;
		m = resolve(s[i].key, false);
		if (!m || m->foreign || (m->access & acc) != acc)
			return LOCAL_STOCK;
		if (!m->odp && s[i].addr + take < s[i].addr)
			return LOCAL_WRAP;
		if (!range_ok(m, s[i].addr, take))
			return m->odp ? LOCAL_ODP : LOCAL_STOCK;
		if (m->odp && !mem_ok(s[i].addr, take, write, rm))
			return LOCAL_ODP;
		n -= take;
	}
	return LOCAL_OK;
}

/*
 * Requester statuses of a local source that fails: ODP's local protection
 * error; stock rxe's local QP operation error (which 6.12 reports as a
 * flush of the failed WQE), or, for a pinned range that wraps past 2^64
 * (its mr_check_range() lets it through, the page lookup fails), a local
 * protection error.
 */
static uint32_t source_err(int l)
{
	if (l == LOCAL_WRAP)
		return source_err(LOCAL_ODP) | source_err(LOCAL_STOCK);
	if (l == LOCAL_ODP)
		return ST(IBV_WC_LOC_PROT_ERR);
	if (l == LOCAL_STOCK)
		return ST(IBV_WC_LOC_QP_OP_ERR) | ST(IBV_WC_WR_FLUSH_ERR) | ST(IBV_WC_LOC_PROT_ERR);
	return 0;
}

/* Receiver statuses of a receive buffer that fails (stock: as above). */
static uint32_t recv_err(int l)
{
	if (l == LOCAL_WRAP)
		return recv_err(LOCAL_ODP) | recv_err(LOCAL_STOCK);
	if (l == LOCAL_ODP)
		return ST(IBV_WC_LOC_PROT_ERR);
	if (l == LOCAL_STOCK)
		return ST(IBV_WC_LOC_QP_OP_ERR) | ST(IBV_WC_LOC_PROT_ERR);
	return 0;
}

/* The remote range: 0 ok, 1 bad memory, 2 bad key/range/access (nothing may land). */
static int remote_ok(const struct sge_d *r, int acc, bool write, bool check_range, bool check_mem,
		     unsigned int rm)
{
	struct fmr *m = resolve(r->key, true);

	if (!m || m->foreign || (m->access & acc) != acc)
		return 2;
	if (check_range && !range_ok(m, r->addr, r->len))
		return 2;
	if (check_mem && m->odp && !mem_ok(r->addr, r->len, write, rm))
		return 1;
	return 0;
}

static int mtu;

/* What a UD datagram of tot bytes does at the receiver, its source read. */
static uint32_t ud_rcv_expect(const struct op *o, uint32_t tot, unsigned int rm)
{
	int l;

	/* a datagram that does not fit is dropped (no SRQ: class D) */
	if (tot + GRH > o->rcv[0].len)
		return RCV_NONE;
	l = sges_ok(o->rcv, 1, tot + GRH, IBV_ACCESS_LOCAL_WRITE, true, rm);
	return l ? recv_err(l) : ST(IBV_WC_SUCCESS);
}

static struct expect expect_of(const struct op *o, unsigned int rm)
{
	struct expect e = { 0 };
	uint32_t tot = sges_total(o->l, o->nl);
	int rr, l;

	switch (o->kind) {
	case K_WRITE:
	case K_READ: {
		bool wr = o->kind == K_WRITE;

		l = sges_ok(o->l, o->nl, tot, wr ? 0 : IBV_ACCESS_LOCAL_WRITE, !wr, rm);
		/* a read's sink is written by the completer: stock says LOC_PROT too */
		if (wr)
			e.req |= source_err(l);
		else if (l != LOCAL_OK)
			e.req |= ST(IBV_WC_LOC_PROT_ERR);
		/* C9-88: a zero-length RDMA read or write checks no rkey */
		rr = o->r.len ? remote_ok(&o->r,
					  wr ? IBV_ACCESS_REMOTE_WRITE : IBV_ACCESS_REMOTE_READ, wr,
					  true, true, rm)
			      : 0;
		if (rr)
			e.req |= ST(IBV_WC_REM_ACCESS_ERR);
		e.untouched = rr == 2;
		break;
	}
	case K_SEND: {
		uint32_t rl = sges_total(o->rcv, o->nrcv);

		e.req |= source_err(sges_ok(o->l, o->nl, tot, 0, false, rm));
		l = sges_ok(o->rcv, o->nrcv, tot < rl ? tot : rl, IBV_ACCESS_LOCAL_WRITE, true, rm);
		if (l != LOCAL_OK) {
			e.req |= ST(IBV_WC_REM_OP_ERR);
			e.rcv |= recv_err(l);
		}
		/*
		 * Too long: the spec wants an invalid request NAK and a local
		 * length error; rxe finds a packet longer than the space left
		 * a malformed WQE (remote operational error NAK).
		 */
		if (tot > rl) {
			e.req |= ST(IBV_WC_REM_INV_REQ_ERR) | ST(IBV_WC_REM_OP_ERR);
			e.rcv |= ST(IBV_WC_LOC_LEN_ERR) | ST(IBV_WC_REM_INV_REQ_ERR) |
				 ST(IBV_WC_LOC_QP_OP_ERR);
		}
		if (e.req)
			e.rcv |= RCV_NONE | ST(IBV_WC_WR_FLUSH_ERR);
		else
			e.rcv = ST(IBV_WC_SUCCESS);
		break;
	}
	case K_UD:
		/* C10-93.1.1: larger than the MTU: no packet, no error */
		if (tot > (uint32_t)mtu) {
			e.rcv = RCV_NONE;
			break;
		}
		l = sges_ok(o->l, o->nl, tot, 0, false, rm);
		if (l != LOCAL_OK) {
			e.req |= source_err(l);
			e.rcv = RCV_NONE;
			break;
		}
		e.rcv = ud_rcv_expect(o, tot, rm);
		break;
	case K_CAS:
	case K_FADD:
		rr = remote_ok(&o->r, IBV_ACCESS_REMOTE_ATOMIC, true, true, true, rm);
		if (rr)
			e.req |= ST(IBV_WC_REM_ACCESS_ERR);
		if (o->r.addr & 7)
			e.req |= ST(IBV_WC_REM_INV_REQ_ERR) | ST_POSTFAIL;
		/* the completer writes the old value: any failure is LOC_PROT */
		if (sges_ok(o->l, o->nl, 8, IBV_ACCESS_LOCAL_WRITE, true, rm))
			e.req |= ST(IBV_WC_LOC_PROT_ERR);
		e.untouched = rr == 2;
		break;
	case K_AWRITE:
		rr = remote_ok(&o->r, IBV_ACCESS_REMOTE_WRITE, true, true, true, rm);
		if (rr)
			e.req |= ST(IBV_WC_REM_ACCESS_ERR);
		if (o->r.addr & 7)
			e.req |= ST(IBV_WC_REM_INV_REQ_ERR) | ST_POSTFAIL;
		e.untouched = rr == 2;
		break;
	case K_FLUSH:
		/* a global flush is a barrier: it touches no page */
		rr = remote_ok(&o->r, IBV_ACCESS_FLUSH_GLOBAL, false,
			       o->flush_level == IBV_FLUSH_RANGE, false, rm);
		if (rr)
			e.req |= ST(IBV_WC_REM_ACCESS_ERR);
		break;
	case K_PREFETCH: {
		bool bad_mem = false, maybe_einval = false;
		int i;

		for (i = 0; i < o->nl; i++) {
			const struct sge_d *s = &o->l[i];
			struct fmr *m = resolve(s->key, false);

			if (!m || m->foreign || !m->odp) {
				e.perr = 1u << ENOENT;
				return e;
			}
			if (o->advice == IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
			    !(m->access & IBV_ACCESS_LOCAL_WRITE)) {
				e.perr = 1u << EPERM;
				return e;
			}
			if (!range_ok(m, s->addr, s->len) || beyond_user(m, s->addr, s->len) == 2) {
				e.perr = 1u << EINVAL;
				return e;
			}
			if (beyond_user(m, s->addr, s->len) == 1)
				maybe_einval = true;
			if (!mem_ok(s->addr, s->len,
				    o->advice == IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, rm))
				bad_mem = true;
		}
		e.perr = 1u; /* success */
		if (maybe_einval)
			e.perr |= 1u << EINVAL;
		if (bad_mem && (o->pflags & IBV_ADVISE_MR_FLAG_FLUSH)) {
			if (o->advice == IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
				e.perr |= 1u << EFAULT; /* mirrors what is there */
			else
				e.perr = 1u << EFAULT;
		}
		if (rm && (o->pflags & IBV_ADVISE_MR_FLAG_FLUSH))
			e.perr |= 1u << EBUSY;
		return e;
	}
	default:
		break;
	}
	if (!e.req)
		e.req = ST(IBV_WC_SUCCESS);
	return e;
}

/* ---- spans: the bytes an operation reads or writes, with what they must hold ---- */
enum { W_KEEP, W_DATA, W_ANY };
struct span {
	uint64_t addr;
	uint32_t len;
	bool dst;
	struct region *r;
	uint8_t before[SPAN_MAX + 2 * GB];
	uint8_t known[SPAN_MAX + 2 * GB];
	uint8_t want[SPAN_MAX];
	uint8_t mode[SPAN_MAX];
	bool has_alt; /* an atomic's target: what it leaves when it found 0 */
	uint8_t alt[8];
};

static struct span spans[MAX_SPAN];
static int nspans;
static uint8_t stream[SPAN_MAX];

static struct span *span_add(uint64_t addr, uint32_t len, bool dst)
{
	struct span *s = &spans[nspans++];

	s->addr = addr;
	s->len = len;
	s->dst = dst;
	s->r = reg_of(addr);
	s->has_alt = false;
	memset(s->mode, W_KEEP, len);
	return s;
}

/* [lo, hi) of the bytes a span fills and checks (guards for a destination). */
static void span_bounds(const struct span *s, uint64_t *lo, uint64_t *hi)
{
	uint64_t g = s->dst ? GB : 0;

	*lo = s->addr - g;
	*hi = s->addr + s->len + g;
}

/* Spans in a region must not overlap (their patterns would clash). */
static bool spans_disjoint(void)
{
	int i, j;

	for (i = 0; i < nspans; i++) {
		uint64_t alo, ahi;

		if (!spans[i].r)
			continue;
		span_bounds(&spans[i], &alo, &ahi);
		if (ahi < alo)
			return false;
		for (j = 0; j < i; j++) {
			uint64_t blo, bhi;

			if (spans[j].r != spans[i].r)
				continue;
			span_bounds(&spans[j], &blo, &bhi);
			if (alo < bhi && blo < ahi)
				return false;
		}
	}
	return true;
}

/*
 * Fills a span (region locks held): a destination with the "before"
 * pattern of its addresses, guards included, a source with the stream
 * pattern from stream offset soff; read-only pages keep what they hold.
 * Then snapshots every readable byte.
 */
static void span_fill(struct span *s, uint64_t seed, uint64_t soff)
{
	uint64_t lo, hi, va;
	size_t i;

	span_bounds(s, &lo, &hi);
	if (!s->r)
		return;
	for (va = lo, i = 0; va != hi; va++, i++) {
		int st = page_state(va, NULL);
		uint8_t *p = (uint8_t *)(uintptr_t)va;

		s->known[i] = st == PG_RW || st == PG_RO;
		if (!s->known[i])
			continue;
		if (st == PG_RW)
			*p = s->dst ? odp_pat(seed, va) : odp_pat(seed, soff + i);
		s->before[i] = *p;
	}
}

/*
 * Whether an mm thread change since gen[] touched a page of the span (its
 * guards included): sets the region's bit in *raced, and in *zapped if the
 * change could drop content.
 */
static void span_raced(const struct span *s, const uint64_t *gen, unsigned int *raced,
		       unsigned int *zapped)
{
	const struct region *r = s->r;
	uint64_t lo, hi, n;
	unsigned int bit;

	if (!r)
		return;
	bit = 1u << (r - reg);
	span_bounds(s, &lo, &hi);
	lo &= ~(PAGE - 1);
	if (r->gen - gen[r - reg] >= LOG_LEN) {
		if (r->gen != gen[r - reg]) {
			*raced |= bit; /* the log does not go back that far */
			*zapped |= bit;
		}
		return;
	}
	for (n = gen[r - reg]; n != r->gen; n++) {
		const typeof(r->log[0]) *c = &r->log[n % LOG_LEN];

		if (c->va < hi && lo < c->va + c->len) {
			*raced |= bit;
			if (c->zap)
				*zapped |= bit;
		}
	}
}

/* Outcome of an operation for the checks. */
enum { OUT_OK, OUT_FAIL };

/*
 * Checks a span after the operation (region locks held): see the top of
 * the file for what each byte may hold.  Returns the number of bad bytes.
 */
static long span_check(const struct span *s, int out, bool untouched, bool zap, bool zap_src,
		       const char *what, const struct op *o)
{
	uint64_t lo, hi, va;
	long bad = 0, first = -1;
	uint8_t got = 0, w1 = 0;
	size_t i;

	span_bounds(s, &lo, &hi);
	if (!s->r)
		return 0;
	for (va = lo, i = 0; va != hi; va++, i++) {
		uint64_t off = va - s->addr; /* wraps below addr: guard */
		bool inside = va >= s->addr && va < s->addr + s->len;
		int mode = inside ? s->mode[off] : W_KEEP;
		uint8_t g, b = s->before[i], w = inside ? s->want[off] : 0;
		bool ok;

		if (!s->known[i])
			continue;
		g = *(volatile uint8_t *)(uintptr_t)va;
		if (mode == W_ANY)
			continue;
		if (mode == W_KEEP || (out == OUT_FAIL && untouched))
			ok = g == b;
		else if (out == OUT_OK)
			ok = g == w;
		else
			ok = g == w || g == b;
		/* lost content reads 0: here, or at the source of the data */
		if (!ok && g == 0 && (zap || (zap_src && mode == W_DATA)))
			ok = true;
		if (!ok && zap && inside && s->has_alt && off < 8 && g == s->alt[off])
			ok = true;
		if (!ok) {
			if (first < 0) {
				first = (long)i;
				got = g;
				w1 = mode == W_DATA && out == OUT_OK ? w : b;
			}
			bad++;
		}
	}
	if (bad)
		violation("op %ld %s: %s: %ld bad bytes, first at 0x%" PRIx64
			  " (offset %ld of the span, guards %u): got 0x%02x want 0x%02x",
			  o->n, kind_name[o->kind], what, bad, lo + (uint64_t)first,
			  first - (long)(s->dst ? GB : 0), s->dst ? GB : 0, got, w1);
	return bad;
}

/* ---- QPs ---- */
static struct odp_rc_pair rc;
static struct odp_ud_pair ud;
static struct odp_qp_opts rc_opts;

static void lock_all(void)
{
	int i;

	for (i = 0; i < NREG; i++)
		pthread_mutex_lock(&reg[i].lock);
}

static void unlock_all(void)
{
	int i;

	for (i = NREG - 1; i >= 0; i--)
		pthread_mutex_unlock(&reg[i].lock);
}

/* odp_poll() without its message when nothing comes: that may be expected. */
static int quiet_poll(struct ibv_cq *cq, struct ibv_wc *wc, int ms)
{
	uint64_t end = odp_now_ns() + (uint64_t)ms * 1000000ull;

	for (;;) {
		int n = ibv_poll_cq(cq, 1, wc);

		if (n)
			return n == 1 ? 0 : -EIO;
		if (odp_now_ns() > end)
			return -ETIMEDOUT;
		usleep(100);
	}
}

static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	int ret = odp_poll(cq, wc, odp_timeout_ms());

	if (ret == -ETIMEDOUT)
		timeouts++;
	return ret;
}

/*
 * The requester's status of one work request: ST_NOT_POSTED if posting
 * failed (post_err), ST_NO_COMPLETION if none came, else the completion's.
 */
static int req_status(int post_err, struct ibv_cq *cq, struct ibv_wc *wc)
{
	if (post_err)
		return ST_NOT_POSTED;
	if (wait_wc(cq, wc))
		return ST_NO_COMPLETION;
	return wc->status;
}

/* A fresh pair must work at once: a pinned-to-pinned write, checked. */
static void canary_rc(void)
{
	uint8_t *src = (uint8_t *)(uintptr_t)reg[R_P].start + 3 * PAGE - 100;
	uint8_t *dst = (uint8_t *)(uintptr_t)reg[R_P].start + 40 * PAGE - 77;
	struct ibv_wc wc;

	cls.canaries++;
	lock_all();
	odp_fill(src, 333, 0xca1a, 0);
	memset(dst, 0, 333);
	if (odp_post_rdma(rc.a, IBV_WR_RDMA_WRITE, src, 333, mrs[M_PIN].mr->lkey, (uintptr_t)dst,
			  mrs[M_PIN].mr->rkey, 0xca1a) ||
	    wait_wc(rc.cq_a, &wc) || wc.status != IBV_WC_SUCCESS ||
	    odp_check(dst, 333, 0xca1a, 0, "canary") >= 0)
		violation("a fresh RC pair does not work");
	unlock_all();
}

static void canary_ud(void)
{
	uint8_t *src = (uint8_t *)(uintptr_t)reg[R_P].start + 5 * PAGE - 10;
	uint8_t *dst = (uint8_t *)(uintptr_t)reg[R_P].start + 50 * PAGE - 500;
	struct ibv_wc wc;
	bool ok;

	cls.canaries++;
	lock_all();
	odp_fill(src, 100, 0xca1b, 0);
	memset(dst, 0, GRH + 100);
	ok = !odp_post_recv(ud.b, dst, GRH + 100, mrs[M_PIN].mr->lkey, 7) &&
	     !odp_post_ud_send(ud.a, ud.ah, ud.b->qp_num, src, 100, mrs[M_PIN].mr->lkey, 8) &&
	     !wait_wc(ud.cq_a, &wc) && wc.status == IBV_WC_SUCCESS && !wait_wc(ud.cq_b, &wc) &&
	     wc.status == IBV_WC_SUCCESS && odp_check(dst + GRH, 100, 0xca1b, 0, "canary") < 0;
	if (!ok)
		violation("a fresh UD pair does not work");
	unlock_all();
}

static int rc_recreate(bool canary)
{
	odp_rc_pair_destroy(&rc);
	if (odp_rc_pair_create(&dev, &rc, &rc_opts))
		return -1;
	cls.rc_recreated++;
	if (canary)
		canary_rc();
	return 0;
}

static int ud_recreate(bool canary)
{
	odp_ud_pair_destroy(&ud);
	if (odp_ud_pair_create(&dev, &ud, NULL))
		return -1;
	cls.ud_recreated++;
	if (canary)
		canary_ud();
	return 0;
}

/* ---- drawing operations ---- */
static const uint64_t absurd_addrs[] = { 0,
					 8,
					 PAGE,
					 0x7ffffffff000ull,
					 0x800000000000ull,
					 0xffff888000000000ull,
					 0xffffffffff600000ull,
					 0x8000000000000000ull };

static uint32_t draw_len(struct rng *g, uint32_t max)
{
	static const unsigned int w[] = { 4, 10, 20, 10, 10, 30, 8 };
	uint32_t l = 0;

	switch (pick(g, w, 7)) {
	case 0:
		l = 0;
		break;
	case 1:
		l = 1 + (uint32_t)below(g, 8);
		break;
	case 2:
		l = 9 + (uint32_t)below(g, 200);
		break;
	case 3:
		l = (uint32_t)(PAGE - 2 + below(g, 5));
		break;
	case 4:
		l = (uint32_t)mtu * (1 + (uint32_t)below(g, 4)) - 1 + (uint32_t)below(g, 3);
		break;
	case 5:
		l = 200 + (uint32_t)below(g, 3 * PAGE + 123);
		break;
	default:
		l = (uint32_t)below(g, MAX_LEN + 1);
		break;
	}
	return l > max ? max : l;
}

/* An address for len bytes near one of the region's points. */
static uint64_t draw_addr_in(struct rng *g, const struct region *r, uint32_t len, uint64_t align)
{
	uint64_t p = r->pts[below(g, (uint64_t)r->npts)], a;
	static const int64_t near[] = { 0, -1, 1, -8, 8, -64 };
	static const unsigned int w[] = { 30, 30, 40 };

	switch (pick(g, w, 3)) {
	case 0: /* at the point: starting, ending, straddling it */
		switch (below(g, 3)) {
		case 0:
			a = p + (uint64_t)near[below(g, 6)];
			break;
		case 1:
			a = p - len + (uint64_t)near[below(g, 6)];
			break;
		default:
			a = p - len / 2;
			break;
		}
		break;
	case 1: /* at a page edge near it */
		a = (p & ~(PAGE - 1)) + (below(g, 9) - 4) * PAGE;
		if (chance(g, 50))
			a -= len;
		a += (uint64_t)near[below(g, 6)];
		break;
	default:
		a = p - WIN + below(g, 2 * WIN - len);
		break;
	}
	if (align > 1 && !chance(g, 5))
		a &= ~(align - 1);
	return a;
}

static void key_for(struct rng *g, struct sge_d *s, int region, bool remote)
{
	static const unsigned int w[] = { 880, 50, 20, 20, 15, 15 };
	static const int own[NREG] = { M_E, M_IMP, M_PIN, M_GHOST };
	struct fmr *m = NULL;
	const char *c = "";
	int which;

	which = region < 0 ? 5 : pick(g, w, 6);
	switch (which) {
	case 0:
		m = &mrs[own[region]];
		if (region == R_E && chance(g, 8))
			m = &mrs[M_ERO];
		c = m->name;
		break;
	case 1:
		m = &mrs[M_IMP];
		c = "imp";
		cls.implicit_key++;
		break;
	case 2:
		if (nstale) {
			s->key = stale[below(g, (uint64_t)nstale)];
			c = "stale";
			cls.stale++;
		} else {
			s->key = (uint32_t)rnd(g);
			c = "random";
			cls.random_key++;
		}
		break;
	case 3:
		m = &mrs[M_FOREIGN];
		c = "foreign";
		cls.foreign++;
		break;
	case 4:
		s->key = (uint32_t)rnd(g);
		c = "random";
		cls.random_key++;
		break;
	default: /* another region's key, or any key for an absurd address */
		m = &mrs[below(g, NMR)];
		c = m->name;
		cls.other_key++;
		break;
	}
	if (m)
		s->key = remote ? m->mr->rkey : m->mr->lkey;
	snprintf(s->what + strlen(s->what), sizeof(s->what) - strlen(s->what), "/%s", c);
}

/*
 * One side of an operation: len bytes (changed by the wrap class) at an
 * address and key drawn as the file's top comment says.
 */
static void draw_side(struct rng *g, struct sge_d *s, uint32_t len, bool remote, uint64_t align)
{
	static const unsigned int rw[] = { 40, 30, 27, 3 };
	static const unsigned int cw[] = { 970, 15, 15 };
	int c = pick(g, cw, 3), region = -1;

	memset(s, 0, sizeof(*s));
	s->len = len;
	if (c == 2 && !opt.wrap)
		c = 0;
	if (c == 0) {
		region = pick(g, rw, NREG);
		s->addr = draw_addr_in(g, &reg[region], len, align);
		snprintf(s->what, sizeof(s->what), "%s", reg[region].name);
		key_for(g, s, region, remote);
	} else if (c == 1) {
		s->addr = absurd_addrs[below(g, sizeof(absurd_addrs) / sizeof(absurd_addrs[0]))];
		if (chance(g, 20))
			s->addr = rnd(g) & ~(align - 1);
		snprintf(s->what, sizeof(s->what), "absurd");
		key_for(g, s, -1, remote);
		cls.absurd++;
	} else {
		/* wrap: iova + length passes 2^64, with a key that has served accesses */
		static const uint64_t x[] = { 1, 8, 100, PAGE - 1, PAGE, 3000 };
		uint64_t d = chance(g, 20) ? 1 + below(g, 8192) : x[below(g, 6)];
		static const int keys[] = { M_E, M_E, M_E, M_IMP, M_PIN, M_ERO };
		struct fmr *m = &mrs[keys[below(g, 6)]];

		if (align > 1)
			d = 8;
		s->addr = 0 - d;
		if (s->len <= d && align <= 1)
			s->len = (uint32_t)(d + 1 + below(g, 4096));
		if (s->len > MAX_LEN)
			s->len = MAX_LEN;
		s->key = remote ? m->mr->rkey : m->mr->lkey;
		snprintf(s->what, sizeof(s->what), "wrap/%s", m->name);
		cls.wrap++;
	}
}

/* Splits len over 1 or 2 local SGEs drawn independently. */
static int draw_sges(struct rng *g, struct sge_d *s, uint32_t len, int max)
{
	int n = max > 1 && chance(g, 30) ? 2 : 1, i;
	uint32_t first = n == 2 ? (uint32_t)below(g, len + 1) : len;

	for (i = 0; i < n; i++)
		draw_side(g, &s[i], i ? len - first : first, false, 1);
	if (n > 1)
		cls.multi_sge++;
	return n;
}

static void draw_op(struct rng *g, struct op *o, enum kind k)
{
	uint32_t len;
	int i;

	memset(o, 0, sizeof(*o));
	o->kind = k;
	switch (k) {
	case K_WRITE:
	case K_READ:
		len = draw_len(g, MAX_LEN);
		o->nl = draw_sges(g, o->l, len, 2);
		draw_side(g, &o->r, sges_total(o->l, o->nl), true, 1);
		/* the wrap class may have lengthened one side: keep both equal */
		len = o->r.len;
		if (sges_total(o->l, o->nl) != len) {
			o->nl = 1;
			o->l[0].len = len;
			if (o->l[0].addr + len < o->l[0].addr)
				snprintf(o->l[0].what, sizeof(o->l[0].what), "wrap");
		}
		break;
	case K_SEND:
		len = draw_len(g, MAX_LEN);
		o->nl = draw_sges(g, o->l, len, 2);
		len = sges_total(o->l, o->nl);
		{
			uint32_t rl = chance(g, 8) && len ? len - 1 - (uint32_t)below(g, len)
							  : len + (uint32_t)below(g, 300);

			if (rl > MAX_LEN)
				rl = MAX_LEN;
			o->nrcv = draw_sges(g, o->rcv, rl, 2);
		}
		break;
	case K_UD:
		len = chance(g, 80) ? (uint32_t)below(g, (uint64_t)mtu + 1)
				    : (uint32_t)mtu + 1 + (uint32_t)below(g, 300);
		o->nl = draw_sges(g, o->l, len, 2);
		len = sges_total(o->l, o->nl);
		o->nrcv = 1;
		draw_side(g, &o->rcv[0],
			  chance(g, 8) ? GRH + len - 1 : GRH + len + (uint32_t)below(g, 200), false,
			  1);
		if (o->rcv[0].len > MAX_LEN)
			o->rcv[0].len = MAX_LEN;
		break;
	case K_CAS:
	case K_FADD:
		draw_side(g, &o->r, 8, true, 8);
		o->r.len = 8;
		if (chance(g, 15)) {
			uint32_t a = 1 + (uint32_t)below(g, 7);

			draw_side(g, &o->l[0], a, false, 1);
			draw_side(g, &o->l[1], 8 - a, false, 1);
			o->nl = 2;
			cls.multi_sge++;
		} else {
			draw_side(g, &o->l[0], 8, false, 8);
			o->nl = 1;
		}
		for (i = 0; i < o->nl; i++)
			if (o->l[i].addr + o->l[i].len < o->l[i].addr || o->l[i].len > 8)
				o->l[i].len = 8 / (uint32_t)o->nl; /* wrap drew longer */
		if (sges_total(o->l, o->nl) != 8) {
			o->nl = 1;
			o->l[0].len = 8;
		}
		o->cmp_match = chance(g, 50);
		o->cmp = rnd(g);
		o->swap = rnd(g);
		break;
	case K_AWRITE:
		draw_side(g, &o->r, 8, true, 8);
		o->r.len = 8;
		o->swap = rnd(g);
		break;
	case K_FLUSH:
		draw_side(g, &o->r, draw_len(g, MAX_LEN), true, 1);
		o->flush_level = chance(g, 80) ? IBV_FLUSH_RANGE : IBV_FLUSH_MR;
		break;
	case K_PREFETCH: {
		static const int adv[] = { IBV_ADVISE_MR_ADVICE_PREFETCH,
					   IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					   IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT };

		o->nl = 1 + (int)below(g, 4);
		if (o->nl > 1)
			cls.multi_sge++;
		for (i = 0; i < o->nl; i++)
			draw_side(g, &o->l[i], draw_len(g, MAX_LEN), false, 1);
		o->advice = adv[below(g, 3)];
		o->pflags = chance(g, 50) ? IBV_ADVISE_MR_FLAG_FLUSH : 0;
		break;
	}
	default:
		break;
	}
	if ((o->nl && !sges_total(o->l, o->nl)) || ((k == K_WRITE || k == K_READ) && !o->r.len))
		cls.zero_len++;
}

static void op_line(const struct op *o, const struct expect *e, char *buf, size_t n)
{
	size_t at = 0;
	int i;

	at += (size_t)snprintf(buf + at, n - at, "op %ld %s", o->n, kind_name[o->kind]);
	for (i = 0; i < o->nl && at < n; i++)
		at += (size_t)snprintf(buf + at, n - at, " l%d=%#" PRIx64 "+%u:%#x(%s)", i,
				       o->l[i].addr, o->l[i].len, o->l[i].key, o->l[i].what);
	if (o->r.what[0] && at < n)
		at += (size_t)snprintf(buf + at, n - at, " r=%#" PRIx64 "+%u:%#x(%s)", o->r.addr,
				       o->r.len, o->r.key, o->r.what);
	for (i = 0; i < o->nrcv && at < n; i++)
		at += (size_t)snprintf(buf + at, n - at, " rcv%d=%#" PRIx64 "+%u:%#x(%s)", i,
				       o->rcv[i].addr, o->rcv[i].len, o->rcv[i].key,
				       o->rcv[i].what);
	if (at < n)
		snprintf(buf + at, n - at, " expect req=%#x rcv=%#x perr=%#x", e->req, e->rcv,
			 e->perr);
}

/* ---- running one operation ---- */
static int post_wr(const struct op *o, struct ibv_qp *qp, enum ibv_wr_opcode opc)
{
	struct ibv_sge sg[4];
	struct ibv_send_wr wr = { 0 }, *bad = NULL;
	int i;

	for (i = 0; i < o->nl; i++) {
		sg[i].addr = o->l[i].addr;
		sg[i].length = o->l[i].len;
		sg[i].lkey = o->l[i].key;
	}
	wr.wr_id = (uint64_t)o->n;
	wr.sg_list = sg;
	wr.num_sge = o->nl;
	wr.opcode = opc;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (opc == IBV_WR_ATOMIC_CMP_AND_SWP || opc == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = o->r.addr;
		wr.wr.atomic.rkey = o->r.key;
		wr.wr.atomic.compare_add = opc == IBV_WR_ATOMIC_CMP_AND_SWP ? o->cmp : o->swap;
		wr.wr.atomic.swap = o->swap;
	} else if (qp == ud.a) {
		wr.wr.ud.ah = ud.ah;
		wr.wr.ud.remote_qpn = ud.b->qp_num;
		wr.wr.ud.remote_qkey = ODP_QKEY;
	} else {
		wr.wr.rdma.remote_addr = o->r.addr;
		wr.wr.rdma.rkey = o->r.key;
	}
	return ibv_post_send(qp, &wr, &bad);
}

static int post_recv_sges(struct ibv_qp *qp, const struct sge_d *s, int n, uint64_t id)
{
	struct ibv_sge sg[2];
	struct ibv_recv_wr wr = { 0 }, *bad = NULL;
	int i;

	for (i = 0; i < n; i++) {
		sg[i].addr = s[i].addr;
		sg[i].length = s[i].len;
		sg[i].lkey = s[i].key;
	}
	wr.wr_id = id;
	wr.sg_list = sg;
	wr.num_sge = n;
	return ibv_post_recv(qp, &wr, &bad);
}

static int post_ext(const struct op *o)
{
#if defined(ODP_HAVE_WR_ATOMIC_WRITE) || defined(ODP_HAVE_WR_FLUSH)
	ibv_wr_start(rc.ax);
	rc.ax->wr_id = (uint64_t)o->n;
	rc.ax->wr_flags = IBV_SEND_SIGNALED;
#ifdef ODP_HAVE_WR_ATOMIC_WRITE
	if (o->kind == K_AWRITE) {
		uint8_t v[8];

		memcpy(v, &o->swap, 8);
		ibv_wr_atomic_write(rc.ax, o->r.key, o->r.addr, v);
	}
#endif
#ifdef ODP_HAVE_WR_FLUSH
	if (o->kind == K_FLUSH)
		ibv_wr_flush(rc.ax, o->r.key, o->r.addr, o->r.len, IBV_FLUSH_GLOBAL,
			     (uint8_t)o->flush_level);
#endif
	return ibv_wr_complete(rc.ax);
#else
	(void)o;
	return EOPNOTSUPP;
#endif
}

static int errno_bit(int e)
{
	return e >= 0 && e < 30 ? e : 29;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* A destination span gets stream bytes soff.. of the n the operation moves. */
static void want_stream(struct span *s, uint32_t soff, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < s->len && soff + i < n; i++) {
		s->want[i] = stream[soff + i];
		s->mode[i] = W_DATA;
	}
}

static const char *st_name(uint32_t st)
{
	if (st == ST_NOT_POSTED)
		return "post refused";
	if (st == ST_NO_COMPLETION)
		return "no completion";
	return ibv_wc_status_str((enum ibv_wc_status)st);
}

/* Runs and judges one operation; false if its spans clash (not run). */
static bool run_op(struct rng *g, struct op *o)
{
	static char line[1024];
	struct expect e0, e, e1;
	uint64_t gen[NREG], seed = rnd(g);
	unsigned int involved = 0, raced = 0, zapped = 0;
	uint32_t tot = sges_total(o->l, o->nl), req_st = 0, rcv_st = RCV_NONE;
	struct span *main_dst[2] = { NULL, NULL };
	int nmain = 0, i, out, perr = 0;
	struct span *rs = NULL;
	struct ibv_wc wc;
	bool recreate_rc = false, recreate_ud = false, ok;
	uint32_t rcv_len = 0;

	/* the spans, which the draw must have kept apart */
	nspans = 0;
	switch (o->kind) {
	case K_WRITE:
		for (i = 0; i < o->nl; i++)
			span_add(o->l[i].addr, o->l[i].len, false);
		main_dst[nmain++] = span_add(o->r.addr, o->r.len, true);
		break;
	case K_READ:
		span_add(o->r.addr, o->r.len, false);
		for (i = 0; i < o->nl; i++)
			main_dst[nmain++] = span_add(o->l[i].addr, o->l[i].len, true);
		break;
	case K_SEND:
	case K_UD:
		for (i = 0; i < o->nl; i++)
			span_add(o->l[i].addr, o->l[i].len, false);
		for (i = 0; i < o->nrcv; i++)
			main_dst[nmain++] = span_add(o->rcv[i].addr, o->rcv[i].len, true);
		break;
	case K_CAS:
	case K_FADD:
		rs = span_add(o->r.addr, 8, true);
		for (i = 0; i < o->nl; i++)
			main_dst[nmain++] = span_add(o->l[i].addr, o->l[i].len, true);
		break;
	case K_AWRITE:
	case K_FLUSH:
		rs = span_add(o->r.addr, o->r.len, true);
		break;
	case K_PREFETCH:
		for (i = 0; i < o->nl; i++)
			span_add(o->l[i].addr, o->l[i].len, true);
		break;
	default:
		break;
	}
	if (!spans_disjoint())
		return false;
	for (i = 0; i < nspans; i++)
		if (spans[i].r)
			involved |= 1u << (spans[i].r - reg);

	lock_all();
	e0 = expect_of(o, 0);
	/* fill: sources carry the stream, destinations their "before" */
	{
		uint32_t soff = 0;

		for (i = 0; i < nspans; i++) {
			struct span *s = &spans[i];

			span_fill(s, s->dst ? seed ^ 0xbef04eull : seed, soff);
			if (!s->dst) {
				uint32_t j;

				for (j = 0; j < s->len && soff + j < SPAN_MAX; j++)
					stream[soff + j] = s->before[j];
				soff += s->len;
			}
		}
	}
	/* what success puts where */
	switch (o->kind) {
	case K_WRITE:
	case K_READ:
	case K_SEND: {
		uint32_t at = 0;

		for (i = 0; i < nmain; i++) {
			want_stream(main_dst[i], at, tot);
			at += main_dst[i]->len;
		}
		break;
	}
	case K_UD: {
		struct span *s = main_dst[0];
		uint32_t j;

		for (j = 0; j < s->len && j < GRH + tot; j++) {
			s->mode[j] = j < GRH ? W_ANY : W_DATA;
			s->want[j] = j < GRH ? 0 : stream[j - GRH];
		}
		break;
	}
	case K_CAS:
	case K_FADD: {
		uint64_t old = le64(rs->before + GB), nv;
		uint8_t ob[8], nb[8];
		uint32_t at = 0, j;

		if (o->cmp_match)
			o->cmp = old;
		nv = o->kind == K_CAS ? (old == o->cmp ? o->swap : old) : old + o->swap;
		memcpy(ob, &old, 8);
		memcpy(nb, &nv, 8);
		/* if a change dropped the target's page, the atomic found 0 */
		nv = o->kind == K_CAS ? (o->cmp == 0 ? o->swap : 0) : o->swap;
		memcpy(rs->alt, &nv, 8);
		rs->has_alt = true;
		for (j = 0; j < 8; j++) {
			rs->want[j] = nb[j];
			rs->mode[j] = W_DATA;
		}
		for (i = 0; i < nmain; i++) {
			for (j = 0; j < main_dst[i]->len && at + j < 8; j++) {
				main_dst[i]->want[j] = ob[at + j];
				main_dst[i]->mode[j] = W_DATA;
			}
			at += main_dst[i]->len;
		}
		break;
	}
	case K_AWRITE: {
		uint8_t vb[8];
		uint32_t j;

		memcpy(vb, &o->swap, 8);
		for (j = 0; j < 8; j++) {
			rs->want[j] = vb[j];
			rs->mode[j] = W_DATA;
		}
		break;
	}
	default:
		break;
	}
	for (i = 0; i < NREG; i++)
		gen[i] = reg[i].gen;
	op_line(o, &e0, line, sizeof(line));
	if (trace_f) {
		fprintf(trace_f, "%s\n", line);
		fflush(trace_f);
	}
	if (opt.verbose)
		printf("%s\n", line);
	unlock_all();

	/* post and wait */
	switch (o->kind) {
	case K_WRITE:
	case K_READ:
	case K_CAS:
	case K_FADD: {
		static const enum ibv_wr_opcode opc[] = {
			IBV_WR_RDMA_WRITE,	   IBV_WR_RDMA_READ,	       0, 0,
			IBV_WR_ATOMIC_CMP_AND_SWP, IBV_WR_ATOMIC_FETCH_AND_ADD
		};

		req_st = req_status(post_wr(o, rc.a, opc[o->kind]), rc.cq_a, &wc);
		break;
	}
	case K_AWRITE:
	case K_FLUSH:
		req_st = req_status(post_ext(o), rc.cq_a, &wc);
		break;
	case K_SEND:
		req_st = req_status(post_recv_sges(rc.b, o->rcv, o->nrcv, (uint64_t)o->n) ||
					    post_wr(o, rc.a, IBV_WR_SEND),
				    rc.cq_a, &wc);
		if (req_st != ST_NOT_POSTED && req_st != ST_NO_COMPLETION) {
			if (req_st == IBV_WC_SUCCESS) {
				if (!wait_wc(rc.cq_b, &wc)) {
					rcv_st = wc.status;
					rcv_len = wc.byte_len;
				}
			} else {
				usleep(2000);
				if (ibv_poll_cq(rc.cq_b, 1, &wc) == 1) {
					rcv_st = wc.status;
					rcv_len = wc.byte_len;
				}
			}
		}
		recreate_rc = req_st != IBV_WC_SUCCESS || rcv_st != IBV_WC_SUCCESS;
		break;
	case K_UD:
		req_st = req_status(post_recv_sges(ud.b, o->rcv, 1, (uint64_t)o->n) ||
					    post_wr(o, ud.a, IBV_WR_SEND),
				    ud.cq_a, &wc);
		if (req_st != ST_NOT_POSTED && req_st != ST_NO_COMPLETION) {
			/* a datagram that arrives does so at once; wait longer when one must */
			if (!quiet_poll(ud.cq_b, &wc,
					(e0.rcv & RCV_NONE) ? 30 : odp_timeout_ms())) {
				rcv_st = wc.status;
				rcv_len = wc.byte_len;
			}
		}
		recreate_ud = req_st != IBV_WC_SUCCESS || rcv_st != IBV_WC_SUCCESS;
		break;
	case K_PREFETCH: {
		struct ibv_sge sg[4];

		for (i = 0; i < o->nl; i++) {
			sg[i].addr = o->l[i].addr;
			sg[i].length = o->l[i].len;
			sg[i].lkey = o->l[i].key;
		}
		perr = ibv_advise_mr(dev.pd, o->advice, o->pflags, sg, (uint32_t)o->nl);
		if (perr == -1)
			perr = errno;
		if (perr < 0)
			perr = -perr;
		break;
	}
	default:
		break;
	}

	/* judge */
	lock_all();
	for (i = 0; i < nspans; i++)
		span_raced(&spans[i], gen, &raced, &zapped);
	(void)involved;
	e = e0;
	if (raced) {
		e1 = expect_of(o, raced);
		e.req |= e1.req;
		e.rcv |= e1.rcv;
		e.perr |= e1.perr;
		/*
		 * The change may have hit the receive buffer's pages and not
		 * the source's, even in one region: a UD source read in full
		 * then meets a receive buffer without its pages.
		 */
		if (o->kind == K_UD && sges_total(o->l, o->nl) <= (uint32_t)mtu)
			e.rcv |= ud_rcv_expect(o, sges_total(o->l, o->nl), raced);
	}
	ok = true;
	if (o->kind == K_PREFETCH) {
		out = perr ? OUT_FAIL : OUT_OK;
		if (!(e.perr & (1u << errno_bit(perr)))) {
			violation("op %ld prefetch: returned %d (%s), want mask %#x", o->n, perr,
				  strerror(perr), e.perr);
			ok = false;
		}
	} else {
		out = req_st == IBV_WC_SUCCESS ? OUT_OK : OUT_FAIL;
		if (!(e.req & (1u << req_st))) {
			violation("op %ld %s: requester %s, want %s (mask %#x)", o->n,
				  kind_name[o->kind], st_name(req_st),
				  st_name((uint32_t)__builtin_ctz(e0.req)), e.req);
			ok = false;
		}
		if ((o->kind == K_SEND || o->kind == K_UD) && req_st != ST_NOT_POSTED &&
		    req_st != ST_NO_COMPLETION) {
			uint32_t want_len = tot + (o->kind == K_UD ? GRH : 0);

			if (!(e.rcv & (rcv_st == RCV_NONE ? RCV_NONE : 1u << rcv_st))) {
				violation("op %ld %s: receiver %s, want mask %#x", o->n,
					  kind_name[o->kind],
					  rcv_st == RCV_NONE ? "no completion" : st_name(rcv_st),
					  e.rcv);
				ok = false;
			} else if (rcv_st == IBV_WC_SUCCESS && rcv_len != want_len) {
				violation("op %ld %s: received %u bytes, sent %u", o->n,
					  kind_name[o->kind], rcv_len, want_len);
				ok = false;
			}
			/* for the data, the receiver's view decides */
			if (rcv_st != IBV_WC_SUCCESS)
				out = OUT_FAIL;
			if (o->kind == K_UD && rcv_st == RCV_NONE)
				for (i = 0; i < nmain; i++)
					memset(main_dst[i]->mode, W_KEEP, main_dst[i]->len);
		}
	}
	if (req_st == ST_NO_COMPLETION && o->kind != K_PREFETCH) {
		recreate_rc |= o->kind != K_UD;
		recreate_ud |= o->kind == K_UD;
	}
	if (o->kind != K_PREFETCH && o->kind != K_UD && req_st != IBV_WC_SUCCESS)
		recreate_rc = true;
	/* the data: destinations as the outcome says, sources unchanged */
	for (i = 0; i < nspans; i++) {
		struct span *s = &spans[i];
		bool z = s->r && (zapped & (1u << (s->r - reg)));

		if (span_check(s, out, e.untouched, z, zapped != 0,
			       s->dst ? "destination" : "source", o))
			ok = false;
	}
	unlock_all();
	if (!ok && violations <= MAX_VIOL_LOG) {
		printf("  %s (raced %#x zapped %#x)\n", line, raced, zapped);
		fflush(stdout);
	}

	cnt[o->kind].ran++;
	if (!ok)
		cnt[o->kind].viol++;
	else if (raced)
		*(out == OUT_OK ? &cnt[o->kind].raced_ok : &cnt[o->kind].raced_failed) += 1;
	else
		*(out == OUT_OK ? &cnt[o->kind].ok : &cnt[o->kind].failed) += 1;

	if (recreate_rc && rc_recreate(true))
		violation("cannot create a fresh RC pair");
	if (recreate_ud && ud_recreate(true))
		violation("cannot create a fresh UD pair");
	return true;
}

/* ---- page states the model knows: set by the main thread ---- */
static uint64_t damaged[64];
static int ndamaged;

/* Puts the page at va into state st (region lock held); 0 or -errno. */
static int set_page(struct region *r, uint64_t va, int st)
{
	void *p = (void *)(uintptr_t)va;
	int *cur = NULL, ret = 0;
	uint8_t *s = &r->pg[(va - r->start) / PAGE];

	(void)cur;
	if (*s == PG_HOLE && st != PG_HOLE) {
		if (mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == MAP_FAILED)
			return -errno;
	}
	switch (st) {
	case PG_RW:
		ret = mprotect(p, PAGE, PROT_READ | PROT_WRITE);
		break;
	case PG_RO:
		ret = mprotect(p, PAGE, PROT_READ);
		break;
	case PG_NONE:
		ret = mprotect(p, PAGE, PROT_NONE);
		break;
	default:
		ret = munmap(p, PAGE);
		break;
	}
	if (ret)
		return -errno;
	*s = (uint8_t)st;
	return 0;
}

/* Damages a page of E or I (read-only, PROT_NONE, hole) or restores one. */
static void model_page_change(struct rng *g)
{
	static const unsigned int w[] = { 40, 30, 30 };
	struct region *r;
	uint64_t va;
	int i, st, ret;

	cls.page_changes++;
	lock_all();
	if (ndamaged && (ndamaged == 64 || chance(g, 45))) {
		i = (int)below(g, (uint64_t)ndamaged);
		va = damaged[i];
		r = reg_of(va);
		ret = set_page(r, va, PG_RW);
		damaged[i] = damaged[--ndamaged];
	} else {
		r = &reg[chance(g, 60) ? R_E : R_I];
		va = draw_addr_in(g, r, 0, PAGE) & ~(PAGE - 1);
		st = 1 + pick(g, w, 3);
		if (va < r->start || va >= r->start + r->len ||
		    r->pg[(va - r->start) / PAGE] != PG_RW) {
			unlock_all();
			return;
		}
		ret = set_page(r, va, st);
		if (!ret)
			damaged[ndamaged++] = va;
	}
	unlock_all();
	if (ret)
		violation("page change at %#" PRIx64 ": %s", va, strerror(-ret));
}

/* Deregisters an MR (its keys become stale) and registers it again. */
static void rereg(struct rng *g)
{
	static const int which[] = { M_E, M_ERO, M_IMP, M_PIN, M_FOREIGN };
	struct fmr *m = &mrs[which[below(g, 5)]];

	cls.reregs++;
	lock_all();
	stale[nstale < 32 ? nstale++ : (int)below(g, 32)] = m->mr->lkey;
	if (m->mr->rkey && m->mr->rkey != m->mr->lkey)
		stale[nstale < 32 ? nstale++ : (int)below(g, 32)] = m->mr->rkey;
	if (ibv_dereg_mr(m->mr))
		violation("ibv_dereg_mr %s: %s", m->name, strerror(errno));
	m->mr = NULL;
	if (!reg_one(m))
		violation("cannot register %s again", m->name);
	unlock_all();
}

/*
 * Wrap class, registration: an ODP MR over 64 KiB of E whose iova range
 * passes 2^64 (ibv_reg_mr_iova).  The device must refuse it with EINVAL,
 * or make it work over its whole range: then a write at its first iova
 * (below 2^64) and one at iova 0 (past it) land at the right addresses.
 */
static void reg_iova_wrap(struct rng *g)
{
	uint64_t d = PAGE * (1 + below(g, 15)) + 8 * below(g, 512), va, iova = 0 - d;
	uint8_t *src = (uint8_t *)(uintptr_t)reg[R_P].start + 7 * PAGE + 3;
	struct ibv_mr *mr;
	int i, st;

	cls.iova_wrap_regs++;
	lock_all();
	va = draw_addr_in(g, &reg[R_E], 64 * KIB, PAGE);
	if (va < reg[R_E].start || va + 64 * KIB > reg[R_E].start + reg[R_E].len ||
	    !mem_ok(va, 64 * KIB, true, 0))
		va = reg[R_E].start + 9 * PAGE;
	if (!mem_ok(va, 64 * KIB, true, 0)) {
		unlock_all();
		return;
	}
	mr = ibv_reg_mr_iova(dev.pd, (void *)(uintptr_t)va, 64 * KIB, iova,
			     ODP_ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	if (trace_f) {
		fprintf(trace_f, "reg_mr_iova va %#" PRIx64 " len 64K iova %#" PRIx64 ": %s\n", va,
			iova, mr ? "accepted" : strerror(errno));
		fflush(trace_f);
	}
	if (!mr) {
		if (errno != EINVAL)
			violation("ibv_reg_mr_iova with iova %#" PRIx64
				  " + 64 KiB: %s, want EINVAL",
				  iova, strerror(errno));
		unlock_all();
		return;
	}
	/* accepted: both sides of 2^64 must work */
	for (i = 0; i < 2; i++) {
		uint64_t at = i ? 0 : iova, off = i ? d : 0;
		uint8_t *dst = (uint8_t *)(uintptr_t)(va + off);

		odp_fill(src, 100, 0x10 + (uint64_t)i, 0);
		memset(dst, 0, 100);
		st = odp_rdma_sync(&rc, IBV_WR_RDMA_WRITE, src, 100, mrs[M_PIN].mr->lkey, at,
				   mr->rkey);
		if (st != IBV_WC_SUCCESS ||
		    odp_check(dst, 100, 0x10 + (uint64_t)i, 0, "iova") >= 0) {
			violation("an MR with iova %#" PRIx64
				  " + 64 KiB was accepted, but a write at "
				  "iova %#" PRIx64 " does not land at its address (status %d)",
				  iova, at, st);
			if (st != IBV_WC_SUCCESS) {
				unlock_all();
				rc_recreate(false);
				lock_all();
			}
		}
	}
	ibv_dereg_mr(mr);
	unlock_all();
}

/* ---- the mm thread: transient changes, undone at once ---- */
static volatile bool stop_mm;

/* Re-applies the model's state to the pages of [va, va+len) after a change. */
static void reapply(struct region *r, uint64_t va, uint64_t len)
{
	uint64_t p;

	for (p = va; p < va + len; p += PAGE) {
		int st = r->pg[(p - r->start) / PAGE];

		if (st == PG_RO)
			mprotect((void *)(uintptr_t)p, PAGE, PROT_READ);
		else if (st == PG_NONE)
			mprotect((void *)(uintptr_t)p, PAGE, PROT_NONE);
		else if (st == PG_HOLE)
			munmap((void *)(uintptr_t)p, PAGE);
	}
}

static bool all_rw(const struct region *r, uint64_t va, uint64_t len)
{
	uint64_t p;

	for (p = va; p < va + len; p += PAGE)
		if (r->pg[(p - r->start) / PAGE] != PG_RW)
			return false;
	return true;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int mm_change(struct rng *g, struct region *r, int act, uint64_t va, uint64_t len)
{
	void *p = (void *)(uintptr_t)va;
	void *t = (void *)(uintptr_t)tmp_area;
	int ret = 0;

	switch (act) {
	case MM_UNMAP_MAP:
		ret = munmap(p, len);
		sleep_us((long)below(g, 300));
		/* map it back */
		__attribute__((fallthrough));
	case MM_MAP_OVER:
		if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == MAP_FAILED)
			ret = -1;
		reapply(r, va, len);
		break;
	case MM_PROT_NONE:
	case MM_PROT_RO:
		mprotect(p, len, act == MM_PROT_NONE ? PROT_NONE : PROT_READ);
		sleep_us((long)below(g, 300));
		ret = mprotect(p, len, PROT_READ | PROT_WRITE);
		reapply(r, va, len);
		break;
	case MM_DONTNEED:
		madvise(p, len, MADV_DONTNEED); /* ENOMEM over holes: the rest is done */
		break;
	case MM_MREMAP:
		if (mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, t) == MAP_FAILED) {
			ret = -1;
			break;
		}
		sleep_us((long)below(g, 300));
		if (mremap(t, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, p) == MAP_FAILED)
			ret = -1;
		/* keep the reservation where the pages went */
		mmap(t, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
		     0);
		break;
	default:
		break;
	}
	return ret;
}

static void *mm_thread(void *arg)
{
	static const unsigned int w[NMM] = { 15, 15, 15, 10, 20, 15, 10 };
	struct rng g = { .s = opt.seed ^ 0x6d6d7468726561ull };
	int i;

	(void)arg;
	while (!stop_mm) {
		int act = pick(&g, w, NMM);
		struct region *r;
		uint64_t va, len, n;

		sleep_us((long)below(&g, 2 * (uint64_t)opt.mm_us + 1));
		if (act == MM_FORK) {
			pid_t pid;

			lock_all();
			for (i = 0; i < NREG; i++) {
				struct region *f = &reg[i];

				f->log[f->gen % LOG_LEN].va = 0;
				f->log[f->gen % LOG_LEN].len = UINT64_MAX;
				f->log[f->gen % LOG_LEN].zap = false;
				f->gen++;
			}
			pid = fork();
			if (pid == 0)
				_exit(0);
			unlock_all();
			if (pid < 0)
				mm_err[act]++;
			else
				waitpid(pid, NULL, 0);
			mm_cnt[act]++;
			continue;
		}
		/* E, I or P; P only what leaves a pinned MR's pages in place */
		r = &reg[pick(&g, (const unsigned int[]){ 45, 35, 20 }, 3)];
		if (r->pinned && act != MM_PROT_NONE && act != MM_PROT_RO && act != MM_MREMAP)
			act = MM_MREMAP;
		n = 1 + below(&g, 16);
		va = draw_addr_in(&g, r, (uint32_t)(n * PAGE), PAGE) & ~(PAGE - 1);
		len = n * PAGE;
		if (va < r->start)
			va = r->start;
		if (va + len > r->start + r->len)
			va = r->start + r->len - len;
		pthread_mutex_lock(&r->lock);
		if (act == MM_MREMAP && !all_rw(r, va, len))
			act = r->pinned ? MM_PROT_RO : MM_DONTNEED;
		r->log[r->gen % LOG_LEN].va = va;
		r->log[r->gen % LOG_LEN].len = len;
		r->log[r->gen % LOG_LEN].zap =
			act == MM_UNMAP_MAP || act == MM_MAP_OVER || act == MM_DONTNEED;
		r->gen++;
		if (mm_change(&g, r, act, va, len))
			mm_err[act]++;
		mm_cnt[act]++;
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

/* ---- setup ---- */
static int map_region(struct region *r, const char *name, uint64_t start, uint64_t len)
{
	void *res, *m;

	r->name = name;
	r->start = start;
	r->len = len;
	pthread_mutex_init(&r->lock, NULL);
	r->pg = calloc(len / PAGE, 1);
	res = mmap((void *)(uintptr_t)(start - GUARD), len + 2 * GUARD, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (res == MAP_FAILED || res != (void *)(uintptr_t)(start - GUARD)) {
		odp_log("reserve %s at %#" PRIx64 ": %s", name, start, strerror(errno));
		return -1;
	}
	m = mmap((void *)(uintptr_t)start, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (m == MAP_FAILED || !r->pg) {
		odp_log("map %s: %s", name, strerror(errno));
		return -1;
	}
	r->pts[r->npts++] = start;
	r->pts[r->npts++] = start + len;
	return 0;
}

static void add_pt(struct region *r, uint64_t p)
{
	if (r->npts < 12)
		r->pts[r->npts++] = p;
}

static int setup(struct rng *g)
{
	uint64_t s, a;
	struct region *e = &reg[R_E], *im = &reg[R_I];

	if (odp_dev_open(&dev))
		return -1;
	mtu = odp_path_mtu_bytes(&dev);
	pd2 = ibv_alloc_pd(dev.ctx);
	if (!pd2)
		return -1;
#ifdef ODP_HAVE_WR_ATOMIC_WRITE
	have_awrite = dev.attr.device_cap_flags_ex & ODP_DEVICE_ATOMIC_WRITE;
#endif
#ifdef ODP_HAVE_WR_FLUSH
	have_flush = dev.attr.device_cap_flags_ex & ODP_DEVICE_FLUSH_GLOBAL;
#endif

	/* E: not aligned to its children; three 64 MiB edges inside */
	s = AREA + CHILD - 3 * MIB - 5 * PAGE;
	if (map_region(e, "E", s, 2 * CHILD + 7 * MIB + 3 * PAGE))
		return -1;
	for (a = AREA + CHILD; a < s + e->len; a += CHILD)
		add_pt(e, a);
	add_pt(e, AREA + CHILD + MIB);
	add_pt(e, s + 1000);
	add_pt(e, s + e->len - 777);
	add_pt(e, s + (below(g, e->len / PAGE) * PAGE));
	s = AREA + 0x40000000ull + CHILD - MIB - 3 * PAGE;
	if (map_region(im, "I", s, 2 * CHILD + 2 * MIB))
		return -1;
	for (a = AREA + 0x40000000ull + CHILD; a < s + im->len; a += CHILD)
		add_pt(im, a);
	add_pt(im, AREA + 0x40000000ull + CHILD + 2 * MIB);
	add_pt(im, s + (below(g, im->len / PAGE) * PAGE));
	if (map_region(&reg[R_P], "P", AREA + 0x80000000ull + 64 * KIB, 256 * KIB))
		return -1;
	reg[R_P].pinned = true;
	/* P's draws are mostly inside it: its pinned MR is the good peer of most operations */
	add_pt(&reg[R_P], reg[R_P].start + 64 * KIB);
	add_pt(&reg[R_P], reg[R_P].start + 128 * KIB);
	add_pt(&reg[R_P], reg[R_P].start + 192 * KIB);
	if (map_region(&reg[R_G], "G", AREA + 0xc0000000ull, 64 * KIB))
		return -1;
	tmp_area = AREA + 0x100000000ull;
	if (mmap((void *)(uintptr_t)tmp_area, TMP_LEN, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
		 0) == MAP_FAILED)
		return -1;

	mrs[M_E] = (struct fmr){ "e",	NULL,  ODP_ACCESS_ALL,	true,
				 false, false, e->start + 1000, e->start + e->len - 777 };
	if (have_flush)
		mrs[M_E].access |= IBV_ACCESS_FLUSH_GLOBAL;
	mrs[M_ERO] = (struct fmr){ "ero", NULL,	    IBV_ACCESS_REMOTE_READ, true, false,
				   false, e->start, e->start + e->len };
	mrs[M_IMP] = (struct fmr){ "imp", NULL, ODP_ACCESS_ALL, true, true, false, 0, UINT64_MAX };
	mrs[M_PIN] = (struct fmr){ "pin", NULL,	 ODP_ACCESS_ALL, false,
				   false, false, reg[R_P].start, reg[R_P].start + reg[R_P].len };
	mrs[M_GHOST] =
		(struct fmr){ "ghost", NULL,  ODP_ACCESS_ALL, true,
			      false,   false, reg[R_G].start, reg[R_G].start + reg[R_G].len };
	mrs[M_FOREIGN] = (struct fmr){ "foreign", NULL, ODP_ACCESS_ALL, true,
				       false,	  true, e->start,	e->start + e->len };
	for (int i = 0; i < NMR; i++)
		if (!reg_one(&mrs[i]))
			return -1;

	if (have_awrite)
		rc_opts.send_ops_flags |= IBV_QP_EX_WITH_ATOMIC_WRITE;
	if (have_flush) {
		rc_opts.send_ops_flags |= IBV_QP_EX_WITH_FLUSH;
		rc_opts.extra_access = IBV_ACCESS_FLUSH_GLOBAL;
	}
	if (rc_opts.send_ops_flags)
		rc_opts.send_ops_flags |= IBV_QP_EX_WITH_RDMA_WRITE;
	if (odp_rc_pair_create(&dev, &rc, &rc_opts) || odp_ud_pair_create(&dev, &ud, NULL))
		return -1;

	/* G: mirrored once through its MR, then its memory replaced by PROT_NONE */
	if (odp_rdma_sync(&rc, IBV_WR_RDMA_WRITE, (void *)(uintptr_t)reg[R_P].start, 8 * KIB,
			  mrs[M_PIN].mr->lkey, reg[R_G].start,
			  mrs[M_GHOST].mr->rkey) != IBV_WC_SUCCESS)
		return -1;
	if (mmap((void *)(uintptr_t)reg[R_G].start, reg[R_G].len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		return -1;
	memset(reg[R_G].pg, PG_NONE, reg[R_G].len / PAGE);

	/* prefetch is there when a good one works */
	{
		struct ibv_sge sg = { .addr = e->start + 4096,
				      .length = 4096,
				      .lkey = mrs[M_E].mr->lkey };
		int r = ibv_advise_mr(dev.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
				      IBV_ADVISE_MR_FLAG_FLUSH, &sg, 1);

		have_prefetch = r == 0;
		if (r)
			printf("# ibv_advise_mr: %s: no prefetch operations\n",
			       strerror(r < 0 ? -r : r));
	}
	return 0;
}

static void report(double secs)
{
	long tot = 0, ok = 0, fail = 0, rok = 0, rfail = 0;
	int k;

	printf("# %-13s %8s %8s %8s %8s %8s %6s\n", "kind", "ran", "ok", "failed", "raced-ok",
	       "raced-fl", "viol");
	for (k = 0; k < NKIND; k++) {
		printf("# %-13s %8ld %8ld %8ld %8ld %8ld %6ld\n", kind_name[k], cnt[k].ran,
		       cnt[k].ok, cnt[k].failed, cnt[k].raced_ok, cnt[k].raced_failed, cnt[k].viol);
		tot += cnt[k].ran;
		ok += cnt[k].ok;
		fail += cnt[k].failed;
		rok += cnt[k].raced_ok;
		rfail += cnt[k].raced_failed;
	}
	printf("# (ok: had to succeed and did, data exact; failed: had to fail and did "
	       "as allowed; raced-*: an mm change hit it, either allowed)\n");
	printf("# classes: wrap %ld, absurd address %ld, zero length %ld, stale key %ld, "
	       "foreign key %ld, random key %ld, implicit key %ld, other region's key %ld, "
	       "multi-SGE %ld\n",
	       cls.wrap, cls.absurd, cls.zero_len, cls.stale, cls.foreign, cls.random_key,
	       cls.implicit_key, cls.other_key, cls.multi_sge);
	printf("# wrapping-iova registrations %ld\n", cls.iova_wrap_regs);
	printf("# redrawn (spans clashed) %ld, model page changes %ld, re-registrations %ld, QP "
	       "pairs recreated rc %ld ud %ld "
	       "(canaries %ld)\n",
	       cls.clashes, cls.page_changes, cls.reregs, cls.rc_recreated, cls.ud_recreated,
	       cls.canaries);
	printf("# mm thread:");
	for (k = 0; k < NMM; k++)
		printf(" %s %ld", mm_name[k], mm_cnt[k]);
	printf("\n");
	for (k = 0; k < NMM; k++)
		if (mm_err[k])
			printf("# mm thread: %s failed %ld times\n", mm_name[k], mm_err[k]);
	printf("SUMMARY seed=%#" PRIx64 " ops=%ld ok=%ld failed=%ld raced=%ld violations=%ld "
	       "seconds=%.0f wrap=%s\n",
	       opt.seed, tot, ok, fail, rok + rfail, violations, secs, opt.wrap ? "on" : "off");
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: verbs_fuzz [--seed S] [--ops N] [--seconds S] [--no-wrap] [--no-mm]\n"
		"                  [--mm-interval US] [--trace FILE] [--verbose] [-h]\n"
		"\n"
		"Random verbs operations (RDMA write/read, RC and UD send, atomics, atomic\n"
		"write, flush, prefetch) on explicit ODP, implicit ODP and pinned MRs of\n"
		"$RXE_DEV (default rxe0), each checked against a model: it must succeed with\n"
		"exact data, or fail with an allowed status.  Exit 0 only with no violation.\n"
		"\n"
		"  --seed S          seed (default: from the clock); printed at the start;\n"
		"                    the same seed makes the same decisions\n"
		"  --ops N           stop after N operations (default: no limit)\n"
		"  --seconds S       stop after S seconds (default 60; 0: no limit)\n"
		"  --no-wrap         leave out the wrap-around class (iova + length past 2^64)\n"
		"  --no-mm           no mm thread (no transient page table changes): then a\n"
		"                    replay follows exactly the same path\n"
		"  --mm-interval US  mean pause of the mm thread between changes (default 5000)\n"
		"  --trace FILE      write each operation to FILE before it is posted\n"
		"  --verbose         print each operation\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", 1, NULL, 's' },    { "ops", 1, NULL, 'n' },
		{ "seconds", 1, NULL, 't' }, { "no-wrap", 0, NULL, 'W' },
		{ "no-mm", 0, NULL, 'M' },   { "mm-interval", 1, NULL, 'i' },
		{ "trace", 1, NULL, 'T' },   { "verbose", 0, NULL, 'v' },
		{ "help", 0, NULL, 'h' },    { NULL, 0, NULL, 0 }
	};
	static const unsigned int kw[NKIND] = { 20, 15, 12, 8, 8, 8, 5, 4, 12 };
	unsigned int w[NKIND];
	bool seeded = false;
	struct rng g, gs;
	pthread_t mm;
	uint64_t t0;
	double secs;
	long n = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'n':
			opt.ops = strtol(optarg, NULL, 0);
			break;
		case 't':
			opt.seconds = strtod(optarg, NULL);
			break;
		case 'W':
			opt.wrap = false;
			break;
		case 'M':
			opt.mm = false;
			break;
		case 'i':
			opt.mm_us = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'T':
			opt.trace = optarg;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!seeded)
		opt.seed = odp_now_ns() ^ ((uint64_t)getpid() << 32);
	printf("# verbs_fuzz seed %#" PRIx64 " (replay: --seed %#" PRIx64 "%s%s)\n", opt.seed,
	       opt.seed, opt.wrap ? "" : " --no-wrap", opt.mm ? "" : " --no-mm");
	fflush(stdout);
	g.s = opt.seed;
	gs.s = opt.seed ^ 0x5e7a9ull;
	if (opt.trace) {
		trace_f = fopen(opt.trace, "w");
		if (!trace_f) {
			perror(opt.trace);
			return 2;
		}
	}
	if (setup(&gs)) {
		printf("# setup failed\n");
		return 2;
	}
	printf("# %s: path MTU %d, atomic write %s, flush %s, prefetch %s, wrap class %s, "
	       "mm thread %s\n",
	       dev.name, mtu, have_awrite ? "yes" : "no", have_flush ? "yes" : "no",
	       have_prefetch ? "yes" : "no", opt.wrap ? "on" : "off", opt.mm ? "on" : "off");
	fflush(stdout);
	memcpy(w, kw, sizeof(w));
	if (!have_awrite)
		w[K_AWRITE] = 0;
	if (!have_flush)
		w[K_FLUSH] = 0;
	if (!have_prefetch)
		w[K_PREFETCH] = 0;
	if (opt.mm && pthread_create(&mm, NULL, mm_thread, NULL)) {
		printf("# cannot start the mm thread\n");
		return 2;
	}
	t0 = odp_now_ns();
	for (;;) {
		struct op o;
		unsigned int meta = (unsigned int)below(&g, 100);

		secs = (double)(odp_now_ns() - t0) / 1e9;
		if ((opt.ops && n >= opt.ops) || (opt.seconds > 0 && secs >= opt.seconds))
			break;
		if (timeouts >= 3) {
			printf("# %d completions never came: the device is gone, stopping\n",
			       timeouts);
			break;
		}
		if (meta < 3) {
			model_page_change(&g);
			continue;
		}
		if (meta < 4) {
			rereg(&g);
			continue;
		}
		if (opt.wrap && meta < 5 && chance(&g, 20)) {
			reg_iova_wrap(&g);
			continue;
		}
		draw_op(&g, &o, (enum kind)pick(&g, w, NKIND));
		o.n = n + 1;
		if (run_op(&g, &o))
			n++;
		else
			cls.clashes++;
	}
	stop_mm = true;
	if (opt.mm)
		pthread_join(mm, NULL);
	report((double)(odp_now_ns() - t0) / 1e9);
	if (trace_f)
		fclose(trace_f);
	return violations ? 1 : 0;
}
