// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ucx_odp: UCX bandwidth with ODP memory against pinned memory, side by side
 * on one UCX endpoint, between two hosts (or within one).
 *
 *   hostb$ ucx_odp --server [--port P]
 *   hosta$ ucx_odp --peer hostb [--port P] --bench put|tag [--rounds N]
 *                  [--msg BYTES] [--block BYTES] [--plant]
 *
 * The transport is the caller's (UCX_TLS=rc_v UCX_NET_DEVICES=rxe0:1, as
 * for ucx_perftest).  Each side maps two buffers of --block bytes with
 * ucp_mem_map: one plain (a pinned MR) and one with UCP_MEM_MAP_NONBLOCK,
 * which UCX registers with IBV_ACCESS_ON_DEMAND when the device has ODP
 * (UCX_REG_NONBLOCK_MEM_TYPES=host would make both ODP: the run fails).
 * The client moves blocks of --msg-byte messages into the server's buffer
 * of the same kind (put: ucp_put_nbx then a flush; tag: ucp_tag_send_nbx to
 * receives the server posted), each naming its memory handle, pinned and
 * ODP alternating (pinned, ODP, ODP, pinned; ODP first every other round),
 * and times each block.  UCX picks the protocol: put copies the source
 * through UCX's own buffers, so rxe touches only the target's memory; tag
 * at 1 MiB with UCX_RNDV_SCHEME=get_zcopy reads the sender's and writes
 * the receiver's.  Round 0 brings the ODP buffers in and is not counted:
 * its pinned blocks must fault nothing on either host and its ODP blocks
 * must fault on the server (put) or on both (tag), else the buffers are
 * not what they claim.  The server checks every block's bytes against the
 * pattern the client filled (--plant flips one byte first: the check of
 * the check).
 *
 * Output: "ucx OP round R pinned MiB/s odp MiB/s" per counted round, a
 * "# ucx OP: ... median ODP/pinned X ..." summary, then "ok - ucx OP" or
 * "not ok - ucx OP".  Exit 0 when the run passed, 1 on wrong data, a failed
 * transfer or ODP not used, 2 on a setup error.
 */
#include "ctl_conn.h"
#include "odp_common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

enum kind { K_PINNED, K_ODP, K_COUNT };
static const char *const kind_name[K_COUNT] = { "pinned", "ODP" };

enum bench { B_PUT, B_TAG, B_COUNT };
static const char *const bench_name[B_COUNT] = { "put", "tag" };

/* Control messages, client to server; the server answers each with a reply. */
enum cmd { C_TAG_POST = 1, C_CHECK, C_FAULTS, C_BYE };

struct ctl_req {
	uint32_t cmd, kind, plant, pad;
	uint64_t seed, n, msg, tag;
};

#define MAX_BLOCK_MSGS 64 /* messages per block */

struct ctl_rep {
	int64_t status; /* 0, -errno, or 1 + the offset of the first wrong byte */
	uint64_t v;
};

/* What each side tells the other once connected. */
struct hello {
	uint64_t addr_len, block;
	uint64_t buf[K_COUNT], rkey_len[K_COUNT];
};

struct side {
	struct odp_dev dev; /* for the ODP counters */
	ucp_context_h ctx;
	ucp_worker_h worker;
	ucp_ep_h ep;
	size_t block;
	uint8_t *buf[K_COUNT];
	ucp_mem_h memh[K_COUNT];
	uint64_t rbuf[K_COUNT];	  /* the peer's buffers (client) */
	ucp_rkey_h rkey[K_COUNT]; /* and their keys */
	int sock;
};

/* ---- UCX requests ---- */

/*
 * Waits for the request a ucp_*_nbx call returned (NULL: done at once),
 * progressing the worker; UCS_OK, the request's error, or UCS_ERR_TIMED_OUT
 * after the tests' timeout (the request is then left to ucp_worker_destroy).
 */
static ucs_status_t wait_req(ucp_worker_h w, ucs_status_ptr_t req, uint64_t deadline)
{
	ucs_status_t st;

	if (!req)
		return UCS_OK;
	if (UCS_PTR_IS_ERR(req))
		return UCS_PTR_STATUS(req);
	while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS) {
		if (!ucp_worker_progress(w) && odp_now_ns() > deadline)
			return UCS_ERR_TIMED_OUT;
	}
	ucp_request_free(req);
	return st;
}

