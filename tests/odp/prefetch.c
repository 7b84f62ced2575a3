// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ODP prefetch (ibv_advise_mr): a synchronous prefetch mirrors the range so
 * that the following RDMA access faults nothing; PREFETCH_NO_FAULT mirrors
 * only the pages already present; an asynchronous prefetch returns at once
 * and is safe against dereg and process exit racing it; every bad input
 * fails with its own errno and mirrors nothing.
 *
 * The counters: odp_faults / odp_pages_faulted count the faults of RDMA
 * accesses only; odp_prefetches counts accepted prefetch requests and
 * odp_pages_prefetched the pages prefetch mirrored.
 */
#include "odp_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "odp_harness.h"

#define SEED 0x9f37ull
#define SEED_R 0x5eedull
/* Pinned source and sink: room for a 16-page write at any offset used. */
#define PIN_LEN (32 * ODP_PAGE)
/* A big range for the asynchronous tests. */
#define BIG_LEN (64ul << 20)

#define ADV_PREFETCH IBV_ADVISE_MR_ADVICE_PREFETCH
#define ADV_WRITE IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE
#define ADV_NO_FAULT IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT
#define SYNC IBV_ADVISE_MR_FLAG_FLUSH

struct snap {
	struct odp_counters c;
	uint64_t prefetches;
	uint64_t pages_prefetched;
};

static int snap_read(const struct odp_dev *d, struct snap *s)
{
	int ret = odp_counters_read(d, &s->c);

	if (!ret)
		ret = odp_counter_read(d, "odp_prefetches", &s->prefetches);
	if (!ret)
		ret = odp_counter_read(d, "odp_pages_prefetched", &s->pages_prefetched);
	return ret;
}

static void snap_log(struct __test_metadata *_metadata, const char *when, const struct snap *a,
		     const struct snap *b)
{
	TH_LOG("%s: faults +%" PRIu64 ", pages faulted +%" PRIu64 ", prefetches +%" PRIu64
	       ", pages prefetched +%" PRIu64,
	       when, b->c.faults - a->c.faults, b->c.pages_faulted - a->c.pages_faulted,
	       b->prefetches - a->prefetches, b->pages_prefetched - a->pages_prefetched);
}

/* ibv_advise_mr() on one range; 0 or the errno it returns. */
static int advise(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
		  uint32_t lkey, const void *addr, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len, .lkey = lkey };

	return ibv_advise_mr(pd, advice, flags, &sge, 1);
}

/* A fresh mapping without transparent huge pages: page counts stay exact. */
static void *map_small_pages(size_t len)
{
	void *p = odp_map_fresh(len);

	if (p && madvise(p, len, MADV_NOHUGEPAGE))
		odp_log("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
	return p;
}

static uint64_t ms_since(uint64_t t0)
{
	return (odp_now_ns() - t0) / 1000000;
}

/* Waits until odp_pages_prefetched reaches want; 0 or -ETIMEDOUT. */
static int wait_pages_prefetched(const struct odp_dev *d, uint64_t want)
{
	uint64_t deadline = odp_now_ns() + 120ull * 1000000000ull;
	uint64_t v = 0;

	while (odp_now_ns() < deadline) {
		if (odp_counter_read(d, "odp_pages_prefetched", &v))
			return -ENOENT;
		if (v >= want)
			return 0;
		usleep(20000);
	}
	odp_log("odp_pages_prefetched is %" PRIu64 ", not %" PRIu64 " after 120 s", v, want);
	return -ETIMEDOUT;
}

FIXTURE(pf)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	uint8_t *src; /* pinned, holds the pattern */
	struct ibv_mr *src_mr;
	uint8_t *sink; /* pinned, zeros */
	struct ibv_mr *sink_mr;
	uint8_t *r; /* ODP memory under test */
	size_t r_len;
	struct ibv_mr *mr;
	char saved_fault_ahead[32];
};

FIXTURE_SETUP(pf)
{
	/* Only the tests' own accesses may fault or invalidate. */
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	/*
	 * Nor prefetch: fault-ahead (its own tests are fault_ahead.c's) counts
	 * in odp_pages_prefetched and races the faults counted here.
	 */
	ASSERT_EQ(0, odp_param_save_and_write("fault_ahead_pages", self->saved_fault_ahead,
					      sizeof(self->saved_fault_ahead), 0));
	self->src = odp_map_fresh(PIN_LEN);
	self->sink = odp_map_fresh(PIN_LEN);
	ASSERT_NE(NULL, self->src);
	ASSERT_NE(NULL, self->sink);
	odp_fill(self->src, PIN_LEN, SEED, 0);
	memset(self->sink, 0, PIN_LEN);
	self->src_mr = odp_reg_pinned(self->dev.pd, self->src, PIN_LEN, ODP_ACCESS_ALL);
	self->sink_mr = odp_reg_pinned(self->dev.pd, self->sink, PIN_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->src_mr);
	ASSERT_NE(NULL, self->sink_mr);
	/* The default ODP region: never touched, so no page is present. */
	self->r_len = ODP_BUF_LEN;
	self->r = map_small_pages(self->r_len);
	ASSERT_NE(NULL, self->r);
	self->mr = odp_reg(self->dev.pd, self->r, self->r_len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->mr);
}

