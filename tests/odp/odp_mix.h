/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * odp_mix64: splitmix64's finalizer, the one source of the tests'
 * position-dependent byte patterns (odp_common.c and the MPI programs,
 * which mpicc builds without odp_common).
 */
#ifndef ODP_MIX_H
#define ODP_MIX_H

#include <stdint.h>

static inline uint64_t odp_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

#endif
