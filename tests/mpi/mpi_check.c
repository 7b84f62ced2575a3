// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mpi_check: checks every byte that MPI moves, on memory that is unmapped
 * and mapped again at the same address between iterations.
 *
 * Each iteration maps a fresh arena at the same address (alternately
 * munmap + mmap(MAP_FIXED_NOREPLACE) and mmap(MAP_FIXED) over the old
 * mapping), fills it with new position-dependent content and runs, on it:
 *   - point-to-point in a ring (MPI_Sendrecv) at eager and rendezvous
 *     sizes, from and to unaligned offsets;
 *   - MPI_Allreduce (sum of int64 values that differ per rank and index);
 *   - MPI_Alltoall (a block per peer, each from its own pattern);
 *   - one-sided, in a window created over the arena: MPI_Put to the next
 *     rank, MPI_Get back from it, MPI_Accumulate (sum) into it.
 * A registration cache that kept the old pages of a reused address would
 * move stale data; ODP follows the page tables.  Any wrong byte is counted
 * and the first few are printed; the exit status is 1 if any rank saw one
 * (2 on a setup error).
 *
 *   mpirun -np 2 ... mpi_check [--iters N]
 */
#include <mpi.h>

#include "odp_mix.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MIB (1024 * 1024ul)
#define ARENA_LEN (8 * MIB)

/* Regions of the arena (offsets deliberately not aligned). */
#define P2P_SEND_OFF 37ul
#define P2P_RECV_OFF (2 * MIB + 1001)
#define COLL_OFF (4 * MIB + 8)	       /* int64 arrays: 8-byte aligned */
#define WIN_OFF (6 * MIB + 4096 - 333) /* window: put/get area */
#define WIN_LEN (MIB + 64 * 1024ul)
#define RMA_SRC_OFF (5 * MIB + 77)

static const size_t p2p_sizes[] = { 1, 999, 8193, 65536 + 17, MIB + 4099 };
#define A2A_BLOCK (3 * 4096 + 5)
#define RED_COUNT (65536 + 3)
#define ACC_COUNT 4099
#define PUT_LEN (MIB - 123)

static int rank, nranks;
static long wrong;
static int reported;

static uint64_t seed_of(int iter, int what, int from, int to)
{
	return odp_mix64(((uint64_t)iter << 48) ^ ((uint64_t)what << 32) ^ ((uint64_t)from << 16) ^
			 (uint64_t)to ^ 0x5eedull);
}

static uint8_t pat(uint64_t seed, size_t off)
{
	return (uint8_t)odp_mix64(seed + off * 0x100000001b3ull);
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(seed, i);
}

static void check(const uint8_t *b, size_t len, uint64_t seed, const char *what, int iter)
{
	long bad = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t want = pat(seed, i);

		if (b[i] == want)
			continue;
		if (!bad && reported < 10) {
			fprintf(stderr,
				"mpi_check: rank %d iter %d %s: byte %zu of %zu is 0x%02x, want "
				"0x%02x\n",
				rank, iter, what, i, len, b[i], want);
			reported++;
		}
		bad++;
	}
	wrong += bad;
}

static int64_t val64(uint64_t seed, size_t k)
{
	return (int64_t)(odp_mix64(seed + k) >> 20); /* room to sum many ranks */
}

static void check64(const int64_t *v, size_t n, const char *what, int iter,
		    int64_t (*want)(int iter, size_t k))
{
	long bad = 0;

	for (size_t k = 0; k < n; k++) {
		int64_t w = want(iter, k);

		if (v[k] == w)
			continue;
		if (!bad && reported < 10) {
			fprintf(stderr,
				"mpi_check: rank %d iter %d %s: element %zu is %" PRId64
				", want %" PRId64 "\n",
				rank, iter, what, k, v[k], w);
			reported++;
		}
		bad++;
	}
	wrong += bad * 8;
}

static void die(const char *what)
{
	fprintf(stderr, "mpi_check: rank %d: %s: %s\n", rank, what, strerror(errno));
	MPI_Abort(MPI_COMM_WORLD, 2);
	exit(2);
}

/*
 * The arena at the same address every iteration, with no page of the old
 * one left: odd iterations unmap it and map again (NOREPLACE, so a thread
 * that took the hole meanwhile is an error, not a silent overlap), even
 * ones map over it with MAP_FIXED (the kernel unmaps the old pages).
 */
