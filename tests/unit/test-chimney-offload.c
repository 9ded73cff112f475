/*
 * Standalone unit tests of the chimney-nic offload target: state tables,
 * handles, the tree walker and the five state operations, the receive
 * demux, without QEMU.  Test names carry the conformance-rule numbers of
 * reference/chimney-spec.md section 8 they check.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-tree-builder.h"
#include "chimney-peer.h"
#include "chimney_offload.h"
#include "chimney_hdr.h"
#include "chimney_parse.h"
#include "chimney_tcp.h"

typedef struct Fixture {
    FakeHost *h;
    TbRings *r;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    f->h = fake_host_new();
    f->r = tb_rings_new(f->h);
    g_assert_cmphex(tb_set_params(f->h, f->r, 0), ==, CHIMNEY_ST_SUCCESS);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    tb_rings_free(f->r);
    fake_host_free(f->h);
}

static ChimneyEngine *ofl(Fixture *f)
{
    return f->h->core.engine;
}

/* N{P{T...}} with `ntcp` connections on ports 1000+i. */
static uint64_t build_npt(FakeHost *h, uint64_t *n, uint64_t *p,
                          uint64_t *t, unsigned ntcp)
{
    unsigned i;

    *n = tb_new_neigh(h, 1, 0);
    *p = tb_new_path4(h, 0x0a000001, 0x0a000002, 1500);
    tb_dep(h, *n, *p);
    for (i = 0; i < ntcp; i++) {
        t[i] = tb_new_tcp(h, 1000 + i, 80);
        if (i) {
            tb_next(h, t[i - 1], t[i]);
        }
    }
    if (ntcp) {
        tb_dep(h, *p, t[0]);
    }
    return *n;
}

static void test_initiate_basic(Fixture *f, gconstpointer data)
{
    uint64_t n, p, t[2];
    uint32_t info;
    uint8_t lip[4] = { 10, 0, 0, 1 }, rip[4] = { 10, 0, 0, 2 };

    build_npt(f->h, &n, &p, t, 2);
    g_assert_cmphex(tb_cmd_full(f->h, f->r, CHIMNEY_CMD_INITIATE, n, 0, 0,
                                &info), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(info, ==, 4);
    /* rules 008, 011: statuses and non-zero handles written back */
    g_assert_cmphex(tb_status(f->h, n), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(f->h, p), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(f->h, t[1]), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(tb_handle(f->h, n)), ==,
                     CHIMNEY_KIND_NEIGH);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(tb_handle(f->h, t[1])), ==,
                     CHIMNEY_KIND_TCP);
    g_assert_cmpuint(GUINT32_FROM_LE(tb_blk(f->h, t[0])->flags), ==,
                     CHIMNEY_BLKF_HANDLE_VALID);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 2);
    /* inverted tree: TCP -> path -> neighbor, found by 4-tuple */
    g_assert_cmpuint(chimney_demux_lookup(ofl(f), false, lip, rip, 1001, 80),
                     ==, CHIMNEY_HANDLE_INDEX(tb_handle(f->h, t[1])));
    g_assert_cmpuint(chimney_demux_lookup(ofl(f), false, lip, rip, 1002, 80),
                     ==, CHIMNEY_NO_INDEX);
}

/* Terminate needs room for everything it must hand back (no data loss). */
static void test_terminate_needs_room(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t, ref, rd_addr;
    TbTcpState s;
    ChimneyTcpDelegated *d;

    n = tb_new_neigh(h, 1, 0);
    p = tb_new_path4(h, 1, 2, 1500);
    tb_dep(h, n, p);
    tb_tcp_defaults(&s, 6100, 80);
    rd_addr = fake_alloc(h, 64);
    s.d.rcv_data_addr = GUINT64_TO_LE(rd_addr);
    s.d.rcv_data_len = GUINT32_TO_LE(64);
    t = tb_new_tcp_state(h, &s);
    tb_dep(h, p, t);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);
    ref = tb_ref(h, CHIMNEY_TYPE_TCP_DELEGATED, tb_handle(h, t),
                 sizeof(ChimneyTcpDelegated));
    d = (ChimneyTcpDelegated *)(tb_blk(h, ref) + 1);
    d->hdr.length = GUINT32_TO_LE(sizeof(*d));
    d->rcv_data_addr = GUINT64_TO_LE(fake_alloc(h, 64));
    d->rcv_data_cap = GUINT32_TO_LE(10);
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, ref);
    g_assert_cmphex(tb_status(h, ref), ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 1);  /* still offloaded */
}

