# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Optional verbs of newer libibverbs (rdma-core >= 45 has both), probed with
# $(CC); included by tests/odp/Makefile and tests/fuzz/Makefile.
# VERBS_PROBE_CFLAGS defines ODP_HAVE_WR_FLUSH / ODP_HAVE_WR_ATOMIC_WRITE.
HASH := \#
probe = $(shell printf '$(HASH)include <infiniband/verbs.h>\nint main(void) { return $(1); }\n' | \
	$(CC) -x c - -o /dev/null 2>/dev/null && echo 1)
HAVE_WR_FLUSH := $(call probe,IBV_QP_EX_WITH_FLUSH)
HAVE_WR_ATOMIC_WRITE := $(call probe,IBV_QP_EX_WITH_ATOMIC_WRITE)
VERBS_PROBE_CFLAGS := $(if $(HAVE_WR_FLUSH),-DODP_HAVE_WR_FLUSH=1) \
	$(if $(HAVE_WR_ATOMIC_WRITE),-DODP_HAVE_WR_ATOMIC_WRITE=1)
