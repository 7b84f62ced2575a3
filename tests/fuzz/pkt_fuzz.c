// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * pkt_fuzz: a hostile RoCEv2 peer for rxe0.
 *
 * Sets up real targets with verbs (RC, UC and UD QPs, an explicit ODP MR
 * that is partly read-only and partly PROT_NONE, an explicit ODP MR with a
 * small iova, an implicit ODP MR, a pinned MR), then injects hand-made
 * RoCEv2 packets at them through an AF_PACKET socket on the veth peer of
 * rxe0's netdev, so that they arrive on rxe0's netdev as if from the wire.
 * Every packet carries a correct ICRC (but a few percent on purpose), so
 * it reaches the transport layer: random opcodes, valid and random QPNs
 * and PSNs, RETH/AtomicETH/AETH/DETH/FETH/IETH with addresses weighted at
 * page, 64 MiB chunk and MR edges, lengths and keys, truncated and
 * oversized payloads, wrong pad counts.
 *
 * Before the targets exist it checks two things a lossy link needs: a
 * duplicate of a read, atomic, atomic write or flush is answered again
 * (replay_check), and a request that gets no answer is sent again as it
 * went out first (retry_check, rxe as the requester).
 *
 * Periodically and at the end it checks that the device still works (a
 * fresh loopback RC pair writes and reads back byte-exact into an ODP and a
 * pinned MR) and that memory no valid packet may write is untouched: guard
 * pages around every MR and the read-only and PROT_NONE parts of the
 * explicit MR.  Exit status: 0 all checks passed, 1 a check failed, 2 the
 * setup failed (or packets did not reach rxe's transport layer).
 *
 * The random choices come from --seed; the PSNs the targets expect are
 * read back from the QPs, so a replay is exact only as far as rxe behaves
 * the same.
 */
#include "odp_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024)
#define CHUNK (64 * MIB) /* the implicit/explicit ODP chunk size */
#define GUARD (64 * 1024ul)
#define ROCE_PORT 4791
#define TASK_TOP 0x00007ffffffff000ull
#define MAX_FRAME 1514

/* ---- options and the random stream ---- */

static struct {
	uint64_t seed;
	uint64_t packets;
	double seconds;
	unsigned skip; /* classes left out, 1 << enum cls */
	uint64_t check_every;
	unsigned bad_icrc_pm; /* per mille */
	const char *ifname;
	uint64_t expl_mib;
	bool verbose, no_reuse_check;
	FILE *trace;
} opt = {
	.packets = 200000,
	.seconds = 60,
	.check_every = 20000,
	.bad_icrc_pm = 30,
	.expl_mib = 256,
};

static uint64_t rng_state;
static uint32_t mtu; /* path MTU, payload bytes */

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* true with probability pm per mille */
static bool pm(unsigned p)
{
	return below(1000) < p;
}

/* -n..n */
static int64_t jitter(int n)
{
	return (int64_t)below(2 * (uint64_t)n + 1) - n;
}

/* ---- CRC32 (reflected, polynomial 0xedb88320) as the ICRC uses it ---- */

static uint32_t crc_tab[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tab[i] = c;
	}
}

/* The bare register update: no inversion in or out. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc_tab[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/*
 * The ICRC starts from ~0 run over 8 bytes of 0xff (the masked LRH of
 * IBA; RoCEv2 has none), i.e. this constant; crc_self_test() checks it.
 */
#define ICRC_SEED 0xdebb20e3u

static int crc_self_test(void)
{
	static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t c = ~crc_update(~0u, (const uint8_t *)"123456789", 9);

	if (c != 0xcbf43926u) {
		odp_log("CRC32 self-test: %08x, want cbf43926", c);
		return -1;
	}
	c = crc_update(~0u, ff, sizeof(ff));
	if (c != ICRC_SEED) {
		odp_log("ICRC seed: %08x, want %08x", c, ICRC_SEED);
		return -1;
	}
	return 0;
}

/* ---- RoCEv2 wire format ---- */

enum { OP_RC = 0x00, OP_UC = 0x20, OP_RD = 0x40, OP_UD = 0x60 };
enum {
	OP_SEND_FIRST = 0x00,
	OP_SEND_MIDDLE = 0x01,
	OP_SEND_LAST = 0x02,
	OP_SEND_LAST_IMM = 0x03,
	OP_SEND_ONLY = 0x04,
	OP_SEND_ONLY_IMM = 0x05,
	OP_WRITE_FIRST = 0x06,
	OP_WRITE_MIDDLE = 0x07,
	OP_WRITE_LAST = 0x08,
	OP_WRITE_LAST_IMM = 0x09,
	OP_WRITE_ONLY = 0x0a,
	OP_WRITE_ONLY_IMM = 0x0b,
	OP_READ_REQ = 0x0c,
	OP_READ_RESP_FIRST = 0x0d,
	OP_READ_RESP_MIDDLE = 0x0e,
	OP_READ_RESP_LAST = 0x0f,
	OP_READ_RESP_ONLY = 0x10,
	OP_ACK = 0x11,
	OP_ATOMIC_ACK = 0x12,
	OP_CMP_SWAP = 0x13,
	OP_FETCH_ADD = 0x14,
	OP_SEND_LAST_INV = 0x16,
	OP_SEND_ONLY_INV = 0x17,
	OP_FLUSH = 0x1c,
	OP_ATOMIC_WRITE = 0x1d,
};

/* Extension headers, in the order they follow the BTH. */
enum {
	H_FETH = 1 << 0,
	H_RDETH = 1 << 1,
	H_DETH = 1 << 2,
	H_RETH = 1 << 3,
	H_ATMETH = 1 << 4,
	H_AETH = 1 << 5,
	H_ATMACK = 1 << 6,
	H_IMMDT = 1 << 7,
	H_IETH = 1 << 8,
};

/* The extension headers of an opcode as IBA defines them (0 for none). */
static unsigned op_headers(uint8_t opcode)
{
	unsigned t = opcode & 0xe0, op = opcode & 0x1f, h = 0;

	if (t == OP_UD)
		return (op == OP_SEND_ONLY || op == OP_SEND_ONLY_IMM)
			       ? H_DETH | (op == OP_SEND_ONLY_IMM ? H_IMMDT : 0)
			       : 0;
	if (t > OP_UD)
		return 0;
	switch (op) {
	case OP_SEND_LAST_IMM:
	case OP_SEND_ONLY_IMM:
	case OP_WRITE_LAST_IMM:
		h = H_IMMDT;
		break;
	case OP_WRITE_FIRST:
	case OP_WRITE_ONLY:
	case OP_READ_REQ:
	case OP_ATOMIC_WRITE:
		h = H_RETH;
		break;
	case OP_WRITE_ONLY_IMM:
		h = H_RETH | H_IMMDT;
		break;
	case OP_READ_RESP_FIRST:
	case OP_READ_RESP_LAST:
	case OP_READ_RESP_ONLY:
	case OP_ACK:
		h = H_AETH;
		break;
	case OP_ATOMIC_ACK:
		h = H_AETH | H_ATMACK;
		break;
	case OP_CMP_SWAP:
	case OP_FETCH_ADD:
		h = H_ATMETH;
		break;
	case OP_SEND_LAST_INV:
	case OP_SEND_ONLY_INV:
		h = H_IETH;
		break;
	case OP_FLUSH:
		h = H_FETH | H_RETH;
		break;
	}
	if (t == OP_RD) {
		h |= H_RDETH;
		if (!(h & (H_AETH)))
			h |= H_DETH;
	}
	return h;
}

/* One transport packet, before it is put on the wire. */
struct pkt {
	uint8_t opcode;
	bool se, mig, ackreq;
	uint8_t tver;
	int pad; /* pad count in the BTH; -1: what the payload needs */
	uint16_t pkey;
	uint32_t qpn;
	uint8_t resv8; /* the BTH byte before the QPN (masked by the ICRC) */
	uint32_t psn;
	unsigned hdrs; /* extension headers present */
	uint64_t va;
	uint32_t rkey, dlen;	       /* RETH */
	uint64_t swap_add, comp;       /* AtomicETH (va, rkey as RETH) */
	uint32_t aeth;		       /* syndrome << 24 | msn */
	uint64_t orig;		       /* AtomicAckETH */
	uint32_t imm, ieth, qkey, sqp; /* ImmDt, IETH, DETH */
	uint32_t rdeth, feth;
	uint32_t paylen; /* payload bytes */
	uint32_t cut;	 /* bytes cut off the end before the ICRC */
	bool bad_icrc;
	bool clean; /* never given a bad ICRC */
};

static void pkt_init(struct pkt *p, uint8_t opcode, uint32_t qpn, uint32_t psn)
{
	memset(p, 0, sizeof(*p));
	p->opcode = opcode;
	p->qpn = qpn;
	p->psn = psn;
	p->pkey = 0xffff;
	p->pad = -1;
	p->hdrs = op_headers(opcode);
	p->qkey = ODP_QKEY;
	p->aeth = 0x1f << 24; /* ACK, unlimited credits */
}

static uint8_t *put32(uint8_t *b, uint32_t v)
{
	v = htonl(v);
	memcpy(b, &v, 4);
	return b + 4;
}

static uint8_t *put64(uint8_t *b, uint64_t v)
{
	b = put32(b, (uint32_t)(v >> 32));
	return put32(b, (uint32_t)v);
}

