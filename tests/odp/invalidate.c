// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Invalidation: after each change the kernel makes to the CPU page table of
 * an ODP MR, the next RDMA access sees exactly what the CPU sees, byte for
 * byte, and a write lands in the page the CPU now has.
 *
 * Each test first "warms" the MR (an RDMA write and read over all of it, so
 * rxe mirrors every page writable), then makes one change, then checks an
 * RDMA read of the whole MR against both the expected content and the CPU's
 * view, and an RDMA write of an unaligned window that crosses pages against
 * the CPU's view.  Where the change unmaps pages from the mirror, it also
 * checks that odp_invalidations and odp_pages_invalidated grew; that check
 * comes last so that a stale mirror shows up as a data mismatch first.
 */
#include "odp_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "odp_harness.h"

#define REGION_LEN (8 * ODP_PAGE)
/* The write window: unaligned at both ends, more than an MTU, across pages. */
#define WIN_OFF (ODP_PAGE + 777)
#define WIN_LEN (3 * ODP_PAGE + 123)
/* The read-only window: two pages in the middle of the MR. */
#define RO_OFF (2 * ODP_PAGE)
#define RO_LEN (2 * ODP_PAGE)

FIXTURE(inval)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	size_t len;
	uint8_t *r; /* the ODP MR's memory */
	struct ibv_mr *mr;
	uint8_t *l; /* pinned local staging buffer, as large as r */
	struct ibv_mr *lmr;
	uint8_t *exp; /* what r must hold */
	char cgroup[128];
};

static int region_setup(FIXTURE_DATA(inval) * self, size_t len)
{
	self->len = len;
	self->r = odp_map_fresh(len);
	self->l = odp_map_fresh(len);
	self->exp = calloc(1, len);
	if (!self->r || !self->l || !self->exp)
		return -ENOMEM;
	/* Touch the staging and expectation buffers now (see swap_out_and_in). */
	memset(self->l, 0, len);
	memset(self->exp, 0, len);
	self->lmr = odp_reg_pinned(self->dev.pd, self->l, len, ODP_ACCESS_ALL);
	self->mr = odp_reg(self->dev.pd, self->r, len, ODP_ACCESS_ALL);
	return self->lmr && self->mr ? 0 : -EINVAL;
}

static void region_teardown(FIXTURE_DATA(inval) * self)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	odp_unmap(self->r, self->len);
	odp_unmap(self->l, self->len);
	free(self->exp);
	self->mr = self->lmr = NULL;
	self->r = self->l = self->exp = NULL;
}

static void cgroup_leave(FIXTURE_DATA(inval) * self);

FIXTURE_SETUP(inval)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, region_setup(self, REGION_LEN));
}

FIXTURE_TEARDOWN(inval)
{
	cgroup_leave(self);
	region_teardown(self);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

/* The CPU writes the pattern of seed into all of r. */
static void cpu_fill(FIXTURE_DATA(inval) * self, uint64_t seed)
{
	odp_fill(self->r, self->len, seed, 0);
	odp_fill(self->exp, self->len, seed, 0);
}

/* r, as the CPU sees it, is what it must be. */
static bool cpu_view_ok(FIXTURE_DATA(inval) * self, const char *when)
{
	char what[128];

	snprintf(what, sizeof(what), "CPU view of the MR %s", when);
	return odp_cmp(self->r, self->exp, self->len, what) < 0;
}

/*
 * An RDMA read of all of r (in one message) returns what r must hold; the
 * CPU does not touch r.  The staging buffer is poisoned first.
 */
static bool rdma_read_expected(FIXTURE_DATA(inval) * self, const char *when)
{
	char what[128];
	int st;

	memset(self->l, 0x5a, self->len);
	st = odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->l, (uint32_t)self->len,
			   self->lmr->lkey, (uintptr_t)self->r, self->mr->rkey);
	if (st != IBV_WC_SUCCESS) {
		odp_log("RDMA read of the MR %s failed (%d)", when, st);
		return false;
	}
	snprintf(what, sizeof(what), "RDMA read of the MR %s", when);
	return odp_cmp(self->l, self->exp, self->len, what) < 0;
}

