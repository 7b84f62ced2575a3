// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The rxe_odp tracepoints fire with the right fields, read as a user reads
 * them: through tracefs, in a trace instance of this test's own (so the
 * global buffer, and whoever else traces, are left alone), with an lkey
 * filter so that only the MR under test is seen:
 *   rxe_odp_fault         each fault of an access: address, length, window
 *                         pages asked and mirrored, read or write, ret, ns;
 *   rxe_odp_invalidate    the range and the mm event (clear for
 *                         MADV_DONTNEED, protection_vma for mprotect, unmap
 *                         for munmap) and the pages unmapped;
 *   rxe_odp_prefetch      advice, pages mirrored, result of each SGE;
 *   rxe_odp_fault_ahead   a sequential stream's queued fault-ahead (then its
 *                         rxe_odp_prefetch with "ahead");
 *   rxe_odp_chunk_add / _evict / _release   an implicit MR's chunks.
 */
#include "odp_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "odp_harness.h"

#define TRACEFS "/sys/kernel/tracing"
#define NPAGES 8
#define REGION_LEN (NPAGES * ODP_PAGE)
#define CHILD_SIZE (64ul << 20)
#define SEED 0x7ace19
#define MAX_EVENTS 64

/* ---- tracefs ---- */

/* A trace instance of our own, its events filtered to one lkey. */
struct tracer {
	char dir[128];
};

static int tracer_open(struct tracer *t)
{
	struct stat st;

	if (stat(TRACEFS "/instances", &st) && mount("nodev", TRACEFS, "tracefs", 0, NULL)) {
		odp_log("mount tracefs on %s: %s", TRACEFS, strerror(errno));
		return -errno;
	}
	snprintf(t->dir, sizeof(t->dir), TRACEFS "/instances/odp_tp_%d", getpid());
	if (mkdir(t->dir, 0700) && errno != EEXIST) {
		odp_log("mkdir %s: %s", t->dir, strerror(errno));
		t->dir[0] = 0;
		return -errno;
	}
	return 0;
}

static void tracer_close(struct tracer *t)
{
	char path[256];

	if (!t->dir[0])
		return;
	snprintf(path, sizeof(path), "%s/events/rxe_odp/enable", t->dir);
	odp_write_file(path, "0");
	if (rmdir(t->dir))
		odp_log("rmdir %s: %s", t->dir, strerror(errno));
	t->dir[0] = 0;
}

/*
 * Clears the buffer, filters the rxe_odp events to lkey and enables those
 * named (space-separated); every other rxe_odp event is off.  The events
 * must exist: 0, or -errno (logged).
 */
static int tracer_start(struct tracer *t, uint32_t lkey, const char *events)
{
	char path[256], filter[64], list[256], *ev, *save;
	int err;

	snprintf(path, sizeof(path), "%s/events/rxe_odp/enable", t->dir);
	err = odp_write_file(path, "0");
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/trace", t->dir);
	err = odp_write_file(path, "");
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/events/rxe_odp/filter", t->dir);
	snprintf(filter, sizeof(filter), "lkey == %u", lkey);
	err = odp_write_file(path, filter);
	if (err)
		return err;
	snprintf(list, sizeof(list), "%s", events);
	for (ev = strtok_r(list, " ", &save); ev; ev = strtok_r(NULL, " ", &save)) {
		snprintf(path, sizeof(path), "%s/events/rxe_odp/%s/enable", t->dir, ev);
		err = odp_write_file(path, "1");
		if (err)
			return err;
	}
	return 0;
}

/* One event of the buffer: its name and the text of its fields. */
struct event {
	char name[32];
	char text[256];
};

/* Reads the instance's buffer into ev[]; the count, or -errno. */
static int tracer_read(struct tracer *t, struct event *ev, int max)
{
	char path[256], line[512], *p, *q;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/trace", t->dir);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		p = strstr(line, " rxe_odp_");
		q = p ? strchr(p + 1, ':') : NULL;
		if (!q)
			continue;
		snprintf(ev[n].name, sizeof(ev[n].name), "%.*s", (int)(q - p - 1), p + 1);
		snprintf(ev[n].text, sizeof(ev[n].text), "%s", q + 1);
		ev[n].text[strcspn(ev[n].text, "\n")] = 0;
		n++;
	}
	fclose(f);
	return n;
}

