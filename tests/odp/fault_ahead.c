// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Fault-ahead: a copy into (or out of) an ODP MR that misses while it goes
 * on where the last copy ended queues a prefetch of the next
 * fault_ahead_pages pages, which another CPU faults in while the transfer
 * goes on; the stream keeps that far ahead.  Never past the MR or the VMA
 * where it starts, never for writes over file pages, nothing for
 * non-sequential access; 0 turns it off.  Its pages are counted in
 * odp_pages_prefetched.
 *
 * The tests set fault_around_pages to 16 and fault_ahead_pages as they need
 * and restore both in teardown.  The fault-ahead is asynchronous, so the
 * tests wait for the mirror to settle before they count.
 */
#include "odp_common.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "odp_harness.h"

#define SEED 0xfa2dull
#define PARAM_AHEAD "fault_ahead_pages"
#define PARAM_AROUND "fault_around_pages"
#define WIN 16ul
#define AHEAD 64ul
/* The region: 128 pages, 64 KiB-aligned, small pages only. */
#define REGION_PAGES 128ul
#define PG(n) ((size_t)(n)*ODP_PAGE)
#define REGION_LEN PG(REGION_PAGES)
/* The sequential message: two fault-around windows, many packets. */
#define STREAM_LEN PG(2 * WIN)

FIXTURE(fah)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	uint8_t *src;
	struct ibv_mr *src_mr;
	void *raw;
	size_t raw_len;
	uint8_t *base;
	char saved_ahead[32];
	char saved_around[32];
};

FIXTURE_SETUP(fah)
{
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, odp_param_read(PARAM_AHEAD, self->saved_ahead, sizeof(self->saved_ahead)));
	ASSERT_EQ(0, odp_param_save_and_write(PARAM_AROUND, self->saved_around,
					      sizeof(self->saved_around), 16));
	self->src = odp_map_fresh(REGION_LEN);
	ASSERT_NE(NULL, self->src);
	odp_fill(self->src, REGION_LEN, SEED, 0);
	self->src_mr = odp_reg_pinned(self->dev.pd, self->src, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->src_mr);

	self->raw_len = REGION_LEN + PG(WIN);
	self->raw = odp_map_fresh(self->raw_len);
	ASSERT_NE(NULL, self->raw);
	ASSERT_EQ(0, madvise(self->raw, self->raw_len, MADV_NOHUGEPAGE));
	self->base = (uint8_t *)(((uintptr_t)self->raw + PG(WIN) - 1) & ~(PG(WIN) - 1));
}

FIXTURE_TEARDOWN(fah)
{
	odp_param_restore(PARAM_AHEAD, self->saved_ahead);
	odp_param_restore(PARAM_AROUND, self->saved_around);
	odp_unmap(self->raw, self->raw_len);
	if (self->src_mr)
		ibv_dereg_mr(self->src_mr);
	odp_unmap(self->src, REGION_LEN);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

static int set_ahead(unsigned long pages)
{
	return odp_param_write_uint(PARAM_AHEAD, pages);
}

/* RDMA write of len pattern bytes (source offset off) to base + off. */
static int write_at(FIXTURE_DATA(fah) * self, struct ibv_mr *mr, size_t off, uint32_t len)
{
	return odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + off, len, self->src_mr->lkey,
			     (uintptr_t)self->base + off, mr->rkey);
}

/*
 * Pages present in [addr, addr + len) once they stop changing (a queued
 * fault-ahead has run): the count after a quiet spell without change (300
 * ms, longer where the deadline is: the debug kernel), or -1 if it never
 * settles within the test deadline.
 */
static long settled_present(const void *addr, size_t len)
{
	uint64_t deadline = odp_now_ns() + (uint64_t)odp_timeout_ms() * 1000000u;
	uint64_t quiet = (uint64_t)odp_timeout_ms() * 10000u; /* 1% of the deadline */
	long last = odp_pages_present(addr, len), now;
	uint64_t since = odp_now_ns();

	if (quiet < 300000000u)
		quiet = 300000000u;

	while (odp_now_ns() < deadline) {
		usleep(20000);
		now = odp_pages_present(addr, len);
		if (now != last) {
			last = now;
			since = odp_now_ns();
		} else if (odp_now_ns() - since > quiet) {
			return now;
		}
	}
	return -1;
}

struct mirrored {
	uint64_t faulted;
	uint64_t prefetched;
};

static int mirrored_read(const struct odp_dev *d, struct mirrored *m)
{
	struct odp_counters c;
	int ret = odp_counters_read(d, &c);

	if (ret)
		return ret;
	m->faulted = c.pages_faulted;
	return odp_counter_read(d, "odp_pages_prefetched", &m->prefetched);
}