static uint16_t ip_csum(const uint8_t *h, int n)
{
	uint32_t s = 0;

	for (int i = 0; i < n; i += 2)
		s += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static struct {
	int fd;
	int ifindex;
	char ndev[IF_NAMESIZE + 1]; /* rxe's netdev */
	uint8_t dst_mac[6], src_mac[6];
	uint32_t ip; /* network order */
	uint16_t ip_id;
} wire;

/*
 * Lays p out as an Ethernet frame in f (IPv4, UDP to 4791, BTH, extension
 * headers, payload, pad, ICRC) and returns its length.  The ICRC covers the
 * IPv4 and UDP headers with TOS, TTL and the checksums set to ones, the BTH
 * with its reserved byte set to ones, and everything after the BTH.
 */
static size_t pkt_frame(const struct pkt *p, uint8_t *f)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *bth = udp + 8, *b = bth + 12;
	uint8_t pseudo[40];
	size_t tlen, ulen, iplen, room;
	uint32_t crc, paylen;
	int pad;

	memcpy(f, wire.dst_mac, 6);
	memcpy(f + 6, wire.src_mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;

	/* BTH */
	bth[0] = p->opcode;
	/* bth[1] (pad count) once the payload length is known */
	bth[2] = (uint8_t)(p->pkey >> 8);
	bth[3] = (uint8_t)p->pkey;
	put32(bth + 4, (uint32_t)p->resv8 << 24 | (p->qpn & 0xffffff));
	put32(bth + 8, (p->ackreq ? 0x80000000u : 0) | (p->psn & 0xffffff));
	if (p->hdrs & H_FETH)
		b = put32(b, p->feth);
	if (p->hdrs & H_RDETH)
		b = put32(b, p->rdeth);
	if (p->hdrs & H_DETH) {
		b = put32(b, p->qkey);
		b = put32(b, p->sqp & 0xffffff);
	}
	if (p->hdrs & H_RETH) {
		b = put64(b, p->va);
		b = put32(b, p->rkey);
		b = put32(b, p->dlen);
	}
	if (p->hdrs & H_ATMETH) {
		b = put64(b, p->va);
		b = put32(b, p->rkey);
		b = put64(b, p->swap_add);
		b = put64(b, p->comp);
	}
	if (p->hdrs & H_AETH)
		b = put32(b, p->aeth);
	if (p->hdrs & H_ATMACK)
		b = put64(b, p->orig);
	if (p->hdrs & H_IMMDT)
		b = put32(b, p->imm);
	if (p->hdrs & H_IETH)
		b = put32(b, p->ieth);
	/* no bigger than the link takes (the veth's MTU is 1500) */
	room = MAX_FRAME - (size_t)(b - f) - 3 - 4;
	paylen = p->paylen < room ? p->paylen : (uint32_t)room;
	pad = p->pad >= 0 ? p->pad : (int)((-paylen) & 3);
	bth[1] = (uint8_t)((p->se ? 0x80 : 0) | (p->mig ? 0x40 : 0) | (pad & 3) << 4 |
			   (p->tver & 0xf));
	for (uint32_t i = 0; i < paylen; i += 8) {
		uint64_t r = rnd();

		memcpy(b + i, &r, 8);
	}
	b += paylen;
	memset(b, 0, (size_t)pad);
	b += pad;
	/* Cut from the end, never into the BTH (rxe needs it to see the QP). */
	tlen = (size_t)(b - bth);
	tlen -= p->cut < tlen - 12 ? p->cut : tlen - 12;
	b = bth + tlen;

	ulen = 8 + tlen + 4;
	iplen = 20 + ulen;
	ip[0] = 0x45;
	ip[1] = 0;
	ip[2] = (uint8_t)(iplen >> 8);
	ip[3] = (uint8_t)iplen;
	wire.ip_id++;
	ip[4] = (uint8_t)(wire.ip_id >> 8);
	ip[5] = (uint8_t)wire.ip_id;
	ip[6] = 0x40; /* DF */
	ip[7] = 0;
	ip[8] = 64;
	ip[9] = 17;
	ip[10] = ip[11] = 0;
	memcpy(ip + 12, &wire.ip, 4);
	memcpy(ip + 16, &wire.ip, 4);
	{
		uint16_t c = ip_csum(ip, 20);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	udp[0] = 0xc0 | (uint8_t)below(0x40);
	udp[1] = (uint8_t)rnd();
	udp[2] = ROCE_PORT >> 8;
	udp[3] = ROCE_PORT & 0xff;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	udp[6] = udp[7] = 0; /* no UDP checksum */

	memcpy(pseudo, ip, 20);
	memcpy(pseudo + 20, udp, 8);
	memcpy(pseudo + 28, bth, 12);
	pseudo[1] = 0xff;		/* TOS */
	pseudo[8] = 0xff;		/* TTL */
	pseudo[10] = pseudo[11] = 0xff; /* IP checksum */
	pseudo[26] = pseudo[27] = 0xff; /* UDP checksum */
	pseudo[28 + 4] = 0xff;		/* BTH reserved byte */
	crc = crc_update(ICRC_SEED, pseudo, sizeof(pseudo));
	if (p->opcode == (OP_RC | OP_FLUSH) && tlen >= 12 + 4 + 16) {
		/*
		 * rxe's opcode table gives FLUSH no payload offset, so its
		 * ICRC takes FETH and RETH, then the packet again from the
		 * BTH: speak that, or no FLUSH gets past rxe_icrc_check().
		 */
		crc = crc_update(crc, bth + 12, 4 + 16);
		crc = ~crc_update(crc, bth, tlen);
	} else {
		crc = ~crc_update(crc, bth + 12, tlen - 12);
	}
	if (p->bad_icrc)
		crc ^= 1u << below(32);
	/* rxe stores the CRC register as it is in memory: little-endian */
	b[0] = (uint8_t)crc;
	b[1] = (uint8_t)(crc >> 8);
	b[2] = (uint8_t)(crc >> 16);
	b[3] = (uint8_t)(crc >> 24);
	return 14 + iplen;
}

/* ---- statistics ---- */

enum cls {
	C_RC_WRITE,
	C_RC_READ,
	C_RC_ATOMIC,
	C_RC_ATOMIC_WRITE,
	C_RC_FLUSH,
	C_RC_SEND,
	C_RC_RESP,
	C_RC_RESP_BAD,
	C_UC,
	C_UD,
	C_WRAP,
	C_JUNK,
	C_RC_WRITE_ZERO,
	NCLS
};

static const char *const cls_name[NCLS] = {
	"rc_write", "rc_read", "rc_atomic",   "rc_atomic_write",
	"rc_flush", "rc_send", "rc_response", "rc_response_bad",
	"uc",	    "ud",      "wrap",	      "junk",
	"rc_write_zero_len",
};

static struct {
	uint64_t sent[NCLS];
	uint64_t total, bad_icrc, mutated, send_retries;
	uint64_t resets, reset_retries, checks, comp_ok, comp_err;
} st;

static int send_pkt(struct pkt *p, enum cls c)
{
	static uint8_t f[2048];
	size_t n;

	if (!p->clean && pm(opt.bad_icrc_pm))
		p->bad_icrc = true;
	n = pkt_frame(p, f);
	if (opt.trace) /* CLOCK_MONOTONIC: the kernel log's clock, near enough */
		fprintf(opt.trace,
			"%.6f %s op %02x qpn %u psn %u va %" PRIx64 " rkey %x len %u pay %u pad %d "
			"cut %u hdrs %x%s\n",
			(double)odp_now_ns() / 1e9, cls_name[c], p->opcode, p->qpn, p->psn, p->va,
			p->rkey, p->dlen, p->paylen, p->pad, p->cut, p->hdrs,
			p->bad_icrc ? " bad-icrc" : "");
	for (int tries = 0;; tries++) {
		if (send(wire.fd, f, n, 0) == (ssize_t)n)
			break;
		if ((errno != ENOBUFS && errno != EAGAIN) || tries > 1000) {
			odp_log("send on the veth peer: %s", strerror(errno));
			return -1;
		}
		st.send_retries++;
		usleep(100);
	}
	st.sent[c]++;
	st.total++;
	st.bad_icrc += p->bad_icrc;
	return 0;
}

/* ---- memory targets ---- */

struct region {
	const char *name;
	uint8_t *addr;
	size_t len;
	uint64_t seed; /* its pattern, for guards and protected parts */
	int prot;      /* for protected parts: the protection to restore */
};

static struct region guards[16], locked[4];
static int nguards, nlocked;

struct tmr {
	const char *name;
	struct ibv_mr *mr;
	uint64_t iova, len; /* what packets may address */
	uint8_t *addr;	    /* CPU address of iova */
	uint32_t rkey, lkey;
	bool implicit;
	bool flush; /* registered with IBV_ACCESS_FLUSH_GLOBAL */
};

enum { M_EXPL, M_LOW, M_IMPL, M_PIN, NMR };
static struct tmr mrs[NMR];
static int nmrs;
/* Addresses an implicit MR may legitimately read: stack, heap, text, vdso. */
static uint64_t reach[4];

static void add_guard(const char *name, uint8_t *addr, size_t len)
{
	struct region *g = &guards[nguards++];

	g->name = name;
	g->addr = addr;
	g->len = len;
	g->seed = rnd();
	odp_fill(addr, len, g->seed, 0);
}

/* Maps len bytes between two filled guards; NULL on failure. */
static uint8_t *map_guarded(const char *name, size_t len)
{
	uint8_t *m = odp_map_fresh(len + 2 * GUARD);

	if (!m)
		return NULL;
	add_guard(name, m, GUARD);
	add_guard(name, m + GUARD + len, GUARD);
	return m + GUARD;
}

/* Fills [addr, addr+len) with a pattern and gives it protection prot. */
static int lock_region(const char *name, uint8_t *addr, size_t len, int prot)
{
	struct region *r = &locked[nlocked++];

	r->name = name;
	r->addr = addr;
	r->len = len;
	r->seed = rnd();
	r->prot = prot;
	odp_fill(addr, len, r->seed, 0);
	if (mprotect(addr, len, prot)) {
		odp_log("mprotect(%s): %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int reg_mrs(struct odp_dev *d)
{
	int acc = ODP_ACCESS_ALL | IBV_ACCESS_FLUSH_GLOBAL;
	size_t elen = opt.expl_mib * MIB;
	struct tmr *m;
	uint8_t *a;
	static int stack_probe;

	/* Explicit ODP: mostly absent, a little present, parts RO and NONE. */
	a = map_guarded("explicit", elen);
	if (!a)
		return -1;
	memset(a, 0x5a, MIB);
	m = &mrs[M_EXPL];
	m->name = "explicit";
	m->mr = ibv_reg_mr(d->pd, a, elen, acc | IBV_ACCESS_ON_DEMAND);
	if (!m->mr) {
		acc &= ~IBV_ACCESS_FLUSH_GLOBAL;
		m->mr = odp_reg(d->pd, a, elen, acc);
	}
	if (!m->mr)
		return -1;
	m->addr = a;
	m->iova = (uintptr_t)a;
	m->len = elen;
	m->flush = acc & IBV_ACCESS_FLUSH_GLOBAL;
	if (elen >= 128 * MIB &&
	    (lock_region("explicit read-only part", a + 64 * MIB, 4 * MIB, PROT_READ) ||
	     lock_region("explicit PROT_NONE part", a + 68 * MIB, 4 * MIB, PROT_NONE)))
		return -1;

	/* Explicit ODP at a small iova: lets a wrapped va land inside an MR. */
	a = map_guarded("low-iova", 16 * MIB);
	if (!a)
		return -1;
	m = &mrs[M_LOW];
	m->name = "low-iova";
	m->mr = ibv_reg_mr_iova(d->pd, a, 16 * MIB, 0x10000, acc | IBV_ACCESS_ON_DEMAND);
	if (m->mr) {
		m->addr = a;
		m->iova = 0x10000;
		m->len = 16 * MIB;
	} else {
		odp_log("ODP ibv_reg_mr_iova(iova 0x10000): %s; going on without", strerror(errno));
	}

	/*
	 * Implicit ODP: the whole address space.  Packets that write through
	 * it aim at this arena (two 64 MiB chunks and their edges) or at
	 * addresses nothing is mapped at, never at the rest of this process.
	 */
	{
		uint8_t *map = odp_map_fresh(256 * MIB);
		uintptr_t s;

		if (!map)
			return -1;
		s = ((uintptr_t)map + GUARD + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1);
		a = (uint8_t *)s;
		add_guard("implicit arena", a - GUARD, GUARD);
		add_guard("implicit arena", a + 128 * MIB, GUARD);
	}
	m = &mrs[M_IMPL];
	m->name = "implicit";
	m->implicit = true;
	m->mr = ibv_reg_mr(d->pd, NULL, SIZE_MAX, acc | IBV_ACCESS_ON_DEMAND);
	if (m->mr) {
		m->addr = a;
		m->iova = (uintptr_t)a;
		m->len = 128 * MIB;
	} else {
		odp_log("implicit ODP MR: %s; going on without", strerror(errno));
	}

	a = map_guarded("pinned", MIB);
	if (!a)
		return -1;
	m = &mrs[M_PIN];
	m->name = "pinned";
	m->mr = odp_reg_pinned(d->pd, a, MIB, acc & ~IBV_ACCESS_FLUSH_GLOBAL);
	if (!m->mr)
		return -1;
	m->addr = a;
	m->iova = (uintptr_t)a;
	m->len = MIB;

	for (int i = 0; i < NMR; i++) {
		if (mrs[i].mr) {
			mrs[i].rkey = mrs[i].mr->rkey;
			mrs[i].lkey = mrs[i].mr->lkey;
			nmrs++;
		}
	}
	reach[0] = (uintptr_t)&stack_probe;
	reach[1] = (uintptr_t)guards;
	reach[2] = (uintptr_t)&reg_mrs;
	reach[3] = getauxval(AT_SYSINFO_EHDR);
	return 0;
}

static struct tmr *pick_mr(void)
{
	for (;;) {
		struct tmr *m = &mrs[below(NMR)];

		/* the explicit MR is the one ODP cares most about */
		if (m->mr && (m == &mrs[M_EXPL] || pm(600)))
			return m;
	}
}

/* ---- addresses, lengths, keys ---- */

/* Addresses no process can have memory at. */
static uint64_t nowhere(void)
{
	static const uint64_t v[] = {
		0,
		8,
		0xff8,
		0xfff8,
		TASK_TOP - 8,
		TASK_TOP,
		0x0000800000000000ull,
		0x8000000000000000ull,
		0xffff800000000000ull,
		0xffffffff81000000ull,
		0xffffffffff600000ull,
	};

	return v[below(sizeof(v) / sizeof(v[0]))] + (uint64_t)(jitter(2) * 8);
}

/* [va, va+len) holds nothing a valid write may reach in this process. */
static bool nowhere_ok(uint64_t va, uint64_t len)
{
	return va + len >= va && (va >= TASK_TOP || va + len <= 0x10000);
}

/*
 * A va for an access of len bytes to m, weighted at its edges; never one
 * whose end wraps past 2^64 (that is wrap_va()'s class).  Writes through
 * the implicit MR stay inside its arena or go where nothing is mapped.
 */
static uint64_t pick_va(const struct tmr *m, uint64_t len, bool write)
{
	uint64_t va, end = m->iova + m->len, fit = m->len - (len < m->len ? len : m->len);
	unsigned r = (unsigned)below(100);

	if (r < 35) {
		va = m->iova + below(m->len);
	} else if (r < 50) {
		va = (m->iova & ~(ODP_PAGE - 1)) + below(m->len / ODP_PAGE + 1) * ODP_PAGE +
		     (uint64_t)jitter(16);
	} else if (r < 60) {
		va = ((m->iova + CHUNK - 1) & ~(CHUNK - 1)) + below(m->len / CHUNK + 1) * CHUNK +
		     (uint64_t)jitter(24);
		if (va < m->iova || va > end)
			va = m->iova + (uint64_t)jitter(24);
	} else if (r < 75) {
		va = end - (pm(500) ? len : 0) + (uint64_t)jitter(8);
	} else if (r < 85) {
		va = m->iova + (uint64_t)jitter(16);
	} else if (r < 92) {
		va = nowhere();
	} else if (m->implicit && !write) {
		va = reach[below(4)] + (uint64_t)jitter(64);
	} else {
		va = rnd();
		if (pm(500))
			va &= TASK_TOP - 1;
	}
	if (va + len < va)
		va = m->iova + below(fit + 1);
	if (m->implicit && write && !(va >= m->iova && va + len <= end) && !nowhere_ok(va, len))
		va = len > m->len ? TASK_TOP
		     : pm(300)	  ? TASK_TOP + below(1ull << 40)
				  : m->iova + below(fit + 1);
	return va;
}

/*
 * A va whose access of *len bytes ends past 2^64: near the top, or (for
 * an MR at a small iova) wrapping around into the MR.  May change *len.
 */
static uint64_t wrap_va(const struct tmr *m, uint32_t *len)
{
	uint64_t k;

	if (m->iova < (1ull << 32) && *len != 8 && pm(500)) {
		k = 1 + below(4096);
		*len = (uint32_t)(k + m->iova + below(m->len < 65536 ? m->len : 65536));
		return 0 - k;
	}
	if (*len < 2)
		*len = 2 + (uint32_t)below(4 * mtu);
	k = 1 + below(*len - 1 < 4096 ? *len - 1 : 4096);
	return 0 - k;
}

static uint32_t pick_len(const struct tmr *m)
{
	unsigned r = (unsigned)below(100);

	if (r < 30)
		return 1 + (uint32_t)below(mtu);
	if (r < 45)
		return (uint32_t)((1 + below(4)) * mtu + (uint64_t)jitter(1));
	if (r < 58)
		return (uint32_t)((1 + below(3)) * ODP_PAGE + (uint64_t)jitter(8));
	if (r < 66)
		return 0;
	if (r < 76)
		return (uint32_t)below(m->len < (1ull << 31) ? m->len + 1 : 1ull << 31);
	if (r < 84)
		return 8;
	{
		static const uint32_t v[] = { 0x7fffffff, 0x80000000, 0x80000001,
					      0xfffffff8, 0xffffffff, 0x40000000 };

		return pm(500) ? v[below(6)] : (uint32_t)rnd();
	}
}

static uint32_t pick_rkey(const struct tmr *m)
{
	unsigned r = (unsigned)below(100);

	if (r < 85)
		return m->rkey;
	if (r < 90) { /* another MR's key, or one with a wrong key byte */
		const struct tmr *o = &mrs[below(NMR)];
		bool exact = pm(500);

		/*
		 * Not the implicit MR's own key with a va picked for another
		 * MR: it reaches every mapped byte, so such a write may land
		 * in a guard and be right to.
		 */
		if (o->implicit && o != m)
			exact = false;
		return o->rkey ^ (exact ? 0 : 1);
	}
	if (r < 94)
		return m->lkey ^ 0x80; /* right index, wrong key */
	return (uint32_t)rnd();
}

/* ---- QPs ---- */

enum tkind { T_RC, T_UC, T_UD, T_COMP };

struct target {
	enum tkind kind;
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	uint32_t epsn; /* responder: next PSN it expects */
	uint32_t psn0; /* completer: first PSN of its outstanding requests */
	uint32_t npsn; /* completer: PSNs they span */
	int recvs;     /* receive WRs posted */
	int reqs;      /* completer: requests outstanding */
	struct {
		uint32_t psn, pkts, len;
		bool atomic;
	} req[8];
	int nreq;
	int next_resp; /* completer: the request the next good response answers */
};

enum { WR_RECV = 1, WR_SEND };

#define N_RC 4
#define N_UC 2
#define N_COMP 2
static struct target tg[N_RC + N_UC + 1 + N_COMP];
static int ntg;
static struct ibv_qp *sink;
static struct ibv_cq *sink_cq;
static struct odp_dev dev;
static int rd_atom;

static bool modify_quiet;

static int modify(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask, const char *what)
{
	if (ibv_modify_qp(qp, a, mask)) {
		if (!modify_quiet)
			odp_log("modify QP %u to %s: %s", qp->qp_num, what, strerror(errno));
		return -1;
	}
	return 0;
}

static int qp_to_init(struct ibv_qp *qp, enum ibv_qp_type type)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = dev.port,
		.qkey = ODP_QKEY,
		.qp_access_flags = ODP_ACCESS_ALL | IBV_ACCESS_FLUSH_GLOBAL,
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	if (type == IBV_QPT_UD)
		return modify(qp, &a, mask | IBV_QP_QKEY, "INIT");
	if (type == IBV_QPT_UC)
		a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (!ibv_modify_qp(qp, &a, mask | IBV_QP_ACCESS_FLAGS))
		return 0;
	a.qp_access_flags &= ~IBV_ACCESS_FLUSH_GLOBAL;
	return modify(qp, &a, mask | IBV_QP_ACCESS_FLAGS, "INIT");
}

static uint32_t connect_to; /* the QPN qp_connect() connects to: the sink's */

/* RESET -> INIT -> RTR -> RTS, connected to connect_to. */
static int qp_connect(struct target *t, uint32_t rq_psn, uint32_t sq_psn)
{
	enum ibv_qp_type type = t->qp->qp_type;
	struct ibv_qp_attr a;
	int mask;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	if (modify(t->qp, &a, IBV_QP_STATE, "RESET") || qp_to_init(t->qp, type))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	mask = IBV_QP_STATE;
	if (type != IBV_QPT_UD) {
		a.path_mtu = dev.port_attr.active_mtu;
		a.dest_qp_num = connect_to;
		a.rq_psn = rq_psn;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = dev.gid;
		a.ah_attr.grh.sgid_index = (uint8_t)dev.gid_index;
		a.ah_attr.grh.hop_limit = 64;
		a.ah_attr.port_num = dev.port;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
	}
	if (type == IBV_QPT_RC) {
		a.max_dest_rd_atomic = (uint8_t)rd_atom;
		a.min_rnr_timer = 1;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (modify(t->qp, &a, mask, "RTR"))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = sq_psn;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (type == IBV_QPT_RC) {
		a.timeout = 16; /* ~0.27 s: the sink never answers */
		a.retry_cnt = 3;
		a.rnr_retry = 3;
		a.max_rd_atomic = (uint8_t)rd_atom;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	if (modify(t->qp, &a, mask, "RTS"))
		return -1;
	t->epsn = rq_psn;
	t->recvs = 0;
	t->reqs = 0;
	t->nreq = 0;
	t->next_resp = 0;
	return 0;
}

static struct ibv_qp *make_qp(enum ibv_qp_type type, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = type,
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16,
			 .max_recv_wr = 32,
			 .max_send_sge = 2,
			 .max_recv_sge = 2 },
	};
	struct ibv_qp *qp = ibv_create_qp(dev.pd, &ia);

	if (!qp)
		odp_log("ibv_create_qp(type %d): %s", type, strerror(errno));
	return qp;
}

/* A local SGE inside the explicit MR (any part, RO and NONE too) or arena. */
static void local_sge(struct ibv_sge *s, uint32_t len)
{
	const struct tmr *m = pm(700) || !mrs[M_IMPL].mr ? &mrs[M_EXPL] : &mrs[M_IMPL];

	s->length = len;
	s->addr = m->iova + below(m->len - len);
	if (pm(300)) /* across a page boundary */
		s->addr = (s->addr & ~(ODP_PAGE - 1)) + ODP_PAGE - len / 2;
	/* len / 2 can exceed a page: in the first page that lands before iova */
	if (s->addr < m->iova)
		s->addr = m->iova;
	if (s->addr > m->iova + m->len - len)
		s->addr = m->iova + m->len - len;
	s->addr &= ~7ull;
	s->lkey = m->lkey;
}

static int post_recvs(struct target *t)
{
	while (t->recvs < 16) {
		struct ibv_recv_wr wr = { 0 }, *bad;
		struct ibv_sge s;

		local_sge(&s, (uint32_t)(64 + below(3 * ODP_PAGE)));
		wr.wr_id = WR_RECV;
		wr.sg_list = &s;
		wr.num_sge = 1;
		if (ibv_post_recv(t->qp, &wr, &bad)) {
			odp_log("ibv_post_recv: %s", strerror(errno));
			return -1;
		}
		t->recvs++;
	}
	return 0;
}

/* Requests to the sink, which never answers: the fuzzer answers for it. */
static int post_requests(struct target *t)
{
	uint32_t psn = t->psn0;

	t->nreq = 2 + (int)below(4);
	for (int i = 0; i < t->nreq; i++) {
		struct ibv_send_wr wr = { 0 }, *bad;
		struct ibv_sge s;
		bool atomic = pm(250);
		uint32_t len = atomic ? 8 : 1 + (uint32_t)below(3 * ODP_PAGE);

		local_sge(&s, len);
		wr.wr_id = WR_SEND;
		wr.sg_list = &s;
		wr.num_sge = 1;
		wr.send_flags = IBV_SEND_SIGNALED;
		if (atomic) {
			wr.opcode =
				pm(500) ? IBV_WR_ATOMIC_FETCH_AND_ADD : IBV_WR_ATOMIC_CMP_AND_SWP;
			wr.wr.atomic.remote_addr = 0x1000;
			wr.wr.atomic.rkey = 1;
		} else {
			wr.opcode = IBV_WR_RDMA_READ;
			wr.wr.rdma.remote_addr = 0x1000;
			wr.wr.rdma.rkey = 1;
		}
		if (ibv_post_send(t->qp, &wr, &bad)) {
			odp_log("ibv_post_send to the sink: %s", strerror(errno));
			return -1;
		}
		t->req[i].psn = psn;
		t->req[i].len = len;
		t->req[i].atomic = atomic;
		t->req[i].pkts = atomic ? 1 : (len + mtu - 1) / mtu;
		psn = (psn + t->req[i].pkts) & 0xffffff;
	}
	t->npsn = (psn - t->psn0) & 0xffffff;
	t->reqs = t->nreq;
	return 0;
}

static int drain_cq(struct target *t)
{
	struct ibv_wc wc[16];
	int n;

	while ((n = ibv_poll_cq(t->cq, 16, wc)) > 0) {
		/* (the opcode of an error completion is undefined: go by wr_id) */
		for (int i = 0; i < n; i++) {
			if (wc[i].wr_id == WR_RECV) {
				t->recvs--;
				continue;
			}
			t->reqs--;
			if (wc[i].status == IBV_WC_SUCCESS)
				st.comp_ok++;
			else
				st.comp_err++;
		}
	}
	if (n < 0) {
		odp_log("ibv_poll_cq: %d", n);
		return -1;
	}
	return 0;
}

static int target_reset(struct target *t)
{
	uint32_t psn = (uint32_t)below(1 << 24);
	int ret, tries = 0;

	/*
	 * A packet rxe still had queued can move the QP from RESET to ERR
	 * before it gets to INIT (rxe_qp_error() does not look at the
	 * state): then the modify fails and we go round again.
	 */
	do {
		modify_quiet = tries < 9;
		ret = qp_connect(t, psn, psn);
		if (ret)
			usleep(1000);
	} while (ret && ++tries < 10);
	modify_quiet = false;
	st.reset_retries += (uint64_t)tries;
	if (ret)
		return -1;
	drain_cq(t);
	t->recvs = 0;
	t->reqs = 0;
	st.resets++;
	if (t->kind == T_COMP) {
		t->psn0 = psn;
		return post_requests(t);
	}
	return post_recvs(t);
}

/*
 * Brings t up to date: drains its CQ, learns the PSN its responder
 * expects, and resets it if it went to the error state (or, a completer,
 * has nothing outstanding any more).
 */
static int target_sync(struct target *t)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;

	if (drain_cq(t))
		return -1;
	if (ibv_query_qp(t->qp, &a, IBV_QP_STATE | IBV_QP_RQ_PSN, &init)) {
		odp_log("ibv_query_qp: %s", strerror(errno));
		return -1;
	}
	if (a.qp_state == IBV_QPS_ERR || a.qp_state == IBV_QPS_SQE ||
	    (t->kind == T_COMP && t->reqs <= 0))
		return target_reset(t);
	if (a.rq_psn != t->epsn) {
		/* maybe rxe has not got to the last packets yet: once more */
		usleep(200);
		if (ibv_query_qp(t->qp, &a, IBV_QP_STATE | IBV_QP_RQ_PSN, &init)) {
			odp_log("ibv_query_qp: %s", strerror(errno));
			return -1;
		}
	}
	t->epsn = a.rq_psn;
	return t->kind == T_COMP ? 0 : post_recvs(t);
}

static int targets_create(void)
{
	static const enum tkind kinds[] = {
		T_RC, T_RC, T_RC, T_RC, T_UC, T_UC, T_UD, T_COMP, T_COMP
	};

	sink_cq = ibv_create_cq(dev.ctx, 16, NULL, NULL, 0);
	if (!sink_cq)
		return -1;
	sink = make_qp(IBV_QPT_RC, sink_cq);
	if (!sink || qp_to_init(sink, IBV_QPT_RC))
		return -1;
	connect_to = sink->qp_num;
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct target *t = &tg[ntg++];
		enum ibv_qp_type type = kinds[i] == T_UC   ? IBV_QPT_UC
					: kinds[i] == T_UD ? IBV_QPT_UD
							   : IBV_QPT_RC;

		t->kind = kinds[i];
		t->cq = ibv_create_cq(dev.ctx, 512, NULL, NULL, 0);
		if (!t->cq) {
			odp_log("ibv_create_cq: %s", strerror(errno));
			return -1;
		}
		t->qp = make_qp(type, t->cq);
		if (!t->qp || target_reset(t))
			return -1;
	}
	st.resets = 0;
	return 0;
}

/* ---- packet generators ---- */

/* The PSN a request to t carries: mostly the expected one. */
static uint32_t req_psn(const struct target *t)
{
	unsigned r = (unsigned)below(100);

	if (r < 88)
		return t->epsn;
	if (r < 95)
		return (t->epsn - 1 - (uint32_t)below(4)) & 0xffffff; /* duplicate */
	if (r < 98)
		return (t->epsn + 1 + (uint32_t)below(4)) & 0xffffff;
	return (uint32_t)below(1 << 24);
}

/* Mutations common to all packets, a few percent each. */
static void mutate(struct pkt *p)
{
	bool m = false;

	if (pm(25)) {
		p->pad = (int)below(4);
		m = true;
	}
	if (pm(20)) {
		p->cut = (uint32_t)below(48);
		m = true;
	}
	if (pm(20)) {
		p->paylen = (uint32_t)below(1400);
		m = true;
	}
	if (pm(10)) {
		p->hdrs ^= 1u << below(9);
		m = true;
	}
	if (pm(5)) {
		p->tver = (uint8_t)below(16);
		m = true;
	}
	if (pm(5)) {
		p->pkey = (uint16_t)rnd();
		m = true;
	}
	p->se = pm(100);
	p->mig = pm(20);
	p->ackreq = pm(300);
	p->resv8 = pm(50) ? (uint8_t)rnd() : 0;
	if (p->paylen > 1400)
		p->paylen = 1400;
	st.mutated += m;
}

/* Sends p to t at PSN psn and advances the expected PSN by adv. */
static int emit(struct target *t, struct pkt *p, enum cls c, uint32_t adv)
{
	bool in_seq = p->psn == t->epsn;

	mutate(p);
	if (send_pkt(p, c))
		return -1;
	if (in_seq)
		t->epsn = (t->epsn + adv) & 0xffffff;
	return 0;
}

/* An RDMA write message (FIRST..LAST or ONLY), RC or UC. */
static int gen_write(struct target *t, bool wrap)
{
	uint8_t base = t->kind == T_UC ? OP_UC : OP_RC;
	struct tmr *m = pick_mr();
	uint32_t len = pick_len(m), left, npk;
	uint64_t va = wrap ? wrap_va(m, &len) : pick_va(m, len, true);
	uint32_t rkey = pick_rkey(m);
	enum cls c = wrap ? C_WRAP : t->kind == T_UC ? C_UC : C_RC_WRITE;
	bool imm = pm(200);
	struct pkt p;

	npk = len ? (len + mtu - 1) / mtu : 1;
	/* long messages are cut short: the rest never comes */
	if (npk > 6 && !pm(50))
		npk = 1 + (uint32_t)below(6);
	if (npk > 64)
		npk = 64;
	left = len;
	for (uint32_t i = 0; i < npk; i++) {
		uint32_t psn = i ? t->epsn : req_psn(t);
		uint8_t op;
		bool last = left <= mtu;

		if (i == 0)
			op = last ? (imm ? OP_WRITE_ONLY_IMM : OP_WRITE_ONLY) : OP_WRITE_FIRST;
		else
			op = last ? (imm ? OP_WRITE_LAST_IMM : OP_WRITE_LAST) : OP_WRITE_MIDDLE;
		if (pm(20)) /* a middle or last out of place */
			op = (uint8_t)(OP_WRITE_FIRST + below(6));
		pkt_init(&p, base | op, t->qp->qp_num, psn);
		p.va = va;
		p.rkey = rkey;
		p.dlen = len;
		p.imm = (uint32_t)rnd();
		p.paylen = last ? left : mtu;
		if (emit(t, &p, c, 1))
			return -1;
		left -= last ? left : mtu;
	}
	return 0;
}

/*
 * An RC RDMA write whose RETH says 0 bytes but which carries a payload (an
 * ONLY, or a FIRST with a full MTU).  A zero-length write need not name an
 * MR (C9-88), so the responder has none to copy into: it must refuse the
 * packet, as too long for its DMA length.  Stock rxe copied the payload to
 * no MR and hit the WARN_ON in rxe_mr_copy() (patch 0011).
 */
static int gen_write_zero_len(struct target *t)
{
	struct tmr *m = pick_mr();
	bool first = pm(300);
	struct pkt p;

	pkt_init(&p, OP_RC | (first ? OP_WRITE_FIRST : OP_WRITE_ONLY), t->qp->qp_num,
		 req_psn(t));
	p.va = pick_va(m, 0, true);
	p.rkey = pick_rkey(m);
	p.dlen = 0;
	p.paylen = first ? mtu : 1 + (uint32_t)below(mtu);
	return emit(t, &p, C_RC_WRITE_ZERO, 1);
}

static int gen_read(struct target *t, bool wrap)
{
	struct tmr *m = pick_mr();
	uint32_t len = pick_len(m);
	struct pkt p;

	/* a valid long read keeps the responder busy: keep most short */
	if (len > 64 * mtu && len <= m->len)
		len = pm(20) ? (uint32_t)below(16 * MIB) : (uint32_t)below(64 * mtu);
	pkt_init(&p, OP_RC | OP_READ_REQ, t->qp->qp_num, req_psn(t));
	p.va = wrap ? wrap_va(m, &len) : pick_va(m, len, false);
	p.rkey = pick_rkey(m);
	p.dlen = len;
	return emit(t, &p, wrap ? C_WRAP : C_RC_READ, len > mtu ? (len + mtu - 1) / mtu : 1);
}

static int gen_atomic(struct target *t, bool wrap)
{
	struct tmr *m = pick_mr();
	struct pkt p;

	pkt_init(&p, OP_RC | (pm(500) ? OP_CMP_SWAP : OP_FETCH_ADD), t->qp->qp_num, req_psn(t));
	uint32_t len = 8;

	p.va = wrap ? wrap_va(m, &len) : pick_va(m, 8, true);
	if (!wrap && pm(900))
		p.va &= ~7ull;
	p.rkey = pick_rkey(m);
	p.swap_add = rnd();
	p.comp = pm(500) ? 0 : rnd();
	return emit(t, &p, wrap ? C_WRAP : C_RC_ATOMIC, 1);
}

static int gen_atomic_write(struct target *t, bool wrap)
{
	struct tmr *m = pick_mr();
	struct pkt p;

	pkt_init(&p, OP_RC | OP_ATOMIC_WRITE, t->qp->qp_num, req_psn(t));
	uint32_t len = 8;

	p.dlen = pm(900) ? 8 : pick_len(m);
	p.va = wrap ? wrap_va(m, &len) : pick_va(m, 8, true);
	if (!wrap && pm(900))
		p.va &= ~7ull;
	p.rkey = pick_rkey(m);
	p.paylen = pm(900) ? 8 : (uint32_t)below(32);
	return emit(t, &p, wrap ? C_WRAP : C_RC_ATOMIC_WRITE, 1);
}

static int gen_flush(struct target *t, bool wrap)
{
	struct tmr *m = pick_mr();
	uint32_t len = pick_len(m);
	struct pkt p;

	pkt_init(&p, OP_RC | OP_FLUSH, t->qp->qp_num, req_psn(t));
	/* placement type: global mostly; selectivity: range or whole MR */
	p.feth = (pm(800) ? 1 : (uint32_t)below(16)) | (pm(700) ? 0 : 1u << 4);
	p.va = wrap ? wrap_va(m, &len) : pick_va(m, len, true);
	p.rkey = pick_rkey(m);
	p.dlen = len;
	return emit(t, &p, wrap ? C_WRAP : C_RC_FLUSH, 1);
}

/* A send message into the target's receive queue (its SGEs are ODP). */
static int gen_send(struct target *t)
{
	uint8_t base = t->kind == T_UC ? OP_UC : t->kind == T_UD ? OP_UD : OP_RC;
	enum cls c = t->kind == T_UC ? C_UC : t->kind == T_UD ? C_UD : C_RC_SEND;
	uint32_t len = (uint32_t)below(pm(700) ? mtu + 1 : 4 * mtu);
	uint32_t npk = len ? (len + mtu - 1) / mtu : 1, left = len;
	struct pkt p;

	if (t->kind == T_UD) {
		pkt_init(&p, OP_UD | (pm(500) ? OP_SEND_ONLY : OP_SEND_ONLY_IMM), t->qp->qp_num,
			 (uint32_t)rnd());
		p.qkey = pm(950) ? ODP_QKEY : (uint32_t)rnd();
		p.sqp = (uint32_t)rnd();
		p.paylen = len > mtu ? mtu : len;
		return emit(t, &p, c, 0);
	}
	for (uint32_t i = 0; i < npk; i++) {
		bool last = left <= mtu;
		uint8_t op;

		if (i == 0)
			op = last ? (pm(300) ? OP_SEND_ONLY_IMM : OP_SEND_ONLY) : OP_SEND_FIRST;
		else
			op = last ? OP_SEND_LAST : OP_SEND_MIDDLE;
		if (base == OP_RC && last && pm(100))
			op = i ? OP_SEND_LAST_INV : OP_SEND_ONLY_INV;
		pkt_init(&p, base | op, t->qp->qp_num, i ? t->epsn : req_psn(t));
		p.imm = (uint32_t)rnd();
		p.ieth = pm(500) ? mrs[below(NMR)].rkey : (uint32_t)rnd();
		p.paylen = last ? left : mtu;
		if (emit(t, &p, c, 1))
			return -1;
		left -= last ? left : mtu;
	}
	return 0;
}

/*
 * Responses to a completer target's outstanding reads and atomics.  Good
 * ones answer the requests in order, whole, unmutated, with ACK syndromes,
 * so the completer copies their payload into the requests' (ODP) buffers;
 * bad ones answer any request, out of order, with any syndrome, mutated.
 */
static int gen_response(struct target *t, bool bad)
{
	enum cls c = bad ? C_RC_RESP_BAD : C_RC_RESP;
	struct pkt p;
	int k;

	if (!t->nreq || (!bad && t->next_resp >= t->nreq)) {
		pkt_init(&p, OP_RC | OP_ACK, t->qp->qp_num, (uint32_t)rnd());
		p.clean = !bad;
		if (bad)
			mutate(&p);
		return send_pkt(&p, c);
	}
	k = bad ? (int)below((uint64_t)t->nreq) : t->next_resp++;
	if (t->req[k].atomic || (bad && pm(50))) {
		pkt_init(&p, OP_RC | OP_ATOMIC_ACK, t->qp->qp_num, t->req[k].psn);
		p.orig = rnd();
		p.clean = !bad;
		if (bad)
			mutate(&p);
		return send_pkt(&p, c);
	}
	for (uint32_t i = 0, left = t->req[k].len; i < t->req[k].pkts; i++) {
		bool last = left <= mtu;
		uint8_t op = t->req[k].pkts == 1 ? OP_READ_RESP_ONLY
			     : i == 0		 ? OP_READ_RESP_FIRST
			     : last		 ? OP_READ_RESP_LAST
						 : OP_READ_RESP_MIDDLE;

		if (bad && pm(30))
			op = (uint8_t)(OP_READ_RESP_FIRST + below(6));
		pkt_init(&p, OP_RC | op, t->qp->qp_num, (t->req[k].psn + i) & 0xffffff);
		if (bad && pm(50))
			p.aeth = (uint32_t)rnd(); /* NAKs, RNR, reserved syndromes */
		p.paylen = last ? left : mtu;
		p.clean = !bad;
		if (bad)
			mutate(&p);
		if (send_pkt(&p, c))
			return -1;
		left -= last ? left : mtu;
	}
	return 0;
}

/* Anything: a random opcode byte, headers and QPN, still a good ICRC. */
static int gen_junk(void)
{
	struct target *t = &tg[below((uint64_t)ntg)];
	struct tmr *m = pick_mr();

	/* a response opcode to a completer target is a bad response */
	while (t->kind == T_COMP && (opt.skip & 1u << C_RC_RESP_BAD))
		t = &tg[below((uint64_t)ntg)];
	struct pkt p;
	uint32_t qpn = pm(700) ? t->qp->qp_num : pm(500) ? (uint32_t)below(1 << 24) : sink->qp_num;
	uint8_t op = (uint8_t)rnd();

	if (pm(500)) /* an opcode of the target's transport, and maybe a defined one */
		op = (uint8_t)((t->kind == T_UC	  ? OP_UC
				: t->kind == T_UD ? OP_UD
						  : OP_RC) |
			       below(0x20));
	pkt_init(&p, op, qpn, pm(500) ? t->epsn : (uint32_t)rnd());
	if (qpn == 1)
		p.qpn = 0; /* never the GSI QP: MADs are not ours to fuzz */
	p.dlen = pick_len(m);
	/* as far as a message of dlen may write, later packets included */
	p.va = pick_va(m, p.dlen > MAX_FRAME ? p.dlen : MAX_FRAME, true);
	p.rkey = pick_rkey(m);
	p.swap_add = rnd();
	p.aeth = (uint32_t)rnd();
	p.feth = (uint32_t)rnd();
	p.qkey = pm(500) ? ODP_QKEY : (uint32_t)rnd();
	p.paylen = (uint32_t)below(pm(500) ? 64 : 1400);
	if (pm(300))
		p.hdrs = (unsigned)below(1 << 9);
	mutate(&p);
	return send_pkt(&p, C_JUNK);
}

/* The classes' weights, per mille of messages. */
static const unsigned mix[NCLS] = {
	[C_RC_WRITE] = 240, [C_RC_READ] = 140, [C_RC_ATOMIC] = 100, [C_RC_ATOMIC_WRITE] = 50,
	[C_RC_FLUSH] = 50,  [C_RC_SEND] = 100, [C_RC_RESP] = 60,    [C_RC_RESP_BAD] = 40,
	[C_UC] = 80,	    [C_UD] = 60,       [C_WRAP] = 20,	    [C_JUNK] = 50,
	[C_RC_WRITE_ZERO] = 10,
};

/* One message (one or more packets) of a class drawn by weight. */
static int gen_one(void)
{
	struct target *rc = &tg[below(N_RC)], *comp = &tg[N_RC + N_UC + 1 + below(N_COMP)];
	unsigned r;
	int c;

	do {
		r = (unsigned)below(1000);
		for (c = 0; c < NCLS - 1 && r >= mix[c]; c++)
			r -= mix[c];
	} while (opt.skip & 1u << c);
	switch (c) {
	case C_RC_WRITE:
		return gen_write(rc, false);
	case C_RC_READ:
		return gen_read(rc, false);
	case C_RC_ATOMIC:
		return gen_atomic(rc, false);
	case C_RC_ATOMIC_WRITE:
		return gen_atomic_write(rc, false);
	case C_RC_FLUSH:
		return gen_flush(rc, false);
	case C_RC_SEND:
		return gen_send(rc);
	case C_RC_RESP:
	case C_RC_RESP_BAD:
		return gen_response(comp, c == C_RC_RESP_BAD);
	case C_UC: {
		struct target *t = &tg[N_RC + below(N_UC)];

		return pm(600) ? gen_write(t, false) : gen_send(t);
	}
	case C_UD:
		return gen_send(&tg[N_RC + N_UC]);
	case C_WRAP:
		switch (below(5)) {
		case 0:
			return gen_write(rc, true);
		case 1:
			return gen_read(rc, true);
		case 2:
			return gen_atomic(rc, true);
		case 3:
			return gen_atomic_write(rc, true);
		default:
			return gen_flush(rc, true);
		}
	case C_JUNK:
		return gen_junk();
	default:
		return gen_write_zero_len(rc);
	}
}

/* ---- checks ---- */

static struct {
	uint8_t *src, *odp, *pin, *back;
	struct ibv_mr *msrc, *modp, *mpin, *mback;
} hc;

static int health_setup(void)
{
	hc.src = odp_map_fresh(ODP_BUF_LEN);
	hc.odp = odp_map_fresh(ODP_BUF_LEN);
	hc.pin = odp_map_fresh(ODP_BUF_LEN);
	hc.back = odp_map_fresh(ODP_BUF_LEN);
	if (!hc.src || !hc.odp || !hc.pin || !hc.back)
		return -1;
	hc.msrc = odp_reg_pinned(dev.pd, hc.src, ODP_BUF_LEN, ODP_ACCESS_ALL);
	hc.modp = odp_reg(dev.pd, hc.odp, ODP_BUF_LEN, ODP_ACCESS_ALL);
	hc.mpin = odp_reg_pinned(dev.pd, hc.pin, ODP_BUF_LEN, ODP_ACCESS_ALL);
	hc.mback = odp_reg_pinned(dev.pd, hc.back, ODP_BUF_LEN, ODP_ACCESS_ALL);
	return hc.msrc && hc.modp && hc.mpin && hc.mback ? 0 : -1;
}

/* Write src -> dst, read dst -> back, both byte-exact; 0 or -1. */
static int health_rw(struct odp_rc_pair *pr, uint8_t *dst, struct ibv_mr *mdst, uint64_t seed,
		     const char *what)
{
	odp_fill(hc.src, ODP_BUF_LEN, seed, 0);
	memset(hc.back, 0, ODP_BUF_LEN);
	if (odp_rdma_sync(pr, IBV_WR_RDMA_WRITE, hc.src + ODP_SRC_OFF, ODP_MSG_LEN, hc.msrc->lkey,
			  (uintptr_t)dst + ODP_DST_OFF, mdst->rkey)) {
		odp_log("health: RDMA WRITE into the %s MR failed", what);
		return -1;
	}
	if (odp_check(dst + ODP_DST_OFF, ODP_MSG_LEN, seed, ODP_SRC_OFF, what) >= 0)
		return -1;
	if (odp_rdma_sync(pr, IBV_WR_RDMA_READ, hc.back + ODP_SRC_OFF, ODP_MSG_LEN, hc.mback->lkey,
			  (uintptr_t)dst + ODP_DST_OFF, mdst->rkey)) {
		odp_log("health: RDMA READ from the %s MR failed", what);
		return -1;
	}
	return odp_check(hc.back + ODP_SRC_OFF, ODP_MSG_LEN, seed, ODP_SRC_OFF, what) >= 0 ? -1 : 0;
}

/* Memory no valid packet may write is as it was filled. */
static int memory_check(void)
{
	int bad = 0;

	for (int i = 0; i < nguards; i++)
		if (odp_check(guards[i].addr, guards[i].len, guards[i].seed, 0, guards[i].name) >=
		    0) {
			odp_log("guard %d next to the %s MR was written", i, guards[i].name);
			bad++;
		}
	for (int i = 0; i < nlocked; i++) {
		struct region *r = &locked[i];

		if (r->prot == PROT_NONE && mprotect(r->addr, r->len, PROT_READ))
			return -1;
		if (odp_check(r->addr, r->len, r->seed, 0, r->name) >= 0) {
			odp_log("the %s was written", r->name);
			bad++;
		}
		if (r->prot == PROT_NONE && mprotect(r->addr, r->len, PROT_NONE))
			return -1;
	}
	return bad ? -1 : 0;
}

/*
 * A QP the fuzz left in any state, reset and connected to a fresh QP, must
 * work like a new one: RC responder target tg[n] answers a fresh
 * requester, then goes back to the sink.
 */
static int health_recycled(int n, uint64_t seed)
{
	struct target *t = &tg[n], h = { .kind = T_RC };
	struct odp_rc_pair pr = { 0 };
	int ret = -1;

	h.cq = ibv_create_cq(dev.ctx, 64, NULL, NULL, 0);
	h.qp = h.cq ? make_qp(IBV_QPT_RC, h.cq) : NULL;
	if (!h.qp)
		goto out;
	connect_to = h.qp->qp_num;
	if (target_reset(t))
		goto out;
	connect_to = t->qp->qp_num;
	if (qp_connect(&h, 0, t->epsn))
		goto out;
	pr.a = h.qp;
	pr.cq_a = h.cq;
	pr.b = t->qp;
	pr.cq_b = t->cq;
	ret = health_rw(&pr, hc.odp, hc.modp, seed, "health ODP via a reset target QP");
	if (ret)
		odp_log("a target QP reset after fuzzing does not work like a new one");
out:
	connect_to = sink->qp_num;
	if (target_reset(t))
		ret = -1;
	if (h.qp)
		ibv_destroy_qp(h.qp);
	if (h.cq)
		ibv_destroy_cq(h.cq);
	return ret;
}

static int health_check(const char *when)
{
	struct odp_rc_pair pr;
	struct ibv_port_attr pa;
	uint64_t seed = rnd();
	int ret;

	st.checks++;
	if (ibv_query_port(dev.ctx, dev.port, &pa) || pa.state != IBV_PORT_ACTIVE) {
		odp_log("health (%s): port %u of %s is not active", when, dev.port, dev.name);
		return -1;
	}
	if (odp_rc_pair_create(&dev, &pr, NULL)) {
		odp_log("health (%s): cannot connect a fresh RC pair", when);
		return -1;
	}
	/* drop the mirror, so the check faults the ODP pages in again */
	madvise(hc.odp, ODP_BUF_LEN, MADV_DONTNEED);
	ret = health_rw(&pr, hc.odp, hc.modp, seed, "health ODP");
	if (!ret)
		ret = health_rw(&pr, hc.pin, hc.mpin, seed + 1, "health pinned");
	odp_rc_pair_destroy(&pr);
	if (!ret && !opt.no_reuse_check)
		ret = health_recycled((int)(st.checks % N_RC), seed + 2);
	if (ret)
		odp_log("health (%s): the device no longer moves data right", when);
	if (memory_check()) {
		odp_log("health (%s): memory outside what packets may write changed", when);
		ret = -1;
	}
	if (opt.verbose)
		odp_log("health (%s): %s after %" PRIu64 " packets", when, ret ? "FAILED" : "ok",
			st.total);
	return ret;
}

/*
 * The injection works only if the packets pass rxe's ICRC check: ACKs to a
 * completer target with a good ICRC must show in rcvd_pkts, ones with a
 * bad ICRC must not.
 */
static int calibrate(void)
{
	uint64_t c0, c1, c2;
	struct pkt p;
	unsigned save = opt.bad_icrc_pm;

	opt.bad_icrc_pm = 0;
	if (odp_counter_read(&dev, "rcvd_pkts", &c0))
		return -1;
	for (int i = 0; i < 32; i++) {
		pkt_init(&p, OP_RC | OP_ACK, tg[N_RC + N_UC + 1].qp->qp_num, (uint32_t)rnd());
		if (send_pkt(&p, C_RC_RESP))
			return -1;
	}
	usleep(50000);
	if (odp_counter_read(&dev, "rcvd_pkts", &c1))
		return -1;
	for (int i = 0; i < 32; i++) {
		pkt_init(&p, OP_RC | OP_ACK, tg[N_RC + N_UC + 1].qp->qp_num, (uint32_t)rnd());
		p.bad_icrc = true;
		if (send_pkt(&p, C_RC_RESP))
			return -1;
	}
	usleep(50000);
	if (odp_counter_read(&dev, "rcvd_pkts", &c2))
		return -1;
	opt.bad_icrc_pm = save;
	printf("calibration: 32 packets with a good ICRC -> rcvd_pkts +%" PRIu64
	       ", 32 with a bad one -> +%" PRIu64 "\n",
	       c1 - c0, c2 - c1);
	if (c1 - c0 != 32 || c2 != c1) {
		odp_log("injected packets do not reach rxe's transport layer as they should "
			"(ICRC, addresses, accept_local?)");
		return -1;
	}
	return 0;
}

/*
 * A request that holds a responder resource (read, atomic, atomic write,
 * flush) must be answered again when it comes twice: its response was
 * lost and the requester retries.  A responder that drops the duplicate
 * leaves the requester retrying until its retry count runs out, forever
 * with a count of 7 (without patch 0014, every flush's).  Each request
 * and its duplicate go to a fresh RC QP whose responses loop back to a
 * QP that ignores them; each must make rxe send exactly one packet.
 * Runs before the targets exist, while nothing else sends.
 */

/* Sends p and waits for rxe's answer: 0 when it sent exactly one packet. */
static int replay_answers(struct target *t, struct pkt *p, const char *what)
{
	uint64_t c0, c1 = 0;

	if (odp_counter_read(&dev, "sent_pkts", &c0) || send_pkt(p, C_RC_RESP))
		return -1;
	for (int ms = 0; ms < 1000; ms += 5) {
		usleep(5000);
		if (odp_counter_read(&dev, "sent_pkts", &c1))
			return -1;
		if (c1 != c0)
			break;
	}
	usleep(20000);
	if (odp_counter_read(&dev, "sent_pkts", &c1))
		return -1;
	if (c1 - c0 != 1) {
		odp_log("replay: %s (PSN %u) to QP %u: rxe sent %" PRIu64
			" packets, the answer is one",
			what, p->psn, t->qp->qp_num, c1 - c0);
		return -1;
	}
	return 0;
}

/* Return: 0; 1 a duplicate was not answered; 2 the setup failed. */
static int replay_check(void)
{
	static const uint8_t ops[] = { OP_READ_REQ, OP_FETCH_ADD, OP_ATOMIC_WRITE, OP_FLUSH };
	static const char *const names[] = { "read", "fetch-and-add", "atomic write", "flush" };
	const struct tmr *m = &mrs[M_EXPL];
	struct target t = { .kind = T_RC };
	struct ibv_qp *quiet;
	struct ibv_cq *cq;
	char what[64];
	int ret = 2;

	if (!m->flush) {
		odp_log("replay: the explicit ODP MR has no flush access");
		return 2;
	}
	cq = ibv_create_cq(dev.ctx, 16, NULL, NULL, 0);
	quiet = cq ? make_qp(IBV_QPT_RC, cq) : NULL;
	t.cq = cq;
	t.qp = quiet ? make_qp(IBV_QPT_RC, cq) : NULL;
	if (!t.qp || qp_to_init(quiet, IBV_QPT_RC))
		goto out;
	connect_to = quiet->qp_num;
	if (qp_connect(&t, 1 + (uint32_t)below(0xfff000), 0))
		goto out;
	for (unsigned i = 0; i < sizeof(ops); i++) {
		struct pkt p;

		pkt_init(&p, OP_RC | ops[i], t.qp->qp_num, t.epsn);
		p.clean = true;
		p.ackreq = true;
		p.va = m->iova + 64 * i;
		p.rkey = m->rkey;
		p.dlen = 8;
		p.swap_add = 1;
		p.paylen = ops[i] == OP_ATOMIC_WRITE ? 8 : 0;
		p.feth = 1; /* global visibility, of the range */
		/* unanswered, the first says the packets do not get through */
		if (replay_answers(&t, &p, names[i]))
			goto out;
		snprintf(what, sizeof(what), "the same %s again", names[i]);
		if (replay_answers(&t, &p, what)) {
			ret = 1;
			goto out;
		}
		t.epsn = (t.epsn + 1) & 0xffffff;
	}
	printf("replay: read, fetch-and-add, atomic write and flush, each answered once "
	       "and once more for its duplicate\n");
	ret = 0;
out:
	if (ret == 1)
		odp_log("replay: a duplicate request was not answered as the first was");
	if (t.qp)
		ibv_destroy_qp(t.qp);
	if (quiet)
		ibv_destroy_qp(quiet);
	if (cq)
		ibv_destroy_cq(cq);
	return ret;
}

/*
 * The requester's side of a lost response: a request that is not answered
 * goes out again as it went out first.  A QP of rxe0 talks to a peer that
 * never answers (an address behind the veth peer, its neighbour entry
 * static); each request's first transmission and its retry, caught on the
 * veth peer, must carry the same address, rkey and length.  Without patch
 * 0015 a retried FLUSH or ATOMIC WRITE carries address 0.
 */
#define PHANTOM_QPN 0x4242

struct sent_req {
	uint8_t opcode;
	uint32_t psn, rkey, len;
	uint64_t va;
};

/* Next RC request to PHANTOM_QPN on the capture socket, within ms. */
static int catch_req(int fd, uint32_t to_ip, struct sent_req *r, int ms)
{
	uint64_t end = odp_now_ns() + (uint64_t)ms * 1000000;
	uint8_t f[2048];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - odp_now_ns()) / 1000000;
		const uint8_t *ip = f + 14, *bth, *x;
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = recv(fd, f, sizeof(f), 0);
		if (n < 14 + 20 + 8 + 12 + 16 || f[12] != 0x08 || f[13] != 0 || ip[9] != 17 ||
		    memcmp(ip + 16, &to_ip, 4))
			continue;
		bth = ip + (ip[0] & 0xf) * 4 + 8;
		if (bth + 12 + 4 + 16 > f + n || (bth[-6] << 8 | bth[-5]) != ROCE_PORT ||
		    (uint32_t)(bth[5] << 16 | bth[6] << 8 | bth[7]) != PHANTOM_QPN)
			continue;
		r->opcode = bth[0];
		r->psn = (uint32_t)(bth[9] << 16 | bth[10] << 8 | bth[11]);
		x = bth + 12 + (r->opcode == (OP_RC | OP_FLUSH) ? 4 : 0);
		r->va = 0;
		for (int i = 0; i < 8; i++)
			r->va = r->va << 8 | x[i];
		r->rkey = (uint32_t)x[8] << 24 | x[9] << 16 | x[10] << 8 | x[11];
		r->len = (uint32_t)x[12] << 24 | x[13] << 16 | x[14] << 8 | x[15];
		return 0;
	}
}