FIXTURE_TEARDOWN(pf)
{
	odp_param_restore("fault_ahead_pages", self->saved_fault_ahead);
	if (self->mr)
		ibv_dereg_mr(self->mr);
	odp_unmap(self->r, self->r_len);
	if (self->src_mr)
		ibv_dereg_mr(self->src_mr);
	if (self->sink_mr)
		ibv_dereg_mr(self->sink_mr);
	odp_unmap(self->src, PIN_LEN);
	odp_unmap(self->sink, PIN_LEN);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

/* ---- synchronous prefetch: the access that follows faults nothing ---- */

/*
 * PREFETCH_WRITE with FLUSH over never-touched memory returns with every
 * page of the range present and mirrored (odp_pages_prefetched grows by the
 * pages spanned); the RDMA write that follows leaves odp_faults and
 * odp_pages_faulted unchanged and lands byte for byte.
 */
TEST_F(pf, sync_prefetch_write_then_rdma_write_faults_nothing)
{
	uint8_t *dst = self->r + ODP_DST_OFF;
	long span = odp_pages_spanned(dst, ODP_MSG_LEN);
	struct snap s0, s1, s2;

	ASSERT_EQ(0, odp_pages_present(self->r, self->r_len));
	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	ASSERT_EQ(0, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey, dst, ODP_MSG_LEN));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	snap_log(_metadata, "prefetch", &s0, &s1);
	EXPECT_EQ(span, odp_pages_present(dst, ODP_MSG_LEN));
	EXPECT_EQ(s0.prefetches + 1, s1.prefetches);
	EXPECT_EQ(s0.pages_prefetched + (uint64_t)span, s1.pages_prefetched);
	EXPECT_EQ(s0.c.faults, s1.c.faults);

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + ODP_SRC_OFF, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)dst, self->mr->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s2));
	snap_log(_metadata, "rdma write", &s1, &s2);
	EXPECT_EQ(-1, odp_check(dst, ODP_MSG_LEN, SEED, ODP_SRC_OFF, "written"));
	EXPECT_EQ(-1, odp_check_byte(self->r, ODP_DST_OFF, 0, "before the message"));
	EXPECT_EQ(-1, odp_check_byte(dst + ODP_MSG_LEN, self->r_len - ODP_DST_OFF - ODP_MSG_LEN, 0,
				     "after the message"));
	EXPECT_EQ(s1.c.faults, s2.c.faults);
	EXPECT_EQ(s1.c.pages_faulted, s2.c.pages_faulted);
}

/*
 * PREFETCH (read) with FLUSH of ODP memory whose content exists but whose
 * pages are absent from the page table: an RDMA read from it (the MR is the
 * remote, rkey side) faults nothing and returns the content exactly.
 */
TEST_F(pf, sync_prefetch_read_then_rdma_read_faults_nothing)
{
	uint8_t *r = odp_map_absent_filled(ODP_BUF_LEN, SEED_R, 0);
	long span = odp_pages_spanned(r + ODP_SRC_OFF, ODP_MSG_LEN);
	struct snap s0, s1, s2;
	struct ibv_mr *mr;

	ASSERT_NE(NULL, r);
	mr = odp_reg(self->dev.pd, r, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_pages_present(r, ODP_BUF_LEN));

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	ASSERT_EQ(0,
		  advise(self->dev.pd, ADV_PREFETCH, SYNC, mr->lkey, r + ODP_SRC_OFF, ODP_MSG_LEN));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	snap_log(_metadata, "prefetch", &s0, &s1);
	EXPECT_EQ(span, odp_pages_present(r + ODP_SRC_OFF, ODP_MSG_LEN));
	EXPECT_EQ(s0.pages_prefetched + (uint64_t)span, s1.pages_prefetched);

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->sink + ODP_DST_OFF, ODP_MSG_LEN,
				self->sink_mr->lkey, (uintptr_t)r + ODP_SRC_OFF, mr->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s2));
	snap_log(_metadata, "rdma read", &s1, &s2);
	EXPECT_EQ(-1,
		  odp_check(self->sink + ODP_DST_OFF, ODP_MSG_LEN, SEED_R, ODP_SRC_OFF, "read"));
	EXPECT_EQ(-1, odp_check_byte(self->sink, ODP_DST_OFF, 0, "before the message"));
	EXPECT_EQ(s1.c.faults, s2.c.faults);
	EXPECT_EQ(s1.c.pages_faulted, s2.c.pages_faulted);
	ibv_dereg_mr(mr);
	odp_unmap(r, ODP_BUF_LEN);
}

