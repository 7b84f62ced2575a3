// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Implicit ODP: ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND | ...)
 * gives one MR whose lkey and rkey reach every address of the registering
 * process, memory mapped after the registration included, with the access
 * it was registered with and nothing more; its 64 MiB children are
 * released when unmapped and bounded in number (least recently used
 * first); an address that is not mapped fails with an error completion.
 *
 * Every buffer used through the implicit MR is mapped after the MR was
 * registered.  Data checks are byte-exact and position-dependent, with
 * messages of ODP_MSG_LEN at unaligned offsets that cross pages (and, where
 * said, a 64 MiB child boundary).
 *
 * ODP_CHURN_SECONDS sets the length of the churn test (default 60).  The
 * bound tests write /sys/module/rdma_rxe/parameters/implicit_max_children
 * (root) and put the old value back.
 */
#include "odp_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "odp_harness.h"

#define SEED 0x1e4b11c17ull
#define CHILD_SIZE (64ul << 20)
#define MAX_CHILDREN_PARAM "implicit_max_children"
#define FAULT_AROUND_PARAM "fault_around_pages"
#define FAULT_AHEAD_PARAM "fault_ahead_pages"

#ifndef IBV_ODP_SUPPORT_IMPLICIT
#define IBV_ODP_SUPPORT_IMPLICIT (1 << 1)
#endif

static struct ibv_mr *reg_implicit(struct ibv_pd *pd, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, NULL, SIZE_MAX, access | IBV_ACCESS_ON_DEMAND);

	if (!mr)
		odp_log("implicit ODP ibv_reg_mr(NULL, SIZE_MAX, 0x%x): %s", access,
			strerror(errno));
	return mr;
}

static uint64_t counter(const struct odp_dev *d, const char *name)
{
	uint64_t v = UINT64_MAX;

	if (odp_counter_read(d, name, &v))
		return UINT64_MAX;
	return v;
}

/* Pinned memory of len bytes: the pattern of seed, or zeros. */
struct pinned {
	uint8_t *addr;
	size_t len;
	struct ibv_mr *mr;
};

static int pinned_get(struct odp_dev *d, struct pinned *p, size_t len, bool fill, uint64_t seed)
{
	p->len = len;
	p->addr = odp_map_fresh(len);
	if (!p->addr)
		return -ENOMEM;
	if (fill)
		odp_fill(p->addr, len, seed, 0);
	else
		memset(p->addr, 0, len);
	p->mr = odp_reg_pinned(d->pd, p->addr, len, ODP_ACCESS_ALL);
	return p->mr ? 0 : -EINVAL;
}

static void pinned_put(struct pinned *p)
{
	if (p->mr)
		ibv_dereg_mr(p->mr);
	odp_unmap(p->addr, p->len);
	memset(p, 0, sizeof(*p));
}

/* [addr+off, +len) holds the pattern of seed from pat_off; zeros elsewhere in [addr, +buflen). */
static bool holds(const uint8_t *addr, size_t buflen, size_t off, size_t len, uint64_t seed,
		  uint64_t pat_off)
{
	bool ok = odp_check(addr + off, len, seed, pat_off, "data") < 0;

	ok &= odp_check_byte(addr, off, 0, "bytes before the data") < 0;
	ok &= odp_check_byte(addr + off + len, buflen - off - len, 0, "bytes after the data") < 0;
	return ok;
}

/* A reservation of n 64 MiB children, aligned to a child (unmap *raw, *rawlen). */
static uint8_t *map_children(size_t n, void **raw, size_t *rawlen)
{
	uintptr_t a;

	*rawlen = (n + 1) * CHILD_SIZE;
	*raw = odp_map_fresh(*rawlen);
	if (!*raw)
		return NULL;
	/* no THP: khugepaged would invalidate mirrors at random times */
	madvise(*raw, *rawlen, MADV_NOHUGEPAGE);
	a = ((uintptr_t)*raw + CHILD_SIZE - 1) & ~(CHILD_SIZE - 1);
	return (uint8_t *)a;
}

/* ---- the implicit capability ---- */

FIXTURE(cap)
{
	struct odp_dev dev;
};

FIXTURE_SETUP(cap)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
}

FIXTURE_TEARDOWN(cap)
{
	odp_dev_close(&self->dev);
}

/* general_caps has IBV_ODP_SUPPORT_IMPLICIT. */
TEST_F(cap, implicit_odp_cap_advertised)
{
	uint64_t caps = self->dev.attr.odp_caps.general_caps;

	odp_log("general_caps 0x%llx", (unsigned long long)caps);
	EXPECT_TRUE(!!(caps & IBV_ODP_SUPPORT_IMPLICIT));
}

/* ---- data through the implicit MR ---- */

