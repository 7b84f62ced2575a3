// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Shared helpers of the rxe-odp C tests; see odp_common.h.
 */
#include "odp_common.h"
#include "odp_mix.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CQ_DEPTH 256

void odp_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "# %s\n", line);
}

uint64_t odp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int odp_timeout_ms(void)
{
	const char *s = getenv("ODP_TEST_TIMEOUT_MS");
	int v = s ? atoi(s) : 0;

	/* TCG guests are slow and every first touch of ODP memory faults. */
	return v > 0 ? v : 20000;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- the device ---- */

static int find_roce_v2_gid(struct odp_dev *d)
{
	struct ibv_gid_entry e;
	int i;

	for (i = 0; i < d->port_attr.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(d->ctx, d->port, i, &e, 0))
			continue;
		/* An IPv4-mapped RoCE v2 GID: ::ffff:a.b.c.d */
		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 && e.gid.raw[10] == 0xff &&
		    e.gid.raw[11] == 0xff)
			return i;
	}
	return -1;
}

int odp_dev_open(struct odp_dev *d)
{
	const char *want = getenv("RXE_DEV");
	const char *gidx = getenv("RXE_GID_INDEX");
	struct ibv_device **list;
	int i, n = 0, ret = -ENODEV;

	memset(d, 0, sizeof(*d));
	if (!want || !*want)
		want = "rxe0";
	list = ibv_get_device_list(&n);
	if (!list) {
		odp_log("ibv_get_device_list: %s", strerror(errno));
		return -ENODEV;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(ibv_get_device_name(list[i]), want))
			continue;
		d->ctx = ibv_open_device(list[i]);
		break;
	}
	ibv_free_device_list(list);
	if (!d->ctx) {
		odp_log("RDMA device %s not found or cannot be opened", want);
		return -ENODEV;
	}
	snprintf(d->name, sizeof(d->name), "%s", want);
	d->port = 1;
	if (ibv_query_device_ex(d->ctx, NULL, &d->attr)) {
		odp_log("ibv_query_device_ex: %s", strerror(errno));
		goto err_close;
	}
	if (ibv_query_port(d->ctx, d->port, &d->port_attr)) {
		odp_log("ibv_query_port: %s", strerror(errno));
		goto err_close;
	}
	if (d->port_attr.state != IBV_PORT_ACTIVE) {
		odp_log("%s port %u is not active", want, d->port);
		goto err_close;
	}
	d->gid_index = gidx && *gidx ? atoi(gidx) : find_roce_v2_gid(d);
	if (d->gid_index < 0 || ibv_query_gid(d->ctx, d->port, d->gid_index, &d->gid)) {
		odp_log("no usable GID on %s (RXE_GID_INDEX=%s)", want, gidx ? gidx : "unset");
		goto err_close;
	}
	d->pd = ibv_alloc_pd(d->ctx);
	if (!d->pd) {
		odp_log("ibv_alloc_pd: %s", strerror(errno));
		ret = -errno;
		goto err_close;
	}
	return 0;

err_close:
	ibv_close_device(d->ctx);
	d->ctx = NULL;
	return ret;
}

void odp_dev_close(struct odp_dev *d)
{
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	if (d->ctx)
		ibv_close_device(d->ctx);
	d->pd = NULL;
	d->ctx = NULL;
}

int odp_path_mtu_bytes(const struct odp_dev *d)
{
	return 128 << d->port_attr.active_mtu;
}

/* ---- memory ---- */

bool odp_force_pinned(void)
{
	const char *s = getenv("ODP_FORCE_PINNED");

	return s && *s && strcmp(s, "0");
}

struct ibv_mr *odp_reg_pinned(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, addr, len, access & ~IBV_ACCESS_ON_DEMAND);

	if (!mr)
		odp_log("pinned ibv_reg_mr(%p, %zu): %s", addr, len, strerror(errno));
	return mr;
}

struct ibv_mr *odp_reg(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr;

	if (odp_force_pinned())
		return odp_reg_pinned(pd, addr, len, access);
	mr = ibv_reg_mr(pd, addr, len, access | IBV_ACCESS_ON_DEMAND);
	if (!mr)
		odp_log("ODP ibv_reg_mr(%p, %zu): %s", addr, len, strerror(errno));
	return mr;
}

