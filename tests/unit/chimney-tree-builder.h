/*
 * Test helpers: build offload state trees in the fake host's guest RAM
 * and run commands through the command/event rings, as a driver would.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TREE_BUILDER_H
#define CHIMNEY_TREE_BUILDER_H

#include "chimney-fake-host.h"
#include "chimney-test-state.h"
#include "chimney-test-tree.h"

#define TB_CMD_RING     64
#define TB_EVT_RING     256

typedef struct TbRings {
    uint64_t cmd;
    uint64_t evt;
    uint32_t cmd_tail;
    uint32_t evt_head;          /* next entry the "driver" reads */
    uint64_t cookie;
    GArray *events;             /* ChimneyEvent (host order) other than
                                 * CMD_DONE, in arrival order */
} TbRings;

static inline ChimneyBlock *tb_blk(FakeHost *h, uint64_t addr)
{
    return fake_ptr(h, addr);
}

static inline void tb_mem_write(void *opaque, uint64_t addr, const void *buf,
                                size_t len)
{
    g_assert_true(fake_in_ram(addr, len));
    memcpy(fake_ptr(opaque, addr), buf, len);
}

static inline void tb_mem_read(void *opaque, uint64_t addr, void *buf,
                               size_t len)
{
    g_assert_true(fake_in_ram(addr, len));
    memcpy(buf, fake_ptr(opaque, addr), len);
}

/* The fake host's RAM as tests/support/ reaches guest memory. */
static inline ChimneyTestMem tb_mem(FakeHost *h)
{
    ChimneyTestMem m = { tb_mem_write, tb_mem_read, h };

    return m;
}

/*
 * A block followed by `len` bytes of state copied from `state`, built by
 * the shared raw-tree builder (tests/support/chimney-test-tree.h: poisoned
 * status, flags and reserved fields) straight into fresh fake RAM.
 */
static inline uint64_t tb_block(FakeHost *h, uint16_t type, uint16_t role,
                                uint64_t handle, const void *state,
                                size_t len)
{
    ChimneyTestMem mem = tb_mem(h);
    ChimneyTestRaw r;
    uint64_t a = fake_alloc(h, sizeof(ChimneyBlock) + len);

    raw_init_at(&r, &mem, a, sizeof(ChimneyBlock) + len + 8);
    g_assert_cmphex(raw_block(&r, type, role, handle, state, len), ==, a);
    raw_put(&r);
    raw_free(&r);
    return a;
}

static inline void tb_next(FakeHost *h, uint64_t a, uint64_t b)
{
    tb_blk(h, a)->next = GUINT64_TO_LE(b);
}

static inline void tb_dep(FakeHost *h, uint64_t a, uint64_t b)
{
    tb_blk(h, a)->dependent = GUINT64_TO_LE(b);
}

static inline uint32_t tb_status(FakeHost *h, uint64_t a)
{
    return GUINT32_FROM_LE(tb_blk(h, a)->status);
}

static inline uint64_t tb_handle(FakeHost *h, uint64_t a)
{
    return GUINT64_FROM_LE(tb_blk(h, a)->handle);
}

#define HDR(s) { .length = GUINT32_TO_LE(sizeof(s)) }

/* Neighbor 02:00:00:00:00:<mac_last>. */
#define TB_MAC(mac_last) ((const uint8_t[6]){ 2, 0, 0, 0, 0, (mac_last) })

static inline uint64_t tb_new_neigh(FakeHost *h, uint8_t mac_last,
                                    uint16_t vlan)
{
    ChimneyTestNeighState s;

    chimney_test_neigh_state(&s, TB_MAC(mac_last), vlan);
    return tb_block(h, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_NEW, 0, &s,
                    sizeof(s));
}

static inline uint64_t tb_new_path4(FakeHost *h, uint32_t src, uint32_t dst,
                                    uint32_t mtu)
{
    ChimneyTestPathState s;
    uint32_t be_src = GUINT32_TO_BE(src), be_dst = GUINT32_TO_BE(dst);

    chimney_test_path_state(&s, false, (const uint8_t *)&be_src,
                            (const uint8_t *)&be_dst, mtu);
    return tb_block(h, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_NEW, 0, &s, sizeof(s));
}

/* The default connection state (tests/support/chimney-test-state.h). */
typedef ChimneyTestTcpState TbTcpState;

static inline void tb_tcp_defaults(TbTcpState *s, uint16_t lport,
                                   uint16_t rport)
{
    chimney_test_tcp_state(s, lport, rport);
}

static inline uint64_t tb_new_tcp_state(FakeHost *h, const TbTcpState *s)
{
    return tb_block(h, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, s, sizeof(*s));
}

static inline uint64_t tb_new_tcp(FakeHost *h, uint16_t lport, uint16_t rport)
{
    TbTcpState s;

    tb_tcp_defaults(&s, lport, rport);
    return tb_new_tcp_state(h, &s);
}

