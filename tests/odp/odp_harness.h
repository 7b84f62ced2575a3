/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The kernel's kselftest harness (extracted into the build directory from
 * the kernel source by the Makefile), included so that it builds with our
 * -Wall -Wextra -Werror: the header itself has an unused signal-handler
 * parameter, and its TEST_F() wrapper keeps a local across setjmp(), which
 * -Wclobbered flags in every test; neither is a problem in our code.
 */
#ifndef ODP_HARNESS_H
#define ODP_HARNESS_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#pragma GCC diagnostic ignored "-Wclobbered"

#endif /* ODP_HARNESS_H */
