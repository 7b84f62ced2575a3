// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Fault-around: a miss on an ODP MR mirrors the aligned window of
 * fault_around_pages pages that holds the access, never past the MR, a
 * VMA boundary of the access or, for writes, over file pages; 0 turns it
 * off.  Counted in odp_faults / odp_pages_faulted (pages newly mirrored).
 *
 * The tests set the module parameter and restore it in teardown; they turn
 * fault-ahead (fault_ahead.c) off meanwhile, so that only the window counts.
 */
#include "odp_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "odp_harness.h"

#define SEED 0xfa17ull
#define PARAM "fault_around_pages"
/* The window the tests use, and the region: two windows, window-aligned. */
#define WIN 16ul
#define WIN_LEN (WIN * ODP_PAGE)
#define REGION_PAGES (2 * WIN)
#define REGION_LEN (REGION_PAGES * ODP_PAGE)
#define MSG 1000u

FIXTURE(fa)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	uint8_t *src;
	struct ibv_mr *src_mr;
	/* a reservation holding a window-aligned region of REGION_LEN */
	void *raw;
	size_t raw_len;
	uint8_t *base;
	char saved[32];
	char saved_ahead[32];
};

FIXTURE_SETUP(fa)
{
	ASSERT_EQ(0, odp_no_numa_balancing());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, odp_param_read(PARAM, self->saved, sizeof(self->saved)));
	ASSERT_EQ(0, odp_param_save_and_write("fault_ahead_pages", self->saved_ahead,
					      sizeof(self->saved_ahead), 0));
	self->src = odp_map_fresh(REGION_LEN);
	ASSERT_NE(NULL, self->src);
	odp_fill(self->src, REGION_LEN, SEED, 0);
	self->src_mr = odp_reg_pinned(self->dev.pd, self->src, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, self->src_mr);

	self->raw_len = REGION_LEN + WIN_LEN;
	self->raw = odp_map_fresh(self->raw_len);
	ASSERT_NE(NULL, self->raw);
	/* small pages only, so that pages are counted one by one */
	ASSERT_EQ(0, madvise(self->raw, self->raw_len, MADV_NOHUGEPAGE));
	self->base = (uint8_t *)(((uintptr_t)self->raw + WIN_LEN - 1) & ~(WIN_LEN - 1));
}

FIXTURE_TEARDOWN(fa)
{
	odp_param_restore(PARAM, self->saved);
	odp_param_restore("fault_ahead_pages", self->saved_ahead);
	odp_unmap(self->raw, self->raw_len);
	if (self->src_mr)
		ibv_dereg_mr(self->src_mr);
	odp_unmap(self->src, REGION_LEN);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

static int set_window(unsigned long pages)
{
	return odp_param_write_uint(PARAM, pages);
}

/* RDMA write of len pattern bytes (source offset off) to base + off. */
static int write_at(FIXTURE_DATA(fa) * self, struct ibv_mr *mr, size_t off, uint32_t len)
{
	return odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src + off, len, self->src_mr->lkey,
			     (uintptr_t)self->base + off, mr->rkey);
}

/* RDMA read of len bytes at base + off into the source buffer at off. */
static int read_at(FIXTURE_DATA(fa) * self, struct ibv_mr *mr, size_t off, uint32_t len)
{
	return odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->src + off, len, self->src_mr->lkey,
			     (uintptr_t)self->base + off, mr->rkey);
}

/* Faults and pages faulted since *c are want_faults and want_pages; *c moves on. */
static void expect_faulted(struct __test_metadata *_metadata, FIXTURE_DATA(fa) * self,
			   struct odp_counters *c, uint64_t want_faults, uint64_t want_pages)
{
	struct odp_counters now;

	ASSERT_EQ(0, odp_counters_read(&self->dev, &now));
	TH_LOG("faults +%" PRIu64 ", pages faulted +%" PRIu64, now.faults - c->faults,
	       now.pages_faulted - c->pages_faulted);
	EXPECT_EQ(want_faults, now.faults - c->faults);
	EXPECT_EQ(want_pages, now.pages_faulted - c->pages_faulted);
	*c = now;
}

#define PG(n) ((size_t)(n)*ODP_PAGE)

/*
 * A write into an absent page mirrors its whole window (and the CPU page
 * table gets the window's pages, written with write intent); a write
 * elsewhere in the window then faults nothing, and one that crosses into
 * the next window faults that window.
 */
