/*
 * Standalone unit tests of the chimney-nic offload engine's house: one
 * object named twice in a tree (every operation), demux after release,
 * RFC 5961 ACK validation, neighbor VLAN steering, logged guest errors,
 * keepalive and remaining timer ticks (rules 041, 056, 058), the data
 * buffer budget (rule 023), bounded command batches, handle generations
 * across migration, the per-tree state limit.  Names carry the rules of
 * docs/conformance.md they check.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-tree-builder.h"
#include "chimney-peer.h"
#include "chimney_io.h"
#include "chimney_offload.h"
#include "chimney_parse.h"

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

typedef struct Fixture {
    FakeHost *h;
    TbRings *r;
    uint64_t n, p, t[4];        /* N{P{T0..T3}} offloaded */
} Fixture;

/* Replace the fake host's core by one with the given engine limits. */
static void fx_reconfigure(Fixture *f, uint32_t max_conn, uint64_t budget)
{
    ChimneyEngineConfig cfg = { .max_conn = max_conn, .mem_budget = budget };

    chimney_core_cleanup(&f->h->core);
    chimney_core_init_config(&f->h->core, &fake_ops, f->h, own_mac, true,
                             &cfg);
}

static void fx_offload(Fixture *f, const TbTcpState *ts)
{
    FakeHost *h = f->h;
    unsigned i;

    f->r = tb_rings_new(h);
    g_assert_cmphex(tb_set_params(h, f->r, 0), ==, CHIMNEY_ST_SUCCESS);
    f->n = tb_new_neigh(h, 1, 0);
    f->p = tb_new_path4(h, 0x0a000001, 0x0a000002, 1500);
    tb_dep(h, f->n, f->p);
    for (i = 0; i < 4; i++) {
        TbTcpState s;

        if (ts) {
            s = *ts;
            s.c.local_port = GUINT16_TO_LE(1000 + i);
        } else {
            tb_tcp_defaults(&s, 1000 + i, 80);
        }
        f->t[i] = tb_new_tcp_state(h, &s);
        if (i) {
            tb_next(h, f->t[i - 1], f->t[i]);
        }
    }
    tb_dep(h, f->p, f->t[0]);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, f->n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, f->n), ==, CHIMNEY_ST_SUCCESS);
}

static void fx_setup(Fixture *f, gconstpointer data)
{
    f->h = fake_host_new();
    fx_offload(f, NULL);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    tb_rings_free(f->r);
    fake_host_free(f->h);
}

static ChimneyEngine *eng(Fixture *f)
{
    return f->h->core.engine;
}

/* Feed one segment from the peer 10.0.0.2:80 to local port `lport`. */
static ssize_t peer_send(Fixture *f, uint16_t lport, uint32_t seq,
                         uint32_t ack, uint8_t flags, const char *data)
{
    uint8_t frame[2048];
    PeerSeg s = {
        .dst_mac = own_mac, .saddr = 0x0a000002, .daddr = 0x0a000001,
        .sport = 80, .dport = lport, .seq = seq, .ack = ack, .flags = flags,
        .payload = data, .len = data ? strlen(data) : 0,
    };
    size_t len = peer_segment(frame, sizeof(frame), &s);

    g_assert_cmpuint(len, >, 0);
    return chimney_core_receive(&f->h->core, frame, len);
}

/* The last frame the device put on the wire, parsed. */
static void last_frame(Fixture *f, ChimneyRxParsed *r)
{
    GByteArray *b;

    g_assert_cmpuint(f->h->frames->len, >, 0);
    b = g_ptr_array_index(f->h->frames, f->h->frames->len - 1);
    g_assert_true(chimney_parse_frame(b->data, b->len, r));
    g_assert_true(r->is_tcp && r->tcp_csum_ok);
}

static unsigned count_events(Fixture *f, uint16_t type, uint16_t code)
{
    unsigned i, n = 0;

    tb_cmd(f->h, f->r, CHIMNEY_CMD_NOP, 0);
    for (i = 0; i < f->r->events->len; i++) {
        ChimneyEvent *e = &g_array_index(f->r->events, ChimneyEvent, i);

        n += e->type == type && (code == 0xffff || e->code == code);
    }
    return n;
}

/*
 * Same object twice in one tree: rejected for every operation as
 * BAD_TREE, nothing changes, nothing is written back.
 */
typedef struct DupCase {
    const char *name;
    uint16_t opcode;
    uint16_t type;
    int which;                  /* -1 neighbor, -2 path, else TCP index */
} DupCase;

static const DupCase dup_cases[] = {
    { "terminate-tcp", CHIMNEY_CMD_TERMINATE, CHIMNEY_TYPE_TCP, 0 },
    { "terminate-path", CHIMNEY_CMD_TERMINATE, CHIMNEY_TYPE_IP4, -2 },
    { "terminate-neigh", CHIMNEY_CMD_TERMINATE, CHIMNEY_TYPE_NEIGH, -1 },
    { "update-path", CHIMNEY_CMD_UPDATE, CHIMNEY_TYPE_IP4, -2 },
    { "query-tcp", CHIMNEY_CMD_QUERY, CHIMNEY_TYPE_TCP_CONST, 1 },
    { "invalidate-neigh", CHIMNEY_CMD_INVALIDATE, CHIMNEY_TYPE_NEIGH, -1 },
};

