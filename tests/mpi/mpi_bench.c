// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mpi_bench: MPI bandwidth with UCX's ODP registration against its pinned
 * one, block by block within one job, every byte checked.
 *
 * UCX chooses ODP or pinned registration for a whole process (the
 * environment variable UCX_REG_NONBLOCK_MEM_TYPES=host, read in MPI_Init),
 * so separate pinned and ODP runs are compared across minutes of a shared
 * host's drift.  Here one job holds both: four ranks, two pairs, each rank
 * setting the variable for itself before MPI_Init from its rank:
 *
 *	rank 0: pair 0's sender (pinned)   rank 2: pair 0's receiver (pinned)
 *	rank 1: pair 1's sender (ODP)      rank 3: pair 1's receiver (ODP)
 *
 * Ranks 0 and 1 should share a host and 2 and 3 another (mpirun --host
 * a:2,b:2), unbound (--bind-to none: bound to cores, two pinned pairs
 * differed by 1.2 in the testbed); the placement is printed.  Only one pair
 * moves data at a time: each round is four blocks, pairs 0-1-1-0 (1-0-0-1
 * in even rounds), a block being --block bytes sent as --msg messages from
 * a warm buffer into a warm buffer.  The pair that waits sleeps between
 * polls, so it takes no CPU from the pair at work; a pair starts a block
 * once both of its ranks are ready, and the sender times from its first
 * send to the receiver's acknowledgement.  The receiver checks every byte
 * of every block against the pattern the sender filled (--plant flips one
 * byte of the first counted ODP block first: the check of the check).
 * --control pinned (or odp) registers both pairs the same way: what the
 * pairs differ in besides their registration.
 *
 * Round 0 is warm-up, and the proof that each pair registers as it should:
 * an ODP pair's first block must move the device's odp_pages_faulted on
 * both hosts, a pinned pair's must not.  Output (rank 0): "mpi send round R
 * pinned MiB/s odp MiB/s" per counted round ("mpi control round R pair0
 * MiB/s pair1 MiB/s" with --control), then a summary line with the median
 * of the rounds' pair 1/pair 0 ratios.  Exit 0 when all data was right, 1
 * on wrong data, 2 on a setup error or a registration that was not as asked.
 *
 *   mpirun -np 4 --host a:2,b:2 --bind-to none ... mpi_bench [--rounds N]
 *       [--dev rxe0] [--msg BYTES] [--block BYTES] [--plant] [--control KIND]
 */
#include <mpi.h>

#include "odp_mix.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MSGS 64
#define TAG_READY 1
#define TAG_DATA 2
#define TAG_ACK 3
#define TAG_GO 4
#define TAG_REPORT 5

enum kind { K_PINNED, K_ODP, K_COUNT };
static const char *const kind_name[K_COUNT] = { "pinned", "odp" };

static int rank;
static char counter_path[256];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Word i of block b's content. */
static uint64_t block_word(int b, size_t i)
{
	return odp_mix64(((uint64_t)b << 40) ^ i);
}

static void fill(uint8_t *buf, size_t len, int b)
{
	uint64_t *w = (uint64_t *)buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = block_word(b, i);
}

/* The offset of the first wrong byte of block b, or -1. */
static long first_wrong(const uint8_t *buf, size_t len, int b)
{
	const uint64_t *w = (const uint64_t *)buf;

	for (size_t i = 0; i < len / 8; i++) {
		uint64_t want = block_word(b, i);

		if (w[i] != want)
			for (size_t j = 0; j < 8; j++)
				if (buf[i * 8 + j] != ((const uint8_t *)&want)[j])
					return (long)(i * 8 + j);
	}
	return -1;
}

static uint64_t faulted(void)
{
	unsigned long long v = 0;
	FILE *f = fopen(counter_path, "r");

	if (!f || fscanf(f, "%llu", &v) != 1) {
		fprintf(stderr, "mpi_bench: rank %d: cannot read %s\n", rank, counter_path);
		MPI_Abort(MPI_COMM_WORLD, 2);
		exit(2);
	}
	fclose(f);
	return v;
}

/* Waits for req with a millisecond's sleep between polls. */
static void wait_sleeping(MPI_Request *req)
{
	const struct timespec ms = { 0, 1000000 };
	int done = 0;

	for (;;) {
		MPI_Test(req, &done, MPI_STATUS_IGNORE);
		if (done)
			return;
		nanosleep(&ms, NULL);
	}
}