/* Rings for commands and events, offload enabled, all causes unmasked. */
static inline TbRings *tb_rings_new(FakeHost *h)
{
    TbRings *r = g_new0(TbRings, 1);

    r->cmd = fake_ring_setup(h, CHIMNEY_RING_CMD, TB_CMD_RING,
                             sizeof(ChimneyCmdDesc));
    r->evt = fake_ring_setup(h, CHIMNEY_RING_EVT, TB_EVT_RING,
                             sizeof(ChimneyEvent));
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL),
       TB_EVT_RING - 1);
    wr(h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    r->events = g_array_new(FALSE, TRUE, sizeof(ChimneyEvent));
    return r;
}

static inline uint32_t tb_cmd_full(FakeHost *h, TbRings *r, uint16_t opcode,
                                   uint64_t addr, uint32_t len,
                                   uint64_t handle, uint32_t *info_out);

/* Offload parameters: 1000 ticks/s, the Windows defaults otherwise. */
static inline uint32_t tb_set_params(FakeHost *h, TbRings *r,
                                     uint32_t nce_stale)
{
    uint64_t a = fake_alloc(h, sizeof(ChimneyOffloadParams));
    ChimneyOffloadParams *p = fake_ptr(h, a);

    memset(p, 0, sizeof(*p));
    p->hdr.length = GUINT32_TO_LE(sizeof(*p));
    p->ticks_per_second = GUINT32_TO_LE(1000);
    p->ack_frequency = 2;
    p->delayed_ack_ticks = 200;
    p->max_retransmissions = 5;
    p->dup_ack_threshold = GUINT32_TO_LE(3);
    p->push_ticks = GUINT32_TO_LE(500);
    p->nce_stale_ticks = GUINT32_TO_LE(nce_stale);
    return tb_cmd_full(h, r, CHIMNEY_CMD_SET_PARAMS, a, sizeof(*p), 0, NULL);
}

static inline void tb_rings_free(TbRings *r)
{
    g_array_free(r->events, TRUE);
    g_free(r);
}

/* Consume every valid event, as a driver's event handler would. */
static inline void tb_poll_events(FakeHost *h, TbRings *r,
                                  uint64_t want_cookie, uint32_t *status,
                                  uint32_t *info, bool *found)
{
    ChimneyEvent *ring = fake_ptr(h, r->evt);
    unsigned guard;

    for (guard = 0; guard < TB_EVT_RING; guard++) {
        ChimneyEvent *e = &ring[r->evt_head];
        ChimneyEvent ev;

        if (!(GUINT32_FROM_LE(e->flags) & CHIMNEY_EVTF_VALID)) {
            break;
        }
        ev.type = GUINT16_FROM_LE(e->type);
        ev.code = GUINT16_FROM_LE(e->code);
        ev.status = GUINT32_FROM_LE(e->status);
        ev.cookie = GUINT64_FROM_LE(e->cookie);
        ev.handle = GUINT64_FROM_LE(e->handle);
        ev.info = GUINT32_FROM_LE(e->info);
        ev.flags = 0;
        if (ev.type == CHIMNEY_EVT_CMD_DONE && ev.cookie == want_cookie) {
            *status = ev.status;
            *info = ev.info;
            *found = true;
        } else if (ev.type != CHIMNEY_EVT_CMD_DONE) {
            g_array_append_val(r->events, ev);
        }
        e->flags = 0;
        wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL),
           r->evt_head);
        r->evt_head = (r->evt_head + 1) % TB_EVT_RING;
    }
}

/* Submit one command and run the device until it completes. */
static inline uint32_t tb_cmd_full(FakeHost *h, TbRings *r, uint16_t opcode,
                                   uint64_t addr, uint32_t len,
                                   uint64_t handle, uint32_t *info_out)
{
    ChimneyCmdDesc *c = (ChimneyCmdDesc *)fake_ptr(h, r->cmd) + r->cmd_tail;
    uint32_t status = 0xffffffff, info = 0;
    bool found = false;
    unsigned guard;

    memset(c, 0, sizeof(*c));
    c->opcode = GUINT16_TO_LE(opcode);
    c->addr = GUINT64_TO_LE(addr);
    c->len = GUINT32_TO_LE(len);
    c->handle = GUINT64_TO_LE(handle);
    c->cookie = GUINT64_TO_LE(++r->cookie);
    r->cmd_tail = (r->cmd_tail + 1) % TB_CMD_RING;
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL), r->cmd_tail);
    for (guard = 0; guard < 64 && !found; guard++) {
        chimney_core_cmd_process(&h->core);
        tb_poll_events(h, r, r->cookie, &status, &info, &found);
    }
    g_assert_true(found);
    if (info_out) {
        *info_out = info;
    }
    return status;
}

/*
 * Non-asserting variants for fuzzers: a device that is reset, stopped or
 * fed garbage may never complete a command, which is not a test failure
 * there.  tb_cmd_submit() only queues the command (a batch is several
 * submits before one tb_cmd_wait()); tb_cmd_wait() runs the device until
 * the command with `cookie` completes and says whether it did.
 */