static void test_dup_object_every_op(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    unsigned i;

    for (i = 0; i < G_N_ELEMENTS(dup_cases); i++) {
        const DupCase *c = &dup_cases[i];
        uint64_t obj = c->which == -1 ? f->n : c->which == -2 ? f->p :
                       f->t[c->which];
        uint16_t role = CHIMNEY_ROLE_REF;
        uint64_t a, b;
        uint32_t errs = rd(h, CHIMNEY_REG_ERR_COUNT);

        a = tb_block(h, c->type, role, tb_handle(h, obj), NULL, 0);
        b = tb_block(h, c->type, role, tb_handle(h, obj), NULL, 0);
        tb_next(h, a, b);
        tb_blk(h, a)->status = tb_blk(h, b)->status = GUINT32_TO_LE(0x5a5a);
        g_test_message("%s", c->name);
        g_assert_cmphex(tb_cmd(h, f->r, c->opcode, a), ==,
                        CHIMNEY_ST_BAD_TREE);
        /* malformed tree: nothing written back, nothing changed */
        g_assert_cmphex(tb_status(h, a), ==, 0x5a5a);
        g_assert_cmphex(tb_status(h, b), ==, 0x5a5a);
        g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, errs + 1);
        g_assert_cmpuint(chimney_engine_count(eng(f), CHIMNEY_KIND_NEIGH),
                         ==, 1);
        g_assert_cmpuint(chimney_engine_count(eng(f), CHIMNEY_KIND_PATH),
                         ==, 1);
        g_assert_cmpuint(chimney_engine_count(eng(f), CHIMNEY_KIND_TCP),
                         ==, 4);
        g_assert_cmpuint(chimney_path_at(eng(f), 0)->ntcp, ==, 4);
        g_assert_cmpuint(chimney_neigh_at(eng(f), 0)->npaths, ==, 1);
        g_assert_false(chimney_tcp_at(eng(f), 0)->invalid);
    }
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_SEND_DONE, 0xffff), ==, 0);
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_TCP_RETRIEVE, 0xffff), ==,
                     0);
}

/*
 * The review's crash: the same connection twice in one TERMINATE, then
 * trees that reuse the path's slot, then a pure ACK for the dead tuple.
 * Now the first tree is refused; after a real terminate the tuple goes
 * to the host path and no ACK answers it.
 */
static void test_rule_048_dup_terminate_then_ack(Fixture *f,
                                                 gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t a, b, n2, p2;
    unsigned round;

    a = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, f->t[0]), 0);
    b = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, f->t[0]), 0);
    tb_next(h, a, b);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a), ==,
                    CHIMNEY_ST_BAD_TREE);
    a = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, f->t[0]), 0);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_SUCCESS);
    /* the path still has three connections: it cannot be terminated */
    a = tb_ref(h, CHIMNEY_TYPE_IP4, tb_handle(h, f->p), 0);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, a), ==, CHIMNEY_ST_HAS_DEPENDENTS);
    for (round = 0; round < 4; round++) {
        n2 = tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER,
                      tb_handle(h, f->n), NULL, 0);
        p2 = tb_new_path4(h, 0x0a000001, 0x0a000010 + round, 1500);
        tb_dep(h, n2, p2);
        g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n2), ==,
                        CHIMNEY_ST_SUCCESS);
        a = tb_ref(h, CHIMNEY_TYPE_IP4, tb_handle(h, p2), 0);
        g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a), ==,
                        CHIMNEY_ST_SUCCESS);
    }
    g_ptr_array_set_size(h->frames, 0);
    /*
     * host path, no RX ring: dropped (connections are offloaded, so the
     * device keeps taking frames), and never answered
     */
    g_assert_cmpint(peer_send(f, 1000, 1000, 5000, CHIMNEY_TH_ACK, NULL), >,
                    0);
    g_assert_cmpuint(h->core.stats[CHIMNEY_STAT_RX_NOBUF], ==, 1);
    g_assert_cmpuint(h->frames->len, ==, 0);
    /* the other connections still answer */
    g_assert_cmpint(peer_send(f, 1001, 1000, 5000, 0, "x"), >, 0);
    g_assert_cmpuint(h->frames->len, ==, 1);
}

/* Demux never returns a released connection, whatever its chain holds. */
static void test_demux_released(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    static const uint8_t lip[4] = { 10, 0, 0, 1 }, rip[4] = { 10, 0, 0, 2 };
    uint64_t a = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, f->t[2]), 0);

    g_assert_cmpuint(chimney_demux_lookup(eng(f), false, lip, rip, 1002, 80),
                     ==, 2);
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a);
    g_assert_cmpuint(chimney_demux_lookup(eng(f), false, lip, rip, 1002, 80),
                     ==, CHIMNEY_NO_INDEX);
    g_assert_cmpuint(chimney_demux_lookup(eng(f), false, lip, rip, 1003, 80),
                     ==, 3);
}

