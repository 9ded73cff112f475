/*
 * QTest helpers for the chimney-nic offload tests that need QEMU or the
 * qtest shim's plumbing (chimney-tree-test.c, chimney-engine-test.c,
 * chimney-bad-input-test.c; one file per chapter of
 * docs/specs/chimney-nic.rst).  Everything else
 * is a scenario of tests/support/, run by chimney-scenario-test.c.
 *
 * Every test drives the device through the SAME portable driver core the
 * Linux module uses (guest-driver/core/chimney_drv.c), bound to QEMU by the
 * qtest OS shim libqos/chimney-drv-qtest.c: NDIS-shaped ChimneyOffloadBlock
 * trees go in, the core serialises them into guest memory and rings the
 * doorbells, and its completion callbacks bring the per-block results back.
 * Malformed trees, which the core refuses to build, are written into guest
 * memory directly ("raw trees") and submitted on the core's CMD ring with
 * qchimney_raw_submit().  The builders, default states, reference segment
 * builder and scripted peer are the QEMU-free ones of tests/support/,
 * which the unit tests use too; the test context is the qtest scenario
 * environment (libqos/chimney-env-qtest.h).
 *
 * Test names carry the rule numbers of the conformance checklist
 * (docs/conformance.md) they check; the normative behaviour is
 * docs/specs/chimney-nic.rst.
 *
 * The netdev "hs0" is one end of a socketpair; the other end is the wire
 * (frames as a 4-byte big-endian length and the frame).  Time is virtual:
 * it moves only when a test steps it, every wait is a bounded loop, and
 * nothing sleeps on the wall clock.
 *
 * Everything here is static inline: each test file is its own
 * translation unit of qos-test.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_OFFLOAD_QTEST_H
#define CHIMNEY_OFFLOAD_QTEST_H

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/sockets.h"
#include "qemu/iov.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "libqos/qgraph.h"
#include "libqos/pci.h"
#include "libqos/chimney-nic.h"
#include "libqos/chimney-drv-qtest.h"
#include "libqos/chimney-env-qtest.h"
#include "hw/net/chimney_hw.h"
#include "tests/support/chimney-test-state.h"
#include "tests/support/chimney-test-tree.h"
#include "tests/support/chimney-test-hblk.h"
#include "tests/support/chimney-test-seg.h"
#include "tests/support/chimney-test-peer.h"
#include "tests/support/chimney-test-bad.h"


/* An address outside guest RAM and any device: DMA there fails. */
#define BAD_GPA         0xfff0000000ull
#define POISON8         CHIMNEY_TEST_POISON8
#define POISON64        CHIMNEY_TEST_POISON64
#define STATUS_POISON   CHIMNEY_TEST_STATUS_POISON

#define ETH_P_IPV4      0x0800
#define ETH_P_IPV6      0x86dd
#define ETH_P_VLAN      0x8100

#define TH_FIN          0x01
#define TH_SYN          0x02
#define TH_RST          0x04
#define TH_PSH          0x08
#define TH_ACK          0x10
#define TH_URG          0x20

#define NS_PER_MS       1000000ll
#define RX_BUF_LEN      QCHIMNEY_RX_BUF_LEN

#define peer_mac        chimney_test_peer_mac
#define peer2_mac       chimney_test_peer2_mac

/*
 * Test context
 */

/*
 * A test runs on the scenario environment of libqos/chimney-env-qtest.h
 * (driver core, shim, wire, clock, event records, soft failures), the one
 * the shared scenarios of tests/support/ use, plus the node.
 */
typedef struct T {
    QChimneyEnv qe;
    ChimneyTestEnv *env;        /* &qe.env */
    QChimneyNic *d;
    QTestState *qts;
    QGuestAllocator *alloc;
} T;

typedef ChimneyTestRec Rec;

/* A failed check reported at t_end(), with the other ones. */
#define soft_fail(t, ...)   env_soft_fail((t)->env, __VA_ARGS__)

static inline unsigned count_recs(T *t, int kind, uint16_t type)
{
    return env_count_recs(t->env, kind, type);
}

static T *cur_t;                /* the callbacks' context check */

static inline uint32_t rd(T *t, uint32_t off)
{
    return chimney_readl(t->d, off);
}

static inline void wr(T *t, uint32_t off, uint32_t val)
{
    qchimney_os_flush(&t->qe.os);
    qchimney_os_touch(&t->qe.os);
    chimney_writel(t->d, off, val);
}

static inline uint32_t err_count(T *t)
{
    return rd(t, CHIMNEY_REG_ERR_COUNT);
}