static uint64_t deadline_ns(void)
{
	return odp_now_ns() + (uint64_t)odp_timeout_ms() * 1000000;
}

/* ---- setup ---- */

static int side_init(struct side *s)
{
	ucp_params_t p = { .field_mask = UCP_PARAM_FIELD_FEATURES,
			   .features = UCP_FEATURE_RMA | UCP_FEATURE_TAG };
	ucp_worker_params_t wp = { .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
				   .thread_mode = UCS_THREAD_MODE_SINGLE };
	ucp_config_t *cfg;
	ucs_status_t st;

	if (odp_dev_open(&s->dev))
		return -ENODEV;
	st = ucp_config_read(NULL, NULL, &cfg);
	if (st != UCS_OK) {
		odp_log("ucp_config_read: %s", ucs_status_string(st));
		return -EINVAL;
	}
	st = ucp_init(&p, cfg, &s->ctx);
	ucp_config_release(cfg);
	if (st == UCS_OK)
		st = ucp_worker_create(s->ctx, &wp, &s->worker);
	if (st != UCS_OK) {
		odp_log("UCX setup: %s", ucs_status_string(st));
		return -EINVAL;
	}
	for (int k = 0; k < K_COUNT; k++) {
		ucp_mem_map_params_t mp = {
			.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
				      UCP_MEM_MAP_PARAM_FIELD_LENGTH |
				      UCP_MEM_MAP_PARAM_FIELD_FLAGS,
			.length = s->block,
			.flags = k == K_ODP ? UCP_MEM_MAP_NONBLOCK : 0,
		};

		/* Fresh private memory, absent until first touched. */
		s->buf[k] = odp_map_fresh(s->block);
		if (!s->buf[k])
			return -ENOMEM;
		mp.address = s->buf[k];
		st = ucp_mem_map(s->ctx, &mp, &s->memh[k]);
		if (st != UCS_OK) {
			odp_log("ucp_mem_map (%s): %s", kind_name[k], ucs_status_string(st));
			return -EINVAL;
		}
	}
	return 0;
}

static void side_fini(struct side *s)
{
	for (int k = 0; k < K_COUNT; k++) {
		if (s->rkey[k])
			ucp_rkey_destroy(s->rkey[k]);
		if (s->memh[k])
			ucp_mem_unmap(s->ctx, s->memh[k]);
		if (s->buf[k])
			munmap(s->buf[k], s->block);
	}
	if (s->ep) {
		ucp_request_param_t rp = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
					   .flags = UCP_EP_CLOSE_FLAG_FORCE };

		wait_req(s->worker, ucp_ep_close_nbx(s->ep, &rp), deadline_ns());
	}
	if (s->worker)
		ucp_worker_destroy(s->worker);
	if (s->ctx)
		ucp_cleanup(s->ctx);
	if (s->dev.ctx)
		odp_dev_close(&s->dev);
	if (s->sock >= 0)
		close(s->sock);
}

/*
 * Swaps worker addresses and the buffers' keys over the control connection
 * and makes the endpoint to the peer.  The server's buffers are the
 * targets, so the client keeps their addresses and unpacked keys.
 */