FIXTURE(imp)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	struct ibv_mr *imr; /* implicit, all access */
	struct pinned pin;
	uint8_t *buf, *buf2; /* mapped after registration */
	size_t buf_len, buf2_len;
	void *raw;
	size_t raw_len;
	char saved_bound[32]; /* module parameters to restore */
	char saved_fault_around[32];
	char saved_fault_ahead[32];
};

FIXTURE_SETUP(imp)
{
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	self->imr = reg_implicit(self->dev.pd, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->imr);
}

FIXTURE_TEARDOWN(imp)
{
	odp_param_restore(MAX_CHILDREN_PARAM, self->saved_bound);
	odp_param_restore(FAULT_AROUND_PARAM, self->saved_fault_around);
	odp_param_restore(FAULT_AHEAD_PARAM, self->saved_fault_ahead);
	odp_unmap(self->buf, self->buf_len);
	odp_unmap(self->buf2, self->buf2_len);
	odp_unmap(self->raw, self->raw_len);
	pinned_put(&self->pin);
	if (self->imr)
		ibv_dereg_mr(self->imr);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

/*
 * Local SGEs with the implicit lkey in memory mapped after registration:
 * the source of an RDMA write, the sink of an RDMA read, a receive buffer.
 */
TEST_F(imp, local_sge_in_memory_mapped_after_registration)
{
	struct ibv_wc wc;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, false, 0));

	/* RDMA write from absent pages holding the pattern */
	self->buf_len = ODP_BUF_LEN;
	self->buf = odp_map_absent_filled(self->buf_len, SEED, 0);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, odp_pages_present(self->buf, self->buf_len));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->buf + ODP_SRC_OFF, ODP_MSG_LEN,
				self->imr->lkey, (uintptr_t)self->pin.addr + ODP_DST_OFF,
				self->pin.mr->rkey));
	EXPECT_TRUE(
		holds(self->pin.addr, self->pin.len, ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF));

	/* RDMA read into fresh pages */
	self->buf2_len = ODP_BUF_LEN;
	self->buf2 = odp_map_fresh(self->buf2_len);
	ASSERT_NE(NULL, self->buf2);
	odp_fill(self->pin.addr, self->pin.len, SEED + 1, 0);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->buf2 + ODP_DST_OFF, ODP_MSG_LEN,
				self->imr->lkey, (uintptr_t)self->pin.addr + ODP_SRC_OFF,
				self->pin.mr->rkey));
	EXPECT_TRUE(
		holds(self->buf2, self->buf2_len, ODP_DST_OFF, ODP_MSG_LEN, SEED + 1, ODP_SRC_OFF));

	/* a receive buffer: send from the pinned pattern into fresh pages */
	odp_unmap(self->buf2, self->buf2_len);
	self->buf2 = odp_map_fresh(self->buf2_len);
	ASSERT_NE(NULL, self->buf2);
	ASSERT_EQ(0, odp_post_recv(self->rc.b, self->buf2 + ODP_DST_OFF, ODP_MSG_LEN,
				   self->imr->lkey, 5));
	ASSERT_EQ(0, odp_post_send(self->rc.a, self->pin.addr + ODP_SRC_OFF, ODP_MSG_LEN,
				   self->pin.mr->lkey, 6));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_SEND, NULL));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_b, IBV_WC_RECV, &wc));
	EXPECT_EQ(ODP_MSG_LEN, wc.byte_len);
	EXPECT_TRUE(
		holds(self->buf2, self->buf2_len, ODP_DST_OFF, ODP_MSG_LEN, SEED + 1, ODP_SRC_OFF));
}

/* RDMA write through the implicit rkey into fresh memory, one message across a child boundary. */
TEST_F(imp, remote_write_into_memory_mapped_after_registration)
{
	uint8_t *base;
	size_t off;

	/* fault only what is written (fault-around and -ahead have their tests) */
	ASSERT_EQ(0, odp_param_save_and_write(FAULT_AROUND_PARAM, self->saved_fault_around,
					      sizeof(self->saved_fault_around), 0));
	ASSERT_EQ(0, odp_param_save_and_write(FAULT_AHEAD_PARAM, self->saved_fault_ahead,
					      sizeof(self->saved_fault_ahead), 0));
	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED));
	self->buf_len = ODP_BUF_LEN;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr + ODP_SRC_OFF,
				ODP_MSG_LEN, self->pin.mr->lkey, (uintptr_t)self->buf + ODP_DST_OFF,
				self->imr->rkey));
	/* rxe faulted in just the pages the data went to (before the CPU reads them all) */
	EXPECT_EQ(odp_pages_spanned(self->buf + ODP_DST_OFF, ODP_MSG_LEN),
		  odp_pages_present(self->buf, self->buf_len));
	EXPECT_TRUE(holds(self->buf, self->buf_len, ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF));

	/* across the boundary between two children */
	base = map_children(2, &self->raw, &self->raw_len);
	ASSERT_NE(NULL, base);
	off = CHILD_SIZE - 5000;
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr + ODP_SRC_OFF,
				ODP_MSG_LEN, self->pin.mr->lkey, (uintptr_t)base + off,
				self->imr->rkey));
	EXPECT_TRUE(holds(base + off - 3 * ODP_PAGE, ODP_MSG_LEN + 6 * ODP_PAGE, 3 * ODP_PAGE,
			  ODP_MSG_LEN, SEED, ODP_SRC_OFF));
}

