// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ODP mirrors lazily: registering faults nothing in, the first RDMA access
 * to absent pages faults them (counted in hw_counters), and pages already
 * mirrored are not faulted again.
 */
#include "odp_common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "odp_harness.h"

#define SEED 0x1a2bull

FIXTURE(lazy)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	void *src;
	struct ibv_mr *src_mr;
};

FIXTURE_SETUP(lazy)
{
	/* Only the tests' own accesses may fault or invalidate. */
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	/* The local source is ordinary pinned memory with the pattern. */
	self->src = odp_map_fresh(ODP_BUF_LEN);
	ASSERT_NE(NULL, self->src);
	odp_fill(self->src, ODP_BUF_LEN, SEED, 0);
	self->src_mr = odp_reg_pinned(self->dev.pd, self->src, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->src_mr);
}

FIXTURE_TEARDOWN(lazy)
{
	if (self->src_mr)
		ibv_dereg_mr(self->src_mr);
	odp_unmap(self->src, ODP_BUF_LEN);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

static void log_delta(struct __test_metadata *_metadata, const char *when,
		      const struct odp_counters *a, const struct odp_counters *b)
{
	TH_LOG("%s: faults +%" PRIu64 ", pages faulted +%" PRIu64 ", invalidations +%" PRIu64
	       ", pages invalidated +%" PRIu64,
	       when, b->faults - a->faults, b->pages_faulted - a->pages_faulted,
	       b->invalidations - a->invalidations, b->pages_invalidated - a->pages_invalidated);
}

/* Registering 64 MiB of ODP memory faults nothing: counters and pagemap unchanged. */
TEST_F(lazy, registration_faults_nothing)
{
	const size_t len = 64ul << 20;
	struct odp_counters c0, c1;
	struct ibv_mr *mr;
	void *buf;

	buf = odp_map_fresh(len);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c0));
	mr = odp_reg(self->dev.pd, buf, len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c1));
	log_delta(_metadata, "registration", &c0, &c1);
	EXPECT_EQ(c0.faults, c1.faults);
	EXPECT_EQ(c0.pages_faulted, c1.pages_faulted);
	EXPECT_EQ(0, odp_pages_present(buf, len));
	ibv_dereg_mr(mr);
	odp_unmap(buf, len);
}

/*
 * An RDMA write into absent pages of an ODP MR faults them in: odp_faults
 * grows, odp_pages_faulted by at least the pages the message spans, and
 * the data lands byte for byte.
 */
TEST_F(lazy, rdma_write_into_absent_pages_faults)
{
	struct odp_counters c0, c1;
	bool have0, have1;
	struct ibv_mr *mr;
	uint8_t *dst;
	long span;

	dst = odp_map_fresh(ODP_BUF_LEN);
	ASSERT_NE(NULL, dst);
	mr = odp_reg(self->dev.pd, dst, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_pages_present(dst, ODP_BUF_LEN));
	span = odp_pages_spanned(dst + ODP_DST_OFF, ODP_MSG_LEN);

	have0 = odp_counters_read(&self->dev, &c0) == 0;
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, (uint8_t *)self->src + ODP_SRC_OFF,
				ODP_MSG_LEN, self->src_mr->lkey, (uintptr_t)dst + ODP_DST_OFF,
				mr->rkey));
	have1 = odp_counters_read(&self->dev, &c1) == 0;

	EXPECT_LE(span, odp_pages_present(dst + ODP_DST_OFF, ODP_MSG_LEN));
	EXPECT_EQ(-1, odp_check(dst + ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF, "written"));
	EXPECT_EQ(-1, odp_check_byte(dst, ODP_DST_OFF, 0, "before the message"));
	EXPECT_EQ(-1,
		  odp_check_byte(dst + ODP_DST_OFF + ODP_MSG_LEN,
				 ODP_BUF_LEN - ODP_DST_OFF - ODP_MSG_LEN, 0, "after the message"));
	ASSERT_TRUE(have0 && have1);
	log_delta(_metadata, "first write", &c0, &c1);
	EXPECT_LT(c0.faults, c1.faults);
	EXPECT_LE(c0.pages_faulted + (uint64_t)span, c1.pages_faulted);
	ibv_dereg_mr(mr);
	odp_unmap(dst, ODP_BUF_LEN);
}