struct ibv_mr *odp_reg_maybe(struct ibv_pd *pd, void *addr, size_t len, int access, bool odp)
{
	return odp ? odp_reg(pd, addr, len, access) : odp_reg_pinned(pd, addr, len, access);
}

void *odp_map_fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		odp_log("mmap(%zu): %s", len, strerror(errno));
		return NULL;
	}
	return p;
}

void *odp_map_absent_filled(size_t len, uint64_t seed, uint64_t base)
{
	void *alias, *p = NULL;
	int fd;

	fd = memfd_create("odp-test", MFD_CLOEXEC);
	if (fd < 0) {
		odp_log("memfd_create: %s", strerror(errno));
		return NULL;
	}
	if (ftruncate(fd, (off_t)len)) {
		odp_log("ftruncate(%zu): %s", len, strerror(errno));
		goto out;
	}
	alias = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (alias == MAP_FAILED) {
		odp_log("mmap memfd: %s", strerror(errno));
		goto out;
	}
	odp_fill(alias, len, seed, base);
	munmap(alias, len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		odp_log("mmap memfd: %s", strerror(errno));
		p = NULL;
	}
out:
	close(fd);
	return p;
}

void odp_unmap(void *addr, size_t len)
{
	if (addr)
		munmap(addr, len);
}

static long pagemap_count(const void *addr, size_t len, uint64_t bit)
{
	uintptr_t first = (uintptr_t)addr / ODP_PAGE;
	uintptr_t last = ((uintptr_t)addr + len - 1) / ODP_PAGE;
	uint64_t ents[512];
	long count = 0;
	uintptr_t pg;
	int fd;

	if (!len)
		return 0;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		odp_log("open /proc/self/pagemap: %s", strerror(errno));
		return -errno;
	}
	for (pg = first; pg <= last;) {
		size_t n = last - pg + 1;
		ssize_t got;
		size_t i;

		if (n > 512)
			n = 512;
		got = pread(fd, ents, n * sizeof(ents[0]), (off_t)(pg * sizeof(ents[0])));
		if (got != (ssize_t)(n * sizeof(ents[0]))) {
			odp_log("read /proc/self/pagemap: %s", got < 0 ? strerror(errno) : "short");
			close(fd);
			return -EIO;
		}
		for (i = 0; i < n; i++)
			count += !!(ents[i] & bit);
		pg += n;
	}
	close(fd);
	return count;
}