/* The numeric field key=... of an event (base 0: hex or decimal), or -1. */
static long long field(const struct event *e, const char *key)
{
	char pat[40];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(e->text, pat);
	return p ? strtoll(p + strlen(pat), NULL, 0) : -1;
}

/* The word field key=word of an event into buf ("" if absent). */
static const char *word(const struct event *e, const char *key, char *buf, size_t len)
{
	char pat[40];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(e->text, pat);
	buf[0] = 0;
	if (p)
		snprintf(buf, len, "%.*s", (int)strcspn(p + strlen(pat), " "), p + strlen(pat));
	return buf;
}

static bool has_word(const struct event *e, const char *w)
{
	char pat[40];
	size_t n;

	n = (size_t)snprintf(pat, sizeof(pat), " %s", w);
	for (const char *p = e->text; (p = strstr(p, pat)); p++)
		if (p[n] == ' ' || p[n] == 0)
			return true;
	return false;
}

static void log_events(const struct event *ev, int n)
{
	for (int i = 0; i < n; i++)
		odp_log("  %s:%s", ev[i].name, ev[i].text);
}

/* The index of the first event named name from i on, or -1. */
static int find(const struct event *ev, int n, int i, const char *name)
{
	for (; i < n; i++)
		if (!strcmp(ev[i].name, name))
			return i;
	return -1;
}

/* ---- the fixture ---- */

FIXTURE(tp)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	struct tracer tr;
	uint8_t *pin;
	struct ibv_mr *pin_mr;
	uint8_t *r; /* ODP memory under test */
	size_t r_len;
	struct ibv_mr *mr;
	void *raw;
	size_t raw_len;
	struct event ev[MAX_EVENTS];
	char saved_around[32], saved_ahead[32], saved_bound[32];
};

FIXTURE_SETUP(tp)
{
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, odp_param_save_and_write("fault_around_pages", self->saved_around,
					      sizeof(self->saved_around), 0));
	ASSERT_EQ(0, odp_param_save_and_write("fault_ahead_pages", self->saved_ahead,
					      sizeof(self->saved_ahead), 0));
	ASSERT_EQ(0, tracer_open(&self->tr));
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

FIXTURE_TEARDOWN(tp)
{
	tracer_close(&self->tr);
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

static int rdma_to(FIXTURE_DATA(tp) * self, enum ibv_wr_opcode op, struct ibv_mr *mr,
		   const uint8_t *addr, uint32_t len)
{
	return odp_rdma_sync(&self->rc, op, self->pin, len, self->pin_mr->lkey, (uintptr_t)addr,
			     mr->rkey);
}

/*
 * A remote write into an untouched page is one rxe_odp_fault event naming
 * the MR, the address and length of the packet, one page asked and
 * mirrored, "write", success and a time; a remote read, "read"; a warm
 * access, none.  With fault-around, the window is what was asked.
 */
TEST_F(tp, fault_event_has_the_fields)
{
	const uint8_t *w = self->r + 2 * ODP_PAGE + 333, *rd = self->r + 5 * ODP_PAGE + 1;
	uintptr_t ws, we;
	int n, i;

	ASSERT_EQ(0, tracer_start(&self->tr, self->mr->lkey, "rxe_odp_fault"));
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_to(self, IBV_WR_RDMA_WRITE, self->mr, w, 100));
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_to(self, IBV_WR_RDMA_READ, self->mr, rd, 200));
	/* warm */
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_to(self, IBV_WR_RDMA_WRITE, self->mr, w, 100));
	n = tracer_read(&self->tr, self->ev, MAX_EVENTS);
	ASSERT_EQ(2, n)
	{
		log_events(self->ev, n);
	}
	for (i = 0; i < 2; i++) {
		EXPECT_STREQ("rxe_odp_fault", self->ev[i].name);
		EXPECT_EQ(self->mr->lkey, field(&self->ev[i], "lkey"));
		EXPECT_EQ(1, field(&self->ev[i], "pages_asked"));
		EXPECT_EQ(1, field(&self->ev[i], "pages_mirrored"));
		EXPECT_LE(0, field(&self->ev[i], "ret"));
		EXPECT_LT(0, field(&self->ev[i], "ns"));
	}
	EXPECT_EQ((long long)(uintptr_t)w, field(&self->ev[0], "addr"));
	EXPECT_EQ(100, field(&self->ev[0], "len"));
	EXPECT_TRUE(has_word(&self->ev[0], "write"));
	EXPECT_EQ((long long)(uintptr_t)rd, field(&self->ev[1], "addr"));
	EXPECT_EQ(200, field(&self->ev[1], "len"));
	EXPECT_TRUE(has_word(&self->ev[1], "read"));

	/* fault-around of 4 pages: the aligned window inside the MR */
	ASSERT_EQ(0, odp_param_write_uint("fault_around_pages", 4));
	ASSERT_EQ(0, tracer_start(&self->tr, self->mr->lkey, "rxe_odp_fault"));
	w = self->r + 7 * ODP_PAGE + 5;
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_to(self, IBV_WR_RDMA_WRITE, self->mr, w, 100));
	n = tracer_read(&self->tr, self->ev, MAX_EVENTS);
	ASSERT_EQ(1, n)
	{
		log_events(self->ev, n);
	}
	ws = (uintptr_t)w & ~(4 * ODP_PAGE - 1);
	we = ws + 4 * ODP_PAGE;
	if (ws < (uintptr_t)self->r)
		ws = (uintptr_t)self->r;
	if (we > (uintptr_t)self->r + self->r_len)
		we = (uintptr_t)self->r + self->r_len;
	EXPECT_EQ((long long)ws, field(&self->ev[0], "fault_addr"));
	EXPECT_EQ((long long)((we - ws) / ODP_PAGE), field(&self->ev[0], "pages_asked"));
	/* all of them: page 5, if in the window, is mirrored for reading only */
	EXPECT_EQ((long long)((we - ws) / ODP_PAGE), field(&self->ev[0], "pages_mirrored"));
}

