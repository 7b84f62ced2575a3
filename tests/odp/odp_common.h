/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Shared helpers of the rxe-odp C tests: the device, loopback QPs, posting
 * and polling with deadlines, position-dependent data patterns, the ODP
 * counters and a few /proc readers.
 *
 * Helpers return 0 (or a count) on success and a negative errno on failure,
 * and say why on stderr as TAP diagnostics ("# ..."), so that a test only
 * has to ASSERT on the return value.
 */
#ifndef ODP_COMMON_H
#define ODP_COMMON_H

#include <infiniband/verbs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ODP_PAGE 4096UL

/*
 * The standard message: larger than any path MTU rxe uses, so it takes
 * several packets, with a length that is not a multiple of anything.
 */
#define ODP_MSG_LEN (3 * 4096u + 123)
/* Unaligned offsets of a message in its source and in its destination. */
#define ODP_SRC_OFF (4096u - 37)
#define ODP_DST_OFF (2 * 4096u - 1001)
/* A buffer that holds a standard message at either offset. */
#define ODP_BUF_LEN (6 * ODP_PAGE)

#define ODP_ACCESS_ALL                                                               \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC)

#define ODP_QKEY 0x11110000u

/* Bits of rc_odp_caps newer than 6.12's uapi (same values as later kernels). */
#define ODP_CAP_FLUSH (1u << 6)
#define ODP_CAP_ATOMIC_WRITE (1u << 7)
/* device_cap_flags_ex bits (IB_UVERBS_DEVICE_*; absent from older headers). */
#define ODP_DEVICE_FLUSH_GLOBAL (1ull << 38)
#define ODP_DEVICE_ATOMIC_WRITE (1ull << 40)

void odp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- time and deadlines ---- */
uint64_t odp_now_ns(void);
/* Default deadline of one completion, ms (ODP_TEST_TIMEOUT_MS overrides). */
int odp_timeout_ms(void);

/* ---- the device ---- */
struct odp_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_device_attr_ex attr;
	struct ibv_port_attr port_attr;
	uint8_t port;
	int gid_index;
	union ibv_gid gid;
	char name[64];
};

/* Opens $RXE_DEV (default rxe0) port 1 with GID index $RXE_GID_INDEX. */
int odp_dev_open(struct odp_dev *d);
void odp_dev_close(struct odp_dev *d);

/* ---- memory ---- */
/*
 * ODP_FORCE_PINNED=1 in the environment makes odp_reg() register pinned
 * memory instead: a self-check of the tests, which must then fail wherever
 * they depend on ODP behaviour.
 */
bool odp_force_pinned(void);
/* Registers [addr, addr+len) with access | IBV_ACCESS_ON_DEMAND. */
struct ibv_mr *odp_reg(struct ibv_pd *pd, void *addr, size_t len, int access);
/* Registers pinned memory (no ON_DEMAND). */
struct ibv_mr *odp_reg_pinned(struct ibv_pd *pd, void *addr, size_t len, int access);
/* odp ? odp_reg() : odp_reg_pinned(). */
struct ibv_mr *odp_reg_maybe(struct ibv_pd *pd, void *addr, size_t len, int access, bool odp);

/* A fresh anonymous private mapping, never touched (no page present). */
void *odp_map_fresh(size_t len);
/*
 * A fresh shared mapping whose content is odp_fill(seed, base) but whose
 * pages are absent from this mapping's page table: the content is written
 * through a second mapping of the same memfd, which is then unmapped.
 */
void *odp_map_absent_filled(size_t len, uint64_t seed, uint64_t base);
void odp_unmap(void *addr, size_t len);

/*
 * Keeps automatic NUMA balancing away from this process's memory (a task
 * memory policy of MPOL_LOCAL, which the NUMA scanner skips): its periodic
 * PROT_NONE sweeps invalidate ODP mirrors at random times, which tests that
 * count faults or invalidations must not see.  0 or -errno.
 */
int odp_no_numa_balancing(void);