TEST_F(fa, write_mirrors_the_window)
{
	struct odp_counters c;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_window(WIN));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));

	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(5) + 77, MSG));
	expect_faulted(_metadata, self, &c, 1, WIN);
	EXPECT_EQ((long)WIN, odp_pages_present(self->base, WIN_LEN));
	EXPECT_EQ(0, odp_pages_present(self->base + WIN_LEN, WIN_LEN));

	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(12), MSG));
	expect_faulted(_metadata, self, &c, 0, 0);

	/* pages 15 and 16: the second window is faulted, the first was there */
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(16) - 300, MSG));
	expect_faulted(_metadata, self, &c, 1, WIN);

	EXPECT_EQ(-1, odp_check(self->base + PG(5) + 77, MSG, SEED, PG(5) + 77, "first"));
	EXPECT_EQ(-1, odp_check(self->base + PG(12), MSG, SEED, PG(12), "second"));
	EXPECT_EQ(-1, odp_check(self->base + PG(16) - 300, MSG, SEED, PG(16) - 300, "third"));
	EXPECT_EQ(-1, odp_check_byte(self->base, PG(5) + 77, 0, "before the first"));
	ibv_dereg_mr(mr);
}

/* With the parameter at 0 a fault mirrors only the page it needs. */
TEST_F(fa, zero_turns_it_off)
{
	struct odp_counters c;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_window(0));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(5) + 77, MSG));
	expect_faulted(_metadata, self, &c, 1, 1);
	EXPECT_EQ(1, odp_pages_present(self->base, REGION_LEN));
	EXPECT_EQ(-1, odp_check(self->base + PG(5) + 77, MSG, SEED, PG(5) + 77, "written"));
	ibv_dereg_mr(mr);
}

/* A read (rkey side) mirrors the window too, and returns the content exactly. */
TEST_F(fa, read_mirrors_the_window)
{
	struct odp_counters c;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_window(WIN));
	odp_fill(self->base, REGION_LEN, SEED + 1, 0);
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));
	ASSERT_EQ(IBV_WC_SUCCESS, read_at(self, mr, PG(19) + 5, MSG));
	expect_faulted(_metadata, self, &c, 1, WIN);
	EXPECT_EQ(-1, odp_check(self->src + PG(19) + 5, MSG, SEED + 1, PG(19) + 5, "read"));
	ibv_dereg_mr(mr);
}

/*
 * PROT_NONE pages inside the window: the window ends at the VMA boundary
 * rather than failing the fault, on either side of the access.
 */
TEST_F(fa, window_stops_at_guard_pages)
{
	struct odp_counters c;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_window(WIN));
	ASSERT_EQ(0, mprotect(self->base + PG(2), PG(1), PROT_NONE));
	ASSERT_EQ(0, mprotect(self->base + PG(20), PG(1), PROT_NONE));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));

	/* window [0, 16) meets the guard at page 2: pages 3..15 */
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(5) + 1, MSG));
	expect_faulted(_metadata, self, &c, 1, 13);

	/* window [16, 32) meets the guard at page 20: pages 16..19 */
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(18) + 2, MSG));
	expect_faulted(_metadata, self, &c, 1, 4);

	EXPECT_EQ(-1, odp_check(self->base + PG(5) + 1, MSG, SEED, PG(5) + 1, "first"));
	EXPECT_EQ(-1, odp_check(self->base + PG(18) + 2, MSG, SEED, PG(18) + 2, "second"));
	ibv_dereg_mr(mr);
}

/* The window never leaves the MR: nothing outside it is faulted or allocated. */
TEST_F(fa, window_stays_inside_the_mr)
{
	struct odp_counters c;
	struct ibv_mr *mr;

	ASSERT_EQ(0, set_window(WIN));
	mr = odp_reg(self->dev.pd, self->base + PG(3), PG(5), ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(4) + 9, MSG));
	expect_faulted(_metadata, self, &c, 1, 5);
	EXPECT_EQ(5, odp_pages_present(self->base, REGION_LEN));
	EXPECT_EQ(5, odp_pages_present(self->base + PG(3), PG(5)));
	EXPECT_EQ(-1, odp_check(self->base + PG(4) + 9, MSG, SEED, PG(4) + 9, "written"));
	ibv_dereg_mr(mr);
}

/*
 * Over a shared file mapping a write mirrors only what it writes (no file
 * page is dirtied that nobody wrote), while a read still takes the window.
 * A shmem (memfd) mapping takes the window for writes as anonymous memory
 * does.
 */