/*
 * MADV_DONTNEED, mprotect and munmap of mirrored pages each give one
 * rxe_odp_invalidate with the range, the mm event and the pages unmapped.
 */
TEST_F(tp, invalidate_event_names_the_mm_event)
{
	uintptr_t r = (uintptr_t)self->r;
	char buf[32];
	int n, i;

	for (i = 0; i < 4; i++)
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_to(self, IBV_WR_RDMA_WRITE, self->mr, self->r + i * ODP_PAGE, 64));
	ASSERT_EQ(0, tracer_start(&self->tr, self->mr->lkey, "rxe_odp_invalidate"));
	ASSERT_EQ(0, madvise(self->r, 2 * ODP_PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, mprotect(self->r + 2 * ODP_PAGE, ODP_PAGE, PROT_READ));
	odp_unmap(self->r, self->r_len);
	self->r = NULL;
	n = tracer_read(&self->tr, self->ev, MAX_EVENTS);
	ASSERT_EQ(3, n)
	{
		log_events(self->ev, n);
	}
	for (i = 0; i < 3; i++)
		EXPECT_EQ(self->mr->lkey, field(&self->ev[i], "lkey"));
	EXPECT_STREQ("clear", word(&self->ev[0], "event", buf, sizeof(buf)));
	EXPECT_EQ((long long)r, field(&self->ev[0], "start"));
	EXPECT_EQ((long long)(r + 2 * ODP_PAGE), field(&self->ev[0], "end"));
	EXPECT_EQ(2, field(&self->ev[0], "pages"));
	EXPECT_STREQ("protection_vma", word(&self->ev[1], "event", buf, sizeof(buf)));
	EXPECT_EQ((long long)(r + 2 * ODP_PAGE), field(&self->ev[1], "start"));
	EXPECT_EQ((long long)(r + 3 * ODP_PAGE), field(&self->ev[1], "end"));
	EXPECT_EQ(1, field(&self->ev[1], "pages"));
	EXPECT_STREQ("unmap", word(&self->ev[2], "event", buf, sizeof(buf)));
	EXPECT_EQ((long long)r, field(&self->ev[2], "start"));
	EXPECT_EQ((long long)(r + REGION_LEN), field(&self->ev[2], "end"));
	EXPECT_EQ(1, field(&self->ev[2], "pages")); /* page 3 */
}

static int advise1(struct ibv_mr *mr, enum ibv_advise_mr_advice advice, const uint8_t *addr,
		   uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey };

	return ibv_advise_mr(mr->pd, advice, IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
}