static inline uint64_t tb_cmd_submit(FakeHost *h, TbRings *r, uint16_t opcode,
                                     uint16_t flags, uint64_t addr,
                                     uint32_t len, uint64_t handle)
{
    ChimneyCmdDesc *c = (ChimneyCmdDesc *)fake_ptr(h, r->cmd) + r->cmd_tail;

    memset(c, 0, sizeof(*c));
    c->opcode = GUINT16_TO_LE(opcode);
    c->flags = GUINT16_TO_LE(flags);
    c->addr = GUINT64_TO_LE(addr);
    c->len = GUINT32_TO_LE(len);
    c->handle = GUINT64_TO_LE(handle);
    c->cookie = GUINT64_TO_LE(++r->cookie);
    r->cmd_tail = (r->cmd_tail + 1) % TB_CMD_RING;
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL), r->cmd_tail);
    return r->cookie;
}

static inline bool tb_cmd_wait(FakeHost *h, TbRings *r, uint64_t cookie,
                               uint32_t *status_out, uint32_t *info_out)
{
    uint32_t status = 0xffffffff, info = 0;
    bool found = false;
    unsigned guard;

    for (guard = 0; guard < 64 && !found; guard++) {
        chimney_core_cmd_process(&h->core);
        tb_poll_events(h, r, cookie, &status, &info, &found);
    }
    if (status_out) {
        *status_out = status;
    }
    if (info_out) {
        *info_out = info;
    }
    return found;
}

static inline uint32_t tb_cmd(FakeHost *h, TbRings *r, uint16_t opcode,
                              uint64_t addr)
{
    return tb_cmd_full(h, r, opcode, addr, 0, 0, NULL);
}

/* A reference block (terminate/update/query/invalidate) for a handle. */
static inline uint64_t tb_ref(FakeHost *h, uint16_t type, uint64_t handle,
                              size_t state_len)
{
    uint64_t a;
    uint8_t *zero = g_malloc0(state_len + 1);

    a = tb_block(h, type, CHIMNEY_ROLE_REF, handle, zero, state_len);
    g_free(zero);
    return a;
}

/*
 * A bulk tree N{P0{T...}, P1{T...}} of `nconn` new connections, 32768 per
 * path (local ports 1..32768 to port 80), as used for the capacity test
 * and the state benchmark.
 */
typedef struct TbBulk {
    uint64_t n;
    uint64_t p[2];
    uint64_t *tcp;
    uint32_t nconn;
} TbBulk;

static inline void tb_bulk_build(FakeHost *h, TbBulk *b, uint32_t nconn)
{
    uint64_t first = 0, prev = 0;
    uint32_t i;

    b->nconn = nconn;
    b->tcp = g_new(uint64_t, nconn);
    b->n = tb_new_neigh(h, 1, 0);
    b->p[0] = tb_new_path4(h, 0x0a000001, 0x0a000002, 1500);
    b->p[1] = tb_new_path4(h, 0x0a000001, 0x0a000003, 1500);
    tb_dep(h, b->n, b->p[0]);
    tb_next(h, b->p[0], b->p[1]);
    for (i = 0; i < nconn; i++) {
        b->tcp[i] = tb_new_tcp(h, 1 + i % 32768, 80);
        if (i == 32768) {
            tb_dep(h, b->p[0], first);
            first = 0;
        }
        if (!first) {
            first = b->tcp[i];
        } else {
            tb_next(h, prev, b->tcp[i]);
        }
        prev = b->tcp[i];
    }
    tb_dep(h, b->p[nconn > 32768 ? 1 : 0], first);
}

/* The matching terminate tree (after a successful initiate). */
static inline uint64_t tb_bulk_terminate_tree(FakeHost *h, TbBulk *b)
{
    uint64_t rn = tb_ref(h, CHIMNEY_TYPE_NEIGH, tb_handle(h, b->n), 0);
    uint64_t rp[2], prev = 0;
    uint32_t i;

    for (i = 0; i < 2; i++) {
        rp[i] = tb_ref(h, CHIMNEY_TYPE_IP4, tb_handle(h, b->p[i]), 0);
    }
    tb_dep(h, rn, rp[0]);
    tb_next(h, rp[0], rp[1]);
    for (i = 0; i < b->nconn; i++) {
        uint64_t r = tb_ref(h, CHIMNEY_TYPE_TCP, tb_handle(h, b->tcp[i]), 0);

        if (i == 0 || i == 32768) {
            tb_dep(h, rp[i ? 1 : 0], r);
        } else {
            tb_next(h, prev, r);
        }
        prev = r;
    }
    return rn;
}

static inline void tb_bulk_free(TbBulk *b)
{
    g_free(b->tcp);
    b->tcp = NULL;
}

#endif /* CHIMNEY_TREE_BUILDER_H */