/* RFC 5961 5.2: a blind ACK outside [SndUna - MaxSndWnd, SndMax]. */
static void test_rfc5961_blind_ack(void)
{
    Fixture fx = { .h = fake_host_new() }, *f = &fx;
    TbTcpState s;
    ChimneyTcpObj *o;
    ChimneyRxParsed r;

    uint64_t list = fake_alloc(f->h, sizeof(ChimneySendBuf));
    ChimneySendBuf *sb = fake_ptr(f->h, list);

    tb_tcp_defaults(&s, 1000, 80);
    s.d.snd_max = GUINT32_TO_LE(5100);           /* 100 bytes in flight */
    s.d.snd_nxt = GUINT32_TO_LE(5100);
    s.d.max_snd_wnd = GUINT32_TO_LE(65535);
    memset(sb, 0, sizeof(*sb));
    sb->addr = GUINT64_TO_LE(fake_alloc(f->h, 100));
    sb->len = GUINT32_TO_LE(100);
    s.d.send_list_addr = GUINT64_TO_LE(list);
    s.d.send_list_count = GUINT32_TO_LE(1);
    fx_offload(f, &s);
    g_assert_cmphex(tb_status(f->h, f->t[0]), ==, CHIMNEY_ST_SUCCESS);
    o = chimney_tcp_at(eng(f), 0);

    /* ACK beyond SndMax: dropped, answered with an ACK */
    g_assert_cmpint(peer_send(f, 1000, 1000, 9000, CHIMNEY_TH_ACK, NULL),
                    >, 0);
    g_assert_cmpuint(o->d.snd_una, ==, 5000);
    last_frame(f, &r);
    g_assert_cmpuint(r.ack, ==, 1000);
    g_assert_cmpuint(r.seq, ==, 5100);
    /* a good ACK with a sequence number outside the window: dropped */
    g_assert_cmpint(peer_send(f, 1000, 1000 + 200000, 5100, CHIMNEY_TH_ACK,
                              NULL), >, 0);
    g_assert_cmpuint(o->d.snd_una, ==, 5000);
    /* an acceptable ACK completes */
    g_assert_cmpint(peer_send(f, 1000, 1000, 5050, CHIMNEY_TH_ACK, NULL),
                    >, 0);
    g_assert_cmpuint(o->d.snd_una, ==, 5050);
    fx_teardown(f, NULL);
}

/* chimney-spec 1.6: a VLAN-0 neighbor admits only untagged frames. */
static void test_steering_vlan0(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint8_t frame[2048];
    PeerSeg s = {
        .dst_mac = own_mac, .saddr = 0x0a000002, .daddr = 0x0a000001,
        .sport = 80, .dport = 1000, .seq = 1000, .ack = 5000,
        .vlan = 5, .payload = "tagged", .len = 6,
    };
    size_t len = peer_segment(frame, sizeof(frame), &s);

    /* not steered: the host path (no RX ring here, so dropped: NOBUF) */
    g_assert_cmpint(chimney_core_receive(&h->core, frame, len), ==, len);
    g_assert_cmpuint(h->core.stats[CHIMNEY_STAT_RX_NOBUF], ==, 1);
    g_assert_cmpuint(h->frames->len, ==, 0);
    g_assert_cmpuint(chimney_tcp_at(eng(f), 0)->d.rcv_nxt, ==, 1000);
    s.vlan = 0;
    len = peer_segment(frame, sizeof(frame), &s);
    g_assert_cmpint(chimney_core_receive(&h->core, frame, len), ==, len);
    g_assert_cmpuint(chimney_tcp_at(eng(f), 0)->d.rcv_nxt, ==, 1006);
}

/* Each of these guest errors counts in ERR_COUNT (and is logged). */
static void test_guest_errors_logged(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t buf = fake_alloc(h, 64), u;
    uint16_t *vid = fake_ptr(h, buf);
    ChimneyPathCached *k;
    uint32_t e0 = rd(h, CHIMNEY_REG_ERR_COUNT);

    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_SET_VLANS, 1ull << 50, 2,
                                0, NULL), ==, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, e0 + 1);
    vid[0] = GUINT16_TO_LE(4096);
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_SET_VLANS, buf, 2, 0,
                                NULL), ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, e0 + 2);
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_NEIGH_REPLY, buf, 4,
                                tb_handle(h, f->n), NULL), ==,
                    CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, e0 + 3);
    u = tb_ref(h, CHIMNEY_TYPE_IP4_CACHED, tb_handle(h, f->p), sizeof(*k));
    k = (ChimneyPathCached *)(tb_blk(h, u) + 1);
    k->hdr.length = GUINT32_TO_LE(sizeof(*k));
    k->path_mtu = GUINT32_TO_LE(60);
    tb_cmd(h, f->r, CHIMNEY_CMD_UPDATE, u);
    g_assert_cmphex(tb_status(h, u), ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, e0 + 4);
    /* SET_PARAMS with an unreadable buffer (objects offloaded or not) */
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_SET_PARAMS, 1ull << 50,
                                sizeof(ChimneyOffloadParams), 0, NULL), ==,
                    CHIMNEY_ST_DMA_ERROR);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, e0 + 5);
}

/* QUERY of one connection's delegated keepalive ticks (rule 041). */
static uint32_t query_ka_left(Fixture *f, unsigned i, uint8_t *probes)
{
    FakeHost *h = f->h;
    uint64_t q = tb_ref(h, CHIMNEY_TYPE_TCP_DELEGATED, tb_handle(h, f->t[i]),
                        sizeof(ChimneyTcpDelegated));
    ChimneyTcpDelegated *d = (ChimneyTcpDelegated *)(tb_blk(h, q) + 1);

    d->hdr.length = GUINT32_TO_LE(sizeof(*d));
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_QUERY, q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, q), ==, CHIMNEY_ST_SUCCESS);
    if (probes) {
        *probes = d->ka_probe_count;
    }
    return GUINT32_FROM_LE(d->ka_timeout_delta);
}