/* Bad input: each gets a defined status and changes nothing else. */
static void test_bad_trees(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t[1], a, b, forged;

    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);

    /* a cycle through `next` */
    a = tb_new_neigh(h, 7, 0);
    b = tb_new_neigh(h, 8, 0);
    tb_next(h, a, b);
    tb_next(h, b, a);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(tb_status(h, a), ==, 0xdeadbeef);     /* not written */
    g_assert_cmpuint(ofl(f)->neigh.used, ==, 1);

    /* a TCP block with a dependent (deeper than three layers) */
    a = tb_new_tcp(h, 7000, 80);
    tb_dep(h, a, tb_new_tcp(h, 7001, 80));
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);

    /* a path under a path (wrong layer) */
    a = tb_new_path4(h, 1, 2, 1500);
    tb_dep(h, a, tb_new_path4(h, 1, 3, 1500));
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);

    /* unknown type: the tree is refused and not written */
    a = tb_block(h, 0x55, CHIMNEY_ROLE_NEW, 0, NULL, 0);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(tb_status(h, a), ==, 0xdeadbeef);
    /* the reserved TcpOffloadResourceState fails its block */
    a = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, tb_handle(h, p),
                 NULL, 0);
    b = tb_block(h, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_NEW, 0, NULL, 0);
    tb_dep(h, a, b);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, b), ==, CHIMNEY_ST_BAD_TYPE);
    /* roles that do not belong to the operation; NEW without a parent */
    a = tb_ref(h, CHIMNEY_TYPE_NEIGH, tb_handle(h, n), 0);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);
    a = tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER, tb_handle(h, n),
                 NULL, 0);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_QUERY, a), ==,
                    CHIMNEY_ST_BAD_TREE);
    a = tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    tb_dep(h, a, tb_new_path4(h, 1, 9, 1500));
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);

    /* root outside guest RAM; dependent pointing outside */
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, 0xdead000000ull),
                    ==, CHIMNEY_ST_DMA_ERROR);
    a = tb_new_neigh(h, 9, 0);
    tb_dep(h, a, 0xdead000000ull);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_DMA_ERROR);
    g_assert_cmpuint(ofl(f)->neigh.used, ==, 1);   /* nothing applied */

    /* state lengths that disagree with the block */
    a = tb_new_neigh(h, 10, 0);
    ((ChimneyNeighConst *)(tb_blk(h, a) + 1))->hdr.length =
        GUINT32_TO_LE(4000);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_BAD_LENGTH);
    a = tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_NEW, 0, NULL, 0);
    tb_blk(h, a)->size = GUINT32_TO_LE(10);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);
    /* invalidate blocks carry no state */
    a = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, t[0]), 16);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, a);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_false(chimney_tcp_at(ofl(f), 0)->invalid);

    /* stale and forged handles are rejected, never dereferenced */
    forged = tb_handle(h, t[0]) + (1ull << 32);             /* generation */
    a = tb_ref(h, CHIMNEY_TYPE_TCP, forged, 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, a);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_BAD_HANDLE);
    a = tb_ref(h, CHIMNEY_TYPE_TCP, CHIMNEY_HANDLE_MAKE(CHIMNEY_KIND_TCP,
                                                        0xfffff, 1), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_QUERY, a);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_BAD_HANDLE);
    a = tb_ref(h, CHIMNEY_TYPE_NEIGH, tb_handle(h, t[0]), 0);   /* kind */
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_BAD_HANDLE);
    a = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, t[0]) | 0x80000000ull, 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_BAD_HANDLE);

    /* a second offload of the same 4-tuple */
    a = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, tb_handle(h, p),
                 NULL, 0);
    b = tb_new_tcp(h, 1000, 80);
    tb_dep(h, a, b);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, a);
    g_assert_cmphex(tb_status(h, b), ==, CHIMNEY_ST_DUPLICATE);

    /* offload engine disabled */
    wr(h, CHIMNEY_REG_CTRL, 0);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, tb_new_neigh(h, 11,
                                                                      0)),
                    ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    wr(h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);

    /* everything offloaded before is intact */
    g_assert_cmpuint(ofl(f)->neigh.used, ==, 1);
    g_assert_cmpuint(ofl(f)->path.used, ==, 1);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 1);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), >, 10);
}