int odp_no_numa_balancing(void)
{
	if (set_mempolicy(MPOL_LOCAL, NULL, 0)) {
		odp_log("set_mempolicy(MPOL_LOCAL): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

long odp_pages_present(const void *addr, size_t len)
{
	return pagemap_count(addr, len, 1ull << 63);
}

long odp_pages_swapped(const void *addr, size_t len)
{
	return pagemap_count(addr, len, 1ull << 62);
}

long odp_pages_spanned(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;

	if (!len)
		return 0;
	return (long)((a + len - 1) / ODP_PAGE - a / ODP_PAGE + 1);
}

long odp_proc_field_kb(const char *path, const char *field)
{
	size_t flen = strlen(field);
	char line[256];
	long v = -1;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

long odp_proc_status_kb(const char *field)
{
	return odp_proc_field_kb("/proc/self/status", field);
}

/* ---- position-dependent data ---- */

static inline uint64_t pat_word(uint64_t mseed, uint64_t word)
{
	return odp_mix64(mseed + word * 0x9e3779b97f4a7c15ull);
}

uint8_t odp_pat(uint64_t seed, uint64_t off)
{
	return (uint8_t)(pat_word(odp_mix64(seed), off >> 3) >> ((off & 7) * 8));
}

uint64_t odp_pat_u64(uint64_t seed, uint64_t off)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | odp_pat(seed, off + (uint64_t)i);
	return v;
}

void odp_fill(void *buf, size_t len, uint64_t seed, uint64_t base)
{
	uint64_t mseed = odp_mix64(seed), word = UINT64_MAX, w = 0;
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t off = base + i;

		if (off >> 3 != word) {
			word = off >> 3;
			w = pat_word(mseed, word);
		}
		b[i] = (uint8_t)(w >> ((off & 7) * 8));
	}
}

static void report_mismatch(const char *what, const uint8_t *b, size_t len, size_t first,
			    uint8_t want)
{
	odp_log("%s: first wrong byte at %zu of %zu: got 0x%02x, want 0x%02x", what ? what : "data",
		first, len, b[first], want);
}

ssize_t odp_check(const void *buf, size_t len, uint64_t seed, uint64_t base, const char *what)
{
	uint64_t mseed = odp_mix64(seed), word = UINT64_MAX, w = 0;
	const uint8_t *b = buf;
	ssize_t first = -1;
	size_t i, bad = 0;

	for (i = 0; i < len; i++) {
		uint64_t off = base + i;
		uint8_t want;

		if (off >> 3 != word) {
			word = off >> 3;
			w = pat_word(mseed, word);
		}
		want = (uint8_t)(w >> ((off & 7) * 8));
		if (b[i] == want)
			continue;
		if (first < 0) {
			first = (ssize_t)i;
			report_mismatch(what, b, len, i, want);
		}
		bad++;
	}
	if (bad)
		odp_log("%s: %zu of %zu bytes wrong", what ? what : "data", bad, len);
	return first;
}

ssize_t odp_check_byte(const void *buf, size_t len, uint8_t val, const char *what)
{
	const uint8_t *b = buf;
	ssize_t first = -1;
	size_t i, bad = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == val)
			continue;
		if (first < 0) {
			first = (ssize_t)i;
			report_mismatch(what, b, len, i, val);
		}
		bad++;
	}
	if (bad)
		odp_log("%s: %zu of %zu bytes wrong", what ? what : "data", bad, len);
	return first;
}

ssize_t odp_cmp(const void *got, const void *exp, size_t len, const char *what)
{
	const uint8_t *g = got, *e = exp;
	ssize_t first = -1;
	size_t i, bad = 0;

	for (i = 0; i < len; i++) {
		if (g[i] == e[i])
			continue;
		if (first < 0) {
			first = (ssize_t)i;
			report_mismatch(what, g, len, i, e[i]);
		}
		bad++;
	}
	if (bad)
		odp_log("%s: %zu of %zu bytes wrong", what ? what : "data", bad, len);
	return first;
}

/* ---- queue pairs ---- */

static int qp_to_init(struct odp_dev *d, struct ibv_qp *qp, int extra_access)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = d->port,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC | extra_access,
	};

	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS)) {
		odp_log("modify QP %u to INIT: %s", qp->qp_num, strerror(errno));
		return -errno;
	}
	return 0;
}

static void self_ah_attr(struct odp_dev *d, struct ibv_ah_attr *ah)
{
	memset(ah, 0, sizeof(*ah));
	ah->is_global = 1;
	ah->grh.dgid = d->gid;
	ah->grh.sgid_index = (uint8_t)d->gid_index;
	ah->grh.hop_limit = 64;
	ah->port_num = d->port;
}

static int rc_connect(struct odp_dev *d, struct ibv_qp *qp, uint32_t dest_qpn, int extra_access)
{
	int rd_atom = d->attr.orig_attr.max_qp_rd_atom;
	struct ibv_qp_attr a;
	int ret;

	ret = qp_to_init(d, qp, extra_access);
	if (ret)
		return ret;
	if (rd_atom > 16)
		rd_atom = 16;
	if (rd_atom < 1)
		rd_atom = 1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->port_attr.active_mtu;
	a.dest_qp_num = dest_qpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = (uint8_t)rd_atom;
	a.min_rnr_timer = 12;
	self_ah_attr(d, &a.ah_attr);
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER)) {
		odp_log("modify QP %u to RTR: %s", qp->qp_num, strerror(errno));
		return -errno;
	}

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	a.timeout = 17; /* ~0.5 s: a first touch of ODP memory may take long */
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = (uint8_t)rd_atom;
	if (ibv_modify_qp(qp, &a,
			  IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				  IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC)) {
		odp_log("modify QP %u to RTS: %s", qp->qp_num, strerror(errno));
		return -errno;
	}
	return 0;
}