/*
 * The same for the local (lkey) side: after a synchronous PREFETCH of an
 * ODP source, the requester reads it for an RDMA write without a fault.
 */
TEST_F(pf, sync_prefetch_read_of_local_source_then_rdma_write_faults_nothing)
{
	uint8_t *l = odp_map_absent_filled(ODP_BUF_LEN, SEED_R, 0);
	struct snap s0, s1;
	struct ibv_mr *lmr;

	ASSERT_NE(NULL, l);
	lmr = odp_reg(self->dev.pd, l, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, lmr);
	ASSERT_EQ(0, advise(self->dev.pd, ADV_PREFETCH, SYNC, lmr->lkey, l + ODP_SRC_OFF,
			    ODP_MSG_LEN));
	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, l + ODP_SRC_OFF, ODP_MSG_LEN,
				lmr->lkey, (uintptr_t)self->sink + ODP_DST_OFF,
				self->sink_mr->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	snap_log(_metadata, "rdma write from the prefetched source", &s0, &s1);
	EXPECT_EQ(-1,
		  odp_check(self->sink + ODP_DST_OFF, ODP_MSG_LEN, SEED_R, ODP_SRC_OFF, "written"));
	EXPECT_EQ(s0.c.faults, s1.c.faults);
	EXPECT_EQ(s0.c.pages_faulted, s1.c.pages_faulted);
	ibv_dereg_mr(lmr);
	odp_unmap(l, ODP_BUF_LEN);
}

/*
 * One synchronous call with two SGEs in two MRs prefetches both ranges:
 * RDMA writes into each fault nothing.
 */
TEST_F(pf, sync_prefetch_of_two_sges_mirrors_both)
{
	uint8_t *r2 = map_small_pages(ODP_BUF_LEN);
	struct ibv_sge sges[2];
	struct snap s0, s1, s2;
	struct ibv_mr *mr2;

	ASSERT_NE(NULL, r2);
	mr2 = odp_reg(self->dev.pd, r2, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr2);
	sges[0] = (struct ibv_sge){ .addr = (uintptr_t)self->r + 100,
				    .length = (uint32_t)self->r_len - 200,
				    .lkey = self->mr->lkey };
	sges[1] =
		(struct ibv_sge){ .addr = (uintptr_t)r2, .length = ODP_BUF_LEN, .lkey = mr2->lkey };
	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	ASSERT_EQ(0, ibv_advise_mr(self->dev.pd, ADV_WRITE, SYNC, sges, 2));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	snap_log(_metadata, "prefetch", &s0, &s1);
	EXPECT_EQ((long)(self->r_len / ODP_PAGE), odp_pages_present(self->r, self->r_len));
	EXPECT_EQ((long)(ODP_BUF_LEN / ODP_PAGE), odp_pages_present(r2, ODP_BUF_LEN));
	EXPECT_EQ(s0.prefetches + 1, s1.prefetches);
	EXPECT_EQ(s0.pages_prefetched + self->r_len / ODP_PAGE + ODP_BUF_LEN / ODP_PAGE,
		  s1.pages_prefetched);

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + ODP_SRC_OFF, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)self->r + ODP_DST_OFF,
				self->mr->rkey));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + 1, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)r2 + ODP_SRC_OFF, mr2->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s2));
	snap_log(_metadata, "rdma writes", &s1, &s2);
	EXPECT_EQ(-1, odp_check(self->r + ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF, "first"));
	EXPECT_EQ(-1, odp_check(r2 + ODP_SRC_OFF, ODP_MSG_LEN, SEED, 1, "second"));
	EXPECT_EQ(s1.c.faults, s2.c.faults);
	EXPECT_EQ(s1.c.pages_faulted, s2.c.pages_faulted);
	ibv_dereg_mr(mr2);
	odp_unmap(r2, ODP_BUF_LEN);
}

/* ---- PREFETCH_NO_FAULT: a snapshot of what is present ---- */

/*
 * Half the pages of a 16-page ODP range are touched by the CPU.
 * PREFETCH_NO_FAULT faults nothing in (the other half stays absent from the
 * page table) and mirrors exactly the touched half; an RDMA write over the
 * whole range then faults exactly the untouched pages, and lands exactly.
 */