/*
 * Keepalive: probes on the wire after the idle time (SndUna - 1, no
 * data), one per interval, then an upload request (TIMEOUT); QUERY
 * reports the ticks that remain; KA_RESTART restarts from zero.
 */
static void test_rule_041_056_058_keepalive(void)
{
    Fixture fx = { .h = fake_host_new() }, *f = &fx;
    FakeHost *h = f->h;
    ChimneyRxParsed r;
    TbTcpState s;
    uint64_t u;
    ChimneyTcpCached *k;
    uint8_t probes;

    tb_tcp_defaults(&s, 1000, 80);
    s.k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE);
    s.k.ka_timeout = GUINT32_TO_LE(100);
    s.k.ka_interval = GUINT32_TO_LE(10);
    s.k.ka_probe_count = 2;
    s.d.ka_timeout_delta = GUINT32_TO_LE(100);
    fx_offload(f, &s);

    fake_clock_step(h, 40 * 1000000);                  /* 40 ticks */
    g_assert_cmpuint(query_ka_left(f, 0, &probes), ==, 60);
    g_assert_cmpuint(probes, ==, 0);
    g_assert_cmpuint(h->frames->len, ==, 0);
    fake_clock_step(h, 60 * 1000000);
    /* one probe per connection, each at SndUna - 1 without data */
    g_assert_cmpuint(h->frames->len, ==, 4);
    last_frame(f, &r);
    g_assert_cmpuint(r.seq, ==, 4999);
    g_assert_cmpuint(r.payload_len, ==, 0);
    g_assert_cmpuint(r.ack, ==, 1000);
    g_assert_cmpuint(query_ka_left(f, 0, &probes), ==, 10);
    g_assert_cmpuint(probes, ==, 1);

    /* connection 1 hears from its peer: its idle time restarts */
    g_assert_cmpint(peer_send(f, 1001, 1000, 5000, CHIMNEY_TH_ACK, NULL),
                    >, 0);
    g_assert_cmpuint(query_ka_left(f, 1, &probes), ==, 100);
    g_assert_cmpuint(probes, ==, 0);

    /* rule 056: KA_RESTART through UPDATE restarts connection 2 */
    u = tb_ref(h, CHIMNEY_TYPE_TCP_CACHED, tb_handle(h, f->t[2]), sizeof(*k));
    k = (ChimneyTcpCached *)(tb_blk(h, u) + 1);
    *k = s.k;
    k->flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE |
                             CHIMNEY_TCP_CACHED_KA_RESTART);
    tb_cmd(h, f->r, CHIMNEY_CMD_UPDATE, u);
    g_assert_cmphex(tb_status(h, u), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(query_ka_left(f, 2, NULL), ==, 100);
    /* rule 058: clearing KEEPALIVE stops connection 3's timer */
    u = tb_ref(h, CHIMNEY_TYPE_TCP_CACHED, tb_handle(h, f->t[3]), sizeof(*k));
    k = (ChimneyTcpCached *)(tb_blk(h, u) + 1);
    *k = s.k;
    k->flags = 0;
    tb_cmd(h, f->r, CHIMNEY_CMD_UPDATE, u);
    g_assert_cmpuint(query_ka_left(f, 3, NULL), ==, CHIMNEY_TIMER_OFF);

    /* connection 0: second probe, then no answer: upload (TIMEOUT) */
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_TCP_RETRIEVE, 0xffff), ==,
                     0);
    fake_clock_step(h, 10 * 1000000);                  /* t = 110 */
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_TCP_RETRIEVE,
                                  CHIMNEY_UPLOAD_TIMEOUT), ==, 0);
    g_assert_cmpuint(query_ka_left(f, 0, &probes), ==, 10);
    g_assert_cmpuint(probes, ==, 2);
    fake_clock_step(h, 10 * 1000000);                  /* t = 120 */
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_TCP_RETRIEVE,
                                  CHIMNEY_UPLOAD_TIMEOUT), ==, 1);
    fx_teardown(f, NULL);
}

/*
 * The data-buffer budget: the wire fills every connection, the engine
 * holds no more than the budget less the 1/64 kept for requests,
 * windows shrink to what is held, requests still find room (spec "Memory
 * budget"), and an offload whose buffered data does not fit gets
 * RESOURCES (rule 023).
 */
