// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Bad accesses to ODP memory fail the way the verbs specification says:
 * a remote access error for the rkey side, a local protection error for
 * the lkey side (a key that fails lookup fails as stock rxe has it); the QP that saw the error goes
 * to the error state, while the device, a QP pair that was already running, and a fresh QP pair on
 * the same MR keep working.
 */
#include "odp_common.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "odp_harness.h"

#define SEED 0xbad5eedull
#define REGION_LEN (6 * ODP_PAGE)
/* The page made bad (a hole, PROT_NONE) and a message through it. */
#define BAD_PAGE (2 * ODP_PAGE)
#define BAD_MSG_OFF (BAD_PAGE - 700)
#define BAD_MSG_LEN 2345u
/* A good range of the MR, away from the bad page: unaligned, over a page boundary. */
#define GOOD_OFF 123u
#define GOOD_LEN (ODP_PAGE + 1500)

FIXTURE(bad)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;	      /* the pair that makes the bad access */
	struct odp_rc_pair bystander; /* a pair already running on the same device */
	uint8_t *r;		      /* ODP memory */
	struct ibv_mr *mr;
	uint8_t *l; /* pinned, holds the pattern */
	struct ibv_mr *lmr;
	struct ibv_pd *pd2;
	struct ibv_mr *mr2; /* ODP MR of another PD */
	uint8_t *r2;
};

/*
 * Whether the MR's pages were mirrored (written over RDMA) before the bad
 * access: "cold", the failing fault itself is tested; "mirrored", the
 * change (munmap, mprotect) must first take the pages out of the mirror.
 */
FIXTURE_VARIANT(bad)
{
	bool mirrored;
};

/* clang-format off */
FIXTURE_VARIANT_ADD(bad, cold)
{
	.mirrored = false,
};

FIXTURE_VARIANT_ADD(bad, mirrored)
{
	.mirrored = true,
};
/* clang-format on */

FIXTURE_SETUP(bad)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->bystander, NULL));
	self->r = odp_map_fresh(REGION_LEN);
	self->l = odp_map_fresh(REGION_LEN);
	ASSERT_NE(NULL, self->r);
	ASSERT_NE(NULL, self->l);
	odp_fill(self->l, REGION_LEN, SEED, 0);
	self->mr = odp_reg(self->dev.pd, self->r, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->mr);
	self->lmr = odp_reg_pinned(self->dev.pd, self->l, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->lmr);
	if (variant->mirrored)
		ASSERT_EQ(IBV_WC_SUCCESS,
			  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l, REGION_LEN,
					self->lmr->lkey, (uintptr_t)self->r, self->mr->rkey));
}

/* [off, off+len) of the MR holds what setup left there. */
static bool r_unchanged(FIXTURE_DATA(bad) * self, const FIXTURE_VARIANT(bad) * variant, size_t off,
			size_t len, const char *what)
{
	if (variant->mirrored)
		return odp_check(self->r + off, len, SEED, off, what) < 0;
	return odp_check_byte(self->r + off, len, 0, what) < 0;
}

FIXTURE_TEARDOWN(bad)
{
	if (self->mr2)
		ibv_dereg_mr(self->mr2);
	if (self->pd2)
		ibv_dealloc_pd(self->pd2);
	odp_unmap(self->r2, REGION_LEN);
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	odp_unmap(self->r, REGION_LEN);
	odp_unmap(self->l, REGION_LEN);
	odp_rc_pair_destroy(&self->rc);
	odp_rc_pair_destroy(&self->bystander);
	odp_dev_close(&self->dev);
}

/* On pair p: write a good range of the MR from l, read it back into l2, compare. */
static bool good_access_works(FIXTURE_DATA(bad) * self, struct odp_rc_pair *p, const char *who)
{
	uint8_t back[GOOD_LEN];
	struct ibv_mr *bmr;
	bool ok = true;
	int st;

	st = odp_rdma_sync(p, IBV_WR_RDMA_WRITE, self->l + GOOD_OFF, GOOD_LEN, self->lmr->lkey,
			   (uintptr_t)self->r + GOOD_OFF, self->mr->rkey);
	if (st != IBV_WC_SUCCESS) {
		odp_log("%s: RDMA write into good pages failed (%d)", who, st);
		return false;
	}
	memset(back, 0, sizeof(back));
	bmr = odp_reg_pinned(self->dev.pd, back, sizeof(back), ODP_ACCESS_ALL);
	if (!bmr)
		return false;
	st = odp_rdma_sync(p, IBV_WR_RDMA_READ, back, GOOD_LEN, bmr->lkey,
			   (uintptr_t)self->r + GOOD_OFF, self->mr->rkey);
	if (st != IBV_WC_SUCCESS) {
		odp_log("%s: RDMA read of good pages failed (%d)", who, st);
		ok = false;
	}
	ok = ok && odp_check(back, GOOD_LEN, SEED, GOOD_OFF, who) < 0;
	ok = ok && odp_check(self->r + GOOD_OFF, GOOD_LEN, SEED, GOOD_OFF, who) < 0;
	ibv_dereg_mr(bmr);
	return ok;
}

/* After an error completion: the QP is in error; the rest keeps working. */
static void after_error(struct __test_metadata *_metadata, FIXTURE_DATA(bad) * self)
{
	EXPECT_EQ(0, odp_wait_qp_state(self->rc.a, IBV_QPS_ERR));
	EXPECT_TRUE(good_access_works(self, &self->bystander, "QP pair running beside"));
	odp_rc_pair_destroy(&self->rc);
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	EXPECT_TRUE(good_access_works(self, &self->rc, "fresh QP pair"));
}