/* What the last RDMA read returned is what the CPU sees in r. */
static bool rdma_read_matches_cpu(FIXTURE_DATA(inval) * self, const char *when)
{
	char what[128];

	snprintf(what, sizeof(what), "RDMA read vs CPU view %s", when);
	return odp_cmp(self->l, self->r, self->len, what) < 0;
}

/* An RDMA read of all of r returns what r must hold, and what the CPU sees there. */
static bool rdma_read_ok(FIXTURE_DATA(inval) * self, const char *when)
{
	return rdma_read_expected(self, when) && rdma_read_matches_cpu(self, when);
}

/* RDMA write of the pattern of seed into [off, off+len); returns the status. */
static int rdma_write(FIXTURE_DATA(inval) * self, size_t off, size_t len, uint64_t seed)
{
	odp_fill(self->l + off, len, seed, off);
	return odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l + off, (uint32_t)len,
			     self->lmr->lkey, (uintptr_t)self->r + off, self->mr->rkey);
}

/* An RDMA write of the window succeeds and the CPU sees exactly it. */
static bool rdma_write_ok(FIXTURE_DATA(inval) * self, uint64_t seed, const char *when)
{
	int st = rdma_write(self, WIN_OFF, WIN_LEN, seed);

	if (st != IBV_WC_SUCCESS) {
		odp_log("RDMA write into the MR %s failed (%d)", when, st);
		return false;
	}
	odp_fill(self->exp + WIN_OFF, WIN_LEN, seed, WIN_OFF);
	return cpu_view_ok(self, when);
}

/* Mirror every page of r, writable: RDMA-write and RDMA-read all of it. */
static bool warm(FIXTURE_DATA(inval) * self, uint64_t seed)
{
	int st;

	cpu_fill(self, seed);
	odp_fill(self->l, self->len, seed, 0);
	st = odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l, (uint32_t)self->len,
			   self->lmr->lkey, (uintptr_t)self->r, self->mr->rkey);
	if (st != IBV_WC_SUCCESS) {
		odp_log("warming RDMA write failed (%d)", st);
		return false;
	}
	return rdma_read_ok(self, "when warming");
}

/* Replaces the (errored) QP pair with a fresh one. */
static int fresh_pair(FIXTURE_DATA(inval) * self)
{
	odp_rc_pair_destroy(&self->rc);
	return odp_rc_pair_create(&self->dev, &self->rc, NULL);
}

static bool counters_grew(const struct odp_counters *c0, const struct odp_counters *c1,
			  uint64_t min_pages)
{
	odp_log("invalidations %" PRIu64 " -> %" PRIu64 ", pages invalidated %" PRIu64
		" -> %" PRIu64 " (want more, by >= %" PRIu64 " pages)",
		c0->invalidations, c1->invalidations, c0->pages_invalidated, c1->pages_invalidated,
		min_pages);
	return c1->invalidations > c0->invalidations &&
	       c1->pages_invalidated >= c0->pages_invalidated + min_pages;
}

