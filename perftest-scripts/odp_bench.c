// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_bench - micro-benchmarks of On-Demand Paging memory regions on one
 * rxe device, with both ends of an RC connection on that device (loopback).
 *
 * Sections (run in the order given; default: all):
 *   check     a correctness gate: unaligned multi-packet RDMA write and read
 *             between fresh ODP buffers, every byte and the guard bytes
 *             around them checked
 *   reg       registration (and deregistration) time against size, ODP vs
 *             pinned, over fresh anonymous memory
 *   cold      RDMA write and read bandwidth into memory nobody has touched
 *             (a fresh mapping per pass), into memory dropped with
 *             MADV_DONTNEED before each pass, and warm, ODP vs pinned
 *   interleaved  warm 64 KiB write, read and send, pinned and ODP (both
 *             ends) alternating block by block on one connection
 *   latency   warm small-message latency (write and send ping-pong, read)
 *             and 8-byte message rate (writes, sends), pinned and ODP
 *             alternating the same way
 *   fault     latency of an 8-byte RDMA write into one absent page, and of
 *             one large write over an absent range
 *   storm     write bandwidth while another thread MADV_DONTNEEDs random
 *             chunks of the target region (a shared memfd mapping, so the
 *             data survives and can be checked)
 *   prefetch  ibv_advise_mr(PREFETCH_WRITE, FLUSH) before a cold write
 *
 * Every pass that moves data fills its source with a pattern that depends
 * on the seed of that pass and on the byte's offset, and checks every byte
 * of the destination afterwards: a figure from a pass whose data is wrong
 * is reported with note "check_failed".
 *
 * Output: CSV rows (config,bench,case,size,metric,rep,value,unit,note) to
 * --csv FILE (appended) or stdout; one "PROGRESS ..." line per benchmark
 * and per-pass detail lines on stderr.
 *
 * Pinned registrations are bounded the way an ordinary user is bounded:
 * CAP_IPC_LOCK is dropped and RLIMIT_MEMLOCK is set to what this machine
 * can pin (3/4 of MemAvailable at start, or --pin-limit), so a pinned
 * registration larger than that is refused by the kernel (ENOMEM) and
 * reported as failed, instead of driving the guest into the OOM killer.
 * ODP registrations pin nothing and are not subject to that limit.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <infiniband/verbs.h>
#include <linux/capability.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "odp_common.h"

#define PAGE 4096ul
#define MIB (1ul << 20)
#define SQ_DEPTH ODP_QP_DEPTH
#define POLL_BATCH 16
#define MIX_ROUNDS_MAX 1000

#define ACCESS_RW \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

/* ---- options ---- */

struct opts {
	const char *dev;
	int gid_index;
	const char *config; /* first CSV column: what the module was set to */
	const char *csv;
	int reps;
	int cold_reps; /* 0: reps */
	size_t reg_sizes[32];
	int n_reg_sizes;
	size_t cold_size;
	size_t msg;
	int depth;
	int fault_samples;
	size_t fault_range;
	size_t storm_size;
	size_t storm_chunk;
	long storm_intervals_us[8];
	int n_storm_intervals;
	size_t prefetch_size;
	size_t pin_limit;
	int timeout_s;
	bool busy_poll;
	size_t mix_block;
	int mix_rounds;
	size_t lat_sizes[8];
	int n_lat_sizes;
	int lat_iters;
	int lat_rounds;
	int lat_case; /* -1: both, interleaved; 0 or 1: only that case; 2: A/A */
	int rate_msgs;
};

static struct opts o = {
	.dev = "rxe0",
	.gid_index = -1,
	.config = "default",
	.reps = 3,
	.cold_size = 64 * MIB,
	.msg = 64 * 1024,
	.depth = 64,
	.fault_samples = 32,
	.fault_range = 4 * MIB,
	.storm_size = 32 * MIB,
	.storm_chunk = 64 * 1024,
	.prefetch_size = 64 * MIB,
	.timeout_s = 120,
	.mix_block = 4 * MIB,
	.mix_rounds = 300,
	.lat_iters = 16,
	.lat_rounds = 300,
	.lat_case = -1,
	.rate_msgs = 256,
};

static FILE *csv;
static bool have_counters;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static const char *size_str(size_t v, char *buf, size_t n)
{
	if (v && !(v % (1ul << 30)))
		snprintf(buf, n, "%zuG", v >> 30);
	else if (v && !(v % MIB))
		snprintf(buf, n, "%zuM", v >> 20);
	else if (v && !(v % 1024))
		snprintf(buf, n, "%zuK", v >> 10);
	else
		snprintf(buf, n, "%zu", v);
	return buf;
}

/* One CSV row; value NAN leaves the value empty (see note). */
static void row(const char *bench, const char *cse, size_t size, const char *metric, int rep,
		double value, const char *unit, const char *note)
{
	fprintf(csv, "%s,%s,%s,%zu,%s,%d,", o.config, bench, cse, size, metric, rep);
	if (!isnan(value))
		fprintf(csv, "%.6g", value);
	fprintf(csv, ",%s,%s\n", unit, note ? note : "");
	fflush(csv);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= MIB; end++; break;
	case 'g': case 'G': v *= 1ul << 30; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* ---- position-dependent data ---- */

/* splitmix64's finaliser over (seed, index of the 8-byte word). */
static inline uint64_t pat_word(uint64_t seed, uint64_t word)
{
	uint64_t z = seed + (word + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint8_t pat_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(pat_word(seed, off >> 3) >> ((off & 7) * 8));
}

/* buf[i] = pattern byte at offset base + i. */
static void fill(void *buf, size_t len, uint64_t seed, uint64_t base)
{
	uint8_t *b = buf;
	size_t i = 0;

	if (!(((uintptr_t)buf | base) & 7)) {
		uint64_t *w = buf;

		for (; i + 8 <= len; i += 8)
			w[i / 8] = pat_word(seed, (base + i) >> 3); /* little endian */
	}
	for (; i < len; i++)
		b[i] = pat_byte(seed, base + i);
}

/* Number of bytes that differ from the pattern; the first is logged. */
static size_t check(const void *buf, size_t len, uint64_t seed, uint64_t base, const char *what)
{
	const uint8_t *b = buf;
	size_t i = 0, bad = 0, first = SIZE_MAX;

	if (!(((uintptr_t)buf | base) & 7)) {
		const uint64_t *w = buf;

		for (; i + 8 <= len; i += 8) {
			if (w[i / 8] == pat_word(seed, (base + i) >> 3))
				continue;
			for (size_t j = i; j < i + 8; j++) {
				if (b[j] != pat_byte(seed, base + j)) {
					if (first == SIZE_MAX)
						first = j;
					bad++;
				}
			}
		}
	}
	for (; i < len; i++) {
		if (b[i] != pat_byte(seed, base + i)) {
			if (first == SIZE_MAX)
				first = i;
			bad++;
		}
	}
	if (bad)
		logf_("  %s: DATA CHECK FAILED: %zu of %zu bytes wrong, first at offset %zu "
		      "(got 0x%02x, want 0x%02x)",
		      what, bad, len, first, b[first], pat_byte(seed, base + first));
	return bad;
}

static uint64_t seed_counter = 0x5eed;
static uint64_t next_seed(void)
{
	return ++seed_counter * 0x2545f4914f6cdd1dull;
}

/* ---- the device, loopback RC pair (tests/odp/odp_common.c) ---- */

static struct odp_dev dev;
static struct odp_rc_pair qp; /* a posts, b is the remote end */

/* After an error completion the QPs are in the error state: start over. */
static int pair_reset(void)
{
	odp_rc_pair_destroy(&qp);
	return odp_rc_pair_create(&dev, &qp, NULL);
}

/*
 * Takes the receive completions of a SEND stream off b's CQ and posts
 * receives for the messages after them (one per message, at the message's
 * offset from raddr with key rkey), keeping up to SQ_DEPTH posted.
 * 0, or -1 after an error (logged).
 */
static int stream_recvs(uint64_t raddr, uint32_t rkey, size_t total, size_t msg,
			size_t *recv_posted, size_t *recv_done)
{
	struct ibv_wc wc[POLL_BATCH];
	int n = ibv_poll_cq(qp.cq_b, POLL_BATCH, wc);

	if (n < 0) {
		logf_("  ibv_poll_cq (receive side) failed");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			logf_("  receive completion error: %s (message at offset %" PRIu64 ")",
			      ibv_wc_status_str(wc[i].status), wc[i].wr_id);
			return -1;
		}
		*recv_done += msg;
	}
	while (*recv_posted < total && *recv_posted - *recv_done < SQ_DEPTH * msg) {
		size_t len = total - *recv_posted < msg ? total - *recv_posted : msg;

		if (odp_post_recv(qp.b, (void *)(uintptr_t)(raddr + *recv_posted), (uint32_t)len,
				  rkey, *recv_posted))
			return -1;
		*recv_posted += len;
	}
	return 0;
}

/*
 * Streams total bytes as op (RDMA write or read, or SEND) in messages of
 * msg bytes, up to o.depth outstanding, from/to laddr (lkey) to/from raddr
 * (rkey; for SEND the local key of the receive buffer, whose receives are
 * posted as the stream goes, each before its message is sent, so that no
 * message meets an empty receive queue).  Returns 0 with the time from the
 * first post to the last completion in *ns, or -1 after an error (logged;
 * the pair is reset).  Unless stamps is NULL, stamps[k] is set to the time
 * from the first post to the poll that returned the k-th completion (one
 * per message: stamps has room for total / msg rounded up).
 */
static int stream_stamped(enum ibv_wr_opcode op, void *laddr, uint32_t lkey, uint64_t raddr,
			  uint32_t rkey, size_t total, size_t msg, uint64_t *ns, uint64_t *stamps)
{
	size_t ncomp = 0;
	const bool send = op == IBV_WR_SEND;
	size_t posted = 0, done = 0, recv_posted = 0, recv_done = 0;
	int inflight = 0, depth = o.depth < SQ_DEPTH ? o.depth : SQ_DEPTH;
	uint64_t t0 = now_ns(), last = t0;
	struct ibv_wc wc[POLL_BATCH];

	while (done < total || (send && recv_done < total)) {
		if (send && stream_recvs(raddr, rkey, total, msg, &recv_posted, &recv_done)) {
			pair_reset();
			return -1;
		}
		while (inflight < depth && posted < total && (!send || posted < recv_posted)) {
			size_t len = total - posted < msg ? total - posted : msg;
			struct ibv_sge sge = {
				.addr = (uintptr_t)laddr + posted,
				.length = (uint32_t)len,
				.lkey = lkey,
			};
			struct ibv_send_wr wr = {
				.wr_id = posted,
				.sg_list = &sge,
				.num_sge = 1,
				.opcode = op,
				.send_flags = IBV_SEND_SIGNALED,
			}, *bad;

			if (!send) {
				wr.wr.rdma.remote_addr = raddr + posted;
				wr.wr.rdma.rkey = rkey;
			}
			if (ibv_post_send(qp.a, &wr, &bad)) {
				logf_("  ibv_post_send: %s", strerror(errno));
				pair_reset();
				return -1;
			}
			posted += len;
			inflight++;
		}
		int n = ibv_poll_cq(qp.cq_a, POLL_BATCH, wc);

		if (n < 0) {
			logf_("  ibv_poll_cq failed");
			pair_reset();
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				logf_("  completion error: %s (wr at offset %" PRIu64 ")",
				      ibv_wc_status_str(wc[i].status), wc[i].wr_id);
				pair_reset();
				return -1;
			}
			done += total - wc[i].wr_id < msg ? total - wc[i].wr_id : msg;
			inflight--;
		}
		uint64_t t = now_ns();

		for (int i = 0; stamps && i < n; i++)
			stamps[ncomp++] = t - t0;

		if (n) {
			last = t;
		} else if (t - last > (uint64_t)o.timeout_s * 1000000000ull) {
			logf_("  no completion for %d s (%zu of %zu bytes done)", o.timeout_s, done,
			      total);
			pair_reset();
			return -1;
		} else if (!o.busy_poll) {
			/* leave the (v)CPU to rxe's workers while nothing completes */
			sched_yield();
		}
	}
	*ns = now_ns() - t0;
	return 0;
}

