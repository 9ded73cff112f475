/*
 * One fuzz input = a little program run against the standalone device
 * core.  Used by the libFuzzer target (tests/fuzz/fuzz-chimney.c), the
 * seed writer (tests/fuzz/chimney-fuzz-seeds.c) and the deterministic
 * smoke run in the unit tests (tests/unit/test-chimney-fuzz-smoke.c).
 *
 * A program is a sequence of operations, each one opcode byte followed by
 * its operands (little-endian; a program that ends early reads zeros).
 * Two kinds of operation:
 *
 * - raw ones (FZ_WRITE_REG .. FZ_LINK): register writes, guest-memory
 *   pokes, command-processing and clock steps, frames from the wire, PCI
 *   and link changes, exactly as a malicious guest or wire could;
 * - engine ones (FZ_BRINGUP .. FZ_BULK), which act like a driver through
 *   the unit tests' fake host and tree builder so that the fuzzer gets
 *   deep into the offload engine: a device bring-up (rings, OFFLOAD_EN,
 *   SET_PARAMS), offload of whole neighbor/path/connection hierarchies,
 *   state trees (INITIATE/TERMINATE/UPDATE/QUERY/INVALIDATE) whose blocks
 *   name objects the harness remembers from earlier completions (by a
 *   small index, so the same object can be named twice), batches of
 *   commands submitted before the device runs them, TCP segments to
 *   offloaded connection k (its 4-tuple, MACs and VLAN, fuzzer-chosen
 *   seq/ack/flags/window/options/payload, correct checksums), time, and
 *   maximal trees (CHIMNEY_TREE_MAX_BLOCKS blocks with state).
 *
 * The harness remembers every object it saw created (FZ_NREC per kind,
 * oldest overwritten), including after it is terminated: stale handles
 * and segments for dead 4-tuples are part of the game.
 *
 * The device must survive every program: no crash, no sanitizer report,
 * no unbounded loop, no leak (the fake host is torn down at the end).
 * The harness itself never asserts on device behaviour.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FUZZ_H
#define CHIMNEY_FUZZ_H

/* Guest RAM: the fake host's default (40 MiB), enough for maximal trees. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "chimney-tree-builder.h"
#include "chimney_hdr.h"

/*
 * A maximal tree is CHIMNEY_TREE_MAX_BLOCKS blocks; the largest block
 * with state is a new TCP block, 64 + sizeof(TbTcpState) bytes, which the
 * tree builder's allocator rounds up to 320.  Rings and the raw window
 * (FZ_RAW_WINDOW) come before the arena the trees are built in.
 */
#define FZ_RAW_WINDOW       (1u << 20)
#define FZ_ARENA_OFF        FZ_RAW_WINDOW
#define FZ_MAX_BLOCK_BYTES  320u
_Static_assert(sizeof(ChimneyBlock) + sizeof(TbTcpState) <= FZ_MAX_BLOCK_BYTES,
               "a new TCP block fits FZ_MAX_BLOCK_BYTES");
_Static_assert((uint64_t)FAKE_RAM_SIZE >= FZ_ARENA_OFF +
               (uint64_t)(CHIMNEY_TREE_MAX_BLOCKS + 1) * FZ_MAX_BLOCK_BYTES +
               (uint64_t)(CHIMNEY_TREE_MAX_BLOCKS + 1) * sizeof(ChimneyBlock),
               "fake RAM holds a maximal tree with state and its terminate "
               "tree");

enum {
    /* raw */
    FZ_WRITE_REG,       /* u16 offset, u32 value */
    FZ_READ_REG,        /* u16 offset, u8 size */
    FZ_POKE,            /* u32 ram offset, u8 len, bytes */
    FZ_BLOCK,           /* u32 ram offset, u32 r, [u24 next], [u24 dep] */
    FZ_CMD,             /* run command processing */
    FZ_FRAME,           /* u8 len (x8), bytes: a frame from the wire */
    FZ_CLOCK,           /* u16: microseconds, fires timers */
    FZ_PCI,             /* u8: bit0 bus master, bit1 MSI-X */
    FZ_LINK,            /* u8: up */
    /* engine */
    FZ_BRINGUP,         /* u8 variant (FZ_BU_*) */
    FZ_OFFLOAD,         /* u8 neigh, u8 path, u8 ntcp, per TCP: u8 sel,
                         * u8 opts, u16 bytes; see fz_op_offload() */
    FZ_TREE,            /* u8 op, u8 nblocks, per block: u8 ref, u8 shape,
                         * u16 value; see fz_op_tree() */
    FZ_SEGMENT,         /* u8 conn, u8 flags, u16 seq delta, u16 ack delta,
                         * u16 window, u8 options, u8 mods, u8 payload len,
                         * payload; see fz_op_segment() */
    FZ_ADVANCE,         /* u16: ms, or s with bit 15; fires timers, then
                         * runs queued commands */
    FZ_DATA,            /* u8 opcode sel, u8 ref, u16 flags, u16 len */
    FZ_FLUSH,           /* run the device until queued commands complete */
    FZ_BULK,            /* u8 variant: large and maximal trees */
    FZ_RXOFF,           /* u8 flags (bit 0 needs_csum, bit 1 gso), u8
                         * csum_start, u8 csum_offset, u16 gso_size: the
                         * backend's receive offloads for the frames of
                         * later FZ_FRAME and FZ_SEGMENT ops (flags 0:
                         * plain frames again) */
    FZ_OPS,
};

/*
 * Opcode byte -> operation: the first FZ_OPS values are the operations
 * themselves (what the emitters write), the rest weight the engine ones.
 */
static const uint8_t fz_op_table[32] = {
    FZ_WRITE_REG, FZ_READ_REG, FZ_POKE, FZ_BLOCK, FZ_CMD, FZ_FRAME,
    FZ_CLOCK, FZ_PCI, FZ_LINK, FZ_BRINGUP, FZ_OFFLOAD, FZ_TREE, FZ_SEGMENT,
    FZ_ADVANCE, FZ_DATA, FZ_FLUSH, FZ_BULK, FZ_RXOFF,
    /* 18..31: weights */
    FZ_TREE, FZ_TREE, FZ_TREE, FZ_SEGMENT, FZ_SEGMENT, FZ_SEGMENT,
    FZ_SEGMENT, FZ_OFFLOAD, FZ_OFFLOAD, FZ_OFFLOAD, FZ_ADVANCE, FZ_DATA,
    FZ_FLUSH, FZ_CMD,
};
_Static_assert(FZ_OPS <= 32, "opcode table");

/* FZ_BRINGUP variant bits */
#define FZ_BU_TPS_MASK      0x03    /* TicksPerSecond: 1000, 100, 10, 1000 */
#define FZ_BU_STALE_SHIFT   2       /* NCE stale ticks: 0, 1, 10, 1000 */
#define FZ_BU_VLANS         0x10    /* SET_VLANS {5, 100} */
#define FZ_BU_INTX          0x20    /* MSI-X off */
#define FZ_BU_RX            0x40    /* an RX ring with buffers */

/* FZ_TREE op byte: bits 0..2 the command, bit 7 queue it (batch). */
enum {
    FZ_T_TERMINATE, FZ_T_UPDATE, FZ_T_QUERY, FZ_T_INVALIDATE, FZ_T_INITIATE,
    FZ_T_COUNT,
};
#define FZ_T_DEFER          0x80

/* FZ_TREE block ref byte: bits 0..1 kind, 2..5 record, 6 stale, 7 state */
enum { FZ_K_NEIGH, FZ_K_PATH, FZ_K_TCP, FZ_K_PLACEHOLDER };
#define FZ_R_STALE          0x40
#define FZ_R_STATE          0x80
/*
 * FZ_TREE block shape byte: bits 0..2 parent (0 auto: under the block of
 * the object's parent if the tree has one, else at the root; 1 root;
 * p >= 2: under block p - 2), bits 3..4 type (0 combined, 1 const,
 * 2 cached, 3 delegated), bit 5 new object (INITIATE) / wrong IP family,
 * bit 6 bad length, bit 7 (placeholders) TCP layer, not path.  A
 * placeholder (kind FZ_K_PLACEHOLDER) is at the neighbor layer unless
 * bit 2 of its ref byte is set.
 */
#define FZ_S_PARENT_MASK    0x07
#define FZ_S_TYPE_SHIFT     3
#define FZ_S_NEW            0x20
#define FZ_S_BADLEN         0x40
#define FZ_S_ALT            0x80

/* FZ_SEGMENT flags byte: bit 7 raw TCP flags (bits 0..6 | bit 6<<1), else
 * bit 0 PSH, bit 1 no ACK, bits 2..3 0/FIN/SYN/RST */
#define FZ_SEG_RAWFLAGS     0x80
/* FZ_SEGMENT options byte: bits 0..2 option set, bits 3..7 raw length */
enum { FZ_O_NONE, FZ_O_TS, FZ_O_MSS, FZ_O_WS, FZ_O_SACK, FZ_O_RAW, FZ_O_TS_OLD,
       FZ_O_EOL };
/* FZ_SEGMENT mods byte */
#define FZ_M_BAD_DMAC       0x01
#define FZ_M_VLAN           0x02    /* toggle the 802.1Q tag */
#define FZ_M_BAD_CSUM       0x04
#define FZ_M_IP_OPTS        0x08
#define FZ_M_RAW_SEQ        0x10    /* seq/ack deltas are the high halves */
#define FZ_M_BAD_IPCSUM     0x20
#define FZ_M_TRUNC          0x40
#define FZ_M_FRAG           0x80

#define FZ_NREC             16
#define FZ_MAX_TREE_BLOCKS  16
#define FZ_MAX_PENDING      8

typedef struct FzNeighRec {
    uint64_t handle;
    uint8_t mac[6];
    uint16_t vlan;
} FzNeighRec;

typedef struct FzPathRec {
    uint64_t handle;
    uint64_t parent;            /* neighbor handle */
    bool ipv6;
    uint8_t src[16], dst[16];   /* local, remote */
    uint8_t mac[6];             /* the neighbor's, at creation */
    uint16_t vlan;
} FzPathRec;