TEST_F(pf, no_fault_mirrors_only_present_pages)
{
	const size_t npages = 16, len = npages * ODP_PAGE;
	uint8_t *r = map_small_pages(len);
	struct snap s0, s1, s2;
	struct ibv_mr *mr;
	size_t i;

	ASSERT_NE(NULL, r);
	mr = odp_reg(self->dev.pd, r, len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	for (i = 0; i < npages; i += 2)
		memset(r + i * ODP_PAGE, 0xa5, ODP_PAGE);
	ASSERT_EQ((long)npages / 2, odp_pages_present(r, len));

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	ASSERT_EQ(0, advise(self->dev.pd, ADV_NO_FAULT, SYNC, mr->lkey, r, len));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	snap_log(_metadata, "no-fault prefetch", &s0, &s1);
	EXPECT_EQ((long)npages / 2, odp_pages_present(r, len));
	EXPECT_EQ(s0.pages_prefetched + npages / 2, s1.pages_prefetched);
	EXPECT_EQ(s0.c.faults, s1.c.faults);

	/* page-aligned, so every packet lies in one page: faults count pages */
	ASSERT_EQ(IBV_WC_SUCCESS, odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src, len,
						self->src_mr->lkey, (uintptr_t)r, mr->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s2));
	snap_log(_metadata, "rdma write over the whole range", &s1, &s2);
	EXPECT_EQ(-1, odp_check(r, len, SEED, 0, "written"));
	EXPECT_EQ(s1.c.pages_faulted + npages / 2, s2.c.pages_faulted);
	EXPECT_LE(s1.c.faults + 1, s2.c.faults);
	EXPECT_GE(s1.c.faults + npages / 2, s2.c.faults);
	ibv_dereg_mr(mr);
	odp_unmap(r, len);
}

/* PREFETCH_NO_FAULT over a hole (an unmapped page in the MR) is no error. */
TEST_F(pf, no_fault_over_a_hole_succeeds)
{
	ASSERT_EQ(0, munmap(self->r + ODP_PAGE, ODP_PAGE));
	memset(self->r, 1, ODP_PAGE);
	EXPECT_EQ(0, advise(self->dev.pd, ADV_NO_FAULT, SYNC, self->mr->lkey, self->r,
			    (uint32_t)self->r_len));
	EXPECT_EQ(0, advise(self->dev.pd, ADV_NO_FAULT, 0, self->mr->lkey, self->r,
			    (uint32_t)self->r_len));
}

/* ---- asynchronous prefetch ---- */

/*
 * Without FLUSH the call returns at once (in a fraction of the time the
 * synchronous prefetch of as much takes) and the pages are mirrored in the
 * background: once odp_pages_prefetched says so, an RDMA write into the range
 * faults nothing, while the same write into memory nobody prefetched faults.
 */
TEST_F_TIMEOUT(pf, async_prefetch_returns_at_once_and_later_access_faults_less, 600)
{
	const uint64_t pages = BIG_LEN / ODP_PAGE;
	uint8_t *a = map_small_pages(BIG_LEN), *b = map_small_pages(BIG_LEN);
	uint8_t *c = map_small_pages(ODP_BUF_LEN);
	struct ibv_mr *mra, *mrb, *mrc;
	uint64_t t0, t_sync, t_async;
	struct snap s0, s1, s2, s3;
	long present_at_return;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_NE(NULL, c);
	mra = odp_reg(self->dev.pd, a, BIG_LEN, ODP_ACCESS_ALL);
	mrb = odp_reg(self->dev.pd, b, BIG_LEN, ODP_ACCESS_ALL);
	mrc = odp_reg(self->dev.pd, c, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mra);
	ASSERT_NE(NULL, mrb);
	ASSERT_NE(NULL, mrc);

	t0 = odp_now_ns();
	ASSERT_EQ(0, advise(self->dev.pd, ADV_WRITE, SYNC, mra->lkey, a, BIG_LEN));
	t_sync = odp_now_ns() - t0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	t0 = odp_now_ns();
	ASSERT_EQ(0, advise(self->dev.pd, ADV_WRITE, 0, mrb->lkey, b, BIG_LEN));
	t_async = odp_now_ns() - t0;
	present_at_return = odp_pages_present(b, BIG_LEN);
	TH_LOG("64 MiB: synchronous prefetch %" PRIu64 " us, asynchronous call %" PRIu64
	       " us; %ld of %" PRIu64 " pages present when it returned",
	       t_sync / 1000, t_async / 1000, present_at_return, pages);
	EXPECT_LT(t_async * 4, t_sync);

	ASSERT_EQ(0, wait_pages_prefetched(&self->dev, s0.pages_prefetched + pages));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	snap_log(_metadata, "asynchronous prefetch", &s0, &s1);
	EXPECT_EQ((long)pages, odp_pages_present(b, BIG_LEN));
	EXPECT_EQ(s0.prefetches + 1, s1.prefetches);
	EXPECT_EQ(s0.c.faults, s1.c.faults);

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + ODP_SRC_OFF, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)b + BIG_LEN / 2 + ODP_DST_OFF,
				mrb->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s2));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + ODP_SRC_OFF, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)c + ODP_DST_OFF, mrc->rkey));
	ASSERT_EQ(0, snap_read(&self->dev, &s3));
	snap_log(_metadata, "write into the prefetched range", &s1, &s2);
	snap_log(_metadata, "write into memory not prefetched", &s2, &s3);
	EXPECT_EQ(-1, odp_check(b + BIG_LEN / 2 + ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF,
				"prefetched"));
	EXPECT_EQ(-1, odp_check(c + ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF, "not prefetched"));
	EXPECT_EQ(s1.c.faults, s2.c.faults);
	EXPECT_LT(s2.c.faults, s3.c.faults);
	EXPECT_LE(s2.c.pages_faulted + (uint64_t)odp_pages_spanned(c + ODP_DST_OFF, ODP_MSG_LEN),
		  s3.c.pages_faulted);

	ibv_dereg_mr(mra);
	ibv_dereg_mr(mrb);
	ibv_dereg_mr(mrc);
	odp_unmap(a, BIG_LEN);
	odp_unmap(b, BIG_LEN);
	odp_unmap(c, ODP_BUF_LEN);
}