/* RDMA read through the implicit rkey out of fresh (absent) memory, and across a child boundary. */
TEST_F(imp, remote_read_out_of_memory_mapped_after_registration)
{
	uint8_t *base;
	size_t off;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, false, 0));
	self->buf_len = ODP_BUF_LEN;
	self->buf = odp_map_absent_filled(self->buf_len, SEED + 2, 0);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, odp_pages_present(self->buf, self->buf_len));

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr + ODP_DST_OFF,
				ODP_MSG_LEN, self->pin.mr->lkey, (uintptr_t)self->buf + ODP_SRC_OFF,
				self->imr->rkey));
	EXPECT_TRUE(holds(self->pin.addr, self->pin.len, ODP_DST_OFF, ODP_MSG_LEN, SEED + 2,
			  ODP_SRC_OFF));

	base = map_children(2, &self->raw, &self->raw_len);
	ASSERT_NE(NULL, base);
	off = CHILD_SIZE - 3 * ODP_PAGE - 77;
	odp_fill(base + off, ODP_MSG_LEN, SEED + 3, 0);
	memset(self->pin.addr, 0, self->pin.len);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr + ODP_DST_OFF,
				ODP_MSG_LEN, self->pin.mr->lkey, (uintptr_t)base + off,
				self->imr->rkey));
	EXPECT_TRUE(holds(self->pin.addr, self->pin.len, ODP_DST_OFF, ODP_MSG_LEN, SEED + 3, 0));
}

/* Compare-and-swap and fetch-and-add through the implicit rkey, in three fresh pages. */
TEST_F(imp, remote_atomics_into_memory_mapped_after_registration)
{
	static const size_t tgt[] = { 8, ODP_PAGE + 2040, 3 * ODP_PAGE - 8 };
	uint64_t *res;
	int i;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_PAGE, false, 0));
	res = (uint64_t *)self->pin.addr;
	self->buf_len = ODP_BUF_LEN;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);
	odp_fill(self->buf, self->buf_len, SEED + 4, 0);

	for (i = 0; i < 3; i++) {
		uint64_t *t = (uint64_t *)(self->buf + tgt[i]);
		uint64_t old = odp_pat_u64(SEED + 4, tgt[i]);

		/* a swap that must not happen, then one that must */
		ASSERT_EQ(0, odp_post_atomic(self->rc.a, IBV_WR_ATOMIC_CMP_AND_SWP, res,
					     self->pin.mr->lkey, (uintptr_t)t, self->imr->rkey,
					     old + 1, 0x1111, 1));
		ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_COMP_SWAP, NULL));
		EXPECT_EQ(old, *res);
		EXPECT_EQ(old, *t);
		ASSERT_EQ(0, odp_post_atomic(self->rc.a, IBV_WR_ATOMIC_CMP_AND_SWP, res,
					     self->pin.mr->lkey, (uintptr_t)t, self->imr->rkey, old,
					     old ^ 0xa5a5a5a5a5a5a5a5ull, 2));
		ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_COMP_SWAP, NULL));
		EXPECT_EQ(old, *res);
		EXPECT_EQ(old ^ 0xa5a5a5a5a5a5a5a5ull, *t);
		ASSERT_EQ(0, odp_post_atomic(self->rc.a, IBV_WR_ATOMIC_FETCH_AND_ADD, res,
					     self->pin.mr->lkey, (uintptr_t)t, self->imr->rkey,
					     1000 + i, 0, 3));
		ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_FETCH_ADD, NULL));
		EXPECT_EQ(old ^ 0xa5a5a5a5a5a5a5a5ull, *res);
		EXPECT_EQ((old ^ 0xa5a5a5a5a5a5a5a5ull) + 1000 + i, *t);
		*t = old; /* for the check of the bytes around */
	}
	EXPECT_EQ(-1, odp_check(self->buf, self->buf_len, SEED + 4, 0, "bytes around the atomics"));
}