static void test_rule_023_memory_budget(void)
{
    Fixture fx = { .h = fake_host_new() }, *f = &fx;
    FakeHost *h = f->h;
    const uint64_t budget = 256 * 1024;
    char data[1401];
    ChimneyRxParsed r;
    const uint64_t data_max = budget - budget / 64;
    uint32_t seq[4] = { 1000, 1000, 1000, 1000 }, held = 0;
    uint64_t buf;
    unsigned i, round;
    TbTcpState s;
    uint64_t n2, p2, t2, rcv;

    fx_reconfigure(f, 64, budget);
    fx_offload(f, NULL);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_CAP_MEM_BUDGET_KB), ==, 256);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_CAP_MAX_CONN), ==, 64);
    memset(data, 'd', sizeof(data) - 1);
    data[sizeof(data) - 1] = 0;
    for (round = 0; round < 64; round++) {
        for (i = 0; i < 4; i++) {
            peer_send(f, 1000 + i, seq[i], 5000, 0, data);
            last_frame(f, &r);
            seq[i] = r.ack;             /* what the engine took */
            g_assert_cmpuint(chimney_engine_mem_used(eng(f)), <=, budget);
        }
    }
    for (i = 0; i < 4; i++) {
        ChimneyTcpObj *o = chimney_tcp_at(eng(f), i);

        held += chimney_rcvbuf_len(o);
        if (o->io) {
            g_assert_cmpuint(o->io->rcv_len, <=, o->io->rcv_cap);
        }
    }
    /* the budget for data is in use, and advertised windows are closed */
    g_assert_cmpuint(held, >, data_max - 4 * 1400 - 4 * sizeof(ChimneyTcpIo));
    g_assert_cmpuint(held, <=, data_max);
    last_frame(f, &r);
    g_assert_cmpuint(r.window, ==, 0);

    /* the rest is for requests: a RECV_POST queue fits */
    buf = fake_alloc(h, 16);
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_RECV_POST, buf, 1,
                                tb_handle(h, f->t[0]), NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_engine_mem_used(eng(f)), <=, budget);

    /* no room for another connection's buffered data: RESOURCES */
    tb_tcp_defaults(&s, 2000, 80);
    rcv = fake_alloc(h, 4096);
    s.d.rcv_data_addr = GUINT64_TO_LE(rcv);
    s.d.rcv_data_len = GUINT32_TO_LE(4096);
    n2 = tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER,
                  tb_handle(h, f->n), NULL, 0);
    p2 = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                  tb_handle(h, f->p), NULL, 0);
    t2 = tb_new_tcp_state(h, &s);
    tb_dep(h, n2, p2);
    tb_dep(h, p2, t2);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n2);
    g_assert_cmphex(tb_status(h, t2), ==, CHIMNEY_ST_RESOURCES);
    g_assert_cmpuint(chimney_engine_count(eng(f), CHIMNEY_KIND_TCP), ==, 4);
    fx_teardown(f, NULL);
}

/*
 * A batch yields after bounded work: two maximal-size commands in the
 * ring, one runs, the other waits for the next bottom half.
 */
static void test_bounded_batch(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    ChimneyCmdDesc *ring = fake_ptr(h, f->r->cmd);
    uint64_t q = 0, prev = 0, blk;
    uint32_t i, head0;

    for (i = 0; i < CHIMNEY_CMD_WORK_PER_BATCH; i++) {
        blk = tb_block(h, CHIMNEY_TYPE_NEIGH_CONST, CHIMNEY_ROLE_PLACEHOLDER,
                       0, NULL, 0);
        if (prev) {
            tb_next(h, prev, blk);
        } else {
            q = blk;
        }
        prev = blk;
    }
    head0 = rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_HEAD));
    for (i = 0; i < 2; i++) {
        ChimneyCmdDesc *c = &ring[(f->r->cmd_tail + i) % TB_CMD_RING];

        memset(c, 0, sizeof(*c));
        c->opcode = GUINT16_TO_LE(CHIMNEY_CMD_QUERY);
        c->addr = GUINT64_TO_LE(q);
        c->cookie = GUINT64_TO_LE(0x100 + i);
    }
    f->r->cmd_tail = (f->r->cmd_tail + 2) % TB_CMD_RING;
    h->cmd_scheduled = false;
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL),
       f->r->cmd_tail);
    chimney_core_cmd_process(&h->core);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_HEAD)), ==,
                     (head0 + 1) % TB_CMD_RING);
    g_assert_true(h->cmd_scheduled);
    chimney_core_cmd_process(&h->core);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_HEAD)), ==,
                     (head0 + 2) % TB_CMD_RING);
}

/*
 * A block whose status cannot be written back: the command completes with
 * DMA_ERROR, counted and logged as a DMA guest error; the blocks before it
 * carry their results and what the tree did stands (spec "Processing").
 */
