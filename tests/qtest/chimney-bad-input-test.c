/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Error handling, what needs the qtest shim: a device without
 * SET_PARAMS (offload disabled; the scenario environments always have
 * it).  The other bad-input cases are scenarios
 * (tests/support/scenarios-errors.c).
 *
 * Helpers, context and conventions: chimney-offload-qtest.h (with the
 * canary connection and the expect_* checks of bad input).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

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
        { "bad-input-offload-disabled", test_bad_disabled },
    };
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_bad_input_test);

#endif /* !_WIN32 */