/* Atomic write and flush (global) through the implicit rkey into fresh memory. */
TEST_F(imp, remote_atomic_write_and_flush_into_memory_mapped_after_registration)
{
#if defined(ODP_HAVE_WR_ATOMIC_WRITE) && defined(ODP_HAVE_WR_FLUSH)
	struct odp_qp_opts o = {
		.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE | IBV_QP_EX_WITH_FLUSH,
		.extra_access = IBV_ACCESS_FLUSH_GLOBAL,
	};
	uint64_t dev_caps = self->dev.attr.device_cap_flags_ex;
	uint8_t val[8];
	size_t off = 2 * ODP_PAGE + 16;

	if (!(dev_caps & ODP_DEVICE_ATOMIC_WRITE) || !(dev_caps & ODP_DEVICE_FLUSH_GLOBAL))
		SKIP(return, "device does not advertise atomic write and flush (global)");
	ibv_dereg_mr(self->imr);
	self->imr = reg_implicit(self->dev.pd, ODP_ACCESS_ALL | IBV_ACCESS_FLUSH_GLOBAL);
	ASSERT_NE(NULL, self->imr);
	odp_rc_pair_destroy(&self->rc);
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, &o));
	self->buf_len = ODP_BUF_LEN;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);

	odp_fill(val, sizeof(val), SEED + 5, off);
	ibv_wr_start(self->rc.ax);
	self->rc.ax->wr_id = 1;
	self->rc.ax->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(self->rc.ax, self->imr->rkey, (uintptr_t)self->buf + off, val);
	ASSERT_EQ(0, ibv_wr_complete(self->rc.ax));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_ATOMIC_WRITE, NULL));
	EXPECT_TRUE(holds(self->buf, self->buf_len, off, 8, SEED + 5, off));

	ibv_wr_start(self->rc.ax);
	self->rc.ax->wr_id = 2;
	self->rc.ax->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_flush(self->rc.ax, self->imr->rkey, (uintptr_t)self->buf + off, 8, IBV_FLUSH_GLOBAL,
		     IBV_FLUSH_RANGE);
	ASSERT_EQ(0, ibv_wr_complete(self->rc.ax));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_FLUSH, NULL));
	EXPECT_TRUE(holds(self->buf, self->buf_len, off, 8, SEED + 5, off));
#else
	SKIP(return, "libibverbs has no ibv_wr_atomic_write / ibv_wr_flush");
#endif
}

/* ---- the MR follows the registering process ---- */

static int wait_byte(int fd)
{
	char c;

	return read(fd, &c, 1) == 1 ? 0 : -1;
}

static void send_byte(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		odp_log("pipe write: %s", strerror(errno));
}

/*
 * After fork: the parent's CPU writes (copy-on-write) are what RDMA sees
 * through the implicit MR, RDMA writes land in the parent only, and the
 * child's CPU writes never appear in the MR's view.
 */
TEST_F_TIMEOUT(imp, fork_follows_the_registering_process, 300)
{
	const size_t len = 8 * ODP_PAGE;
	const size_t cow_off = 100, cow_len = 2 * ODP_PAGE;		 /* parent CPU writes */
	const size_t rw_off = 4 * ODP_PAGE + 300, rw_len = 2 * ODP_PAGE; /* RDMA writes */
	int go[2], done[2], status;
	uint8_t *expect;
	pid_t pid;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, len, false, 0));
	self->buf_len = len;
	self->buf = odp_map_fresh(len);
	ASSERT_NE(NULL, self->buf);
	odp_fill(self->buf, len, SEED + 6, 0);
	expect = malloc(len);
	ASSERT_NE(NULL, expect);
	memcpy(expect, self->buf, len);

	/* mirror the pages before the fork */
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr, len,
				self->pin.mr->lkey, (uintptr_t)self->buf, self->imr->rkey));
	ASSERT_EQ(-1, odp_cmp(self->pin.addr, expect, len, "before fork"));

	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		bool ok;

		/* the child: wait, check its own view, then overwrite it all */
		if (wait_byte(go[0]))
			_exit(2);
		ok = odp_check(self->buf, len, SEED + 6, 0, "child's view") < 0;
		odp_fill(self->buf, len, SEED + 7, 0);
		send_byte(done[1]);
		_exit(ok ? 0 : 1);
	}

	/* the parent writes part of the shared pages: COW copies them */
	odp_fill(self->buf + cow_off, cow_len, SEED + 8, 0);
	odp_fill(expect + cow_off, cow_len, SEED + 8, 0);
	/* an RDMA write into other shared pages breaks COW in the parent */
	odp_fill(self->pin.addr, rw_len, SEED + 9, 0);
	ASSERT_EQ(IBV_WC_SUCCESS, odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr,
						rw_len, self->pin.mr->lkey,
						(uintptr_t)self->buf + rw_off, self->imr->rkey));
	odp_fill(expect + rw_off, rw_len, SEED + 9, 0);
	EXPECT_EQ(-1, odp_cmp(self->buf, expect, len, "parent's CPU view after RDMA write"));

	memset(self->pin.addr, 0, len);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr, len,
				self->pin.mr->lkey, (uintptr_t)self->buf, self->imr->rkey));
	EXPECT_EQ(-1, odp_cmp(self->pin.addr, expect, len, "MR view after parent's COW writes"));

	/* the child checks it saw none of that, then writes everything */
	send_byte(go[1]);
	ASSERT_EQ(0, wait_byte(done[0]));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
	{
		TH_LOG("the child saw the parent's writes (status 0x%x)", status);
	}

	memset(self->pin.addr, 0, len);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr, len,
				self->pin.mr->lkey, (uintptr_t)self->buf, self->imr->rkey));
	EXPECT_EQ(-1, odp_cmp(self->pin.addr, expect, len, "MR view after the child's writes"));
	EXPECT_EQ(-1,
		  odp_cmp(self->buf, expect, len, "parent's CPU view after the child's writes"));
	free(expect);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