/* A QP connected to PHANTOM_QPN at the IPv4 address ip, one retry. */
static struct ibv_qp *phantom_qp(struct ibv_cq *cq, uint32_t ip)
{
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = IBV_QPT_RC,
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 4, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1 },
		.pd = dev.pd,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_READ |
				  IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD | IBV_QP_EX_WITH_FLUSH |
				  IBV_QP_EX_WITH_ATOMIC_WRITE,
	};
	struct ibv_qp_attr a = { 0 };
	struct ibv_qp *qp = ibv_create_qp_ex(dev.ctx, &ia);

	if (!qp) {
		odp_log("retry: ibv_create_qp_ex: %s", strerror(errno));
		return NULL;
	}
	if (qp_to_init(qp, IBV_QPT_RC))
		goto err;
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = dev.port_attr.active_mtu;
	a.dest_qp_num = PHANTOM_QPN;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid.raw[10] = a.ah_attr.grh.dgid.raw[11] = 0xff;
	memcpy(a.ah_attr.grh.dgid.raw + 12, &ip, 4);
	a.ah_attr.grh.sgid_index = (uint8_t)dev.gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = dev.port;
	if (modify(qp, &a,
		   IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			   IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER,
		   "RTR"))
		goto err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = (uint32_t)below(1 << 24);
	a.timeout = 12; /* ~17 ms */
	a.retry_cnt = 1;
	a.max_rd_atomic = 1;
	if (modify(qp, &a,
		   IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			   IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC,
		   "RTS"))
		goto err;
	return qp;