static struct ibv_qp *create_qp(struct odp_dev *d, struct ibv_pd *pd, enum ibv_qp_type type,
				struct ibv_cq *cq, struct ibv_srq *srq, uint64_t send_ops_flags)
{
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = type,
		.send_cq = cq,
		.recv_cq = cq,
		.srq = srq,
		.cap = {
			.max_send_wr = ODP_QP_DEPTH,
			.max_recv_wr = srq ? 0 : ODP_QP_DEPTH,
			.max_send_sge = 2,
			.max_recv_sge = 2,
		},
		.pd = pd,
		.comp_mask = IBV_QP_INIT_ATTR_PD,
	};
	struct ibv_qp *qp;

	if (send_ops_flags) {
		ia.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		ia.send_ops_flags = send_ops_flags;
	}
	qp = ibv_create_qp_ex(d->ctx, &ia);
	if (!qp)
		odp_log("ibv_create_qp_ex(type %d, send_ops 0x%" PRIx64 "): %s", type,
			send_ops_flags, strerror(errno));
	return qp;
}

static struct ibv_cq *create_cq(struct odp_dev *d)
{
	struct ibv_cq *cq = ibv_create_cq(d->ctx, CQ_DEPTH, NULL, NULL, 0);

	if (!cq)
		odp_log("ibv_create_cq: %s", strerror(errno));
	return cq;
}

int odp_rc_pair_create(struct odp_dev *d, struct odp_rc_pair *p, const struct odp_qp_opts *o)
{
	static const struct odp_qp_opts none;
	struct ibv_pd *pd;
	int ret = -ENOMEM;

	if (!o)
		o = &none;
	pd = o->pd ? o->pd : d->pd;
	memset(p, 0, sizeof(*p));
	p->cq_a = create_cq(d);
	p->cq_b = create_cq(d);
	if (!p->cq_a || !p->cq_b)
		goto err;
	p->a = create_qp(d, pd, IBV_QPT_RC, p->cq_a, NULL, o->send_ops_flags);
	p->b = create_qp(d, pd, IBV_QPT_RC, p->cq_b, o->srq_b, 0);
	if (!p->a || !p->b)
		goto err;
	if (o->send_ops_flags) {
		p->ax = ibv_qp_to_qp_ex(p->a);
		if (!p->ax) {
			odp_log("ibv_qp_to_qp_ex failed");
			goto err;
		}
	}
	ret = rc_connect(d, p->a, p->b->qp_num, o->extra_access);
	if (!ret)
		ret = rc_connect(d, p->b, p->a->qp_num, o->extra_access);
	if (ret)
		goto err;
	return 0;
err:
	odp_rc_pair_destroy(p);
	return ret;
}

int odp_rc_pair_reconnect(struct odp_dev *d, struct odp_rc_pair *p)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	int ret;

	if (ibv_modify_qp(p->a, &a, IBV_QP_STATE) || ibv_modify_qp(p->b, &a, IBV_QP_STATE)) {
		odp_log("modify QP to RESET: %s", strerror(errno));
		return -errno;
	}
	ret = rc_connect(d, p->a, p->b->qp_num, 0);
	if (!ret)
		ret = rc_connect(d, p->b, p->a->qp_num, 0);
	return ret;
}

void odp_rc_pair_destroy(struct odp_rc_pair *p)
{
	if (p->a)
		ibv_destroy_qp(p->a);
	if (p->b)
		ibv_destroy_qp(p->b);
	if (p->cq_a)
		ibv_destroy_cq(p->cq_a);
	if (p->cq_b)
		ibv_destroy_cq(p->cq_b);
	memset(p, 0, sizeof(*p));
}