typedef struct FzTcpRec {
    uint64_t handle;
    uint64_t parent;            /* path handle */
    bool ipv6;
    uint8_t lip[16], rip[16];
    uint16_t lport, rport;
    uint8_t mac[6];
    uint16_t vlan;
    uint8_t prio;
    bool ts;
    uint32_t rcv_nxt, snd_una, snd_max, ts_recent;   /* last known */
} FzTcpRec;

/* A new-offload block waiting for its completion to name its object. */
typedef struct FzNewObj {
    uint64_t addr;
    uint64_t parent_addr;       /* block whose handle is the parent's */
    uint8_t kind;
    union {
        FzNeighRec n;
        FzPathRec p;
        FzTcpRec t;
    } rec;
} FzNewObj;

typedef struct FzPending {
    uint64_t cookie;
    uint16_t opcode;
    unsigned nnew;
    FzNewObj nw[FZ_MAX_TREE_BLOCKS];
    /* two REF blocks name one handle (dup_a, dup_b: their addresses) */
    bool dup;
    uint64_t dup_handle;
    uint64_t dup_a, dup_b;
    unsigned nblk;
    uint64_t blk[FZ_MAX_TREE_BLOCKS];
} FzPending;

typedef struct FzState {
    FakeHost *h;
    TbRings *r;                 /* NULL until FZ_BRINGUP */
    uint64_t arena;
    const uint8_t *p, *end;
    FzNeighRec neigh[FZ_NREC];
    FzPathRec path[FZ_NREC];
    FzTcpRec tcp[FZ_NREC];
    unsigned nneigh, npath, ntcp;   /* ever recorded */
    FzPending pend[FZ_MAX_PENDING];
    unsigned npend;
    unsigned bulk;              /* FZ_BULK ops run (one counts) */
    GHashTable *send_done;      /* "handle:cookie" of SEND_DONE events */
    ChimneyRxOffload rxoff;     /* FZ_RXOFF: how frames arrive */
} FzState;

/* A frame from the wire, through the receive offloads FZ_RXOFF set. */
static inline void fz_receive(FzState *s, const uint8_t *f, size_t len)
{
    if (s->rxoff.needs_csum || s->rxoff.gso) {
        chimney_core_receive_offloaded(&s->h->core, f, len, &s->rxoff);
    } else {
        chimney_core_receive(&s->h->core, f, len);
    }
}

static inline uint32_t fz_take(const uint8_t **p, const uint8_t *end,
                               unsigned n)
{
    uint32_t v = 0;
    unsigned i;

    for (i = 0; i < n && *p < end; i++) {
        v |= (uint32_t)*(*p)++ << (8 * i);
    }
    return v;
}

static inline uint32_t fz_u(FzState *s, unsigned n)
{
    return fz_take(&s->p, s->end, n);
}

static inline void fz_skip(FzState *s, size_t n)
{
    s->p += MIN(n, (size_t)(s->end - s->p));
}

/*
 * Address pools: few values, so that the fuzzer easily makes 4-tuples,
 * paths and neighbors meet again.
 */
static inline void fz_addr(uint8_t *a, bool ipv6, bool local, unsigned i)
{
    memset(a, 0, 16);
    if (ipv6) {
        a[0] = 0xfd;
        a[15] = (local ? 0x01 : 0x10) + (i & 3);
    } else {
        a[0] = 10;
        a[3] = (local ? 1 : 2) + 16 * (i & 3);
    }
}

static const uint16_t fz_vlans[4] = { 0, 5, 100, 0 };
static const uint32_t fz_mtus[4] = { 1500, 9000, 576, 1280 };

static inline void fz_mac(uint8_t *m, unsigned i)
{
    static const uint8_t base[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

    memcpy(m, base, 6);
    m[5] += i & 7;
}

/* Record slot k (of those recorded so far) or NULL. */
#define FZ_REC(s, kind, k) \
    ((s)->n##kind ? &(s)->kind[(k) % MIN((s)->n##kind, FZ_NREC)] : NULL)

static inline void fz_record(FzState *s, const FzNewObj *o, uint64_t handle,
                             uint64_t parent)
{
    switch (o->kind) {
    case FZ_K_NEIGH:
        s->neigh[s->nneigh++ % FZ_NREC] = o->rec.n;
        s->neigh[(s->nneigh - 1) % FZ_NREC].handle = handle;
        break;
    case FZ_K_PATH:
        s->path[s->npath++ % FZ_NREC] = o->rec.p;
        s->path[(s->npath - 1) % FZ_NREC].handle = handle;
        s->path[(s->npath - 1) % FZ_NREC].parent = parent;
        break;
    default:
        s->tcp[s->ntcp++ % FZ_NREC] = o->rec.t;
        s->tcp[(s->ntcp - 1) % FZ_NREC].handle = handle;
        s->tcp[(s->ntcp - 1) % FZ_NREC].parent = parent;
        break;
    }
}

/* Read back the handles of a completed tree's new-offload blocks. */
static inline void fz_harvest(FzState *s, FzPending *pd)
{
    unsigned i;

    for (i = 0; i < pd->nnew; i++) {
        ChimneyBlock *b = tb_blk(s->h, pd->nw[i].addr);
        uint64_t parent = 0;

        if (!(GUINT32_FROM_LE(b->flags) & CHIMNEY_BLKF_HANDLE_VALID)) {
            continue;
        }
        if (pd->nw[i].parent_addr) {
            parent = tb_handle(s->h, pd->nw[i].parent_addr);
        }
        fz_record(s, &pd->nw[i], tb_handle(s->h, pd->nw[i].addr), parent);
    }
}

/*
 * Oracles: besides surviving, the device must keep two rules of the spec
 * that the harness can check from the outside (ABI only), because
 * breaking them corrupts its state long before anything crashes:
 *
 * - "No live object may be named twice: two REF blocks of one tree must
 *   not carry the same handle of an offloaded object.  Such a tree is
 *   malformed in every operation (BAD_TREE) ... changes nothing and
 *   writes nothing back." (spec, "Tree shape and limits"): a tree with
 *   one handle in two REF blocks is refused (BAD_TREE) or, when the
 *   handle names no live object, walked with the two blocks failing;
 *   the two blocks never both succeed;
 * - every send request completes once: at most one SEND_DONE per
 *   (connection handle, cookie).
 *
 * A violation aborts, which libFuzzer reports as a crash.
 * CHIMNEY_FUZZ_ORACLE=0 turns the checks off (then only sanitizer
 * reports, crashes and hangs count).
 */
static inline bool fz_oracle_on(void)
{
    static int on = -1;

    if (on < 0) {
        const char *e = g_getenv("CHIMNEY_FUZZ_ORACLE");

        on = !e || strcmp(e, "0");
    }
    return on;
}

G_GNUC_NORETURN G_GNUC_PRINTF(1, 2)
static inline void fz_violation(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "chimney-fuzz: SPEC VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* Look at the events a driver has consumed since the last call. */
static inline void fz_events(FzState *s)
{
    unsigned i;

    if (!s->r) {
        return;
    }
    for (i = 0; i < s->r->events->len && fz_oracle_on(); i++) {
        ChimneyEvent *ev = &g_array_index(s->r->events, ChimneyEvent, i);
        char *key;

        if (ev->type != CHIMNEY_EVT_SEND_DONE) {
            continue;
        }
        key = g_strdup_printf("%" G_GINT64_MODIFIER "x:%" G_GINT64_MODIFIER
                              "x", ev->handle, ev->cookie);
        if (g_hash_table_contains(s->send_done, key)) {
            fz_violation("second SEND_DONE for connection 0x%"
                         G_GINT64_MODIFIER "x, send cookie 0x%"
                         G_GINT64_MODIFIER "x (status 0x%x)", ev->handle,
                         ev->cookie, ev->status);
        }
        g_hash_table_add(s->send_done, key);
    }
    g_array_set_size(s->r->events, 0);
}

static inline bool fz_status_ok(uint32_t st)
{
    return st == CHIMNEY_ST_SUCCESS || st == CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
}

static inline void fz_check_tree(FzState *s, FzPending *pd, uint32_t status)
{
    if (!pd->dup || !fz_oracle_on()) {
        return;
    }
    /*
     * Whether the object is live when the command runs is not known
     * here, and register writes can replay stale descriptors of the CMD
     * ring over the same guest memory, so the check is on the outcome of
     * the two blocks: the device never acts on one object twice in one
     * tree.  (That a refused tree is left unwritten is checked by the
     * deterministic tests, scenario bad-input-same-object-twice.)
     */
    if (fz_status_ok(tb_status(s->h, pd->dup_a)) &&
        fz_status_ok(tb_status(s->h, pd->dup_b))) {
        fz_violation("command 0x%x on a tree naming handle 0x%"
                     G_GINT64_MODIFIER "x in two REF blocks acted on it "
                     "twice (statuses 0x%x, 0x%x), not BAD_TREE",
                     pd->opcode, pd->dup_handle,
                     tb_status(s->h, pd->dup_a), tb_status(s->h, pd->dup_b));
    }
}

/* Run the device until every queued command completed (or gave up). */
static inline void fz_flush(FzState *s)
{
    unsigned i;

    if (!s->r) {
        return;
    }
    for (i = 0; i < s->npend; i++) {
        uint32_t status;

        if (tb_cmd_wait(s->h, s->r, s->pend[i].cookie, &status, NULL)) {
            fz_check_tree(s, &s->pend[i], status);
            fz_harvest(s, &s->pend[i]);
        }
    }
    s->npend = 0;
    fz_events(s);
}

/* Make room for `len` bytes of trees; false if there can be none. */
static inline bool fz_arena(FzState *s, uint64_t len)
{
    uint64_t end = FAKE_RAM_BASE + FAKE_RAM_SIZE;

    if (!s->r) {
        return false;
    }
    if (!s->npend) {
        s->h->alloc_next = s->arena;
    }
    if (end - s->h->alloc_next < len + 64) {
        fz_flush(s);
        s->h->alloc_next = s->arena;
    }
    return end - s->h->alloc_next >= len + 64;
}

/* Submit a command now, or queue it when `defer` (at most FZ_MAX_PENDING). */
static inline FzPending *fz_submit(FzState *s, uint16_t opcode, uint16_t flags,
                                   uint64_t addr, uint32_t len,
                                   uint64_t handle)
{
    FzPending *pd;

    if (s->npend == FZ_MAX_PENDING) {
        fz_flush(s);
    }
    pd = &s->pend[s->npend++];
    pd->nnew = 0;
    pd->dup = false;
    pd->nblk = 0;
    pd->opcode = opcode;
    pd->cookie = tb_cmd_submit(s->h, s->r, opcode, flags, addr, len, handle);
    return pd;
}

/*
 * FZ_BRINGUP: what a driver does before offloading (tests' tb_rings_new()
 * and tb_set_params()), done again from scratch on every call.
 */
static inline void fz_op_bringup(FzState *s, uint8_t v)
{
    static const uint32_t tps[4] = { 1000, 100, 10, 1000 };
    static const uint32_t stale[4] = { 0, 1, 10, 1000 };
    FakeHost *h = s->h;
    uint64_t a, cookie = 0;
    ChimneyOffloadParams *prm;

    if (s->r) {
        fz_flush(s);
        cookie = s->r->cookie;
        tb_rings_free(s->r);
        s->r = NULL;
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL), 0);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_CTRL), 0);
    h->alloc_next = FAKE_RAM_BASE + FZ_RAW_WINDOW / 2;
    s->r = tb_rings_new(h);
    /*
     * Cookies go on from the old rings': connections outlive a ring
     * setup, and the oracle keys SEND_DONEs by handle and cookie (a new
     * SEND reusing an old cookie would look like a second completion).
     */
    s->r->cookie = cookie;
    s->arena = FAKE_RAM_BASE + FZ_ARENA_OFF;
    s->npend = 0;
    if (v & FZ_BU_INTX) {
        h->msix = false;
        chimney_core_pci_changed(&h->core);
    }
    if (v & FZ_BU_RX) {
        uint64_t base = fake_ring_setup(h, CHIMNEY_RING_RX, 16,
                                        sizeof(ChimneyRxDesc));
        ChimneyRxDesc *d = fake_ptr(h, base);
        unsigned i;

        for (i = 0; i < 16; i++) {
            d[i].addr = GUINT64_TO_LE(fake_alloc(h, 2048));
            d[i].buf_len = GUINT16_TO_LE(2048);
        }
        wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 15);
    }
    a = fake_alloc(h, sizeof(*prm));
    prm = fake_ptr(h, a);
    memset(prm, 0, sizeof(*prm));
    prm->hdr.length = GUINT32_TO_LE(sizeof(*prm));
    prm->ticks_per_second = GUINT32_TO_LE(tps[v & FZ_BU_TPS_MASK]);
    prm->ack_frequency = 2;
    prm->delayed_ack_ticks = 200;
    prm->max_retransmissions = 5;
    prm->dup_ack_threshold = GUINT32_TO_LE(3);
    prm->push_ticks = GUINT32_TO_LE(500);
    prm->nce_stale_ticks = GUINT32_TO_LE(stale[(v >> FZ_BU_STALE_SHIFT) & 3]);
    tb_cmd_wait(h, s->r, tb_cmd_submit(h, s->r, CHIMNEY_CMD_SET_PARAMS, 0, a,
                                       sizeof(*prm), 0), NULL, NULL);
    if (v & FZ_BU_VLANS) {
        uint16_t *vids;

        a = fake_alloc(h, 4);
        vids = fake_ptr(h, a);
        vids[0] = GUINT16_TO_LE(5);
        vids[1] = GUINT16_TO_LE(100);
        tb_cmd_wait(h, s->r, tb_cmd_submit(h, s->r, CHIMNEY_CMD_SET_VLANS, 0,
                                           a, 4, 0), NULL, NULL);
    }
    fz_events(s);
}

