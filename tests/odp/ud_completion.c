// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * A UD receive completion tells the user which L3 header the first 40
 * bytes of the receive buffer hold: RoCEv2 leaves the IPv6 header there,
 * or the IPv4 header in bytes 20..39.  RoCE HCAs (mlx5) report it in the
 * completion's sl, bits 2:0 (1 IPv6, 2 IPv4) and bit 3 (the header came in
 * UDP), and UCX's ud_verbs reads it there to check the destination GID of
 * each datagram; stock rxe left sl 0 and UCX dropped every datagram sent
 * on an IPv4 GID (patch 0012).  Each test sends one datagram from one UD
 * QP to another through the device's own GID of one family and checks the
 * completion, the header it describes and every byte of the payload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "odp_common.h"

#include "odp_harness.h"

#define UD_GRH_LEN 40
/* Odd, and within the 1024-byte path MTU with the headers. */
#define UD_PAYLOAD 777u
#define UD_SEED 0x4d3c2b1aull

#define SL_ROCE_UDP 0x8
#define SL_L3_IPV6 0x1
#define SL_L3_IPV4 0x2

static bool gid_is_v4mapped(const union ibv_gid *g)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(g->raw, prefix, sizeof(prefix));
}

/* A RoCE v2 GID of the port of the wanted family; its index or -1. */
static int find_gid(struct odp_dev *d, bool ipv4)
{
	struct ibv_gid_entry e;
	int i;

	for (i = 0; i < d->port_attr.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(d->ctx, d->port, i, &e, 0))
			continue;
		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 && gid_is_v4mapped(&e.gid) == ipv4)
			return i;
	}
	return -1;
}

FIXTURE(ud_completion)
{
	struct odp_dev dev;
	struct odp_ud_pair pair;
	uint8_t *sbuf, *rbuf;
	struct ibv_mr *smr, *rmr;
};

FIXTURE_SETUP(ud_completion)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
	self->sbuf = malloc(UD_PAYLOAD);
	self->rbuf = malloc(UD_GRH_LEN + UD_PAYLOAD);
	ASSERT_TRUE(self->sbuf && self->rbuf);
	self->smr = odp_reg_pinned(self->dev.pd, self->sbuf, UD_PAYLOAD, IBV_ACCESS_LOCAL_WRITE);
	self->rmr = odp_reg_pinned(self->dev.pd, self->rbuf, UD_GRH_LEN + UD_PAYLOAD,
				   IBV_ACCESS_LOCAL_WRITE);
	ASSERT_TRUE(self->smr && self->rmr);
}

FIXTURE_TEARDOWN(ud_completion)
{
	odp_ud_pair_destroy(&self->pair);
	if (self->smr)
		ibv_dereg_mr(self->smr);
	if (self->rmr)
		ibv_dereg_mr(self->rmr);
	free(self->sbuf);
	free(self->rbuf);
	odp_dev_close(&self->dev);
}

/*
 * Sends one datagram from pair.a to pair.b over the device's GID of the
 * given family and checks b's receive completion and buffer.
 */
static void ud_datagram_check(struct __test_metadata *_metadata, FIXTURE_DATA(ud_completion) * self,
			      bool ipv4)
{
	struct odp_dev *d = &self->dev;
	const uint8_t *l3 = self->rbuf;
	struct ibv_wc wc;
	int idx = find_gid(d, ipv4);

	if (idx < 0)
		SKIP(return, "%s has no RoCE v2 %s GID", d->name, ipv4 ? "IPv4" : "IPv6");
	d->gid_index = idx;
	ASSERT_EQ(0, ibv_query_gid(d->ctx, d->port, idx, &d->gid));
	ASSERT_EQ(0, odp_ud_pair_create(d, &self->pair, NULL));

	odp_fill(self->sbuf, UD_PAYLOAD, UD_SEED, 0);
	memset(self->rbuf, 0xa5, UD_GRH_LEN + UD_PAYLOAD);
	ASSERT_EQ(0, odp_post_recv(self->pair.b, self->rbuf, UD_GRH_LEN + UD_PAYLOAD,
				   self->rmr->lkey, 2));
	ASSERT_EQ(0, odp_post_ud_send(self->pair.a, self->pair.ah, self->pair.b->qp_num, self->sbuf,
				      UD_PAYLOAD, self->smr->lkey, 1));
	ASSERT_EQ(0, odp_wait_ok(self->pair.cq_a, IBV_WC_SEND, NULL));
	ASSERT_EQ(0, odp_wait_ok(self->pair.cq_b, IBV_WC_RECV, &wc));

	odp_log("GID index %d (%s): wc sl 0x%x wc_flags 0x%x byte_len %u src_qp 0x%x", idx,
		ipv4 ? "IPv4" : "IPv6", wc.sl, wc.wc_flags, wc.byte_len, wc.src_qp);
	EXPECT_TRUE(!!(wc.wc_flags & IBV_WC_GRH));
	EXPECT_EQ(UD_GRH_LEN + UD_PAYLOAD, wc.byte_len);
	EXPECT_EQ(self->pair.a->qp_num, wc.src_qp);
	/* the packet type, as UCX reads it: L3 header type, and in UDP */
	EXPECT_EQ(ipv4 ? SL_L3_IPV4 : SL_L3_IPV6, wc.sl & 0x7)
	{
		TH_LOG("sl 0x%x does not say %s; UCX would read the header as %s", wc.sl,
		       ipv4 ? "IPv4" : "IPv6", (wc.sl & 0x7) == SL_L3_IPV4 ? "IPv4" : "IPv6");
	}
	EXPECT_TRUE(!!(wc.sl & SL_ROCE_UDP));

	/* the header is the one sl names, to and from the device's own GID */
	if (ipv4) {
		EXPECT_EQ(0x45, l3[20]);
		EXPECT_EQ(0, memcmp(l3 + 32, &d->gid.raw[12], 4)); /* saddr */
		EXPECT_EQ(0, memcmp(l3 + 36, &d->gid.raw[12], 4)); /* daddr */
	} else {
		EXPECT_EQ(6, l3[0] >> 4);
		EXPECT_EQ(0, memcmp(l3 + 8, d->gid.raw, 16));  /* sgid */
		EXPECT_EQ(0, memcmp(l3 + 24, d->gid.raw, 16)); /* dgid */
	}
	EXPECT_EQ(-1, odp_check(self->rbuf + UD_GRH_LEN, UD_PAYLOAD, UD_SEED, 0, "payload"));
}

/* A datagram over an IPv4-mapped GID: sl says IPv4 (2) in UDP (8). */
TEST_F(ud_completion, recv_on_ipv4_gid_says_ipv4_header_in_sl)
{
	ud_datagram_check(_metadata, self, true);
}

/* A datagram over an IPv6 GID (the link-local one): sl says IPv6 (1) in UDP (8). */
TEST_F(ud_completion, recv_on_ipv6_gid_says_ipv6_header_in_sl)
{
	ud_datagram_check(_metadata, self, false);
}

TEST_HARNESS_MAIN