static int ud_ready(struct odp_dev *d, struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = d->port,
		.qkey = ODP_QKEY,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY)) {
		odp_log("modify UD QP to INIT: %s", strerror(errno));
		return -errno;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE)) {
		odp_log("modify UD QP to RTR: %s", strerror(errno));
		return -errno;
	}
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN)) {
		odp_log("modify UD QP to RTS: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int odp_ud_pair_create(struct odp_dev *d, struct odp_ud_pair *p, struct ibv_srq *srq_b)
{
	struct ibv_ah_attr ah;
	int ret = -ENOMEM;

	memset(p, 0, sizeof(*p));
	p->cq_a = create_cq(d);
	p->cq_b = create_cq(d);
	if (!p->cq_a || !p->cq_b)
		goto err;
	p->a = create_qp(d, d->pd, IBV_QPT_UD, p->cq_a, NULL, 0);
	p->b = create_qp(d, d->pd, IBV_QPT_UD, p->cq_b, srq_b, 0);
	if (!p->a || !p->b)
		goto err;
	ret = ud_ready(d, p->a);
	if (!ret)
		ret = ud_ready(d, p->b);
	if (ret)
		goto err;
	self_ah_attr(d, &ah);
	p->ah = ibv_create_ah(d->pd, &ah);
	if (!p->ah) {
		odp_log("ibv_create_ah: %s", strerror(errno));
		ret = -errno;
		goto err;
	}
	return 0;
err:
	odp_ud_pair_destroy(p);
	return ret;
}

void odp_ud_pair_destroy(struct odp_ud_pair *p)
{
	if (p->ah)
		ibv_destroy_ah(p->ah);
	if (p->a)
		ibv_destroy_qp(p->a);
	if (p->b)
		ibv_destroy_qp(p->b);
	if (p->cq_a)
		ibv_destroy_cq(p->cq_a);
	if (p->cq_b)
		ibv_destroy_cq(p->cq_b);
	memset(p, 0, sizeof(*p));
}

struct ibv_srq *odp_srq_create(struct odp_dev *d)
{
	struct ibv_srq_init_attr ia = { .attr = { .max_wr = ODP_QP_DEPTH, .max_sge = 2 } };
	struct ibv_srq *srq = ibv_create_srq(d->pd, &ia);

	if (!srq)
		odp_log("ibv_create_srq: %s", strerror(errno));
	return srq;
}

/* ---- posting ---- */

static int post(struct ibv_qp *qp, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad = NULL;
	int ret = ibv_post_send(qp, wr, &bad);

	if (ret) {
		odp_log("ibv_post_send(opcode %d): %s", wr->opcode, strerror(ret));
		return -ret;
	}
	return 0;
}

int odp_post_rdma(struct ibv_qp *qp, enum ibv_wr_opcode op, void *laddr, uint32_t len,
		  uint32_t lkey, uint64_t raddr, uint32_t rkey, uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	};

	return post(qp, &wr);
}

int odp_post_atomic(struct ibv_qp *qp, enum ibv_wr_opcode op, void *laddr, uint32_t lkey,
		    uint64_t raddr, uint32_t rkey, uint64_t compare_add, uint64_t swap,
		    uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = 8, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.atomic = {
			.remote_addr = raddr,
			.compare_add = compare_add,
			.swap = swap,
			.rkey = rkey,
		},
	};

	return post(qp, &wr);
}

int odp_post_send(struct ibv_qp *qp, void *laddr, uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};

	return post(qp, &wr);
}

int odp_post_ud_send(struct ibv_qp *qp, struct ibv_ah *ah, uint32_t remote_qpn, void *laddr,
		     uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.ud = { .ah = ah, .remote_qpn = remote_qpn, .remote_qkey = ODP_QKEY },
	};

	return post(qp, &wr);
}

int odp_post_recv(struct ibv_qp *qp, void *addr, uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad = NULL;
	int ret = ibv_post_recv(qp, &wr, &bad);

	if (ret)
		odp_log("ibv_post_recv: %s", strerror(ret));
	return -ret;
}

int odp_post_srq_recv(struct ibv_srq *srq, void *addr, uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad = NULL;
	int ret = ibv_post_srq_recv(srq, &wr, &bad);

	if (ret)
		odp_log("ibv_post_srq_recv: %s", strerror(ret));
	return -ret;
}

/* ---- completions ---- */