/* New-offload blocks, with the record the object will get. */
static inline uint64_t fz_new_neigh(FzState *s, uint8_t sel, FzNewObj *o)
{
    FakeHost *h = s->h;
    uint64_t a = tb_new_neigh(h, 1, fz_vlans[(sel >> 3) & 3]);
    ChimneyNeighCached *k = (ChimneyNeighCached *)
        ((uint8_t *)tb_blk(h, a) + sizeof(ChimneyBlock) +
         sizeof(ChimneyNeighConst));

    o->kind = FZ_K_NEIGH;
    o->addr = a;
    o->parent_addr = 0;
    memset(&o->rec, 0, sizeof(o->rec));
    fz_mac(o->rec.n.mac, sel);
    memcpy(k->dl_dst_addr, o->rec.n.mac, 6);
    o->rec.n.vlan = fz_vlans[(sel >> 3) & 3];
    if (sel & 0x80) {
        /* a VLAN id with bits above 12 set, or a source MAC */
        ChimneyNeighConst *c = (ChimneyNeighConst *)(tb_blk(h, a) + 1);

        if (sel & 0x40) {
            c->dl_src_addr[5] = 1;
        } else {
            c->vlan_id = GUINT16_TO_LE(0xf000 | o->rec.n.vlan);
        }
    }
    return a;
}

static inline uint64_t fz_new_path(FzState *s, uint8_t sel, FzNewObj *o,
                                   const uint8_t *mac, uint16_t vlan)
{
    FakeHost *h = s->h;
    bool ipv6 = sel & 1;
    struct {
        ChimneyPathConst c;
        ChimneyPathCached k;
        ChimneyPathDelegated d;
    } st = {
        .c = { .hdr = HDR(ChimneyPathConst) },
        .k = { .hdr = HDR(ChimneyPathCached),
               .path_mtu = GUINT32_TO_LE(fz_mtus[(sel >> 5) & 3]) },
        .d = { .hdr = HDR(ChimneyPathDelegated) },
    };

    o->kind = FZ_K_PATH;
    memset(&o->rec, 0, sizeof(o->rec));
    o->rec.p.ipv6 = ipv6;
    fz_addr(o->rec.p.src, ipv6, true, sel >> 1);
    fz_addr(o->rec.p.dst, ipv6, false, sel >> 3);
    memcpy(o->rec.p.mac, mac, 6);
    o->rec.p.vlan = vlan;
    memcpy(st.c.src_addr, o->rec.p.src, 16);
    memcpy(st.c.dst_addr, o->rec.p.dst, 16);
    if ((sel & 0x80) && ipv6) {
        st.k.path_mtu = GUINT32_TO_LE(1000);    /* below the IPv6 minimum */
    }
    o->addr = tb_block(h, ipv6 ? CHIMNEY_TYPE_IP6 : CHIMNEY_TYPE_IP4,
                       CHIMNEY_ROLE_NEW, 0, &st, sizeof(st));
    return o->addr;
}

/*
 * A new connection.  sel: bits 0..1 local port, bit 2 remote port, bits
 * 3..5 state, bits 6..7 send requests handed over; opts: bit 0 timestamps,
 * bit 1 window scaling, bit 2 SACK, bit 3 buffered receive data, bit 4
 * keepalive, bit 5 SndNxt < SndMax, bits 6..7 user priority / windows;
 * bytes: send data size.
 */
static inline uint64_t fz_new_tcp(FzState *s, uint8_t sel, uint8_t opts,
                                  uint16_t bytes, FzNewObj *o,
                                  const FzPathRec *p)
{
    static const uint32_t states[8] = {
        CHIMNEY_TCPS_ESTABLISHED, CHIMNEY_TCPS_ESTABLISHED,
        CHIMNEY_TCPS_ESTABLISHED, CHIMNEY_TCPS_CLOSE_WAIT,
        CHIMNEY_TCPS_FIN_WAIT_1, CHIMNEY_TCPS_FIN_WAIT_2,
        CHIMNEY_TCPS_LAST_ACK, CHIMNEY_TCPS_SYN_SENT,
    };
    FakeHost *h = s->h;
    TbTcpState st;
    unsigned nsend = sel >> 6, i;
    uint32_t total = 0;

    tb_tcp_defaults(&st, 40000 + (sel & 3), 80 + ((sel >> 2) & 1));
    st.d.state = GUINT32_TO_LE(states[(sel >> 3) & 7]);
    if (opts & 1) {
        st.c.flags |= GUINT16_TO_LE(CHIMNEY_TCP_CONST_TIMESTAMP);
        st.d.ts_recent = GUINT32_TO_LE(777);
        st.d.ts_time = GUINT32_TO_LE(bytes * 3);
    }
    if (opts & 2) {
        st.c.flags |= GUINT16_TO_LE(CHIMNEY_TCP_CONST_WSCALE);
        st.c.snd_wind_scale = bytes & 15;
        st.c.rcv_wind_scale = (bytes >> 4) & 7;
    }
    if (opts & 4) {
        st.c.flags |= GUINT16_TO_LE(CHIMNEY_TCP_CONST_SACK);
    }
    if (opts & 0x10) {
        st.k.flags |= GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE);
        st.k.ka_timeout = GUINT32_TO_LE(bytes & 0xff);
        st.k.ka_interval = GUINT32_TO_LE(10);
        st.k.ka_probe_count = 3;
        st.d.ka_timeout_delta = GUINT32_TO_LE(bytes & 0xff);
    }
    st.k.user_priority = (opts >> 6) == 3 ? 5 : 0;
    if ((opts >> 6) == 2) {
        st.k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_MAX_RCV_WND + 1);
    }
    if (nsend) {
        uint64_t la = fake_alloc(h, nsend * sizeof(ChimneySendBuf));
        ChimneySendBuf *sb = fake_ptr(h, la);

        for (i = 0; i < nsend; i++) {
            uint32_t len = 1 + (bytes >> (4 * i)) % 3000;

            sb[i].addr = GUINT64_TO_LE(fake_alloc(h, len));
            sb[i].len = GUINT32_TO_LE(len);
            sb[i].acked = 0;
            sb[i].cookie = GUINT64_TO_LE(0xc0c0 + i);
            total += len;
        }
        st.d.send_list_addr = GUINT64_TO_LE(la);
        st.d.send_list_count = GUINT32_TO_LE(nsend);
        st.d.snd_max = GUINT32_TO_LE(5000 + total);
        st.d.snd_nxt = GUINT32_TO_LE(5000 + ((opts & 0x20) ? total / 2 :
                                             total));
    }
    if (opts & 8) {
        uint32_t len = 1 + bytes % 2048;

        st.d.rcv_data_addr = GUINT64_TO_LE(fake_alloc(h, len));
        st.d.rcv_data_len = GUINT32_TO_LE(len);
    }

    o->kind = FZ_K_TCP;
    memset(&o->rec, 0, sizeof(o->rec));
    o->rec.t.ipv6 = p->ipv6;
    memcpy(o->rec.t.lip, p->src, 16);
    memcpy(o->rec.t.rip, p->dst, 16);
    memcpy(o->rec.t.mac, p->mac, 6);
    o->rec.t.vlan = p->vlan;
    o->rec.t.prio = st.k.user_priority;
    o->rec.t.lport = 40000 + (sel & 3);
    o->rec.t.rport = 80 + ((sel >> 2) & 1);
    o->rec.t.ts = opts & 1;
    o->rec.t.rcv_nxt = 1000;
    o->rec.t.snd_una = 5000;
    o->rec.t.snd_max = 5000 + total;
    o->rec.t.ts_recent = 777;
    o->addr = tb_new_tcp_state(h, &st);
    return o->addr;
}

