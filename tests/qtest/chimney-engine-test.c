/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Offload engine behaviour: capacity (CAP_MAX_CONN connections in one
 * tree, timed).  Receive steering is a scenario
 * (tests/support/scenarios-engine.c), run by chimney-scenario-test.c and
 * in the unit tests.
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

/*
 * Test: capacity
 */

typedef struct Big {
    ChimneyOffloadBlock *blk;   /* [0] N, [1..2] P, [3..] T */
    uint64_t *slot;
    TcpState *ts;
    uint32_t nconn;
} Big;

static void big_build_initiate(T *t, Big *g, NeighState *ns, PathState *ps)
{
    uint32_t i, n = g->nconn + 3;

    memset(g->blk, 0, n * sizeof(*g->blk));
    memset(g->slot, 0, n * sizeof(*g->slot));
    for (i = 0; i < n; i++) {
        g->blk[i].miniport_offload_context = &g->slot[i];
        g->blk[i].ndis_offload_handle = 0xb16000000000ull + i;
        g->blk[i].status = STATUS_POISON;
    }
    g->blk[0].type = CHIMNEY_TYPE_NEIGH;
    g->blk[0].state = ns;
    g->blk[0].state_len = sizeof(*ns);
    g->blk[0].dependent_block_list = &g->blk[1];
    for (i = 0; i < 2; i++) {
        g->blk[1 + i].type = CHIMNEY_TYPE_IP4;
        g->blk[1 + i].state = &ps[i];
        g->blk[1 + i].state_len = sizeof(ps[i]);
        g->blk[1 + i].dependent_block_list = &g->blk[3 + i * 32768];
    }
    g->blk[1].next_block = &g->blk[2];
    for (i = 0; i < g->nconn; i++) {
        ChimneyOffloadBlock *b = &g->blk[3 + i];

        /* ports only go to 65535: 32768 per path */
        tcp_state(&g->ts[i], 1 + i % 32768, 80);
        b->type = CHIMNEY_TYPE_TCP;
        b->state = &g->ts[i];
        b->state_len = sizeof(g->ts[i]);
        if (i % 32768 != 32767 && i + 1 < g->nconn) {
            b->next_block = b + 1;
        }
    }
}

/* The same tree as REF blocks without state (terminate everything). */
static void big_build_refs(Big *g)
{
    uint32_t i, n = g->nconn + 3;

    for (i = 0; i < n; i++) {
        g->blk[i].state = NULL;
        g->blk[i].state_len = 0;
        g->blk[i].status = STATUS_POISON;
    }
}

static double now_s(void)
{
    return g_get_monotonic_time() / 1e6;
}

static double big_run(T *t, TreeOp op, Big *g, const char *what)
{
    Done d = { 0 };
    double t0 = now_s(), t1, t2;
    uint32_t i, n = g->nconn + 3;
    uint64_t flushed = t->qe.os.flush_bytes, refreshed = t->qe.os.refresh_bytes;
    const ChimneyEvent *e;

    g_assert_cmpint(op(t->env->drv, &g->blk[0], tree_done, &d), ==, 0);
    t1 = now_s();
    wait_done(t, &d, 1);
    t2 = now_s();
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    e = qchimney_last_cmd_done(&t->qe.os, op_code(op));
    g_assert_cmpuint(e->info, ==, n);
    for (i = 0; i < n; i++) {
        if (g->blk[i].status != CHIMNEY_ST_SUCCESS) {
            g_error("%s: block %u has status 0x%x", what, i,
                    g->blk[i].status);
        }
    }
    g_test_message("%s of %u blocks: %.2f s (serialise + flush %.2f s, "
                   "%" PRIu64 " bytes; device + completion %.2f s, "
                   "%" PRIu64 " bytes read back)", what, n, t2 - t0,
                   t1 - t0, t->qe.os.flush_bytes - flushed, t2 - t1,
                   t->qe.os.refresh_bytes - refreshed);
    return t2 - t0;
}