int odp_poll(struct ibv_cq *cq, struct ibv_wc *wc, int timeout_ms)
{
	uint64_t deadline = odp_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	long nap = 20;

	for (;;) {
		int n = ibv_poll_cq(cq, 1, wc);

		if (n < 0) {
			odp_log("ibv_poll_cq: %d", n);
			return -EIO;
		}
		if (n == 1)
			return 0;
		if (odp_now_ns() > deadline) {
			odp_log("no completion within %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		/* Back off up to 1 ms so the rxe tasks get the vCPUs. */
		sleep_us(nap);
		if (nap < 1000)
			nap *= 2;
	}
}

int odp_wait_status(struct ibv_cq *cq)
{
	struct ibv_wc wc;
	int ret = odp_poll(cq, &wc, odp_timeout_ms());

	if (ret)
		return ret;
	if (wc.status != IBV_WC_SUCCESS)
		odp_log("completion wr_id %" PRIu64 " opcode %d: %s (vendor_err 0x%x)", wc.wr_id,
			wc.opcode, ibv_wc_status_str(wc.status), wc.vendor_err);
	return wc.status;
}

int odp_wait_ok(struct ibv_cq *cq, enum ibv_wc_opcode opcode, struct ibv_wc *wc)
{
	struct ibv_wc local;
	int ret;

	if (!wc)
		wc = &local;
	ret = odp_poll(cq, wc, odp_timeout_ms());
	if (ret)
		return ret;
	if (wc->status != IBV_WC_SUCCESS || wc->opcode != opcode) {
		odp_log("completion wr_id %" PRIu64 ": %s, opcode %d (want success, opcode %d)",
			wc->wr_id, ibv_wc_status_str(wc->status), wc->opcode, opcode);
		return -EIO;
	}
	return 0;
}

int odp_rdma_sync(struct odp_rc_pair *p, enum ibv_wr_opcode op, void *laddr, uint32_t len,
		  uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	int ret = odp_post_rdma(p->a, op, laddr, len, lkey, raddr, rkey, op);

	return ret ? ret : odp_wait_status(p->cq_a);
}

int odp_qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &init)) {
		odp_log("ibv_query_qp: %s", strerror(errno));
		return -errno;
	}
	return a.qp_state;
}

int odp_wait_qp_state(struct ibv_qp *qp, enum ibv_qp_state state)
{
	uint64_t deadline = odp_now_ns() + (uint64_t)odp_timeout_ms() * 1000000ull;
	int s;

	for (;;) {
		s = odp_qp_state(qp);
		if (s == (int)state)
			return 0;
		if (odp_now_ns() > deadline) {
			odp_log("QP %u in state %d, not %d, after %d ms", qp->qp_num, s, state,
				odp_timeout_ms());
			return -ETIMEDOUT;
		}
		sleep_us(1000);
	}
}

/* ---- counters ---- */

/* 0 with *v, -ENOENT if the file is missing, -EIO if it holds no number. */
static int read_counter_file(const char *path, uint64_t *v)
{
	unsigned long long x;
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -ENOENT;
	ok = fscanf(f, "%llu", &x) == 1;
	fclose(f);
	if (!ok)
		return -EIO;
	*v = x;
	return 0;
}

static int read_counter(const struct odp_dev *d, const char *name, uint64_t *v)
{
	char path[256];
	int ret;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%u/hw_counters/%s", d->name,
		 d->port, name);
	ret = read_counter_file(path, v);
	if (ret == -ENOENT) {
		snprintf(path, sizeof(path), "/sys/class/infiniband/%s/hw_counters/%s", d->name,
			 name);
		ret = read_counter_file(path, v);
	}
	if (ret == -ENOENT)
		odp_log("ODP counter %s missing (no hw_counters/%s on %s)", name, name, d->name);
	else if (ret)
		odp_log("ODP counter %s unreadable", name);
	return ret;
}

/*
 * The core caches hw_counters for "lifespan" ms (12 ms by default) after
 * each refresh: wait that long so the values read are taken now.
 */
static void wait_counters_lifespan(const struct odp_dev *d)
{
	uint64_t ms = 20;
	char path[256];

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%u/hw_counters/lifespan",
		 d->name, d->port);
	if (read_counter_file(path, &ms))
		ms = 20;
	sleep_us((long)(ms + 5) * 1000);
}