/* ---- children: released when unmapped, bounded, least recently used first ---- */

/* An RDMA write of a small message into chunk i of base, at an offset of its own. */
static int touch_chunk(FIXTURE_DATA(imp) * self, uint8_t *base, int i)
{
	size_t off = (size_t)i * CHILD_SIZE + 4096 * (size_t)(i % 7) + 11 * (size_t)i;

	return odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr + 64 * i, 1000,
			     self->pin.mr->lkey, (uintptr_t)base + off, self->imr->rkey);
}

static bool chunk_holds(uint8_t *base, int i)
{
	size_t off = (size_t)i * CHILD_SIZE + 4096 * (size_t)(i % 7) + 11 * (size_t)i;
	char what[64];

	snprintf(what, sizeof(what), "chunk %d", i);
	return odp_check(base + off, 1000, SEED + 10, 64 * (uint64_t)i, what) < 0;
}

/*
 * With implicit_max_children at 4, writing into 12 chunks never has more
 * than 4 children alive, releases at least 8, and loses no data: every
 * chunk holds what was written, and an RDMA read out of a released chunk
 * brings it back exactly.
 */
TEST_F_TIMEOUT(imp, child_count_stays_within_bound, 300)
{
	const unsigned int bound = 4, n = 12;
	uint64_t released0, live;
	uint8_t *base;
	unsigned int i;

	if (odp_param_save_and_write(MAX_CHILDREN_PARAM, self->saved_bound,
				     sizeof(self->saved_bound), bound))
		SKIP(return, "cannot set %s (root, our rdma_rxe)", MAX_CHILDREN_PARAM);
	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED + 10));
	base = map_children(n, &self->raw, &self->raw_len);
	ASSERT_NE(NULL, base);
	released0 = counter(&self->dev, "odp_implicit_children_released");
	ASSERT_NE(UINT64_MAX, released0);

	for (i = 0; i < n; i++) {
		ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, i));
		live = counter(&self->dev, "odp_implicit_children");
		EXPECT_LE(live, bound)
		{
			TH_LOG("%llu children alive after touching %u chunks, bound %u",
			       (unsigned long long)live, i + 1, bound);
		}
	}
	EXPECT_GE(counter(&self->dev, "odp_implicit_children_released") - released0, n - bound);
	for (i = 0; i < n; i++)
		EXPECT_TRUE(chunk_holds(base, i));

	/* chunk 0 was released long ago: read it back through the MR */
	memset(self->pin.addr, 0, self->pin.len);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr, 1000,
				self->pin.mr->lkey, (uintptr_t)base, self->imr->rkey));
	EXPECT_EQ(-1, odp_check(self->pin.addr, 1000, SEED + 10, 0, "chunk 0 read back"));
	EXPECT_LE(counter(&self->dev, "odp_implicit_children"), bound);
}

/*
 * At the bound, making a child releases the least recently used one: with
 * chunks A B C D alive and A used again, touching E releases B, not A. A
 * still has its pages mirrored (reading it faults nothing); B faults again.
 */
TEST_F(imp, least_recently_used_child_released_first)
{
	struct odp_counters c0, c1;
	uint8_t *base;

	if (odp_param_save_and_write(MAX_CHILDREN_PARAM, self->saved_bound,
				     sizeof(self->saved_bound), 4))
		SKIP(return, "cannot set %s (root, our rdma_rxe)", MAX_CHILDREN_PARAM);
	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED + 10));
	base = map_children(5, &self->raw, &self->raw_len);
	ASSERT_NE(NULL, base);

	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 0)); /* A */
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 1)); /* B */
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 2)); /* C */
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 3)); /* D */
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 0)); /* A again */
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 4)); /* E: B goes */

	ASSERT_EQ(0, odp_counters_read(&self->dev, &c0));
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 0));
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c1));
	EXPECT_EQ(c0.faults, c1.faults)
	{
		TH_LOG("A, used after B, faulted again: it was released instead of B");
	}
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 1));
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c0));
	EXPECT_LT(c1.faults, c0.faults)
	{
		TH_LOG("B did not fault again: it was not released");
	}
	EXPECT_TRUE(chunk_holds(base, 0));
	EXPECT_TRUE(chunk_holds(base, 1));
}

