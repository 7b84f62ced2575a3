// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The device advertises ODP: general support and the per-transport
 * operations, as ibv_query_device_ex() reports them to applications.
 */
#include "odp_common.h"

#include "odp_harness.h"

FIXTURE(caps)
{
	struct odp_dev dev;
};

FIXTURE_SETUP(caps)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
}

FIXTURE_TEARDOWN(caps)
{
	odp_dev_close(&self->dev);
}

static void log_caps(const struct ibv_odp_caps *c)
{
	odp_log("odp_caps: general 0x%llx rc 0x%x uc 0x%x ud 0x%x",
		(unsigned long long)c->general_caps, c->per_transport_caps.rc_odp_caps,
		c->per_transport_caps.uc_odp_caps, c->per_transport_caps.ud_odp_caps);
}

/* general_caps has IBV_ODP_SUPPORT: explicit ODP MRs can be registered. */
TEST_F(caps, general_odp_support)
{
	const struct ibv_odp_caps *c = &self->dev.attr.odp_caps;

	log_caps(c);
	ASSERT_TRUE(!!(c->general_caps & IBV_ODP_SUPPORT));
}

/* RC: send, receive, write, read, atomics and SRQ receive on ODP memory. */
TEST_F(caps, rc_odp_caps)
{
	const uint32_t want = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE |
			      IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_ATOMIC |
			      IBV_ODP_SUPPORT_SRQ_RECV;
	uint32_t rc = self->dev.attr.odp_caps.per_transport_caps.rc_odp_caps;

	log_caps(&self->dev.attr.odp_caps);
	EXPECT_EQ(want, rc & want)
	{
		TH_LOG("missing RC ODP caps: 0x%x", want & ~rc);
	}
}

/* UD: send, receive and SRQ receive on ODP memory. */
TEST_F(caps, ud_odp_caps)
{
	const uint32_t want =
		IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_SRQ_RECV;
	uint32_t ud = self->dev.attr.odp_caps.per_transport_caps.ud_odp_caps;

	log_caps(&self->dev.attr.odp_caps);
	EXPECT_EQ(want, ud & want)
	{
		TH_LOG("missing UD ODP caps: 0x%x", want & ~ud);
	}
}

/*
 * RC flush and atomic write on ODP memory (bits 6 and 7 of rc_odp_caps,
 * as later kernels define them), for each of the two the device supports.
 */
TEST_F(caps, rc_odp_flush_atomic_write_caps)
{
	uint64_t dev_caps = self->dev.attr.device_cap_flags_ex;
	uint32_t rc = self->dev.attr.odp_caps.per_transport_caps.rc_odp_caps;
	bool flush = dev_caps & ODP_DEVICE_FLUSH_GLOBAL;
	bool awrite = dev_caps & ODP_DEVICE_ATOMIC_WRITE;

	if (!flush && !awrite)
		SKIP(return, "device supports neither flush nor atomic write");
	log_caps(&self->dev.attr.odp_caps);
	if (flush)
		EXPECT_TRUE(!!(rc & ODP_CAP_FLUSH));
	if (awrite)
		EXPECT_TRUE(!!(rc & ODP_CAP_ATOMIC_WRITE));
}

/* The device can actually register an ODP MR when it says so. */
TEST_F(caps, odp_registration_accepted)
{
	size_t len = 16 * ODP_PAGE;
	void *buf = odp_map_fresh(len);
	struct ibv_mr *mr;

	ASSERT_NE(NULL, buf);
	mr = ibv_reg_mr(self->dev.pd, buf, len, ODP_ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	EXPECT_NE(NULL, mr)
	{
		TH_LOG("ODP ibv_reg_mr: %s", strerror(errno));
	}
	if (mr)
		ibv_dereg_mr(mr);
	odp_unmap(buf, len);
}

TEST_HARNESS_MAIN
