// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Stress: while the main thread streams RDMA writes and reads through an
 * ODP MR, worker threads keep changing the MR's memory under it: munmap +
 * mmap(MAP_FIXED) and refill, madvise(MADV_DONTNEED), mprotect(PROT_READ)
 * and back.  All data is checked end to end against a shadow copy; nothing
 * may be corrupted, no operation may hang (every wait has a deadline).
 *
 * The MR is cut into chunks.  A worker changes one chunk at a time, holding
 * its lock and keeping its generation odd while it does.  The main thread
 * either
 *   - owns a chunk (holds its lock) for an operation: the operation must
 *     succeed and every byte must be exact, while the workers change other
 *     chunks of the same MR at the same time; or
 *   - races the workers on a chunk: an error completion or mixed data is
 *     allowed only if the chunk's generation moved during the operation
 *     (the QP pair is then replaced and the chunk refilled); otherwise the
 *     same exactness applies.
 * At the end, with the workers stopped, every chunk is read back over RDMA
 * and compared with the shadow and with the CPU's view.
 *
 *   stress_odp [--seconds N] [--threads N] [--chunks N] [--chunk-pages N]
 *              [--seed N] [harness options]
 */
#include "odp_common.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "odp_harness.h"

static struct {
	int seconds;
	int threads;
	int chunks;
	int chunk_pages;
	uint64_t seed;
	unsigned int worker_ops; /* bit mask of W_* */
} cfg = { .seconds = 60,
	  .threads = 2,
	  .chunks = 64,
	  .chunk_pages = 4,
	  .seed = 0x57e55,
	  .worker_ops = 7 };

#define MAX_THREADS 16

struct chunk {
	pthread_mutex_t lock;
	atomic_uint gen; /* odd while a worker changes the chunk */
};

enum { W_REMAP, W_DONTNEED, W_MPROTECT, W_NR };
static const char *const w_names[W_NR] = { "remap", "dontneed", "mprotect" };

struct worker {
	struct stress_ctx *s;
	pthread_t thread;
	uint64_t rng;
	uint64_t ops[W_NR];
	int error;
};

struct stress_ctx {
	struct odp_dev *dev;
	struct odp_rc_pair rc;
	size_t chunk_len, len;
	uint8_t *mem; /* the ODP MR's memory */
	struct ibv_mr *mr;
	uint8_t *shadow; /* what mem must hold */
	struct chunk *chunks;
	uint8_t *src, *dst; /* pinned staging, one chunk each */
	struct ibv_mr *src_mr, *dst_mr;
	atomic_bool stop;
	atomic_uint_fast64_t seeds; /* fresh pattern seeds */
	struct worker workers[MAX_THREADS];
	uint64_t rng;
	/* main-thread statistics */
	uint64_t ops_owned, ops_raced_ok, ops_raced, recoveries, bytes_checked;
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint8_t *chunk_mem(struct stress_ctx *s, int c)
{
	return s->mem + (size_t)c * s->chunk_len;
}

static uint8_t *chunk_shadow(struct stress_ctx *s, int c)
{
	return s->shadow + (size_t)c * s->chunk_len;
}

/* Fills chunk c and its shadow with a fresh pattern (chunk owned by the caller). */
static void refill(struct stress_ctx *s, int c)
{
	uint64_t seed = atomic_fetch_add(&s->seeds, 1);

	odp_fill(chunk_mem(s, c), s->chunk_len, seed, (uint64_t)c * s->chunk_len);
	memcpy(chunk_shadow(s, c), chunk_mem(s, c), s->chunk_len);
}

static void nap_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)(us * 1000) };

	nanosleep(&ts, NULL);
}

