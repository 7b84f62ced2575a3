// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Every operation works into and out of ODP memory whose pages are absent
 * when rxe touches them, with ODP memory on the local side (lkey: the
 * requester reads or the completer writes it), on the remote side (rkey, or
 * the receiver's buffers) or on both.
 *
 * "Absent" is checked, not assumed: before the operation no page of an ODP
 * buffer is present in the page table (/proc/self/pagemap); afterwards the
 * pages the data went through are, because rxe faulted them in.  Buffers
 * that are read by rxe carry a position-dependent pattern although their
 * pages are absent: they are memfd pages filled through another mapping.
 * Buffers written by rxe are fresh anonymous memory.  Every byte of every
 * destination is checked, including that nothing landed around the data.
 */
#include "odp_common.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "odp_harness.h"

#define SEED 0x0dd5eedull

struct mem {
	uint8_t *addr;
	size_t len;
	struct ibv_mr *mr;
	bool odp;
};

/* Memory holding odp_pat(seed, offset): absent pages if odp. */
static int mem_source(struct odp_dev *d, struct mem *m, bool odp, int access)
{
	m->len = ODP_BUF_LEN;
	m->odp = odp;
	if (odp) {
		m->addr = odp_map_absent_filled(m->len, SEED, 0);
		if (!m->addr)
			return -ENOMEM;
		m->mr = odp_reg(d->pd, m->addr, m->len, access);
	} else {
		m->addr = odp_map_fresh(m->len);
		if (!m->addr)
			return -ENOMEM;
		odp_fill(m->addr, m->len, SEED, 0);
		m->mr = odp_reg_pinned(d->pd, m->addr, m->len, access);
	}
	return m->mr ? 0 : -EINVAL;
}

/* Zeroed memory: fresh, absent pages if odp. */
static int mem_sink(struct odp_dev *d, struct mem *m, bool odp, int access)
{
	m->len = ODP_BUF_LEN;
	m->odp = odp;
	m->addr = odp_map_fresh(m->len);
	if (!m->addr)
		return -ENOMEM;
	m->mr = odp_reg_maybe(d->pd, m->addr, m->len, access, odp);
	return m->mr ? 0 : -EINVAL;
}

static void mem_free(struct mem *m)
{
	if (m->mr)
		ibv_dereg_mr(m->mr);
	odp_unmap(m->addr, m->len);
	memset(m, 0, sizeof(*m));
}

/* Does the ODP-ness of m apply (not pinned memory, not ODP_FORCE_PINNED)? */
static bool mem_is_odp(const struct mem *m)
{
	return m->odp && !odp_force_pinned();
}

/* No page of an ODP buffer is present yet. */
static long mem_present(const struct mem *m)
{
	return mem_is_odp(m) ? odp_pages_present(m->addr, m->len) : 0;
}

/* The pages of [off, off+len) of an ODP buffer are present now (rxe faulted them). */
static bool mem_faulted(const struct mem *m, size_t off, size_t len)
{
	long want = odp_pages_spanned(m->addr + off, len);
	long got;

	if (!mem_is_odp(m))
		return true;
	got = odp_pages_present(m->addr + off, len);
	if (got < want)
		odp_log("only %ld of the %ld pages the data went through are present", got, want);
	return got >= want;
}

/* A sink holds the pattern (from the source offset src_off) at [off, off+len), zeros elsewhere. */
static bool sink_holds(const struct mem *m, size_t off, size_t len, size_t src_off)
{
	bool ok = odp_check(m->addr + off, len, SEED, src_off, "data") < 0;

	ok &= odp_check_byte(m->addr, off, 0, "bytes before the data") < 0;
	ok &= odp_check_byte(m->addr + off + len, m->len - off - len, 0, "bytes after the data") <
	      0;
	return ok;
}

FIXTURE(ops)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	struct odp_ud_pair ud;
	struct ibv_srq *srq;
	struct mem src, dst;
};

