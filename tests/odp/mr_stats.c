// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Per-MR ODP statistics, read as a user reads them: the JSON of
 * `rdma -j -dd resource show mr`.  Each statistic moves exactly as the
 * operations done say it must:
 *   odp_faults / odp_pages_faulted      one fault and one page for each
 *                                       first touch of a distinct page
 *                                       (fault-around off), none for a
 *                                       warm access;
 *   odp_invalidations /                 one invalidation, and the pages
 *   odp_pages_invalidated               mirrored there, for each
 *                                       MADV_DONTNEED, mprotect or munmap
 *                                       of mirrored pages;
 *   odp_prefetches /                    one per ibv_advise_mr() SGE; the
 *   odp_pages_prefetched                pages it mirrored anew;
 *   odp_pages_mirrored                  what is mirrored now;
 *   odp_chunks / odp_chunks_released    an implicit MR's live chunks and
 *                                       those released by an unmap or the
 *                                       implicit_max_children bound.
 * A pinned MR shows none of them, and each MR only its own.
 */
#include "odp_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "odp_harness.h"

#define NPAGES 8
#define REGION_LEN (NPAGES * ODP_PAGE)
#define CHILD_SIZE (64ul << 20)
#define SEED 0x5eed19

enum {
	S_FAULTS,
	S_PAGES_FAULTED,
	S_INVALIDATIONS,
	S_PAGES_INVALIDATED,
	S_PREFETCHES,
	S_PAGES_PREFETCHED,
	S_PAGES_MIRRORED,
	S_CHUNKS,
	S_CHUNKS_RELEASED,
	S_NR
};

/* As rdma's JSON names them: the driver's attributes get a "drv_" prefix. */
static const char *const stat_names[S_NR] = {
	"odp_faults",	       "odp_pages_faulted",
	"odp_invalidations",   "odp_pages_invalidated",
	"odp_prefetches",      "odp_pages_prefetched",
	"odp_pages_mirrored",  "odp_chunks",
	"odp_chunks_released",
};

/* One MR's line of `rdma -j -dd resource show mr`; -1: not shown. */
struct mr_stats {
	char odp[16];
	long long v[S_NR];
};

/* The value of "key" (or "drv_key") in a flat JSON object [obj, end), or NULL. */
static const char *json_value(const char *obj, const char *end, const char *key, bool drv)
{
	char pat[64];
	const char *p;
	size_t n;

	n = (size_t)snprintf(pat, sizeof(pat), "\"%s%s\":", drv ? "drv_" : "", key);
	for (p = obj; p && p + n <= end; p = memchr(p + 1, '"', (size_t)(end - p - 1))) {
		p = memchr(p, '"', (size_t)(end - p));
		if (!p || p + n > end)
			return NULL;
		if (!strncmp(p, pat, n)) {
			p += n;
			while (p < end && *p == ' ')
				p++;
			return p;
		}
	}
	return NULL;
}

/* A JSON number, or a hex string as rdma prints keys ("d75"); -1 if neither. */
static long long json_number(const char *v)
{
	int base = 10;
	long long x;
	char *e;

	if (!v)
		return -1;
	if (*v == '"') {
		v++;
		base = 16;
	}
	errno = 0;
	x = strtoll(v, &e, base);
	return errno || e == v ? -1 : x;
}

/*
 * The statistics of mr as `rdma -j -dd resource show mr` prints them: its
 * object is the one with its lkey on our device.  0, or -ENOENT (the
 * output logged) when the MR is not listed.
 */
static int mr_stats_read(const struct odp_dev *d, const struct ibv_mr *mr, struct mr_stats *s)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap), *obj, *end;
	const char *v;
	FILE *f;
	size_t n;
	int i;

	if (!buf)
		return -ENOMEM;
	f = popen("rdma -j -dd resource show mr 2>&1", "r");
	if (!f) {
		free(buf);
		return -errno;
	}
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				pclose(f);
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
	}
	buf[len] = 0;
	pclose(f);

	for (obj = strchr(buf, '{'); obj; obj = strchr(end, '{')) {
		end = strchr(obj, '}');
		if (!end)
			break;
		v = json_value(obj, end, "ifname", false);
		if (v && strncmp(v + 1, d->name, strlen(d->name)))
			continue;
		if (json_number(json_value(obj, end, "lkey", false)) != (long long)mr->lkey)
			continue;
		memset(s, 0, sizeof(*s));
		v = json_value(obj, end, "odp", true);
		if (v && *v == '"')
			sscanf(v + 1, "%15[^\"]", s->odp);
		for (i = 0; i < S_NR; i++)
			s->v[i] = json_number(json_value(obj, end, stat_names[i], true));
		free(buf);
		return 0;
	}
	odp_log("lkey %#x of %s not in `rdma -j -dd resource show mr`: %.2000s", mr->lkey, d->name,
		buf);
	free(buf);
	return -ENOENT;
}