err:
	ibv_destroy_qp(qp);
	return NULL;
}

/* Posts request i of retry_check() on qp. */
static int post_phantom(struct ibv_qp *qp, int i, uint64_t va, uint32_t rkey)
{
	struct ibv_qp_ex *qx = ibv_qp_to_qp_ex(qp);
	const struct tmr *lm = &mrs[M_PIN];
	uint64_t val = 0x1122334455667788ull;

	(void)val;

	ibv_wr_start(qx);
	qx->wr_id = 1;
	qx->wr_flags = IBV_SEND_SIGNALED;
	switch (i) {
	case 0:
		ibv_wr_rdma_write(qx, rkey, va);
		ibv_wr_set_sge(qx, lm->lkey, (uintptr_t)lm->addr, 64);
		break;
	case 1:
		ibv_wr_rdma_read(qx, rkey, va);
		ibv_wr_set_sge(qx, lm->lkey, (uintptr_t)lm->addr, 64);
		break;
	case 2:
		ibv_wr_atomic_fetch_add(qx, rkey, va, 1);
		ibv_wr_set_sge(qx, lm->lkey, (uintptr_t)lm->addr, 8);
		break;
#if defined(ODP_HAVE_WR_ATOMIC_WRITE) && defined(ODP_HAVE_WR_FLUSH)
	case 3:
		ibv_wr_atomic_write(qx, rkey, va, &val);
		break;
	case 4:
		ibv_wr_flush(qx, rkey, va, 64, IBV_FLUSH_GLOBAL, IBV_FLUSH_RANGE);
		break;
#endif
	default:
		ibv_wr_abort(qx);
		return -1;
	}
	return ibv_wr_complete(qx);
}

