/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, QUERY and INVALIDATE: what needs the qtest shim
 * (overlapping commands in flight, host buffers of the terminate tree).
 * The other UPDATE/QUERY/INVALIDATE tests are scenarios
 * (tests/support/scenarios-update.c), run here by
 * chimney-scenario-test.c and in the unit tests.
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

/*
 * Tests: update, query, invalidate (rules 053-065)
 */

/* rule 062: two QUERY commands for one object in flight at once. */
static void test_rule_062(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    HBlk *q1, *q2, *qp;
    Done d1 = { 0 }, d2 = { 0 };

    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    q1 = hb_query_tcp(&t->env->hb, c.t->slot);
    q2 = hb_query_tcp(&t->env->hb, c.t->slot);
    qp = hb_query_path(&t->env->hb, false, c.p->slot);
    hb_dep(qp, q2);
    g_assert_cmpint(OP_QUERY(t->env->drv, &q1->b, tree_done, &d1), ==, 0);
    g_assert_cmpint(OP_QUERY(t->env->drv, &qp->b, tree_done, &d2), ==, 0);
    wait_done(t, &d1, 1);
    wait_done(t, &d2, 1);
    g_assert_cmphex(d1.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(d2.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q1->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q2->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(q1->st, sizeof(TcpState), q2->st, sizeof(TcpState));
    g_assert_cmpmem(q1->st, sizeof(ChimneyTcpConst), &c.s.c,
                    sizeof(ChimneyTcpConst));
    t_end(t);
}

/*
 * rule 064: INVALIDATE of a neighbor: one TCP_RETRIEVE(INVALID_STATE)
 * per connection depending on it (and only those), once; from then on
 * nothing is sent on them, not even an ACK for arriving data, which the
 * device no longer processes: it goes up the RX ring as received (spec
 * "INVALIDATE", "Receive steering"), and TERMINATE returns none of it.
 */
static void test_rule_064(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn a, b, x;
    HBlk *root, *inv, *term;
    ChimneyDmaBuf out;
    uint8_t f[256], got[RX_BUF_LEN];
    size_t len, glen;
    unsigned i;
    Seg s;

    rx_setup(t);
    conn_init4(&a, 1, 2, 1000, 80);
    conn_init4(&b, 1, 2, 1001, 80);
    conn_init4(&x, 1, 3, 1000, 80);
    memcpy(x.nmac, peer2_mac, 6);
    root = conn_tree(t->env, &a);
    b.n = a.n;
    b.p = a.p;
    b.t = hb_tcp_state(&t->env->hb, &b.s);
    hb_next(a.t, b.t);
    hb_next(root, conn_tree(t->env, &x));
    offload_ok(t, root);

    inv = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, a.n->slot);
    run_ok(t, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_SUCCESS);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 2);
    for (i = 0; i < t->env->recs->len; i++) {
        Rec *r = &g_array_index(t->env->recs, Rec, i);

        g_assert_cmpint(r->kind, ==, 'T');
        g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_TCP_RETRIEVE);
        g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_INVALID_STATE);
        g_assert_true((r->cookie == a.t->b.ndis_offload_handle &&
                       r->handle == a.t->slot) ||
                      (r->cookie == b.t->b.ndis_offload_handle &&
                       r->handle == b.t->slot));
    }
    g_assert_cmphex(g_array_index(t->env->recs, Rec, 0).cookie, !=,
                    g_array_index(t->env->recs, Rec, 1).cookie);

    /* data on an affected connection: up the RX ring, not ACKed */
    conn_peer_seg(t->env, &a, &s, "quiet", 5);
    len = seg_build(&s, f);
    wire_send(t, f, len);
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    wire_sync(t);
    wire_expect_nothing(t);
    /* the unaffected connection still answers */
    conn_send_data(t->env, &x, "loud", 4);
    conn_recv_ack_basic(t->env, &x, peer2_mac, f, sizeof(f));

    /* invalidating again (and the path too): no new requests */
    inv = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, a.n->slot);
    hb_dep(inv, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, a.p->slot));
    run_ok(t, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_SUCCESS);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'T', 0), ==, 2);

    /* the device took none of it */
    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, 64, &out), ==, 0);
    term = hb_term_tcp(&t->env->hb, a.t->slot, NULL, 0, &out, 64);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->rcv_data_len), ==, 0);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->rcv_nxt), ==, 1000);
    qchimney_dma_free(&t->qe.os, &out);
    t_end(t);
}

/*
 * rule 065: invalidated objects stay allocated until the host terminates
 * them, and terminate normally (with their delegated state).
 */
static void test_rule_065(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    HBlk *n, *p, *tc[2], *inv, *rn, *rp, *rt0, *rt1;
    TcpState q;

    n = build_npt(t, &p, tc, 2, 1000);
    offload_ok(t, n);
    inv = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    run_ok(t, OP_INVALIDATE, inv);
    qchimney_os_clock_step(&t->qe.os, 1000 * NS_PER_MS);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 2);
    g_assert_cmphex(query_tcp(t, tc[0]->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_path(t, false, p->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    /* ... but not updated, nor linked to (INVALID_STATE) */
    rn = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    hb_dep(rn, rp);
    run_ok(t, OP_UPDATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_INVALID_STATE);
    rt0 = hb_tcp_cached(&t->env->hb, tc[0]->slot, &((TcpState *)tc[0]->st)->k);
    run_ok(t, OP_UPDATE, rt0);
    g_assert_cmphex(rt0->b.status, ==, CHIMNEY_ST_INVALID_STATE);
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    rt0 = hb_tcp(&t->env->hb, 1002, 80);
    hb_dep(rp, rt0);
    run_ok(t, OP_INITIATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_INVALID_STATE);
    g_assert_cmphex(rt0->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(rt0->slot, ==, 0);
    rn = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    rt0 = hb_term_tcp(&t->env->hb, tc[0]->slot, NULL, 0, NULL, 0);
    rt1 = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, tc[1]->slot);
    hb_dep(rn, rp);
    hb_dep(rp, rt0);
    hb_next(rt0, rt1);
    run_ok(t, OP_TERMINATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt0->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt1->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(rt0)->rcv_nxt), ==, 1000);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(rt0)->state), ==,
                     CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmphex(query_tcp(t, tc[0]->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    /* no further upload request for them once uploaded */
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'T', 0), ==, 2);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_update_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "rule-062-overlapping-queries", test_rule_062 },
        { "rule-064-invalidate-retrieve-no-ack", test_rule_064 },
        { "rule-065-invalidated-terminate", test_rule_065 },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_update_test);

#endif /* !_WIN32 */