/* munmap, then a new mapping at the same address with new content. */
TEST_F(inval, munmap_then_mmap_fixed_new_content)
{
	struct odp_counters c0, c1;
	bool have0, have1;
	void *p;

	ASSERT_TRUE(warm(self, 1));
	have0 = odp_counters_read(&self->dev, &c0) == 0;
	ASSERT_EQ(0, munmap(self->r, self->len));
	p = mmap(self->r, self->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(self->r, p);
	cpu_fill(self, 2);
	have1 = odp_counters_read(&self->dev, &c1) == 0;

	EXPECT_TRUE(rdma_read_ok(self, "after munmap + mmap"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after munmap + mmap"));
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, self->len / ODP_PAGE));
}

/* MADV_DONTNEED: RDMA reads zeros, then whatever the CPU writes next. */
TEST_F(inval, madvise_dontneed_reads_zeros_then_new_content)
{
	struct odp_counters c0, c1;
	bool have0, have1;

	ASSERT_TRUE(warm(self, 1));
	have0 = odp_counters_read(&self->dev, &c0) == 0;
	ASSERT_EQ(0, madvise(self->r, self->len, MADV_DONTNEED));
	have1 = odp_counters_read(&self->dev, &c1) == 0;
	memset(self->exp, 0, self->len);

	EXPECT_TRUE(rdma_read_ok(self, "after MADV_DONTNEED"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after MADV_DONTNEED"));
	cpu_fill(self, 4);
	EXPECT_TRUE(rdma_read_ok(self, "after MADV_DONTNEED and a CPU write"));
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, self->len / ODP_PAGE));
}

/*
 * mprotect(PROT_READ) on two pages of a warm MR: a remote write into them
 * completes with a remote access error and changes nothing; reads still work.
 */
TEST_F(inval, mprotect_readonly_rejects_remote_write)
{
	struct odp_counters c0, c1;
	bool have0, have1;

	ASSERT_TRUE(warm(self, 1));
	have0 = odp_counters_read(&self->dev, &c0) == 0;
	ASSERT_EQ(0, mprotect(self->r + RO_OFF, RO_LEN, PROT_READ));
	have1 = odp_counters_read(&self->dev, &c1) == 0;

	/* Unaligned, more than an MTU, across the page boundary inside the read-only range. */
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR, rdma_write(self, RO_OFF + 100, RO_LEN - 300, 2));
	EXPECT_TRUE(cpu_view_ok(self, "after a rejected write"));
	EXPECT_EQ(0, odp_wait_qp_state(self->rc.a, IBV_QPS_ERR));
	ASSERT_EQ(0, fresh_pair(self));
	EXPECT_TRUE(rdma_read_ok(self, "with read-only pages"));
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, RO_LEN / ODP_PAGE));
}

/* ... and after mprotect back to read-write, the same write works. */
TEST_F(inval, mprotect_back_to_readwrite_accepts_write)
{
	ASSERT_TRUE(warm(self, 1));
	ASSERT_EQ(0, mprotect(self->r + RO_OFF, RO_LEN, PROT_READ));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, rdma_write(self, RO_OFF + 100, RO_LEN - 300, 2));
	ASSERT_EQ(0, mprotect(self->r + RO_OFF, RO_LEN, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, fresh_pair(self));

	ASSERT_EQ(IBV_WC_SUCCESS, rdma_write(self, RO_OFF + 100, RO_LEN - 300, 2));
	odp_fill(self->exp + RO_OFF + 100, RO_LEN - 300, 2, RO_OFF + 100);
	EXPECT_TRUE(cpu_view_ok(self, "after mprotect back to read-write"));
	EXPECT_TRUE(rdma_read_ok(self, "after mprotect back to read-write"));
	cpu_fill(self, 3);
	EXPECT_TRUE(rdma_read_ok(self, "after a CPU write"));
}

/*
 * A page first faulted for reading (anonymous memory never written: the
 * shared zero page) is faulted again with write intent before rxe writes
 * it; the write is seen by the CPU and the zero page stays zero.
 */
TEST_F(inval, write_after_read_fault_refaults_writable)
{
	uint8_t *other;

	memset(self->exp, 0, self->len);
	EXPECT_TRUE(rdma_read_ok(self, "of never-written memory"));
	EXPECT_TRUE(rdma_write_ok(self, 7, "after a read fault"));
	EXPECT_TRUE(rdma_read_ok(self, "after a read fault and a write"));
	/* Another never-written mapping still reads zeros. */
	other = odp_map_fresh(self->len);
	ASSERT_NE(NULL, other);
	EXPECT_EQ(-1, odp_check_byte(other, self->len, 0, "an untouched mapping"));
	odp_unmap(other, self->len);
}

/* ---- fork ---- */

static int send_byte(int fd)
{
	char c = 1;

	return write(fd, &c, 1) == 1 ? 0 : -EIO;
}