/* Request i, unanswered: 0 its retry is the same; 1 it is not; 2 setup. */
static int retry_one(int fd, struct ibv_cq *cq, uint32_t ip, int i, const char *name)
{
	uint64_t va = 0x7f0000001000ull + 0x1000ull * (uint64_t)i;
	uint32_t rkey = 0x1234500u + (uint32_t)i;
	struct ibv_qp *qp = phantom_qp(cq, ip);
	struct sent_req r0, r1;
	int ret = 2;

	if (!qp || post_phantom(qp, i, va, rkey))
		goto out;
	if (catch_req(fd, ip, &r0, 2000)) {
		odp_log("retry: the %s never went out", name);
		goto out;
	}
	ret = 1;
	if (catch_req(fd, ip, &r1, 2000) || r1.psn != r0.psn || r1.opcode != r0.opcode)
		odp_log("retry: the %s (PSN %u) was not sent again when it got no answer", name,
			r0.psn);
	else if (r0.va != va || r0.rkey != rkey)
		odp_log("retry: the %s went out with va %#" PRIx64 " rkey %#x, posted with va %#" PRIx64
			" rkey %#x",
			name, r0.va, r0.rkey, va, rkey);
	else if (r1.va != r0.va || r1.rkey != r0.rkey || r1.len != r0.len)
		odp_log("retry: the %s went out with va %#" PRIx64 " rkey %#x len %u, its retry with "
			"va %#" PRIx64 " rkey %#x len %u",
			name, r0.va, r0.rkey, r0.len, r1.va, r1.rkey, r1.len);
	else
		ret = 0;
out:
	if (qp)
		ibv_destroy_qp(qp);
	return ret;
}