static int worker_change(struct worker *w, int c)
{
	struct stress_ctx *s = w->s;
	uint8_t *p = chunk_mem(s, c);
	int op;
	void *q;

	do
		op = (int)(rnd(&w->rng) % W_NR);
	while (!(cfg.worker_ops & (1u << op)));

	switch (op) {
	case W_REMAP:
		if (munmap(p, s->chunk_len))
			return -errno;
		q = mmap(p, s->chunk_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (q != p)
			return -errno;
		refill(s, c);
		break;
	case W_DONTNEED:
		if (madvise(p, s->chunk_len, MADV_DONTNEED))
			return -errno;
		if (rnd(&w->rng) & 1)
			refill(s, c);
		else
			memset(chunk_shadow(s, c), 0, s->chunk_len);
		break;
	case W_MPROTECT:
		if (mprotect(p, s->chunk_len, PROT_READ))
			return -errno;
		nap_us(rnd(&w->rng) % 2000);
		if (mprotect(p, s->chunk_len, PROT_READ | PROT_WRITE))
			return -errno;
		break;
	}
	w->ops[op]++;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct stress_ctx *s = w->s;

	while (!atomic_load(&s->stop)) {
		int c = (int)(rnd(&w->rng) % (uint64_t)cfg.chunks);
		struct chunk *ch = &s->chunks[c];
		int ret;

		if (pthread_mutex_trylock(&ch->lock))
			continue;
		atomic_fetch_add(&ch->gen, 1);
		ret = worker_change(w, c);
		atomic_fetch_add(&ch->gen, 1);
		pthread_mutex_unlock(&ch->lock);
		if (ret) {
			odp_log("worker: changing chunk %d failed: %s", c, strerror(-ret));
			w->error = ret;
			atomic_store(&s->stop, true);
			break;
		}
		nap_us(rnd(&w->rng) % 500);
	}
	return NULL;
}

/* A random unaligned range of a chunk, more than a page long. */
static void pick_range(struct stress_ctx *s, size_t *off, size_t *len)
{
	size_t head = rnd(&s->rng) % ODP_PAGE, tail = rnd(&s->rng) % ODP_PAGE;

	*off = head;
	*len = s->chunk_len - head - tail;
}

static int post_wait(struct stress_ctx *s, enum ibv_wr_opcode op, void *laddr, size_t len,
		     uint32_t lkey, void *raddr)
{
	return odp_rdma_sync(&s->rc, op, laddr, (uint32_t)len, lkey, (uintptr_t)raddr, s->mr->rkey);
}

static int recover(struct stress_ctx *s)
{
	s->recoveries++;
	odp_rc_pair_destroy(&s->rc);
	return odp_rc_pair_create(s->dev, &s->rc, NULL);
}

static void lock2(struct stress_ctx *s, int a, int b)
{
	pthread_mutex_lock(&s->chunks[a < b ? a : b].lock);
	pthread_mutex_lock(&s->chunks[a < b ? b : a].lock);
}

/* One operation on chunks the main thread owns: must succeed, exactly. */
static int owned_op(struct stress_ctx *s)
{
	int c = (int)(rnd(&s->rng) % (uint64_t)cfg.chunks), kind = (int)(rnd(&s->rng) % 10);
	size_t off, len;
	int st, ret = 0;

	pick_range(s, &off, &len);
	if (kind < 4) { /* write: pinned source -> ODP chunk */
		pthread_mutex_lock(&s->chunks[c].lock);
		odp_fill(s->src + off, len, atomic_fetch_add(&s->seeds, 1), off);
		st = post_wait(s, IBV_WR_RDMA_WRITE, s->src + off, len, s->src_mr->lkey,
			       chunk_mem(s, c) + off);
		if (st == IBV_WC_SUCCESS) {
			memcpy(chunk_shadow(s, c) + off, s->src + off, len);
			if (odp_cmp(chunk_mem(s, c), chunk_shadow(s, c), s->chunk_len,
				    "owned chunk after an RDMA write") >= 0)
				ret = -EBADMSG;
			s->bytes_checked += s->chunk_len;
		} else {
			odp_log("RDMA write into owned chunk %d failed (%d)", c, st);
			ret = -EIO;
		}
		pthread_mutex_unlock(&s->chunks[c].lock);
	} else if (kind < 8) { /* read: ODP chunk -> pinned destination */
		pthread_mutex_lock(&s->chunks[c].lock);
		memset(s->dst + off, 0x5a, len);
		st = post_wait(s, IBV_WR_RDMA_READ, s->dst + off, len, s->dst_mr->lkey,
			       chunk_mem(s, c) + off);
		if (st == IBV_WC_SUCCESS) {
			if (odp_cmp(s->dst + off, chunk_shadow(s, c) + off, len,
				    "RDMA read of an owned chunk") >= 0)
				ret = -EBADMSG;
			s->bytes_checked += len;
		} else {
			odp_log("RDMA read of owned chunk %d failed (%d)", c, st);
			ret = -EIO;
		}
		pthread_mutex_unlock(&s->chunks[c].lock);
	} else { /* copy inside the MR: ODP lkey -> ODP rkey */
		int d = (int)(rnd(&s->rng) % (uint64_t)cfg.chunks);

		if (d == c)
			d = (c + 1) % cfg.chunks;
		lock2(s, c, d);
		st = post_wait(s, IBV_WR_RDMA_WRITE, chunk_mem(s, c) + off, len, s->mr->lkey,
			       chunk_mem(s, d) + off);
		if (st == IBV_WC_SUCCESS) {
			memcpy(chunk_shadow(s, d) + off, chunk_shadow(s, c) + off, len);
			if (odp_cmp(chunk_mem(s, d), chunk_shadow(s, d), s->chunk_len,
				    "owned chunk after an RDMA copy") >= 0)
				ret = -EBADMSG;
			s->bytes_checked += s->chunk_len;
		} else {
			odp_log("RDMA copy chunk %d -> %d failed (%d)", c, d, st);
			ret = -EIO;
		}
		pthread_mutex_unlock(&s->chunks[c].lock);
		pthread_mutex_unlock(&s->chunks[d].lock);
	}
	s->ops_owned++;
	return ret;
}

/* One operation racing the workers on a chunk. */
static int raced_op(struct stress_ctx *s)
{
	int c = (int)(rnd(&s->rng) % (uint64_t)cfg.chunks);
	struct chunk *ch = &s->chunks[c];
	bool write = rnd(&s->rng) & 1;
	unsigned int g0, g1;
	size_t off, len;
	bool quiet;
	int st, ret = 0;

	pick_range(s, &off, &len);
	g0 = atomic_load(&ch->gen);
	if (write) {
		odp_fill(s->src + off, len, atomic_fetch_add(&s->seeds, 1), off);
		st = post_wait(s, IBV_WR_RDMA_WRITE, s->src + off, len, s->src_mr->lkey,
			       chunk_mem(s, c) + off);
	} else {
		memset(s->dst + off, 0x5a, len);
		st = post_wait(s, IBV_WR_RDMA_READ, s->dst + off, len, s->dst_mr->lkey,
			       chunk_mem(s, c) + off);
	}
	if (st < 0)
		return st; /* no completion: a hang */
	g1 = atomic_load(&ch->gen);
	quiet = g0 == g1 && !(g0 & 1);

	if (write) {
		/* Own the chunk to settle its content. */
		pthread_mutex_lock(&ch->lock);
		quiet = quiet && atomic_load(&ch->gen) == g0;
		if (quiet && st == IBV_WC_SUCCESS) {
			memcpy(chunk_shadow(s, c) + off, s->src + off, len);
			if (odp_cmp(chunk_mem(s, c), chunk_shadow(s, c), s->chunk_len,
				    "chunk after an unraced RDMA write") >= 0)
				ret = -EBADMSG;
			s->bytes_checked += s->chunk_len;
		} else if (!quiet) {
			refill(s, c);
		}
		pthread_mutex_unlock(&ch->lock);
	} else if (quiet && st == IBV_WC_SUCCESS) {
		bool bad = odp_cmp(s->dst + off, chunk_shadow(s, c) + off, len,
				   "unraced RDMA read (unless a worker came in)") >= 0;

		/* A worker may have started on the shadow while we compared. */
		if (atomic_load(&ch->gen) == g0) {
			if (bad)
				ret = -EBADMSG;
			s->bytes_checked += len;
		} else {
			quiet = false;
		}
	}

	if (st != IBV_WC_SUCCESS) {
		if (quiet) {
			odp_log("RDMA %s of chunk %d failed (%d) with no change to the chunk",
				write ? "write" : "read", c, st);
			return -EIO;
		}
		if (recover(s))
			return -EIO;
	}
	if (quiet)
		s->ops_raced_ok++;
	else
		s->ops_raced++;
	return ret;
}

/* With the workers stopped: every chunk, over RDMA and as the CPU sees it, is the shadow. */
static int final_check(struct stress_ctx *s)
{
	int c, st, ret = 0;

	for (c = 0; c < cfg.chunks; c++) {
		memset(s->dst, 0x5a, s->chunk_len);
		st = post_wait(s, IBV_WR_RDMA_READ, s->dst, s->chunk_len, s->dst_mr->lkey,
			       chunk_mem(s, c));
		if (st != IBV_WC_SUCCESS) {
			odp_log("final RDMA read of chunk %d failed (%d)", c, st);
			return -EIO;
		}
		if (odp_cmp(s->dst, chunk_shadow(s, c), s->chunk_len, "final RDMA read") >= 0 ||
		    odp_cmp(chunk_mem(s, c), chunk_shadow(s, c), s->chunk_len, "final CPU view") >=
			    0) {
			odp_log("chunk %d is corrupt", c);
			ret = -EBADMSG;
		}
	}
	return ret;
}

static void log_progress(struct stress_ctx *s, double t)
{
	uint64_t w[W_NR] = { 0 };
	int i, k;

	for (i = 0; i < cfg.threads; i++)
		for (k = 0; k < W_NR; k++)
			w[k] += s->workers[i].ops[k];
	odp_log("t=%.0fs owned ops %" PRIu64 ", raced ops %" PRIu64 " unaffected + %" PRIu64
		" affected, QP recoveries %" PRIu64 ", %" PRIu64
		" MiB checked; workers: %s %" PRIu64 ", %s %" PRIu64 ", %s %" PRIu64,
		t, s->ops_owned, s->ops_raced_ok, s->ops_raced, s->recoveries,
		s->bytes_checked >> 20, w_names[0], w[0], w_names[1], w[1], w_names[2], w[2]);
}

FIXTURE(stress)
{
	struct odp_dev dev;
	struct stress_ctx s;
	int started;
};

FIXTURE_SETUP(stress)
{
	struct stress_ctx *s = &self->s;
	int c;

	ASSERT_EQ(0, odp_dev_open(&self->dev));
	s->dev = &self->dev;
	s->chunk_len = (size_t)cfg.chunk_pages * ODP_PAGE;
	s->len = s->chunk_len * (size_t)cfg.chunks;
	s->rng = cfg.seed | 1;
	atomic_init(&s->seeds, cfg.seed << 20);
	atomic_init(&s->stop, false);
	ASSERT_EQ(0, odp_rc_pair_create(&self->dev, &s->rc, NULL));
	s->mem = odp_map_fresh(s->len);
	s->shadow = odp_map_fresh(s->len);
	s->src = odp_map_fresh(s->chunk_len);
	s->dst = odp_map_fresh(s->chunk_len);
	s->chunks = calloc((size_t)cfg.chunks, sizeof(*s->chunks));
	ASSERT_TRUE(s->mem && s->shadow && s->src && s->dst && s->chunks);
	for (c = 0; c < cfg.chunks; c++) {
		pthread_mutex_init(&s->chunks[c].lock, NULL);
		atomic_init(&s->chunks[c].gen, 0);
	}
	s->mr = odp_reg(self->dev.pd, s->mem, s->len, ODP_ACCESS_ALL);
	ASSERT_NE(NULL, s->mr);
	s->src_mr = odp_reg_pinned(self->dev.pd, s->src, s->chunk_len, ODP_ACCESS_ALL);
	s->dst_mr = odp_reg_pinned(self->dev.pd, s->dst, s->chunk_len, ODP_ACCESS_ALL);
	ASSERT_TRUE(s->src_mr && s->dst_mr);
	for (c = 0; c < cfg.chunks; c++)
		refill(s, c);
}

static void stop_workers(FIXTURE_DATA(stress) * self)
{
	int i;

	atomic_store(&self->s.stop, true);
	for (i = 0; i < self->started; i++)
		pthread_join(self->s.workers[i].thread, NULL);
	self->started = 0;
}

FIXTURE_TEARDOWN(stress)
{
	struct stress_ctx *s = &self->s;

	stop_workers(self);
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->src_mr)
		ibv_dereg_mr(s->src_mr);
	if (s->dst_mr)
		ibv_dereg_mr(s->dst_mr);
	odp_unmap(s->mem, s->len);
	odp_unmap(s->shadow, s->len);
	odp_unmap(s->src, s->chunk_len);
	odp_unmap(s->dst, s->chunk_len);
	free(s->chunks);
	odp_rc_pair_destroy(&s->rc);
	odp_dev_close(&self->dev);
}