static void test_writeback_dma_failure(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t lk, t1, t2;
    uint32_t errs = rd(h, CHIMNEY_REG_ERR_COUNT);

    lk = tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                  tb_handle(h, f->p), NULL, 0);
    t1 = tb_new_tcp(h, 2000, 80);
    t2 = tb_new_tcp(h, 2001, 80);
    tb_dep(h, lk, t1);
    tb_next(h, t1, t2);
    tb_blk(h, t2)->status = GUINT32_TO_LE(0x5a5a);
    h->ro_base = t2;
    h->ro_len = sizeof(ChimneyBlock);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, lk), ==,
                    CHIMNEY_ST_DMA_ERROR);
    h->ro_len = 0;
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, errs + 1);
    g_assert_cmphex(rd(h, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_DMA);
    /* in tree order: the first connection's block has its result */
    g_assert_cmphex(tb_status(h, t1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tb_status(h, t2), ==, 0x5a5a);
    /* both connections were offloaded and stay offloaded */
    g_assert_cmpuint(chimney_engine_count(eng(f), CHIMNEY_KIND_TCP), ==, 6);
    g_assert_cmpint(peer_send(f, 2001, 1000, 5000, 0, "y"), >, 0);
}

/*
 * Handle generations migrate (old handles stay stale on the target), and
 * so do the registers and offload setup the engine keeps a view of.
 */
static void test_handle_gen_migrated(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t old = tb_handle(h, f->t[0]);
    FakeHost *h2 = fake_host_new();
    Fixture f2 = { .h = h2 };
    const char *why = NULL;
    uint64_t a;

    a = tb_ref(h, CHIMNEY_TYPE_TCP, old, 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_TERMINATE, a);
    chimney_core_pre_save(&h->core);
    memcpy(h2->core.handle_gen_floor, h->core.handle_gen_floor,
           sizeof(h2->core.handle_gen_floor));
    /* migrated registers and SET_PARAMS/SET_VLANS reach the engine too */
    h2->core.ctrl = CHIMNEY_CTRL_OFFLOAD_EN;
    h2->core.mac[5] = 0x99;
    h2->core.engine_setup = h->core.engine_setup;
    h2->core.engine_setup.nvlans = 1;
    h2->core.engine_setup.vlans[0] = 4096;      /* corrupted stream */
    g_assert_false(chimney_core_post_load(&h2->core, &why));
    g_assert_nonnull(why);
    g_assert_false(h2->core.engine->params_set);
    h2->core.engine_setup.vlans[0] = 7;
    g_assert_true(chimney_core_post_load(&h2->core, &why));
    g_assert_true(h2->core.engine->enabled);
    g_assert_true(h2->core.engine->params_set);
    g_assert_cmpuint(h2->core.engine->params.ticks_per_second, ==, 1000);
    g_assert_cmpuint(h2->core.engine->vlans[0], ==, 7);
    g_assert_cmpuint(h2->core.engine->mac[5], ==, 0x99);
    h2->core.mac[5] = own_mac[5];
    g_assert_true(chimney_core_post_load(&h2->core, &why));
    fx_offload(&f2, NULL);
    /* same slot, never the same handle */
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(tb_handle(h2, f2.t[0])), ==,
                     CHIMNEY_HANDLE_INDEX(old));
    g_assert_cmpuint(CHIMNEY_HANDLE_GEN(tb_handle(h2, f2.t[0])), >,
                     CHIMNEY_HANDLE_GEN(old));
    a = tb_ref(h2, CHIMNEY_TYPE_TCP, old, 0);
    tb_cmd(h2, f2.r, CHIMNEY_CMD_TERMINATE, a);
    g_assert_cmphex(tb_status(h2, a), ==, CHIMNEY_ST_BAD_HANDLE);
    fx_teardown(&f2, NULL);
}

/* Invalidating a path reaches its own connections and no others. */
static void test_rule_064_invalidate_scope(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t n2, p2, t2, a;

    n2 = tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER,
                  tb_handle(h, f->n), NULL, 0);
    p2 = tb_new_path4(h, 0x0a000001, 0x0a000003, 1500);
    t2 = tb_new_tcp(h, 3000, 80);
    tb_dep(h, n2, p2);
    tb_dep(h, p2, t2);
    tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, n2);
    g_assert_cmphex(tb_status(h, t2), ==, CHIMNEY_ST_SUCCESS);
    a = tb_ref(h, CHIMNEY_TYPE_IP4, tb_handle(h, p2), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, a);
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_TCP_RETRIEVE,
                                  CHIMNEY_UPLOAD_INVALID_STATE), ==, 1);
    g_assert_true(chimney_tcp_at(eng(f), 4)->invalid);
    g_assert_false(chimney_tcp_at(eng(f), 0)->invalid);
    a = tb_ref(h, CHIMNEY_TYPE_NEIGH, tb_handle(h, f->n), 0);
    tb_cmd(h, f->r, CHIMNEY_CMD_INVALIDATE, a);
    g_assert_cmpuint(count_events(f, CHIMNEY_EVT_TCP_RETRIEVE,
                                  CHIMNEY_UPLOAD_INVALID_STATE), ==, 5);
}

/*
 * Object events are never dropped (spec "Event delivery and flow
 * control"): 1,500 connections get the peer's FIN while nobody services
 * the event ring; beyond the ring and the 1,024-event FIFO the
 * TCP_BACKLOG and TCP_DISCONNECT events are deferred, and all of them
 * arrive, one each per connection and in order, once the driver drains
 * the ring.
 */