/* Pages mirrored by faults and by prefetch (fault-ahead) since *m. */
#define EXPECT_MIRRORED(m, want_faulted_plus_prefetched, prefetched_min, prefetched_max) \
	do {                                                                             \
		struct mirrored now_;                                                    \
		uint64_t f_, p_;                                                         \
		ASSERT_EQ(0, mirrored_read(&self->dev, &now_));                          \
		f_ = now_.faulted - (m).faulted;                                         \
		p_ = now_.prefetched - (m).prefetched;                                   \
		TH_LOG("pages faulted +%" PRIu64 ", prefetched +%" PRIu64, f_, p_);      \
		EXPECT_EQ((uint64_t)(want_faulted_plus_prefetched), f_ + p_);            \
		EXPECT_LE((uint64_t)(prefetched_min), p_);                               \
		EXPECT_GE((uint64_t)(prefetched_max), p_);                               \
	} while (0)

/*
 * A 32-page write: its second window misses while the write goes on, which
 * starts a stream: pages past the write, up to AHEAD pages past the copy
 * that missed, get mirrored without anything touching them.
 */
TEST_F(fah, sequential_write_faults_ahead)
{
	struct mirrored m;
	struct ibv_mr *mr;
	long present;

	ASSERT_EQ(0, set_ahead(AHEAD));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, STREAM_LEN));
	present = settled_present(self->base, REGION_LEN);
	TH_LOG("%ld pages present", present);
	/* the stream starts in page 16 and reaches AHEAD pages past it */
	EXPECT_LT((long)(2 * WIN), present);
	EXPECT_GE((long)(WIN + 1 + AHEAD), present);
	EXPECT_EQ(1, odp_pages_present(self->base + PG(2 * WIN + 8), PG(1)));
	EXPECT_MIRRORED(m, present, 1, present - WIN);
	EXPECT_EQ(-1, odp_check(self->base, STREAM_LEN, SEED, 0, "written"));
	EXPECT_EQ(-1, odp_check_byte(self->base + STREAM_LEN, PG(8), 0, "ahead, unwritten"));
	ibv_dereg_mr(mr);
}

/* At 0 the same write mirrors its two windows and nothing else. */
TEST_F(fah, zero_turns_it_off)
{
	struct mirrored m;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_ahead(0));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, STREAM_LEN));
	EXPECT_EQ((long)(2 * WIN), settled_present(self->base, REGION_LEN));
	EXPECT_MIRRORED(m, 2 * WIN, 0, 0);
	EXPECT_EQ(-1, odp_check(self->base, STREAM_LEN, SEED, 0, "written"));
	ibv_dereg_mr(mr);
}

/*
 * A long stream keeps its fault-ahead going past what the first one
 * queued: a 112-page write with AHEAD 64 mirrors the whole 128-page region
 * (its end is 16 pages away, inside the distance).
 */
TEST_F(fah, stream_keeps_ahead)
{
	struct mirrored m;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_ahead(AHEAD));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, PG(REGION_PAGES - WIN)));
	EXPECT_EQ((long)REGION_PAGES, settled_present(self->base, REGION_LEN));
	EXPECT_MIRRORED(m, REGION_PAGES, WIN, REGION_PAGES - WIN);
	EXPECT_EQ(-1, odp_check(self->base, PG(REGION_PAGES - WIN), SEED, 0, "written"));
	ibv_dereg_mr(mr);
}

/*
 * One-packet writes that each miss, but none starting where the last one
 * ended: no stream, no fault-ahead.
 */
TEST_F(fah, scattered_writes_do_not_fault_ahead)
{
	struct mirrored m;
	struct ibv_mr *mr;
	int i;

	ASSERT_EQ(0, set_ahead(AHEAD));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	for (i = 7; i >= 0; i--)
		ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(i * WIN) + 100, 900));
	EXPECT_EQ((long)REGION_PAGES, settled_present(self->base, REGION_LEN));
	EXPECT_MIRRORED(m, REGION_PAGES, 0, 0);
	ibv_dereg_mr(mr);
}

/* The stream stops at the end of the MR: nothing after it is mirrored. */
TEST_F(fah, stays_inside_the_mr)
{
	struct mirrored m;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_ahead(AHEAD));
	mr = odp_reg(self->dev.pd, self->base, PG(40), ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, STREAM_LEN));
	EXPECT_EQ(40, settled_present(self->base, REGION_LEN));
	EXPECT_EQ(40, odp_pages_present(self->base, PG(40)));
	EXPECT_MIRRORED(m, 40, 1, 40 - WIN);
	ibv_dereg_mr(mr);
}