static int side_connect(struct side *s, bool server)
{
	ucp_ep_params_t ep = { .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS };
	struct hello me = { .block = s->block }, peer;
	void *rk[K_COUNT] = { NULL, NULL }, *prk[K_COUNT] = { NULL, NULL };
	ucp_address_t *addr = NULL;
	ucs_status_t st;
	void *paddr = NULL;
	size_t len;
	int ret = -EPIPE;

	st = ucp_worker_get_address(s->worker, &addr, &len);
	if (st != UCS_OK) {
		odp_log("ucp_worker_get_address: %s", ucs_status_string(st));
		return -EINVAL;
	}
	me.addr_len = len;
	for (int k = 0; k < K_COUNT; k++) {
		me.buf[k] = (uintptr_t)s->buf[k];
		st = ucp_rkey_pack(s->ctx, s->memh[k], &rk[k], &len);
		if (st != UCS_OK) {
			odp_log("ucp_rkey_pack: %s", ucs_status_string(st));
			ret = -EINVAL;
			goto out;
		}
		me.rkey_len[k] = len;
	}
	if (ctl_xfer(s->sock, &me, sizeof(me), true) || ctl_xfer(s->sock, addr, me.addr_len, true))
		goto out;
	for (int k = 0; k < K_COUNT; k++)
		if (ctl_xfer(s->sock, rk[k], me.rkey_len[k], true))
			goto out;
	if (ctl_xfer(s->sock, &peer, sizeof(peer), false))
		goto out;
	if (peer.block != s->block || !peer.addr_len || peer.addr_len > 65536 ||
	    peer.rkey_len[0] > 65536 || peer.rkey_len[1] > 65536) {
		odp_log("the peer's hello does not match (block %" PRIu64 ", expected %zu)",
			peer.block, s->block);
		ret = -EPROTO;
		goto out;
	}
	paddr = malloc(peer.addr_len);
	for (int k = 0; k < K_COUNT; k++)
		prk[k] = malloc(peer.rkey_len[k] ? peer.rkey_len[k] : 1);
	if (!paddr || !prk[0] || !prk[1]) {
		ret = -ENOMEM;
		goto out;
	}
	if (ctl_xfer(s->sock, paddr, peer.addr_len, false))
		goto out;
	for (int k = 0; k < K_COUNT; k++)
		if (ctl_xfer(s->sock, prk[k], peer.rkey_len[k], false))
			goto out;

	ep.address = paddr;
	st = ucp_ep_create(s->worker, &ep, &s->ep);
	for (int k = 0; st == UCS_OK && !server && k < K_COUNT; k++) {
		s->rbuf[k] = peer.buf[k];
		st = ucp_ep_rkey_unpack(s->ep, prk[k], &s->rkey[k]);
	}
	if (st != UCS_OK) {
		odp_log("UCX endpoint: %s", ucs_status_string(st));
		ret = -EINVAL;
		goto out;
	}
	ret = 0;
out:
	for (int k = 0; k < K_COUNT; k++) {
		if (rk[k])
			ucp_rkey_buffer_release(rk[k]);
		free(prk[k]);
	}
	free(paddr);
	ucp_worker_release_address(s->worker, addr);
	return ret;
}

static int odp_faults(struct side *s, uint64_t *v)
{
	return odp_counter_read(&s->dev, "odp_faults", v);
}

/* ---- server ---- */

/* Waits for the control connection to be readable, progressing the worker. */
static int wait_ctl(struct side *s)
{
	struct pollfd pfd = { .fd = s->sock, .events = POLLIN };

	for (;;) {
		int k = poll(&pfd, 1, 0);

		if (k < 0 && errno != EINTR)
			return -errno;
		if (k > 0)
			return 0;
		for (int i = 0; i < 64; i++)
			ucp_worker_progress(s->worker);
	}
}