/* stream() without completion times */
static int stream(enum ibv_wr_opcode op, void *laddr, uint32_t lkey, uint64_t raddr,
		  uint32_t rkey, size_t total, size_t msg, uint64_t *ns)
{
	return stream_stamped(op, laddr, lkey, raddr, rkey, total, msg, ns, NULL);
}

/* ---- memory, registration, counters ---- */

static void *map_fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		logf_("  mmap(%zu): %s", len, strerror(errno));
		return NULL;
	}
	return p;
}

static struct ibv_mr *reg(void *addr, size_t len, bool odp)
{
	struct ibv_mr *mr = ibv_reg_mr(dev.pd, addr, len,
				       ACCESS_RW | (odp ? IBV_ACCESS_ON_DEMAND : 0));

	if (!mr)
		logf_("  %s ibv_reg_mr(%zu bytes): %s", odp ? "ODP" : "pinned", len,
		      strerror(errno));
	return mr;
}

struct counters {
	uint64_t faults, pages_faulted, invalidations, pages_invalidated, pages_prefetched;
};

/* odp_pages_prefetched also counts fault-ahead's pages; kernels without it read 0 */
static const char *const counter_names[] = { "odp_faults", "odp_pages_faulted",
					     "odp_invalidations", "odp_pages_invalidated",
					     "odp_pages_prefetched" };