static int wait_byte(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, odp_timeout_ms()) != 1 || read(fd, &c, 1) != 1) {
		odp_log("no word from the other process within %d ms", odp_timeout_ms());
		return -ETIMEDOUT;
	}
	return 0;
}

/* Reaps the child with a deadline; its exit status, or -1 (killed, or too late). */
static int reap(pid_t pid)
{
	uint64_t deadline = odp_now_ns() + (uint64_t)odp_timeout_ms() * 1000000ull;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 || odp_now_ns() > deadline) {
			odp_log("child %d did not finish in time", pid);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(1000);
	}
	if (WIFSIGNALED(status)) {
		odp_log("child killed by signal %d", WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}

enum child_role {
	CHILD_CHECKS_AFTER_PARENT, /* waits for the parent, then checks its view */
	CHILD_WRITES_FIRST,	   /* writes its copy, reports, waits for the parent */
};

/*
 * The child of a fork.  It never uses verbs; it reports through its exit
 * status: 0 if its view of r is what it must be.
 */
static void child_main(FIXTURE_DATA(inval) * self, enum child_role role, int to_parent,
		       int from_parent)
{
	int ok = 1;

	if (role == CHILD_WRITES_FIRST) {
		odp_fill(self->r, self->len, 5, 0);
		if (send_byte(to_parent))
			_exit(3);
		if (wait_byte(from_parent))
			_exit(4);
		ok = odp_check(self->r, self->len, 5, 0, "child's own copy") < 0;
	} else {
		if (wait_byte(from_parent))
			_exit(4);
		ok = odp_cmp(self->r, self->exp, self->len, "child's view after the parent") < 0;
	}
	_exit(ok ? 0 : 1);
}

struct forked {
	pid_t pid;
	int to_child, from_child;
};

static int fork_child(FIXTURE_DATA(inval) * self, enum child_role role, struct forked *f)
{
	int down[2], up[2];

	if (pipe(down) || pipe(up))
		return -errno;
	fflush(stdout);
	fflush(stderr);
	f->pid = fork();
	if (f->pid < 0)
		return -errno;
	if (f->pid == 0) {
		close(down[1]);
		close(up[0]);
		child_main(self, role, up[1], down[0]);
	}
	close(down[0]);
	close(up[1]);
	f->to_child = down[1];
	f->from_child = up[0];
	return 0;
}

static int finish_child(struct forked *f)
{
	int ret;

	send_byte(f->to_child);
	ret = reap(f->pid);
	close(f->to_child);
	close(f->from_child);
	return ret;
}

/*
 * fork, then the parent writes its (now copy-on-write) pages with the CPU:
 * RDMA through the parent's MR sees the parent's new pages; the child keeps
 * the old content.
 */
TEST_F(inval, fork_parent_cpu_write_seen_by_rdma)
{
	struct odp_counters c0, c1;
	bool have0, have1;
	struct forked f;

	ASSERT_TRUE(warm(self, 1));
	have0 = odp_counters_read(&self->dev, &c0) == 0;
	ASSERT_EQ(0, fork_child(self, CHILD_CHECKS_AFTER_PARENT, &f));
	have1 = odp_counters_read(&self->dev, &c1) == 0;
	/* The child must go on seeing content 1; exp is already copied into it. */
	cpu_fill(self, 2);
	EXPECT_TRUE(rdma_read_ok(self, "after fork and a parent CPU write"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after fork and a parent CPU write"));
	EXPECT_EQ(0, finish_child(&f))
	{
		TH_LOG("the child's memory changed with the parent's");
	}
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, 1));
}

/*
 * fork, then an RDMA write into the parent's MR (no CPU write first): the
 * write breaks copy-on-write in the parent and lands only there.  Writing
 * through a mirror kept from before the fork would change the child too.
 */
TEST_F(inval, fork_parent_rdma_write_stays_in_parent)
{
	struct forked f;
	int st;

	ASSERT_TRUE(warm(self, 1));
	ASSERT_EQ(0, fork_child(self, CHILD_CHECKS_AFTER_PARENT, &f));
	odp_fill(self->l, self->len, 2, 0);
	st = odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->l, (uint32_t)self->len,
			   self->lmr->lkey, (uintptr_t)self->r, self->mr->rkey);
	EXPECT_EQ(IBV_WC_SUCCESS, st);
	/* The child keeps content 1 (its copy of exp); the parent has 2. */
	EXPECT_EQ(0, finish_child(&f))
	{
		TH_LOG("the parent's RDMA write reached the child's memory");
	}
	odp_fill(self->exp, self->len, 2, 0);
	EXPECT_TRUE(cpu_view_ok(self, "after fork and an RDMA write"));
	EXPECT_TRUE(rdma_read_ok(self, "after fork and an RDMA write"));
}