static int retry_check(void)
{
	static const char *const names[] = { "RDMA write", "RDMA read", "fetch-and-add",
					     "atomic write", "flush" };
#if defined(ODP_HAVE_WR_ATOMIC_WRITE) && defined(ODP_HAVE_WR_FLUSH)
	const int nops = 5;
#else
	const int nops = 3; /* this libibverbs posts neither */
#endif
	uint32_t mine = ntohl(wire.ip), last = (mine & 0xff) == 0xfe ? 0xfd : 0xfe;
	uint32_t ip = htonl((mine & ~0xffu) | last); /* in rxe's /24, not rxe's */
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP) };
	char cmd[256], ips[INET_ADDRSTRLEN];
	struct ibv_cq *cq = NULL;
	int fd, ret = 2;

	inet_ntop(AF_INET, &ip, ips, sizeof(ips));
	snprintf(cmd, sizeof(cmd),
		 "ip neigh replace %s lladdr %02x:%02x:%02x:%02x:%02x:%02x dev %s nud permanent",
		 ips, wire.src_mac[0], wire.src_mac[1], wire.src_mac[2], wire.src_mac[3],
		 wire.src_mac[4], wire.src_mac[5], wire.ndev);
	if (system(cmd)) {
		odp_log("retry: '%s' failed", cmd);
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
	sll.sll_ifindex = wire.ifindex;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		odp_log("retry: capture socket on the veth peer: %s", strerror(errno));
		goto out;
	}
	cq = ibv_create_cq(dev.ctx, 8, NULL, NULL, 0);
	if (!cq)
		goto out;
	for (int i = 0; i < nops; i++) {
		ret = retry_one(fd, cq, ip, i, names[i]);
		if (ret)
			goto out;
	}
	printf("retry: write, read, fetch-and-add%s, each sent again as it was first when %s "
	       "did not answer\n",
	       nops == 5 ? ", atomic write and flush" : " (no ibv_wr_flush or ibv_wr_atomic_write)",
	       ips);
	ret = 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	if (fd >= 0)
		close(fd);
	snprintf(cmd, sizeof(cmd), "ip neigh del %s dev %s", ips, wire.ndev);
	if (system(cmd))
		odp_log("retry: '%s' failed", cmd);
	return ret;
}