/* A tree one block larger than advertised is refused as a whole. */
static void test_tree_too_large(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint32_t i, nblk = CHIMNEY_TREE_MAX_BLOCKS + 1;
    uint64_t base = fake_alloc(h, (uint64_t)nblk * sizeof(ChimneyBlock));
    ChimneyBlock *b = fake_ptr(h, base);

    for (i = 0; i < nblk; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        b[i].type = GUINT16_TO_LE(CHIMNEY_TYPE_NEIGH);
        b[i].role = GUINT16_TO_LE(CHIMNEY_ROLE_PLACEHOLDER);
        b[i].size = GUINT32_TO_LE(sizeof(ChimneyBlock));
        b[i].next = GUINT64_TO_LE(i + 1 < nblk ?
                                  base + (i + 1) * sizeof(ChimneyBlock) : 0);
    }
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, base), ==,
                    CHIMNEY_ST_TREE_TOO_LARGE);
    /* one fewer is fine */
    b[nblk - 2].next = 0;
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, base), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(GUINT32_FROM_LE(b[0].status), ==, CHIMNEY_ST_SUCCESS);
}

/* rule 003 capacity: 65,536 connections in one tree, then all uploaded. */
static void test_capacity_65536(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint32_t nconn = CHIMNEY_MAX_CONN, info;
    uint64_t rn, lk, extra;
    TbBulk b;

    tb_bulk_build(h, &b, nconn);
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_INITIATE, b.n, 0, 0,
                                &info), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(info, ==, nconn + 3);
    g_assert_cmphex(tb_status(h, b.n), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, nconn);
    g_assert_cmphex(rd(h, CHIMNEY_REG_CAP_MAX_CONN), ==, nconn);
    /* one more does not fit: OFFLOAD_TCP_ENTRIES */
    lk = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                  tb_handle(h, b.p[0]), NULL, 0);
    extra = tb_new_tcp(h, 40000, 80);
    tb_dep(h, lk, extra);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, lk);
    g_assert_cmphex(tb_status(h, extra), ==, CHIMNEY_ST_OFFLOAD_TCP_ENTRIES);

    /* terminate everything in one tree; nothing left behind */
    rn = tb_bulk_terminate_tree(h, &b);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, rn), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, rn), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(ofl(f)->neigh.used + ofl(f)->path.used +
                     ofl(f)->tcp.used, ==, 0);
    tb_bulk_free(&b);
}

/*
 * The logical switch: a segment of an offloaded connection goes to the
 * TCP object (and is ACKed with headers built from TCP -> path ->
 * neighbor); a segment of any other 4-tuple goes up the L2 ring.
 */
static size_t make_segment(uint8_t *buf, const uint8_t dst_mac[6],
                           uint32_t saddr, uint32_t daddr, uint16_t sport,
                           uint16_t dport, uint32_t seq, uint32_t ack,
                           const char *payload)
{
    PeerSeg s = {
        .dst_mac = dst_mac, .saddr = saddr, .daddr = daddr,
        .sport = sport, .dport = dport, .seq = seq, .ack = ack,
        .payload = payload, .len = strlen(payload),
    };

    return peer_segment(buf, 2048, &s);
}

