// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Registering ODP memory pins nothing: an 8 GiB ODP MR over an anonymous
 * mapping registers in a guest with 4 GiB of RAM, leaves the process's
 * pinned and locked page counts where they were, is not bounded by
 * RLIMIT_MEMLOCK, and takes about as long as registering 1 MiB.  The same
 * registration without ODP fails.
 *
 * The tests run as an ordinary user would: without CAP_IPC_LOCK and with a
 * 64 MiB RLIMIT_MEMLOCK, so a pinned registration of 8 GiB fails up front
 * (ENOMEM) instead of trying to pin more memory than the guest has.
 */
#include "odp_common.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "odp_harness.h"

#define HUGE_LEN (8ull << 30)
#define SMALL_LEN (1ull << 20)
#define MEMLOCK_LIMIT (64ull << 20)

/* Drops CAP_IPC_LOCK and sets RLIMIT_MEMLOCK: the limits of a normal user. */
static int become_ordinary_user(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[2];
	struct rlimit rl = { .rlim_cur = MEMLOCK_LIMIT, .rlim_max = MEMLOCK_LIMIT };

	if (syscall(SYS_capget, &h, c)) {
		odp_log("capget: %s", strerror(errno));
		return -errno;
	}
	c[0].effective &= ~(1u << CAP_IPC_LOCK);
	c[0].permitted &= ~(1u << CAP_IPC_LOCK);
	c[0].inheritable &= ~(1u << CAP_IPC_LOCK);
	if (syscall(SYS_capset, &h, c)) {
		odp_log("capset: %s", strerror(errno));
		return -errno;
	}
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		odp_log("setrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static long mem_total_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

FIXTURE(reg)
{
	struct odp_dev dev;
	void *huge;
};

FIXTURE_SETUP(reg)
{
	long total = mem_total_kb();

	ASSERT_LT(0, total);
	/* The point is a region larger than the machine. */
	if (total >= (long)(HUGE_LEN >> 10))
		SKIP(return, "MemTotal %ld kB is not smaller than 8 GiB", total);
	/*
	 * Drop privileges before opening the device: uverbs refuses write()
	 * commands (EACCES) from a task whose credentials changed after open.
	 */
	ASSERT_EQ(0, become_ordinary_user());
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	self->huge = odp_map_fresh(HUGE_LEN);
	ASSERT_NE(NULL, self->huge);
}

FIXTURE_TEARDOWN(reg)
{
	odp_unmap(self->huge, HUGE_LEN);
	odp_dev_close(&self->dev);
}

/* 8 GiB ODP in a 4 GiB guest: registers; VmPin, VmLck unchanged; no page faulted in. */
TEST_F(reg, huge_odp_reg_pins_nothing)
{
	long pin0 = odp_proc_status_kb("VmPin"), lck0 = odp_proc_status_kb("VmLck");
	long rss0 = odp_proc_status_kb("VmRSS");
	long pin1, lck1, rss1;
	struct ibv_mr *mr;

	ASSERT_LE(0, pin0);
	ASSERT_LE(0, lck0);
	mr = odp_reg(self->dev.pd, self->huge, HUGE_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	pin1 = odp_proc_status_kb("VmPin");
	lck1 = odp_proc_status_kb("VmLck");
	rss1 = odp_proc_status_kb("VmRSS");
	TH_LOG("VmPin %ld -> %ld kB, VmLck %ld -> %ld kB, VmRSS %ld -> %ld kB", pin0, pin1, lck0,
	       lck1, rss0, rss1);
	EXPECT_EQ(pin0, pin1);
	EXPECT_EQ(lck0, lck1);
	/* Registration brought nothing of the 8 GiB in (16 MiB of slack). */
	EXPECT_GT(rss0 + 16 * 1024, rss1);
	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(pin0, odp_proc_status_kb("VmPin"));
}

/* The control: the same 8 GiB registered pinned fails (ENOMEM), pins nothing either. */
TEST_F(reg, huge_pinned_reg_fails)
{
	long pin0 = odp_proc_status_kb("VmPin");
	struct ibv_mr *mr;
	int err;

	mr = ibv_reg_mr(self->dev.pd, self->huge, HUGE_LEN, ODP_ACCESS_ALL);
	err = errno;
	if (mr)
		ibv_dereg_mr(mr);
	ASSERT_EQ(NULL, mr)
	{
		TH_LOG("a pinned 8 GiB registration succeeded in a 4 GiB guest");
	}
	TH_LOG("pinned 8 GiB registration failed as expected: %s", strerror(err));
	EXPECT_EQ(pin0, odp_proc_status_kb("VmPin"));
}

static uint64_t reg_time_ns(struct ibv_pd *pd, void *addr, size_t len, int reps, bool *ok)
{
	uint64_t best = UINT64_MAX;
	int i;

	*ok = true;
	for (i = 0; i < reps; i++) {
		uint64_t t0 = odp_now_ns(), dt;
		struct ibv_mr *mr = odp_reg(pd, addr, len, ODP_ACCESS_ALL);

		dt = odp_now_ns() - t0;
		if (!mr) {
			*ok = false;
			return 0;
		}
		ibv_dereg_mr(mr);
		if (dt < best)
			best = dt;
	}
	return best;
}

/*
 * Registration time does not grow with the size: the best of several
 * 8 GiB registrations takes less than 10 times the best 1 MiB one plus
 * 50 ms (pinning 8 GiB would take seconds even where it could be done).
 */
TEST_F(reg, reg_time_independent_of_size)
{
	uint64_t small, huge;
	bool ok;

	small = reg_time_ns(self->dev.pd, self->huge, SMALL_LEN, 7, &ok);
	ASSERT_TRUE(ok);
	huge = reg_time_ns(self->dev.pd, self->huge, HUGE_LEN, 3, &ok);
	ASSERT_TRUE(ok);
	TH_LOG("ODP registration: 1 MiB %.3f ms, 8 GiB %.3f ms", small / 1e6, huge / 1e6);
	EXPECT_LT(huge, 10 * small + 50000000ull);
}

/*
 * The 8 GiB MR works where the guest has no memory to back all of it: RDMA
 * writes near its start and near its end land exactly, and only the pages
 * touched are brought in.
 */
TEST_F(reg, huge_odp_mr_usable_at_both_ends)
{
	const uint64_t offs[2] = { 123, HUGE_LEN - 2 * ODP_MSG_LEN - 4567 };
	struct odp_rc_pair rc;
	struct ibv_mr *mr, *smr;
	uint8_t *src;
	long rss0;
	int i;

	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &rc, NULL));
	src = odp_map_fresh(ODP_BUF_LEN);
	ASSERT_NE(NULL, src);
	odp_fill(src, ODP_BUF_LEN, 0x8e1b, 0);
	smr = odp_reg_pinned(self->dev.pd, src, ODP_BUF_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, smr);
	mr = odp_reg(self->dev.pd, self->huge, HUGE_LEN, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, mr);
	rss0 = odp_proc_status_kb("VmRSS");
	for (i = 0; i < 2; i++) {
		uint8_t *dst = (uint8_t *)self->huge + offs[i];

		ASSERT_EQ(IBV_WC_SUCCESS,
			  odp_rdma_sync(&rc, IBV_WR_RDMA_WRITE, src + ODP_SRC_OFF, ODP_MSG_LEN,
					smr->lkey, (uintptr_t)dst, mr->rkey));
		EXPECT_EQ(-1,
			  odp_check(dst, ODP_MSG_LEN, 0x8e1b, ODP_SRC_OFF, "written into 8 GiB"));
	}
	TH_LOG("VmRSS %ld -> %ld kB", rss0, odp_proc_status_kb("VmRSS"));
	EXPECT_GT(rss0 + 16 * 1024, odp_proc_status_kb("VmRSS"));
	ibv_dereg_mr(mr);
	ibv_dereg_mr(smr);
	odp_unmap(src, ODP_BUF_LEN);
	odp_rc_pair_destroy(&rc);
}

TEST_HARNESS_MAIN