/*
 * fork, then the child writes its copy: the MR follows the registering
 * process, so RDMA still sees the parent's content, and writes to the parent.
 */
TEST_F(inval, fork_child_cpu_write_not_seen_by_rdma)
{
	struct forked f;

	ASSERT_TRUE(warm(self, 1));
	ASSERT_EQ(0, fork_child(self, CHILD_WRITES_FIRST, &f));
	EXPECT_EQ(0, wait_byte(f.from_child));
	EXPECT_TRUE(rdma_read_ok(self, "after the child wrote its copy"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after the child wrote its copy"));
	EXPECT_EQ(0, finish_child(&f))
	{
		TH_LOG("the child's copy changed");
	}
}

/* mremap(MAYMOVE|FIXED) of another mapping onto the MR's range. */
TEST_F(inval, mremap_onto_mr_range)
{
	struct odp_counters c0, c1;
	bool have0, have1;
	uint8_t *other;
	void *p;

	ASSERT_TRUE(warm(self, 1));
	other = odp_map_fresh(self->len);
	ASSERT_NE(NULL, other);
	odp_fill(other, self->len, 2, 0);
	have0 = odp_counters_read(&self->dev, &c0) == 0;
	p = mremap(other, self->len, self->len, MREMAP_MAYMOVE | MREMAP_FIXED, self->r);
	ASSERT_EQ(self->r, p);
	have1 = odp_counters_read(&self->dev, &c1) == 0;
	odp_fill(self->exp, self->len, 2, 0);

	EXPECT_TRUE(rdma_read_ok(self, "after mremap"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after mremap"));
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, self->len / ODP_PAGE));
}

/* move_pages() of every page of a warm MR to the other NUMA node. */
TEST_F(inval, move_pages_to_other_node)
{
	size_t i, n = self->len / ODP_PAGE;
	int nodes[REGION_LEN / ODP_PAGE], status[REGION_LEN / ODP_PAGE];
	void *pages[REGION_LEN / ODP_PAGE];
	struct odp_counters c0, c1;
	bool have0, have1;
	bool moved = true;

	if (numa_available() < 0 || numa_num_configured_nodes() < 2)
		SKIP(return, "needs two NUMA nodes");
	ASSERT_TRUE(warm(self, 1));
	for (i = 0; i < n; i++)
		pages[i] = self->r + i * ODP_PAGE;
	ASSERT_EQ(0, move_pages(0, n, pages, NULL, status, 0));
	for (i = 0; i < n; i++) {
		ASSERT_LE(0, status[i]);
		nodes[i] = status[i] == 0 ? 1 : 0;
	}
	have0 = odp_counters_read(&self->dev, &c0) == 0;
	ASSERT_EQ(0, move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE));
	have1 = odp_counters_read(&self->dev, &c1) == 0;
	for (i = 0; i < n; i++) {
		if (status[i] != nodes[i]) {
			TH_LOG("page %zu: status %d, wanted node %d", i, status[i], nodes[i]);
			moved = false;
		}
	}
	ASSERT_TRUE(moved);

	EXPECT_TRUE(rdma_read_ok(self, "after page migration"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after page migration"));
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, n));
}

/* ---- swap ---- */

#define SWAP_REGION_LEN (16ul << 20)
#define SWAP_PRESSURE_LEN (128ul << 20)
#define SWAP_MEMORY_MAX "40M"

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "re");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static bool have_swap(void)
{
	char line[256];
	int lines = 0;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	return lines > 1;
}