static void test_demux_logical_switch(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    static const uint8_t own[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    uint64_t n, p, t[1], rx = fake_ring_setup(h, CHIMNEY_RING_RX, 8,
                                              sizeof(ChimneyRxDesc));
    uint64_t bufs = fake_alloc(h, 8 * 2048), ref, data_ret;
    ChimneyRxDesc *d = fake_ptr(h, rx);
    ChimneyTcpDelegated *dl;
    ChimneyRxParsed r;
    uint8_t frame[2048];
    size_t len;
    unsigned i;
    GByteArray *ack;

    for (i = 0; i < 7; i++) {
        d[i].addr = GUINT64_TO_LE(bufs + i * 2048);
        d[i].buf_len = GUINT16_TO_LE(2048);
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 7);
    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);

    /* peer 10.0.0.2:80 -> us 10.0.0.1:1000, in sequence (RcvNxt 1000) */
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1000, 1000,
                       5000, "hello offload");
    g_assert_cmpint(chimney_core_receive(&h->core, frame, len), ==, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 0);
    /* ACK on the wire: built from neighbor/path/TCP state */
    g_assert_cmpuint(h->frames->len, ==, 1);
    ack = g_ptr_array_index(h->frames, 0);
    g_assert_true(chimney_parse_frame(ack->data, ack->len, &r));
    g_assert_true(r.is_tcp && r.tcp_csum_ok && r.ip_header_ok);
    g_assert_cmpmem(ack->data, 6, ((uint8_t[]){ 2, 0, 0, 0, 0, 1 }), 6);
    g_assert_cmpmem(ack->data + 6, 6, own, 6);
    g_assert_cmpuint(r.src_port, ==, 1000);
    g_assert_cmpuint(r.dst_port, ==, 80);
    g_assert_cmpuint(r.ack, ==, 1000 + 13);
    g_assert_cmpuint(r.seq, ==, 5000);
    g_assert_cmpuint(r.tcp_flags, ==, CHIMNEY_TH_ACK);
    g_assert_cmpuint(r.ip_id, >=, 0x8000);

    /* another port: not offloaded, goes to the L2 ring untouched */
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1001, 1, 1,
                       "host path");
    g_assert_cmpint(chimney_core_receive(&h->core, frame, len), ==, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 1);
    g_assert_cmpmem(fake_ptr(h, bufs), len, frame, len);

    /* upload: the received data comes back as undelivered data */
    data_ret = fake_alloc(h, 256);
    ref = tb_ref(h, CHIMNEY_TYPE_TCP_DELEGATED, tb_handle(h, t[0]),
                 sizeof(ChimneyTcpDelegated));
    dl = (ChimneyTcpDelegated *)(tb_blk(h, ref) + 1);
    dl->hdr.length = GUINT32_TO_LE(sizeof(*dl));
    dl->rcv_data_addr = GUINT64_TO_LE(data_ret);
    dl->rcv_data_cap = GUINT32_TO_LE(256);
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, ref);
    g_assert_cmphex(tb_status(h, ref), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(dl->rcv_data_len), ==, 13);
    g_assert_cmpuint(GUINT32_FROM_LE(dl->rcv_nxt), ==, 1013);
    g_assert_cmpmem(fake_ptr(h, data_ret), 13, "hello offload", 13);

    /* rule 048: after upload the same 4-tuple goes to the host path */
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1000, 1013,
                       5000, "after");
    chimney_core_receive(&h->core, frame, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 2);
}

/*
 * Receive steering exceptions: another destination MAC, a FIN (which this
 * engine does not process: it asks for an upload), and an invalidated
 * connection all leave the frame to the host path.
 */