int odp_counter_read(const struct odp_dev *d, const char *name, uint64_t *v)
{
	*v = 0;
	wait_counters_lifespan(d);
	return read_counter(d, name, v);
}

int odp_counters_read(const struct odp_dev *d, struct odp_counters *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	wait_counters_lifespan(d);
	ret = read_counter(d, "odp_faults", &c->faults);
	if (!ret)
		ret = read_counter(d, "odp_pages_faulted", &c->pages_faulted);
	if (!ret)
		ret = read_counter(d, "odp_invalidations", &c->invalidations);
	if (!ret)
		ret = read_counter(d, "odp_pages_invalidated", &c->pages_invalidated);
	return ret;
}

/* ---- rdma_rxe module parameters ---- */

#define PARAM_DIR "/sys/module/rdma_rxe/parameters/"

int odp_param_read(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		odp_log("%s: %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, buf, len - 1);
	if (n < 0) {
		odp_log("read %s: %s", path, strerror(errno));
		n = -errno;
	}
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Writes s to path in one write(): 0, or -errno (-EIO if short). */
static int write_str(const char *path, const char *s)
{
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(s))
		ret = -EIO;
	close(fd);
	return ret;
}

int odp_write_file(const char *path, const char *s)
{
	int ret = write_str(path, s);

	if (ret)
		odp_log("write '%s' to %s: %s", s, path, strerror(-ret));
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double odp_median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int odp_memcg_enter(const char *dir, const char *memory_max)
{
	char path[256], pid[32];

	/* may fail when the controller is on already: the next steps tell */
	odp_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(dir, 0755) && errno != EEXIST) {
		odp_log("mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	if (memory_max && odp_write_file(path, memory_max))
		goto err_rmdir;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (odp_write_file(path, pid))
		goto err_rmdir;
	return 0;

err_rmdir:
	rmdir(dir);
	return -1;
}

void odp_memcg_leave(const char *dir)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", getpid());
	odp_write_file("/sys/fs/cgroup/cgroup.procs", pid);
	if (rmdir(dir))
		odp_log("rmdir %s: %s", dir, strerror(errno));
}

int odp_param_write(const char *name, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	return write_str(path, val);
}

int odp_param_write_uint(const char *name, unsigned long v)
{
	char val[24];

	snprintf(val, sizeof(val), "%lu", v);
	return odp_param_write(name, val);
}

int odp_param_save_and_write(const char *name, char *saved, size_t saved_len, unsigned long v)
{
	int ret;

	if (!saved[0]) {
		ret = odp_param_read(name, saved, saved_len);
		if (ret)
			return ret;
	}
	ret = odp_param_write_uint(name, v);
	if (ret)
		odp_log("write %lu to %s: %s", v, name, strerror(-ret));
	return ret;
}

void odp_param_restore(const char *name, const char *saved)
{
	if (saved[0])
		odp_param_write(name, saved);
}

int odp_param_check_values(const char *name, const char *start, const char *const *bad, size_t nbad,
			   const char *const *good, size_t ngood)
{
	char now[64];
	int wrong = 0, ret;
	size_t i;

	ret = odp_param_write(name, start);
	if (ret) {
		odp_log("%s: cannot set %s: %s", name, start, strerror(-ret));
		return -1;
	}
	for (i = 0; i < nbad; i++) {
		ret = odp_param_write(name, bad[i]);
		if (odp_param_read(name, now, sizeof(now)))
			return -1;
		if (ret != -EINVAL || strcmp(now, start)) {
			odp_log("%s: writing '%s' returned %d and left '%s' (want -EINVAL, '%s')",
				name, bad[i], ret, now, start);
			wrong++;
		}
	}
	for (i = 0; i < ngood; i++) {
		ret = odp_param_write(name, good[i]);
		if (odp_param_read(name, now, sizeof(now)))
			return -1;
		if (ret || strcmp(now, good[i])) {
			odp_log("%s: writing '%s' returned %d and left '%s'", name, good[i], ret,
				now);
			wrong++;
		}
	}
	return wrong;
}