static int read_counter(const char *name, uint64_t *v)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/hw_counters/%s", o.dev,
		 name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fscanf(f, "%" SCNu64, v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

/* Reads the ODP counters (after the core's hw_counters cache expires). */
static void counters(struct counters *c)
{
	uint64_t *v[] = { &c->faults, &c->pages_faulted, &c->invalidations,
			  &c->pages_invalidated, &c->pages_prefetched };

	memset(c, 0, sizeof(*c));
	if (!have_counters)
		return;
	sleep_ms(25);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		read_counter(counter_names[i], v[i]);
}

static void counter_rows(const char *bench, const char *cse, size_t size, int rep,
			 const struct counters *a, const struct counters *b)
{
	if (!have_counters)
		return;
	row(bench, cse, size, "faults", rep, (double)(b->faults - a->faults), "count", NULL);
	row(bench, cse, size, "pages_faulted", rep, (double)(b->pages_faulted - a->pages_faulted),
	    "count", NULL);
	row(bench, cse, size, "invalidations", rep,
	    (double)(b->invalidations - a->invalidations), "count", NULL);
	row(bench, cse, size, "pages_prefetched", rep,
	    (double)(b->pages_prefetched - a->pages_prefetched), "count", NULL);
}

static double mib_s(size_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / MIB / ((double)ns / 1e9) : NAN;
}

/* ---- limits of an ordinary user ---- */

static long meminfo_kb(const char *key)
{
	char line[256];
	long kb = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			kb = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return kb;
}

static int limit_pinning(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[2];
	struct rlimit rl;

	if (!o.pin_limit)
		o.pin_limit = (size_t)meminfo_kb("MemAvailable") * 1024 / 4 * 3 & ~(MIB - 1);
	rl.rlim_cur = rl.rlim_max = o.pin_limit;
	if (syscall(SYS_capget, &h, c) == 0) {
		c[0].effective &= ~(1u << CAP_IPC_LOCK);
		c[0].permitted &= ~(1u << CAP_IPC_LOCK);
		c[0].inheritable &= ~(1u << CAP_IPC_LOCK);
		if (syscall(SYS_capset, &h, c)) {
			logf_("odp_bench: capset: %s", strerror(errno));
			return -1;
		}
	}
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		logf_("odp_bench: setrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return -1;
	}
	row("meta", "guest", 0, "mem_total", 0, (double)meminfo_kb("MemTotal") / 1024, "MiB",
	    NULL);
	row("meta", "guest", 0, "pin_limit", 0, (double)o.pin_limit / MIB, "MiB",
	    "RLIMIT_MEMLOCK: 3/4 of MemAvailable");
	return 0;
}

/* ---- check: an unaligned multi-packet write and read, ODP at both ends ---- */

static int bench_check(void)
{
	const size_t len = 3 * PAGE + 123, soff = PAGE - 37, doff = 2 * PAGE - 1001;
	const size_t buf = 6 * PAGE;
	const enum ibv_wr_opcode ops[2] = { IBV_WR_RDMA_WRITE, IBV_WR_RDMA_READ };
	const char *names[2] = { "write", "read" };
	int failed = 0;

	for (int k = 0; k < 2; k++) {
		uint8_t *src = map_fresh(buf), *dst = map_fresh(buf);
		struct ibv_mr *ms = NULL, *md = NULL;
		uint64_t seed = next_seed(), ns;
		size_t bad = 0;

		if (!src || !dst)
			return -1;
		/* The message's bytes of src hold the pattern; dst is absent (reads as 0). */
		fill(src + soff, len, seed, soff);
		ms = reg(src, buf, true);
		md = reg(dst, buf, true);
		if (!ms || !md) {
			bad = 1;
		} else if (ops[k] == IBV_WR_RDMA_WRITE) {
			if (stream(ops[k], src + soff, ms->lkey, (uintptr_t)dst + doff, md->rkey,
				   len, len, &ns))
				bad = 1;
		} else {
			/* read: the local buffer is dst, the remote one src */
			if (stream(ops[k], dst + doff, md->lkey, (uintptr_t)src + soff, ms->rkey,
				   len, len, &ns))
				bad = 1;
		}
		if (!bad) {
			bad = check(dst + doff, len, seed, soff, names[k]);
			for (size_t i = 0; i < buf; i++) {
				if ((i < doff || i >= doff + len) && dst[i] != 0) {
					logf_("  %s: DATA CHECK FAILED: byte %zu outside the message "
					      "changed to 0x%02x",
					      names[k], i, dst[i]);
					bad++;
					break;
				}
			}
		}
		row("check", "odp_both_ends", len, names[k], 1, bad ? 0 : 1, "pass",
		    bad ? "check_failed" : NULL);
		logf_("PROGRESS odp_bench check %s: unaligned %zu-byte message, ODP both ends: %s",
		      names[k], len, bad ? "FAILED" : "data correct");
		failed |= !!bad;
		if (ms)
			ibv_dereg_mr(ms);
		if (md)
			ibv_dereg_mr(md);
		munmap(src, buf);
		munmap(dst, buf);
	}
	return failed;
}

/* ---- reg: registration time vs size ---- */

static void bench_reg(void)
{
	char sz[32];

	for (int s = 0; s < o.n_reg_sizes; s++) {
		size_t len = o.reg_sizes[s];
		double t_odp[64], t_pin[64];
		int n_odp = 0, n_pin = 0;
		const char *pin_fail = NULL;
		char why[160] = "", pin_why[160] = "";

		for (int rep = 1; rep <= o.reps; rep++) {
			for (int odp = 1; odp >= 0; odp--) {
				const char *cse = odp ? "odp" : "pinned";
				void *p = map_fresh(len);
				struct ibv_mr *mr;
				uint64_t t0, t1, t2;

				if (!p) {
					row("reg", cse, len, "reg_ms", rep, NAN, "ms", "mmap_failed");
					continue;
				}
				if (!odp && pin_fail) {
					/* refused once: the same size is refused again */
					row("reg", cse, len, "reg_ms", rep, NAN, "ms", pin_fail);
					munmap(p, len);
					continue;
				}
				t0 = now_ns();
				mr = ibv_reg_mr(dev.pd, p, len,
						ACCESS_RW | (odp ? IBV_ACCESS_ON_DEMAND : 0));
				t1 = now_ns();
				if (!mr) {
					int e = errno;

					snprintf(why, sizeof(why), "failed_%s", strerrorname_np(e) ?
						 strerrorname_np(e) : "error");
					logf_("  reg %s %s: %s%s", cse, size_str(len, sz, sizeof(sz)),
					      strerror(e),
					      !odp && e == ENOMEM && len > o.pin_limit ?
						      " (larger than what this guest can pin)" : "");
					row("reg", cse, len, "reg_ms", rep, NAN, "ms", why);
					if (!odp) {
						snprintf(pin_why, sizeof(pin_why), "%s", why);
						pin_fail = pin_why;
					}
					munmap(p, len);
					continue;
				}
				ibv_dereg_mr(mr);
				t2 = now_ns();
				row("reg", cse, len, "reg_ms", rep, (t1 - t0) / 1e6, "ms", NULL);
				row("reg", cse, len, "dereg_ms", rep, (t2 - t1) / 1e6, "ms", NULL);
				if (odp)
					t_odp[n_odp++] = (t1 - t0) / 1e6;
				else
					t_pin[n_pin++] = (t1 - t0) / 1e6;
				munmap(p, len);
			}
		}
		char pin[96];

		if (n_pin)
			snprintf(pin, sizeof(pin), "%.3f ms", odp_median(t_pin, n_pin));
		else
			snprintf(pin, sizeof(pin), "%s", pin_fail ? pin_fail : "n/a");
		logf_("PROGRESS odp_bench reg %s: ODP %.3f ms, pinned %s (median of %d)",
		      size_str(len, sz, sizeof(sz)), odp_median(t_odp, n_odp), pin, o.reps);
	}
}

/* ---- cold: first-touch bandwidth ---- */

/*
 * One timed stream of len bytes, op an RDMA write or a SEND (local ->
 * remote) or an RDMA read (remote -> local): the source gets a fresh
 * pattern, the destination is checked, and unless c0 is NULL the device
 * counters are read around the transfer into c0 and c1.
 * Returns NULL, or why the pass has no figure: "transfer_error" or
 * "check_failed".
 */
static const char *checked_stream(enum ibv_wr_opcode op, uint8_t *local, struct ibv_mr *lmr,
				  uint8_t *remote, struct ibv_mr *rmr, size_t len,
				  const char *bench, struct counters *c0, struct counters *c1,
				  uint64_t *ns)
{
	bool into_local = op == IBV_WR_RDMA_READ;
	uint8_t *src = into_local ? remote : local, *dst = into_local ? local : remote;
	uint64_t seed = next_seed();
	int ret;

	fill(src, len, seed, 0);
	if (c0)
		counters(c0);
	ret = stream(op, local, lmr->lkey, (uintptr_t)remote,
		     op == IBV_WR_SEND ? rmr->lkey : rmr->rkey, len, o.msg, ns);
	if (c0)
		counters(c1);
	if (ret)
		return "transfer_error";
	return check(dst, len, seed, 0, bench) ? "check_failed" : NULL;
}

/* RDMA write or read */
static enum ibv_wr_opcode rdma_op(bool write)
{
	return write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
}

enum { COLD_PINNED, COLD_ODP_FRESH, COLD_ODP_DONTNEED, COLD_ODP_WARM, COLD_CASES };
static const char *const cold_case[COLD_CASES] = { "pinned", "odp_cold", "odp_dontneed",
						   "odp_warm" };

/*
 * One pass of dir (write: local src -> remote target; read: remote src ->
 * local target) into target, which is registered as tmr.  Returns the
 * bandwidth (NAN on error or wrong data) and records the pass.
 */
static double cold_pass(const char *dir, int cse, int rep, uint8_t *src, struct ibv_mr *smr,
			uint8_t *target, struct ibv_mr *tmr, size_t len, double reg_ms)
{
	bool write = !strcmp(dir, "write");
	struct counters c0, c1;
	const char *note;
	uint64_t ns = 0;
	char bench[32];

	snprintf(bench, sizeof(bench), "cold_%s", dir);
	/* the posting side holds src for a write, target for a read */
	if (write)
		note = checked_stream(IBV_WR_RDMA_WRITE, src, smr, target, tmr, len, bench, &c0, &c1,
				      &ns);
	else
		note = checked_stream(IBV_WR_RDMA_READ, target, tmr, src, smr, len, bench, &c0, &c1,
				      &ns);
	double bw = note ? NAN : mib_s(len, ns);

	if (rep == 0) /* a warm-up pass: not a measurement */
		return bw;
	row(bench, cold_case[cse], len, "bw", rep, bw, "MiB/s", note);
	/* how fast the wrong data went: shown, never compared */
	if (note && !strcmp(note, "check_failed"))
		row(bench, cold_case[cse], len, "bw_wrong_data", rep, mib_s(len, ns), "MiB/s",
		    note);
	row(bench, cold_case[cse], len, "check", rep, note ? 0 : 1, "pass", note);
	if (!isnan(reg_ms) && !note)
		row(bench, cold_case[cse], len, "reg_plus_transfer_ms", rep, reg_ms + ns / 1e6,
		    "ms", NULL);
	if (cse != COLD_PINNED)
		counter_rows(bench, cold_case[cse], len, rep, &c0, &c1);
	logf_("  %s %s rep %d: %.1f MiB/s%s%s (faults %" PRIu64 ", pages %" PRIu64 ")", bench,
	      cold_case[cse], rep, bw, note ? " " : "", note ? note : "", c1.faults - c0.faults,
	      c1.pages_faulted - c0.pages_faulted);
	return bw;
}

/*
 * The case of a repetition's i-th pass.  The ODP passes keep their order
 * (the MADV_DONTNEED pass needs the target used before, the warm pass the
 * target mirrored); the pinned pass runs before them in odd repetitions and
 * after them in even ones, so that a drift of the host's speed within a
 * repetition does not always favour the same side.
 */
static int cold_order(int rep, int i)
{
	if (rep % 2)
		return i;
	return i == COLD_CASES - 1 ? COLD_PINNED : i + 1;
}

/* Repetitions of the bandwidth sections, cold and warm. */
static int stream_reps(void)
{
	return o.cold_reps ? o.cold_reps : o.reps;
}

static void bench_cold(void)
{
	const int reps = stream_reps();
	const size_t len = o.cold_size;
	const char *dirs[2] = { "write", "read" };
	char sz[32];

	for (int d = 0; d < 2; d++) {
		uint8_t *src = map_fresh(len), *keep = map_fresh(len);
		struct ibv_mr *smr = src ? reg(src, len, false) : NULL;
		struct ibv_mr *kmr = keep ? reg(keep, len, true) : NULL;
		double bw[COLD_CASES][64];
		int n[COLD_CASES] = { 0 };

		if (!smr) {
			logf_("PROGRESS odp_bench cold %s: setup failed", dirs[d]);
			goto next;
		}
		/* The MADV_DONTNEED target has been used once before it is dropped. */
		if (kmr)
			cold_pass(dirs[d], COLD_ODP_WARM, 0, src, smr, keep, kmr, len, NAN);
		for (int rep = 1; rep <= reps; rep++) {
			for (int i = 0; i < COLD_CASES; i++) {
				int cse = cold_order(rep, i);
				uint8_t *t = keep;
				struct ibv_mr *tmr = kmr;
				double reg_ms = NAN, v;
				uint64_t t0;

				if (cse == COLD_PINNED || cse == COLD_ODP_FRESH) {
					t = map_fresh(len);
					if (!t)
						continue;
					t0 = now_ns();
					tmr = reg(t, len, cse == COLD_ODP_FRESH);
					reg_ms = (now_ns() - t0) / 1e6;
					if (!tmr) {
						row("cold", cold_case[cse], len, "bw", rep, NAN,
						    "MiB/s", "reg_failed");
						munmap(t, len);
						continue;
					}
				} else if (!kmr) {
					/* no ODP MR (a module without ODP): pinned figures only */
					row("cold", cold_case[cse], len, "bw", rep, NAN, "MiB/s",
					    "reg_failed");
					continue;
				} else if (cse == COLD_ODP_DONTNEED) {
					madvise(keep, len, MADV_DONTNEED);
				}
				/* COLD_ODP_WARM: keep, right after the DONTNEED pass */
				v = cold_pass(dirs[d], cse, rep, src, smr, t, tmr, len, reg_ms);
				if (!isnan(v))
					bw[cse][n[cse]++] = v;
				if (t != keep) {
					ibv_dereg_mr(tmr);
					munmap(t, len);
				}
			}
		}
		logf_("PROGRESS odp_bench cold %s %s: pinned %.1f, ODP cold %.1f, ODP after "
		      "MADV_DONTNEED %.1f, ODP warm %.1f MiB/s (medians of %d)",
		      dirs[d], size_str(len, sz, sizeof(sz)), odp_median(bw[0], n[0]),
		      odp_median(bw[1], n[1]), odp_median(bw[2], n[2]), odp_median(bw[3], n[3]), reps);
next:
		if (kmr)
			ibv_dereg_mr(kmr);
		if (smr)
			ibv_dereg_mr(smr);
		if (src)
			munmap(src, len);
		if (keep)
			munmap(keep, len);
	}
}

/* ---- warm: which end costs ---- */

/*
 * Warm streams by side: which end of a transfer costs when it is an ODP MR.
 * "local" is the buffer of the posting QP (the source the requester reads
 * for a write, the target the completer fills for a read), "remote" the
 * other end (written or read by the responder).  Every buffer is mirrored
 * before the first measured pass, so no case should fault.
 */
enum { WARM_PINNED, WARM_ODP_REMOTE, WARM_ODP_LOCAL, WARM_ODP_BOTH, WARM_CASES };
static const char *const warm_case[WARM_CASES] = { "pinned", "odp_remote", "odp_local",
						   "odp_both" };

static double warm_pass(bool write, int cse, int rep, uint8_t *local, struct ibv_mr *lmr,
			uint8_t *remote, struct ibv_mr *rmr, size_t len)
{
	const char *bench = write ? "warm_write" : "warm_read";
	struct counters c0, c1;
	uint64_t ns = 0;
	const char *note = checked_stream(rdma_op(write), local, lmr, remote, rmr, len, bench, &c0,
					  &c1, &ns);
	double bw = note ? NAN : mib_s(len, ns);

	if (rep == 0) /* mirrors the buffers: not a measurement */
		return NAN;
	row(bench, warm_case[cse], len, "bw", rep, bw, "MiB/s", note);
	if (cse != WARM_PINNED)
		counter_rows(bench, warm_case[cse], len, rep, &c0, &c1);
	return bw;
}

/*
 * The buffers of the warm sections, len bytes each, registered: local
 * pinned, local ODP, remote pinned, remote ODP (index 2 * remote + odp).
 * 0, or -1 with what was made left for warm_buffers_free().
 */
static int warm_buffers(uint8_t *buf[4], struct ibv_mr *mr[4], size_t len)
{
	for (int i = 0; i < 4; i++) {
		buf[i] = map_fresh(len);
		mr[i] = buf[i] ? reg(buf[i], len, i % 2) : NULL;
		if (!mr[i])
			return -1;
	}
	return 0;
}

static void warm_buffers_free(uint8_t *buf[4], struct ibv_mr *mr[4], size_t len)
{
	for (int i = 0; i < 4; i++) {
		if (mr[i])
			ibv_dereg_mr(mr[i]);
		if (buf[i])
			munmap(buf[i], len);
	}
}

static void bench_warm(void)
{
	const int reps = stream_reps();
	const size_t len = o.cold_size;
	uint8_t *buf[4] = { NULL };
	struct ibv_mr *mr[4] = { NULL };
	char sz[32];

	if (warm_buffers(buf, mr, len)) {
		logf_("PROGRESS odp_bench warm: setup failed");
		goto out;
	}
	for (int d = 0; d < 2; d++) {
		double bw[WARM_CASES][64], ratio[WARM_CASES][64];
		int n[WARM_CASES] = { 0 }, nr[WARM_CASES] = { 0 };

		for (int rep = 0; rep <= reps; rep++) {
			double v[WARM_CASES];

			/* the order turns by one case per repetition */
			for (int i = 0; i < WARM_CASES; i++) {
				int cse = (i + rep) % WARM_CASES;
				int l = cse == WARM_ODP_LOCAL || cse == WARM_ODP_BOTH;
				int r = 2 + (cse == WARM_ODP_REMOTE || cse == WARM_ODP_BOTH);

				v[cse] = warm_pass(!d, cse, rep, buf[l], mr[l], buf[r], mr[r], len);
				if (!isnan(v[cse]))
					bw[cse][n[cse]++] = v[cse];
			}
			for (int cse = 1; cse < WARM_CASES; cse++)
				if (!isnan(v[cse]) && !isnan(v[WARM_PINNED]))
					ratio[cse][nr[cse]++] = v[cse] / v[WARM_PINNED];
		}
		logf_("PROGRESS odp_bench warm %s %s: pinned %.1f MiB/s; per-repetition ratio to "
		      "pinned, median of %d: ODP remote %.2f, ODP local %.2f, ODP both %.2f",
		      d ? "read" : "write", size_str(len, sz, sizeof(sz)), odp_median(bw[0], n[0]), reps,
		      odp_median(ratio[1], nr[1]), odp_median(ratio[2], nr[2]), odp_median(ratio[3], nr[3]));
	}
out:
	warm_buffers_free(buf, mr, len);
}

/* ---- interleaved: warm ODP against pinned, block by block ---- */

/*
 * Back-to-back runs of a few seconds spread by about +-20% here, too much
 * for the few per cent between warm ODP and pinned, and shorter samples
 * spread as much (the TCG host's noise is there at every time scale).  So
 * the figure rests on many short samples: both cases run on one connection
 * in alternating blocks of --interleave-block bytes, pinned, ODP, ODP,
 * pinned (ODP first in even rounds); a round's ratio is its pinned blocks'
 * time over its ODP blocks' time (a drift that is linear over the round
 * cancels), and the median over --interleave-rounds rounds is the figure.
 * The ODP case has both ends ODP, as perftest --odp has.  A first round,
 * not counted, mirrors the ODP buffers; every block gets a fresh pattern,
 * checked after it.
 */
#define MIX_CASES 2 /* 0 pinned, 1 ODP */

static void bench_interleaved(void)
{
	static const struct {
		enum ibv_wr_opcode op;
		const char *bench, *name;
	} ops[] = {
		{ IBV_WR_RDMA_WRITE, "interleaved_write", "write" },
		{ IBV_WR_RDMA_READ, "interleaved_read", "read" },
		{ IBV_WR_SEND, "interleaved_send", "send" },
	};
	static const char *const cname[MIX_CASES] = { "pinned", "odp" };
	const size_t len = o.mix_block;
	uint8_t *buf[4] = { NULL };
	struct ibv_mr *mr[4] = { NULL };
	char sz[32], blk[32];

	if (warm_buffers(buf, mr, len)) {
		logf_("PROGRESS odp_bench interleaved: setup failed");
		goto out;
	}
	row("meta", "guest", 0, "interleave_block", 0, (double)len, "B", NULL);
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		double ratio[MIX_ROUNDS_MAX], bw[MIX_CASES][MIX_ROUNDS_MAX];
		int nr = 0, nbw[MIX_CASES] = { 0 }, wrong = 0;
		uint64_t t_start = now_ns();

		for (int round = 0; round <= o.mix_rounds; round++) {
			uint64_t t[MIX_CASES] = { 0 };
			const char *note[MIX_CASES] = { NULL };
			struct counters c0, c1;

			counters(&c0);
			for (int i = 0; i < 4; i++) {
				/* pinned, ODP, ODP, pinned; ODP first in even rounds */
				int cse = (i == 1 || i == 2) ^ !(round % 2);
				uint64_t ns = 0;
				/* case cse: local buf[cse], remote buf[2 + cse] */
				const char *why = checked_stream(ops[k].op, buf[cse], mr[cse],
								 buf[2 + cse], mr[2 + cse], len,
								 ops[k].bench, NULL, NULL, &ns);

				t[cse] += ns;
				if (why && !note[cse])
					note[cse] = why;
			}
			counters(&c1);
			if (round == 0) /* mirrors the ODP buffers: not a measurement */
				continue;
			for (int c = 0; c < MIX_CASES; c++) {
				double v = note[c] ? NAN : mib_s(2 * len, t[c]);

				row(ops[k].bench, cname[c], o.msg, "bw", round, v, "MiB/s", note[c]);
				if (note[c] && !strcmp(note[c], "check_failed"))
					row(ops[k].bench, cname[c], o.msg, "bw_wrong_data", round,
					    mib_s(2 * len, t[c]), "MiB/s", note[c]);
				if (!isnan(v))
					bw[c][nbw[c]++] = v;
				wrong += note[c] != NULL;
			}
			counter_rows(ops[k].bench, "odp", o.msg, round, &c0, &c1);
			if (!note[0] && !note[1])
				ratio[nr++] = (double)t[0] / (double)t[1];
		}
		logf_("PROGRESS odp_bench interleaved %s %s messages in %s blocks (%d rounds, %.0f s): "
		      "ODP/pinned median of %d round ratios %.3f; pinned %.1f, ODP %.1f MiB/s%s",
		      ops[k].name, size_str(o.msg, sz, sizeof(sz)), size_str(len, blk, sizeof(blk)),
		      o.mix_rounds, (now_ns() - t_start) / 1e9, nr, odp_median(ratio, nr),
		      odp_median(bw[0], nbw[0]), odp_median(bw[1], nbw[1]),
		      wrong ? "; SOME BLOCKS FAILED: transfer errors or wrong data (see the CSV notes)"
			    : "");
	}
out:
	warm_buffers_free(buf, mr, len);
}

