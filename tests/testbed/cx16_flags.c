// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Checks that the CPU the testbed emulates gets cmpxchg16b's flags right.
 *
 * QEMU's TCG before 8.0 ran cmpxchg16b in a helper that computed the flags
 * from the lazy-flags operation stored in CPUState, which the translator
 * had not updated: in a translation block entered after popf or iret (that
 * store "flags are in CC_SRC"), cmpxchg16b then took the source operand of
 * the last add as the flags, and RFLAGS became that register's low 32 bits
 * (TF, DF, NT, AC or reserved bits, whatever the register had).  The guest
 * kernel's SLUB fast path can run cmpxchg16b in a block that an interrupt's
 * iret has just entered, and such an RFLAGS right after it is what the
 * double faults of the two-host runs showed (README, "Two hosts").
 *
 * Runs popf; add; cmpxchg16b; pushf, failing and succeeding, over a set of
 * add operands, and compares RFLAGS with the add's own flags with only ZF
 * changed (CF, PF, AF, SF and OF are unaffected by cmpxchg16b).
 * Exit 0: right every time; 1: wrong flags seen; 2: the CPU has no
 * cmpxchg16b (tests/testbed/run hides it from guests on QEMU before 8.0).
 * Builds with any C compiler: cc -O2 -o cx16_flags cx16_flags.c
 */
#include <cpuid.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ZF ((uint64_t)0x40)

struct pair {
	uint64_t lo, hi;
} __attribute__((aligned(16)));

/* RFLAGS after popf (the state QEMU got wrong), then rax += b */
static uint64_t flags_after_add(uint64_t rax, uint64_t b)
{
	uint64_t fl;

	asm volatile("pushfq\n\t"
		     "popfq\n\t"
		     "add %[b], %[a]\n\t"
		     "pushfq\n\t"
		     "pop %[fl]"
		     : [fl] "=&r"(fl), [a] "+r"(rax)
		     : [b] "r"(b)
		     : "cc");
	return fl;
}

/* the same, then cmpxchg16b of rdx:rax with *m (rcx:rbx = 0 on a match) */
static uint64_t flags_after_cmpxchg16b(uint64_t rax, uint64_t b, uint64_t rdx, struct pair *m)
{
	uint64_t fl;

	asm volatile("pushfq\n\t"
		     "popfq\n\t"
		     "add %[b], %%rax\n\t"
		     "cmpxchg16b %[m]\n\t"
		     "pushfq\n\t"
		     "pop %[fl]"
		     : [fl] "=&r"(fl), "+a"(rax), "+d"(rdx), [m] "+m"(*m)
		     : [b] "r"(b), "b"(0ULL), "c"(0ULL)
		     : "cc", "memory");
	return fl;
}

int main(int argc, char **argv)
{
	/* bits a wrong RFLAGS must not get: TF, DF, NT, AC, reserved ones */
	static const uint64_t fixed[] = { 0xa5a50000, 0x5a5a5a00, 0xffffff00,	     0x80000000,
					  0x40000,    0x4100,	  0xffffffffffffff00 };
	unsigned int a, b, c, d, checked = 0, i;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: %s\nChecks RFLAGS after cmpxchg16b (see the source's "
		       "comment); exit 0 right, 1 wrong, 2 no cmpxchg16b.\n",
		       argv[0]);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "%s: no arguments expected (try --help)\n", argv[0]);
		return 1;
	}
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_CMPXCHG16B)) {
		printf("cx16_flags: the CPU has no cmpxchg16b (CPUID.1:ECX.CX16 = 0)\n");
		return 2;
	}
	for (i = 0; i < 64 + sizeof(fixed) / sizeof(fixed[0]); i++) {
		uint64_t add = i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : x;
		uint64_t want = flags_after_add(1, add) & ~ZF;
		uint64_t hi = ~add, got, expect;
		struct pair m;
		int match;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		for (match = 0; match < 2; match++) {
			m.lo = match ? 1 + add : 2 + add;
			m.hi = hi;
			got = flags_after_cmpxchg16b(1, add, hi, &m);
			expect = want | (match ? ZF : 0);
			checked++;
			if (got != expect) {
				printf("cx16_flags: WRONG: after add of %#" PRIx64
				       " and a %s cmpxchg16b, RFLAGS %#" PRIx64
				       ", expected %#" PRIx64 "\n",
				       add, match ? "matching" : "failing", got, expect);
				return 1;
			}
		}
	}
	printf("cx16_flags: RFLAGS right after %u cmpxchg16b\n", checked);
	return 0;
}