/* Statistics of an ODP MR: as mr_stats_read(), every counter present. */
static int odp_stats(const struct odp_dev *d, const struct ibv_mr *mr, struct mr_stats *s,
		     bool implicit)
{
	int err = mr_stats_read(d, mr, s);
	int i;

	if (err)
		return err;
	for (i = 0; i < S_NR; i++) {
		/* an explicit MR's chunks are never released: not shown */
		if (!implicit && i == S_CHUNKS_RELEASED)
			continue;
		if (s->v[i] < 0) {
			odp_log("%s missing for lkey %#x", stat_names[i], mr->lkey);
			return -ENOENT;
		}
	}
	return 0;
}

FIXTURE(st)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	uint8_t *pin; /* pinned staging buffer */
	struct ibv_mr *pin_mr;
	uint8_t *r; /* ODP memory under test */
	size_t r_len;
	struct ibv_mr *mr;
	void *raw; /* an implicit test's mapping */
	size_t raw_len;
	char saved_around[32], saved_ahead[32], saved_bound[32];
};

FIXTURE_SETUP(st)
{
	/* Only the tests' own accesses may fault or invalidate. */
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	/* one page per first touch, and no prefetch behind the tests' back */
	ASSERT_EQ(0, odp_param_save_and_write("fault_around_pages", self->saved_around,
					      sizeof(self->saved_around), 0));
	ASSERT_EQ(0, odp_param_save_and_write("fault_ahead_pages", self->saved_ahead,
					      sizeof(self->saved_ahead), 0));
	self->pin = odp_map_fresh(REGION_LEN);
	ASSERT_NE(NULL, self->pin);
	odp_fill(self->pin, REGION_LEN, SEED, 0);
	self->pin_mr = odp_reg_pinned(self->dev.pd, self->pin, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->pin_mr);
	self->r_len = REGION_LEN;
	self->r = odp_map_fresh(self->r_len);
	ASSERT_NE(NULL, self->r);
	ASSERT_EQ(0, madvise(self->r, self->r_len, MADV_NOHUGEPAGE));
	self->mr = odp_reg(self->dev.pd, self->r, self->r_len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->mr);
}

FIXTURE_TEARDOWN(st)
{
	odp_param_restore("fault_around_pages", self->saved_around);
	odp_param_restore("fault_ahead_pages", self->saved_ahead);
	odp_param_restore("implicit_max_children", self->saved_bound);
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->r)
		odp_unmap(self->r, self->r_len);
	if (self->raw)
		odp_unmap(self->raw, self->raw_len);
	if (self->pin_mr)
		ibv_dereg_mr(self->pin_mr);
	odp_unmap(self->pin, REGION_LEN);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

/* An RDMA WRITE of 100 bytes into page i of the ODP MR (at an odd offset). */
static int write_page(FIXTURE_DATA(st) * self, struct ibv_mr *mr, uint8_t *base, int i)
{
	return odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin + 128 * i, 100,
			     self->pin_mr->lkey, (uintptr_t)base + i * ODP_PAGE + 333, mr->rkey);
}

/* Logs every statistic that differs from exp (-1: not checked); 0 if none. */
static int stats_differ(const struct mr_stats *s, const long long exp[S_NR], const char *when)
{
	int i, bad = 0;

	for (i = 0; i < S_NR; i++) {
		if (exp[i] < 0 || s->v[i] == exp[i])
			continue;
		odp_log("%s: %s is %lld, not %lld", when, stat_names[i], s->v[i], exp[i]);
		bad++;
	}
	return bad;
}

/*
 * Each first touch of a distinct page is one fault of one page, and leaves
 * that page mirrored; warm accesses move nothing.
 */