/*
 * FZ_OFFLOAD: an initiate tree N{P{T...}} as a driver builds it.
 * neigh: bits 0..2 MAC, 3..4 VLAN, 5 link to recorded neighbor (bits 6..7
 * pick it) instead of a new one, 7 (new) bad const state;
 * path: bit 0 IPv6, 1..2 local, 3..4 remote address, 5..6 MTU,
 * 7 link to recorded path (bits 1..4 pick it); ntcp: bits 0..1 connections
 * (0..3), bit 2 queue the command, bit 3 a second, empty path,
 * bits 4..7: the second path's selector.
 */
static inline void fz_op_offload(FzState *s)
{
    uint8_t nsel = fz_u(s, 1), psel = fz_u(s, 1), tsel = fz_u(s, 1);
    FzNewObj nw[8];
    unsigned nnew = 0, i, ntcp = tsel & 3;
    uint64_t root, parent_blk, first = 0, prev = 0;
    FzPathRec prec;
    FzNeighRec *nr = FZ_REC(s, neigh, nsel >> 6);
    FzPathRec *pr = FZ_REC(s, path, (psel >> 1) & 15);
    FzPending *pd;
    uint16_t vlan;
    uint8_t mac[6];

    if (!fz_arena(s, 64 * 1024)) {
        fz_skip(s, 4 * ntcp);
        return;
    }
    if ((psel & 0x80) && pr) {
        /* linker to a recorded path: connections only */
        root = tb_block(s->h, pr->ipv6 ? CHIMNEY_TYPE_IP6 : CHIMNEY_TYPE_IP4,
                        CHIMNEY_ROLE_LINKER, pr->handle, NULL, 0);
        prec = *pr;
        parent_blk = root;
    } else {
        if ((nsel & 0x20) && nr) {
            root = tb_block(s->h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER,
                            nr->handle, NULL, 0);
            memcpy(mac, nr->mac, 6);
            vlan = nr->vlan;
        } else {
            root = fz_new_neigh(s, nsel, &nw[nnew]);
            memcpy(mac, nw[nnew].rec.n.mac, 6);
            vlan = nw[nnew].rec.n.vlan;
            nnew++;
        }
        parent_blk = fz_new_path(s, psel, &nw[nnew], mac, vlan);
        nw[nnew].parent_addr = root;
        prec = nw[nnew].rec.p;
        nnew++;
        tb_dep(s->h, root, parent_blk);
        if (tsel & 8) {
            uint64_t p2 = fz_new_path(s, (psel & 0x61) | ((tsel >> 3) & 0x1e),
                                      &nw[nnew], mac, vlan);

            nw[nnew].parent_addr = root;
            nnew++;
            tb_next(s->h, parent_blk, p2);
        }
    }
    for (i = 0; i < ntcp; i++) {
        uint8_t sel = fz_u(s, 1), opts = fz_u(s, 1);
        uint16_t bytes = fz_u(s, 2);
        uint64_t t = fz_new_tcp(s, sel, opts, bytes, &nw[nnew], &prec);

        nw[nnew].parent_addr = parent_blk;
        nnew++;
        if (!first) {
            first = t;
        } else {
            tb_next(s->h, prev, t);
        }
        prev = t;
    }
    if (first) {
        tb_dep(s->h, parent_blk, first);
    }
    pd = fz_submit(s, CHIMNEY_CMD_INITIATE, 0, root, 0, 0);
    memcpy(pd->nw, nw, nnew * sizeof(nw[0]));
    pd->nnew = nnew;
    if (!(tsel & 4)) {
        fz_flush(s);
    }
}

/* State after a block for command `op`, type `type` of layer `kind`. */
static inline size_t fz_block_state(FzState *s, unsigned op, unsigned kind,
                                    unsigned tsel, uint16_t val,
                                    uint8_t *buf)
{
    size_t c = kind == FZ_K_NEIGH ? sizeof(ChimneyNeighConst) :
               kind == FZ_K_PATH ? sizeof(ChimneyPathConst) :
               sizeof(ChimneyTcpConst);
    size_t k = kind == FZ_K_NEIGH ? sizeof(ChimneyNeighCached) :
               kind == FZ_K_PATH ? sizeof(ChimneyPathCached) :
               sizeof(ChimneyTcpCached);
    size_t d = kind == FZ_K_NEIGH ? sizeof(ChimneyNeighDelegated) :
               kind == FZ_K_PATH ? sizeof(ChimneyPathDelegated) :
               sizeof(ChimneyTcpDelegated);
    size_t len = 0, parts[3] = { 0, 0, 0 };
    unsigned i;

    switch (op) {
    case FZ_T_TERMINATE:
        parts[2] = d;
        break;
    case FZ_T_UPDATE:
        parts[1] = k;
        break;
    case FZ_T_INVALIDATE:
        parts[0] = sizeof(ChimneyStateHdr);
        break;
    default:        /* query: what the type names */
        parts[0] = tsel == 0 || tsel == 1 ? c : 0;
        parts[1] = tsel == 0 || tsel == 2 ? k : 0;
        parts[2] = tsel == 0 || tsel == 3 ? d : 0;
        break;
    }
    memset(buf, 0, 512);
    for (i = 0; i < 3; i++) {
        ChimneyStateHdr *hd = (ChimneyStateHdr *)(buf + len);

        if (!parts[i]) {
            continue;
        }
        hd->length = GUINT32_TO_LE(parts[i]);
        if (i == 1 && kind == FZ_K_PATH) {
            ((ChimneyPathCached *)hd)->path_mtu =
                GUINT32_TO_LE(fz_mtus[val & 3] + (val & 0x8000 ? 20000 : 0));
        } else if (i == 1 && kind == FZ_K_NEIGH) {
            ChimneyNeighCached *nk = (ChimneyNeighCached *)hd;

            fz_mac(nk->dl_dst_addr, val);
            nk->host_reachability_delta = GUINT32_TO_LE(val >> 4);
        } else if (i == 1 && kind == FZ_K_TCP) {
            ChimneyTcpCached *tk = (ChimneyTcpCached *)hd;

            tk->flags = GUINT16_TO_LE(val & 0x1f);
            tk->initial_rcv_wnd = GUINT32_TO_LE(
                (val & 0x8000) ? CHIMNEY_MAX_RCV_WND + 1 :
                1000u * ((val >> 5) & 0xff));
            tk->ka_timeout = GUINT32_TO_LE((val >> 8) & 0x3f);
            tk->ka_interval = GUINT32_TO_LE(5);
            tk->ka_probe_count = 2;
            tk->ttl_hop_limit = 64;
            tk->user_priority = (val >> 13) & 3;
        } else if (i == 2 && kind == FZ_K_TCP && op == FZ_T_TERMINATE) {
            ChimneyTcpDelegated *td = (ChimneyTcpDelegated *)hd;
            uint32_t cap = val & 0x8000 ? 0 : 4 + (val & 0x3ff);
            uint32_t rcap = val & 0x4000 ? 16 : CHIMNEY_RCV_BUF;

            td->send_list_addr = GUINT64_TO_LE(
                fake_alloc(s->h, cap * sizeof(ChimneySendBuf)));
            td->send_list_cap = GUINT32_TO_LE(cap);
            td->rcv_data_addr = GUINT64_TO_LE(fake_alloc(s->h, rcap));
            td->rcv_data_cap = GUINT32_TO_LE(rcap);
        }
        len += parts[i];
    }
    return len;
}

/*
 * FZ_TREE: a state tree over recorded objects.  op: bits 0..2 the command
 * (FZ_T_*), bit 7 queue it; nblocks: 1..FZ_MAX_TREE_BLOCKS; each block:
 * ref (FZ_K_* kind, record, FZ_R_*), shape (FZ_S_*), u16 value for its
 * state.  In an INITIATE tree blocks are linkers, or new objects with
 * FZ_S_NEW.
 */