/* Serves one client until C_BYE or a broken connection. */
static int serve(struct side *s)
{
	ucs_status_ptr_t *recvs = NULL;
	size_t nrecvs = 0;

	for (;;) {
		struct ctl_req q;
		struct ctl_rep r = { 0 };

		if (wait_ctl(s) || ctl_xfer(s->sock, &q, sizeof(q), false))
			break;
		if ((q.cmd == C_TAG_POST || q.cmd == C_CHECK) &&
		    (q.kind >= K_COUNT || q.msg == 0 || q.n > s->block / q.msg)) {
			/* a block outside this side's buffer */
			r.status = -EINVAL;
		} else if (q.cmd == C_TAG_POST) {
			/* q.n receives of q.msg bytes, message i at i * q.msg */
			free(recvs);
			nrecvs = 0;
			recvs = calloc(q.n, sizeof(*recvs));
			r.status = recvs ? 0 : -ENOMEM;
			for (uint64_t i = 0; recvs && i < q.n; i++) {
				ucp_request_param_t rp = { .op_attr_mask = UCP_OP_ATTR_FIELD_MEMH,
							   .memh = s->memh[q.kind] };

				recvs[i] = ucp_tag_recv_nbx(s->worker, s->buf[q.kind] + i * q.msg,
							    q.msg, q.tag + i, UINT64_MAX, &rp);
				nrecvs++;
				if (UCS_PTR_IS_ERR(recvs[i])) {
					r.status = -EIO;
					break;
				}
			}
		} else if (q.cmd == C_CHECK) {
			/* the posted receives, if any, then every byte of the block */
			uint64_t dl = deadline_ns();

			for (size_t i = 0; i < nrecvs; i++) {
				ucs_status_t st = wait_req(s->worker, recvs[i], dl);

				if (st != UCS_OK) {
					odp_log("tag receive %zu: %s", i, ucs_status_string(st));
					r.status = -EIO;
				}
			}
			nrecvs = 0;
			if (!r.status) {
				const size_t len = q.n * q.msg;
				ssize_t bad;

				if (q.plant)
					s->buf[q.kind][len / 2] ^= 0x5a;
				bad = odp_check(s->buf[q.kind], len, q.seed, 0, "ucx_odp target");
				r.status = bad < 0 ? 0 : 1 + bad;
			}
		} else if (q.cmd == C_FAULTS) {
			r.status = odp_faults(s, &r.v);
		} else if (q.cmd == C_BYE) {
			ctl_xfer(s->sock, &r, sizeof(r), true);
			free(recvs);
			return 0;
		} else {
			r.status = -EINVAL;
		}
		if (ctl_xfer(s->sock, &r, sizeof(r), true))
			break;
	}
	free(recvs);
	return -EPIPE;
}

/* ---- client ---- */

static int request(struct side *s, const struct ctl_req *q, struct ctl_rep *r)
{
	if (ctl_xfer(s->sock, (void *)q, sizeof(*q), true) ||
	    ctl_xfer(s->sock, r, sizeof(*r), false))
		return -EPIPE;
	return 0;
}

/*
 * One block: n messages of msg bytes from this side's buffer of kind k to
 * the server's, all posted at once; *ns from the first post to the last
 * completion (put: to the flush's, which covers the remote writes).
 */
static int send_block(struct side *s, enum bench b, int k, size_t n, size_t msg, uint64_t tag,
		      uint64_t *ns)
{
	ucp_request_param_t rp = { .op_attr_mask = UCP_OP_ATTR_FIELD_MEMH, .memh = s->memh[k] };
	ucs_status_ptr_t req[MAX_BLOCK_MSGS];
	const uint64_t t0 = odp_now_ns(), dl = deadline_ns();
	ucs_status_t st = UCS_OK;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *src = s->buf[k] + i * msg;

		if (b == B_PUT)
			req[i] =
				ucp_put_nbx(s->ep, src, msg, s->rbuf[k] + i * msg, s->rkey[k], &rp);
		else
			req[i] = ucp_tag_send_nbx(s->ep, src, msg, tag + i, &rp);
	}
	for (size_t i = 0; i < n; i++) {
		ucs_status_t one = wait_req(s->worker, req[i], dl);

		if (one != UCS_OK && st == UCS_OK)
			st = one;
	}
	if (st == UCS_OK && b == B_PUT) {
		ucp_request_param_t fp = { 0 };

		st = wait_req(s->worker, ucp_ep_flush_nbx(s->ep, &fp), dl);
	}
	if (st != UCS_OK) {
		odp_log("%s block (%s): %s", bench_name[b], kind_name[k], ucs_status_string(st));
		return -EIO;
	}
	*ns = odp_now_ns() - t0;
	return 0;
}

static int both_faults(struct side *s, uint64_t *here, uint64_t *peer)
{
	struct ctl_req q = { .cmd = C_FAULTS };
	struct ctl_rep r;

	if (odp_faults(s, here) || request(s, &q, &r))
		return -EIO;
	*peer = r.v;
	return (int)r.status;
}

/*
 * Round 0's verdict on the buffers, from each kind's faults (fk[kind][0]
 * here, [1] at the server): the pinned ones must fault nowhere, the ODP
 * ones where rxe touches them (the server's for put, both for tag).
 */