TEST_F(st, first_touch_of_n_pages_counts_n_faults)
{
	const int n = 5;
	struct mr_stats s;
	int i;

	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_STREQ("explicit", s.odp);
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 0, 0, 0, 0, 0, 0, 0, 0, -1 },
				  "fresh MR"));

	/* pages 0, 3, 6, 1, 4 */
	for (i = 0; i < n; i++)
		ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, self->mr, self->r, 3 * i % NPAGES));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ n, n, 0, 0, 0, 0, n, 1, -1 },
				  "after first touches"));

	/* warm: the same pages again, writes and reads */
	for (i = 0; i < n; i++) {
		ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, self->mr, self->r, 3 * i % NPAGES));
		ASSERT_EQ(IBV_WC_SUCCESS,
			  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin, 200,
					self->pin_mr->lkey,
					(uintptr_t)self->r + (3 * i % NPAGES) * ODP_PAGE + 1,
					self->mr->rkey));
	}
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ n, n, 0, 0, 0, 0, n, 1, -1 },
				  "after warm accesses"));
}

/*
 * MADV_DONTNEED, mprotect(PROT_READ) and munmap of mirrored pages each count
 * one invalidation and exactly the mirrored pages they cover; pages that
 * were never mirrored count nothing.
 */
TEST_F(st, invalidations_count_mirrored_pages_of_each_change)
{
	struct mr_stats s;
	int i;

	/* pages 0..5 mirrored, 6 and 7 never touched */
	for (i = 0; i < 6; i++)
		ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, self->mr, self->r, i));

	/* DONTNEED of pages 0..2 */
	ASSERT_EQ(0, madvise(self->r, 3 * ODP_PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 6, 6, 1, 3, 0, 0, 3, 1, -1 },
				  "after MADV_DONTNEED of 3 pages"));

	/* mprotect of pages 3..7: 3 mirrored (3, 4, 5), 2 never */
	ASSERT_EQ(0, mprotect(self->r + 3 * ODP_PAGE, 5 * ODP_PAGE, PROT_READ));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 6, 6, 2, 6, 0, 0, 0, 1, -1 },
				  "after mprotect of 5 pages"));

	/* read pages 3 and 4 back in (read-only now), then munmap everything */
	ASSERT_EQ(IBV_WC_SUCCESS, odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin,
						2 * ODP_PAGE, self->pin_mr->lkey,
						(uintptr_t)self->r + 3 * ODP_PAGE, self->mr->rkey));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	/* one fault per packet that enters a page: one per page */
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 8, 8, 2, 6, 0, 0, 2, 1, -1 },
				  "after reading 2 pages back"));
	odp_unmap(self->r, self->r_len);
	self->r = NULL;
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 8, 8, 3, 8, 0, 0, 0, 1, -1 },
				  "after munmap"));
}

static int advise(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, struct ibv_sge *sge,
		  uint32_t n)
{
	return ibv_advise_mr(pd, advice, IBV_ADVISE_MR_FLAG_FLUSH, sge, n);
}

/*
 * Each accepted prefetch SGE counts one prefetch, and the pages it mirrors
 * anew count as prefetched, not faulted; accesses to them then fault
 * nothing.
 */
TEST_F(st, prefetches_count_sges_and_new_pages)
{
	struct ibv_sge sge[2] = {
		{ .addr = (uintptr_t)self->r, .length = 3 * ODP_PAGE, .lkey = self->mr->lkey },
		{ .addr = (uintptr_t)self->r + 5 * ODP_PAGE + 10,
		  .length = ODP_PAGE,
		  .lkey = self->mr->lkey },
	};
	struct mr_stats s;

	ASSERT_EQ(0, advise(self->dev.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, sge, 1));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 0, 0, 0, 0, 1, 3, 3, 1, -1 },
				  "after one prefetch of 3 pages"));

	/* the same 3 pages again (nothing new) and 2 pages across 5..6 */
	ASSERT_EQ(0, advise(self->dev.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, sge, 2));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 0, 0, 0, 0, 3, 5, 5, 1, -1 },
				  "after a 2-SGE prefetch"));

	/* prefetched pages are warm */
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, self->mr, self->r, 1));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, self->mr, self->r, 6));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 0, 0, 0, 0, 3, 5, 5, 1, -1 },
				  "after writes into prefetched pages"));
}