static void test_steering_exceptions(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    static const uint8_t own[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
    uint64_t n, p, t[2], rx = fake_ring_setup(h, CHIMNEY_RING_RX, 16,
                                              sizeof(ChimneyRxDesc));
    uint64_t bufs = fake_alloc(h, 16 * 2048), inv;
    ChimneyRxDesc *d = fake_ptr(h, rx);
    uint8_t frame[2048];
    size_t len;
    unsigned i, retrieves = 0;

    for (i = 0; i < 15; i++) {
        d[i].addr = GUINT64_TO_LE(bufs + i * 2048);
        d[i].buf_len = GUINT16_TO_LE(2048);
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 15);
    wr(h, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);
    build_npt(h, &n, &p, t, 2);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);

    len = make_segment(frame, other, 0x0a000002, 0x0a000001, 80, 1000, 1000,
                       5000, "not for us");
    chimney_core_receive(&h->core, frame, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 1);
    g_assert_cmpuint(h->frames->len, ==, 0);            /* no ACK */

    /* urgent data: upload requested, the segment goes to the host */
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1000, 1000,
                       5000, "bye");
    frame[14 + 20 + 13] |= CHIMNEY_TH_URG;
    /* fix the TCP checksum for the changed flags */
    frame[14 + 20 + 16] = frame[14 + 20 + 17] = 0;
    {
        uint16_t c = chimney_tcp_checksum(false, frame + 26, frame + 30,
                                          frame + 34, len - 34);

        frame[14 + 20 + 16] = c >> 8;
        frame[14 + 20 + 17] = c & 0xff;
    }
    chimney_core_receive(&h->core, frame, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 2);
    tb_cmd(h, f->r, CHIMNEY_CMD_NOP, 0);
    for (i = 0; i < f->r->events->len; i++) {
        ChimneyEvent *e = &g_array_index(f->r->events, ChimneyEvent, i);

        if (e->type == CHIMNEY_EVT_TCP_RETRIEVE) {
            g_assert_cmpuint(e->handle, ==, tb_handle(h, t[0]));
            g_assert_cmpuint(e->code, ==, CHIMNEY_UPLOAD_URGENT_DATA);
            retrieves++;
        }
    }
    g_assert_cmpuint(retrieves, ==, 1);
    /* with the upload pending, its data goes to the host too */
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1000, 1000,
                       5000, "late");
    chimney_core_receive(&h->core, frame, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 3);

    /* the second connection is processed until it is invalidated */
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1001, 1000,
                       5000, "data");
    chimney_core_receive(&h->core, frame, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 3);
    g_assert_cmpuint(h->frames->len, ==, 1);            /* its ACK */
    inv = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, t[1]), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, inv);
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1001, 1004,
                       5000, "more");
    chimney_core_receive(&h->core, frame, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 4);
    g_assert_cmpuint(h->frames->len, ==, 1);            /* rule 064 */
}

/* A device reset drops all offloaded state; old handles stay stale. */
static void test_reset_drops_state(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t[2], q;
    TbRings *r2;

    build_npt(h, &n, &p, t, 2);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);
    wr(h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 0);
    r2 = tb_rings_new(h);
    q = tb_ref(h, CHIMNEY_TYPE_TCP_CONST, tb_handle(h, t[0]),
               sizeof(ChimneyTcpConst));
    tb_cmd(h, r2, CHIMNEY_CMD_QUERY, q);
    g_assert_cmphex(tb_status(h, q), ==, CHIMNEY_ST_BAD_HANDLE);
    tb_rings_free(r2);
}

