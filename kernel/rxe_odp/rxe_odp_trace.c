// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging for rxe: the one instance of the rxe_odp tracepoints
 * (rxe_odp_trace.h).
 */

#define CREATE_TRACE_POINTS
#include "rxe_odp_trace.h"