static int loops(int dflt)
{
	const char *s = getenv("PREFETCH_LOOPS");

	return s && atoi(s) > 0 ? atoi(s) : dflt;
}

/* An RDMA write into a fresh ODP MR through the fixture's pair works and lands. */
static bool device_still_works(FIXTURE_DATA(pf) * self)
{
	uint8_t *r = map_small_pages(ODP_BUF_LEN);
	struct ibv_mr *mr;
	bool ok = false;

	if (!r)
		return false;
	mr = odp_reg(self->dev.pd, r, ODP_BUF_LEN, ODP_ACCESS_ALL);
	if (mr) {
		ok = odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + ODP_SRC_OFF,
				   ODP_MSG_LEN, self->src_mr->lkey, (uintptr_t)r + ODP_DST_OFF,
				   mr->rkey) == IBV_WC_SUCCESS &&
		     odp_check(r + ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF, "after the race") <
			     0;
		ibv_dereg_mr(mr);
	}
	odp_unmap(r, ODP_BUF_LEN);
	return ok;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * An asynchronous prefetch of 64 MiB raced by ibv_dereg_mr() (every other
 * time after munmap of the range), many times over: every dereg succeeds
 * without waiting for the prefetch to finish (it drops queued work and stops
 * running work at its next step: the median dereg takes less than a third
 * of a whole prefetch; a dereg that waited would take about a whole one,
 * every time), and the device keeps working.  The median, not the slowest:
 * on a loaded host one dereg may lose the CPU for longer than that.  The
 * kernel log is checked by the testbed.
 */
TEST_F_TIMEOUT(pf, async_prefetch_racing_dereg_loop, 1200)
{
	uint64_t t0, t_full, dt[256], med;
	int i, n = loops(30);
	struct snap s0, s1;

	if (n > 256)
		n = 256;

	/* How long the whole prefetch takes, for comparison. */
	{
		uint8_t *a = map_small_pages(BIG_LEN);
		struct ibv_mr *mra;

		ASSERT_NE(NULL, a);
		mra = odp_reg(self->dev.pd, a, BIG_LEN, ODP_ACCESS_ALL);
		ASSERT_NE(NULL, mra);
		t0 = odp_now_ns();
		ASSERT_EQ(0, advise(self->dev.pd, ADV_WRITE, SYNC, mra->lkey, a, BIG_LEN));
		t_full = ms_since(t0);
		ibv_dereg_mr(mra);
		odp_unmap(a, BIG_LEN);
	}

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	for (i = 0; i < n; i++) {
		uint8_t *b = map_small_pages(BIG_LEN);
		struct ibv_mr *mrb;

		ASSERT_NE(NULL, b);
		mrb = odp_reg(self->dev.pd, b, BIG_LEN, ODP_ACCESS_ALL);
		ASSERT_NE(NULL, mrb);
		ASSERT_EQ(0, advise(self->dev.pd, i % 3 ? ADV_WRITE : ADV_PREFETCH, 0, mrb->lkey, b,
				    BIG_LEN));
		/* vary how far the prefetch gets before the dereg */
		usleep((i % 5) * 2000);
		if (i % 2)
			ASSERT_EQ(0, munmap(b, BIG_LEN));
		t0 = odp_now_ns();
		ASSERT_EQ(0, ibv_dereg_mr(mrb));
		dt[i] = ms_since(t0);
		if (!(i % 2))
			odp_unmap(b, BIG_LEN);
	}
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	qsort(dt, n, sizeof(dt[0]), cmp_u64);
	med = dt[n / 2];
	TH_LOG("%d rounds: the whole prefetch takes %" PRIu64 " ms; dereg: median %" PRIu64
	       " ms, slowest %" PRIu64 " ms",
	       n, t_full, med, dt[n - 1]);
	EXPECT_EQ(s0.prefetches + (uint64_t)n, s1.prefetches);
	/* dereg waited for at most a step, not for the rest of the prefetch */
	EXPECT_LT(med * 3, t_full);
	EXPECT_TRUE(device_still_works(self));
}