/* A child whose whole range is unmapped is released, soon (the reap work). */
TEST_F(imp, unmapped_child_is_released)
{
	uint64_t live0, rel0, live1 = 0, rel1 = 0;
	uint64_t deadline;
	uint8_t *base;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED + 10));
	base = map_children(1, &self->raw, &self->raw_len);
	ASSERT_NE(NULL, base);
	ASSERT_EQ(IBV_WC_SUCCESS, touch_chunk(self, base, 0));
	live0 = counter(&self->dev, "odp_implicit_children");
	rel0 = counter(&self->dev, "odp_implicit_children_released");
	ASSERT_NE(UINT64_MAX, live0);
	ASSERT_NE(UINT64_MAX, rel0);
	ASSERT_LE(1ul, live0);

	ASSERT_EQ(0, munmap(self->raw, self->raw_len));
	self->raw = NULL;
	deadline = odp_now_ns() + (uint64_t)odp_timeout_ms() * 1000000ull;
	do {
		live1 = counter(&self->dev, "odp_implicit_children");
		rel1 = counter(&self->dev, "odp_implicit_children_released");
	} while ((live1 >= live0 || rel1 <= rel0) && odp_now_ns() < deadline);
	EXPECT_EQ(live0 - 1, live1);
	EXPECT_EQ(rel0 + 1, rel1);
}

/* ---- mmap/munmap churn under traffic ---- */

/* The harness's own timeout of the churn test is this plus 600 s. */
#define CHURN_MAX_SECONDS 7200

static int churn_seconds(void)
{
	const char *s = getenv("ODP_CHURN_SECONDS");
	int v = s ? atoi(s) : 0;

	if (v > CHURN_MAX_SECONDS) {
		odp_log("ODP_CHURN_SECONDS=%d: at most %d", v, CHURN_MAX_SECONDS);
		v = CHURN_MAX_SECONDS;
	}
	return v > 0 ? v : 60;
}

struct churner {
	pthread_t thread;
	volatile bool stop;
	unsigned long rounds;
	uint64_t rnd;
};

static uint64_t next_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Maps, touches, partly discards and unmaps memory of its own, among the traffic's buffers. */
static void *churn_thread(void *arg)
{
	struct churner *c = arg;

	while (!c->stop) {
		size_t pages = 1 + next_rnd(&c->rnd) % 64, len = pages * ODP_PAGE;
		uint8_t *p =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			continue;
		memset(p, 0x5a, len);
		if (pages > 1)
			madvise(p + ODP_PAGE, len - ODP_PAGE, MADV_DONTNEED);
		munmap(p, len);
		c->rounds++;
	}
	return NULL;
}

/*
 * For ODP_CHURN_SECONDS (default 60): buffers mapped for each transfer (at
 * new addresses or, half the time, remapped at the address of the previous
 * source with new content), an RDMA write between two of them and an RDMA
 * read back into a third, all through the implicit lkey and rkey, every
 * byte checked; every half second the destination is instead the end of a
 * whole 64 MiB child of an arena, unmapped after (by a PROT_NONE mapping
 * over it, so the slot is used again only ARENA_SLOTS half seconds later,
 * long after the delayed release); meanwhile another thread maps, discards
 * and unmaps memory around them.  Invalidations happen, children are
 * released, the bound holds.
 */
#define ARENA_SLOTS 8

static uint8_t *arena_slot(uint8_t *arena, uint64_t k, int prot)
{
	void *p = mmap(arena + (k % ARENA_SLOTS) * CHILD_SIZE, CHILD_SIZE, prot,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED) {
		odp_log("mmap MAP_FIXED in the arena: %s", strerror(errno));
		return NULL;
	}
	madvise(p, CHILD_SIZE, MADV_NOHUGEPAGE);
	return p;
}

