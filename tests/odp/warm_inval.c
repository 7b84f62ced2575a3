// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * An invalidation waits for a warm copy that is still using its page.
 *
 * A copy into pages an explicit ODP MR already mirrors goes through the
 * MR's warm translations and takes no lock (kernel/rxe_odp/rxe_odp_warm.c);
 * an invalidation of the page must still not return, and let the mm free
 * the page, before such a copy is done with it.  Two cases: the page's
 * translation is still among the warm ones when the invalidation comes,
 * and it was replaced meanwhile by a fill of another page (same slot), so
 * the invalidation finds nothing of its range to drop.
 *
 * The window is milliseconds wide only with the module's testing knob
 * warm_copy_delay_ms, which makes every warm copy busy-wait between reading
 * the translations and copying.  A test posts an RDMA write that takes the
 * warm path, then (on the other CPU) does MADV_DONTNEED on the target page
 * while that write waits, and checks that madvise() returned only after the
 * copy could have ended.  When the write instead came after the
 * invalidation (it then faults a new page and has no delay, and its data is
 * visible), the round proves nothing and is repeated.  Needs two CPUs.
 */
#include "odp_common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "odp_harness.h"

#define PARAM_DELAY "warm_copy_delay_ms"
/* The copy's delay and the wait before madvise; longer on the debug kernel. */
#define DELAY_MS 300u
#define DELAY_MS_SLOW 1000u
#define ROUNDS 3
/* The module's warm translations: slot = page number mod 8. */
#define WARM_SLOTS 8ul
#define REGION_PAGES (2 * WARM_SLOTS)
#define PG(n) ((size_t)(n)*ODP_PAGE)
/* The write of a round: 8 bytes in page 1; page 1 + 8 shares its slot. */
#define X_OFF (PG(1) + 100)
#define Y_OFF (PG(1 + WARM_SLOTS) + 200)
#define MSG 8u

FIXTURE(winv)
{
	struct odp_dev dev;
	struct odp_rc_pair rc1, rc2;
	uint8_t *src;
	struct ibv_mr *src_mr;
	uint8_t *region;
	struct ibv_mr *mr;
	char saved_delay[32];
	bool delay_saved;
};

FIXTURE_SETUP(winv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 2)
		SKIP(return,
			   "needs 2 CPUs (the write waits on one while madvise runs on the other); "
			   "%ld online",
			   cpus);
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc1, NULL));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc2, NULL));
	/* pinned source: only the target's copy takes the warm path */
	self->src = odp_map_fresh(ODP_PAGE);
	ASSERT_NE(NULL, self->src);
	memset(self->src, 0, ODP_PAGE);
	self->src_mr = odp_reg_pinned(self->dev.pd, self->src, ODP_PAGE, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->src_mr);
	self->region = odp_map_fresh(PG(REGION_PAGES));
	ASSERT_NE(NULL, self->region);
	self->mr = odp_reg(self->dev.pd, self->region, PG(REGION_PAGES), ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->mr);
	ASSERT_EQ(0, odp_param_save_and_write(PARAM_DELAY, self->saved_delay,
					      sizeof(self->saved_delay), 0));
	self->delay_saved = true;
}

FIXTURE_TEARDOWN(winv)
{
	if (self->delay_saved)
		odp_param_restore(PARAM_DELAY, self->saved_delay);
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->region)
		odp_unmap(self->region, PG(REGION_PAGES));
	if (self->src_mr)
		ibv_dereg_mr(self->src_mr);
	if (self->src)
		odp_unmap(self->src, ODP_PAGE);
	if (self->rc2.a)
		odp_rc_pair_destroy(&self->rc2);
	if (self->rc1.a)
		odp_rc_pair_destroy(&self->rc1);
	if (self->dev.ctx)
		odp_dev_close(&self->dev);
}

/* A synchronous 8-byte RDMA write of seed's pattern to region + off. */
static int write_sync(FIXTURE_DATA(winv) * self, struct odp_rc_pair *rc, size_t off, uint64_t seed)
{
	odp_fill(self->src, MSG, seed, off);
	return odp_rdma_sync(rc, IBV_WR_RDMA_WRITE, self->src, MSG, self->src_mr->lkey,
			     (uintptr_t)(self->region + off), self->mr->rkey);
}

enum round_result { ROUND_WAITED, ROUND_RETURNED_EARLY, ROUND_INCONCLUSIVE, ROUND_ERROR };

/*
 * One round: X's page mirrored and its translation warm, then a delayed
 * warm write to X, optionally a write to Y (the same slot) while it waits,
 * then MADV_DONTNEED of X's page, timed.
 */
static enum round_result one_round(FIXTURE_DATA(winv) * self, bool evict, uint64_t seed)
{
	/* a completion deadline raised past the default: a slow (debug) kernel */
	unsigned int delay_ms = odp_timeout_ms() > 20000 ? DELAY_MS_SLOW : DELAY_MS;
	uint64_t t_post, t_madv0, t_madv1;
	double waited_ms, madv_start_ms, madv_end_ms;
	uint8_t got[MSG], sent[MSG];
	int st;