/* Pages of [addr, addr+len) present / swapped out, from /proc/self/pagemap. */
long odp_pages_present(const void *addr, size_t len);
long odp_pages_swapped(const void *addr, size_t len);
/* Pages the byte range [addr, addr+len) spans. */
long odp_pages_spanned(const void *addr, size_t len);
/* A "Vm...:" field of /proc/self/status in kB, or -1. */
long odp_proc_status_kb(const char *field);
/* A "Field:" of a /proc file such as /proc/meminfo in kB, or -1. */
long odp_proc_field_kb(const char *path, const char *field);

/* ---- position-dependent data ---- */
/* The pattern byte at offset off for seed: every position differs. */
uint8_t odp_pat(uint64_t seed, uint64_t off);
/* The 8 pattern bytes at off..off+7 as a little-endian u64. */
uint64_t odp_pat_u64(uint64_t seed, uint64_t off);
/* buf[i] = odp_pat(seed, base + i). */
void odp_fill(void *buf, size_t len, uint64_t seed, uint64_t base);
/* Index of the first byte differing from odp_pat(seed, base + i), or -1. */
ssize_t odp_check(const void *buf, size_t len, uint64_t seed, uint64_t base, const char *what);
/* Index of the first byte != val, or -1. */
ssize_t odp_check_byte(const void *buf, size_t len, uint8_t val, const char *what);
/* Index of the first byte where got != exp, or -1. */
ssize_t odp_cmp(const void *got, const void *exp, size_t len, const char *what);

/* ---- queue pairs ---- */
/* Send and receive queue depth of the QPs made here. */
#define ODP_QP_DEPTH 64

struct odp_qp_opts {
	struct ibv_pd *pd;	 /* default: the device's PD */
	struct ibv_srq *srq_b;	 /* receive queue of side b */
	uint64_t send_ops_flags; /* extended QP (ibv_wr_*) on side a */
	int extra_access;	 /* qp_access_flags beyond the defaults */
};

/* Two RC QPs on one device connected to each other through its own GID. */
struct odp_rc_pair {
	struct ibv_cq *cq_a, *cq_b;
	struct ibv_qp *a, *b;
	struct ibv_qp_ex *ax; /* a as extended QP, when send_ops_flags */
};

int odp_rc_pair_create(struct odp_dev *d, struct odp_rc_pair *p, const struct odp_qp_opts *o);
void odp_rc_pair_destroy(struct odp_rc_pair *p);
/* Moves both QPs of p to RESET and connects them again (default access). */
int odp_rc_pair_reconnect(struct odp_dev *d, struct odp_rc_pair *p);

/* Two UD QPs; a sends to b through an AH to the device's own GID. */
struct odp_ud_pair {
	struct ibv_cq *cq_a, *cq_b;
	struct ibv_qp *a, *b;
	struct ibv_ah *ah;
};

int odp_ud_pair_create(struct odp_dev *d, struct odp_ud_pair *p, struct ibv_srq *srq_b);
void odp_ud_pair_destroy(struct odp_ud_pair *p);

struct ibv_srq *odp_srq_create(struct odp_dev *d);
/* Payload bytes of the path MTU the pairs use. */
int odp_path_mtu_bytes(const struct odp_dev *d);

/* ---- posting (all signaled; wr_id is the caller's) ---- */
int odp_post_rdma(struct ibv_qp *qp, enum ibv_wr_opcode op, void *laddr, uint32_t len,
		  uint32_t lkey, uint64_t raddr, uint32_t rkey, uint64_t wr_id);
int odp_post_atomic(struct ibv_qp *qp, enum ibv_wr_opcode op, void *laddr, uint32_t lkey,
		    uint64_t raddr, uint32_t rkey, uint64_t compare_add, uint64_t swap,
		    uint64_t wr_id);
int odp_post_send(struct ibv_qp *qp, void *laddr, uint32_t len, uint32_t lkey, uint64_t wr_id);
int odp_post_ud_send(struct ibv_qp *qp, struct ibv_ah *ah, uint32_t remote_qpn, void *laddr,
		     uint32_t len, uint32_t lkey, uint64_t wr_id);