/* RDMA write whose remote range runs past the end of the MR. */
TEST_F(bad, rkey_range_past_mr_end_is_remote_access_error)
{
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l, 300, self->lmr->lkey,
				(uintptr_t)self->r + REGION_LEN - 100, self->mr->rkey));
	EXPECT_TRUE(r_unchanged(self, variant, REGION_LEN - 100, 100, "end of the MR"));
	after_error(_metadata, self);
}

/* RDMA write whose local (ODP) source runs past the end of its MR. */
TEST_F(bad, lkey_range_past_mr_end_is_local_protection_error)
{
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->r + REGION_LEN - 100, 300,
				self->mr->lkey, (uintptr_t)self->l, self->lmr->rkey));
	EXPECT_EQ(-1, odp_check(self->l, REGION_LEN, SEED, 0, "target of a failed write"));
	after_error(_metadata, self);
}

/* RDMA write into a hole (an unmapped page inside the MR). */
TEST_F(bad, hole_remote_write_is_remote_access_error)
{
	ASSERT_EQ(0, munmap(self->r + BAD_PAGE, ODP_PAGE));
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l, BAD_MSG_LEN, self->lmr->lkey,
				(uintptr_t)self->r + BAD_MSG_OFF, self->mr->rkey));
	after_error(_metadata, self);
}

/* RDMA write whose local (ODP) source runs through a hole. */
TEST_F(bad, hole_local_source_is_local_protection_error)
{
	ASSERT_EQ(0, munmap(self->r + BAD_PAGE, ODP_PAGE));
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->r + BAD_MSG_OFF, BAD_MSG_LEN,
				self->mr->lkey, (uintptr_t)self->l, self->lmr->rkey));
	after_error(_metadata, self);
}

/* RDMA read from a PROT_NONE page of the MR. */
TEST_F(bad, prot_none_remote_read_is_remote_access_error)
{
	memset(self->r, 0x11, REGION_LEN);
	ASSERT_EQ(0, mprotect(self->r + BAD_PAGE, ODP_PAGE, PROT_NONE));
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->l, BAD_MSG_LEN, self->lmr->lkey,
				(uintptr_t)self->r + BAD_MSG_OFF, self->mr->rkey));
	after_error(_metadata, self);
}

/* RDMA read into a local (ODP) buffer with a PROT_NONE page. */
TEST_F(bad, prot_none_local_sink_is_local_protection_error)
{
	ASSERT_EQ(0, mprotect(self->r + BAD_PAGE, ODP_PAGE, PROT_NONE));
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->r + BAD_MSG_OFF, BAD_MSG_LEN,
				self->mr->lkey, (uintptr_t)self->l, self->lmr->rkey));
	ASSERT_EQ(0, mprotect(self->r + BAD_PAGE, ODP_PAGE, PROT_READ | PROT_WRITE));
	EXPECT_TRUE(r_unchanged(self, variant, BAD_PAGE, ODP_PAGE, "PROT_NONE page"));
	after_error(_metadata, self);
}

static int other_pd_mr(FIXTURE_DATA(bad) * self)
{
	self->pd2 = ibv_alloc_pd(self->dev.ctx);
	self->r2 = odp_map_fresh(REGION_LEN);
	if (!self->pd2 || !self->r2)
		return -ENOMEM;
	self->mr2 = odp_reg(self->pd2, self->r2, REGION_LEN, ODP_ACCESS_ALL);
	return self->mr2 ? 0 : -EINVAL;
}

/* RDMA write with the rkey of an ODP MR of another PD. */
TEST_F(bad, wrong_pd_rkey_is_remote_access_error)
{
	ASSERT_EQ(0, other_pd_mr(self));
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l, BAD_MSG_LEN, self->lmr->lkey,
				(uintptr_t)self->r2 + 100, self->mr2->rkey));
	EXPECT_EQ(-1, odp_check_byte(self->r2, REGION_LEN, 0, "MR of the other PD"));
	after_error(_metadata, self);
}

/*
 * RDMA write from a local buffer given with the lkey of an ODP MR of another
 * PD: the lookup fails before ODP is reached, so the status is stock rxe's,
 * the same as with the lkey of a pinned MR of that PD.
 */
TEST_F(bad, wrong_pd_lkey_fails_as_with_a_pinned_mr)
{
	struct ibv_mr *pinned2;
	int st_pinned;

	ASSERT_EQ(0, other_pd_mr(self));
	pinned2 = odp_reg_pinned(self->pd2, self->r2, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, pinned2);
	st_pinned = odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->r2 + 100, BAD_MSG_LEN,
				  pinned2->lkey, (uintptr_t)self->l, self->lmr->rkey);
	EXPECT_NE(IBV_WC_SUCCESS, st_pinned);
	after_error(_metadata, self);

	EXPECT_EQ(st_pinned,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->r2 + 100, BAD_MSG_LEN,
				self->mr2->lkey, (uintptr_t)self->l, self->lmr->rkey));
	EXPECT_EQ(-1, odp_check(self->l, REGION_LEN, SEED, 0, "target of a failed write"));
	after_error(_metadata, self);
	ibv_dereg_mr(pinned2);
}

TEST_HARNESS_MAIN