static void recv_sleeping(int from, int tag)
{
	MPI_Request req;

	MPI_Irecv(NULL, 0, MPI_BYTE, from, tag, MPI_COMM_WORLD, &req);
	wait_sleeping(&req);
}

/* The pair that moves block b: 0, 1, 1, 0 in odd rounds, 1, 0, 0, 1 in even ones. */
static int pair_of(int block)
{
	int round = block / 4, i = block % 4;

	return (i == 1 || i == 2) ^ !(round % 2);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct bench {
	size_t msg, block;
	int rounds, me; /* me: this rank's pair */
	bool plant, control;
	const char *dev;
	enum kind reg[2]; /* how each pair registers */
	uint8_t *buf;
	double *ns;	    /* a sender's time per block it moved */
	uint64_t faults[2]; /* this host's in this pair's first block, in the counted ones */
	long wrong_at;	    /* a receiver's first wrong byte, or -1 */
};

/* This rank's part: its pair's blocks, waiting (asleep) through the other's. */
static void move_blocks(struct bench *bn)
{
	const int nblocks = 4 * (bn->rounds + 1), nmsg = (int)(bn->block / bn->msg);
	const bool sender = rank < 2;
	const int peer = sender ? rank + 2 : rank - 2, mate = rank ^ 1;
	bool first_done = false;

	bn->wrong_at = -1;
	if (sender)
		fill(bn->buf, bn->block, pair_of(0) == bn->me ? 0 : 1);
	else
		memset(bn->buf, 0, bn->block);

	for (int b = 0; b < nblocks; b++) {
		MPI_Request req[MAX_MSGS];
		uint64_t f0, t0;

		if (pair_of(b) != bn->me)
			continue;
		/* the other pair worked last: wait for it to hand over */
		if (b && pair_of(b - 1) != bn->me)
			recv_sleeping(mate, TAG_GO);
		f0 = faulted();
		if (sender) {
			recv_sleeping(peer, TAG_READY);
			t0 = now_ns();
			for (int m = 0; m < nmsg; m++)
				MPI_Isend(bn->buf + (size_t)m * bn->msg, (int)bn->msg, MPI_BYTE,
					  peer, TAG_DATA, MPI_COMM_WORLD, &req[m]);
			MPI_Waitall(nmsg, req, MPI_STATUSES_IGNORE);
			MPI_Recv(NULL, 0, MPI_BYTE, peer, TAG_ACK, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bn->ns[b] = (double)(now_ns() - t0);
		} else {
			for (int m = 0; m < nmsg; m++)
				MPI_Irecv(bn->buf + (size_t)m * bn->msg, (int)bn->msg, MPI_BYTE,
					  peer, TAG_DATA, MPI_COMM_WORLD, &req[m]);
			MPI_Send(NULL, 0, MPI_BYTE, peer, TAG_READY, MPI_COMM_WORLD);
			MPI_Waitall(nmsg, req, MPI_STATUSES_IGNORE);
			MPI_Send(NULL, 0, MPI_BYTE, peer, TAG_ACK, MPI_COMM_WORLD);
		}
		if (!first_done)
			bn->faults[0] = faulted() - f0, first_done = true;
		else if (b >= 4)
			bn->faults[1] += faulted() - f0;
		if (sender) {
			/* this pair's next block, before handing over */
			for (int n = b + 1; n < nblocks; n++)
				if (pair_of(n) == bn->me) {
					fill(bn->buf, bn->block, n);
					break;
				}
		} else {
			long w;

			if (bn->plant && b >= 4 && bn->reg[bn->me] == K_ODP)
				bn->buf[bn->block / 2] ^= 0x40, bn->plant = false;
			w = first_wrong(bn->buf, bn->block, b);
			if (w >= 0 && bn->wrong_at < 0) {
				bn->wrong_at = w;
				printf("# mpi: %s pair, block %d: data wrong at byte %ld\n",
				       kind_name[bn->reg[bn->me]], b, w);
			}
		}
		if (b + 1 < nblocks && pair_of(b + 1) != bn->me)
			MPI_Send(NULL, 0, MPI_BYTE, mate, TAG_GO, MPI_COMM_WORLD);
	}
}

/*
 * Rank 0: the rounds' bandwidths and their median ratio, from its own times
 * and pair 1's sender's; f[rank] is each rank's faults.  Nonzero when a
 * pair's first block did not fault as its registration must.
 */
static int report(const struct bench *bn, uint64_t f[4][2])
{
	const int nblocks = 4 * (bn->rounds + 1);
	double *pair1_ns = calloc((size_t)nblocks, sizeof(*pair1_ns));
	double *ratio = calloc((size_t)bn->rounds, sizeof(*ratio));
	const double mib = 2.0 * (double)bn->block / (1 << 20) * 1e9;
	const char *word = bn->control ? "control" : "send";
	const char *label[2] = { bn->control ? "pair0" : "pinned", bn->control ? "pair1" : "odp" };
	int bad = 0;

	if (!pair1_ns || !ratio)
		MPI_Abort(MPI_COMM_WORLD, 2);
	MPI_Recv(pair1_ns, nblocks, MPI_DOUBLE, 1, TAG_REPORT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	for (int r = 1; r <= bn->rounds; r++) {
		double t[2] = { 0, 0 };

		for (int b = 4 * r; b < 4 * r + 4; b++)
			t[pair_of(b)] += pair_of(b) ? pair1_ns[b] : bn->ns[b];
		printf("mpi %s round %d %s %.3f %s %.3f\n", word, r, label[0], mib / t[0], label[1],
		       mib / t[1]);
		ratio[r - 1] = t[0] / t[1];
	}
	printf("# mpi %s: %d rounds of %zu-byte blocks of %zu-byte messages; median %s/%s %.3f; "
	       "%s odp_pages_faulted in each pair's first block: %s %" PRIu64 " and %" PRIu64
	       " (senders', receivers' host), %s %" PRIu64 " and %" PRIu64
	       "; in the counted rounds, %s %" PRIu64 " and %" PRIu64 "\n",
	       word, bn->rounds, bn->block, bn->msg, label[1], label[0], median(ratio, bn->rounds),
	       bn->dev, label[1], f[1][0], f[3][0], label[0], f[0][0], f[2][0], label[1], f[1][1],
	       f[3][1]);
	/* the registrations are what they should be, or the figures mean nothing */
	for (int p = 0; p < 2; p++) {
		bool odp = bn->reg[p] == K_ODP;

		if (odp ? f[p][0] && f[p + 2][0] : !f[p][0] && !f[p + 2][0])
			continue;
		printf("# mpi %s: warm-up: the %s pair's first block faulted %" PRIu64
		       " and %" PRIu64 " pages, where %s: UCX did not register as asked\n",
		       word, label[p], f[p][0], f[p + 2][0],
		       odp ? "ODP must fault on both hosts" : "pinned memory faults none");
		bad = 1;
	}
	free(pair1_ns);
	free(ratio);
	return bad;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: mpirun -np 4 --host A:2,B:2 ... mpi_bench [--rounds N] [--dev DEV]\n"
		"           [--msg BYTES] [--block BYTES] [--plant] [--control KIND]\n"
		"  --rounds N      counted rounds, 1..100000 (default 30; round 0 is warm-up)\n"
		"  --dev DEV       the rxe device whose odp_pages_faulted proves the\n"
		"                  registrations (default: from UCX_NET_DEVICES, else rxe0)\n"
		"  --msg BYTES     message size (default 1 MiB)\n"
		"  --block BYTES   bytes per block, a multiple of --msg and of 8, at most\n"
		"                  64 messages and 1 GiB (default 4 MiB)\n"
		"  --plant         flip a byte of the first counted ODP block before it is\n"
		"                  checked (the check must report it)\n"
		"  --control KIND  both pairs pinned or both odp: what the pairs differ in\n"
		"                  besides their registration (the median should be near 1)\n");
	return 2;
}

/* This process's rank, from Open MPI's environment (MPI_Init is not yet called). */
static int env_rank(void)
{
	const char *r = getenv("OMPI_COMM_WORLD_RANK");

	if (!r)
		r = getenv("PMIX_RANK");
	return r ? atoi(r) : -1;
}

static int parse_kind(const char *v, enum kind *k)
{
	for (int i = 0; i < K_COUNT; i++)
		if (!strcmp(v, kind_name[i])) {
			*k = (enum kind)i;
			return 0;
		}
	return -1;
}

int main(int argc, char **argv)
{
	/* pair 0 is ranks 0 and 2, pair 1 ranks 1 and 3 */
	struct bench bn = {
		.msg = 1 << 20, .block = 4 << 20, .rounds = 30, .reg = { K_PINNED, K_ODP }
	};
	char host[MPI_MAX_PROCESSOR_NAME], hosts[4][MPI_MAX_PROCESSOR_NAME], devbuf[64];
	int nranks, len, ret, er = env_rank();
	long any_wrong, total_wrong = 0;
	uint64_t f[4][2];

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--plant")) {
			bn.plant = true;
			continue;
		}
		if (!v)
			return er ? 2 : usage();
		i++;
		if (!strcmp(o, "--rounds"))
			bn.rounds = atoi(v);
		else if (!strcmp(o, "--dev"))
			bn.dev = v;
		else if (!strcmp(o, "--msg"))
			bn.msg = strtoul(v, NULL, 0);
		else if (!strcmp(o, "--block"))
			bn.block = strtoul(v, NULL, 0);
		else if (!strcmp(o, "--control") && !parse_kind(v, &bn.reg[0]))
			bn.reg[1] = bn.reg[0], bn.control = true;
		else
			return er ? 2 : usage();
	}
	if (bn.rounds < 1 || bn.rounds > 100000 || !bn.msg || !bn.block || bn.block % bn.msg ||
	    bn.block % 8 || bn.block / bn.msg > MAX_MSGS || bn.block > (1ul << 30) ||
	    bn.msg > INT32_MAX)
		return er ? 2 : usage();
	if (er < 0) {
		fprintf(stderr, "mpi_bench: no OMPI_COMM_WORLD_RANK or PMIX_RANK: run it under "
				"Open MPI's mpirun\n");
		return 2;
	}
	/* UCX reads its registration mode in MPI_Init */
	bn.me = er % 2;
	if (bn.reg[bn.me] == K_ODP)
		setenv("UCX_REG_NONBLOCK_MEM_TYPES", "host", 1);
	else
		unsetenv("UCX_REG_NONBLOCK_MEM_TYPES");

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (nranks != 4 || rank != er) {
		if (!rank)
			fprintf(stderr,
				"mpi_bench: needs exactly 4 ranks (have %d), ranked as "
				"Open MPI's environment says\n",
				nranks);
		MPI_Finalize();
		return 2;
	}
	if (!bn.dev) {
		const char *nd = getenv("UCX_NET_DEVICES");

		snprintf(devbuf, sizeof(devbuf), "%s", nd && *nd ? nd : "rxe0");
		devbuf[strcspn(devbuf, ":,")] = 0;
		bn.dev = devbuf;
	}
	snprintf(counter_path, sizeof(counter_path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/odp_pages_faulted", bn.dev);
	MPI_Get_processor_name(host, &len);
	MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts, MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
		   0, MPI_COMM_WORLD);
	if (!rank)
		printf("# mpi_bench: senders on %s and %s, receivers on %s and %s "
		       "(pair 0, pair 1 each); %s\n",
		       hosts[0], hosts[1], hosts[2], hosts[3],
		       strcmp(hosts[0], hosts[2]) ? "the pairs cross hosts" : "one host");

	bn.buf = aligned_alloc(4096, bn.block);
	bn.ns = calloc((size_t)(4 * (bn.rounds + 1)), sizeof(*bn.ns));
	if (!bn.buf || !bn.ns) {
		fprintf(stderr, "mpi_bench: rank %d: out of memory\n", rank);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	move_blocks(&bn);

	/* every rank's faults, and pair 1's sender's times, to rank 0 */
	any_wrong = bn.wrong_at >= 0;
	MPI_Gather(bn.faults, 2, MPI_UINT64_T, f, 2, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	MPI_Allreduce(&any_wrong, &total_wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 1)
		MPI_Send(bn.ns, 4 * (bn.rounds + 1), MPI_DOUBLE, 0, TAG_REPORT, MPI_COMM_WORLD);
	ret = total_wrong ? 1 : 0;
	if (!rank && report(&bn, f) && !ret)
		ret = 2;
	MPI_Bcast(&ret, 1, MPI_INT, 0, MPI_COMM_WORLD);
	free(bn.buf);
	free(bn.ns);
	MPI_Finalize();
	return ret;
}