/* Where the ODP memory is: requester side (local), responder side (remote), or both. */
FIXTURE_VARIANT(ops)
{
	bool local_odp;
	bool remote_odp;
};

/* clang-format off */
FIXTURE_VARIANT_ADD(ops, local_odp)
{
	.local_odp = true,
	.remote_odp = false,
};

FIXTURE_VARIANT_ADD(ops, remote_odp)
{
	.local_odp = false,
	.remote_odp = true,
};

FIXTURE_VARIANT_ADD(ops, both_odp)
{
	.local_odp = true,
	.remote_odp = true,
};
/* clang-format on */

FIXTURE_SETUP(ops)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
}

FIXTURE_TEARDOWN(ops)
{
	mem_free(&self->src);
	mem_free(&self->dst);
	odp_rc_pair_destroy(&self->rc);
	odp_ud_pair_destroy(&self->ud);
	if (self->srq)
		ibv_destroy_srq(self->srq);
	odp_dev_close(&self->dev);
}

/* RC send from local memory into a receive buffer of the remote QP. */
TEST_F(ops, rc_send_recv)
{
	struct ibv_wc wc;

	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	ASSERT_EQ(0, odp_post_recv(self->rc.b, self->dst.addr + ODP_DST_OFF, ODP_MSG_LEN,
				   self->dst.mr->lkey, 1));
	ASSERT_EQ(0, odp_post_send(self->rc.a, self->src.addr + ODP_SRC_OFF, ODP_MSG_LEN,
				   self->src.mr->lkey, 2));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_SEND, NULL));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_b, IBV_WC_RECV, &wc));
	EXPECT_EQ(ODP_MSG_LEN, wc.byte_len);
	EXPECT_TRUE(sink_holds(&self->dst, ODP_DST_OFF, ODP_MSG_LEN, ODP_SRC_OFF));
	EXPECT_TRUE(mem_faulted(&self->src, ODP_SRC_OFF, ODP_MSG_LEN));
	EXPECT_TRUE(mem_faulted(&self->dst, ODP_DST_OFF, ODP_MSG_LEN));
}

/* RDMA write from local memory (lkey) into remote memory (rkey). */
TEST_F(ops, rdma_write)
{
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_WRITE, self->src.addr + ODP_SRC_OFF,
				ODP_MSG_LEN, self->src.mr->lkey,
				(uintptr_t)self->dst.addr + ODP_DST_OFF, self->dst.mr->rkey));
	EXPECT_TRUE(sink_holds(&self->dst, ODP_DST_OFF, ODP_MSG_LEN, ODP_SRC_OFF));
	EXPECT_TRUE(mem_faulted(&self->src, ODP_SRC_OFF, ODP_MSG_LEN));
	EXPECT_TRUE(mem_faulted(&self->dst, ODP_DST_OFF, ODP_MSG_LEN));
}

/* RDMA read from remote memory (rkey) into local memory (lkey). */
TEST_F(ops, rdma_read)
{
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	ASSERT_EQ(IBV_WC_SUCCESS,
		  odp_rdma_sync(&self->rc, IBV_WR_RDMA_READ, self->dst.addr + ODP_DST_OFF,
				ODP_MSG_LEN, self->dst.mr->lkey,
				(uintptr_t)self->src.addr + ODP_SRC_OFF, self->src.mr->rkey));
	EXPECT_TRUE(sink_holds(&self->dst, ODP_DST_OFF, ODP_MSG_LEN, ODP_SRC_OFF));
	EXPECT_TRUE(mem_faulted(&self->src, ODP_SRC_OFF, ODP_MSG_LEN));
	EXPECT_TRUE(mem_faulted(&self->dst, ODP_DST_OFF, ODP_MSG_LEN));
}