/*
 * Each prefetched SGE gives one rxe_odp_prefetch with its advice, the pages
 * it mirrored anew and its result, errors included.
 */
TEST_F(tp, prefetch_event_has_advice_pages_and_result)
{
	char buf[32];
	int n, i;

	ASSERT_EQ(0, mprotect(self->r + 7 * ODP_PAGE, ODP_PAGE, PROT_READ));
	ASSERT_EQ(0, tracer_start(&self->tr, self->mr->lkey, "rxe_odp_prefetch"));
	ASSERT_EQ(0, advise1(self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, self->r, 3 * ODP_PAGE));
	ASSERT_EQ(0, advise1(self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH, self->r, 3 * ODP_PAGE));
	ASSERT_EQ(0, advise1(self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			     self->r + 5 * ODP_PAGE, ODP_PAGE));
	ASSERT_EQ(EFAULT, advise1(self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				  self->r + 7 * ODP_PAGE, 100));
	n = tracer_read(&self->tr, self->ev, MAX_EVENTS);
	ASSERT_EQ(4, n)
	{
		log_events(self->ev, n);
	}
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(self->mr->lkey, field(&self->ev[i], "lkey"));
		EXPECT_FALSE(has_word(&self->ev[i], "ahead"));
	}
	EXPECT_STREQ("write", word(&self->ev[0], "advice", buf, sizeof(buf)));
	EXPECT_EQ((long long)(uintptr_t)self->r, field(&self->ev[0], "addr"));
	EXPECT_EQ((long long)(3 * ODP_PAGE), field(&self->ev[0], "len"));
	EXPECT_EQ(3, field(&self->ev[0], "pages"));
	EXPECT_EQ(0, field(&self->ev[0], "ret"));
	EXPECT_STREQ("read", word(&self->ev[1], "advice", buf, sizeof(buf)));
	EXPECT_EQ(0, field(&self->ev[1], "pages"));
	EXPECT_EQ(0, field(&self->ev[1], "ret"));
	EXPECT_STREQ("no_fault", word(&self->ev[2], "advice", buf, sizeof(buf)));
	EXPECT_EQ(0, field(&self->ev[2], "pages"));
	EXPECT_EQ(0, field(&self->ev[2], "ret"));
	EXPECT_STREQ("write", word(&self->ev[3], "advice", buf, sizeof(buf)));
	EXPECT_EQ(0, field(&self->ev[3], "pages"));
	EXPECT_EQ(-EFAULT, field(&self->ev[3], "ret"));
}

/*
 * A sequential stream of writes that faults queues a fault-ahead
 * (rxe_odp_fault_ahead: from where the stream is, writing), which then runs
 * as a prefetch marked "ahead".
 */
TEST_F(tp, fault_ahead_event_then_its_prefetch)
{
	size_t len = 64 * ODP_PAGE;
	uint8_t *big = odp_map_fresh(len);
	struct ibv_mr *mr;
	char buf[32];
	int n = 0, i, fa, pf = -1;

	ASSERT_NE(NULL, big);
	ASSERT_EQ(0, madvise(big, len, MADV_NOHUGEPAGE));
	mr = odp_reg(self->dev.pd, big, len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_param_write_uint("fault_ahead_pages", 16));
	ASSERT_EQ(0, tracer_start(&self->tr, mr->lkey, "rxe_odp_fault_ahead rxe_odp_prefetch"));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_to(self, IBV_WR_RDMA_WRITE, mr, big + i * 2048, 2048));
	/* the prefetch runs on a workqueue: wait for it */
	for (i = 0; i < 500 && pf < 0; i++) {
		n = tracer_read(&self->tr, self->ev, MAX_EVENTS);
		pf = find(self->ev, n, 0, "rxe_odp_prefetch");
		if (pf < 0)
			usleep(20000);
	}
	fa = find(self->ev, n, 0, "rxe_odp_fault_ahead");
	ASSERT_LE(0, fa)
	{
		log_events(self->ev, n);
	}
	ASSERT_LE(0, pf)
	{
		log_events(self->ev, n);
	}
	EXPECT_EQ(mr->lkey, field(&self->ev[fa], "lkey"));
	EXPECT_TRUE(has_word(&self->ev[fa], "write"));
	EXPECT_LT((long long)(uintptr_t)big, field(&self->ev[fa], "addr"));
	EXPECT_GE((long long)(uintptr_t)(big + len),
		  field(&self->ev[fa], "addr") + field(&self->ev[fa], "len"));
	EXPECT_EQ(mr->lkey, field(&self->ev[pf], "lkey"));
	EXPECT_TRUE(has_word(&self->ev[pf], "ahead"));
	EXPECT_STREQ("write", word(&self->ev[pf], "advice", buf, sizeof(buf)));
	EXPECT_EQ(field(&self->ev[fa], "addr"), field(&self->ev[pf], "addr"));
	EXPECT_EQ(0, field(&self->ev[pf], "ret"));

	ibv_dereg_mr(mr);
	odp_unmap(big, len);
}