/* Completion of a configuration command. */
typedef struct Done {
    unsigned calls;
    uint32_t status;
    ChimneyOffloadBlock *root;
} Done;

static inline void cmd_done(void *ctx, uint32_t status)
{
    Done *d = ctx;

    g_assert_cmpint(cur_t->qe.os.lock_depth, ==, 0);
    d->calls++;
    d->status = status;
}

static inline void tree_done(void *ctx, ChimneyOffloadBlock *root,
                      uint32_t status)
{
    Done *d = ctx;

    g_assert_cmpint(cur_t->qe.os.lock_depth, ==, 0);
    d->calls++;
    d->status = status;
    d->root = root;
}

static inline void wait_done(T *t, Done *d, unsigned calls)
{
    if (!qchimney_wait_count(&t->qe.os, &d->calls, calls, QCHIMNEY_WAIT_ITERS)) {
        g_error("no completion: %u of %u callbacks (pending %u)", d->calls,
                calls, chimney_drv_pending(t->env->drv));
    }
    g_assert_cmpuint(d->calls, ==, calls);
}

/*
 * SET_PARAMS: 1000 ticks/s (one tick = 1 ms of virtual time), the Windows
 * defaults otherwise; neighbor staleness queries off unless asked for.
 */
static inline uint32_t set_params(T *t, uint32_t tps, uint32_t nce_stale)
{
    ChimneyOffloadParams p = {
        .ticks_per_second = cpu_to_le32(tps),
        .ack_frequency = 2,
        .delayed_ack_ticks = 200,
        .max_retransmissions = 5,
        .dup_ack_threshold = cpu_to_le32(3),
        .push_ticks = cpu_to_le32(500),
        .nce_stale_ticks = cpu_to_le32(nce_stale),
    };
    Done d = { 0 };

    g_assert_cmpint(chimney_drv_set_params(t->env->drv, &p, cmd_done, &d), ==, 0);
    wait_done(t, &d, 1);
    return d.status;
}

static inline uint32_t set_vlans(T *t, const uint16_t *ids, uint32_t n)
{
    Done d = { 0 };

    g_assert_cmpint(chimney_drv_set_vlans(t->env->drv, ids, n, cmd_done, &d), ==,
                    0);
    wait_done(t, &d, 1);
    return d.status;
}

/* The shim and the core over the node: rings up, OFFLOAD_EN set. */
static inline T *t_init(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = g_new0(T, 1);

    t->d = obj;
    t->qts = chimney_qts(t->d);
    t->alloc = alloc;
    cur_t = t;
    qchimney_env_init(&t->qe, t->d, alloc, ((int *)data)[0]);
    t->env = &t->qe.env;
    g_assert_cmphex(rd(t, CHIMNEY_REG_CTRL) & CHIMNEY_CTRL_OFFLOAD_EN, ==,
                    CHIMNEY_CTRL_OFFLOAD_EN);
    return t;
}

/* t_init + SET_PARAMS: offload enabled. */
static inline T *t_start(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_init(obj, data, alloc);

    g_assert_cmphex(set_params(t, 1000, 0), ==, CHIMNEY_ST_SUCCESS);
    return t;
}

static inline void t_end(T *t)
{
    qchimney_env_fini(&t->qe);
    cur_t = NULL;
    g_free(t);
}

/*
 * Host (NDIS-shaped) blocks
 */

/* The shared builders of tests/support/ under this file's names. */
typedef ChimneyTestHBlk HBlk;
typedef ChimneyTestNeighState NeighState;
typedef ChimneyTestPathState PathState;
typedef ChimneyTestTcpState TcpState;
typedef ChimneyTestSeg Seg;
typedef ChimneyTestRaw Raw;

#define HDR(s) { .length = cpu_to_le32(sizeof(s)) }

#define neigh_sizes     chimney_test_neigh_sizes
#define path_sizes      chimney_test_path_sizes
#define tcp_sizes       chimney_test_tcp_sizes
#define neigh_state     chimney_test_neigh_state
#define path_state      chimney_test_path_state
#define tcp_state       chimney_test_tcp_state
#define tree_walk       hb_walk

/* N{P{T[0..n-1]}}: neighbor peer_mac, path 10.0.0.1 -> 10.0.0.2. */
static inline HBlk *build_npt(T *t, HBlk **p_out, HBlk **tcp, unsigned n,
                       uint16_t port0)
{
    return hb_npt(&t->env->hb, peer_mac, p_out, tcp, n, port0);
}

/*
 * Running tree operations through the core
 */

typedef int (*TreeOp)(ChimneyDrv *, ChimneyOffloadBlock *,
                      ChimneyDrvTreeDoneFn, void *);