/* ---- latency and message rate: warm ODP against pinned, interleaved ---- */

/*
 * The interleaved method of bench_interleaved() for small messages: per
 * operation and size, blocks of --lat-iters ping-pongs (or, for the message
 * rate, of --rate-msgs 8-byte messages), pinned (both ends) and ODP (both
 * ends) alternating pinned, ODP, ODP, pinned in each round, ODP first in
 * even rounds; --lat-rounds rounds, the first not counted (it mirrors the
 * ODP regions).  A round's figure per case is, for latency, the median
 * of the iteration times of its two blocks (perftest's t_typical: a block
 * mean is at the mercy of one descheduled vCPU, and here single iterations
 * take from ~35 us to ~10 ms under TCG on a loaded host), with the mean
 * beside it ("lat_avg"); for the message rate, RATE_SEG messages over the
 * median time RATE_SEG completions took in its two blocks, the messages
 * over the blocks' time beside it ("msg_rate_avg").  A round's ratio is
 * ODP over pinned (the report takes it from the per-round figures).
 *
 * Each side of the connection (a, b) has one region per case, registered
 * once: the source of what it sends at offset 0, the destination of what
 * it receives at LAT_DST.  Nothing is sent inline, so that the requester
 * reads its source through the MR as a larger message would.
 *  write  ping-pong as ib_write_lat: a writes into b's destination, the CPU
 *         polls its last byte, then b writes back into a's and the CPU
 *         polls that; one-way latency = block time / (2 * iterations);
 *  read   as ib_read_lat: a reads b's source into its destination, one
 *         signalled read at a time; latency = block time / iterations;
 *  send   ping-pong as ib_send_lat: a sends, b's receive completion is
 *         polled, b sends back; one-way latency as for write.
 * Every message of a block carries the pattern of the block's seed with its
 * last byte replaced by the iteration number (the byte polled or checked
 * after each message); both destinations are checked whole after the block.
 * The CPU busy-polls (memory and CQs), as perftest's latency tests do.
 */
#define LAT_REGION (4 * PAGE)
#define LAT_DST (2 * PAGE)
#define LAT_MAX_MSG (2 * PAGE)
#define LAT_ITERS_MAX (ODP_QP_DEPTH / 2) /* unsignalled WRs never fill the SQ */
#define RATE_MSGS_MAX 1024 /* 8-byte messages of a block: in LAT_DST's 8 KiB */
#define RATE_SEG 32 /* completions per time sample of the message rate */
#define LAT_SAMPLES (2 * LAT_ITERS_MAX) /* per case and round */
_Static_assert(2 * RATE_MSGS_MAX / RATE_SEG <= LAT_SAMPLES, "message-rate samples");

enum lat_op { LAT_WRITE, LAT_READ, LAT_SEND, LAT_OPS };
static const char *const lat_name[LAT_OPS] = { "write", "read", "send" };

struct lat_side {
	uint8_t *buf;
	struct ibv_mr *mr;
};

/* a time in ns after which a busy poll gives up */
static uint64_t lat_deadline(void)
{
	return now_ns() + (uint64_t)o.timeout_s * 1000000000ull;
}

/* Busy-polls until *p == v; 0, or -1 after the timeout (logged). */
static int lat_wait_byte(const volatile uint8_t *p, uint8_t v, uint64_t deadline)
{
	for (unsigned int spin = 1; *p != v; spin++) {
		if (!(spin & 1023) && now_ns() > deadline) {
			logf_("  latency: byte %u not written within %d s", v, o.timeout_s);
			return -1;
		}
		__builtin_ia32_pause();
	}
	return 0;
}

/*
 * Busy-polls cq until a successful completion of opcode op; completions of
 * other opcodes (the signalled sends of a ping-pong, on the CQ its receives
 * share) are counted in *others.  0, or -1 after an error or the timeout.
 */
static int lat_wait_wc(struct ibv_cq *cq, enum ibv_wc_opcode op, int *others, uint64_t deadline)
{
	struct ibv_wc wc;

	for (unsigned int spin = 1;; spin++) {
		int n = ibv_poll_cq(cq, 1, &wc);

		if (n < 0) {
			logf_("  latency: ibv_poll_cq failed");
			return -1;
		}
		if (n && wc.status != IBV_WC_SUCCESS) {
			logf_("  latency: completion error: %s (opcode %d)",
			      ibv_wc_status_str(wc.status), wc.opcode);
			return -1;
		}
		if (n && wc.opcode == op)
			return 0;
		if (n && others) {
			(*others)++;
		} else if (!n && !(spin & 1023) && now_ns() > deadline) {
			logf_("  latency: no completion (opcode %d) within %d s", op, o.timeout_s);
			return -1;
		}
	}
}