int odp_post_recv(struct ibv_qp *qp, void *addr, uint32_t len, uint32_t lkey, uint64_t wr_id);
int odp_post_srq_recv(struct ibv_srq *srq, void *addr, uint32_t len, uint32_t lkey, uint64_t wr_id);

/* ---- completions ---- */
/*
 * Waits up to timeout_ms for one completion on cq. Returns 0 with *wc
 * filled, or -ETIMEDOUT / -EIO. Never blocks past the deadline.
 */
int odp_poll(struct ibv_cq *cq, struct ibv_wc *wc, int timeout_ms);
/* The status of the next completion (logged unless success), or -ETIMEDOUT. */
int odp_wait_status(struct ibv_cq *cq);
/*
 * Waits for a successful completion of the given opcode (*wc filled when
 * wc is not NULL); 0 or -errno.
 */
int odp_wait_ok(struct ibv_cq *cq, enum ibv_wc_opcode opcode, struct ibv_wc *wc);

/* Synchronous one-shot operations on pair p (a is the requester). */
int odp_rdma_sync(struct odp_rc_pair *p, enum ibv_wr_opcode op, void *laddr, uint32_t len,
		  uint32_t lkey, uint64_t raddr, uint32_t rkey);

/* The QP's state (IBV_QPS_*), or -errno. */
int odp_qp_state(struct ibv_qp *qp);
/* Waits until qp reaches state, up to the default deadline; 0 or -ETIMEDOUT. */
int odp_wait_qp_state(struct ibv_qp *qp, enum ibv_qp_state state);

/* ---- ODP counters of the device (hw_counters) ---- */
struct odp_counters {
	uint64_t faults;
	uint64_t pages_faulted;
	uint64_t invalidations;
	uint64_t pages_invalidated;
};

/*
 * 0, or -ENOENT (logged) if a counter is missing.  Waits out the core's
 * hw_counters cache (its "lifespan", ~12 ms) first, so values are current.
 */
int odp_counters_read(const struct odp_dev *d, struct odp_counters *c);
/*
 * One hw counter by name (e.g. "odp_prefetches"), current like
 * odp_counters_read(); 0, or -ENOENT (logged) if it is missing.
 */
int odp_counter_read(const struct odp_dev *d, const char *name, uint64_t *v);

/* Sorts v[0..n) in place and returns its median; NAN when n <= 0. */
double odp_median(double *v, int n);

/* Writes s to the file at path (sysfs, tracefs, cgroupfs); 0 or -errno (logged). */
int odp_write_file(const char *path, const char *s);

/*
 * Makes the cgroup v2 memory cgroup dir (a folder of /sys/fs/cgroup; one
 * there already is reused), sets its memory.max when memory_max is not
 * NULL, and moves this process into it, before it allocates what the
 * cgroup must be charged with.  0, or -1 (logged) with dir removed.
 */
int odp_memcg_enter(const char *dir, const char *memory_max);
/* Moves this process back to the root cgroup and removes dir. */
void odp_memcg_leave(const char *dir);

/* ---- rdma_rxe module parameters (/sys/module/rdma_rxe/parameters) ---- */
/* Reads parameter name into buf (newline stripped); 0 or -errno (logged). */
int odp_param_read(const char *name, char *buf, size_t len);
/* Writes val to parameter name; 0 or -errno (not logged: tests check refusals). */
int odp_param_write(const char *name, const char *val);
/* odp_param_write() of an unsigned number. */
int odp_param_write_uint(const char *name, unsigned long v);
/*
 * Sets parameter name to v, having saved its value in saved first unless
 * saved holds one already; 0 or -errno (logged).  odp_param_restore()
 * writes a saved value back, if there is one.
 */
int odp_param_save_and_write(const char *name, char *saved, size_t saved_len, unsigned long v);
void odp_param_restore(const char *name, const char *saved);
/*
 * Sets parameter name to start, then writes each of bad[] (each must fail
 * with EINVAL and leave start) and each of good[] (each must be taken as
 * written).  The number of writes that did otherwise (logged), or -1.
 */
int odp_param_check_values(const char *name, const char *start, const char *const *bad, size_t nbad,
			   const char *const *good, size_t ngood);

#endif /* ODP_COMMON_H */