/* ---- the wire: AF_PACKET on the veth peer of rxe0's netdev ---- */

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	char *ok;

	if (!f)
		return -1;
	ok = fgets(buf, (int)len, f);
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int write_str(const char *path, const char *s)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -1;
	ok = fputs(s, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int read_mac(const char *ifn, uint8_t *mac)
{
	char path[128], s[64];

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifn);
	if (read_line(path, s, sizeof(s)) ||
	    sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
		   &mac[5]) != 6) {
		odp_log("no MAC address for %s", ifn);
		return -1;
	}
	return 0;
}

static int wire_open(void)
{
	char path[160], ndev[IF_NAMESIZE + 1], peer[IF_NAMESIZE + 1], s[32];
	struct sockaddr_ll sll = { 0 };
	int one = 1;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%u/gid_attrs/ndevs/%d",
		 dev.name, dev.port, dev.gid_index);
	if (read_line(path, ndev, sizeof(ndev))) {
		odp_log("no netdev for %s GID %d", dev.name, dev.gid_index);
		return -1;
	}
	if (opt.ifname) {
		snprintf(peer, sizeof(peer), "%s", opt.ifname);
	} else {
		snprintf(path, sizeof(path), "/sys/class/net/%s/iflink", ndev);
		if (read_line(path, s, sizeof(s)) || !if_indextoname((unsigned)atoi(s), peer) ||
		    !strcmp(peer, ndev)) {
			odp_log("%s has no veth peer to send from; give --ifname", ndev);
			return -1;
		}
	}
	if (read_mac(ndev, wire.dst_mac) || read_mac(peer, wire.src_mac))
		return -1;
	snprintf(wire.ndev, sizeof(wire.ndev), "%s", ndev);
	memcpy(&wire.ip, dev.gid.raw + 12, 4);
	/* rxe's QPs here talk to their own address: let such packets in */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/accept_local", ndev);
	if (write_str(path, "1"))
		odp_log("cannot set %s (%s)", path, strerror(errno));
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ndev);
	write_str(path, "0");

	wire.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (wire.fd < 0) {
		odp_log("AF_PACKET socket: %s (needs CAP_NET_RAW)", strerror(errno));
		return -1;
	}
	wire.ifindex = (int)if_nametoindex(peer);
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = wire.ifindex;
	sll.sll_protocol = 0; /* send only */
	if (bind(wire.fd, (struct sockaddr *)&sll, sizeof(sll))) {
		odp_log("bind to %s: %s", peer, strerror(errno));
		return -1;
	}
	setsockopt(wire.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	wire.ip_id = (uint16_t)rnd();
	printf("wire: %s -> %s (%s's netdev), %s\n", peer, ndev, dev.name,
	       inet_ntoa(*(struct in_addr *)&wire.ip));
	return 0;
}