#define OP_INITIATE     chimney_drv_initiate_offload
#define OP_TERMINATE    chimney_drv_terminate_offload
#define OP_UPDATE       chimney_drv_update_offload
#define OP_QUERY        chimney_drv_query_offload
#define OP_INVALIDATE   chimney_drv_invalidate_offload

static inline uint16_t op_code(TreeOp op)
{
    if (op == OP_INITIATE) {
        return CHIMNEY_CMD_INITIATE;
    } else if (op == OP_TERMINATE) {
        return CHIMNEY_CMD_TERMINATE;
    } else if (op == OP_UPDATE) {
        return CHIMNEY_CMD_UPDATE;
    } else if (op == OP_QUERY) {
        return CHIMNEY_CMD_QUERY;
    }
    g_assert_true(op == OP_INVALIDATE);
    return CHIMNEY_CMD_INVALIDATE;
}

/*
 * Submit a tree, wait for its one completion; checks that the core hands
 * back the same root, that every block's status was written (rule 008)
 * and that the CMD_DONE counted the blocks when the tree was walked.
 */
static inline uint32_t run_tree(T *t, TreeOp op, HBlk *root)
{
    ChimneyOffloadBlock *blk[64];
    Done d = { 0 };
    unsigned n, i;
    unsigned frees = t->qe.os.nfree;
    const ChimneyEvent *e;

    n = tree_walk(&root->b, blk, G_N_ELEMENTS(blk));
    g_assert_cmpint(op(t->env->drv, &root->b, tree_done, &d), ==, 0);
    for (i = 0; i < n; i++) {
        g_assert_cmphex(blk[i]->status, ==, CHIMNEY_ST_PENDING);
    }
    wait_done(t, &d, 1);
    g_assert_true(d.root == &root->b);
    g_assert_cmpuint(t->qe.os.nfree, ==, frees + 1);   /* the tree buffer */
    for (i = 0; i < n; i++) {
        g_assert_cmphex(blk[i]->status, !=, CHIMNEY_ST_PENDING);
        g_assert_cmphex(blk[i]->status, !=, STATUS_POISON);
    }
    e = qchimney_last_cmd_done(&t->qe.os, op_code(op));
    g_assert_nonnull(e);
    g_assert_cmphex(e->status, ==, d.status);
    g_assert_cmpuint(e->info, ==, d.status == CHIMNEY_ST_SUCCESS ? n : 0);
    return d.status;
}

static inline void run_ok(T *t, TreeOp op, HBlk *root)
{
    g_assert_cmphex(run_tree(t, op, root), ==, CHIMNEY_ST_SUCCESS);
}

/* Offload N{P{T...}} and check every block succeeded. */
static inline void offload_ok(T *t, HBlk *root)
{
    ChimneyOffloadBlock *blk[64];
    unsigned n, i;

    run_ok(t, OP_INITIATE, root);
    n = tree_walk(&root->b, blk, G_N_ELEMENTS(blk));
    for (i = 0; i < n; i++) {
        g_assert_cmphex(blk[i]->status, ==, CHIMNEY_ST_SUCCESS);
    }
}

/* Status of a one-block query of the combined state; fills *out. */
static inline uint32_t query_tcp(T *t, uint64_t h, TcpState *out)
{
    HBlk *q = hb_query_tcp(&t->env->hb, h);

    run_ok(t, OP_QUERY, q);
    if (out) {
        memcpy(out, q->st, sizeof(*out));
    }
    return q->b.status;
}

static inline uint32_t query_path(T *t, bool v6, uint64_t h, PathState *out)
{
    HBlk *q = hb_query_path(&t->env->hb, v6, h);

    run_ok(t, OP_QUERY, q);
    if (out) {
        memcpy(out, q->st, sizeof(*out));
    }
    return q->b.status;
}

static inline uint32_t query_neigh(T *t, uint64_t h, NeighState *out)
{
    HBlk *q = hb_query_neigh(&t->env->hb, h);

    run_ok(t, OP_QUERY, q);
    if (out) {
        memcpy(out, q->st, sizeof(*out));
    }
    return q->b.status;
}

/* Terminate one object without returning state; returns its status. */
static inline uint32_t terminate_one(T *t, uint16_t type, uint64_t h)
{
    HBlk *r = hb_obj(&t->env->hb, type, h);

    run_ok(t, OP_TERMINATE, r);
    return r->b.status;
}

/* Mismatch collection (mis_*, MIS_LE*): tests/support/chimney-test-env.h */