/* Targets in three different pages, the last one the last word of its page. */
static const size_t atomic_target[3] = { 8 * 13, ODP_PAGE + 8 * 200, 3 * ODP_PAGE - 8 };
/* Result slots of the requester, in three other pages. */
static const size_t atomic_result[3] = { ODP_PAGE - 8, 2 * ODP_PAGE + 8 * 77,
					 4 * ODP_PAGE + 8 * 301 };

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * After atomics on the three targets: each result slot holds the old value,
 * each target holds want[i], and every other byte of both buffers is as it was.
 */
static bool atomics_landed(const struct mem *target, const struct mem *result,
			   const uint64_t want[3])
{
	bool ok = true;
	size_t prev = 0;
	int i;

	for (i = 0; i < 3; i++) {
		uint64_t old = odp_pat_u64(SEED, atomic_target[i]);
		uint64_t got = load64(result->addr + atomic_result[i]);
		uint64_t now = load64(target->addr + atomic_target[i]);

		if (got != old) {
			odp_log("atomic %d returned 0x%016llx, old value 0x%016llx", i,
				(unsigned long long)got, (unsigned long long)old);
			ok = false;
		}
		if (now != want[i]) {
			odp_log("atomic %d target holds 0x%016llx, want 0x%016llx", i,
				(unsigned long long)now, (unsigned long long)want[i]);
			ok = false;
		}
		/* Untouched target bytes keep the pattern; untouched result bytes stay 0. */
		ok &= odp_check(target->addr + prev, atomic_target[i] - prev, SEED, prev,
				"target around the atomics") < 0;
		prev = atomic_target[i] + 8;
	}
	ok &= odp_check(target->addr + prev, target->len - prev, SEED, prev,
			"target after the atomics") < 0;
	prev = 0;
	for (i = 0; i < 3; i++) {
		ok &= odp_check_byte(result->addr + prev, atomic_result[i] - prev, 0,
				     "result buffer around the results") < 0;
		prev = atomic_result[i] + 8;
	}
	ok &= odp_check_byte(result->addr + prev, result->len - prev, 0,
			     "result buffer after the results") < 0;
	return ok;
}

static bool atomics_faulted(const struct mem *target, const struct mem *result)
{
	bool ok = true;
	int i;

	for (i = 0; i < 3; i++) {
		ok &= mem_faulted(target, atomic_target[i], 8);
		ok &= mem_faulted(result, atomic_result[i], 8);
	}
	return ok;
}

/* Compare-and-swap on remote memory, the old value returned into local memory. */
TEST_F(ops, atomic_cmp_swp)
{
	uint64_t want[3];
	int i;

	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	for (i = 0; i < 3; i++) {
		uint64_t old = odp_pat_u64(SEED, atomic_target[i]);

		want[i] = ~old ^ (0x0123456789abcdefull * (uint64_t)(i + 1));
		ASSERT_EQ(0, odp_post_atomic(self->rc.a, IBV_WR_ATOMIC_CMP_AND_SWP,
					     self->dst.addr + atomic_result[i], self->dst.mr->lkey,
					     (uintptr_t)self->src.addr + atomic_target[i],
					     self->src.mr->rkey, old, want[i], i));
		ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_COMP_SWAP, NULL));
	}
	EXPECT_TRUE(atomics_landed(&self->src, &self->dst, want));
	EXPECT_TRUE(atomics_faulted(&self->src, &self->dst));
}

/* Fetch-and-add on remote memory, the old value returned into local memory. */
TEST_F(ops, atomic_fetch_add)
{
	uint64_t want[3];
	int i;

	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, NULL));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	for (i = 0; i < 3; i++) {
		uint64_t old = odp_pat_u64(SEED, atomic_target[i]);
		uint64_t add = 0x0101010101010101ull * (uint64_t)(i + 3) + 0x8000000000000001ull;

		want[i] = old + add;
		ASSERT_EQ(0, odp_post_atomic(self->rc.a, IBV_WR_ATOMIC_FETCH_AND_ADD,
					     self->dst.addr + atomic_result[i], self->dst.mr->lkey,
					     (uintptr_t)self->src.addr + atomic_target[i],
					     self->src.mr->rkey, add, 0, i));
		ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_FETCH_ADD, NULL));
	}
	EXPECT_TRUE(atomics_landed(&self->src, &self->dst, want));
	EXPECT_TRUE(atomics_faulted(&self->src, &self->dst));
}