/* ---- main ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pkt_fuzz [options]\n"
		"Sends malformed RoCEv2 packets with correct ICRCs to rxe0's QPs and MRs "
		"(explicit,\n"
		"implicit, pinned; ODP mostly), from the veth peer of its netdev (root needed),\n"
		"and checks that the device still works and that no memory outside what a valid\n"
		"packet may write changed.  Exit: 0 ok, 1 a check failed, 2 setup failed.\n"
		"  --seed N          random seed (default: from the clock; printed)\n"
		"  --packets N       stop after N packets (default %" PRIu64 "; 0 = no limit)\n"
		"  --seconds S       stop after S seconds (default %g; 0 = no limit)\n"
		"  --no-wrap         leave out the class whose iova + length wraps past 2^64\n"
		"  --skip LIST       leave out these classes (comma-separated names, as the\n"
		"                    report prints them; e.g. wrap,rc_response_bad)\n"
		"  --only LIST       send only these classes\n"
		"  --check-every N   a health check every N packets (default %" PRIu64 ")\n"
		"  --bad-icrc PM     per mille of packets with a wrong ICRC (default %u)\n"
		"  --explicit-mib N  size of the explicit ODP MR (default %" PRIu64 ")\n"
		"  --ifname IF       send from IF (default: the veth peer of the GID's netdev)\n"
		"  --no-reuse-check  leave out the check that a fuzzed RC target QP, reset and\n"
		"                    connected to a fresh QP, works like a new one\n"
		"  --verbose         log each health check\n"
		"  --trace FILE      write every packet to FILE (time as in the kernel log,\n"
		"                    class, fields): to match a splat with what caused it\n"
		"Environment: RXE_DEV, RXE_GID_INDEX (as the ODP tests).\n",
		opt.packets, opt.seconds, opt.check_every, opt.bad_icrc_pm, opt.expl_mib);
}

/* The bit set of the comma-separated class names in list; exits on others. */
static unsigned cls_parse(char *list)
{
	unsigned set = 0;

	for (char *sv, *n = strtok_r(list, ",", &sv); n; n = strtok_r(NULL, ",", &sv)) {
		int i = 0;

		while (i < NCLS && strcmp(n, cls_name[i]))
			i++;
		if (i == NCLS) {
			fprintf(stderr, "pkt_fuzz: no class %s\n", n);
			exit(2);
		}
		set |= 1u << i;
	}
	return set;
}

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "packets", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "no-wrap", no_argument, NULL, 'W' },
		{ "skip", required_argument, NULL, 'S' },
		{ "only", required_argument, NULL, 'O' },
		{ "check-every", required_argument, NULL, 'c' },
		{ "bad-icrc", required_argument, NULL, 'b' },
		{ "explicit-mib", required_argument, NULL, 'm' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "trace", required_argument, NULL, 'T' },
		{ "no-reuse-check", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool seeded = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'n':
			opt.packets = strtoull(optarg, NULL, 0);
			break;
		case 't':
			opt.seconds = atof(optarg);
			break;
		case 'W':
			opt.skip |= 1u << C_WRAP;
			break;
		case 'S':
			opt.skip |= cls_parse(optarg);
			break;
		case 'O':
			opt.skip |= ((1u << NCLS) - 1) & ~cls_parse(optarg);
			break;
		case 'c':
			opt.check_every = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			opt.bad_icrc_pm = (unsigned)atoi(optarg);
			break;
		case 'm':
			opt.expl_mib = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			opt.ifname = optarg;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'R':
			opt.no_reuse_check = true;
			break;
		case 'T':
			opt.trace = fopen(optarg, "we");
			if (!opt.trace) {
				fprintf(stderr, "pkt_fuzz: %s: %s\n", optarg, strerror(errno));
				exit(2);
			}
			setvbuf(opt.trace, NULL, _IOFBF, 1 << 20);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc || opt.expl_mib < 1 || !opt.check_every || opt.skip == (1u << NCLS) - 1) {
		usage(stderr);
		exit(2);
	}
	if (!seeded)
		opt.seed = odp_now_ns() ^ ((uint64_t)getpid() << 32);
	return 0;
}

/* rxe's counters that say how far the packets got */
static const char *const rxe_cnt[] = { "rcvd_pkts",	     "duplicate_request",
				       "out_of_seq_request", "rdma_recvs",
				       "odp_faults",	     "odp_pages_faulted",
				       "odp_invalidations" };
#define NCNT (sizeof(rxe_cnt) / sizeof(rxe_cnt[0]))

static void counters_read(uint64_t *v)
{
	for (unsigned i = 0; i < NCNT; i++)
		if (odp_counter_read(&dev, rxe_cnt[i], &v[i]))
			v[i] = 0;
}

static void report(double secs, const uint64_t *c0, const uint64_t *c1)
{
	printf("packets sent per class:\n");
	for (int i = 0; i < NCLS; i++)
		printf("  %-16s %10" PRIu64 "\n", cls_name[i], st.sent[i]);
	printf("  %-16s %10" PRIu64 " (%.0f packets/s over %.1f s)\n", "total", st.total,
	       secs > 0 ? (double)st.total / secs : 0.0, secs);
	printf("  of them: %" PRIu64 " with a wrong ICRC, %" PRIu64 " mutated (pad, cut, "
	       "payload length, headers, version, pkey)\n",
	       st.bad_icrc, st.mutated);
	printf("target QPs reset: %" PRIu64 " (%" PRIu64 " retried); completer targets: %" PRIu64
	       " completions ok, %" PRIu64 " with an error; health checks: %" PRIu64 "\n",
	       st.resets, st.reset_retries, st.comp_ok, st.comp_err, st.checks);
	printf("rxe counters over the run (health checks included):");
	for (unsigned i = 0; i < NCNT; i++)
		printf(" %s +%" PRIu64, rxe_cnt[i], c1[i] - c0[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	uint64_t t0, deadline, next_check;
	uint64_t msgs = 0, c0[NCNT], c1[NCNT];
	int ret = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv);
	printf("pkt_fuzz: seed %" PRIu64 "\n", opt.seed);
	if (opt.skip) {
		printf("classes left out:");
		for (int i = 0; i < NCLS; i++)
			if (opt.skip & 1u << i)
				printf(" %s", cls_name[i]);
		printf("\n");
	}
	rng_state = opt.seed;
	crc_init();
	if (crc_self_test())
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	odp_no_numa_balancing();
	if (odp_dev_open(&dev))
		return 2;
	mtu = (uint32_t)odp_path_mtu_bytes(&dev);
	rd_atom = dev.attr.orig_attr.max_qp_rd_atom;
	rd_atom = rd_atom > 16 ? 16 : rd_atom < 1 ? 1 : rd_atom;
	if (reg_mrs(&dev) || wire_open())
		return 2;
	ret = replay_check();
	if (!ret)
		ret = retry_check();
	if (ret)
		return ret;
	if (targets_create() || health_setup())
		return 2;
	printf("targets: %d MRs (explicit ODP %" PRIu64 " MiB, low-iova ODP %s, implicit ODP %s, "
	       "pinned), %d RC + %d UC + 1 UD responder QPs, %d RC completer QPs, path MTU %u\n",
	       nmrs, opt.expl_mib, mrs[M_LOW].mr ? "yes" : "no", mrs[M_IMPL].mr ? "yes" : "no",
	       N_RC, N_UC, N_COMP, mtu);
	if (health_check("before"))
		return 2;
	if (calibrate())
		return 2;
	memset(st.sent, 0, sizeof(st.sent));
	st.total = st.bad_icrc = 0;

	counters_read(c0);
	t0 = odp_now_ns();
	deadline = opt.seconds > 0 ? t0 + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
	next_check = opt.check_every;
	while (!stop && (!opt.packets || st.total < opt.packets) && odp_now_ns() < deadline) {
		if (gen_one()) {
			ret = 1;
			break;
		}
		/* learn what the targets expect now, reset the broken ones */
		if (++msgs % 8 == 0) {
			struct target *t = &tg[msgs / 8 % (uint64_t)ntg];

			if (target_sync(t)) {
				ret = 1;
				break;
			}
		}
		if (st.total >= next_check) {
			next_check = st.total + opt.check_every;
			if (health_check("during")) {
				ret = 1;
				break;
			}
		}
	}
	{
		double secs = (double)(odp_now_ns() - t0) / 1e9;

		usleep(200000); /* let rxe work off what is queued */
		counters_read(c1);
		if (health_check("after"))
			ret = 1;
		report(secs, c0, c1);
	}
	printf("pkt_fuzz: seed %" PRIu64 ": %s\n", opt.seed, ret ? "FAILED" : "ok");
	if (opt.trace)
		fclose(opt.trace);
	return ret;
}