/*
 * An implicit MR at implicit_max_children 1: the first chunk touched is
 * added; touching a second evicts the first and adds the second; unmapping
 * the second releases it.
 */
TEST_F_TIMEOUT(tp, chunk_events_add_evict_release, 120)
{
	struct ibv_mr *imr;
	uintptr_t base;
	int n = 0, i, rel = -1;

	imr = ibv_reg_mr(self->dev.pd, NULL, SIZE_MAX, ODP_ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	if (!imr)
		SKIP(return, "no implicit ODP: %s", strerror(errno));
	self->raw_len = 3 * CHILD_SIZE;
	self->raw = odp_map_fresh(self->raw_len);
	ASSERT_NE(NULL, self->raw);
	ASSERT_EQ(0, madvise(self->raw, self->raw_len, MADV_NOHUGEPAGE));
	base = ((uintptr_t)self->raw + CHILD_SIZE - 1) & ~(CHILD_SIZE - 1);
	ASSERT_EQ(0, odp_param_save_and_write("implicit_max_children", self->saved_bound,
					      sizeof(self->saved_bound), 1));

	ASSERT_EQ(0, tracer_start(&self->tr, imr->lkey,
				  "rxe_odp_chunk_add rxe_odp_chunk_evict rxe_odp_chunk_release"));
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_to(self, IBV_WR_RDMA_WRITE, imr, (uint8_t *)base + 9, 64));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_to(self, IBV_WR_RDMA_WRITE, imr, (uint8_t *)base + CHILD_SIZE + 9, 64));
	ASSERT_EQ(0, munmap((void *)(base + CHILD_SIZE), CHILD_SIZE));
	/* the reap work releases it about a second later */
	for (i = 0; i < 500 && rel < 0; i++) {
		n = tracer_read(&self->tr, self->ev, MAX_EVENTS);
		rel = find(self->ev, n, 0, "rxe_odp_chunk_release");
		if (rel < 0)
			usleep(20000);
	}
	ASSERT_EQ(4, n)
	{
		log_events(self->ev, n);
	}
	EXPECT_STREQ("rxe_odp_chunk_add", self->ev[0].name);
	EXPECT_STREQ("rxe_odp_chunk_evict", self->ev[1].name);
	EXPECT_STREQ("rxe_odp_chunk_add", self->ev[2].name);
	EXPECT_STREQ("rxe_odp_chunk_release", self->ev[3].name);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(imr->lkey, field(&self->ev[i], "lkey"));
	EXPECT_EQ((long long)base, field(&self->ev[0], "start"));
	EXPECT_EQ((long long)(base + CHILD_SIZE), field(&self->ev[0], "end"));
	EXPECT_EQ(1, field(&self->ev[0], "pages"));
	EXPECT_EQ(1, field(&self->ev[0], "children"));
	EXPECT_EQ((long long)base, field(&self->ev[1], "start"));
	EXPECT_EQ(1, field(&self->ev[1], "pages"));
	EXPECT_EQ(0, field(&self->ev[1], "children"));
	EXPECT_EQ((long long)(base + CHILD_SIZE), field(&self->ev[2], "start"));
	EXPECT_EQ(1, field(&self->ev[2], "children"));
	EXPECT_EQ((long long)(base + CHILD_SIZE), field(&self->ev[3], "start"));
	EXPECT_EQ(0, field(&self->ev[3], "pages"));
	EXPECT_EQ(0, field(&self->ev[3], "children"));

	ibv_dereg_mr(imr);
}

TEST_HARNESS_MAIN