/* The harness's own timeout is set from --seconds in main(). */
TEST_F_TIMEOUT(stress, stream, 3600)
{
	struct stress_ctx *s = &self->s;
	uint64_t t0 = odp_now_ns(), end = t0 + (uint64_t)cfg.seconds * 1000000000ull;
	uint64_t next_log = t0 + 10000000000ull;
	struct odp_counters c0, c1;
	bool have_counters;
	int i, ret = 0;

	TH_LOG("%d s, %d workers (ops mask 0x%x), %d chunks of %d pages%s", cfg.seconds,
	       cfg.threads, cfg.worker_ops, cfg.chunks, cfg.chunk_pages,
	       odp_force_pinned() ? " (ODP_FORCE_PINNED)" : "");
	have_counters = odp_counters_read(&self->dev, &c0) == 0;
	for (i = 0; i < cfg.threads; i++) {
		s->workers[i].s = s;
		s->workers[i].rng = (cfg.seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)) | 1;
		ASSERT_EQ(0,
			  pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]));
		self->started++;
	}

	while (!ret && !atomic_load(&s->stop)) {
		uint64_t now = odp_now_ns();

		if (now >= end)
			break;
		if (now >= next_log) {
			log_progress(s, (double)(now - t0) / 1e9);
			next_log += 10000000000ull;
		}
		ret = rnd(&s->rng) % 10 < 7 ? owned_op(s) : raced_op(s);
	}
	stop_workers(self);
	log_progress(s, (double)(odp_now_ns() - t0) / 1e9);
	for (i = 0; i < cfg.threads; i++)
		EXPECT_EQ(0, s->workers[i].error);
	ASSERT_EQ(0, ret)
	{
		TH_LOG("stopped on an error: %s",
		       ret == -EBADMSG ? "data corruption" : "RDMA failure or hang");
	}
	EXPECT_EQ(0, final_check(s));
	EXPECT_LT(0u, s->ops_owned);
	EXPECT_LT(0u, s->bytes_checked);

	/* The workers' changes reached rxe as invalidations. */
	ASSERT_TRUE(have_counters);
	ASSERT_EQ(0, odp_counters_read(&self->dev, &c1));
	TH_LOG("counters: faults +%" PRIu64 ", pages faulted +%" PRIu64 ", invalidations +%" PRIu64
	       ", pages invalidated +%" PRIu64,
	       c1.faults - c0.faults, c1.pages_faulted - c0.pages_faulted,
	       c1.invalidations - c0.invalidations, c1.pages_invalidated - c0.pages_invalidated);
	EXPECT_LT(c0.invalidations, c1.invalidations);
	EXPECT_LT(c0.faults, c1.faults);
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"Usage: %s [--seconds N] [--threads N] [--chunks N] [--chunk-pages N] [--seed N]\n"
		"          [--worker-ops remap,dontneed,mprotect] [kselftest harness options, see "
		"-h]\n"
		"ODP stress: workers remap/madvise/mprotect chunks of an ODP MR while RDMA\n"
		"writes and reads stream through it; every byte checked.  Defaults: %d s,\n"
		"%d workers doing all three, %d chunks of %d pages.\n",
		argv0, cfg.seconds, cfg.threads, cfg.chunks, cfg.chunk_pages);
}

