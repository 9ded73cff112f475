/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Error handling, what needs the qtest shim: cycles (the CMD ring tail),
 * TCP blocks with dependents, a device without SET_PARAMS (offload
 * disabled; the scenario environments always have it).  The other
 * bad-input cases are scenarios (tests/support/scenarios-errors.c).
 *
 * Helpers, context and conventions: chimney-offload-qtest.h (with the
 * canary connection and the expect_* checks of bad input).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

static void test_bad_cycle(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b, p1, p2, tt;
    uint32_t errs, tail;
    HBlk *n, *p, *tc[2];
    Done d = { 0 };

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 16384);
    /* N1 -> N2 -> N1 */
    a = raw_neigh(&r, peer2_mac, 0);
    b = raw_neigh(&r, peer2_mac, 0);
    raw_next(&r, a, b);
    raw_next(&r, b, a);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a cycle through next");
    /* a block that is its own next, in QUERY */
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_next(&r, a, a);
    expect_tree_refused(t, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a block that is its own next");
    /* one TCP block in two dependent lists */
    a = raw_neigh(&r, peer2_mac, 0);
    p1 = raw_path4(&r, 1, 20, 1500);
    p2 = raw_path4(&r, 1, 21, 1500);
    tt = raw_tcp(&r, 3000, 80);
    raw_dep(&r, a, p1);
    raw_next(&r, p1, p2);
    raw_dep(&r, p1, tt);
    raw_dep(&r, p2, tt);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a block shared by two lists");
    /* a path whose dependent list leads back to its neighbor */
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                  0);
    b = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_dep(&r, a, b);
    raw_dep(&r, b, a);
    expect_tree_refused(t, &r, CHIMNEY_CMD_TERMINATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a dependent list back to the root");
    raw_free(&r);

    /* the driver core refuses a cyclic host tree before the device */
    tail = rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL));
    n = build_npt(t, &p, tc, 2, 4000);
    hb_next(tc[1], tc[0]);
    g_assert_cmpint(OP_INITIATE(t->env->drv, &n->b, tree_done, &d), ==,
                    CHIMNEY_DRV_ELOOP);
    g_assert_cmpuint(rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_TAIL)), ==, tail);
    g_assert_cmphex(n->b.status, ==, STATUS_POISON);
    g_assert_cmpuint(chimney_drv_pending(t->env->drv), ==, 0);
    canary_check(t, &k, "a cyclic host tree");
    t_end(t);
}

