/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mix: a 64-bit finalizer, the source of the position-dependent byte
 * patterns the MPI programs fill and check.
 */
#ifndef MPI_MIX_H
#define MPI_MIX_H

#include <stdint.h>

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return x;
}

#endif