static int int_arg(const char *name, const char *v, int min, int max)
{
	char *end;
	long n = v ? strtol(v, &end, 0) : 0;

	if (!v || *end || n < min || n > max) {
		fprintf(stderr, "%s needs a number from %d to %d\n", name, min, max);
		exit(KSFT_FAIL);
	}
	return (int)n;
}

static unsigned int ops_arg(const char *v)
{
	char *copy = v ? strdup(v) : NULL, *tok, *save = NULL;
	unsigned int mask = 0;
	int k;

	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (k = 0; k < W_NR; k++)
			if (!strcmp(tok, w_names[k]))
				break;
		if (k == W_NR) {
			fprintf(stderr, "--worker-ops: unknown operation '%s'\n", tok);
			exit(KSFT_FAIL);
		}
		mask |= 1u << k;
	}
	free(copy);
	if (!mask) {
		fprintf(stderr, "--worker-ops needs remap, dontneed and/or mprotect\n");
		exit(KSFT_FAIL);
	}
	return mask;
}

int main(int argc, char **argv)
{
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int i, n = 0;

	if (!rest)
		return KSFT_FAIL;
	rest[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help")) {
			usage(argv[0]);
			return 0;
		} else if (!strcmp(a, "--seconds")) {
			cfg.seconds = int_arg(a, argv[++i], 1, 7 * 24 * 3600);
		} else if (!strcmp(a, "--threads")) {
			cfg.threads = int_arg(a, argv[++i], 0, MAX_THREADS);
		} else if (!strcmp(a, "--chunks")) {
			cfg.chunks = int_arg(a, argv[++i], 2, 1 << 16);
		} else if (!strcmp(a, "--chunk-pages")) {
			cfg.chunk_pages = int_arg(a, argv[++i], 3, 1024);
		} else if (!strcmp(a, "--worker-ops")) {
			cfg.worker_ops = ops_arg(argv[++i]);
		} else if (!strcmp(a, "--seed")) {
			cfg.seed = (uint64_t)int_arg(a, argv[++i], 1, 1 << 30);
		} else {
			rest[n++] = argv[i];
		}
	}
	/* Give the run its length plus time for setup and the final check. */
	_stress_stream_object->timeout = cfg.seconds + 600;
	return test_harness_run(n, rest);
}