static inline void fz_op_tree(FzState *s)
{
    static const uint16_t ops[FZ_T_COUNT] = {
        CHIMNEY_CMD_TERMINATE, CHIMNEY_CMD_UPDATE, CHIMNEY_CMD_QUERY,
        CHIMNEY_CMD_INVALIDATE, CHIMNEY_CMD_INITIATE,
    };
    uint8_t opb = fz_u(s, 1);
    unsigned op = (opb & 7) % FZ_T_COUNT;
    unsigned nb = 1 + fz_u(s, 1) % FZ_MAX_TREE_BLOCKS, i, nnew = 0;
    uint64_t addr[FZ_MAX_TREE_BLOCKS], handle[FZ_MAX_TREE_BLOCKS];
    uint8_t layers[FZ_MAX_TREE_BLOCKS];
    bool is_ref[FZ_MAX_TREE_BLOCKS];    /* REF block, live object */
    uint64_t last_child[FZ_MAX_TREE_BLOCKS], root_last = 0, root = 0;
    FzNewObj nw[FZ_MAX_TREE_BLOCKS];
    FzPending *pd;
    uint8_t state[512];

    if (!fz_arena(s, 8 * 1024 * 1024)) {
        fz_skip(s, 4 * nb);
        return;
    }
    for (i = 0; i < nb; i++) {
        uint8_t ref = fz_u(s, 1), shape = fz_u(s, 1);
        uint16_t val = fz_u(s, 2);
        unsigned kind = ref & 3, tsel = (shape >> FZ_S_TYPE_SHIFT) & 3;
        unsigned layer = kind, par = shape & FZ_S_PARENT_MASK, j;
        uint16_t type, role = op == FZ_T_INITIATE ? CHIMNEY_ROLE_LINKER :
                              CHIMNEY_ROLE_REF;
        uint64_t h = 0, ph = 0;
        bool ipv6 = false;
        size_t len = 0;
        int pblk = -1;

        if (kind == FZ_K_PLACEHOLDER) {
            layer = (shape & FZ_S_ALT) ? FZ_K_TCP : FZ_K_PATH;
            role = CHIMNEY_ROLE_PLACEHOLDER;
            if (!(ref & 0x04)) {
                layer = FZ_K_NEIGH;
            }
        } else if (kind == FZ_K_NEIGH) {
            FzNeighRec *r = FZ_REC(s, neigh, (ref >> 2) & 15);

            h = r ? r->handle : 0;
        } else if (kind == FZ_K_PATH) {
            FzPathRec *r = FZ_REC(s, path, (ref >> 2) & 15);

            h = r ? r->handle : 0;
            ph = r ? r->parent : 0;
            ipv6 = r && r->ipv6;
        } else {
            FzTcpRec *r = FZ_REC(s, tcp, (ref >> 2) & 15);

            h = r ? r->handle : 0;
            ph = r ? r->parent : 0;
        }
        if (ref & FZ_R_STALE) {
            h = CHIMNEY_HANDLE_MAKE(CHIMNEY_HANDLE_KIND(h),
                                    CHIMNEY_HANDLE_INDEX(h) ^ (val & 1),
                                    CHIMNEY_HANDLE_GEN(h) + 1);
        }
        if (shape & FZ_S_NEW && op != FZ_T_INITIATE && layer == FZ_K_PATH) {
            ipv6 = !ipv6;       /* a block type of the other IP family */
        }
        type = layer == FZ_K_NEIGH ? CHIMNEY_TYPE_NEIGH_CONST :
               layer == FZ_K_TCP ? CHIMNEY_TYPE_TCP_CONST :
               ipv6 ? CHIMNEY_TYPE_IP6_CONST : CHIMNEY_TYPE_IP4_CONST;
        if (tsel == 0) {
            type = layer == FZ_K_TCP ? CHIMNEY_TYPE_TCP : type + 3;
            if (layer == FZ_K_TCP && (val & 0x7fff) == 0x7fff) {
                type = CHIMNEY_TYPE_TCP_RESOURCE;
            }
        } else {
            type += tsel - 1;
        }

        /* parent block */
        if (par == 0 && op == FZ_T_INITIATE && (shape & FZ_S_NEW)) {
            /* a new object: under the latest block of the layer below */
            for (j = i; j-- > 0;) {
                if (layers[j] + 1u == layer) {
                    pblk = j;
                    break;
                }
            }
        } else if (par == 0) {
            for (j = i; j-- > 0;) {
                if (ph && handle[j] == ph) {
                    pblk = j;
                    break;
                }
            }
        } else if (par >= 2 && par - 2 < i) {
            pblk = par - 2;
        }

        if (op == FZ_T_INITIATE && (shape & FZ_S_NEW) &&
            kind != FZ_K_PLACEHOLDER) {
            /* a new object under the parent block (or at the root) */
            FzPathRec pp;
            uint8_t mac[6];

            memset(&pp, 0, sizeof(pp));
            fz_mac(mac, val);
            if (kind == FZ_K_NEIGH) {
                addr[i] = fz_new_neigh(s, val, &nw[nnew]);
            } else if (kind == FZ_K_PATH) {
                addr[i] = fz_new_path(s, val, &nw[nnew], mac, 0);
                if (pblk >= 0) {
                    for (j = 0; j < s->nneigh && j < FZ_NREC; j++) {
                        if (s->neigh[j].handle == handle[pblk]) {
                            memcpy(nw[nnew].rec.p.mac, s->neigh[j].mac, 6);
                            nw[nnew].rec.p.vlan = s->neigh[j].vlan;
                        }
                    }
                }
            } else {
                if (pblk >= 0) {
                    for (j = 0; j < s->npath && j < FZ_NREC; j++) {
                        if (s->path[j].handle == handle[pblk]) {
                            pp = s->path[j];
                        }
                    }
                }
                addr[i] = fz_new_tcp(s, val, val >> 8, val, &nw[nnew], &pp);
            }
            nw[nnew].parent_addr = pblk >= 0 ? addr[pblk] : 0;
            nnew++;
            handle[i] = 0;
            is_ref[i] = false;
        } else {
            if (ref & FZ_R_STATE) {
                len = fz_block_state(s, op, layer, tsel, val, state);
                if (shape & FZ_S_BADLEN) {
                    len = len > 8 ? len - 8 : len + 8;
                }
            }
            addr[i] = tb_block(s->h, type, role, h, state, len);
            handle[i] = h;
            /*
             * The rule names live objects in REF blocks (LINKERs may
             * repeat, stale handles fail per block).  Liveness is known
             * only if nothing queued before this command runs first.
             */
            is_ref[i] = role == CHIMNEY_ROLE_REF;
        }
        last_child[i] = 0;
        if (pblk < 0 || par == 1) {
            if (root_last) {
                tb_next(s->h, root_last, addr[i]);
            } else {
                root = addr[i];
            }
            root_last = addr[i];
        } else if (last_child[pblk]) {
            tb_next(s->h, last_child[pblk], addr[i]);
            last_child[pblk] = addr[i];
        } else {
            tb_dep(s->h, addr[pblk], addr[i]);
            last_child[pblk] = addr[i];
        }
        layers[i] = layer;
    }
    pd = fz_submit(s, ops[op], 0, root, 0, 0);
    memcpy(pd->nw, nw, nnew * sizeof(nw[0]));
    pd->nnew = nnew;
    memcpy(pd->blk, addr, nb * sizeof(addr[0]));
    pd->nblk = nb;
    for (i = 0; i < nb; i++) {
        unsigned j;

        for (j = 0; j < i && is_ref[i]; j++) {
            if (is_ref[j] && handle[j] == handle[i]) {
                pd->dup = true;
                pd->dup_handle = handle[i];
                pd->dup_a = addr[j];
                pd->dup_b = addr[i];
            }
        }
    }
    if (!(opb & FZ_T_DEFER)) {
        fz_flush(s);
    }
}

static inline void fz_put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static inline void fz_put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/*
 * FZ_SEGMENT: a TCP segment from the peer of recorded connection k, as the
 * wire would bring it: to the interface MAC from the neighbor's MAC, with
 * the neighbor's VLAN (and the connection's priority), remote -> local
 * addresses and ports, valid IP and TCP checksums.  seq/ack are deltas
 * from the connection's RcvNxt/SndUna (read from the live object, else
 * the last known values), or raw with FZ_M_RAW_SEQ.
 */