TEST_F_TIMEOUT(imp, mmap_munmap_churn_under_traffic, CHURN_MAX_SECONDS + 600)
{
	struct churner ch = { .rnd = 0x9e3779b97f4a7c15ull };
	uint64_t rnd = SEED, deadline, ops = 0, bad = 0, big = 0, next_big = 0;
	uint64_t rel0, inval0, bound = 0;
	struct odp_counters c0, c1;
	uint8_t *src = NULL, *arena;
	size_t src_len = 0;
	FILE *f;

	f = fopen(MAX_CHILDREN_PARAM, "re");
	if (f) {
		if (fscanf(f, "%llu", (unsigned long long *)&bound) != 1)
			bound = 0;
		fclose(f);
	}
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c0));
	inval0 = c0.invalidations;
	rel0 = counter(&self->dev, "odp_implicit_children_released");
	ASSERT_NE(UINT64_MAX, rel0);
	arena = map_children(ARENA_SLOTS, &self->raw, &self->raw_len);
	ASSERT_NE(NULL, arena);
	ASSERT_EQ(0, mprotect(self->raw, self->raw_len, PROT_NONE));
	ASSERT_EQ(0, pthread_create(&ch.thread, NULL, churn_thread, &ch));

	deadline = odp_now_ns() + (uint64_t)churn_seconds() * 1000000000ull;
	while (odp_now_ns() < deadline && bad < 5) {
		size_t len = 1 + next_rnd(&rnd) % ODP_MSG_LEN;
		size_t so = next_rnd(&rnd) % (2 * ODP_PAGE), dof = next_rnd(&rnd) % (2 * ODP_PAGE);
		size_t bo = next_rnd(&rnd) % (2 * ODP_PAGE);
		size_t blen = 6 * ODP_PAGE;
		uint8_t *dst, *back, *region = NULL;
		uint64_t seed = SEED + 100 + ops;
		int st;

		/* a new source, or the old address remapped with new content */
		if (src && (next_rnd(&rnd) & 1)) {
			uint8_t *p = mmap(src, src_len, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

			ASSERT_EQ(src, p);
		} else {
			odp_unmap(src, src_len);
			src_len = blen;
			src = odp_map_fresh(src_len);
			ASSERT_NE(NULL, src);
		}
		odp_fill(src + so, len, seed, 0);

		/* now and then the destination is the end of a whole child, unmapped after */
		if (odp_now_ns() >= next_big) {
			region = arena_slot(arena, big, PROT_READ | PROT_WRITE);
			ASSERT_NE(NULL, region);
			dst = region + CHILD_SIZE - blen;
			next_big = odp_now_ns() + 500000000ull;
		} else {
			dst = odp_map_fresh(blen);
			ASSERT_NE(NULL, dst);
		}
		back = odp_map_fresh(blen);
		ASSERT_NE(NULL, back);

		st = odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, src + so, len, self->imr->lkey,
				   (uintptr_t)dst + dof, self->imr->rkey);
		if (st == IBV_WC_SUCCESS)
			st = odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, back + bo, len,
					   self->imr->lkey, (uintptr_t)dst + dof, self->imr->rkey);
		if (st != IBV_WC_SUCCESS) {
			odp_log("transfer %llu failed: status %d", (unsigned long long)ops, st);
			bad++;
			odp_rc_pair_destroy(&self->rc);
			ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
		} else if (!holds(dst, blen, dof, len, seed, 0) ||
			   !holds(back, blen, bo, len, seed, 0)) {
			odp_log("transfer %llu: data wrong (len %zu)", (unsigned long long)ops,
				len);
			bad++;
		}
		if (region) {
			ASSERT_EQ(region, arena_slot(arena, big++, PROT_NONE));
		} else {
			odp_unmap(dst, blen);
		}
		odp_unmap(back, blen);
		ops++;
	}
	ch.stop = true;
	pthread_join(ch.thread, NULL);
	odp_unmap(src, src_len);

	ASSERT_EQ(0, odp_counters_read(&self->dev, &c1));
	odp_log("%llu transfers (%llu through whole children), %lu churn rounds, %llu "
		"invalidations, %llu children released, %llu alive",
		(unsigned long long)ops, (unsigned long long)big, ch.rounds,
		(unsigned long long)(c1.invalidations - inval0),
		(unsigned long long)(counter(&self->dev, "odp_implicit_children_released") - rel0),
		(unsigned long long)counter(&self->dev, "odp_implicit_children"));
	EXPECT_EQ(0ul, bad);
	EXPECT_LT(100ul, ops);
	EXPECT_LT(inval0, c1.invalidations);
	EXPECT_LT(rel0, counter(&self->dev, "odp_implicit_children_released"));
	if (bound)
		EXPECT_LE(counter(&self->dev, "odp_implicit_children"), bound);
}

/* ---- what the implicit MR does not reach ---- */

/* After an error completion: the QP is in error; a fresh pair on the same MR works. */
static void after_error(struct __test_metadata *_metadata, FIXTURE_DATA(imp) * self)
{
	uint8_t *p;

	EXPECT_EQ(0, odp_wait_qp_state(self->rc.a, IBV_QPS_ERR));
	odp_rc_pair_destroy(&self->rc);
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	/* a failed RDMA read may have landed some data in the pinned buffer */
	odp_fill(self->pin.addr, self->pin.len, SEED, 0);
	p = odp_map_fresh(ODP_BUF_LEN);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr + ODP_SRC_OFF,
				ODP_MSG_LEN, self->pin.mr->lkey, (uintptr_t)p + ODP_DST_OFF,
				self->imr->rkey));
	EXPECT_TRUE(holds(p, ODP_BUF_LEN, ODP_DST_OFF, ODP_MSG_LEN, SEED, ODP_SRC_OFF));
	odp_unmap(p, ODP_BUF_LEN);
}