/* UD: source offsets and receive buffers chosen so that each payload crosses a page. */
static const size_t ud_src_off[3] = { ODP_PAGE - 300, 2 * ODP_PAGE - 700, 3 * ODP_PAGE - 1000 };
static const size_t ud_dst_off[3] = { ODP_PAGE - 40 - 123, 2 * ODP_PAGE - 40 - 555,
				      4 * ODP_PAGE - 40 - 999 };
#define GRH_LEN 40u

/* The three UD payloads landed after their GRH; nothing outside the receive buffers changed. */
static bool ud_landed(const struct mem *dst, uint32_t len)
{
	bool ok = true;
	size_t prev = 0;
	int i;

	for (i = 0; i < 3; i++) {
		ok &= odp_check(dst->addr + ud_dst_off[i] + GRH_LEN, len, SEED, ud_src_off[i],
				"UD payload") < 0;
		ok &= odp_check_byte(dst->addr + prev, ud_dst_off[i] - prev, 0,
				     "bytes around the receive buffers") < 0;
		prev = ud_dst_off[i] + GRH_LEN + len;
	}
	ok &= odp_check_byte(dst->addr + prev, dst->len - prev, 0,
			     "bytes after the receive buffers") < 0;
	return ok;
}

static void ud_send_recv(struct __test_metadata *_metadata, FIXTURE_DATA(ops) * self,
			 const FIXTURE_VARIANT(ops) * variant, bool srq)
{
	uint32_t len = (uint32_t)odp_path_mtu_bytes(&self->dev);
	bool seen[3] = { false, false, false };
	struct ibv_wc wc;
	int i;

	if (srq) {
		self->srq = odp_srq_create(&self->dev);
		ASSERT_NE(NULL, self->srq);
	}
	ASSERT_EQ(0, odp_ud_pair_create(&self->dev, &self->ud, self->srq));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	for (i = 0; i < 3; i++) {
		uint8_t *buf = self->dst.addr + ud_dst_off[i];

		int ret;

		if (srq)
			ret = odp_post_srq_recv(self->srq, buf, GRH_LEN + len, self->dst.mr->lkey,
						i);
		else
			ret = odp_post_recv(self->ud.b, buf, GRH_LEN + len, self->dst.mr->lkey, i);
		ASSERT_EQ(0, ret);
	}
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, odp_post_ud_send(self->ud.a, self->ud.ah, self->ud.b->qp_num,
					      self->src.addr + ud_src_off[i], len,
					      self->src.mr->lkey, i));
		ASSERT_EQ(0, odp_wait_ok(self->ud.cq_a, IBV_WC_SEND, NULL));
	}
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, odp_wait_ok(self->ud.cq_b, IBV_WC_RECV, &wc));
		ASSERT_GT(3u, wc.wr_id);
		EXPECT_EQ(GRH_LEN + len, wc.byte_len);
		seen[wc.wr_id] = true;
	}
	EXPECT_TRUE(seen[0] && seen[1] && seen[2]);
	EXPECT_TRUE(ud_landed(&self->dst, len));
	for (i = 0; i < 3; i++) {
		EXPECT_TRUE(mem_faulted(&self->src, ud_src_off[i], len));
		EXPECT_TRUE(mem_faulted(&self->dst, ud_dst_off[i] + GRH_LEN, len));
	}
}

/* UD send of MTU-sized datagrams between ODP buffers. */
TEST_F(ops, ud_send_recv)
{
	ud_send_recv(_metadata, self, variant, false);
}

