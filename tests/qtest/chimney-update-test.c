/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, QUERY: two queries in flight at once, which needs
 * the qtest shim's command plumbing.  The other UPDATE/QUERY/INVALIDATE
 * tests are scenarios (tests/support/scenarios-update.c), run by
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
 * Registration
 */

static void register_chimney_update_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "rule-062-overlapping-queries", test_rule_062 },
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