/*
 * A child process opens the device, registers 64 MiB of ODP memory, queues
 * an asynchronous prefetch of all of it and exits at once, leaving the MR
 * registered: the kernel cleans up while the prefetch runs against a dying
 * process and MR.  Many times over; every child exits cleanly and promptly,
 * and the device keeps working.
 */
TEST_F_TIMEOUT(pf, async_prefetch_racing_process_exit_loop, 1200)
{
	uint64_t t0, dt, worst = 0;
	int i, status, n = loops(20);
	struct snap s0, s1;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	for (i = 0; i < n; i++) {
		pid_t pid;

		fflush(stdout);
		fflush(stderr);
		t0 = odp_now_ns();
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct odp_dev d;
			struct ibv_mr *mr;
			void *buf;

			if (odp_dev_open(&d))
				_exit(10);
			buf = map_small_pages(BIG_LEN);
			if (!buf)
				_exit(11);
			mr = odp_reg(d.pd, buf, BIG_LEN, ODP_ACCESS_ALL);
			if (!mr)
				_exit(12);
			if (advise(d.pd, i % 3 ? ADV_WRITE : ADV_NO_FAULT, 0, mr->lkey, buf,
				   BIG_LEN))
				_exit(13);
			if (i % 2)
				memset(buf, 1, BIG_LEN / 8);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		dt = ms_since(t0);
		if (dt > worst)
			worst = dt;
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
	}
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	TH_LOG("%d children; the slowest took %" PRIu64 " ms from fork to reaped", n, worst);
	EXPECT_EQ(s0.prefetches + (uint64_t)n, s1.prefetches);
	EXPECT_TRUE(device_still_works(self));
}

/*
 * The process itself (the harness's child for this test) registers 64 MiB
 * of ODP memory, queues an asynchronous prefetch and exits without
 * deregistering anything.  tests/odp/prefetch-link-delete runs this in a
 * loop against "rdma link delete": PREFETCH_READY_FILE, when set, is created
 * once the prefetch is queued, and PREFETCH_LINGER_MS delays the exit.
 */
/* A process of its own: no device, no QPs set up by the fixture. */
FIXTURE(proc)
{
	int unused;
};

FIXTURE_SETUP(proc)
{
}

FIXTURE_TEARDOWN(proc)
{
}

TEST_F(proc, async_prefetch_then_exit_without_dereg)
{
	const char *ready = getenv("PREFETCH_READY_FILE");
	const char *linger = getenv("PREFETCH_LINGER_MS");
	struct odp_dev d;
	struct ibv_mr *mr;
	void *buf;
	FILE *f;

	ASSERT_EQ(0, odp_dev_open(&d));
	buf = map_small_pages(BIG_LEN);
	ASSERT_NE(NULL, buf);
	mr = odp_reg(d.pd, buf, BIG_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, advise(d.pd, ADV_WRITE, 0, mr->lkey, buf, BIG_LEN));
	if (ready && *ready) {
		f = fopen(ready, "w");
		ASSERT_NE(NULL, f);
		fclose(f);
	}
	if (linger && atoi(linger) > 0)
		usleep(atoi(linger) * 1000);
	fflush(stdout);
	fflush(stderr);
	_exit(0);
}

/* ---- bad input: its errno, and nothing mirrored ---- */

/* Nothing of the fixture's ODP region was mirrored or faulted since s0. */
static void expect_nothing_mirrored(struct __test_metadata *_metadata, FIXTURE_DATA(pf) * self,
				    const struct snap *s0)
{
	struct snap s1;

	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	EXPECT_EQ(s0->pages_prefetched, s1.pages_prefetched);
	EXPECT_EQ(s0->c.pages_faulted, s1.c.pages_faulted);
	EXPECT_EQ(s0->prefetches, s1.prefetches);
	EXPECT_EQ(0, odp_pages_present(self->r, self->r_len));
}