/* ... and at the end of the VMA it starts in: a PROT_NONE page at 48. */
TEST_F(fah, stops_at_a_guard_page)
{
	struct mirrored m;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_ahead(AHEAD));
	ASSERT_EQ(0, mprotect(self->base + PG(48), PG(1), PROT_NONE));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, STREAM_LEN));
	EXPECT_EQ(48, settled_present(self->base, REGION_LEN));
	EXPECT_MIRRORED(m, 48, 1, 48 - WIN);
	/* the MR is still fine past the guard */
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(64) + 5, 900));
	EXPECT_EQ(-1, odp_check(self->base + PG(64) + 5, 900, SEED, PG(64) + 5, "past"));
	ibv_dereg_mr(mr);
}

/*
 * The read direction: the read responses that land in a local ODP MR
 * stream into it and fault ahead (read from a pinned source).
 */
TEST_F(fah, read_responses_fault_ahead)
{
	struct mirrored m;
	struct ibv_mr *mr;
	long present;

	ASSERT_EQ(0, set_ahead(AHEAD));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->base, STREAM_LEN, mr->lkey,
				(uintptr_t)self->src, self->src_mr->rkey));
	present = settled_present(self->base, REGION_LEN);
	EXPECT_LT((long)(2 * WIN), present);
	EXPECT_MIRRORED(m, present, 1, present - WIN);
	EXPECT_EQ(-1, odp_check(self->base, STREAM_LEN, SEED, 0, "read"));
	ibv_dereg_mr(mr);
}

/*
 * Over a shared file mapping a write stream faults nothing ahead (no file
 * page gets dirtied that nobody wrote).
 */
TEST_F(fah, write_stream_does_not_fault_file_pages_ahead)
{
	char path[] = "/var/tmp/rxe-odp-fah-XXXXXX";
	struct statfs sfs;
	struct mirrored m;
	struct ibv_mr *mr;
	int fd;

	ASSERT_EQ(0, set_ahead(AHEAD));
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(0, fstatfs(fd, &sfs));
	if (sfs.f_type == TMPFS_MAGIC) {
		close(fd);
		SKIP(return, "/var/tmp is tmpfs here: no page-cache file to test with");
	}
	ASSERT_EQ(0, ftruncate(fd, REGION_LEN));
	ASSERT_NE(MAP_FAILED, mmap(self->base, REGION_LEN, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_FIXED, fd, 0));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, mirrored_read(&self->dev, &m));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, STREAM_LEN));
	EXPECT_EQ((long)(2 * WIN), settled_present(self->base, REGION_LEN));
	EXPECT_MIRRORED(m, 2 * WIN, 0, 0);
	EXPECT_EQ(-1, odp_check(self->base, STREAM_LEN, SEED, 0, "written"));
	ibv_dereg_mr(mr);
	close(fd);
}

/*
 * Deregistering (and unmapping) right after a long stream, with its
 * fault-ahead still queued or running, neither hangs nor fails; the next
 * MR at the same place starts clean.
 */
TEST_F(fah, dereg_while_faulting_ahead)
{
	uint64_t t0, worst = 0;
	struct ibv_mr *mr;
	int i;

	ASSERT_EQ(0, set_ahead(16384));
	for (i = 0; i < 10; i++) {
		mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
		ASSERT_NE(NULL, mr);
		ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, 0, STREAM_LEN));
		t0 = odp_now_ns();
		ASSERT_EQ(0, ibv_dereg_mr(mr));
		if (odp_now_ns() - t0 > worst)
			worst = odp_now_ns() - t0;
		ASSERT_EQ(0, madvise(self->base, REGION_LEN, MADV_DONTNEED));
	}
	TH_LOG("slowest dereg %.1f ms", worst / 1e6);
	EXPECT_GT((uint64_t)odp_timeout_ms() * 1000000u, worst);
}

/* Up to 16384 pages; anything else is EINVAL and changes nothing. */
TEST_F(fah, bad_values_are_refused)
{
	const char *const bad[] = { "16385", "-1", "x", "1024x" };
	const char *const good[] = { "0", "1", "16384", "1024" };

	EXPECT_EQ(0, odp_param_check_values(PARAM_AHEAD, "64", bad, sizeof(bad) / sizeof(bad[0]),
					    good, sizeof(good) / sizeof(good[0])));
}

TEST_HARNESS_MAIN