/* rules 121-123: OFFLOAD_EN transitions pause, ask for uploads, resume. */
static void test_rule_121_pause_resume(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t[1];
    unsigned i;
    uint16_t codes[3] = { 0 };
    unsigned ncodes = 0;

    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);
    /* parameters cannot change under live objects */
    g_assert_cmphex(tb_set_params(h, f->r, 0), ==, CHIMNEY_ST_INVALID_STATE);
    wr(h, CHIMNEY_REG_CTRL, 0);
    /* paused: no new offloads, existing objects still managed */
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE,
                           tb_new_neigh(h, 5, 0)), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    n = tb_ref(h, CHIMNEY_TYPE_NEIGH, tb_handle(h, n), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, n);
    g_assert_cmphex(tb_status(h, n), ==, CHIMNEY_ST_SUCCESS);
    wr(h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    tb_cmd(h, f->r, CHIMNEY_CMD_NOP, 0);
    for (i = 0; i < f->r->events->len && ncodes < 3; i++) {
        ChimneyEvent *e = &g_array_index(f->r->events, ChimneyEvent, i);

        if (e->type == CHIMNEY_EVT_STATUS) {
            codes[ncodes++] = e->code;
        }
    }
    g_assert_cmpuint(ncodes, ==, 3);
    g_assert_cmpuint(codes[0], ==, CHIMNEY_STATUS_IND_PAUSE);
    g_assert_cmpuint(codes[1], ==, CHIMNEY_STATUS_IND_UPLOAD_ALL);
    g_assert_cmpuint(codes[2], ==, CHIMNEY_STATUS_IND_RESUME);
}

/* INITIATE needs SET_PARAMS first; nothing is read from the tree. */
static void test_initiate_needs_params(void)
{
    FakeHost *h = fake_host_new();
    TbRings *r = tb_rings_new(h);
    uint64_t n = tb_new_neigh(h, 1, 0);

    g_assert_cmphex(tb_cmd(h, r, CHIMNEY_CMD_INITIATE, n), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(tb_status(h, n), ==, 0xdeadbeef);
    tb_rings_free(r);
    fake_host_free(h);
}

/* Invalidated objects: linkers and updates naming them fail. */
static void test_invalidated_objects_refused(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t[1], inv, lk, nt, up;

    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);
    inv = tb_ref(h, CHIMNEY_TYPE_IP4, tb_handle(h, p), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, inv);
    lk = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, tb_handle(h, p),
                  NULL, 0);
    nt = tb_new_tcp(h, 9000, 80);
    tb_dep(h, lk, nt);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, lk);
    g_assert_cmphex(tb_status(h, lk), ==, CHIMNEY_ST_INVALID_STATE);
    g_assert_cmphex(tb_status(h, nt), ==, CHIMNEY_ST_FAILURE);
    up = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, t[0]), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_UPDATE, up);
    g_assert_cmphex(tb_status(h, up), ==, CHIMNEY_ST_INVALID_STATE);
    /* the invalidated connection sends nothing, even to ACK data */
    g_assert_true(chimney_tcp_at(ofl(f), 0)->invalid);
}

/* Terminate resolves top-down: a bad parent protects its subtree. */
static void test_terminate_bad_parent(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t[1], rp, rt;

    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);
    rp = tb_ref(h, CHIMNEY_TYPE_IP4, tb_handle(h, p) ^ (1ull << 40), 0);
    rt = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, t[0]), 0);
    tb_dep(h, rp, rt);
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, rp);
    g_assert_cmphex(tb_status(h, rp), ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(tb_status(h, rt), ==, CHIMNEY_ST_FAILURE);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 1);
}