/* An advice the device does not know: EOPNOTSUPP (and a known one works). */
TEST_F(pf, unknown_advice_is_eopnotsupp)
{
	struct snap s0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(EOPNOTSUPP, advise(self->dev.pd, (enum ibv_advise_mr_advice)3, SYNC,
				     self->mr->lkey, self->r, (uint32_t)self->r_len));
	EXPECT_EQ(EOPNOTSUPP, advise(self->dev.pd, (enum ibv_advise_mr_advice)77, 0, self->mr->lkey,
				     self->r, (uint32_t)self->r_len));
	expect_nothing_mirrored(_metadata, self, &s0);
	EXPECT_EQ(0, advise(self->dev.pd, ADV_NO_FAULT, SYNC, self->mr->lkey, self->r,
			    (uint32_t)self->r_len));
}

/* A flag other than FLUSH: EINVAL (uverbs refuses it before the driver). */
TEST_F(pf, unknown_flag_is_einval)
{
	struct snap s0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(EINVAL, advise(self->dev.pd, ADV_WRITE, SYNC | (1u << 5), self->mr->lkey, self->r,
				 (uint32_t)self->r_len));
	expect_nothing_mirrored(_metadata, self, &s0);
}

/* An lkey that names no MR, or the right index with the wrong key: ENOENT. */
TEST_F(pf, unknown_lkey_is_enoent)
{
	struct snap s0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(ENOENT, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey ^ 0x5a, self->r,
				 (uint32_t)self->r_len));
	EXPECT_EQ(ENOENT,
		  advise(self->dev.pd, ADV_WRITE, SYNC, 0xfffff000u | (self->mr->lkey & 0xff),
			 self->r, (uint32_t)self->r_len));
	EXPECT_EQ(ENOENT, advise(self->dev.pd, ADV_PREFETCH, 0, self->mr->lkey ^ 0x5a, self->r,
				 (uint32_t)self->r_len));
	expect_nothing_mirrored(_metadata, self, &s0);
}

/* The lkey of an ODP MR of another PD: ENOENT. */
TEST_F(pf, other_pd_lkey_is_enoent)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(self->dev.ctx);
	struct ibv_mr *mr2;
	struct snap s0;

	ASSERT_NE(NULL, pd2);
	mr2 = odp_reg(pd2, self->r, self->r_len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr2);
	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(ENOENT,
		  advise(self->dev.pd, ADV_WRITE, SYNC, mr2->lkey, self->r, (uint32_t)self->r_len));
	expect_nothing_mirrored(_metadata, self, &s0);
	/* the same SGE on its own PD is fine */
	EXPECT_EQ(0, advise(pd2, ADV_WRITE, SYNC, mr2->lkey, self->r, (uint32_t)self->r_len));
	ibv_dereg_mr(mr2);
	ibv_dealloc_pd(pd2);
}

/* The lkey of a pinned (not ODP) MR: ENOENT. */
TEST_F(pf, pinned_mr_lkey_is_enoent)
{
	struct snap s0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(ENOENT,
		  advise(self->dev.pd, ADV_PREFETCH, SYNC, self->src_mr->lkey, self->src, PIN_LEN));
	expect_nothing_mirrored(_metadata, self, &s0);
}

/* An SGE that starts before, ends after, or wraps around the MR: EINVAL. */
TEST_F(pf, sge_outside_mr_is_einval)
{
	uint32_t lkey = self->mr->lkey;
	struct snap s0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(EINVAL, advise(self->dev.pd, ADV_WRITE, SYNC, lkey, self->r - 1, 100));
	EXPECT_EQ(EINVAL,
		  advise(self->dev.pd, ADV_WRITE, SYNC, lkey, self->r + self->r_len - 100, 101));
	EXPECT_EQ(EINVAL, advise(self->dev.pd, ADV_PREFETCH, 0, lkey, self->r + self->r_len, 1));
	EXPECT_EQ(EINVAL,
		  advise(self->dev.pd, ADV_NO_FAULT, SYNC, lkey, (void *)(UINTPTR_MAX - 10), 100));
	expect_nothing_mirrored(_metadata, self, &s0);
	/* exactly the MR is fine */
	EXPECT_EQ(0, advise(self->dev.pd, ADV_WRITE, SYNC, lkey, self->r, (uint32_t)self->r_len));
}

/*
 * PREFETCH_WRITE of an MR registered without local write: EPERM; reading
 * prefetches of it are fine.
 */