static inline void fz_op_segment(FzState *s)
{
    uint8_t k = fz_u(s, 1), fl = fz_u(s, 1);
    int16_t dseq = fz_u(s, 2), dack = fz_u(s, 2);
    uint16_t win = fz_u(s, 2);
    uint8_t osel = fz_u(s, 1), mods = fz_u(s, 1);
    uint32_t plen = fz_u(s, 1), seq, ack, i;
    FzTcpRec *t = FZ_REC(s, tcp, k);
    uint8_t f[2304], *ip, *tcp, opt[40];
    size_t olen = 0, l2, l3, len;
    uint8_t flags;
    ChimneyTcpObj *o;
    bool vlan;

    plen = plen * 8 + (plen & 7);
    if ((osel & 7) == FZ_O_RAW) {
        /* raw option bytes come first, then the payload */
        olen = MIN((size_t)(osel >> 3) + 1, sizeof(opt));
        for (i = 0; i < olen; i++) {
            opt[i] = fz_u(s, 1);
        }
    }
    if (!t) {
        fz_skip(s, plen);
        return;
    }
    o = chimney_offload_lookup(s->h->core.engine, t->handle,
                               CHIMNEY_KIND_TCP, NULL);
    if (o) {
        t->rcv_nxt = o->d.rcv_nxt;
        t->snd_una = o->d.snd_una;
        t->snd_max = o->d.snd_max;
        t->ts_recent = o->d.ts_recent;
    }
    if (mods & FZ_M_RAW_SEQ) {
        seq = (uint32_t)(uint16_t)dseq << 16 | (uint16_t)dack;
        ack = (uint32_t)win << 16 | (uint16_t)dseq;
    } else {
        seq = t->rcv_nxt + dseq;
        ack = t->snd_una + dack;
    }
    if (fl & FZ_SEG_RAWFLAGS) {
        flags = (fl & 0x7f) | ((fl & 0x40) << 1);
    } else {
        static const uint8_t extra[4] = { 0, CHIMNEY_TH_FIN, CHIMNEY_TH_SYN,
                                          CHIMNEY_TH_RST };

        flags = ((fl & 2) ? 0 : CHIMNEY_TH_ACK) |
                ((fl & 1) ? CHIMNEY_TH_PSH : 0) | extra[(fl >> 2) & 3];
    }

    switch (osel & 7) {
    case FZ_O_TS:
    case FZ_O_TS_OLD:
        opt[0] = CHIMNEY_TCPOPT_NOP;
        opt[1] = CHIMNEY_TCPOPT_NOP;
        opt[2] = CHIMNEY_TCPOPT_TIMESTAMP;
        opt[3] = 10;
        fz_put32(opt + 4, (osel & 7) == FZ_O_TS ? t->ts_recent + (osel >> 3) :
                 t->ts_recent - 0x80000000u);
        fz_put32(opt + 8, 1234);
        olen = 12;
        break;
    case FZ_O_MSS:
        opt[0] = CHIMNEY_TCPOPT_MSS;
        opt[1] = 4;
        fz_put16(opt + 2, 536 + osel);
        olen = 4;
        break;
    case FZ_O_WS:
        opt[0] = CHIMNEY_TCPOPT_NOP;
        opt[1] = CHIMNEY_TCPOPT_WSCALE;
        opt[2] = 3;
        opt[3] = osel >> 3;
        olen = 4;
        break;
    case FZ_O_SACK:
        opt[0] = CHIMNEY_TCPOPT_NOP;
        opt[1] = CHIMNEY_TCPOPT_NOP;
        opt[2] = CHIMNEY_TCPOPT_SACK;
        opt[3] = 10;
        fz_put32(opt + 4, t->snd_una + 100);
        fz_put32(opt + 8, t->snd_una + 200);
        olen = 12;
        break;
    case FZ_O_RAW:
        break;      /* read above */
    case FZ_O_EOL:
        opt[0] = CHIMNEY_TCPOPT_EOL;
        olen = 1;
        break;
    }
    while (olen & 3) {
        opt[olen++] = CHIMNEY_TCPOPT_NOP;
    }

    /* Ethernet (+ 802.1Q) */
    memcpy(f, (mods & FZ_M_BAD_DMAC) ? t->mac : s->h->core.mac, 6);
    memcpy(f + 6, t->mac, 6);
    l2 = 12;
    vlan = (t->vlan || t->prio) != !!(mods & FZ_M_VLAN);
    if (vlan) {
        fz_put16(f + l2, CHIMNEY_ETHERTYPE_VLAN);
        fz_put16(f + l2 + 2, (uint16_t)(t->prio << 13 | t->vlan));
        l2 += 4;
    }
    fz_put16(f + l2, t->ipv6 ? CHIMNEY_ETHERTYPE_IPV6 :
             CHIMNEY_ETHERTYPE_IPV4);
    l2 += 2;
    ip = f + l2;
    l3 = t->ipv6 ? CHIMNEY_IPV6_HLEN :
         CHIMNEY_IPV4_HLEN + ((mods & FZ_M_IP_OPTS) ? 4 : 0);
    tcp = ip + l3;
    /* no clamp: 18 + 40 + 20 + 40 + 2047 bytes fit f */
    len = CHIMNEY_TCP_HLEN + olen + plen;

    /* TCP */
    memset(tcp, 0, CHIMNEY_TCP_HLEN);
    fz_put16(tcp, t->rport);
    fz_put16(tcp + 2, t->lport);
    fz_put32(tcp + 4, seq);
    fz_put32(tcp + 8, ack);
    tcp[12] = (uint8_t)((CHIMNEY_TCP_HLEN + olen) / 4) << 4;
    tcp[13] = flags;
    fz_put16(tcp + 14, win);
    memcpy(tcp + CHIMNEY_TCP_HLEN, opt, olen);
    for (i = 0; i < plen; i++) {
        tcp[CHIMNEY_TCP_HLEN + olen + i] = s->p < s->end ? *s->p++ : i;
    }
    fz_put16(tcp + 16, chimney_tcp_checksum(t->ipv6, t->rip, t->lip, tcp,
                                            len) ^
             ((mods & FZ_M_BAD_CSUM) ? 1 : 0));

    /* IP */
    if (t->ipv6) {
        memset(ip, 0, CHIMNEY_IPV6_HLEN);
        ip[0] = 0x60;
        fz_put16(ip + 4, len);
        ip[6] = (mods & FZ_M_FRAG) ? 44 : CHIMNEY_IPPROTO_TCP;
        ip[7] = 64;
        memcpy(ip + 8, t->rip, 16);
        memcpy(ip + 24, t->lip, 16);
    } else {
        memset(ip, 0, l3);
        ip[0] = 0x40 | (l3 / 4);
        fz_put16(ip + 2, l3 + len);
        fz_put16(ip + 4, 0x1234);
        fz_put16(ip + 6, (mods & FZ_M_FRAG) ? 0x2000 : 0x4000);
        ip[8] = 64;
        ip[9] = CHIMNEY_IPPROTO_TCP;
        memcpy(ip + 12, t->rip, 4);
        memcpy(ip + 16, t->lip, 4);
        if (l3 > CHIMNEY_IPV4_HLEN) {
            ip[20] = 1;     /* NOP options */
            ip[21] = 1;
            ip[22] = 1;
            ip[23] = 0;
        }
        fz_put16(ip + 10, chimney_ip_checksum(ip, l3) ^
                 ((mods & FZ_M_BAD_IPCSUM) ? 1 : 0));
    }
    len += l2 + l3;
    if (mods & FZ_M_TRUNC) {
        len -= MIN(len - CHIMNEY_ETH_HLEN, (size_t)(plen / 2 + 1));
    }
    if (len < 60) {
        memset(f + len, 0, 60 - len);
        len = 60;
    }
    fz_receive(s, f, len);
    if (s->r) {
        uint32_t st, info;
        bool found;

        /* consume upload requests and other events, as a driver would */
        tb_poll_events(s->h, s->r, 0, &st, &info, &found);
        fz_events(s);
    }
}

/*
 * FZ_DATA: a non-tree command naming a recorded object.  sel: bits 0..3
 * the opcode (SEND, RECV_POST, DISCONNECT, FORWARD, IND_DONE, NEIGH_REPLY,
 * QUERY_STATS, CLEAR_STATS, NOP, SET_VLANS, RECV_FLUSH, an unknown one);
 * RECV_POST with RECVF_SGL gets a list of pieces in the arena; bit 7 queue
 * it; ref: record (bits 0..3), stale (bit 6); flags; len.
 */
static inline void fz_op_data(FzState *s)
{
    static const uint16_t opcodes[16] = {
        CHIMNEY_CMD_SEND, CHIMNEY_CMD_RECV_POST, CHIMNEY_CMD_DISCONNECT,
        CHIMNEY_CMD_FORWARD, CHIMNEY_CMD_IND_DONE, CHIMNEY_CMD_NEIGH_REPLY,
        CHIMNEY_CMD_QUERY_STATS, CHIMNEY_CMD_CLEAR_STATS, CHIMNEY_CMD_NOP,
        CHIMNEY_CMD_SET_VLANS, 0x7f, CHIMNEY_CMD_NEIGH_REPLY,
        CHIMNEY_CMD_RECV_FLUSH, CHIMNEY_CMD_SET_PARAMS,
        CHIMNEY_CMD_NEIGH_REPLY, 0xffff,
    };
    uint8_t sel = fz_u(s, 1), ref = fz_u(s, 1);
    uint16_t flags = fz_u(s, 2);
    uint32_t len = fz_u(s, 2), i;
    uint16_t opcode = opcodes[sel & 15];
    uint64_t handle = 0, a;
    uint8_t *buf;

    if (!fz_arena(s, 70 * 1024)) {
        return;
    }
    if (opcode == CHIMNEY_CMD_NEIGH_REPLY) {
        FzNeighRec *r = FZ_REC(s, neigh, ref);

        handle = r ? r->handle : 0;
        len = (len & 1) ? sizeof(ChimneyNeighCached) : len & 63;
    } else {
        FzTcpRec *r = FZ_REC(s, tcp, ref);

        handle = r ? r->handle : 0;
    }
    if (ref & 0x40) {
        handle ^= 1ull << 32;
    }
    a = fake_alloc(s->h, len + 64);
    buf = fake_ptr(s->h, a);
    for (i = 0; i < len && i < 64; i++) {
        buf[i] = i;
    }
    if (opcode == CHIMNEY_CMD_NEIGH_REPLY && len >= sizeof(ChimneyNeighCached)) {
        ChimneyNeighCached *k = (ChimneyNeighCached *)buf;

        memset(k, 0, sizeof(*k));
        k->hdr.length = GUINT32_TO_LE(sizeof(*k));
        fz_mac(k->dl_dst_addr, flags);
        k->host_reachability_delta = GUINT32_TO_LE(flags >> 3);
    } else if (opcode == CHIMNEY_CMD_SET_VLANS) {
        len &= 0x3f;
    } else if (opcode == CHIMNEY_CMD_RECV_POST &&
               (flags & CHIMNEY_RECVF_SGL) && !(flags & 0x8000)) {
        /* a list of len % 72 pieces (some over the limit of 64) */
        uint32_t n = len % 72;
        ChimneyRecvSge *e;

        a = fake_alloc(s->h, n * sizeof(*e) + 16);
        e = fake_ptr(s->h, a);
        for (i = 0; i < n; i++) {
            uint32_t plen = 1 + (i * 37 + flags) % 300;

            e[i].addr = GUINT64_TO_LE(fake_alloc(s->h, plen));
            e[i].len = GUINT32_TO_LE((flags & 0x4000) && i == n / 2 ? 0 :
                                     plen);
            e[i].reserved = 0;
        }
        len = n;
    }
    fz_submit(s, opcode, flags, a, len, handle);
    if (!(sel & 0x80)) {
        fz_flush(s);
    }
}