/* Pages already mirrored are used as they are: a second write faults nothing. */
TEST_F(lazy, mirrored_pages_do_not_fault_again)
{
	struct odp_counters c0, c1;
	struct ibv_mr *mr;
	uint8_t *dst;

	dst = odp_map_fresh(ODP_BUF_LEN);
	ASSERT_NE(NULL, dst);
	mr = odp_reg(self->dev.pd, dst, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, (uint8_t *)self->src + ODP_SRC_OFF,
				ODP_MSG_LEN, self->src_mr->lkey, (uintptr_t)dst + ODP_DST_OFF,
				mr->rkey));
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c0));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)dst + ODP_DST_OFF, mr->rkey));
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c1));
	log_delta(_metadata, "second write", &c0, &c1);
	EXPECT_EQ(c0.faults, c1.faults);
	EXPECT_EQ(c0.pages_faulted, c1.pages_faulted);
	EXPECT_EQ(-1, odp_check(dst + ODP_DST_OFF, ODP_MSG_LEN, SEED, 0, "rewritten"));
	ibv_dereg_mr(mr);
	odp_unmap(dst, ODP_BUF_LEN);
}

/*
 * Each 64 MiB-aligned chunk of an explicit ODP MR is mirrored by its own
 * child umem, and a packet copy first tries the child of the MR's last
 * copy.  A message across a chunk boundary - written right after a copy
 * inside the lower chunk, then read back after one that ended in the upper
 * chunk - lands byte-exact, with the bytes around it untouched.
 */
#define CHUNK_LEN (64ul << 20)
#define CROSS_OFF 5000u /* the message starts this far below the boundary */

TEST_F(lazy, messages_across_a_chunk_boundary)
{
	const size_t len = 2 * CHUNK_LEN;
	struct ibv_mr *mr, *back_mr;
	uint8_t *dst, *bound, *back;

	dst = odp_map_fresh(len);
	ASSERT_NE(NULL, dst);
	back = odp_map_fresh(ODP_BUF_LEN);
	ASSERT_NE(NULL, back);
	back_mr = odp_reg_pinned(self->dev.pd, back, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, back_mr);
	mr = odp_reg(self->dev.pd, dst, len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	/* the first boundary above dst, with a chunk's room on either side */
	bound = (uint8_t *)(((uintptr_t)dst + CHUNK_LEN) & ~(CHUNK_LEN - 1));
	TH_LOG("MR %p+%zu, boundary at %p", (void *)dst, len, (void *)bound);

	/* a copy inside the lower chunk, then the message across */
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src, ODP_PAGE,
				self->src_mr->lkey, (uintptr_t)bound - 4 * ODP_PAGE, mr->rkey));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src, ODP_MSG_LEN,
				self->src_mr->lkey, (uintptr_t)bound - CROSS_OFF, mr->rkey));
	EXPECT_EQ(-1, odp_check(bound - CROSS_OFF, ODP_MSG_LEN, SEED, 0, "written across"));
	EXPECT_EQ(-1, odp_check_byte(bound - CROSS_OFF - 64, 64, 0, "before the message"));
	EXPECT_EQ(-1, odp_check_byte(bound - CROSS_OFF + ODP_MSG_LEN, 64, 0, "after the message"));

	/* the last copy ended in the upper chunk: read it back across */
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, back, ODP_MSG_LEN, back_mr->lkey,
				(uintptr_t)bound - CROSS_OFF, mr->rkey));
	EXPECT_EQ(-1, odp_check(back, ODP_MSG_LEN, SEED, 0, "read back across"));

	ibv_dereg_mr(mr);
	ibv_dereg_mr(back_mr);
	odp_unmap(back, ODP_BUF_LEN);
	odp_unmap(dst, len);
}

TEST_HARNESS_MAIN