static int warm_up_check(enum bench b, uint64_t fk[K_COUNT][2])
{
	if (fk[K_PINNED][0] || fk[K_PINNED][1]) {
		printf("# ucx %s: the pinned blocks faulted (%" PRIu64 " here, %" PRIu64
		       " on the server): UCX registered the plain map with ODP (is "
		       "UCX_REG_NONBLOCK_MEM_TYPES set?)\n",
		       bench_name[b], fk[K_PINNED][0], fk[K_PINNED][1]);
		return -EIO;
	}
	if (!fk[K_ODP][1] || (b == B_TAG && !fk[K_ODP][0])) {
		printf("# ucx %s: the first ODP blocks faulted nothing on %s: UCX did not use "
		       "ODP memory there\n",
		       bench_name[b], fk[K_ODP][1] ? "this host" : "the server");
		return -EIO;
	}
	return 0;
}

/*
 * One block of kind k: the pattern of a new seed into this side's buffer,
 * the transfer (timed: *ns), then the server's check of its buffer.
 */
static int one_block(struct side *s, enum bench b, int k, size_t msg, uint64_t seed, uint64_t *tag,
		     bool plant, uint64_t *ns)
{
	const size_t n = s->block / msg;
	struct ctl_req q = { .kind = (uint32_t)k, .n = n, .msg = msg };
	struct ctl_rep r;

	odp_fill(s->buf[k], n * msg, seed, 0);
	if (b == B_TAG) {
		q.cmd = C_TAG_POST;
		q.tag = *tag;
		if (request(s, &q, &r) || r.status) {
			printf("# ucx tag: the server could not post its receives\n");
			return -EIO;
		}
	}
	if (send_block(s, b, k, n, msg, *tag, ns))
		return -EIO;
	*tag += n;
	q.cmd = C_CHECK;
	q.seed = seed;
	q.plant = plant;
	if (request(s, &q, &r))
		return -EPIPE;
	if (r.status) {
		printf("# ucx %s: %s data %s%" PRId64 "\n", bench_name[b], kind_name[k],
		       r.status > 0 ? "wrong at byte " : "check failed: ",
		       r.status > 0 ? r.status - 1 : r.status);
		return -EIO;
	}
	return 0;
}

static int run_bench(struct side *s, enum bench b, int rounds, size_t msg, bool plant)
{
	double *ratio = calloc((size_t)rounds, sizeof(*ratio));
	uint64_t f0[2], f1[2], f2[2], tag = 0, seed = odp_now_ns();
	uint64_t fk[K_COUNT][2] = { { 0 } };
	int nr = 0, ret = -EIO;

	if (!ratio)
		return -ENOMEM;
	if (both_faults(s, &f0[0], &f0[1]))
		goto out;
	for (int round = 0; round <= rounds; round++) {
		uint64_t t[K_COUNT] = { 0, 0 };

		for (int i = 0; i < 4; i++) {
			/* pinned, ODP, ODP, pinned; ODP first in even rounds */
			const int k = (i == 1 || i == 2) ^ !(round % 2);
			uint64_t ns;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			if (one_block(s, b, k, msg, seed, &tag, plant && round == 1 && i == 0,
				      &ns)) {
				printf("# ucx %s: round %d failed\n", bench_name[b], round);
				goto out;
			}
			t[k] += ns;
			if (round == 0) {
				/* each block's faults, here and at the server */
				if (both_faults(s, &f1[0], &f1[1]))
					goto out;
				fk[k][0] += f1[0] - f0[0];
				fk[k][1] += f1[1] - f0[1];
				f0[0] = f1[0];
				f0[1] = f1[1];
			}
		}
		if (round == 0) {
			if (warm_up_check(b, fk))
				goto out;
			continue;
		}
		printf("ucx %s round %d pinned %.3f odp %.3f\n", bench_name[b], round,
		       2.0 * (double)s->block / (1 << 20) / ((double)t[K_PINNED] / 1e9),
		       2.0 * (double)s->block / (1 << 20) / ((double)t[K_ODP] / 1e9));
		ratio[nr++] = (double)t[K_PINNED] / (double)t[K_ODP];
	}
	if (both_faults(s, &f2[0], &f2[1]))
		goto out;
	printf("# ucx %s: %d rounds of %zu-byte blocks of %zu-byte messages; median ODP/pinned "
	       "%.3f; faults of the first ODP blocks %" PRIu64 " here, %" PRIu64
	       " on the server; ODP faults in the counted rounds %" PRIu64 " and %" PRIu64 "\n",
	       bench_name[b], nr, s->block, msg, odp_median(ratio, nr), fk[K_ODP][0], fk[K_ODP][1],
	       f2[0] - f1[0], f2[1] - f1[1]);
	ret = 0;
out:
	free(ratio);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ucx_odp --server [--port P]\n"
		   "       ucx_odp --peer HOST [--port P] --bench put|tag [--rounds N]\n"
		   "               [--msg BYTES] [--block BYTES] [--plant]\n"
		   "UCX put or tag bandwidth, ODP memory against pinned at both ends, alternating\n"
		   "block by block on one endpoint; every block's data checked at the server.\n"
		   "  --port P       control connection's TCP port (default 18700)\n"
		   "  --rounds N     counted rounds, 1..100000 (default 30; round 0 is warm-up)\n"
		   "  --msg BYTES    message size (default 1048576)\n"
		   "  --block BYTES  bytes per block, a multiple of --msg up to 64 messages and\n"
		   "                 1 GiB (default 4 MiB; both ends must agree)\n"
		   "  --plant        flip one byte at the server before a check: must fail\n"
		   "Transport from the environment: UCX_TLS=rc_v UCX_NET_DEVICES=rxe0:1; the\n"
		   "ODP counters from RXE_DEV (default rxe0).  Exit 0 ok, 1 failed, 2 setup.\n");
}