/*
 * FZ_BULK: large trees (one per program).  variant bits 0..1 with bits
 * 4..7 == FZ_BULK_BIG: 1 the largest connection count (CHIMNEY_MAX_CONN,
 * two paths), 2 a maximal tree: exactly CHIMNEY_TREE_MAX_BLOCKS blocks
 * with state (1 neighbor, 8191 paths, 65536 connections), 3 one block
 * more (TREE_TOO_LARGE); otherwise a bulk initiate of 1 + value % 512
 * connections (value: the u16 operand).  Bit 2: terminate it again
 * afterwards (the matching terminate tree).  The big ones take
 * a second or two sanitized, hence the magic nibble: random mutations
 * rarely make one.
 */
#define FZ_BULK_BIG         0xb0
static inline void fz_op_bulk(FzState *s)
{
    uint8_t v = fz_u(s, 1);
    uint32_t n = fz_u(s, 2), extra = 0, i;
    TbBulk b;
    uint64_t last_path;
    FzNewObj o;

    switch ((v & 0xf0) == FZ_BULK_BIG ? v & 3 : 0) {
    case 0:
        n = 1 + n % 512;
        break;
    case 1:
        n = CHIMNEY_MAX_CONN;
        break;
    default:
        n = CHIMNEY_MAX_CONN;
        extra = CHIMNEY_TREE_MAX_BLOCKS - CHIMNEY_MAX_CONN - 3 + ((v & 3) == 3);
        break;
    }
    /* new blocks and the terminate tree */
    if (!fz_arena(s, (uint64_t)(n + extra + 3) * (FZ_MAX_BLOCK_BYTES + 128))) {
        return;
    }
    fz_flush(s);
    tb_bulk_build(s->h, &b, n);
    /* more (empty) paths after the two of the bulk tree */
    last_path = b.p[1];
    for (i = 0; i < extra; i++) {
        uint64_t p = tb_new_path4(s->h, 0x0a000001, 0x0b000000 + i, 1500);

        tb_next(s->h, last_path, p);
        last_path = p;
    }
    tb_cmd_wait(s->h, s->r, tb_cmd_submit(s->h, s->r, CHIMNEY_CMD_INITIATE, 0,
                                          b.n, 0, 0), NULL, NULL);
    /* remember the neighbor, the paths and the first connections */
    memset(&o, 0, sizeof(o));
    o.kind = FZ_K_NEIGH;
    fz_mac(o.rec.n.mac, 1);
    if (tb_blk(s->h, b.n)->flags & GUINT32_TO_LE(CHIMNEY_BLKF_HANDLE_VALID)) {
        fz_record(s, &o, tb_handle(s->h, b.n), 0);
        for (i = 0; i < 2; i++) {
            memset(&o.rec, 0, sizeof(o.rec));
            o.kind = FZ_K_PATH;
            fz_addr(o.rec.p.src, false, true, 0);
            fz_addr(o.rec.p.dst, false, false, 0);
            o.rec.p.dst[3] = 2 + i;
            fz_mac(o.rec.p.mac, 1);
            fz_record(s, &o, tb_handle(s->h, b.p[i]), tb_handle(s->h, b.n));
        }
        for (i = 0; i < n && i < 4; i++) {
            uint32_t t = i ? n - i : 0;

            memset(&o.rec, 0, sizeof(o.rec));
            o.kind = FZ_K_TCP;
            fz_addr(o.rec.t.lip, false, true, 0);
            fz_addr(o.rec.t.rip, false, false, 0);
            o.rec.t.rip[3] = t >= 32768 ? 3 : 2;
            fz_mac(o.rec.t.mac, 1);
            o.rec.t.lport = 1 + t % 32768;
            o.rec.t.rport = 80;
            o.rec.t.rcv_nxt = 1000;
            o.rec.t.snd_una = o.rec.t.snd_max = 5000;
            fz_record(s, &o, tb_handle(s->h, b.tcp[t]),
                      tb_handle(s->h, b.p[t >= 32768]));
        }
    }
    if (v & 4) {
        uint64_t root = tb_bulk_terminate_tree(s->h, &b);

        tb_cmd_wait(s->h, s->r,
                    tb_cmd_submit(s->h, s->r, CHIMNEY_CMD_TERMINATE, 0, root,
                                  0, 0), NULL, NULL);
    }
    tb_bulk_free(&b);
    fz_events(s);
}

/*
 * Length of each operation without running it (the op-level mutator in
 * chimney-fuzz-mutator.h splits programs with it).  It must follow
 * chimney_fuzz_one() exactly: with fz_check_lengths set (the smoke test
 * sets it) every operation run is checked against it.
 */
static inline uint32_t fz_peek(const uint8_t *d, size_t size, size_t off,
                               unsigned n)
{
    uint32_t v = 0;
    unsigned i;

    for (i = 0; i < n && off + i < size; i++) {
        v |= (uint32_t)d[off + i] << (8 * i);
    }
    return v;
}

/* Bytes of the operation starting at off (opcode included), clamped. */
static inline size_t fz_op_len(const uint8_t *d, size_t size, size_t off)
{
    size_t p = off + 1, n = 0;
    uint32_t v;

    switch (fz_op_table[d[off] % G_N_ELEMENTS(fz_op_table)]) {
    case FZ_WRITE_REG:
        n = 6;
        break;
    case FZ_READ_REG:
        n = 3;
        break;
    case FZ_POKE:
        n = 5 + fz_peek(d, size, p + 4, 1);
        break;
    case FZ_BLOCK:
        v = fz_peek(d, size, p + 4, 4);
        n = 8 + ((v & (1u << 20)) ? 3 : 0) + ((v & (1u << 21)) ? 3 : 0);
        break;
    case FZ_FRAME:
        n = 1 + fz_peek(d, size, p, 1) * 8;
        break;
    case FZ_CLOCK:
    case FZ_ADVANCE:
        n = 2;
        break;
    case FZ_PCI:
    case FZ_LINK:
    case FZ_BRINGUP:
        n = 1;
        break;
    case FZ_OFFLOAD:
        n = 3 + 4 * (fz_peek(d, size, p + 2, 1) & 3);
        break;
    case FZ_TREE:
        n = 2 + 4 * (1 + fz_peek(d, size, p + 1, 1) % FZ_MAX_TREE_BLOCKS);
        break;
    case FZ_SEGMENT: {
        uint32_t osel = fz_peek(d, size, p + 8, 1);
        uint32_t plen = fz_peek(d, size, p + 10, 1);

        n = 11 + ((osel & 7) == FZ_O_RAW ? (osel >> 3) + 1 : 0) +
            plen * 8 + (plen & 7);
        break;
    }
    case FZ_DATA:
        n = 6;
        break;
    case FZ_BULK:
        n = 3;
        break;
    case FZ_RXOFF:
        n = 5;
        break;
    default:        /* FZ_CMD, FZ_FLUSH */
        n = 0;
        break;
    }
    return MIN(1 + n, size - off);
}

static bool fz_check_lengths;

/*
 * Guest RAM is allocated once per process and only the parts a program
 * dirtied are cleared after it (a fresh zeroed 40 MiB per program costs
 * ~100 ms under ASan): the raw window, the arena up to its high-water
 * mark, and whatever the device wrote by DMA.
 */
static uint8_t *fz_ram;
static uint64_t fz_dirty_lo = UINT64_MAX, fz_dirty_hi;

static int fz_dma_write(void *opaque, uint64_t addr, const void *buf,
                        size_t len)
{
    if (fake_in_ram(addr, len)) {
        fz_dirty_lo = MIN(fz_dirty_lo, addr - FAKE_RAM_BASE);
        fz_dirty_hi = MAX(fz_dirty_hi, addr - FAKE_RAM_BASE + len);
    }
    return fake_dma_write(opaque, addr, buf, len);
}

static inline void fz_ram_clean(FzState *s, uint64_t arena_hi)
{
    memset(fz_ram, 0, FZ_RAW_WINDOW);
    if (arena_hi > FAKE_RAM_BASE + FZ_RAW_WINDOW / 2) {
        uint64_t lo = FZ_RAW_WINDOW / 2;

        memset(fz_ram + lo, 0, MIN(arena_hi - FAKE_RAM_BASE,
                                   (uint64_t)FAKE_RAM_SIZE) - lo);
    }
    if (fz_dirty_lo < fz_dirty_hi) {
        memset(fz_ram + fz_dirty_lo, 0, fz_dirty_hi - fz_dirty_lo);
    }
    fz_dirty_lo = UINT64_MAX;
    fz_dirty_hi = 0;
}