/* UD receive through a shared receive queue into ODP memory. */
TEST_F(ops, ud_srq_recv)
{
	ud_send_recv(_metadata, self, variant, true);
}

/* RC receive through a shared receive queue. */
TEST_F(ops, srq_recv)
{
	struct ibv_wc wc;
	struct odp_qp_opts o = { 0 };

	self->srq = odp_srq_create(&self->dev);
	ASSERT_NE(NULL, self->srq);
	o.srq_b = self->srq;
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, &o));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, variant->local_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_sink(&self->dev, &self->dst, variant->remote_odp, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->src));
	ASSERT_EQ(0, mem_present(&self->dst));

	ASSERT_EQ(0, odp_post_srq_recv(self->srq, self->dst.addr + ODP_DST_OFF, ODP_MSG_LEN,
				       self->dst.mr->lkey, 7));
	ASSERT_EQ(0, odp_post_send(self->rc.a, self->src.addr + ODP_SRC_OFF, ODP_MSG_LEN,
				   self->src.mr->lkey, 8));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_SEND, NULL));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_b, IBV_WC_RECV, &wc));
	EXPECT_EQ(7u, wc.wr_id);
	EXPECT_EQ(ODP_MSG_LEN, wc.byte_len);
	EXPECT_TRUE(sink_holds(&self->dst, ODP_DST_OFF, ODP_MSG_LEN, ODP_SRC_OFF));
	EXPECT_TRUE(mem_faulted(&self->src, ODP_SRC_OFF, ODP_MSG_LEN));
	EXPECT_TRUE(mem_faulted(&self->dst, ODP_DST_OFF, ODP_MSG_LEN));
}

/*
 * Atomic write and flush only have a remote side (the value travels in the
 * work request): their ODP memory is always the responder's.
 */
FIXTURE(remote_ops)
{
	struct odp_dev dev;
	struct odp_rc_pair rc;
	struct mem src, dst;
};

FIXTURE_SETUP(remote_ops)
{
	ASSERT_EQ(0, odp_dev_open(&self->dev));
}

FIXTURE_TEARDOWN(remote_ops)
{
	mem_free(&self->src);
	mem_free(&self->dst);
	odp_rc_pair_destroy(&self->rc);
	odp_dev_close(&self->dev);
}

/* Atomic write of 8 bytes into three absent remote pages. */
TEST_F(remote_ops, atomic_write)
{
#ifdef ODP_HAVE_WR_ATOMIC_WRITE
	struct odp_qp_opts o = { .send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE };
	size_t prev = 0;
	int i;

	if (!(self->dev.attr.device_cap_flags_ex & ODP_DEVICE_ATOMIC_WRITE))
		SKIP(return, "device does not advertise atomic write");
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, &o));
	ASSERT_EQ(0, mem_source(&self->dev, &self->dst, true, ODP_ACCESS_ALL));
	ASSERT_EQ(0, mem_present(&self->dst));

	for (i = 0; i < 3; i++) {
		uint8_t val[8];

		odp_fill(val, sizeof(val), SEED + 1, atomic_target[i]);
		ibv_wr_start(self->rc.ax);
		self->rc.ax->wr_id = i;
		self->rc.ax->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_atomic_write(self->rc.ax, self->dst.mr->rkey,
				    (uintptr_t)self->dst.addr + atomic_target[i], val);
		ASSERT_EQ(0, ibv_wr_complete(self->rc.ax));
		ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_ATOMIC_WRITE, NULL));
	}
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(-1, odp_check(self->dst.addr + atomic_target[i], 8, SEED + 1,
					atomic_target[i], "atomically written value"));
		EXPECT_EQ(-1, odp_check(self->dst.addr + prev, atomic_target[i] - prev, SEED, prev,
					"bytes around the atomic writes"));
		prev = atomic_target[i] + 8;
		EXPECT_TRUE(mem_faulted(&self->dst, atomic_target[i], 8));
	}
	EXPECT_EQ(-1, odp_check(self->dst.addr + prev, self->dst.len - prev, SEED, prev,
				"bytes after the atomic writes"));