static uint8_t *map_file_at(uint8_t *at, int fd)
{
	void *p = mmap(at, REGION_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

TEST_F(fa, write_does_not_widen_over_file_pages)
{
	char path[] = "/var/tmp/rxe-odp-fa-XXXXXX";
	struct odp_counters c;
	struct statfs sfs;
	struct ibv_mr *mr;
	int fd;

	ASSERT_EQ(0, set_window(WIN));
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(0, fstatfs(fd, &sfs));
	if (sfs.f_type == TMPFS_MAGIC) {
		close(fd);
		SKIP(return, "/var/tmp is tmpfs here: no page-cache file to test with");
	}
	ASSERT_EQ(0, ftruncate(fd, REGION_LEN));
	ASSERT_NE(NULL, map_file_at(self->base, fd));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));

	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(5) + 77, MSG));
	expect_faulted(_metadata, self, &c, 1, 1);

	ASSERT_EQ(IBV_WC_SUCCESS, read_at(self, mr, PG(20) + 3, MSG));
	expect_faulted(_metadata, self, &c, 1, WIN);

	EXPECT_EQ(-1, odp_check(self->base + PG(5) + 77, MSG, SEED, PG(5) + 77, "written"));
	EXPECT_EQ(-1, odp_check_byte(self->src + PG(20) + 3, MSG, 0, "read back"));
	ibv_dereg_mr(mr);
	close(fd);
}

TEST_F(fa, shmem_write_mirrors_the_window)
{
	struct odp_counters c;
	struct ibv_mr *mr;
	int fd;

	ASSERT_EQ(0, set_window(WIN));
	fd = memfd_create("rxe-odp-fa", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, REGION_LEN));
	ASSERT_NE(NULL, map_file_at(self->base, fd));
	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(21) + 77, MSG));
	expect_faulted(_metadata, self, &c, 1, WIN);
	EXPECT_EQ(-1, odp_check(self->base + PG(21) + 77, MSG, SEED, PG(21) + 77, "written"));
	ibv_dereg_mr(mr);
	close(fd);
}

/* /dev/kmsg positioned at its end, or -1. */
static int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Does a kernel log record written since kmsg_open_at_end() contain s? */
static bool kmsg_has(int fd, const char *s)
{
	bool found = false;
	char rec[8192];
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) /* records were overwritten: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		found |= strstr(rec, s) != NULL;
	}
	return found;
}

/*
 * A userfaultfd-armed region (MISSING mode, pages 3-5 filled with
 * UFFDIO_COPY): an RDMA write into page 4 mirrors that page only.  HMM faults
 * cannot wait for a monitor, so a window over the missing neighbours would
 * fail (and a CONFIG_DEBUG_VM kernel, the debug lane's, logs
 * "FAULT_FLAG_ALLOW_RETRY missing" with a stack dump for it).
 */
TEST_F(fa, window_does_not_widen_over_userfaultfd_regions)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_copy copy = { 0 };
	struct odp_counters c;
	struct ibv_mr *mr;
	int uffd, kmsg;

	ASSERT_EQ(0, set_window(WIN));
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	reg.range.start = (uintptr_t)self->base;
	reg.range.len = REGION_LEN;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	copy.dst = (uintptr_t)self->base + PG(3);
	copy.src = (uintptr_t)self->src + PG(20); /* not what the write brings */
	copy.len = PG(3);
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_COPY, &copy));

	mr = odp_reg(self->dev.pd, self->base, REGION_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	kmsg = kmsg_open_at_end();
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c));
	ASSERT_EQ(IBV_WC_SUCCESS, write_at(self, mr, PG(4) + 9, MSG));
	expect_faulted(_metadata, self, &c, 1, 1);
	EXPECT_EQ(-1, odp_check(self->base + PG(4) + 9, MSG, SEED, PG(4) + 9, "written"));
	if (kmsg >= 0) {
		EXPECT_FALSE(kmsg_has(kmsg, "FAULT_FLAG_ALLOW_RETRY missing"));
		close(kmsg);
	}
	ibv_dereg_mr(mr);
	close(uffd);
}

/* Only 0 and powers of two up to 512 are taken; a refused write changes nothing. */
TEST_F(fa, bad_values_are_refused)
{
	const char *const bad[] = { "3", "1024", "-1", "x" };
	const char *const good[] = { "0", "1", "512", "16" };

	EXPECT_EQ(0, odp_param_check_values(PARAM, "64", bad, sizeof(bad) / sizeof(bad[0]), good,
					    sizeof(good) / sizeof(good[0])));
}

TEST_HARNESS_MAIN
