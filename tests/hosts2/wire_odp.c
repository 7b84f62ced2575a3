// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * wire_odp: ODP data checks between two hosts, over rxe0 and a real link
 * (the two-host testbed: tests/testbed/run --hosts 2).
 *
 *   hostb$ wire_odp --server [--port P]
 *   hosta$ wire_odp --peer hostb [--port P] --matrix [--plant]
 *   hosta$ wire_odp --peer hostb --mm KIND [--req MODE] [--resp MODE] [--seconds N]
 *
 * The client (hosta) is the requester and drives the test over a TCP
 * control connection; the server (hostb) is the responder, owns the
 * target memory and checks it with its own CPU, byte by byte, against the
 * contents the client sends it.  QPs are connected with the numbers
 * exchanged over that connection.
 *
 * --matrix: RDMA write, read, send/recv, compare-and-swap + fetch-and-add,
 * atomic write, and write + flush, with the requester's and responder's
 * memory each pinned, explicit ODP or implicit ODP (all 9 pairs), at
 * unaligned offsets, of 61 bytes, 3 pages + 123 (more than any MTU) and
 * 32 pages + 77.  Memory is absent from the page tables when the operation
 * starts (filled through a second mapping of a memfd).  Every byte of both
 * buffers is checked, so a byte written out of place fails as well.
 *
 * --mm KIND: random writes, reads, sends and fetch-and-adds into a 64-page
 * target for N seconds while the server's process changes its mappings:
 * dontneed (MADV_DONTNEED), remap (mmap MAP_FIXED of the same memfd over a
 * part), mprotect (RW <-> RWX, each an invalidation that keeps the data),
 * fork (a child forked and reaped over and over; private anonymous memory,
 * so every fork makes the pages copy-on-write), munmap (between operations
 * a part is unmapped and mapped again at the same address), pageout
 * (MADV_PAGEOUT: private anonymous pages written out to swap and faulted
 * back in), memcg (the reclaim of the memory cgroup the server runs in,
 * --cgroup NAME, through its memory.reclaim: the same pages to swap by the
 * path a cgroup's limit takes).  After each
 * operation the bytes around it are checked, every 16th the whole target.
 * The responder's ODP invalidation counter must have moved.
 *
 * --bench OP: warm OP (write, read, send) ODP against pinned, block by
 * block on one connection (run_bench()).
 *
 * --plant: one wrong byte is planted after a write (at the server) and
 * after a read (at the client); both must be reported (exit 1): the
 * check of the checks.
 *
 * Output: one "ok"/"not ok" line per case, diagnostics as "# ...";
 * exit 0 when every case passed, 1 when one failed, 2 on a setup error.
 */
#include "ctl_conn.h"
#include "odp_common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef ODP_HAVE_WR_FLUSH
#define ACC_FLUSH IBV_ACCESS_FLUSH_GLOBAL
#else
#define ACC_FLUSH 0
#endif

enum mode { M_PINNED, M_EXPLICIT, M_IMPLICIT, M_COUNT };
static const char *const mode_name[M_COUNT] = { "pinned", "explicit", "implicit" };

enum op { OP_WRITE, OP_READ, OP_SEND, OP_ATOMICS, OP_ATOMIC_WRITE, OP_FLUSH, OP_COUNT };
static const char *const op_name[OP_COUNT] = { "write",	  "read",	  "send",
					       "atomics", "atomic_write", "write_flush" };

enum mm_kind {
	MM_NONE,
	MM_DONTNEED,
	MM_REMAP,
	MM_MPROTECT,
	MM_FORK,
	MM_MUNMAP,
	MM_PAGEOUT,
	MM_MEMCG,
	MM_COUNT
};
static const char *const mm_name[MM_COUNT] = { "none", "dontneed", "remap",   "mprotect",
					       "fork", "munmap",   "pageout", "memcg" };
/* Kinds whose target is private anonymous memory (the others: a memfd). */
#define MM_PRIVATE(k) ((k) == MM_FORK || (k) == MM_PAGEOUT || (k) == MM_MEMCG)
/* Kinds that must send pages to swap. */
#define MM_SWAPS(k) ((k) == MM_PAGEOUT || (k) == MM_MEMCG)

/* The server's memory cgroup (--cgroup), under cgroup v2's root; "" if none. */
static char memcg_dir[128];

/* Control messages (both ends run this binary on the same architecture). */
enum cmd {
	C_PREP = 1,
	C_RECV,
	C_CHECK,
	C_MM_START,
	C_MM_STOP,
	C_GAP,
	C_BYE,
	C_BENCH_PREP,
	C_BENCH_RECV,
	C_BENCH_CHECK
};
#define F_POST_RECV 1u /* C_PREP: post a receive of [off, off+len) */
#define F_WAIT_RECV 2u /* C_CHECK: a receive of len bytes must complete first */
#define F_PLANT 4u     /* C_CHECK: flip one byte before comparing */

struct ctl_req {
	uint32_t cmd, mode, kind, flags;
	uint64_t off, len, size, seed;
};

struct ctl_rep {
	int64_t status; /* 0, -errno, or 1 + the offset of the first wrong byte */
	uint64_t addr, v0, v1, v2;
	uint32_t rkey, pad;
};

struct conn_info {
	uint32_t qpn, mtu;
	uint8_t gid[16];
};

/* A test buffer: a memfd mapping (shared) or private anonymous memory. */
struct buf {
	uint8_t *addr;
	size_t len;
	int fd;		   /* the memfd, or -1 */
	struct ibv_mr *mr; /* own MR (pinned or explicit ODP); NULL: the implicit one */
	uint32_t lkey, rkey;
};

struct side {
	struct odp_dev dev;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qx;
	struct ibv_mr *imr; /* implicit ODP: the whole address space */
	int sock;
	int mr_access;
	bool has_flush, has_atomic_write;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* ---- device, QP ---- */

static int side_open(struct side *s)
{
	uint64_t ops = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_READ | IBV_QP_EX_WITH_SEND |
		       IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD;
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 64,
			 .max_recv_wr = 64,
			 .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
	};

	if (odp_dev_open(&s->dev))
		return -1;
#ifdef ODP_HAVE_WR_FLUSH
	s->has_flush = s->dev.attr.device_cap_flags_ex & ODP_DEVICE_FLUSH_GLOBAL;
	if (s->has_flush)
		ops |= IBV_QP_EX_WITH_FLUSH;
#endif
#ifdef ODP_HAVE_WR_ATOMIC_WRITE
	s->has_atomic_write = s->dev.attr.device_cap_flags_ex & ODP_DEVICE_ATOMIC_WRITE;
	if (s->has_atomic_write)
		ops |= IBV_QP_EX_WITH_ATOMIC_WRITE;
#endif
	s->mr_access = ODP_ACCESS_ALL | (s->has_flush ? ACC_FLUSH : 0);
	s->cq = ibv_create_cq(s->dev.ctx, 256, NULL, NULL, 0);
	if (!s->cq) {
		odp_log("ibv_create_cq: %s", strerror(errno));
		return -1;
	}
	ia.send_cq = ia.recv_cq = s->cq;
	ia.pd = s->dev.pd;
	ia.send_ops_flags = ops;
	s->qp = ibv_create_qp_ex(s->dev.ctx, &ia);
	if (!s->qp) {
		odp_log("ibv_create_qp_ex: %s", strerror(errno));
		return -1;
	}
	s->qx = ibv_qp_to_qp_ex(s->qp);
	s->imr = ibv_reg_mr(s->dev.pd, NULL, SIZE_MAX, s->mr_access | IBV_ACCESS_ON_DEMAND);
	if (!s->imr) {
		odp_log("implicit ODP ibv_reg_mr(NULL, SIZE_MAX): %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void side_close(struct side *s)
{
	if (s->imr)
		ibv_dereg_mr(s->imr);
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->cq)
		ibv_destroy_cq(s->cq);
	odp_dev_close(&s->dev);
	if (s->sock >= 0)
		close(s->sock);
}

/* Exchanges QP numbers, GIDs and MTUs, and takes the QP to RTS. */
static int side_connect(struct side *s)
{
	struct conn_info me = { .qpn = s->qp->qp_num, .mtu = s->dev.port_attr.active_mtu }, peer;
	int rd_atom = s->dev.attr.orig_attr.max_qp_rd_atom;
	struct ibv_qp_attr a;

	memcpy(me.gid, s->dev.gid.raw, 16);
	if (ctl_xfer(s->sock, &me, sizeof(me), true) ||
	    ctl_xfer(s->sock, &peer, sizeof(peer), false))
		return -1;
	rd_atom = rd_atom > 16 ? 16 : rd_atom < 1 ? 1 : rd_atom;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = s->dev.port;
	a.qp_access_flags = s->mr_access & ~IBV_ACCESS_ON_DEMAND;
	if (ibv_modify_qp(s->qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		goto err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = me.mtu < peer.mtu ? me.mtu : peer.mtu;
	a.dest_qp_num = peer.qpn;
	a.max_dest_rd_atomic = (uint8_t)rd_atom;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	memcpy(a.ah_attr.grh.dgid.raw, peer.gid, 16);
	a.ah_attr.grh.sgid_index = (uint8_t)s->dev.gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = s->dev.port;
	if (ibv_modify_qp(s->qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		goto err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	/*
	 * ~67 ms: a lost last packet is resent soon (a slow first ODP fault
	 * of a TCG guest may take longer: the duplicate is then dropped).
	 */
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = (uint8_t)rd_atom;
	if (ibv_modify_qp(s->qp, &a,
			  IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				  IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC))
		goto err;
	printf("# QP %u -> peer QP %u, path MTU %d bytes (ours %d, peer's %d)\n", me.qpn, peer.qpn,
	       128 << (me.mtu < peer.mtu ? me.mtu : peer.mtu), 128 << me.mtu, 128 << peer.mtu);
	return 0;
err:
	odp_log("ibv_modify_qp: %s", strerror(errno));
	return -1;
}

/* ---- buffers ---- */

static void buf_free(struct buf *b)
{
	if (b->mr)
		ibv_dereg_mr(b->mr);
	if (b->addr)
		munmap(b->addr, b->len);
	if (b->fd >= 0)
		close(b->fd);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

/*
 * A buffer of len bytes holding odp_pat(seed, i): shared memfd memory whose
 * pages are absent from the mapping (content written through a second one),
 * or, when !shared, private anonymous memory written in place.
 */
static int buf_map(struct buf *b, size_t len, bool shared, uint64_t seed)
{
	void *alias;

	b->len = len;
	b->fd = -1;
	if (!shared) {
		b->addr = odp_map_fresh(len);
		if (!b->addr)
			return -1;
		odp_fill(b->addr, len, seed, 0);
		return 0;
	}
	b->fd = memfd_create("wire-odp", MFD_CLOEXEC);
	if (b->fd < 0 || ftruncate(b->fd, (off_t)len)) {
		odp_log("memfd_create/ftruncate(%zu): %s", len, strerror(errno));
		return -1;
	}
	alias = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (alias == MAP_FAILED) {
		odp_log("mmap memfd: %s", strerror(errno));
		return -1;
	}
	odp_fill(alias, len, seed, 0);
	munmap(alias, len);
	b->addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->addr == MAP_FAILED) {
		b->addr = NULL;
		odp_log("mmap memfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int buf_reg(struct side *s, struct buf *b, enum mode m)
{
	if (m == M_IMPLICIT) {
		b->lkey = s->imr->lkey;
		b->rkey = s->imr->rkey;
		return 0;
	}
	b->mr = odp_reg_maybe(s->dev.pd, b->addr, b->len, s->mr_access, m == M_EXPLICIT);
	if (!b->mr)
		return -1;
	b->lkey = b->mr->lkey;
	b->rkey = b->mr->rkey;
	return 0;
}

/* ---- the server: target memory, its checks, the mm events ---- */

/*
 * The target of --bench: size bytes of private memory holding the pattern
 * of seed, registered twice, pinned (mr[0]) and explicit ODP (mr[1]), so
 * that the blocks of the two cases differ only in the MR.
 */
struct bench_target {
	uint8_t *addr;
	size_t len;
	struct ibv_mr *mr[2];
};

static void bench_target_free(struct bench_target *t)
{
	for (int i = 0; i < 2; i++)
		if (t->mr[i])
			ibv_dereg_mr(t->mr[i]);
	if (t->addr)
		munmap(t->addr, t->len);
	memset(t, 0, sizeof(*t));
}

static int bench_target_prep(struct side *s, struct bench_target *t, size_t size, uint64_t seed,
			     struct ctl_rep *r)
{
	bench_target_free(t);
	if (size < ODP_PAGE || size > (256ul << 20))
		return -EINVAL;
	t->len = size;
	t->addr = odp_map_fresh(size);
	if (!t->addr)
		return -ENOMEM;
	odp_fill(t->addr, size, seed, 0);
	t->mr[0] = odp_reg_pinned(s->dev.pd, t->addr, size, s->mr_access);
	t->mr[1] = odp_reg(s->dev.pd, t->addr, size, s->mr_access);
	if (!t->mr[0] || !t->mr[1])
		return -ENOMEM;
	r->addr = (uintptr_t)t->addr;
	r->rkey = t->mr[0]->rkey;
	r->v0 = t->mr[1]->rkey;
	return 0;
}

/* q->size receives of q->len bytes, back to back, into the target's MR q->mode. */
static int bench_target_recv(struct side *s, struct bench_target *t, const struct ctl_req *q)
{
	if (!t->addr || q->mode > 1 || !q->len || q->size > 64 || q->len * q->size > t->len)
		return -EINVAL;
	for (uint64_t i = 0; i < q->size; i++)
		if (odp_post_recv(s->qp, t->addr + i * q->len, (uint32_t)q->len,
				  t->mr[q->mode]->lkey, 3))
			return -EIO;
	return 0;
}

/*
 * After a block: its q->size receives (a send block) must have completed,
 * and the target must hold the pattern of q->seed over [0, q->len).
 */
static int64_t bench_target_check(struct side *s, struct bench_target *t, const struct ctl_req *q)
{
	ssize_t bad;

	if (!t->addr || q->len > t->len)
		return -EINVAL;
	for (uint64_t i = 0; i < q->size; i++)
		if (odp_wait_ok(s->cq, IBV_WC_RECV, NULL))
			return -EIO;
	bad = odp_check(t->addr, q->len, q->seed, 0, "bench target (server side)");
	return bad < 0 ? 0 : 1 + bad;
}

struct mm_thread {
	pthread_t tid;
	struct buf *b;
	enum mm_kind kind;
	int stop; /* __atomic */
	uint64_t events, errors;
};

/*
 * Asks the kernel to reclaim bytes from the server's memory cgroup, as its
 * limit would: its anonymous pages, the target's among them, go to swap.
 * Reclaiming less than asked (EAGAIN) is no error.
 */
static int memcg_reclaim(size_t bytes)
{
	char path[160], v[32];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/memory.reclaim", memcg_dir);
	snprintf(v, sizeof(v), "%zu", bytes);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, v, strlen(v)) == (ssize_t)strlen(v) || errno == EAGAIN;
	close(fd);
	return ok ? 0 : -1;
}

/* Moves this process into a new memory cgroup NAME (before it allocates). */
static int memcg_enter(const char *name)
{
	if (!name[0] || strchr(name, '/') || strlen(name) > 64) {
		fprintf(stderr, "wire_odp: --cgroup takes a plain name\n");
		return -1;
	}
	snprintf(memcg_dir, sizeof(memcg_dir), "/sys/fs/cgroup/%s", name);
	if (odp_memcg_enter(memcg_dir, NULL)) {
		memcg_dir[0] = 0;
		return -1;
	}
	return 0;
}

static void memcg_leave(void)
{
	if (!memcg_dir[0])
		return;
	odp_memcg_leave(memcg_dir);
	memcg_dir[0] = 0;
}

static void *mm_loop(void *arg)
{
	struct mm_thread *t = arg;
	uint64_t st = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	size_t pages = t->b->len / ODP_PAGE;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		size_t first, n;
		uint8_t *p;
		pid_t pid;
		int ret = 0;

		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		first = st % pages;
		n = 1 + (st >> 32) % (pages - first < 8 ? pages - first : 8);
		p = t->b->addr + first * ODP_PAGE;
		switch (t->kind) {
		case MM_DONTNEED:
			ret = madvise(p, n * ODP_PAGE, MADV_DONTNEED);
			break;
		case MM_REMAP:
			if (mmap(p, n * ODP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 t->b->fd, (off_t)(first * ODP_PAGE)) == MAP_FAILED)
				ret = -1;
			break;
		case MM_MPROTECT:
			ret = mprotect(p, n * ODP_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC) ||
			      mprotect(p, n * ODP_PAGE, PROT_READ | PROT_WRITE);
			break;
		case MM_PAGEOUT:
			ret = madvise(p, n * ODP_PAGE, MADV_PAGEOUT);
			break;
		case MM_MEMCG:
			ret = memcg_reclaim(n * ODP_PAGE);
			break;
		case MM_FORK:
			pid = fork();
			if (pid == 0)
				_exit(p[0] == 0x5a ? 3 : 0);
			ret = pid < 0 || waitpid(pid, NULL, 0) != pid;
			break;
		default:
			break;
		}
		if (ret) {
			odp_log("mm event %s: %s", mm_name[t->kind], strerror(errno));
			t->errors++;
		}
		t->events++;
		usleep((useconds_t)(200 + (st >> 40) % 2000));
	}
	return NULL;
}

/* pswpout of /proc/vmstat: pages written to swap so far. */
static uint64_t pages_swapped_out(void)
{
	unsigned long long v = 0;
	char name[64];
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fscanf(f, "%63s %llu", name, &v) == 2)
		if (!strcmp(name, "pswpout"))
			break;
	if (f)
		fclose(f);
	return v;
}

/* C_CHECK: bytes [off, off+len) of the target against those that follow. */
static int64_t server_check(struct side *s, struct buf *b, const struct ctl_req *q)
{
	uint8_t *exp;
	int64_t st = 0;
	ssize_t bad;

	if (q->off > b->len || q->len > b->len - q->off)
		return -EINVAL;
	exp = malloc(q->len ? q->len : 1);
	if (!exp || ctl_xfer(s->sock, exp, q->len, false)) {
		free(exp);
		return -EPIPE;
	}
	if (q->flags & F_WAIT_RECV) {
		struct ibv_wc wc;

		if (odp_wait_ok(s->cq, IBV_WC_RECV, &wc)) {
			st = -EIO;
		} else if (wc.byte_len != q->seed) {
			odp_log("receive of %u bytes, %" PRIu64 " sent", wc.byte_len, q->seed);
			st = -EIO;
		}
	}
	if (q->flags & F_PLANT)
		b->addr[q->off + q->len / 2] ^= 0x40;
	bad = odp_cmp(b->addr + q->off, exp, q->len, "target (server side)");
	if (!st && bad >= 0)
		st = 1 + (int64_t)q->off + bad;
	free(exp);
	return st;
}

static int serve(struct side *s)
{
	struct bench_target bt = { 0 };
	struct buf b = { .fd = -1 };
	struct mm_thread mt = { 0 };
	struct odp_counters c0 = { 0 }, c1;
	bool mm_running = false;
	uint64_t swp0 = 0;

	for (;;) {
		struct ctl_req q;
		struct ctl_rep r = { 0 };

		if (ctl_xfer(s->sock, &q, sizeof(q), false))
			return 2;
		switch (q.cmd) {
		case C_PREP:
			buf_free(&b);
			if (q.mode >= M_COUNT || q.size < ODP_PAGE || q.size > (1ul << 30) ||
			    q.off > q.size || q.len > q.size - q.off) {
				r.status = -EINVAL;
				break;
			}
			if (buf_map(&b, q.size, !MM_PRIVATE(q.kind), q.seed) ||
			    buf_reg(s, &b, (enum mode)q.mode)) {
				r.status = -ENOMEM;
				break;
			}
			if ((q.flags & F_POST_RECV) &&
			    odp_post_recv(s->qp, b.addr + q.off, (uint32_t)q.len, b.lkey, 1))
				r.status = -EIO;
			r.addr = (uintptr_t)b.addr;
			r.rkey = b.rkey;
			odp_counters_read(&s->dev, &c0);
			swp0 = pages_swapped_out();
			break;
		case C_RECV:
			if (!b.addr || q.off > b.len || q.len > b.len - q.off ||
			    odp_post_recv(s->qp, b.addr + q.off, (uint32_t)q.len, b.lkey, 2))
				r.status = -EIO;
			break;
		case C_CHECK:
			if (!b.addr)
				r.status = -EINVAL;
			else
				r.status = server_check(s, &b, &q);
			if (r.status == -EPIPE)
				return 2;
			break;
		case C_MM_START:
			if (mm_running || !b.addr || q.kind >= MM_COUNT) {
				r.status = -EINVAL;
				break;
			}
			if (q.kind == MM_MEMCG && !memcg_dir[0]) {
				odp_log("mm memcg: the server runs in no memory cgroup of its own "
					"(--cgroup NAME)");
				r.status = -EINVAL;
				break;
			}
			mt = (struct mm_thread){ .b = &b, .kind = (enum mm_kind)q.kind };
			if (pthread_create(&mt.tid, NULL, mm_loop, &mt)) {
				r.status = -EAGAIN;
				break;
			}
			mm_running = true;
			break;
		case C_MM_STOP:
			if (mm_running) {
				__atomic_store_n(&mt.stop, 1, __ATOMIC_RELEASE);
				pthread_join(mt.tid, NULL);
				mm_running = false;
			}
			if (odp_counters_read(&s->dev, &c1) == 0)
				r.v1 = c1.invalidations - c0.invalidations;
			r.v0 = mt.events;
			r.v2 = pages_swapped_out() - swp0;
			r.status = mt.errors ? -EIO : 0;
			break;
		case C_GAP:
			/* Unmapped, then the same memfd mapped at the same address. */
			if (!b.addr || b.fd < 0 || q.off > b.len || q.len > b.len - q.off ||
			    munmap(b.addr + q.off, q.len) ||
			    mmap(b.addr + q.off, q.len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED_NOREPLACE, b.fd,
				 (off_t)q.off) != b.addr + q.off) {
				odp_log("munmap/mmap gap: %s", strerror(errno));
				r.status = -EIO;
			}
			break;
		case C_BENCH_PREP:
			r.status = bench_target_prep(s, &bt, q.size, q.seed, &r);
			break;
		case C_BENCH_RECV:
			r.status = bench_target_recv(s, &bt, &q);
			break;
		case C_BENCH_CHECK:
			r.status = bench_target_check(s, &bt, &q);
			break;
		case C_BYE:
			buf_free(&b);
			bench_target_free(&bt);
			ctl_xfer(s->sock, &r, sizeof(r), true);
			return 0;
		default:
			r.status = -EINVAL;
		}
		if (ctl_xfer(s->sock, &r, sizeof(r), true))
			return 2;
	}
}

/* ---- the client ---- */

static int request(struct side *s, const struct ctl_req *q, const void *data, size_t n,
		   struct ctl_rep *r)
{
	if (ctl_xfer(s->sock, (void *)q, sizeof(*q), true) ||
	    (n && ctl_xfer(s->sock, (void *)data, n, true)) ||
	    ctl_xfer(s->sock, r, sizeof(*r), false))
		return -EPIPE;
	return 0;
}

/* Asks the server to compare [off, off+len) of the target with exp + off. */
static int remote_check(struct side *s, const uint8_t *exp, size_t off, size_t len, uint32_t flags,
			uint64_t recv_len)
{
	struct ctl_req q = {
		.cmd = C_CHECK, .off = off, .len = len, .flags = flags, .seed = recv_len
	};
	struct ctl_rep r;

	if (request(s, &q, exp + off, len, &r))
		return -EPIPE;
	if (r.status > 0)
		printf("# server: target byte %" PRId64 " wrong\n", r.status - 1);
	else if (r.status < 0)
		printf("# server: check failed: %s\n", strerror((int)-r.status));
	return r.status ? -EIO : 0;
}

static int wr_done(struct side *s, enum ibv_wc_opcode opc)
{
	if (ibv_wr_complete(s->qx)) {
		odp_log("ibv_wr_complete: %s", strerror(errno));
		return -EIO;
	}
	return odp_wait_ok(s->cq, opc, NULL);
}

static void wr_begin(struct side *s)
{
	ibv_wr_start(s->qx);
	s->qx->wr_id = 7;
	s->qx->wr_flags = IBV_SEND_SIGNALED;
}

static int rdma(struct side *s, enum op op, struct buf *l, size_t loff, uint32_t len,
		uint64_t raddr, uint32_t rkey)
{
	wr_begin(s);
	switch (op) {
	case OP_WRITE:
		ibv_wr_rdma_write(s->qx, rkey, raddr);
		break;
	case OP_READ:
		ibv_wr_rdma_read(s->qx, rkey, raddr);
		break;
	default:
		ibv_wr_send(s->qx);
		break;
	}
	ibv_wr_set_sge(s->qx, l->lkey, (uintptr_t)l->addr + loff, len);
	return wr_done(s, op == OP_WRITE  ? IBV_WC_RDMA_WRITE
			  : op == OP_READ ? IBV_WC_RDMA_READ
					  : IBV_WC_SEND);
}

/* An atomic into the 8 bytes at raddr; the old value lands at l + loff. */
static int atomic(struct side *s, bool cas, struct buf *l, size_t loff, uint64_t raddr,
		  uint32_t rkey, uint64_t a, uint64_t b)
{
	wr_begin(s);
	if (cas)
		ibv_wr_atomic_cmp_swp(s->qx, rkey, raddr, a, b);
	else
		ibv_wr_atomic_fetch_add(s->qx, rkey, raddr, a);
	ibv_wr_set_sge(s->qx, l->lkey, (uintptr_t)l->addr + loff, 8);
	return wr_done(s, cas ? IBV_WC_COMP_SWAP : IBV_WC_FETCH_ADD);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int check64(const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return 0;
	printf("# %s: 0x%016" PRIx64 ", want 0x%016" PRIx64 "\n", what, got, want);
	return -EIO;
}

/*
 * One case of the matrix: op with the requester's memory in lm and the
 * responder's in rm, len bytes at unaligned offsets.  0, -EIO on wrong
 * data or a failed operation, -EPIPE when the control connection broke.
 */
static int run_case(struct side *s, enum op op, enum mode lm, enum mode rm, uint32_t len,
		    bool plant)
{
	const size_t roff = ODP_DST_OFF, loff = ODP_SRC_OFF;
	const size_t rsize = (roff + len + 2 * ODP_PAGE) & ~(ODP_PAGE - 1);
	const size_t lsize = (loff + len + 2 * ODP_PAGE) & ~(ODP_PAGE - 1);
	const uint64_t G = rnd(), L = rnd();
	const size_t ta = (roff + 7) & ~7ul, la = (loff + 7) & ~7ul; /* atomics' targets */
	struct ctl_req q = { .cmd = C_PREP,
			     .mode = rm,
			     .kind = MM_NONE,
			     .off = roff,
			     .len = len,
			     .size = rsize,
			     .seed = G };
	struct buf l = { .fd = -1 };
	struct ctl_rep r;
	uint8_t *exp = NULL, *lexp = NULL;
	uint64_t raddr, orig, x, y;
	int ret = -EIO;

	if (op == OP_SEND)
		q.flags = F_POST_RECV;
	if (request(s, &q, NULL, 0, &r))
		return -EPIPE;
	if (r.status) {
		printf("# server: target setup failed: %s\n", strerror((int)-r.status));
		return -EIO;
	}
	exp = malloc(rsize);
	lexp = malloc(lsize);
	if (!exp || !lexp || buf_map(&l, lsize, true, L) || buf_reg(s, &l, lm))
		goto out;
	odp_fill(exp, rsize, G, 0);
	odp_fill(lexp, lsize, L, 0);
	raddr = r.addr + roff;

	switch (op) {
	case OP_WRITE:
	case OP_SEND:
	case OP_FLUSH:
		if (rdma(s, op == OP_SEND ? OP_SEND : OP_WRITE, &l, loff, len, raddr, r.rkey))
			goto op_failed;
#ifdef ODP_HAVE_WR_FLUSH
		if (op == OP_FLUSH) {
			wr_begin(s);
			ibv_wr_flush(s->qx, r.rkey, raddr, len, IBV_FLUSH_GLOBAL, IBV_FLUSH_RANGE);
			if (wr_done(s, IBV_WC_FLUSH))
				goto op_failed;
		}
#endif
		odp_fill(exp + roff, len, L, loff);
		break;
	case OP_READ:
		if (rdma(s, OP_READ, &l, loff, len, raddr, r.rkey))
			goto op_failed;
		odp_fill(lexp + loff, len, G, roff);
		if (plant)
			l.addr[loff + len / 2] ^= 0x40;
		break;
	case OP_ATOMICS:
		raddr = r.addr + ta;
		orig = odp_pat_u64(G, ta);
		x = rnd(), y = rnd();
		/* A compare that misses, one that hits, then an add. */
		if (atomic(s, true, &l, la, raddr, r.rkey, ~orig, x))
			goto op_failed;
		if (check64("cas (miss) returned", get64(l.addr + la), orig))
			goto out;
		if (atomic(s, true, &l, la, raddr, r.rkey, orig, x))
			goto op_failed;
		if (check64("cas returned", get64(l.addr + la), orig))
			goto out;
		if (atomic(s, false, &l, la, raddr, r.rkey, y, 0))
			goto op_failed;
		if (check64("fetch-add returned", get64(l.addr + la), x))
			goto out;
		x += y;
		memcpy(exp + ta, &x, 8);
		memcpy(lexp + la, l.addr + la, 8); /* checked above */
		break;
	case OP_ATOMIC_WRITE:
#ifdef ODP_HAVE_WR_ATOMIC_WRITE
		raddr = r.addr + ta;
		x = rnd();
		wr_begin(s);
		ibv_wr_atomic_write(s->qx, r.rkey, raddr, &x);
		if (wr_done(s, IBV_WC_ATOMIC_WRITE))
			goto op_failed;
		memcpy(exp + ta, &x, 8);
#endif
		break;
	default:
		goto out;
	}
	if (odp_cmp(l.addr, lexp, lsize, "requester's buffer") >= 0) {
		printf("# requester's buffer wrong\n");
		goto out;
	}
	ret = remote_check(
		s, exp, 0, rsize,
		(op == OP_SEND ? F_WAIT_RECV : 0) | (plant && op == OP_WRITE ? F_PLANT : 0), len);
	goto out;
op_failed:
	/* The WR may still be in flight: the caller must not go on. */
	ret = -ECOMM;
out:
	buf_free(&l);
	free(exp);
	free(lexp);
	return ret;
}

struct matrix {
	struct side *s;
	bool plant;
	const char *only;
	int n, failed, skipped;
};

/* One case of --matrix: 0 to go on, 1 to stop (an op failed), 2 on -EPIPE. */
static int matrix_case(struct matrix *m, enum op op, enum mode lm, enum mode rm, int i)
{
	static const uint32_t lens[] = { 61, ODP_MSG_LEN, 32 * 4096 + 77 };
	bool sized = op != OP_ATOMICS && op != OP_ATOMIC_WRITE;
	char name[128];
	uint64_t t0;
	int ret;

	if (!sized && i)
		return 0;
	if (sized)
		snprintf(name, sizeof(name), "%s %u bytes req %s resp %s", op_name[op], lens[i],
			 mode_name[lm], mode_name[rm]);
	else
		snprintf(name, sizeof(name), "%s req %s resp %s", op_name[op], mode_name[lm],
			 mode_name[rm]);
	if (m->only && !strstr(name, m->only))
		return 0;
	/* --plant: a write and a read, pinned requester, explicit responder */
	if (m->plant &&
	    (!(op == OP_WRITE || op == OP_READ) || lm != M_PINNED || rm != M_EXPLICIT || i != 1))
		return 0;
	if ((op == OP_FLUSH && !m->s->has_flush) ||
	    (op == OP_ATOMIC_WRITE && !m->s->has_atomic_write)) {
		if (!i) {
			printf("ok %d - %s # SKIP not supported\n", ++m->n, name);
			m->skipped++;
		}
		return 0;
	}
	t0 = odp_now_ns();
	ret = run_case(m->s, op, lm, rm, lens[i], m->plant);
	printf("%s %d - %s # %" PRIu64 " ms\n", ret ? "not ok" : "ok", ++m->n, name,
	       (odp_now_ns() - t0) / 1000000);
	m->failed += ret != 0;
	if (ret == -EPIPE)
		return 2;
	if (ret == -ECOMM) {
		/* Its WR may be in flight still, into a target the next case frees. */
		printf("# an operation failed: stopping\n");
		return 1;
	}
	return 0;
}

static int run_matrix(struct side *s, bool plant, const char *only, int repeat)
{
	struct matrix m = { .s = s, .plant = plant, .only = only };
	int rep, lm, rm, op, i, ret;

	for (rep = 0; rep < repeat; rep++)
		for (lm = 0; lm < M_COUNT; lm++)
			for (rm = 0; rm < M_COUNT; rm++)
				for (op = 0; op < OP_COUNT; op++)
					for (i = 0; i < 3; i++) {
						ret = matrix_case(&m, (enum op)op, (enum mode)lm,
								  (enum mode)rm, i);
						if (ret)
							return ret;
					}
	printf("# %d cases: %d failed, %d skipped\n", m.n, m.failed, m.skipped);
	return m.failed ? 1 : 0;
}

/* --mm: random traffic into one target while the server changes its mappings. */
static int run_mm(struct side *s, enum mm_kind kind, enum mode lm, enum mode rm, int seconds)
{
	const size_t size = 64 * ODP_PAGE, maxlen = 3 * ODP_PAGE + 500;
	const uint64_t G = rnd();
	struct ctl_req q = { .cmd = C_PREP, .mode = rm, .kind = kind, .size = size, .seed = G };
	uint64_t deadline = odp_now_ns() + (uint64_t)seconds * 1000000000ull;
	uint64_t ops[4] = { 0 }, it = 0, base;
	struct buf l = { .fd = -1 };
	uint32_t rkey;
	struct ctl_rep r;
	uint8_t *exp;
	int ret = -EIO;

	exp = malloc(size);
	if (!exp)
		return -ENOMEM;
	odp_fill(exp, size, G, 0);
	if (request(s, &q, NULL, 0, &r) || r.status) {
		printf("# server: target setup failed\n");
		free(exp);
		return -EIO;
	}
	base = r.addr;
	rkey = r.rkey;
	if (buf_map(&l, size + 2 * ODP_PAGE, true, rnd()) || buf_reg(s, &l, lm))
		goto out;
	q = (struct ctl_req){ .cmd = C_MM_START, .kind = kind };
	if (kind != MM_MUNMAP && (request(s, &q, NULL, 0, &r) || r.status)) {
		printf("# server: mm thread did not start\n");
		goto out;
	}
	while (odp_now_ns() < deadline) {
		size_t o = rnd() % size, n = 1 + rnd() % maxlen, lo, hi;
		int which = (int)(rnd() % 4);
		uint64_t seed = rnd();

		if (n > size - o)
			n = size - o;
		if (kind == MM_MUNMAP && it % 4 == 0) {
			size_t first = rnd() % 64, pages = 1 + rnd() % 8;

			if (first + pages > 64)
				pages = 64 - first;
			q = (struct ctl_req){ .cmd = C_GAP,
					      .off = first * ODP_PAGE,
					      .len = pages * ODP_PAGE };
			if (request(s, &q, NULL, 0, &r) || r.status)
				goto out;
		}
		it++;
		ops[which]++;
		switch (which) {
		case 0: /* write */
		case 2: /* send */
			odp_fill(l.addr + o, n, seed, o);
			if (which == 2) {
				q = (struct ctl_req){ .cmd = C_RECV, .off = o, .len = n };
				if (request(s, &q, NULL, 0, &r) || r.status)
					goto out;
			}
			if (rdma(s, which ? OP_SEND : OP_WRITE, &l, o, (uint32_t)n, base + o,
				 rkey)) {
				printf("# iteration %" PRIu64 ": %s of %zu at %zu failed\n", it,
				       which ? "send" : "write", n, o);
				goto out;
			}
			memcpy(exp + o, l.addr + o, n);
			break;
		case 1: /* read */
			memset(l.addr + o, 0xa5, n);
			if (rdma(s, OP_READ, &l, o, (uint32_t)n, base + o, rkey) ||
			    odp_cmp(l.addr + o, exp + o, n, "read back") >= 0) {
				printf("# iteration %" PRIu64 ": read of %zu at %zu failed\n", it,
				       n, o);
				goto out;
			}
			break;
		case 3: { /* fetch-and-add */
			size_t ta = o & ~7ul;
			uint64_t add = rnd(), old = get64(exp + ta);

			if (atomic(s, false, &l, size, base + ta, rkey, add, 0) ||
			    check64("fetch-add returned", get64(l.addr + size), old))
				goto out;
			old += add;
			memcpy(exp + ta, &old, 8);
			o = ta, n = 8;
			break;
		}
		}
		/* The bytes around it; every 16th time the whole target. */
		lo = o > 64 ? o - 64 : 0;
		hi = o + n + 64 < size ? o + n + 64 : size;
		if (it % 16 == 0)
			lo = 0, hi = size;
		if (remote_check(s, exp, lo, hi - lo, which == 2 ? F_WAIT_RECV : 0, n)) {
			printf("# iteration %" PRIu64 ": after a %s of %zu bytes at %zu\n", it,
			       which == 0   ? "write"
			       : which == 1 ? "read"
			       : which == 2 ? "send"
					    : "fetch-add",
			       n, o);
			goto out;
		}
	}
	q = (struct ctl_req){ .cmd = C_MM_STOP };
	if (request(s, &q, NULL, 0, &r))
		goto out;
	printf("# %" PRIu64 " operations (%" PRIu64 " writes, %" PRIu64 " reads, %" PRIu64
	       " sends, %" PRIu64 " fetch-adds); server: %" PRIu64 " %s events, %" PRIu64
	       " ODP invalidations, %" PRIu64 " pages swapped out\n",
	       it, ops[0], ops[1], ops[2], ops[3], kind == MM_MUNMAP ? (it + 3) / 4 : r.v0,
	       mm_name[kind], r.v1, r.v2);
	if (r.status) {
		printf("# server: mm events failed\n");
		goto out;
	}
	if (remote_check(s, exp, 0, size, 0, 0))
		goto out;
	if (MM_SWAPS(kind) && r.v2 == 0) {
		printf("# no page went to swap: %s did nothing\n",
		       kind == MM_PAGEOUT ? "MADV_PAGEOUT" : "the memory cgroup's reclaim");
		goto out;
	}
	if (rm != M_PINNED && r.v1 == 0) {
		printf("# the responder's ODP invalidations did not move: no mm event hit\n");
		goto out;
	}
	ret = 0;
out:
	buf_free(&l);
	free(exp);
	return ret;
}

/* ---- --bench: warm ODP against pinned across the link, block by block ---- */

#define BENCH_DEPTH 32 /* outstanding work requests */

/*
 * One block: block / msg messages of op from loc (lkey) to the target at
 * raddr (rkey), BENCH_DEPTH outstanding, each signalled; *ns the time from
 * the first post to the last completion.
 */
static int bench_block(struct side *s, enum op op, uint8_t *loc, uint32_t lkey, uint64_t raddr,
		       uint32_t rkey, size_t block, uint32_t msg, uint64_t *ns)
{
	const size_t n = block / msg;
	const uint64_t t0 = odp_now_ns();
	const uint64_t deadline = t0 + (uint64_t)odp_timeout_ms() * 1000000;
	size_t posted = 0, done = 0;
	struct ibv_wc wc[16];

	while (done < n) {
		int k;

		while (posted < n && posted - done < BENCH_DEPTH) {
			ibv_wr_start(s->qx);
			s->qx->wr_id = posted;
			s->qx->wr_flags = IBV_SEND_SIGNALED;
			if (op == OP_WRITE)
				ibv_wr_rdma_write(s->qx, rkey, raddr + posted * msg);
			else if (op == OP_READ)
				ibv_wr_rdma_read(s->qx, rkey, raddr + posted * msg);
			else
				ibv_wr_send(s->qx);
			ibv_wr_set_sge(s->qx, lkey, (uintptr_t)loc + posted * msg, msg);
			if (ibv_wr_complete(s->qx)) {
				odp_log("bench: ibv_wr_complete: %s", strerror(errno));
				return -EIO;
			}
			posted++;
		}
		k = ibv_poll_cq(s->cq, 16, wc);
		if (k < 0)
			return -EIO;
		for (int i = 0; i < k; i++)
			if (wc[i].status != IBV_WC_SUCCESS) {
				odp_log("bench: %s completed with %s", op_name[op],
					ibv_wc_status_str(wc[i].status));
				return -EIO;
			}
		done += (size_t)k;
		if (!k && odp_now_ns() > deadline) {
			odp_log("bench: %zu of %zu %s completions after %d ms", done, n,
				op_name[op], odp_timeout_ms());
			return -EIO;
		}
	}
	*ns = odp_now_ns() - t0;
	return 0;
}

/*
 * --bench OP: warm OP (write, read or send) of msg-byte messages in blocks
 * of block bytes, pinned at both ends and ODP at both ends alternating on
 * one connection, pinned, ODP, ODP, pinned in each round (ODP first every
 * other round); each side's memory registered twice, so the two cases use
 * the same pages.  The first round mirrors the ODP MRs and is not counted.
 * Every block's data is checked: the target against the block's pattern at
 * the server (write, send), the local copy against the target's (read).
 * Prints one "bench OP round R pinned MiB/s odp MiB/s" line per round and
 * the median of the round ratios ODP/pinned.  0, -EIO (a failed transfer
 * or wrong data), -EPIPE (the control connection).
 */
static int run_bench(struct side *s, enum op op, int rounds, size_t block, uint32_t msg)
{
	const uint64_t target_seed = rnd();
	const size_t n = block / msg;
	struct ctl_req q = { .cmd = C_BENCH_PREP, .size = block, .seed = target_seed };
	struct ibv_mr *lmr[2] = { NULL, NULL };
	struct odp_counters c0 = { 0 }, c1 = { 0 };
	/* requester retransmissions per case: a timer that fired or a gap */
	uint64_t retries[2] = { 0, 0 }, rc0, rc1;
	double *ratio = calloc((size_t)rounds, sizeof(*ratio));
	uint32_t rkey[2];
	uint8_t *loc = NULL;
	struct ctl_rep r;
	uint64_t raddr;
	int nr = 0, ret = -EIO;

	if (!ratio)
		return -ENOMEM;
	if (request(s, &q, NULL, 0, &r)) {
		free(ratio);
		return -EPIPE;
	}
	if (r.status) {
		printf("# bench: the server could not set up its target: %s\n",
		       strerror((int)-r.status));
		goto out;
	}
	raddr = r.addr;
	rkey[0] = r.rkey;
	rkey[1] = (uint32_t)r.v0;
	loc = odp_map_fresh(block);
	if (!loc)
		goto out;
	memset(loc, 0, block);
	lmr[0] = odp_reg_pinned(s->dev.pd, loc, block, s->mr_access);
	lmr[1] = odp_reg(s->dev.pd, loc, block, s->mr_access);
	if (!lmr[0] || !lmr[1])
		goto out;
	if (odp_counter_read(&s->dev, "completer_retry_err", &rc0))
		goto out;

	for (int round = 0; round <= rounds; round++) {
		uint64_t t[2] = { 0, 0 }, rt[2] = { 0, 0 };

		if (round == 1)
			odp_counters_read(&s->dev, &c0);
		for (int i = 0; i < 4; i++) {
			/* pinned, ODP, ODP, pinned; ODP first in even rounds */
			const int c = (i == 1 || i == 2) ^ !(round % 2);
			const uint64_t seed = op == OP_READ ? target_seed : rnd();
			uint64_t ns;
			int64_t st;

			if (op == OP_READ)
				memset(loc, 0, block);
			else
				odp_fill(loc, block, seed, 0);
			if (op == OP_SEND) {
				q = (struct ctl_req){ .cmd = C_BENCH_RECV,
						      .mode = (uint32_t)c,
						      .len = msg,
						      .size = n };
				if (request(s, &q, NULL, 0, &r) || r.status) {
					printf("# bench: the server could not post its receives\n");
					goto out;
				}
			}
			if (bench_block(s, op, loc, lmr[c]->lkey, raddr, rkey[c], block, msg, &ns))
				goto out;
			if (odp_counter_read(&s->dev, "completer_retry_err", &rc1))
				goto out;
			rt[c] += rc1 - rc0;
			rc0 = rc1;
			if (op == OP_READ) {
				st = odp_check(loc, block, target_seed, 0,
					       "bench read (client side)");
				st = st < 0 ? 0 : 1 + st;
			} else {
				q = (struct ctl_req){ .cmd = C_BENCH_CHECK,
						      .len = block,
						      .seed = seed,
						      .size = op == OP_SEND ? n : 0 };
				if (request(s, &q, NULL, 0, &r)) {
					ret = -EPIPE;
					goto out;
				}
				st = r.status;
			}
			if (st) {
				printf("# bench %s round %d: %s data %s%" PRId64 "\n", op_name[op],
				       round, c ? "ODP" : "pinned",
				       st > 0 ? "wrong at byte " : "check failed: ",
				       st > 0 ? st - 1 : st);
				goto out;
			}
			t[c] += ns;
		}
		if (round == 0)
			continue;
		/* MiB/s of each case's two blocks, and their retransmissions */
		printf("bench %s round %d pinned %.3f odp %.3f retries %" PRIu64 " %" PRIu64 "\n",
		       op_name[op], round, 2.0 * (double)block / (1 << 20) / ((double)t[0] / 1e9),
		       2.0 * (double)block / (1 << 20) / ((double)t[1] / 1e9), rt[0], rt[1]);
		retries[0] += rt[0];
		retries[1] += rt[1];
		ratio[nr++] = (double)t[0] / (double)t[1];
	}
	odp_counters_read(&s->dev, &c1);
	printf("# bench %s: %d rounds of %zu-byte blocks of %u-byte messages; median ODP/pinned "
	       "%.3f; this side's ODP faults in the counted rounds: %" PRIu64
	       "; its retransmissions (completer_retry_err): pinned %" PRIu64 ", ODP %" PRIu64 "\n",
	       op_name[op], nr, block, msg, odp_median(ratio, nr), c1.faults - c0.faults,
	       retries[0], retries[1]);
	ret = 0;
out:
	for (int i = 0; i < 2; i++)
		if (lmr[i])
			ibv_dereg_mr(lmr[i]);
	if (loc)
		munmap(loc, block);
	free(ratio);
	return ret;
}

static int parse_mode(const char *s)
{
	for (int i = 0; i < M_COUNT; i++)
		if (!strcmp(s, mode_name[i]))
			return i;
	fprintf(stderr, "wire_odp: unknown memory mode '%s' (pinned, explicit, implicit)\n", s);
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: wire_odp --server [--port P] [--cgroup NAME]\n"
		   "       wire_odp --peer HOST [--port P] --matrix [--plant] [--seed S]\n"
		   "                [--only SUBSTRING] [--repeat N]\n"
		   "       wire_odp --peer HOST [--port P] --mm KIND [--req MODE] [--resp MODE]\n"
		   "                [--seconds N] [--seed S]\n"
		   "       wire_odp --peer HOST [--port P] --bench write|read|send [--rounds N]\n"
		   "                [--block BYTES] [--msg BYTES]\n"
		   "KIND: dontneed remap mprotect fork munmap pageout memcg; MODE: pinned "
		   "explicit implicit\n"
		   "--cgroup NAME: the server runs in a new memory cgroup NAME (cgroup v2),\n"
		   "which --mm memcg reclaims to swap.\n"
		   "--bench: warm ODP/pinned, both ends, alternating block by block on one\n"
		   "connection; a line per round, every block's data checked.\n"
		   "(defaults: --port 18600 --req explicit --resp explicit --seconds 20\n"
		   "--rounds 30 --block 4194304 --msg 65536).\n"
		   "RDMA data checks between two hosts on $RXE_DEV (default rxe0); see the\n"
		   "comment at the top of tests/hosts2/wire_odp.c.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "server", no_argument, NULL, 'S' },
					      { "peer", required_argument, NULL, 'p' },
					      { "port", required_argument, NULL, 'P' },
					      { "matrix", no_argument, NULL, 'x' },
					      { "mm", required_argument, NULL, 'm' },
					      { "req", required_argument, NULL, 'l' },
					      { "resp", required_argument, NULL, 'r' },
					      { "seconds", required_argument, NULL, 't' },
					      { "plant", no_argument, NULL, 'X' },
					      { "seed", required_argument, NULL, 's' },
					      { "only", required_argument, NULL, 'o' },
					      { "repeat", required_argument, NULL, 'R' },
					      { "cgroup", required_argument, NULL, 'C' },
					      { "bench", required_argument, NULL, 'B' },
					      { "rounds", required_argument, NULL, 'n' },
					      { "block", required_argument, NULL, 'b' },
					      { "msg", required_argument, NULL, 'M' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	struct side s = { .sock = -1 };
	const char *peer = NULL, *only = NULL, *cgroup = NULL;
	int repeat = 1, bench = -1, rounds = 30;
	unsigned long block = 4ul << 20, msg = 65536;
	int port = 18600, seconds = 20, c, ret = 2, lm = M_EXPLICIT, rm = M_EXPLICIT;
	bool server = false, matrix = false, plant = false;
	enum mm_kind kind = MM_NONE;

	rng_state = odp_now_ns() | 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			server = true;
			break;
		case 'C':
			cgroup = optarg;
			break;
		case 'p':
			peer = optarg;
			break;
		case 'P':
			port = atoi(optarg);
			break;
		case 'x':
			matrix = true;
			break;
		case 'm':
			for (int i = 1; i < MM_COUNT; i++)
				if (!strcmp(optarg, mm_name[i]))
					kind = (enum mm_kind)i;
			if (kind == MM_NONE) {
				fprintf(stderr, "wire_odp: unknown --mm kind '%s'\n", optarg);
				return 2;
			}
			break;
		case 'l':
			lm = parse_mode(optarg);
			break;
		case 'r':
			rm = parse_mode(optarg);
			break;
		case 't':
			seconds = atoi(optarg);
			break;
		case 'X':
			plant = true;
			break;
		case 'o':
			only = optarg;
			break;
		case 'R':
			repeat = atoi(optarg);
			break;
		case 'B':
			for (int i = OP_WRITE; i <= OP_SEND; i++)
				if (!strcmp(optarg, op_name[i]))
					bench = i;
			if (bench < 0) {
				fprintf(stderr, "wire_odp: --bench takes write, read or send\n");
				return 2;
			}
			break;
		case 'n':
			rounds = atoi(optarg);
			break;
		case 'b':
			block = strtoul(optarg, NULL, 0);
			break;
		case 'M':
			msg = strtoul(optarg, NULL, 0);
			break;
		case 's':
			rng_state = strtoull(optarg, NULL, 0) | 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (server == !!peer || (!server && matrix + (kind != MM_NONE) + (bench >= 0) != 1) ||
	    (cgroup && !server)) {
		usage(stderr);
		return 2;
	}
	/* the server posts a send block's receives at once: at most 64 */
	if (bench >= 0 &&
	    (rounds < 1 || rounds > 100000 || msg < 1 || msg > (1ul << 30) || block < msg ||
	     block % msg || block > (256ul << 20) || block / msg > 64)) {
		fprintf(stderr, "wire_odp: --bench needs --rounds 1..100000 and a --block of 1 to "
				"64 whole --msg messages, at most 256 MiB\n");
		return 2;
	}
	if (cgroup && memcg_enter(cgroup))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!server)
		printf("# seed 0x%" PRIx64 "\n", rng_state);
	s.sock = server ? ctl_listen(port) : ctl_connect(peer, port);
	if (s.sock < 0 || side_open(&s) || side_connect(&s))
		goto out;
	if (server) {
		ret = serve(&s);
	} else {
		struct ctl_req bye = { .cmd = C_BYE };
		struct ctl_rep r;

		if (matrix) {
			ret = run_matrix(&s, plant, only, repeat > 0 ? repeat : 1);
		} else if (bench >= 0) {
			int rc = run_bench(&s, (enum op)bench, rounds, block, (uint32_t)msg);

			printf("%s - bench %s\n", rc ? "not ok" : "ok", op_name[bench]);
			ret = rc == -EPIPE ? 2 : rc ? 1 : 0;
		} else {
			int rc = run_mm(&s, kind, (enum mode)lm, (enum mode)rm, seconds);

			printf("%s - mm %s req %s resp %s\n", rc ? "not ok" : "ok", mm_name[kind],
			       mode_name[lm], mode_name[rm]);
			ret = rc == -EPIPE ? 2 : rc ? 1 : 0;
		}
		if (ret != 2 && request(&s, &bye, NULL, 0, &r))
			ret = 2;
	}
out:
	side_close(&s);
	memcg_leave();
	return ret;
}