/* Moves this process into a new memory cgroup limited to SWAP_MEMORY_MAX. */
static int cgroup_enter(FIXTURE_DATA(inval) * self)
{
	snprintf(self->cgroup, sizeof(self->cgroup), "/sys/fs/cgroup/rxe-odp-swap-%d", getpid());
	if (odp_memcg_enter(self->cgroup, SWAP_MEMORY_MAX)) {
		self->cgroup[0] = 0;
		return -1;
	}
	return 0;
}

static void cgroup_leave(FIXTURE_DATA(inval) * self)
{
	if (!self->cgroup[0])
		return;
	odp_memcg_leave(self->cgroup);
	self->cgroup[0] = 0;
}

/*
 * Swap-out and swap-in: in a memory cgroup smaller than what the process
 * touches, the registered buffer is reclaimed to swap (pagemap shows its
 * pages swapped out, the cgroup's swap usage is not zero); an RDMA read
 * then returns its exact content, faulting the pages back in, and an RDMA
 * write lands where the CPU sees it.
 */
TEST_F_TIMEOUT(inval, swap_out_and_in, 900)
{
	long swapped0, swapped1, swap_current;
	struct odp_counters c0, c1;
	bool have0, have1;
	char path[192];
	uint8_t *pressure;
	int pass;

	if (!have_swap())
		SKIP(return, "no swap device");
	/*
	 * The mirror must still be full when reclaim comes: no NUMA scanner
	 * sweeping it empty first; small pages only, for a page-exact count.
	 */
	ASSERT_EQ(0, odp_no_numa_balancing());
	/* A bigger MR; its pages must be charged to the cgroup, so touch them after moving. */
	region_teardown(self);
	ASSERT_EQ(0, region_setup(self, SWAP_REGION_LEN));
	ASSERT_EQ(0, madvise(self->r, self->len, MADV_NOHUGEPAGE));
	ASSERT_EQ(0, cgroup_enter(self));
	ASSERT_TRUE(warm(self, 1));

	have0 = odp_counters_read(&self->dev, &c0) == 0;
	pressure = odp_map_fresh(SWAP_PRESSURE_LEN);
	ASSERT_NE(NULL, pressure);
	for (pass = 0; pass < 2; pass++)
		odp_fill(pressure, SWAP_PRESSURE_LEN, 100 + pass, 0);
	have1 = odp_counters_read(&self->dev, &c1) == 0;
	swapped0 = odp_pages_swapped(self->r, self->len);
	snprintf(path, sizeof(path), "%s/memory.swap.current", self->cgroup);
	swap_current = read_long(path);
	odp_unmap(pressure, SWAP_PRESSURE_LEN);
	TH_LOG("%ld of %lu MR pages swapped out; cgroup swap %ld bytes", swapped0,
	       self->len / ODP_PAGE, swap_current);
	ASSERT_LT(0, swapped0)
	{
		TH_LOG("reclaim did not swap out the registered buffer");
	}
	ASSERT_LT(0, swap_current);

	/* Count what the RDMA read swapped in before the CPU looks at r. */
	EXPECT_TRUE(rdma_read_expected(self, "after swap-out"));
	swapped1 = odp_pages_swapped(self->r, self->len);
	TH_LOG("%ld MR pages still swapped out after the RDMA read", swapped1);
	EXPECT_GT(swapped0, swapped1);
	EXPECT_TRUE(rdma_read_matches_cpu(self, "after swap-in"));
	EXPECT_TRUE(rdma_write_ok(self, 3, "after swap-in"));
	cgroup_leave(self);
	ASSERT_TRUE(have0 && have1);
	EXPECT_TRUE(counters_grew(&c0, &c1, (uint64_t)swapped0));
}

TEST_HARNESS_MAIN