static int lat_post(struct ibv_qp *qp, enum ibv_wr_opcode op, struct lat_side *l, uint64_t laddr,
		    struct lat_side *r, uint64_t raddr, size_t len, bool signaled)
{
	struct ibv_sge sge = { laddr, (uint32_t)len, l->mr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = signaled ? IBV_SEND_SIGNALED : 0,
	}, *bad;

	if (op != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = r->mr->rkey;
	}
	if (ibv_post_send(qp, &wr, &bad)) {
		logf_("  latency: ibv_post_send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * One block of iters ping-pongs (reads) of len bytes between a's side s[0]
 * and b's side s[1].  Returns NULL with the time in *ns and each
 * iteration's in it_ns[], or why the block has no figure ("transfer_error", "check_failed"; the pair is reset after
 * a transfer error).
 */
static const char *lat_block(enum lat_op op, struct lat_side s[2], size_t len, int iters,
			     uint64_t *ns, double *it_ns)
{
	struct ibv_qp *qps[2] = { qp.a, qp.b };
	struct ibv_cq *cq[2] = { qp.cq_a, qp.cq_b };
	uint64_t seed = next_seed(), deadline = lat_deadline(), t0;
	uint8_t *src[2], *dst[2];
	int others = 0;

	for (int i = 0; i < 2; i++) {
		src[i] = s[i].buf;
		dst[i] = s[i].buf + LAT_DST;
		fill(src[i], len, seed, 0);
		memset(dst[i], 0, len);
	}
	if (op == LAT_SEND)
		for (int i = 0; i < iters; i++)
			for (int k = 0; k < 2; k++)
				if (odp_post_recv(qps[k], dst[k], (uint32_t)len, s[k].mr->lkey, i))
					goto err;
	t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		uint8_t v = (uint8_t)(i + 1);
		bool last = i == iters - 1;
		uint64_t ti = now_ns();

		if (op == LAT_READ) {
			src[1][len - 1] = v;
			if (lat_post(qps[0], IBV_WR_RDMA_READ, &s[0], (uintptr_t)dst[0], &s[1],
				     (uintptr_t)src[1], len, true) ||
			    lat_wait_wc(cq[0], IBV_WC_RDMA_READ, NULL, deadline))
				goto err;
			if (dst[0][len - 1] != v) {
				logf_("  latency: read %d completed without its data", i);
				goto err;
			}
			it_ns[i] = (double)(now_ns() - ti);
			continue;
		}
		for (int k = 0; k < 2; k++) {
			/* k sends to the other side; the last of a block is signalled */
			src[k][len - 1] = v;
			if (op == LAT_WRITE) {
				if (lat_post(qps[k], IBV_WR_RDMA_WRITE, &s[k], (uintptr_t)src[k], &s[!k],
					     (uintptr_t)dst[!k], len, last) ||
				    lat_wait_byte(&dst[!k][len - 1], v, deadline))
					goto err;
			} else {
				if (lat_post(qps[k], IBV_WR_SEND, &s[k], (uintptr_t)src[k], NULL, 0, len,
					     last) ||
				    lat_wait_wc(cq[!k], IBV_WC_RECV, &others, deadline))
					goto err;
				if (dst[!k][len - 1] != v) {
					logf_("  latency: send %d received without its data", i);
					goto err;
				}
			}
		}
		it_ns[i] = (double)(now_ns() - ti);
	}
	*ns = now_ns() - t0;
	/*
	 * The last write or send of each side was signalled: reap them (a's
	 * send completion may have come while its receive was polled for).
	 */
	if (op == LAT_WRITE &&
	    (lat_wait_wc(cq[0], IBV_WC_RDMA_WRITE, NULL, deadline) ||
	     lat_wait_wc(cq[1], IBV_WC_RDMA_WRITE, NULL, deadline)))
		goto err;
	if (op == LAT_SEND && ((!others && lat_wait_wc(cq[0], IBV_WC_SEND, NULL, deadline)) ||
			       lat_wait_wc(cq[1], IBV_WC_SEND, NULL, deadline)))
		goto err;
	for (int k = 0; k < 2; k++) {
		/* what the last message of the block left: the pattern, then v */
		if (op == LAT_READ && k == 1)
			break;
		if (check(dst[k], len - 1, seed, 0, "latency") || dst[k][len - 1] != (uint8_t)iters) {
			logf_("  latency %s: destination %d wrong after the block", lat_name[op], k);
			return "check_failed";
		}
	}
	return NULL;
err:
	pair_reset();
	return "transfer_error";
}

/*
 * One block of the message rate: n 8-byte RDMA writes (or sends) from a's
 * source to b's destination, consecutive 8-byte slots, up to --depth
 * outstanding (stream()); the destination is checked after.  seg_ns[] gets
 * the time each run of RATE_SEG completions took (n / RATE_SEG of them).
 */
static const char *rate_block(enum lat_op op, struct lat_side s[2], int n, uint64_t *ns,
			      double *seg_ns)
{
	const size_t len = (size_t)n * 8;
	uint64_t seed = next_seed(), stamps[1024];
	uint8_t *dst = s[1].buf + LAT_DST;

	fill(s[0].buf, len, seed, 0);
	memset(dst, 0, len);
	if (stream_stamped(op == LAT_WRITE ? IBV_WR_RDMA_WRITE : IBV_WR_SEND, s[0].buf,
			   s[0].mr->lkey, (uintptr_t)dst,
			   op == LAT_WRITE ? s[1].mr->rkey : s[1].mr->lkey, len, 8, ns, stamps))
		return "transfer_error";
	for (int k = 0; k < n / RATE_SEG; k++)
		seg_ns[k] = (double)(stamps[(k + 1) * RATE_SEG - 1] -
				     (k ? stamps[k * RATE_SEG - 1] : 0));
	return check(dst, len, seed, 0, "message rate") ? "check_failed" : NULL;
}

static void bench_latency(void)
{
	/* [case][side]: case 0 pinned, 1 ODP; side 0 a's region, 1 b's */
	struct lat_side side[MIX_CASES][2] = { { { NULL } } };
	static const char *const cname[MIX_CASES] = { "pinned", "odp" };
	const int rounds = o.lat_rounds;
	struct {
		enum lat_op op;
		size_t len; /* 0: the message rate */
	} runs[LAT_OPS * 8 + 2];
	int nruns = 0;
	char sz[32];

	/*
	 * Both cases use the same pages: each side's region is registered
	 * twice, pinned and ODP, so that a block differs from its neighbour
	 * only in the MR its work requests name.  With a region per case the
	 * pages (physical, and so the kernel's addresses of them) differed
	 * per case and per run, and one case's ratio moved between runs by
	 * up to 0.04 while each run's interval was 0.01 wide.
	 */
	for (int k = 0; k < 2; k++) {
		uint8_t *buf = map_fresh(LAT_REGION);

		for (int c = 0; c < MIX_CASES; c++) {
			side[c][k].buf = buf;
			side[c][k].mr = buf ? reg(buf, LAT_REGION, c && o.lat_case != 2) : NULL;
			if (!side[c][k].mr) {
				logf_("PROGRESS odp_bench latency: setup failed");
				goto out;
			}
		}
	}
	for (int op = 0; op < LAT_OPS; op++)
		for (int i = 0; i < o.n_lat_sizes; i++)
			runs[nruns].op = op, runs[nruns++].len = o.lat_sizes[i];
	runs[nruns].op = LAT_WRITE, runs[nruns++].len = 0;
	runs[nruns].op = LAT_SEND, runs[nruns++].len = 0;
	row("meta", "guest", 0, "lat_iters", 0, o.lat_iters, "count", NULL);
	row("meta", "guest", 0, "rate_msgs", 0, o.rate_msgs, "count", NULL);

	for (int r = 0; r < nruns; r++) {
		const bool rate = !runs[r].len;
		const enum lat_op op = runs[r].op;
		const size_t len = rate ? 8 : runs[r].len;
		char bench[48];
		double ratio[MIX_ROUNDS_MAX], fig[MIX_CASES][MIX_ROUNDS_MAX];
		int nr = 0, nf[MIX_CASES] = { 0 }, wrong = 0;
		uint64_t t_start = now_ns();
		struct counters c0, c1;

		snprintf(bench, sizeof(bench), "interleaved_%s_%s", rate ? "rate" : "lat",
			 lat_name[op]);
		counters(&c0);
		for (int round = 0; round <= rounds; round++) {
			uint64_t t[MIX_CASES] = { 0 };
			const char *note[MIX_CASES] = { NULL };
			/* iteration times, or message-rate segment times */
			double it[MIX_CASES][LAT_SAMPLES] = { { 0 } };
			double per[MIX_CASES], avg[MIX_CASES];
			int nit[MIX_CASES] = { 0 };

			for (int i = 0; i < 4; i++) {
				/* pinned, ODP, ODP, pinned; ODP first in even rounds */
				int cse = (i == 1 || i == 2) ^ !(round % 2);
				uint64_t ns = 0;
				const char *why;

				if (o.lat_case == 0 || o.lat_case == 1) /* profiling */
					cse = o.lat_case;
				why = rate ? rate_block(op, side[cse], o.rate_msgs, &ns,
							it[cse] + nit[cse])
					   : lat_block(op, side[cse], len, o.lat_iters, &ns,
						       it[cse] + nit[cse]);

				nit[cse] += rate ? o.rate_msgs / RATE_SEG : o.lat_iters;
				t[cse] += ns;
				if (why && !note[cse])
					note[cse] = why;
			}
			if (round == 0) /* mirrors the ODP regions: not a measurement */
				continue;
			for (int c = 0; c < MIX_CASES; c++) {
				/*
				 * One-way µs (read: the round trip), the median over
				 * the iterations of the case's two blocks as
				 * perftest's t_typical (a block's mean is at the
				 * mercy of one descheduled vCPU), the mean beside
				 * it; or Mmsg/s, from the median time of RATE_SEG
				 * completions in its two blocks, the mean beside it
				 */
				const double div = 1e3 * (op == LAT_READ ? 1 : 2);

				if (!nit[c]) /* --lat-case: not run */
					continue;
				per[c] = rate ? RATE_SEG / (odp_median(it[c], nit[c]) / 1e3)
					      : odp_median(it[c], nit[c]) / div;
				avg[c] = rate ? (double)nit[c] * RATE_SEG / (t[c] / 1e3)
					      : (double)t[c] / nit[c] / div;
				row(bench, cname[c], len, rate ? "msg_rate" : "lat", round,
				    note[c] ? NAN : per[c], rate ? "Mmsg/s" : "us", note[c]);
				row(bench, cname[c], len, rate ? "msg_rate_avg" : "lat_avg", round,
				    note[c] ? NAN : avg[c], rate ? "Mmsg/s" : "us", note[c]);
				if (!note[c])
					fig[c][nf[c]++] = per[c];
				wrong += note[c] != NULL;
			}
			if (nit[0] && nit[1] && !note[0] && !note[1])
				ratio[nr++] = per[1] / per[0];
		}
		counters(&c1);
		counter_rows(bench, "odp", len, 0, &c0, &c1);
		logf_("PROGRESS odp_bench interleaved %s %s %s (%d rounds of %d %s, %.0f s): "
		      "%s median of %d round ratios %.3f; pinned %.4g, ODP %.4g %s%s",
		      rate ? "message rate" : "latency", lat_name[op], size_str(len, sz, sizeof(sz)),
		      rounds, rate ? o.rate_msgs : o.lat_iters, rate ? "messages" : "iterations",
		      (now_ns() - t_start) / 1e9,
		      o.lat_case == 2 ? "A/A control (its ODP case pinned too): ODP/pinned"
				      : "ODP/pinned",
		      nr, odp_median(ratio, nr), odp_median(fig[0], nf[0]),
		      odp_median(fig[1], nf[1]), rate ? "Mmsg/s" : "us",
		      wrong ? "; SOME BLOCKS FAILED: transfer errors or wrong data (see the CSV notes)"
			    : "");
	}
out:
	for (int k = 0; k < 2; k++) {
		for (int c = 0; c < MIX_CASES; c++)
			if (side[c][k].mr)
				ibv_dereg_mr(side[c][k].mr);
		if (side[0][k].buf)
			munmap(side[0][k].buf, LAT_REGION);
	}
}

/* ---- fault: latency of a fault ---- */

/* 64 MiB-aligned fresh memory of len bytes (our module mirrors per 64 MiB). */
static void *map_aligned(size_t len, size_t align, void **raw, size_t *raw_len)
{
	uint8_t *p;

	*raw_len = len + align;
	p = map_fresh(*raw_len);
	*raw = p;
	if (!p)
		return NULL;
	return (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

static void bench_fault(void)
{
	const size_t stride = 2 * MIB, region = (size_t)o.fault_samples * stride;
	uint8_t *local = map_fresh(PAGE);
	struct ibv_mr *lmr = local ? reg(local, PAGE, false) : NULL;
	char sz[32];

	if (!lmr)
		return;
	memset(local, 0x5a, PAGE);
	/* (0) the same 8-byte write into a pinned MR: the single-operation baseline */
	{
		uint8_t *p = map_fresh(PAGE);
		struct ibv_mr *pmr = p ? reg(p, PAGE, false) : NULL;
		double v[512];
		int nv = 0;
		uint64_t ns;

		for (int k = 1; pmr && k < o.fault_samples && k < 512; k++) {
			if (stream(IBV_WR_RDMA_WRITE, local, lmr->lkey, (uintptr_t)p + 8 * k, pmr->rkey, 8,
				   8, &ns))
				continue;
			row("fault", "one_op_pinned", 8, "warm_us", k, ns / 1e3, "us", NULL);
			v[nv++] = ns / 1e3;
		}
		if (pmr)
			ibv_dereg_mr(pmr);
		if (p)
			munmap(p, PAGE);
		logf_("PROGRESS odp_bench fault one_op_pinned: 8-byte write into a pinned MR %.1f us "
		      "(median of %d)",
		      odp_median(v, nv), nv);
	}
	/* (1) one page: an 8-byte write into an absent page, THP as configured and off */
	for (int thp = 1; thp >= 0; thp--) {
		const char *cse = thp ? "one_page" : "one_page_nothp";
		double cold[512], warm[512], diff[512];
		int nc = 0, nw = 0, nd = 0;
		void *raw;
		size_t raw_len;
		uint8_t *base = map_aligned(region, 64 * MIB, &raw, &raw_len);
		struct ibv_mr *mr;
		struct counters c0, c1;
		uint64_t ns;

		if (!base)
			continue;
		if (!thp)
			madvise(base, region, MADV_NOHUGEPAGE);
		mr = reg(base, region, true);
		if (!mr) {
			munmap(raw, raw_len);
			continue;
		}
		/* first touch of the MR (our module sets up a 64 MiB chunk): not a sample */
		stream(IBV_WR_RDMA_WRITE, local, lmr->lkey, (uintptr_t)base, mr->rkey, 8, 8, &ns);
		counters(&c0);
		/*
		 * Each absent-page write is followed at once by a write to the same,
		 * now mirrored, page: the difference of the pair is the fault, and
		 * the host's load drifts little between the two.
		 */
		for (int k = 1; k < o.fault_samples && k < 512; k++) {
			uint8_t *at = base + k * stride + MIB + 8 * k;
			uint64_t ns_warm;

			if (stream(IBV_WR_RDMA_WRITE, local, lmr->lkey, (uintptr_t)at, mr->rkey, 8, 8,
				   &ns) ||
			    stream(IBV_WR_RDMA_WRITE, local, lmr->lkey, (uintptr_t)at, mr->rkey, 8, 8,
				   &ns_warm))
				continue;
			row("fault", cse, 8, "cold_us", k, ns / 1e3, "us", NULL);
			row("fault", cse, 8, "warm_us", k, ns_warm / 1e3, "us", NULL);
			row("fault", cse, 8, "fault_us", k, ((double)ns - (double)ns_warm) / 1e3, "us",
			    NULL);
			cold[nc++] = ns / 1e3;
			warm[nw++] = ns_warm / 1e3;
			diff[nd++] = ((double)ns - (double)ns_warm) / 1e3;
		}
		counters(&c1);
		counter_rows("fault", cse, 8, 0, &c0, &c1);
		/* the data landed where it was written */
		size_t bad = 0;

		for (int k = 1; k < o.fault_samples && k < 512; k++)
			bad += memcmp(base + k * stride + MIB + 8 * k, local, 8) != 0;
		row("fault", cse, 8, "check", 0, bad ? 0 : 1, "pass", bad ? "check_failed" : NULL);
		double mc = odp_median(cold, nc), mw = odp_median(warm, nw), md = odp_median(diff, nd);

		logf_("PROGRESS odp_bench fault %s: absent page %.1f us, then mirrored %.1f us, "
		      "fault cost %.1f us (medians of %d pairs)%s",
		      cse, mc, mw, md, nc, bad ? " DATA CHECK FAILED" : "");
		ibv_dereg_mr(mr);
		munmap(raw, raw_len);
	}
	ibv_dereg_mr(lmr);
	munmap(local, PAGE);

	/* (2) a large range: one write of fault_range bytes, absent vs present vs pinned */
	const size_t len = o.fault_range;
	uint8_t *src = map_fresh(len);
	struct ibv_mr *smr = src ? reg(src, len, false) : NULL;
	double per_page[64];
	int npp = 0;

	if (!smr)
		return;
	for (int rep = 1; rep <= o.reps && rep < 64; rep++) {
		uint64_t seed = next_seed(), t_cold = 0, t_warm = 0, t_pin = 0;
		const char *note = NULL;
		struct counters c0, c1;

		fill(src, len, seed, 0);
		for (int odp = 1; odp >= 0; odp--) {
			uint8_t *t = map_fresh(len);
			struct ibv_mr *tmr = t ? reg(t, len, odp) : NULL;

			if (!tmr) {
				note = "reg_failed";
				if (t)
					munmap(t, len);
				break;
			}
			if (odp)
				counters(&c0);
			if (stream(IBV_WR_RDMA_WRITE, src, smr->lkey, (uintptr_t)t, tmr->rkey, len,
				   len, odp ? &t_cold : &t_pin))
				note = "transfer_error";
			if (odp) {
				counters(&c1);
				if (!note && stream(IBV_WR_RDMA_WRITE, src, smr->lkey, (uintptr_t)t,
						    tmr->rkey, len, len, &t_warm))
					note = "transfer_error";
			}
			if (!note && check(t, len, seed, 0, "fault range"))
				note = "check_failed";
			ibv_dereg_mr(tmr);
			munmap(t, len);
			if (note)
				break;
		}
		if (note) {
			row("fault", "range", len, "cold_ms", rep, NAN, "ms", note);
			continue;
		}
		double pp = ((double)t_cold - (double)t_warm) / 1e3 / (double)(len / PAGE);

		row("fault", "range", len, "cold_ms", rep, t_cold / 1e6, "ms", NULL);
		row("fault", "range", len, "warm_ms", rep, t_warm / 1e6, "ms", NULL);
		row("fault", "range", len, "pinned_ms", rep, t_pin / 1e6, "ms", NULL);
		row("fault", "range", len, "fault_us_per_page", rep, pp, "us", NULL);
		row("fault", "range", len, "check", rep, 1, "pass", NULL);
		counter_rows("fault", "range", len, rep, &c0, &c1);
		per_page[npp++] = pp;
	}
	logf_("PROGRESS odp_bench fault range %s: %.2f us per absent page (median of %d)",
	      size_str(len, sz, sizeof(sz)), odp_median(per_page, npp), npp);
	ibv_dereg_mr(smr);
	munmap(src, len);
}

/* ---- storm: bandwidth while another thread invalidates ---- */

struct storm {
	uint8_t *base;
	size_t len, chunk;
	long interval_us;
	volatile int stop;
	unsigned long calls;
};

static void *storm_thread(void *arg)
{
	struct storm *s = arg;
	unsigned int r = 12345;
	size_t nchunks = s->len / s->chunk;

	while (!s->stop) {
		r = r * 1103515245u + 12345u;
		madvise(s->base + (size_t)(r >> 8) % nchunks * s->chunk, s->chunk, MADV_DONTNEED);
		s->calls++;
		if (s->interval_us > 0) {
			struct timespec ts = { s->interval_us / 1000000,
					       (s->interval_us % 1000000) * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void *map_memfd(size_t len)
{
	int fd = memfd_create("odp_bench", MFD_CLOEXEC);
	void *p = MAP_FAILED;

	if (fd >= 0 && !ftruncate(fd, (off_t)len))
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED) {
		logf_("  memfd mapping of %zu bytes: %s", len, strerror(errno));
		return NULL;
	}
	return p;
}

/*
 * One storm pass: writes all of target t (MR tmr) from src while, when
 * interval_us >= 0, a thread MADV_DONTNEEDs random chunks of t.  Returns the
 * bandwidth, NAN if the data is wrong or the transfer failed.
 */
static double storm_pass(const char *cse, int rep, bool odp, uint8_t *src, struct ibv_mr *smr,
			 uint8_t *t, struct ibv_mr *tmr, size_t len, long interval_us,
			 unsigned long *calls)
{
	struct storm s = { t, len, o.storm_chunk, interval_us, 0, 0 };
	uint64_t seed = next_seed(), ns = 0;
	const char *note = NULL;
	struct counters c0, c1;
	pthread_t th;
	int ret;

	fill(src, len, seed, 0);
	counters(&c0);
	if (interval_us >= 0 && pthread_create(&th, NULL, storm_thread, &s))
		return NAN;
	ret = stream(IBV_WR_RDMA_WRITE, src, smr->lkey, (uintptr_t)t, tmr->rkey, len, o.msg, &ns);
	if (interval_us >= 0) {
		s.stop = 1;
		pthread_join(th, NULL);
	}
	counters(&c1);
	if (ret)
		note = "transfer_error";
	else if (check(t, len, seed, 0, cse))
		note = "check_failed";
	row("storm", cse, len, "bw", rep, note ? NAN : mib_s(len, ns), "MiB/s", note);
	if (!ret && note)
		row("storm", cse, len, "bw_wrong_data", rep, mib_s(len, ns), "MiB/s", note);
	row("storm", cse, len, "check", rep, note ? 0 : 1, "pass", note);
	row("storm", cse, len, "madvise_calls", rep, (double)s.calls, "count", NULL);
	if (odp)
		counter_rows("storm", cse, len, rep, &c0, &c1);
	logf_("  storm %s rep %d: %.1f MiB/s, %lu madvise calls%s%s", cse, rep,
	      note ? NAN : mib_s(len, ns), s.calls, note ? " " : "", note ? note : "");
	*calls += s.calls;
	return note ? NAN : mib_s(len, ns);
}

static void bench_storm(void)
{
	const size_t len = o.storm_size;
	const int ncase = 2 * (o.n_storm_intervals + 1);
	uint8_t *src = map_fresh(len), *t[2] = { NULL, NULL };
	struct ibv_mr *smr = src ? reg(src, len, false) : NULL, *tmr[2] = { NULL, NULL };
	double bw[2 * 9][64];
	int nb[2 * 9] = { 0 };
	unsigned long calls[2 * 9] = { 0 };
	char sz[32], cse[2 * 9][48];
	uint64_t ns;

	if (!smr)
		return;
	/* t[1]: ODP, t[0]: pinned; shared memory, populated: DONTNEED only unmaps */
	for (int odp = 0; odp < 2; odp++) {
		t[odp] = map_memfd(len);
		if (!t[odp])
			goto out;
		memset(t[odp], 0, len);
		tmr[odp] = reg(t[odp], len, odp);
		if (!tmr[odp]) {
			if (!odp)
				goto out;
			continue; /* no ODP (a module without it): the pinned cases only */
		}
		/* mirrored once before the passes */
		stream(IBV_WR_RDMA_WRITE, src, smr->lkey, (uintptr_t)t[odp], tmr[odp]->rkey, len,
		       o.msg, &ns);
	}
	for (int c = 0; c < ncase; c++) {
		int iv = c / 2 - 1, odp = !(c % 2);

		if (iv < 0)
			snprintf(cse[c], sizeof(cse[c]), "%s_quiet", odp ? "odp" : "pinned");
		else
			snprintf(cse[c], sizeof(cse[c]), "%s_storm_%ldus", odp ? "odp" : "pinned",
				 o.storm_intervals_us[iv]);
	}
	/* every repetition runs every case, back to back: the host's drift hits all */
	for (int rep = 1; rep <= o.reps && rep < 64; rep++) {
		for (int c = 0; c < ncase; c++) {
			int iv = c / 2 - 1, odp = !(c % 2);
			double v;

			if (!tmr[odp]) {
				row("storm", cse[c], len, "bw", rep, NAN, "MiB/s", "reg_failed");
				continue;
			}
			v = storm_pass(cse[c], rep, odp, src, smr, t[odp], tmr[odp], len,
					      iv < 0 ? -1 : o.storm_intervals_us[iv], &calls[c]);

			if (!isnan(v))
				bw[c][nb[c]++] = v;
		}
	}
	for (int c = 0; c < ncase; c++)
		logf_("PROGRESS odp_bench storm %s %s: %.1f MiB/s (median of %d), %lu "
		      "madvise(DONTNEED) of %zu KiB",
		      cse[c], size_str(len, sz, sizeof(sz)), odp_median(bw[c], nb[c]), nb[c], calls[c],
		      o.storm_chunk / 1024);
out:
	for (int odp = 0; odp < 2; odp++) {
		if (tmr[odp])
			ibv_dereg_mr(tmr[odp]);
		if (t[odp])
			munmap(t[odp], len);
	}
	ibv_dereg_mr(smr);
	munmap(src, len);
}

/* ---- prefetch: ibv_advise_mr before a cold write ---- */

static void bench_prefetch(void)
{
	const size_t len = o.prefetch_size;
	uint8_t *src = map_fresh(len);
	struct ibv_mr *smr = src ? reg(src, len, false) : NULL;
	double bw[64], tot[64], base[64];
	int nb = 0, nbase = 0;
	char sz[32];

	if (!smr)
		return;
	for (int rep = 1; rep <= o.reps && rep < 64; rep++) {
		uint8_t *t = map_fresh(len);
		struct ibv_mr *tmr = t ? reg(t, len, true) : NULL;
		uint64_t seed = next_seed(), t0, t1, ns = 0;
		struct counters c0, c1, c2;
		const char *note = NULL;
		int ret;

		if (!tmr) {
			if (t)
				munmap(t, len);
			continue;
		}
		struct ibv_sge sge = { (uintptr_t)t, (uint32_t)len, tmr->lkey };

		fill(src, len, seed, 0);
		counters(&c0);
		t0 = now_ns();
		ret = ibv_advise_mr(dev.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		t1 = now_ns();
		if (ret) {
			int e = ret > 0 ? ret : ret == -1 ? errno : -ret;

			ibv_dereg_mr(tmr);
			munmap(t, len);
			if (e == EOPNOTSUPP || e == ENOSYS || e == EPROTONOSUPPORT) {
				row("prefetch", "odp_prefetch", len, "prefetch_ms", rep, NAN, "ms",
				    "not_supported");
				logf_("PROGRESS odp_bench prefetch: not supported (ibv_advise_mr: "
				      "%s)",
				      strerror(e));
				goto out;
			}
			row("prefetch", "odp_prefetch", len, "prefetch_ms", rep, NAN, "ms",
			    strerrorname_np(e) ? strerrorname_np(e) : "error");
			logf_("  ibv_advise_mr: %s", strerror(e));
			continue;
		}
		counters(&c1);
		if (stream(IBV_WR_RDMA_WRITE, src, smr->lkey, (uintptr_t)t, tmr->rkey, len, o.msg,
			   &ns))
			note = "transfer_error";
		counters(&c2);
		if (!note && check(t, len, seed, 0, "prefetch"))
			note = "check_failed";
		row("prefetch", "odp_prefetch", len, "prefetch_ms", rep, (t1 - t0) / 1e6, "ms", NULL);
		row("prefetch", "odp_prefetch", len, "bw", rep, note ? NAN : mib_s(len, ns), "MiB/s",
		    note);
		if (note && ns)
			row("prefetch", "odp_prefetch", len, "bw_wrong_data", rep, mib_s(len, ns),
			    "MiB/s", note);
		row("prefetch", "odp_prefetch", len, "bw_incl_prefetch", rep,
		    note ? NAN : mib_s(len, ns + (t1 - t0)), "MiB/s", note);
		row("prefetch", "odp_prefetch", len, "check", rep, note ? 0 : 1, "pass", note);
		if (have_counters) {
			row("prefetch", "odp_prefetch", len, "pages_prefetched", rep,
			    (double)(c1.pages_prefetched - c0.pages_prefetched), "count", NULL);
			row("prefetch", "odp_prefetch", len, "faults_after_prefetch", rep,
			    (double)(c2.faults - c1.faults), "count", NULL);
		}
		if (!note) {
			bw[nb] = mib_s(len, ns);
			tot[nb++] = mib_s(len, ns + (t1 - t0));
		}
		ibv_dereg_mr(tmr);
		munmap(t, len);

		/* the same cold write without the prefetch, right after: the baseline */
		t = map_fresh(len);
		tmr = t ? reg(t, len, true) : NULL;
		if (!tmr) {
			if (t)
				munmap(t, len);
			continue;
		}
		seed = next_seed();
		note = NULL;
		fill(src, len, seed, 0);
		counters(&c0);
		if (stream(IBV_WR_RDMA_WRITE, src, smr->lkey, (uintptr_t)t, tmr->rkey, len, o.msg,
			   &ns))
			note = "transfer_error";
		counters(&c1);
		if (!note && check(t, len, seed, 0, "no prefetch"))
			note = "check_failed";
		row("prefetch", "odp_no_prefetch", len, "bw", rep, note ? NAN : mib_s(len, ns),
		    "MiB/s", note);
		row("prefetch", "odp_no_prefetch", len, "check", rep, note ? 0 : 1, "pass", note);
		counter_rows("prefetch", "odp_no_prefetch", len, rep, &c0, &c1);
		if (!note)
			base[nbase++] = mib_s(len, ns);
		ibv_dereg_mr(tmr);
		munmap(t, len);
	}
	logf_("PROGRESS odp_bench prefetch %s: write after prefetch %.1f MiB/s, %.1f MiB/s "
	      "counting the prefetch, %.1f MiB/s without prefetch (medians of %d)",
	      size_str(len, sz, sizeof(sz)), odp_median(bw, nb), odp_median(tot, nb),
	      odp_median(base, nbase), nb);
out:
	ibv_dereg_mr(smr);
	munmap(src, len);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: odp_bench [options] [check|reg|cold|warm|interleaved|latency|fault|storm|prefetch]...\n"
		"Micro-benchmarks of ODP MRs on one rxe device (loopback RC pair).\n"
		"Sections default to all; 'check' always runs first.\n"
		"  --dev NAME            RDMA device (default $RXE_DEV or rxe0)\n"
		"  --gid-index N         GID index (default $RXE_GID_INDEX or the RoCEv2 IPv4 GID)\n"
		"  --csv FILE            append CSV rows to FILE (default stdout)\n"
		"  --config LABEL        first CSV column (default 'default')\n"
		"  --reps N              repetitions (default 3)\n"
		"  --cold-reps N         repetitions of 'cold' and 'warm' (default --reps)\n"
		"  --reg-sizes LIST      comma-separated sizes (default 4K,64K,1M,16M,256M,1G,2G,4G,8G)\n"
		"  --cold-size SIZE      cold and warm bandwidth buffers (default 64M)\n"
		"  --msg SIZE            message size of streams (default 64K)\n"
		"  --depth N             outstanding work requests (default 64)\n"
		"  --fault-samples N     absent pages sampled for fault latency (default 32)\n"
		"  --fault-range SIZE    the large-range fault write (default 4M)\n"
		"  --storm-size SIZE     storm target region (default 32M)\n"
		"  --storm-chunk SIZE    bytes per madvise (default 64K)\n"
		"  --storm-intervals LIST  microseconds between madvise calls (default 1000)\n"
		"  --prefetch-size SIZE  prefetch target (default 64M)\n"
		"  --pin-limit SIZE      RLIMIT_MEMLOCK (default 3/4 of MemAvailable)\n"
		"  --timeout S           give up on a transfer after S s without completion (120)\n"
		"  --busy-poll           poll the CQ without sched_yield() between empty polls\n"
		"  --interleave-block SIZE  bytes per block of 'interleaved' (default 4M)\n"
		"  --interleave-rounds N    rounds of 'interleaved' (default 300)\n"
		"  --lat-sizes LIST      message sizes of 'latency' (default 8,64,1K,4K; at most 8K)\n"
		"  --lat-iters N         ping-pongs per block of 'latency' (default 16, at most 32)\n"
		"  --lat-rounds N        rounds of 'latency', per operation and size (default 300)\n"
		"  --lat-case pinned|odp run only that case in 'latency', both halves of every\n"
		"                        round (to profile one case; no ratios then)\n"
		"  --lat-case control    'latency' as usual, but its ODP case registers pinned too:\n"
		"                        an A/A control of the method (ratios near 1 expected)\n"
		"  --rate-msgs N         8-byte messages per message-rate block (default 256; a multiple\n"
		"                        of 32, at most 1024)\n");
}

static int parse_list(const char *s, size_t *out, int max)
{
	char buf[512], *tok, *save;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
		if (parse_size(tok, &out[n++]))
			return -1;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", 1, 0, 'd' },		{ "gid-index", 1, 0, 'g' },
		{ "csv", 1, 0, 'c' },		{ "config", 1, 0, 'C' },
		{ "reps", 1, 0, 'r' },		{ "reg-sizes", 1, 0, 'R' },
		{ "cold-size", 1, 0, 's' },	{ "msg", 1, 0, 'm' },
		{ "depth", 1, 0, 'D' },		{ "fault-samples", 1, 0, 'f' },
		{ "fault-range", 1, 0, 'F' },	{ "storm-size", 1, 0, 'S' },
		{ "storm-chunk", 1, 0, 'k' },	{ "storm-intervals", 1, 0, 'i' },
		{ "prefetch-size", 1, 0, 'p' }, { "pin-limit", 1, 0, 'L' },
		{ "timeout", 1, 0, 't' },	{ "help", 0, 0, 'h' },
		{ "busy-poll", 0, 0, 'B' },	{ "cold-reps", 1, 0, 'P' },
		{ "interleave-block", 1, 0, 'b' }, { "interleave-rounds", 1, 0, 'N' },
		{ "lat-sizes", 1, 0, 'z' },	{ "lat-iters", 1, 0, 'I' },
		{ "lat-rounds", 1, 0, 'n' },	{ "rate-msgs", 1, 0, 'M' },
		{ "lat-case", 1, 0, 'K' },	{ 0 }
	};
	const char *sections[] = { "reg",	  "cold",  "warm",  "interleaved",
				   "latency", "fault", "storm", "prefetch" };
	enum { nsections = sizeof(sections) / sizeof(sections[0]) };
	bool want[nsections] = { false };
	size_t iv[8];
	char gid[16];
	int c, any = 0, failed;

	if (getenv("RXE_DEV") && *getenv("RXE_DEV"))
		o.dev = getenv("RXE_DEV");
	if (getenv("RXE_GID_INDEX") && *getenv("RXE_GID_INDEX"))
		o.gid_index = atoi(getenv("RXE_GID_INDEX"));
	o.n_reg_sizes = parse_list("4K,64K,1M,16M,256M,1G,2G,4G,8G", o.reg_sizes, 32);
	o.n_lat_sizes = parse_list("8,64,1K,4K", o.lat_sizes, 8);
	o.storm_intervals_us[0] = 1000;
	o.n_storm_intervals = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'g': o.gid_index = atoi(optarg); break;
		case 'c': o.csv = optarg; break;
		case 'C': o.config = optarg; break;
		case 'r': o.reps = atoi(optarg); bad = o.reps < 1 || o.reps > 60; break;
		case 'P': o.cold_reps = atoi(optarg); bad = o.cold_reps < 1 || o.cold_reps > 60; break;
		case 'R': o.n_reg_sizes = parse_list(optarg, o.reg_sizes, 32); bad = o.n_reg_sizes < 1; break;
		case 's': bad = parse_size(optarg, &o.cold_size); break;
		case 'm': bad = parse_size(optarg, &o.msg) || !o.msg; break;
		case 'D': o.depth = atoi(optarg); bad = o.depth < 1; break;
		case 'f': o.fault_samples = atoi(optarg); bad = o.fault_samples < 2 || o.fault_samples > 512; break;
		case 'F': bad = parse_size(optarg, &o.fault_range) || o.fault_range > (1ul << 31); break;
		case 'S': bad = parse_size(optarg, &o.storm_size); break;
		case 'k': bad = parse_size(optarg, &o.storm_chunk) || !o.storm_chunk; break;
		case 'i':
			o.n_storm_intervals = parse_list(optarg, iv, 8);
			bad = o.n_storm_intervals < 1;
			for (int i = 0; !bad && i < o.n_storm_intervals; i++)
				o.storm_intervals_us[i] = (long)iv[i];
			break;
		case 'p': bad = parse_size(optarg, &o.prefetch_size) || o.prefetch_size >= (1ul << 32); break;
		case 'L': bad = parse_size(optarg, &o.pin_limit); break;
		case 't': o.timeout_s = atoi(optarg); bad = o.timeout_s < 1; break;
		case 'B': o.busy_poll = true; break;
		case 'b': bad = parse_size(optarg, &o.mix_block) || o.mix_block < o.msg || o.mix_block > (1ul << 31); break;
		case 'N': o.mix_rounds = atoi(optarg); bad = o.mix_rounds < 1 || o.mix_rounds > MIX_ROUNDS_MAX; break;
		case 'z':
			o.n_lat_sizes = parse_list(optarg, o.lat_sizes, 8);
			bad = o.n_lat_sizes < 1;
			for (int i = 0; !bad && i < o.n_lat_sizes; i++)
				bad = o.lat_sizes[i] < 2 || o.lat_sizes[i] > LAT_MAX_MSG;
			break;
		case 'I': o.lat_iters = atoi(optarg); bad = o.lat_iters < 1 || o.lat_iters > LAT_ITERS_MAX; break;
		case 'n': o.lat_rounds = atoi(optarg); bad = o.lat_rounds < 1 || o.lat_rounds > MIX_ROUNDS_MAX; break;
		case 'K':
			o.lat_case = !strcmp(optarg, "pinned") ? 0
				     : !strcmp(optarg, "odp")	 ? 1
				     : !strcmp(optarg, "control") ? 2
								  : -1;
			bad = o.lat_case < 0;
			break;
		case 'M':
			o.rate_msgs = atoi(optarg);
			bad = o.rate_msgs < RATE_SEG || o.rate_msgs > RATE_MSGS_MAX || o.rate_msgs % RATE_SEG;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "odp_bench: bad option value: %s\n", optarg);
			return 2;
		}
	}
	for (; optind < argc; optind++) {
		int i;

		for (i = 0; i < nsections && strcmp(argv[optind], sections[i]); i++)
			;
		if (i == nsections && strcmp(argv[optind], "check")) {
			fprintf(stderr, "odp_bench: unknown section '%s'\n", argv[optind]);
			return 2;
		}
		if (i < nsections)
			want[i] = true, any = 1;
	}
	if (!any)
		for (int i = 0; i < nsections; i++)
			want[i] = true;
	if (o.storm_size < o.storm_chunk || o.cold_size < PAGE) {
		fprintf(stderr, "odp_bench: sizes too small\n");
		return 2;
	}

	csv = o.csv ? fopen(o.csv, "a") : stdout;
	if (!csv) {
		fprintf(stderr, "odp_bench: %s: %s\n", o.csv, strerror(errno));
		return 2;
	}
	/* odp_dev_open() takes the device and GID index from the environment */
	snprintf(gid, sizeof(gid), "%d", o.gid_index);
	if (setenv("RXE_DEV", o.dev, 1) ||
	    (o.gid_index >= 0 && setenv("RXE_GID_INDEX", gid, 1))) {
		fprintf(stderr, "odp_bench: setenv: %s\n", strerror(errno));
		return 2;
	}
	if (limit_pinning() || odp_dev_open(&dev) || odp_rc_pair_create(&dev, &qp, NULL))
		return 2;
	uint64_t dummy;

	have_counters = read_counter("odp_faults", &dummy) == 0;
	row("meta", "guest", 0, "odp_counters", 0, have_counters, "bool", NULL);
	row("meta", "guest", 0, "busy_poll", 0, o.busy_poll, "bool", NULL);
	row("meta", "guest", 0, "msg", 0, (double)o.msg, "B", NULL);
	row("meta", "guest", 0, "depth", 0, o.depth < SQ_DEPTH ? o.depth : SQ_DEPTH, "count", NULL);
	logf_("odp_bench: %s, GID index %d, MTU %d, %s ODP counters, pin limit %zu MiB", o.dev,
	      dev.gid_index, 128 << dev.port_attr.active_mtu, have_counters ? "with" : "no",
	      o.pin_limit / MIB);

	failed = bench_check();
	if (want[0])
		bench_reg();
	if (want[1])
		bench_cold();
	if (want[2])
		bench_warm();
	if (want[3])
		bench_interleaved();
	if (want[4])
		bench_latency();
	if (want[5])
		bench_fault();
	if (want[6])
		bench_storm();
	if (want[7])
		bench_prefetch();
	odp_rc_pair_destroy(&qp);
	odp_dev_close(&dev);
	if (csv != stdout)
		fclose(csv);
	return failed ? 1 : 0;
}