static void test_object_events_deferred(void)
{
    enum { NCONN = 1500 };
    Fixture fx = { .h = fake_host_new() }, *f = &fx;
    FakeHost *h = f->h;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_int64_hash,
                                                  g_int64_equal);
    g_autoptr(GHashTable) backlog = g_hash_table_new(g_int64_hash,
                                                     g_int64_equal);
    uint64_t handles[NCONN];
    uint32_t status, info;
    unsigned i, round;
    bool found;
    TbBulk b;

    /* room for every connection's window (no upload for lack of memory) */
    fx_reconfigure(f, 4096, 256u << 20);
    f->r = tb_rings_new(h);
    g_assert_cmphex(tb_set_params(h, f->r, 0), ==, CHIMNEY_ST_SUCCESS);
    tb_bulk_build(h, &b, NCONN);
    g_assert_cmphex(tb_cmd(h, f->r, CHIMNEY_CMD_INITIATE, b.n), ==,
                    CHIMNEY_ST_SUCCESS);
    for (i = 0; i < NCONN; i++) {
        handles[i] = tb_handle(h, b.tcp[i]);
        g_assert_cmpint(peer_send(f, 1 + i, 1000, 5000,
                                  CHIMNEY_TH_FIN | CHIMNEY_TH_ACK, NULL),
                        >, 0);
    }
    /* the ring (255) and the FIFO (1024) are full, the rest deferred */
    g_assert_cmpuint(h->core.evtq_len, ==, CHIMNEY_EVT_QUEUE_MAX);
    g_assert_cmpuint(h->core.stats[CHIMNEY_STAT_EVT_OVERFLOW], ==, 0);
    g_array_set_size(f->r->events, 0);
    for (round = 0; round < 64; round++) {
        tb_poll_events(h, f->r, 0, &status, &info, &found);
    }
    /*
     * Each connection: its window changed (EVT_TCP_BACKLOG, rule 083),
     * then its FIN (EVT_TCP_DISCONNECT), in that order, exactly once each
     */
    for (i = 0; i < f->r->events->len; i++) {
        ChimneyEvent *e = &g_array_index(f->r->events, ChimneyEvent, i);

        if (e->type == CHIMNEY_EVT_TCP_BACKLOG) {
            g_assert_false(g_hash_table_contains(backlog, &e->handle));
            g_assert_false(g_hash_table_contains(seen, &e->handle));
            g_hash_table_add(backlog, &e->handle);
            continue;
        }
        g_assert_cmpuint(e->type, ==, CHIMNEY_EVT_TCP_DISCONNECT);
        g_assert_true(g_hash_table_contains(backlog, &e->handle));
        g_assert_false(g_hash_table_contains(seen, &e->handle));
        g_hash_table_add(seen, &e->handle);
    }
    g_assert_cmpuint(f->r->events->len, ==, 2 * NCONN);
    g_assert_cmpuint(g_hash_table_size(seen), ==, NCONN);
    for (i = 0; i < NCONN; i++) {
        g_assert_true(g_hash_table_contains(seen, &handles[i]));
    }
    g_assert_cmpuint(h->core.stats[CHIMNEY_STAT_EVT_OVERFLOW], ==, 0);
    tb_bulk_free(&b);
    fx_teardown(f, NULL);
}

/*
 * The IND ring's error paths (spec "Receive indications"): a descriptor
 * with buf_len 0 is completed with ERR_ZERO_LEN and skipped; a buffer
 * that cannot be written completes its descriptor with ERR_DMA, nothing
 * is indicated and the data stays buffered; once the driver posts more
 * buffers the same bytes are indicated, whole, with the right sequence
 * number.
 */
static void test_ind_ring_errors(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_IND, 8,
                                    sizeof(ChimneyIndDesc));
    uint64_t bufs = fake_alloc(h, 8 * 64);
    ChimneyIndDesc *d = fake_ptr(h, ring);
    uint32_t errs = rd(h, CHIMNEY_REG_ERR_COUNT), status, info;
    bool found;
    unsigned i, ind = 0;

    for (i = 0; i < 8; i++) {
        d[i].addr = GUINT64_TO_LE(bufs + i * 64);
        d[i].buf_len = GUINT32_TO_LE(64);
    }
    d[0].buf_len = 0;
    d[1].addr = GUINT64_TO_LE(0xfff0000000ull);         /* not RAM */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_TAIL), 2);
    g_assert_cmpint(peer_send(f, 1000, 1000, 5000, 0, "0123456789"), >, 0);
    g_assert_cmphex(GUINT16_FROM_LE(d[0].status), ==,
                    CHIMNEY_DESC_DONE |
                    CHIMNEY_ERR_ZERO_LEN << CHIMNEY_DESC_ERR_SHIFT);
    g_assert_cmphex(GUINT16_FROM_LE(d[1].status), ==,
                    CHIMNEY_DESC_DONE |
                    CHIMNEY_ERR_DMA << CHIMNEY_DESC_ERR_SHIFT);
    g_assert_cmpuint(GUINT32_FROM_LE(d[1].len), ==, 0);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, errs + 2);
    g_array_set_size(f->r->events, 0);
    tb_poll_events(h, f->r, 0, &status, &info, &found);
    for (i = 0; i < f->r->events->len; i++) {           /* no indication */
        g_assert_cmpuint(g_array_index(f->r->events, ChimneyEvent, i).type,
                         !=, CHIMNEY_EVT_RECV_INDICATE);
    }
    g_assert_cmpuint(chimney_rcvbuf_len(chimney_tcp_at(eng(f), 0)), ==, 10);
    /* event E: more buffers posted, the data comes now */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_TAIL), 4);
    tb_poll_events(h, f->r, 0, &status, &info, &found);
    for (i = 0; i < f->r->events->len; i++) {
        ChimneyEvent *e = &g_array_index(f->r->events, ChimneyEvent, i);

        if (e->type == CHIMNEY_EVT_RECV_INDICATE) {
            g_assert_cmpuint(e->info, ==, 10);
            g_assert_cmphex(e->handle, ==, tb_handle(h, f->t[0]));
            ind++;
        }
    }
    g_assert_cmpuint(ind, ==, 1);
    g_assert_cmphex(GUINT16_FROM_LE(d[2].status), ==,
                    CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    g_assert_cmpuint(GUINT32_FROM_LE(d[2].len), ==, 10);
    g_assert_cmpuint(GUINT32_FROM_LE(d[2].seq), ==, 1000);
    g_assert_cmphex(GUINT64_FROM_LE(d[2].handle), ==, tb_handle(h, f->t[0]));
    g_assert_cmpmem(fake_ptr(h, bufs + 2 * 64), 10, "0123456789", 10);
    g_assert_cmphex(d[3].status, ==, 0);                /* not used */
}

