/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, INITIATE: what needs the qtest shim (two commands in
 * flight, TsTime against QEMU's clock).  The other INITIATE tests are
 * scenarios (tests/support/scenarios-initiate.c), run by
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
 * Tests: initiate (rules 021-036)
 */

/* rule 021: two INITIATE commands in flight at once both complete. */
static void test_rule_021(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    HBlk *n1, *n2, *p1, *p2, *tc1[2], *tc2[2];
    Done d1 = { 0 }, d2 = { 0 };
    PathState ps;

    n1 = build_npt(t, &p1, tc1, 2, 1000);
    n2 = hb_neigh(&t->env->hb, peer2_mac, 0);
    path_state(&ps, false, (const uint8_t[]){ 10, 0, 0, 1 },
               (const uint8_t[]){ 10, 0, 0, 3 }, 1500);
    p2 = hb_path_state(&t->env->hb, false, &ps);
    tc2[0] = hb_tcp(&t->env->hb, 1000, 80);
    tc2[1] = hb_tcp(&t->env->hb, 1001, 80);
    hb_dep(n2, p2);
    hb_dep(p2, tc2[0]);
    hb_next(tc2[0], tc2[1]);
    g_assert_cmpint(OP_INITIATE(t->env->drv, &n1->b, tree_done, &d1), ==, 0);
    g_assert_cmpint(OP_INITIATE(t->env->drv, &n2->b, tree_done, &d2), ==, 0);
    g_assert_cmpuint(chimney_drv_pending(t->env->drv), ==, 2);
    g_assert_cmpuint(d1.calls + d2.calls, ==, 0);
    wait_done(t, &d2, 1);
    wait_done(t, &d1, 1);
    g_assert_cmphex(d1.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(d2.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_true(d1.root == &n1->b && d2.root == &n2->b);
    g_assert_cmphex(tc1[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tc2[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(n1->slot, !=, n2->slot);
    g_assert_cmphex(tc1[0]->slot, !=, tc2[0]->slot);
    g_assert_cmphex(query_tcp(t, tc2[1]->slot, NULL), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_drv_pending(t->env->drv), ==, 0);
    t_end(t);
}

/*
 * rule 036: the timestamp clock.  TsTime handed over is the host's
 * current adjusted timestamp; it advances with NIC time (1000 ticks/s:
 * N ms of virtual time = N ticks, modulo 2^32): QUERY, the TSval of the
 * ACKs and TERMINATE all see TsTime + N.
 */
static void test_rule_036(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t x = 0xfffffff0u;
    T *t = t_start(obj, data, alloc);
    ChimneyDmaBuf out;
    Conn c;
    TcpState q;
    HBlk *term;
    uint8_t f[256];
    size_t len, ts_off;

    rx_setup(t);
    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = cpu_to_le16(CHIMNEY_TCP_CONST_TIMESTAMP);
    c.s.d.ts_time = cpu_to_le32(x);
    c.s.d.ts_recent = cpu_to_le32(0x11223344);
    c.peer_ts = 0x55667788;
    conn_offload(t->env, &c);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(le32_to_cpu(q.d.ts_time), ==, x);

    qchimney_os_clock_step(&t->qe.os, 250 * NS_PER_MS);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(le32_to_cpu(q.d.ts_time), ==, x + 250);

    /* the ACK for a data segment: TSval = TsTime + 250, TSecr = peer's */
    conn_send_data(t->env, &c, "ts", 2);
    len = wire_recv(t, f, sizeof(f));
    ts_off = 14 + 20 + 20;
    g_assert_cmpuint(len, >=, ts_off + 12);
    g_assert_cmpuint(f[14 + 20 + 12] >> 4, ==, 8);      /* 32-byte header */
    g_assert_cmpmem(f + ts_off, 4, ((uint8_t[]){ 1, 1, 8, 10 }), 4);
    g_assert_cmphex(ldl_be_p(f + ts_off + 4), ==, x + 250);
    g_assert_cmphex(ldl_be_p(f + ts_off + 8), ==, 0x55667788);

    qchimney_os_clock_step(&t->qe.os, 17 * NS_PER_MS);
    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, 64, &out), ==, 0);
    term = hb_term_tcp(&t->env->hb, c.t->slot, NULL, 0, &out, 64);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(le32_to_cpu(hb_delegated(term)->ts_time), ==, x + 267);
    g_assert_cmphex(le32_to_cpu(hb_delegated(term)->ts_recent), ==,
                    0x55667788);

    /* rule 005: at 100 ticks/s, 250 ms are 25 ticks */
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_IP4, c.p->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_NEIGH, c.n->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(set_params(t, 100, 0), ==, CHIMNEY_ST_SUCCESS);
    {
        int64_t now = qchimney_os_clock_step(&t->qe.os, 1);

        /* the middle of a 10 ms tick */
        qchimney_os_clock_step(&t->qe.os, 10 * NS_PER_MS - now % (10 * NS_PER_MS)
                               + 5 * NS_PER_MS);
    }
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = cpu_to_le16(CHIMNEY_TCP_CONST_TIMESTAMP);
    c.s.d.ts_time = cpu_to_le32(1000);
    conn_offload(t->env, &c);
    qchimney_os_clock_step(&t->qe.os, 250 * NS_PER_MS);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ts_time), ==, 1025);
    qchimney_dma_free(&t->qe.os, &out);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_initiate_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "rule-021-concurrent-initiates", test_rule_021 },
        { "rule-036-tstime-clock", test_rule_036 },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_initiate_test);

#endif /* !_WIN32 */