/* An unmapped page (a hole between mappings) through the rkey: remote access error. */
TEST_F(imp, unmapped_address_remote_write_is_remote_access_error)
{
	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED));
	self->buf_len = 3 * ODP_PAGE;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, munmap(self->buf + ODP_PAGE, ODP_PAGE));

	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr, 1000,
				self->pin.mr->lkey, (uintptr_t)self->buf + ODP_PAGE + 100,
				self->imr->rkey));
	EXPECT_EQ(-1, odp_check_byte(self->buf + 2 * ODP_PAGE, ODP_PAGE, 0, "page after the hole"));
	after_error(_metadata, self);
}

/* Reading an unmapped page through the rkey: remote access error. */
TEST_F(imp, unmapped_address_remote_read_is_remote_access_error)
{
	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED));
	self->buf_len = 3 * ODP_PAGE;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, munmap(self->buf + ODP_PAGE, ODP_PAGE));

	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr, 2 * ODP_PAGE,
				self->pin.mr->lkey, (uintptr_t)self->buf + 500, self->imr->rkey));
	after_error(_metadata, self);
}

/* An unmapped page as a local SGE of the implicit lkey: local protection error. */
TEST_F(imp, unmapped_address_local_sge_is_local_protection_error)
{
	struct pinned dst = { 0 };

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED));
	ASSERT_EQ(0, pinned_get(&self->dev, &dst, ODP_BUF_LEN, false, 0));
	self->buf_len = 3 * ODP_PAGE;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, munmap(self->buf + ODP_PAGE, ODP_PAGE));

	EXPECT_EQ(IBV_WC_LOC_PROT_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->buf + ODP_PAGE + 8, 1000,
				self->imr->lkey, (uintptr_t)dst.addr, dst.mr->rkey));
	EXPECT_EQ(-1, odp_check_byte(dst.addr, dst.len, 0, "target of the failed write"));
	pinned_put(&dst);
	after_error(_metadata, self);
}

/*
 * Addresses outside the process's user address space - the NULL page,
 * kernel addresses, non-canonical ones, a range that wraps past 2^64 -
 * through the implicit rkey: remote access errors, nothing else.
 */
TEST_F_TIMEOUT(imp, kernel_and_noncanonical_addresses_are_remote_access_errors, 600)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ 0x0, 64 },
		{ 0x1000, 4096 },
		{ 0x0000800000000000ull, 64 },	 /* just past 47-bit user space */
		{ 0x00ff000000000000ull, 64 },	 /* non-canonical (4-level) */
		{ 0xffff888000000000ull, 64 },	 /* the kernel's direct map */
		{ 0xffffffff81000000ull, 64 },	 /* kernel text */
		{ 0xfffffffffffff000ull, 8192 }, /* wraps past 2^64 */
	};
	unsigned int i;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TH_LOG("RDMA write and read at %#llx+%u", (unsigned long long)bad[i].addr,
		       bad[i].len);
		EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
			  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr, bad[i].len,
					self->pin.mr->lkey, bad[i].addr, self->imr->rkey));
		after_error(_metadata, self);
		EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
			  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr, bad[i].len,
					self->pin.mr->lkey, bad[i].addr, self->imr->rkey));
		after_error(_metadata, self);
	}
}

/* An implicit MR registered without remote write rejects RDMA writes, still serves reads. */
TEST_F(imp, access_is_what_was_registered)
{
	struct ibv_mr *ro;

	ASSERT_EQ(0, pinned_get(&self->dev, &self->pin, ODP_BUF_LEN, true, SEED));
	ro = reg_implicit(self->dev.pd, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, ro);
	self->buf_len = ODP_BUF_LEN;
	self->buf = odp_map_fresh(self->buf_len);
	ASSERT_NE(NULL, self->buf);

	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->pin.addr, 1000,
				self->pin.mr->lkey, (uintptr_t)self->buf + 100, ro->rkey));
	EXPECT_EQ(-1, odp_check_byte(self->buf, self->buf_len, 0, "target of the refused write"));
	odp_rc_pair_destroy(&self->rc);
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));

	odp_fill(self->buf, self->buf_len, SEED + 11, 0);
	memset(self->pin.addr, 0, self->pin.len);
	EXPECT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->pin.addr + ODP_DST_OFF,
				ODP_MSG_LEN, self->pin.mr->lkey, (uintptr_t)self->buf + ODP_SRC_OFF,
				ro->rkey));
	EXPECT_TRUE(holds(self->pin.addr, self->pin.len, ODP_DST_OFF, ODP_MSG_LEN, SEED + 11,
			  ODP_SRC_OFF));
	ibv_dereg_mr(ro);
}

TEST_HARNESS_MAIN