/* rules 119-120: staleness query before sending, NEIGH_REPLY answers. */
static void test_rule_119_neighbor_query(void)
{
    FakeHost *h = fake_host_new();
    TbRings *r = tb_rings_new(h);
    static const uint8_t own[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    uint64_t n, p, t[1], kaddr;
    ChimneyNeighCached *k;
    uint8_t frame[256];
    size_t len;
    unsigned i, queries = 0;

    g_assert_cmphex(tb_set_params(h, r, 100), ==, CHIMNEY_ST_SUCCESS);
    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, r, CHIMNEY_CMD_INITIATE, n);
    /*
     * 150 ticks later both views are stale.  An old segment is no forward
     * progress, so the duplicate ACK it provokes asks the host first.
     */
    fake_clock_step(h, 150 * 1000000ll);
    len = make_segment(frame, own, 0x0a000002, 0x0a000001, 80, 1000, 900,
                       5000, "x");
    chimney_core_receive(&h->core, frame, len);
    tb_cmd(h, r, CHIMNEY_CMD_NOP, 0);
    for (i = 0; i < r->events->len; i++) {
        ChimneyEvent *e = &g_array_index(r->events, ChimneyEvent, i);

        if (e->type == CHIMNEY_EVT_NEIGH_QUERY) {
            queries++;
            g_assert_cmpuint(e->handle, ==, tb_handle(h, n));
            /* NRD: ticks since the offload, the last progress seen */
            g_assert_cmpuint(e->info, ==, 150);
        }
    }
    g_assert_cmpuint(queries, ==, 1);
    /* the host answers with a fresh HRD */
    kaddr = fake_alloc(h, sizeof(*k));
    k = fake_ptr(h, kaddr);
    memset(k, 0, sizeof(*k));
    k->hdr.length = GUINT32_TO_LE(sizeof(*k));
    k->host_reachability_delta = GUINT32_TO_LE(3);
    g_assert_cmphex(tb_cmd_full(h, r, CHIMNEY_CMD_NEIGH_REPLY, kaddr,
                                sizeof(*k), tb_handle(h, n), NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_nic_ticks(h->core.engine) -
                     chimney_neigh_at(h->core.engine, 0)->hrt, ==, 3);
    g_assert_cmphex(tb_cmd_full(h, r, CHIMNEY_CMD_NEIGH_REPLY, kaddr,
                                sizeof(*k), tb_handle(h, t[0]), NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    tb_rings_free(r);
    fake_host_free(h);
}

/*
 * Structures longer than the ABI size (a newer ABI) are accepted and their
 * tail skipped, even when that leaves the next structure misaligned.
 */
static void test_state_longer_structures(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n, p, t[1], lk, blk;
    TbTcpState s;
    uint8_t buf[sizeof(TbTcpState) + 5];
    ChimneyTcpObj *o;

    build_npt(h, &n, &p, t, 1);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n);
    tb_tcp_defaults(&s, 4242, 443);
    s.c.hdr.length = GUINT32_TO_LE(sizeof(s.c) + 5);
    s.d.rcv_nxt = GUINT32_TO_LE(0x12345678);
    memcpy(buf, &s.c, sizeof(s.c));
    memset(buf + sizeof(s.c), 0xee, 5);
    memcpy(buf + sizeof(s.c) + 5, &s.k, sizeof(s.k) + sizeof(s.d));
    lk = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, tb_handle(h, p),
                  NULL, 0);
    blk = tb_block(h, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, buf, sizeof(buf));
    tb_dep(h, lk, blk);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, lk);
    g_assert_cmphex(tb_status(h, blk), ==, CHIMNEY_ST_SUCCESS);
    o = chimney_tcp_at(ofl(f), CHIMNEY_HANDLE_INDEX(tb_handle(h, blk)));
    g_assert_cmpuint(o->c.local_port, ==, 4242);
    g_assert_cmpuint(o->k.ttl_hop_limit, ==, 64);
    g_assert_cmphex(o->d.rcv_nxt, ==, 0x12345678);
}

#define ADD(name, fn) \
    g_test_add("/chimney/offload/" name, Fixture, NULL, fx_setup, fn, \
               fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("initiate-basic", test_initiate_basic);
    ADD("terminate-needs-room", test_terminate_needs_room);
    ADD("bad-trees", test_bad_trees);
    ADD("tree-too-large", test_tree_too_large);
    ADD("capacity-65536", test_capacity_65536);
    ADD("demux-logical-switch", test_demux_logical_switch);
    ADD("reset-drops-state", test_reset_drops_state);
    ADD("rule-121-123-pause-resume", test_rule_121_pause_resume);
    g_test_add_func("/chimney/offload/initiate-needs-params",
                    test_initiate_needs_params);
    ADD("invalidated-objects-refused", test_invalidated_objects_refused);
    ADD("terminate-bad-parent", test_terminate_bad_parent);
    ADD("state-longer-structures", test_state_longer_structures);
    ADD("steering-exceptions", test_steering_exceptions);
    g_test_add_func("/chimney/offload/rule-119-120-neighbor-query",
                    test_rule_119_neighbor_query);
    return g_test_run();
}