static void test_bad_tcp_dependent(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b;
    uint32_t errs;
    HBlk *lk, *t1, *t2;
    Done d = { 0 };

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 8192);
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    b = raw_tcp(&r, 3000, 80);
    raw_dep(&r, a, b);
    raw_dep(&r, b, raw_tcp(&r, 3001, 80));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a TCP block with a dependent");
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, k.c.t->slot, NULL,
                  0);
    raw_dep(&r, a, raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_PLACEHOLDER,
                             0, NULL, 0));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INVALIDATE, a,
                        CHIMNEY_ST_BAD_TREE, &errs, &k,
                        "INVALIDATE: a TCP block with a dependent");
    raw_free(&r);
    /* through the core, which checks depth, not layers: the device says */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    t1 = hb_tcp(&t->env->hb, 3000, 80);
    t2 = hb_tcp(&t->env->hb, 3001, 80);
    hb_dep(lk, t1);
    hb_dep(t1, t2);
    g_assert_cmphex(run_tree(t, OP_INITIATE, lk), ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t1->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t2->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t1->slot | t2->slot, ==, 0);
    expect_guest_error(t, &errs, "core: a TCP block with a dependent");
    /* a fourth level the core refuses itself, nothing submitted */
    hb_dep(t2, hb_tcp(&t->env->hb, 3002, 80));
    t1->b.status = STATUS_POISON;
    g_assert_cmpint(OP_INITIATE(t->env->drv, &lk->b, tree_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(chimney_drv_pending(t->env->drv), ==, 0);
    g_assert_cmphex(t1->b.status, ==, STATUS_POISON);
    canary_check(t, &k, "core: a TCP block with a dependent");
    t_end(t);
}

/*
 * Offload is enabled by CTRL.OFFLOAD_EN (set by the core's init) AND a
 * successful SET_PARAMS: before SET_PARAMS, or with OFFLOAD_EN clear,
 * INITIATE completes with OFFLOAD_DISABLED without reading the tree (not
 * a guest error); objects offloaded before stay manageable.
 */
static void test_bad_disabled(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_init(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a;
    uint32_t errs;
    HBlk *n, *p, *tc[1], *q;
    unsigned i;

    errs = err_count(t);
    n = build_npt(t, &p, tc, 1, 2000);
    g_assert_cmphex(run_tree(t, OP_INITIATE, n), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(tc[0]->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(n->slot | p->slot | tc[0]->slot, ==, 0);
    raw_init(t, &r, 4096);
    a = raw_neigh(&r, peer2_mac, 0);
    raw_put(&r);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, a, 0, 0,
                                     NULL), ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(raw_status(&r, a), ==, STATUS_POISON);
    /* not even a bad address is read */
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE,
                                     BAD_GPA, 0,
                                     0, NULL), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmpuint(err_count(t), ==, errs);
    /* a bad SET_PARAMS does not enable it either */
    g_assert_cmphex(set_params(t, 50, 0), ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, a, 0, 0,
                                     NULL), ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(set_params(t, 1000, 0), ==, CHIMNEY_ST_SUCCESS);
    canary_up(t, &k);

    /* OFFLOAD_EN off: PAUSE, then UPLOAD_ALL (an object is offloaded) */
    errs = err_count(t);
    wr(t, CHIMNEY_REG_CTRL, rd(t, CHIMNEY_REG_CTRL) &
       ~CHIMNEY_CTRL_OFFLOAD_EN);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'S', 0), ==, 2);
    g_assert_cmpuint(g_array_index(t->env->recs, Rec, 0).a, ==,
                     CHIMNEY_STATUS_IND_PAUSE);
    g_assert_cmpuint(g_array_index(t->env->recs, Rec, 1).a, ==,
                     CHIMNEY_STATUS_IND_UPLOAD_ALL);
    n = build_npt(t, &p, tc, 1, 2000);
    g_assert_cmphex(run_tree(t, OP_INITIATE, n), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(tc[0]->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmpuint(err_count(t), ==, errs);
    /* existing objects: query, update, invalidate still work */
    canary_check(t, &k, "OFFLOAD_EN cleared");
    q = hb_tcp_cached(&t->env->hb, k.c.t->slot, &k.c.s.k);
    run_ok(t, OP_UPDATE, q);
    g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* SET_PARAMS is refused while objects are offloaded */
    g_assert_cmphex(set_params(t, 100, 0), ==, CHIMNEY_ST_INVALID_STATE);
    /* back on: RESUME, and INITIATE works */
    wr(t, CHIMNEY_REG_CTRL, rd(t, CHIMNEY_REG_CTRL) |
       CHIMNEY_CTRL_OFFLOAD_EN);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'S', 0), ==, 3);
    g_assert_cmpuint(g_array_index(t->env->recs, Rec, 2).a, ==,
                     CHIMNEY_STATUS_IND_RESUME);
    n = build_npt(t, &p, tc, 1, 2000);
    hb_dep(n, NULL);
    offload_ok(t, n);
    q = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, k.c.t->slot);
    run_ok(t, OP_INVALIDATE, q);
    g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
    for (i = 0; i < 2; i++) {
        q = hb_obj(&t->env->hb, i ? CHIMNEY_TYPE_NEIGH : CHIMNEY_TYPE_TCP,
                   i ? n->slot : k.c.t->slot);
        run_ok(t, OP_TERMINATE, q);
        g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
    }
    raw_free(&r);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_bad_input_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "bad-input-cycle", test_bad_cycle },
        { "bad-input-tcp-with-dependent", test_bad_tcp_dependent },
        { "bad-input-offload-disabled", test_bad_disabled },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_bad_input_test);

#endif /* !_WIN32 */