/*
 * The wire and the L2 RX ring (libqos/chimney-env-qtest.c)
 */

static inline void wire_send(T *t, const uint8_t *frame, size_t len)
{
    qchimney_env_wire_send(&t->qe, frame, len);
}

static inline void step(T *t)
{
    qchimney_os_clock_step(&t->qe.os, t->qe.os.poll_step_ns);
}

/* One frame from the wire; fails the test if none comes. */
static inline size_t wire_recv(T *t, uint8_t *buf, size_t cap)
{
    return env_wire_recv(t->env, buf, cap);
}

static inline bool wire_pending(T *t)
{
    return qchimney_env_wire_pending(&t->qe);
}

static inline void rx_setup(T *t)
{
    qchimney_env_rx_setup(&t->qe);
}

static inline bool rx_ready(T *t)
{
    return qchimney_env_rx_ready(&t->qe);
}

static inline size_t rx_take(T *t, uint8_t *buf, size_t cap)
{
    return qchimney_env_rx_take(&t->qe, buf, cap);
}

static inline size_t rx_wait(T *t, uint8_t *buf, size_t cap)
{
    return qchimney_env_rx_wait(&t->qe, buf, cap);
}

/* QEMU has processed every frame sent so far (a marker frame). */
static inline void wire_sync(T *t)
{
    qchimney_env_wire_sync(&t->qe);
}

/* After wire_sync(): nothing (more) was sent on the wire. */
static inline void wire_expect_nothing(T *t)
{
    qchimney_env_wire_expect_nothing(&t->qe);
}

/* One offloaded connection and the peer: tests/support/chimney-test-peer.h */
typedef ChimneyTestConn Conn;

/*
 * Raw trees: ChimneyBlocks written into guest memory by the test
 */

static inline void raw_mem_write(void *opaque, uint64_t addr, const void *buf,
                          size_t len)
{
    qchimney_mem_write(opaque, addr, buf, len);
}

static inline void raw_mem_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    qchimney_mem_read(opaque, addr, buf, len);
}

/* An empty raw tree of @cap bytes in fresh guest memory. */
static inline void raw_init(T *t, Raw *r, uint32_t cap)
{
    ChimneyTestMem mem = { raw_mem_write, raw_mem_read, t->qts };

    raw_init_at(r, &mem, QEMU_ALIGN_UP(guest_alloc(t->alloc, cap + 64), 64),
                cap);
}

static inline uint32_t raw_run(T *t, Raw *r, uint16_t opcode, uint64_t root,
                        uint32_t *info)
{
    raw_put(r);
    return qchimney_raw_cmd(&t->qe.os, opcode, root, 0, 0, info);
}

/*
 * Helpers shared by several chapters
 */

static inline const Rec *find_rec(T *t, int kind, uint16_t type,
                                  uint64_t cookie)
{
    return env_find_rec(t->env, kind, type, cookie);
}

/* Fill a shim buffer with a pattern; the device reads it from memory. */
static inline void fill_buf(T *t, ChimneyDmaBuf *b, uint32_t len, uint8_t seed)
{
    env_fill_buf(t->env, b, len, seed);
}

static inline uint8_t *buf_bytes(T *t, const ChimneyDmaBuf *b)
{
    return env_buf_bytes(t->env, b);
}

/* Move the virtual clock to the middle of a tick (1 ms at 1000/s). */
static inline void clock_mid_tick(T *t)
{
    env_clock_mid_tick(t->env);
}

/*
 * Bad input: the canary connection and the expect_* checks of
 * tests/support/chimney-test-bad.h, on this test's environment.
 */

static inline void canary_up(T *t, Canary *k)
{
    env_canary_up(t->env, k);
}

static inline void canary_check(T *t, Canary *k, const char *after)
{
    env_canary_check(t->env, k, after);
}

static inline void expect_guest_error(T *t, uint32_t *errs, const char *what)
{
    env_expect_guest_error(t->env, errs, what);
}

static inline void expect_tree_refused(T *t, Raw *r, uint16_t opcode,
                                       uint64_t root, uint32_t status,
                                       uint32_t *errs, Canary *k,
                                       const char *what)
{
    env_expect_tree_refused(t->env, r, opcode, root, status, errs, k, what);
}

static inline void expect_block(T *t, Raw *r, uint16_t opcode, uint64_t root,
                                uint64_t blk, uint32_t status,
                                bool guest_error, uint32_t *errs, Canary *k,
                                const char *what)
{
    env_expect_block(t->env, r, opcode, root, blk, status, guest_error, errs,
                     k, what);
}

#endif /* CHIMNEY_OFFLOAD_QTEST_H */