static long num_arg(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "ucx_odp: %s takes a positive number, not '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "server", no_argument, NULL, 's' },
					      { "peer", required_argument, NULL, 'p' },
					      { "port", required_argument, NULL, 'P' },
					      { "bench", required_argument, NULL, 'b' },
					      { "rounds", required_argument, NULL, 'r' },
					      { "msg", required_argument, NULL, 'm' },
					      { "block", required_argument, NULL, 'B' },
					      { "plant", no_argument, NULL, 'x' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	struct side s = { .sock = -1, .block = 4 << 20 };
	long port = 18700, rounds = 30, msg = 1 << 20;
	int bench = -1, opt, ret = 2;
	bool server = false, plant = false;
	const char *peer = NULL;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			server = true;
			break;
		case 'p':
			peer = optarg;
			break;
		case 'P':
			port = num_arg(optarg, "--port");
			break;
		case 'b':
			for (int i = 0; i < B_COUNT; i++)
				if (!strcmp(optarg, bench_name[i]))
					bench = i;
			if (bench < 0) {
				fprintf(stderr, "ucx_odp: --bench takes put or tag\n");
				return 2;
			}
			break;
		case 'r':
			rounds = num_arg(optarg, "--rounds");
			break;
		case 'm':
			msg = num_arg(optarg, "--msg");
			break;
		case 'B':
			s.block = (size_t)num_arg(optarg, "--block");
			break;
		case 'x':
			plant = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || server == !!peer || (!server && bench < 0) ||
	    (server && (bench >= 0 || plant))) {
		usage(stderr);
		return 2;
	}
	if (port > 65535 || rounds > 100000 || s.block % (size_t)msg ||
	    s.block / (size_t)msg > MAX_BLOCK_MSGS || s.block > (1ul << 30)) {
		fprintf(stderr, "ucx_odp: --port up to 65535, --rounds up to 100000, and --block "
				"a multiple of --msg, at most 64 messages and 1 GiB\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	s.sock = server ? ctl_listen((int)port) : ctl_connect(peer, (int)port);
	if (s.sock < 0 || side_init(&s) || side_connect(&s, server))
		goto out;
	if (server) {
		ret = serve(&s) ? 1 : 0;
	} else {
		struct ctl_req q = { .cmd = C_BYE };
		struct ctl_rep r;
		int rc = run_bench(&s, (enum bench)bench, (int)rounds, (size_t)msg, plant);

		if (rc == -ENOMEM || request(&s, &q, &r))
			rc = rc ? rc : -EPIPE;
		printf("%s - ucx %s\n", rc ? "not ok" : "ok", bench_name[bench]);
		ret = rc ? 1 : 0;
	}
out:
	side_fini(&s);
	return ret;
}