static uint8_t *arena_remap(uint8_t *at, int iter)
{
	const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	void *p;

	if (!at) {
		p = mmap(NULL, ARENA_LEN, prot, flags, -1, 0);
	} else if (iter & 1) {
		if (munmap(at, ARENA_LEN))
			die("munmap");
		p = mmap(at, ARENA_LEN, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
	} else {
		p = mmap(at, ARENA_LEN, prot, flags | MAP_FIXED, -1, 0);
	}
	if (p == MAP_FAILED)
		die("mmap arena");
	if (at && p != at) {
		errno = EADDRINUSE;
		die("arena not mapped again at the same address");
	}
	return p;
}

static void p2p(uint8_t *a, int iter)
{
	int next = (rank + 1) % nranks, prev = (rank + nranks - 1) % nranks;

	for (size_t s = 0; s < sizeof(p2p_sizes) / sizeof(p2p_sizes[0]); s++) {
		size_t len = p2p_sizes[s];
		char what[64];

		fill(a + P2P_SEND_OFF, len, seed_of(iter, 1 + (int)s, rank, next));
		memset(a + P2P_RECV_OFF, 0, len);
		MPI_Sendrecv(a + P2P_SEND_OFF, (int)len, MPI_BYTE, next, (int)s, a + P2P_RECV_OFF,
			     (int)len, MPI_BYTE, prev, (int)s, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		snprintf(what, sizeof(what), "sendrecv %zu bytes", len);
		check(a + P2P_RECV_OFF, len, seed_of(iter, 1 + (int)s, prev, rank), what, iter);
	}
}

static int64_t red_want(int iter, size_t k)
{
	int64_t sum = 0;

	for (int r = 0; r < nranks; r++)
		sum += val64(seed_of(iter, 20, r, 0), k);
	return sum;
}

static void allreduce(uint8_t *a, int iter)
{
	int64_t *in = (int64_t *)(a + COLL_OFF);
	int64_t *out = in + RED_COUNT;

	for (size_t k = 0; k < RED_COUNT; k++)
		in[k] = val64(seed_of(iter, 20, rank, 0), k);
	memset(out, 0, RED_COUNT * sizeof(*out));
	MPI_Allreduce(in, out, RED_COUNT, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
	check64(out, RED_COUNT, "allreduce", iter, red_want);
}

static void alltoall(uint8_t *a, int iter)
{
	uint8_t *sb = a + COLL_OFF + 1, *rb = sb + (size_t)nranks * A2A_BLOCK + 3;

	for (int j = 0; j < nranks; j++)
		fill(sb + (size_t)j * A2A_BLOCK, A2A_BLOCK, seed_of(iter, 21, rank, j));
	memset(rb, 0, (size_t)nranks * A2A_BLOCK);
	MPI_Alltoall(sb, A2A_BLOCK, MPI_BYTE, rb, A2A_BLOCK, MPI_BYTE, MPI_COMM_WORLD);
	for (int j = 0; j < nranks; j++)
		check(rb + (size_t)j * A2A_BLOCK, A2A_BLOCK, seed_of(iter, 21, j, rank),
		      "alltoall block", iter);
}

static int64_t acc_base(int iter, size_t k)
{
	return val64(seed_of(iter, 31, rank, 0), k);
}

static int64_t acc_want(int iter, size_t k)
{
	int prev = (rank + nranks - 1) % nranks;

	return acc_base(iter, k) + val64(seed_of(iter, 32, prev, 0), k);
}

/*
 * The window covers [WIN_OFF, WIN_OFF + WIN_LEN) of the arena: bytes
 * [0, PUT_LEN) take the put, the int64s after them the accumulate.
 */
static void rma(uint8_t *a, int iter)
{
	int next = (rank + 1) % nranks, prev = (rank + nranks - 1) % nranks;
	uint8_t *win_mem = a + WIN_OFF, *src = a + RMA_SRC_OFF;
	/* the int64s of the accumulate 8-byte aligned in memory */
	size_t acc_disp = (((uintptr_t)win_mem + PUT_LEN + 7) & ~7ul) - (uintptr_t)win_mem;
	int64_t *acc = (int64_t *)(win_mem + acc_disp);
	int64_t *contrib = (int64_t *)(a + COLL_OFF);
	MPI_Win win;

	memset(win_mem, 0, PUT_LEN);
	for (size_t k = 0; k < ACC_COUNT; k++) {
		acc[k] = acc_base(iter, k);
		contrib[k] = val64(seed_of(iter, 32, rank, 0), k);
	}
	fill(src, PUT_LEN, seed_of(iter, 30, rank, next));
	MPI_Win_create(win_mem, WIN_LEN, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win);

	MPI_Win_fence(0, win);
	MPI_Put(src, PUT_LEN, MPI_BYTE, next, 0, PUT_LEN, MPI_BYTE, win);
	MPI_Accumulate(contrib, ACC_COUNT, MPI_INT64_T, next, (MPI_Aint)acc_disp, ACC_COUNT,
		       MPI_INT64_T, MPI_SUM, win);
	MPI_Win_fence(0, win);
	check(win_mem, PUT_LEN, seed_of(iter, 30, prev, rank), "window after put", iter);
	check64(acc, ACC_COUNT, "window after accumulate", iter, acc_want);

	/* get back what this rank put into the next one */
	memset(src, 0, PUT_LEN);
	MPI_Win_fence(0, win);
	MPI_Get(src, PUT_LEN, MPI_BYTE, next, 0, PUT_LEN, MPI_BYTE, win);
	MPI_Win_fence(0, win);
	check(src, PUT_LEN, seed_of(iter, 30, rank, next), "get", iter);
	MPI_Win_free(&win);
}

int main(int argc, char **argv)
{
	int iters = 4;
	long total = 0;
	uint8_t *arena = NULL, *first = NULL;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = atoi(argv[++i]);
		} else {
			if (!rank)
				fprintf(stderr, "usage: mpi_check [--iters N]\n");
			MPI_Finalize();
			return 2;
		}
	}

	for (int it = 0; it < iters; it++) {
		arena = arena_remap(arena, it);
		if (!first)
			first = arena;
		/* fresh content everywhere, so nothing old can pass a check */
		fill(arena, ARENA_LEN, seed_of(it, 99, rank, 0));
		MPI_Barrier(MPI_COMM_WORLD);
		p2p(arena, it);
		allreduce(arena, it);
		alltoall(arena, it);
		rma(arena, it);
	}
	if (munmap(arena, ARENA_LEN))
		die("munmap");

	MPI_Allreduce(&wrong, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	if (!rank)
		printf("mpi_check: %d ranks, %d iterations on an arena remapped at %p: "
		       "%ld wrong bytes\n",
		       nranks, iters, (void *)first, total);
	MPI_Finalize();
	return total ? 1 : 0;
}