/*
 * CAP_MAX_CONN (65,536) connections in one bulk tree N{P0{...}, P1{...}}
 * (two paths: ports only go to 65535), all SUCCESS; one more gets
 * OFFLOAD_TCP_ENTRIES; all terminated in one tree; then 65,536 once more
 * (nothing leaked) and terminated again.
 */
static void test_capacity(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Big g;
    NeighState ns;
    PathState ps[2];
    HBlk *lk, *extra;
    uint32_t round, i;
    double total = 0, t0 = now_s();

    g.nconn = rd(t, CHIMNEY_REG_CAP_MAX_CONN);
    g_assert_cmpuint(g.nconn, ==, CHIMNEY_MAX_CONN);
    g_assert_cmpuint(rd(t, CHIMNEY_REG_CAP_TREE_BLOCKS), >=, g.nconn + 3);
    g.blk = g_new(ChimneyOffloadBlock, g.nconn + 3);
    g.slot = g_new(uint64_t, g.nconn + 3);
    g.ts = g_new(TcpState, g.nconn);
    neigh_state(&ns, peer_mac, 0);
    for (i = 0; i < 2; i++) {
        path_state(&ps[i], false, (const uint8_t[]){ 10, 0, 0, 1 },
                   (const uint8_t[]){ 10, 0, 0, 2 + i }, 1500);
    }
    for (round = 0; round < 2; round++) {
        uint64_t saved[3];

        big_build_initiate(t, &g, &ns, ps);
        total += big_run(t, OP_INITIATE, &g, round ? "INITIATE again" :
                         "INITIATE");
        for (i = 0; i < g.nconn; i++) {
            g_assert_cmpuint(CHIMNEY_HANDLE_KIND(g.slot[3 + i]), ==,
                             CHIMNEY_KIND_TCP);
        }
        if (!round) {
            TcpState q;

            /* one more does not fit */
            lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, g.slot[1]);
            extra = hb_tcp(&t->env->hb, 40000, 80);
            hb_dep(lk, extra);
            run_ok(t, OP_INITIATE, lk);
            g_assert_cmphex(extra->b.status, ==,
                            CHIMNEY_ST_OFFLOAD_TCP_ENTRIES);
            g_assert_cmphex(extra->slot, ==, 0);
            g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_FAILURE);
            /* a few of them answer queries */
            g_assert_cmphex(query_tcp(t, g.slot[3], &q), ==,
                            CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(le16_to_cpu(q.c.local_port), ==, 1);
            g_assert_cmphex(query_tcp(t, g.slot[3 + g.nconn - 1], &q), ==,
                            CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(le16_to_cpu(q.c.local_port), ==, 32768);
        }
        saved[0] = g.slot[0];
        saved[1] = g.slot[1];
        saved[2] = g.slot[2];
        big_build_refs(&g);
        total += big_run(t, OP_TERMINATE, &g, round ? "TERMINATE again" :
                         "TERMINATE");
        g_assert_cmphex(query_neigh(t, saved[0], NULL), ==,
                        CHIMNEY_ST_BAD_HANDLE);
        g_assert_cmphex(query_path(t, false, saved[2], NULL), ==,
                        CHIMNEY_ST_BAD_HANDLE);
        g_assert_cmphex(query_tcp(t, g.slot[3 + 12345], NULL), ==,
                        CHIMNEY_ST_BAD_HANDLE);
    }
    g_test_message("capacity: 2 x (65,536 offloaded + terminated): %.2f s "
                   "in the four bulk commands, %.2f s in all; shim: %" PRIu64
                   " flushes (%" PRIu64 " bytes), %" PRIu64 " refreshes (%"
                   PRIu64 " bytes)", total, now_s() - t0,
                   t->qe.os.flush_calls, t->qe.os.flush_bytes,
                   t->qe.os.refresh_calls, t->qe.os.refresh_bytes);
    g_free(g.blk);
    g_free(g.slot);
    g_free(g.ts);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_engine_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "offload-capacity-65536", test_capacity },
    };
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_engine_test);

#endif /* !_WIN32 */