/* Statistics are per MR: a second MR's faults do not show on the first. */
TEST_F(st, each_mr_shows_only_its_own)
{
	uint8_t *q = odp_map_fresh(REGION_LEN);
	struct ibv_mr *mr2, *pinned;
	struct mr_stats s;

	ASSERT_NE(NULL, q);
	mr2 = odp_reg(self->dev.pd, q, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr2);
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, mr2, q, 0));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, mr2, q, 1));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, self->mr, self->r, 0));

	ASSERT_EQ(0, odp_stats(&self->dev, mr2, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 2, 2, 0, 0, 0, 0, 2, 1, -1 },
				  "second MR"));
	ASSERT_EQ(0, odp_stats(&self->dev, self->mr, &s, false));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 1, 1, 0, 0, 0, 0, 1, 1, -1 },
				  "first MR"));

	/* a pinned MR is listed, with no ODP statistics */
	pinned = self->pin_mr;
	ASSERT_EQ(0, mr_stats_read(&self->dev, pinned, &s));
	EXPECT_STREQ("", s.odp);
	EXPECT_EQ(-1, s.v[S_FAULTS]);

	ibv_dereg_mr(mr2);
	odp_unmap(q, REGION_LEN);
}

/* Waits up to 10 s for an implicit MR's live chunks to reach want. */
static int wait_chunks(const struct odp_dev *d, const struct ibv_mr *mr, long long want,
		       struct mr_stats *s)
{
	int i, err;

	for (i = 0; i < 500; i++) {
		err = odp_stats(d, mr, s, true);
		if (err || s->v[S_CHUNKS] == want)
			return err;
		usleep(20000);
	}
	odp_log("odp_chunks is %lld, not %lld, after 10 s", s->v[S_CHUNKS], want);
	return -ETIMEDOUT;
}

/*
 * An implicit MR: each chunk first touched adds a live chunk; one whose
 * memory is unmapped is released (soon, by the reap work); past
 * implicit_max_children the least recently used is released too.
 */
TEST_F_TIMEOUT(st, implicit_mr_counts_chunks, 120)
{
	struct ibv_mr *imr;
	struct mr_stats s;
	uint8_t *base;
	uintptr_t a;

	imr = ibv_reg_mr(self->dev.pd, NULL, SIZE_MAX, ODP_ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	if (!imr)
		SKIP(return, "no implicit ODP: %s", strerror(errno));
	self->raw_len = 6 * CHILD_SIZE;
	self->raw = odp_map_fresh(self->raw_len);
	ASSERT_NE(NULL, self->raw);
	ASSERT_EQ(0, madvise(self->raw, self->raw_len, MADV_NOHUGEPAGE));
	a = ((uintptr_t)self->raw + CHILD_SIZE - 1) & ~(CHILD_SIZE - 1);
	base = (uint8_t *)a;

	ASSERT_EQ(0, odp_stats(&self->dev, imr, &s, true));
	EXPECT_STREQ("implicit", s.odp);
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 0, 0, 0, 0, 0, 0, 0, 0, 0 },
				  "fresh implicit MR"));

	/* chunks 0, 1, 2: one page each */
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, imr, base, 0));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, imr, base + CHILD_SIZE, 0));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, imr, base + 2 * CHILD_SIZE, 0));
	ASSERT_EQ(0, odp_stats(&self->dev, imr, &s, true));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 3, 3, 0, 0, 0, 0, 3, 3, 0 },
				  "after touching 3 chunks"));

	/* unmap chunk 1 whole: released by the reap work */
	ASSERT_EQ(0, munmap(base + CHILD_SIZE, CHILD_SIZE));
	ASSERT_EQ(0, wait_chunks(&self->dev, imr, 2, &s));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 3, 3, 1, 1, 0, 0, 2, 2, 1 },
				  "after unmapping chunk 1"));

	/* bound 2: touching chunk 3 releases the least recently used (0) */
	ASSERT_EQ(0, odp_param_save_and_write("implicit_max_children", self->saved_bound,
					      sizeof(self->saved_bound), 2));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, imr, base + 2 * CHILD_SIZE, 1));
	ASSERT_EQ(IBV_WC_SUCCESS, write_page(self, imr, base + 3 * CHILD_SIZE, 0));
	ASSERT_EQ(0, odp_stats(&self->dev, imr, &s, true));
	EXPECT_EQ(0, stats_differ(&s, (const long long[S_NR]){ 5, 5, 1, 1, 0, 0, 3, 2, 2 },
				  "after touching chunk 3 at bound 2"));

	ibv_dereg_mr(imr);
}

TEST_HARNESS_MAIN