#else
	SKIP(return, "libibverbs has no ibv_wr_atomic_write");
#endif
}

#ifdef ODP_HAVE_WR_FLUSH
static int flush_sync(struct odp_rc_pair *p, uint32_t rkey, uint64_t addr, size_t len,
		      uint8_t level)
{
	ibv_wr_start(p->ax);
	p->ax->wr_id = 0xf1;
	p->ax->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_flush(p->ax, rkey, addr, len, IBV_FLUSH_GLOBAL, level);
	if (ibv_wr_complete(p->ax)) {
		odp_log("ibv_wr_complete(flush): %s", strerror(errno));
		return -EIO;
	}
	return odp_wait_ok(p->cq_a, IBV_WC_FLUSH, NULL);
}
#endif

/*
 * Flush (global visibility) of a range of absent remote pages completes;
 * then a write into those pages followed by a flush of the range and of
 * the whole MR leaves exactly the written data there.
 */
TEST_F(remote_ops, flush)
{
#ifdef ODP_HAVE_WR_FLUSH
	struct odp_qp_opts o = {
		.send_ops_flags = IBV_QP_EX_WITH_FLUSH | IBV_QP_EX_WITH_RDMA_WRITE,
		.extra_access = IBV_ACCESS_FLUSH_GLOBAL,
	};
	uint64_t raddr;

	if (!(self->dev.attr.device_cap_flags_ex & ODP_DEVICE_FLUSH_GLOBAL))
		SKIP(return, "device does not advertise flush (global)");
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &self->rc, &o));
	ASSERT_EQ(0, mem_source(&self->dev, &self->src, false, ODP_ACCESS_ALL));
	ASSERT_EQ(0,
		  mem_sink(&self->dev, &self->dst, true, ODP_ACCESS_ALL | IBV_ACCESS_FLUSH_GLOBAL));
	ASSERT_EQ(0, mem_present(&self->dst));
	raddr = (uintptr_t)self->dst.addr + ODP_DST_OFF;

	ASSERT_EQ(0,
		  flush_sync(&self->rc, self->dst.mr->rkey, raddr, ODP_MSG_LEN, IBV_FLUSH_RANGE));
	EXPECT_EQ(-1, odp_check_byte(self->dst.addr, self->dst.len, 0, "flushed, unwritten"));

	ibv_wr_start(self->rc.ax);
	self->rc.ax->wr_id = 0x3e;
	self->rc.ax->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(self->rc.ax, self->dst.mr->rkey, raddr);
	ibv_wr_set_sge(self->rc.ax, self->src.mr->lkey, (uintptr_t)self->src.addr + ODP_SRC_OFF,
		       ODP_MSG_LEN);
	ASSERT_EQ(0, ibv_wr_complete(self->rc.ax));
	ASSERT_EQ(0, odp_wait_ok(self->rc.cq_a, IBV_WC_RDMA_WRITE, NULL));
	ASSERT_EQ(0,
		  flush_sync(&self->rc, self->dst.mr->rkey, raddr, ODP_MSG_LEN, IBV_FLUSH_RANGE));
	ASSERT_EQ(0, flush_sync(&self->rc, self->dst.mr->rkey, (uintptr_t)self->dst.addr,
				self->dst.len, IBV_FLUSH_MR));
	EXPECT_TRUE(sink_holds(&self->dst, ODP_DST_OFF, ODP_MSG_LEN, ODP_SRC_OFF));
	EXPECT_TRUE(mem_faulted(&self->dst, ODP_DST_OFF, ODP_MSG_LEN));
#else
	SKIP(return, "libibverbs has no ibv_wr_flush");
#endif
}

TEST_HARNESS_MAIN