/*
 * Completions are never dropped (spec "Event delivery and flow
 * control"): one segment completes 1,400 one-byte RECV_POSTs while the
 * driver does not service the event ring; those beyond the ring and the
 * 1,024-event FIFO wait in the overflow list (and block migration), and
 * all arrive, in order, once the ring is serviced.
 */
static void test_completions_overflow(Fixture *f, gconstpointer data)
{
    enum { NREQ = 1400 };
    FakeHost *h = f->h;
    uint64_t bufs = fake_alloc(h, NREQ);
    char payload[NREQ + 1];
    uint32_t status, info, objects;
    unsigned i, done = 0, round;
    bool found;

    for (i = 0; i < NREQ; i++) {
        g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_RECV_POST,
                                    bufs + i, 1, tb_handle(h, f->t[0]),
                                    NULL), ==, CHIMNEY_ST_SUCCESS);
    }
    tb_poll_events(h, f->r, 0, &status, &info, &found);
    g_array_set_size(f->r->events, 0);
    objects = chimney_engine_objects(eng(f));
    for (i = 0; i < NREQ; i++) {
        payload[i] = 'a' + i % 26;
    }
    payload[NREQ] = 0;
    g_assert_cmpint(peer_send(f, 1000, 1000, 5000, 0, payload), >, 0);
    g_assert_cmpuint(h->core.evtq_len, ==, CHIMNEY_EVT_QUEUE_MAX);
    g_assert_cmpuint(chimney_core_offload_objects(&h->core), >, objects);
    for (round = 0; round < 16; round++) {
        tb_poll_events(h, f->r, 0, &status, &info, &found);
    }
    for (i = 0; i < f->r->events->len; i++) {
        ChimneyEvent *e = &g_array_index(f->r->events, ChimneyEvent, i);

        if (e->type != CHIMNEY_EVT_RECV_DONE) {
            continue;
        }
        g_assert_cmphex(e->status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(e->info, ==, 1);
        done++;
    }
    g_assert_cmpuint(done, ==, NREQ);
    g_assert_cmpmem(fake_ptr(h, bufs), NREQ, payload, NREQ);
    g_assert_cmpuint(h->core.stats[CHIMNEY_STAT_EVT_OVERFLOW], ==, 0);
    g_assert_cmpuint(chimney_core_offload_objects(&h->core), ==, objects);
}

/*
 * Request limits (spec "Common rules"): a connection holds at most
 * CHIMNEY_IO_MAX_REQS posted receives; the next one is refused with
 * RESOURCES and counted as a guest error, and the queued ones still work.
 */
static void test_request_limit(Fixture *f, gconstpointer data)
{
    FakeHost *h = f->h;
    uint64_t buf = fake_alloc(h, 16), t = tb_handle(h, f->t[0]);
    uint32_t errs, i;

    for (i = 0; i < CHIMNEY_IO_MAX_REQS; i++) {
        g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_RECV_POST, buf, 1,
                                    t, NULL), ==, CHIMNEY_ST_SUCCESS);
    }
    errs = rd(h, CHIMNEY_REG_ERR_COUNT);
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_RECV_POST, buf, 1, t,
                                NULL), ==, CHIMNEY_ST_RESOURCES);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, errs + 1);
    g_assert_cmpint(peer_send(f, 1000, 1000, 5000, 0, "z"), >, 0);
    g_assert_cmpuint(chimney_tcp_at(eng(f), 0)->io->rq_len, ==,
                     CHIMNEY_IO_MAX_REQS - 1);
    g_assert_cmphex(tb_cmd_full(h, f->r, CHIMNEY_CMD_RECV_POST, buf, 1, t,
                                NULL), ==, CHIMNEY_ST_SUCCESS);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define FX(path, fn) \
    g_test_add("/chimney/engine/" path, Fixture, NULL, fx_setup, fn, \
               fx_teardown)
    FX("dup-object/every-op", test_dup_object_every_op);
    FX("rule-048/dup-terminate-then-ack",
       test_rule_048_dup_terminate_then_ack);
    FX("demux/released", test_demux_released);
    g_test_add_func("/chimney/engine/rfc5961/blind-ack",
                    test_rfc5961_blind_ack);
    FX("steering/vlan0", test_steering_vlan0);
    FX("guest-errors-logged", test_guest_errors_logged);
    g_test_add_func("/chimney/engine/rule-041-056-058/keepalive",
                    test_rule_041_056_058_keepalive);
    g_test_add_func("/chimney/engine/rule-023/memory-budget",
                    test_rule_023_memory_budget);
    g_test_add_func("/chimney/engine/object-events-deferred",
                    test_object_events_deferred);
    FX("bounded-batch", test_bounded_batch);
    FX("ind-ring-errors", test_ind_ring_errors);
    FX("completions-overflow", test_completions_overflow);
    FX("request-limit", test_request_limit);
    FX("handle-gen-migrated", test_handle_gen_migrated);
    FX("writeback-dma-failure", test_writeback_dma_failure);
    FX("rule-064/invalidate-scope", test_rule_064_invalidate_scope);
#undef FX
    return g_test_run();
}