	/* mirror X's page (a fault) and Y's, then make X's translation warm */
	memset(self->region + PG(1), 0x5a, ODP_PAGE);
	memset(self->region + PG(1 + WARM_SLOTS), 0x5a, ODP_PAGE);
	if (write_sync(self, &self->rc1, X_OFF, seed) != IBV_WC_SUCCESS ||
	    write_sync(self, &self->rc1, X_OFF, seed + 1) != IBV_WC_SUCCESS) {
		odp_log("warming writes to X failed");
		return ROUND_ERROR;
	}
	if (odp_param_write_uint(PARAM_DELAY, delay_ms))
		return ROUND_ERROR;

	odp_fill(self->src, MSG, seed + 2, X_OFF);
	t_post = odp_now_ns();
	if (odp_post_rdma(self->rc1.a, IBV_WR_RDMA_WRITE, self->src, MSG, self->src_mr->lkey,
			  (uintptr_t)(self->region + X_OFF), self->mr->rkey, 1))
		return ROUND_ERROR;
	usleep(delay_ms * 1000 / 6);
	if (evict) {
		/* not warm: the slow path, whose fill replaces X's translation */
		st = write_sync(self, &self->rc2, Y_OFF, seed + 3);
		if (st != IBV_WC_SUCCESS) {
			odp_log("write to Y: status %d", st);
			return ROUND_ERROR;
		}
	}
	t_madv0 = odp_now_ns();
	if (madvise(self->region + PG(1), ODP_PAGE, MADV_DONTNEED)) {
		odp_log("madvise: %m");
		return ROUND_ERROR;
	}
	t_madv1 = odp_now_ns();
	if (odp_wait_ok(self->rc1.cq_a, IBV_WC_RDMA_WRITE, NULL))
		return ROUND_ERROR;
	if (odp_param_write_uint(PARAM_DELAY, 0))
		return ROUND_ERROR;

	waited_ms = (double)(t_madv1 - t_madv0) / 1e6;
	madv_start_ms = (double)(t_madv0 - t_post) / 1e6;
	madv_end_ms = (double)(t_madv1 - t_post) / 1e6;
	memcpy(got, self->region + X_OFF, MSG);
	odp_fill(sent, MSG, seed + 2, X_OFF);
	odp_log("%s: madvise started %.1f ms after the post, took %.1f ms (the delay: %u ms)",
		evict ? "evicted" : "warm", madv_start_ms, waited_ms, delay_ms);

	if (!memcmp(got, sent, MSG)) {
		/* the write's data is in the new page: it faulted after the
		 * invalidation, so there was nothing to wait for */
		odp_log("the write came after the invalidation: the round proves nothing");
		return ROUND_INCONCLUSIVE;
	}
	/* the copy began after the post and busy-waits delay_ms: not over yet? */
	if (madv_start_ms >= delay_ms) {
		odp_log("madvise started after the copy could have ended: the round proves "
			"nothing");
		return ROUND_INCONCLUSIVE;
	}
	if (odp_check_byte(got, MSG, 0, "X after MADV_DONTNEED") >= 0)
		return ROUND_ERROR;
	/* the copy began after the post and busy-waited delay_ms before copying */
	return madv_end_ms >= delay_ms ? ROUND_WAITED : ROUND_RETURNED_EARLY;
}

static void run_rounds(struct __test_metadata *_metadata, FIXTURE_DATA(winv) * self, bool evict)
{
	enum round_result r = ROUND_INCONCLUSIVE;
	int i;

	for (i = 0; i < ROUNDS && r == ROUND_INCONCLUSIVE; i++)
		r = one_round(self, evict, 0x3a00 + 16 * (uint64_t)i);
	ASSERT_NE((int)ROUND_ERROR, (int)r);
	if (r == ROUND_INCONCLUSIVE)
		SKIP(return, "%d rounds without a copy in flight at the invalidation", ROUNDS);
	if (r == ROUND_RETURNED_EARLY)
		odp_log("madvise returned before the copy through its page could have ended: the "
			"mm may free the page under the copy");
	ASSERT_EQ((int)ROUND_WAITED, (int)r);
}

/* X's translation is still warm: the invalidation drops it and waits. */
TEST_F_TIMEOUT(winv, madvise_waits_for_warm_copy, 120)
{
	run_rounds(_metadata, self, false);
}

/* A fill of Y replaced X's translation while the copy through it waits. */
TEST_F_TIMEOUT(winv, madvise_waits_for_copy_of_evicted_translation, 120)
{
	run_rounds(_metadata, self, true);
}

/* The knob: 0 to 1000 ms; anything else is EINVAL and changes nothing. */
TEST_F(winv, delay_knob_refuses_bad_values)
{
	static const char *const bad[] = { "1001", "-1", "x", "5ms" };
	static const char *const good[] = { "1", "1000", "0" };

	EXPECT_EQ(0, odp_param_check_values(PARAM_DELAY, "0", bad, sizeof(bad) / sizeof(bad[0]),
					    good, sizeof(good) / sizeof(good[0])));
}

TEST_HARNESS_MAIN