/* Run one program; at most 256 operations so each input stays quick. */
static inline void chimney_fuzz_one(const uint8_t *data, size_t size)
{
    static ChimneyCoreOps ops_rec;
    static const char *const names[FZ_OPS] = {
        "write_reg", "read_reg", "poke", "block", "cmd", "frame", "clock",
        "pci", "link", "bringup", "offload", "tree", "segment", "advance",
        "data", "flush", "bulk", "rxoff",
    };
    FzState *s = g_new0(FzState, 1);
    const uint8_t *op_start = NULL;
    bool trace;
    unsigned ops = 0;
    uint64_t arena_hi = 0;

    if (!fz_ram) {
        fz_ram = g_malloc0(FAKE_RAM_SIZE);
        ops_rec = fake_ops;
        ops_rec.dma_write = fz_dma_write;
    }
    s->send_done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         NULL);
    s->h = fake_host_new_on_ram(fz_ram);
    s->h->core.ops = &ops_rec;
    /* CHIMNEY_FUZZ_TRACE=1: one line per operation, for reproducers */
    trace = g_getenv("CHIMNEY_FUZZ_TRACE") != NULL;
    s->p = data;
    s->end = data + size;
    while (s->p < s->end && ops++ < 256) {
        uint8_t op = fz_op_table[*s->p++ % G_N_ELEMENTS(fz_op_table)];
        FakeHost *h = s->h;

        arena_hi = MAX(arena_hi, h->alloc_next);
        op_start = s->p - 1;
        if (trace) {
            g_printerr("fuzz: op %u at %zu: %s (%u objects, %u neigh "
                       "%u path %u tcp recorded)\n", ops - 1,
                       (size_t)(s->p - 1 - data), names[op],
                       chimney_core_offload_objects(&h->core), s->nneigh,
                       s->npath, s->ntcp);
        }

        switch (op) {
        case FZ_WRITE_REG: {
            uint32_t off = fz_u(s, 2) & 0xfff;
            uint32_t val = fz_u(s, 4);

            /* ring bases land in guest RAM most of the time */
            if ((off & 0x1f) == CHIMNEY_RING_ADDR_LO && off >= 0x100 &&
                off < 0x200 && (val & 1)) {
                val = (uint32_t)FAKE_RAM_BASE + (val & 0xfffc0);
            }
            chimney_core_write(&h->core, off, val, 4);
            break;
        }
        case FZ_READ_REG: {
            uint32_t off = fz_u(s, 2) & 0xfff;

            chimney_core_read(&h->core, off, 1u << (fz_u(s, 1) & 3));
            break;
        }
        case FZ_POKE: {
            uint32_t off = fz_u(s, 4) % FZ_RAW_WINDOW;
            uint32_t len = fz_u(s, 1);

            while (len-- && s->p < s->end) {
                h->ram[off] = *s->p++;
                off = (off + 1) % FZ_RAW_WINDOW;
            }
            break;
        }
        case FZ_BLOCK: {
            /* a plausible block: valid type/role most of the time */
            uint32_t off = (fz_u(s, 4) % (FZ_RAW_WINDOW - 4096)) & ~7u;
            ChimneyBlock *b = (ChimneyBlock *)(h->ram + off);
            uint32_t r = fz_u(s, 4);

            memset(b, 0, sizeof(*b));
            b->type = GUINT16_TO_LE(1 + r % 18);
            b->role = GUINT16_TO_LE((r >> 8) % 4);
            b->size = GUINT32_TO_LE(64 + ((r >> 12) % 5) * 8 * 8);
            b->next = GUINT64_TO_LE((r & (1u << 20)) ?
                                    FAKE_RAM_BASE + (fz_u(s, 3) & 0xffff8) :
                                    0);
            b->dependent = GUINT64_TO_LE((r & (1u << 21)) ?
                                         FAKE_RAM_BASE + (fz_u(s, 3) &
                                                          0xffff8) : 0);
            b->handle = GUINT64_TO_LE(CHIMNEY_HANDLE_MAKE(1 + (r >> 22) % 3,
                                                          (r >> 24) & 3, 1));
            break;
        }
        case FZ_CMD:
            chimney_core_cmd_process(&h->core);
            break;
        case FZ_FRAME: {
            uint32_t len = fz_u(s, 1) * 8;
            uint8_t frame[2048];

            len = MIN(len, (uint32_t)(s->end - s->p));
            memcpy(frame, s->p, len);
            s->p += len;
            fz_receive(s, frame, len);
            break;
        }
        case FZ_RXOFF: {
            uint32_t fl = fz_u(s, 1);

            s->rxoff.needs_csum = fl & 1;
            s->rxoff.gso = fl & 2;
            s->rxoff.csum_start = fz_u(s, 1);
            s->rxoff.csum_offset = fz_u(s, 1);
            s->rxoff.gso_size = fz_u(s, 2);
            break;
        }
        case FZ_CLOCK:
            fake_clock_step(h, (int64_t)fz_u(s, 2) * 1000);
            break;
        case FZ_PCI: {
            uint32_t v = fz_u(s, 1);

            h->bus_master = v & 1;
            h->msix = v & 2;
            chimney_core_pci_changed(&h->core);
            break;
        }
        case FZ_LINK:
            chimney_core_set_link(&h->core, fz_u(s, 1) & 1);
            break;
        case FZ_BRINGUP:
            fz_op_bringup(s, fz_u(s, 1));
            break;
        case FZ_OFFLOAD:
            fz_op_offload(s);
            break;
        case FZ_TREE:
            fz_op_tree(s);
            break;
        case FZ_SEGMENT:
            fz_op_segment(s);
            break;
        case FZ_ADVANCE: {
            uint32_t v = fz_u(s, 2);

            /* ms, or whole seconds with the top bit (timeouts, wraps) */
            fake_clock_step(h, (v & 0x8000) ? (int64_t)(v & 0x7fff) *
                            1000000000 : (int64_t)v * 1000000);
            if (s->r) {
                fz_flush(s);
            }
            break;
        }
        case FZ_DATA:
            fz_op_data(s);
            break;
        case FZ_FLUSH:
            fz_flush(s);
            break;
        case FZ_BULK:
            if (s->r && !s->bulk++) {
                fz_op_bulk(s);
            } else {
                fz_skip(s, 3);
            }
            break;
        }
        if (fz_check_lengths &&
            (size_t)(s->p - op_start) !=
            fz_op_len(data, size, op_start - data)) {
            fprintf(stderr, "chimney-fuzz: op %s at %zu took %zu bytes, "
                    "fz_op_len() says %zu\n", names[op],
                    (size_t)(op_start - data), (size_t)(s->p - op_start),
                    fz_op_len(data, size, op_start - data));
            abort();
        }
    }
    arena_hi = MAX(arena_hi, s->h->alloc_next);
    if (s->r) {
        tb_rings_free(s->r);
    }
    fake_host_free_keep_ram(s->h);
    fz_ram_clean(s, arena_hi);
    g_hash_table_destroy(s->send_done);
    g_free(s);
}

/*
 * Emitters: build programs (seeds, the smoke test).  They append to a
 * GByteArray in the format chimney_fuzz_one() reads.
 */
static inline void fz_emit(GByteArray *b, const void *p, size_t n)
{
    g_byte_array_append(b, p, n);
}

static inline void fz_emit_u8(GByteArray *b, uint8_t v)
{
    fz_emit(b, &v, 1);
}

static inline void fz_emit_u16(GByteArray *b, uint16_t v)
{
    uint8_t x[2] = { v, v >> 8 };

    fz_emit(b, x, 2);
}

static inline void fz_emit_u32(GByteArray *b, uint32_t v)
{
    uint8_t x[4] = { v, v >> 8, v >> 16, v >> 24 };

    fz_emit(b, x, 4);
}

static inline void fz_emit_reg(GByteArray *b, uint16_t off, uint32_t val)
{
    fz_emit_u8(b, FZ_WRITE_REG);
    fz_emit_u16(b, off);
    fz_emit_u32(b, val);
}

static inline void fz_emit_bringup(GByteArray *b, uint8_t variant)
{
    fz_emit_u8(b, FZ_BRINGUP);
    fz_emit_u8(b, variant);
}

/* One connection of an FZ_OFFLOAD. */
typedef struct FzTcpSpec {
    uint8_t sel, opts;
    uint16_t bytes;
} FzTcpSpec;

static inline void fz_emit_offload(GByteArray *b, uint8_t nsel, uint8_t psel,
                                   uint8_t tsel, const FzTcpSpec *t)
{
    unsigned i;

    fz_emit_u8(b, FZ_OFFLOAD);
    fz_emit_u8(b, nsel);
    fz_emit_u8(b, psel);
    fz_emit_u8(b, tsel);
    for (i = 0; i < (tsel & 3u); i++) {
        fz_emit_u8(b, t[i].sel);
        fz_emit_u8(b, t[i].opts);
        fz_emit_u16(b, t[i].bytes);
    }
}

typedef struct FzBlockSpec {
    uint8_t ref, shape;
    uint16_t val;
} FzBlockSpec;

static inline void fz_emit_tree(GByteArray *b, uint8_t op, unsigned n,
                                const FzBlockSpec *blk)
{
    unsigned i;

    fz_emit_u8(b, FZ_TREE);
    fz_emit_u8(b, op);
    fz_emit_u8(b, n - 1);
    for (i = 0; i < n; i++) {
        fz_emit_u8(b, blk[i].ref);
        fz_emit_u8(b, blk[i].shape);
        fz_emit_u16(b, blk[i].val);
    }
}

static inline void fz_emit_segment(GByteArray *b, uint8_t conn, uint8_t flags,
                                   int16_t dseq, int16_t dack, uint16_t win,
                                   uint8_t opts, uint8_t mods,
                                   const void *payload, uint8_t plen8)
{
    uint32_t plen = plen8 * 8 + (plen8 & 7);

    fz_emit_u8(b, FZ_SEGMENT);
    fz_emit_u8(b, conn);
    fz_emit_u8(b, flags);
    fz_emit_u16(b, dseq);
    fz_emit_u16(b, dack);
    fz_emit_u16(b, win);
    fz_emit_u8(b, opts);
    fz_emit_u8(b, mods);
    fz_emit_u8(b, plen8);
    if ((opts & 7) == FZ_O_RAW) {
        unsigned i;

        /* the raw option bytes: a timestamp option with NOP padding */
        for (i = 0; i < (opts >> 3) + 1u; i++) {
            static const uint8_t ts[12] = { 1, 1, 8, 10, 0, 0, 1, 0,
                                            0, 0, 0, 1 };

            fz_emit_u8(b, i < sizeof(ts) ? ts[i] : CHIMNEY_TCPOPT_NOP);
        }
    }
    if (plen) {
        uint8_t *zero = g_malloc0(plen);

        fz_emit(b, payload ? payload : zero, plen);
        g_free(zero);
    }
}

static inline void fz_emit_advance(GByteArray *b, uint16_t v)
{
    fz_emit_u8(b, FZ_ADVANCE);
    fz_emit_u16(b, v);
}

static inline void fz_emit_data(GByteArray *b, uint8_t sel, uint8_t ref,
                                uint16_t flags, uint16_t len)
{
    fz_emit_u8(b, FZ_DATA);
    fz_emit_u8(b, sel);
    fz_emit_u8(b, ref);
    fz_emit_u16(b, flags);
    fz_emit_u16(b, len);
}

#endif /* CHIMNEY_FUZZ_H */