TEST_F(pf, prefetch_write_without_local_write_is_eperm)
{
	struct ibv_mr *ro = odp_reg(self->dev.pd, self->r, self->r_len, IBV_ACCESS_REMOTE_READ);
	struct snap s0;

	ASSERT_NE(NULL, ro);
	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(EPERM,
		  advise(self->dev.pd, ADV_WRITE, SYNC, ro->lkey, self->r, (uint32_t)self->r_len));
	EXPECT_EQ(EPERM,
		  advise(self->dev.pd, ADV_WRITE, 0, ro->lkey, self->r, (uint32_t)self->r_len));
	expect_nothing_mirrored(_metadata, self, &s0);
	EXPECT_EQ(0, advise(self->dev.pd, ADV_NO_FAULT, SYNC, ro->lkey, self->r,
			    (uint32_t)self->r_len));
	EXPECT_EQ(0, advise(self->dev.pd, ADV_PREFETCH, SYNC, ro->lkey, self->r,
			    (uint32_t)self->r_len));
	EXPECT_EQ((long)(self->r_len / ODP_PAGE), odp_pages_present(self->r, self->r_len));
	ibv_dereg_mr(ro);
}

/*
 * Every SGE is checked before any is mirrored: a good SGE followed by a bad
 * one fails with the bad one's errno, and the good range is not touched.
 */
TEST_F(pf, one_bad_sge_fails_the_call_before_anything_is_mirrored)
{
	struct ibv_sge sges[2] = {
		{ .addr = (uintptr_t)self->r,
		  .length = (uint32_t)self->r_len,
		  .lkey = self->mr->lkey },
	};
	struct snap s0;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	sges[1] = (struct ibv_sge){ .addr = (uintptr_t)self->r,
				    .length = 1,
				    .lkey = self->mr->lkey ^ 0x5a };
	EXPECT_EQ(ENOENT, ibv_advise_mr(self->dev.pd, ADV_WRITE, SYNC, sges, 2));
	EXPECT_EQ(ENOENT, ibv_advise_mr(self->dev.pd, ADV_WRITE, 0, sges, 2));
	sges[1] = (struct ibv_sge){ .addr = (uintptr_t)self->r + self->r_len,
				    .length = 1,
				    .lkey = self->mr->lkey };
	EXPECT_EQ(EINVAL, ibv_advise_mr(self->dev.pd, ADV_PREFETCH, SYNC, sges, 2));
	sges[1] = (struct ibv_sge){ .addr = (uintptr_t)self->src,
				    .length = 1,
				    .lkey = self->src_mr->lkey };
	EXPECT_EQ(ENOENT, ibv_advise_mr(self->dev.pd, ADV_WRITE, 0, sges, 2));
	usleep(200000); /* a wrongly queued prefetch would have run by now */
	expect_nothing_mirrored(_metadata, self, &s0);
}

/* A zero-length SGE is accepted (after the same checks) and mirrors nothing. */
TEST_F(pf, zero_length_sge_is_accepted_and_mirrors_nothing)
{
	struct snap s0, s1;

	ASSERT_EQ(0, snap_read(&self->dev, &s0));
	EXPECT_EQ(0, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey, self->r, 0));
	EXPECT_EQ(ENOENT, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey ^ 0x5a, self->r, 0));
	ASSERT_EQ(0, snap_read(&self->dev, &s1));
	EXPECT_EQ(s0.prefetches + 1, s1.prefetches);
	EXPECT_EQ(s0.pages_prefetched, s1.pages_prefetched);
	EXPECT_EQ(0, odp_pages_present(self->r, self->r_len));
}

/*
 * Synchronous prefetch of memory that cannot be mirrored as asked: EFAULT.
 * A hole (unmapped page), PROT_NONE, and PREFETCH_WRITE of a read-only
 * mapping; the pages before the bad one may be mirrored, the call fails.
 */
TEST_F(pf, sync_prefetch_of_unmirrorable_memory_is_efault)
{
	uint8_t *bad = self->r + 2 * ODP_PAGE;

	ASSERT_EQ(0, munmap(bad, ODP_PAGE));
	EXPECT_EQ(EFAULT, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey, self->r,
				 (uint32_t)self->r_len));
	EXPECT_EQ(EFAULT, advise(self->dev.pd, ADV_PREFETCH, SYNC, self->mr->lkey, bad, 10));
	/* asynchronous: accepted, the failure is the work's */
	EXPECT_EQ(0, advise(self->dev.pd, ADV_PREFETCH, 0, self->mr->lkey, bad, 10));

	ASSERT_EQ(bad,
		  mmap(bad, ODP_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	EXPECT_EQ(EFAULT, advise(self->dev.pd, ADV_PREFETCH, SYNC, self->mr->lkey, bad, 10));

	ASSERT_EQ(0, mprotect(bad, ODP_PAGE, PROT_READ));
	EXPECT_EQ(EFAULT, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey, bad, 10));
	EXPECT_EQ(0, advise(self->dev.pd, ADV_PREFETCH, SYNC, self->mr->lkey, bad, 10));
	EXPECT_EQ(0, advise(self->dev.pd, ADV_WRITE, SYNC, self->mr->lkey, self->r, 2 * ODP_PAGE));
}

TEST_HARNESS_MAIN
