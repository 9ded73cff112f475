/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, INITIATE: what needs the qtest shim (two commands in
 * flight, SET_VLANS and capability registers, TsTime against QEMU's
 * clock).  The other INITIATE tests are scenarios
 * (tests/support/scenarios-initiate.c), run by chimney-scenario-test.c
 * and in the unit tests.
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

/* Status of one NEW block under a linker or at the root. */
static uint32_t offload_status(T *t, HBlk *parent_linker, HBlk *blk)
{
    if (parent_linker) {
        hb_dep(parent_linker, blk);
        run_ok(t, OP_INITIATE, parent_linker);
    } else {
        run_ok(t, OP_INITIATE, blk);
    }
    return blk->b.status;
}

/*
 * rules 029-033: the specific failure codes of INITIATE, and which of
 * them are guest errors (only INVALID_PARAMETER here).
 */
static void test_rule_029_033(void *obj, void *data, QGuestAllocator *alloc)
{
    static const struct {
        uint32_t state;
        bool ok;
    } states[] = {
        { CHIMNEY_TCPS_CLOSED, false }, { CHIMNEY_TCPS_LISTEN, false },
        { CHIMNEY_TCPS_SYN_SENT, false }, { CHIMNEY_TCPS_SYN_RCVD, false },
        { CHIMNEY_TCPS_ESTABLISHED, true }, { CHIMNEY_TCPS_FIN_WAIT_1, true },
        { CHIMNEY_TCPS_FIN_WAIT_2, true }, { CHIMNEY_TCPS_CLOSE_WAIT, true },
        { CHIMNEY_TCPS_CLOSING, true }, { CHIMNEY_TCPS_LAST_ACK, true },
        { CHIMNEY_TCPS_TIME_WAIT, false }, { 11, false },
    };
    T *t = t_start(obj, data, alloc);
    HBlk *n, *p, *tc[1], *b;
    NeighState ns;
    TcpState s;
    uint32_t errs;
    uint16_t vids[2] = { 100, 200 }, zero = 0;
    unsigned i;
    uint8_t mac[6] = { 0x02, 0, 0, 0, 0x29, 0 };

    n = build_npt(t, &p, tc, 1, 1000);
    offload_ok(t, n);

    /* rule 029: a source MAC needs CAP_SRC_MAC, which this device lacks */
    g_assert_cmphex(rd(t, CHIMNEY_REG_CAP_FLAGS) & CHIMNEY_CAP_SRC_MAC, ==, 0);
    errs = err_count(t);
    neigh_state(&ns, peer2_mac, 0);
    memcpy(ns.c.dl_src_addr, mac, 6);
    b = hb_neigh_state(&t->env->hb, &ns);
    g_assert_cmphex(offload_status(t, NULL, b), ==,
                    CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES);
    g_assert_cmphex(b->slot, ==, 0);

    /* rule 030: InitialRcvWnd up to CAP_MAX_RCV_WND */
    g_assert_cmpuint(rd(t, CHIMNEY_REG_CAP_MAX_RCV_WND), ==,
                     CHIMNEY_MAX_RCV_WND);
    tcp_state(&s, 2000, 80);
    s.k.initial_rcv_wnd = cpu_to_le32(CHIMNEY_MAX_RCV_WND + 1);
    g_assert_cmphex(offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot),
                                   hb_tcp_state(&t->env->hb, &s)), ==,
                    CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW);
    s.k.initial_rcv_wnd = cpu_to_le32(CHIMNEY_MAX_RCV_WND);
    g_assert_cmphex(offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot),
                                   hb_tcp_state(&t->env->hb, &s)), ==,
                    CHIMNEY_ST_SUCCESS);

    /* rule 031: PathMtu up to CAP_MAX_PATH_MTU */
    g_assert_cmpuint(rd(t, CHIMNEY_REG_CAP_MAX_PATH_MTU), ==,
                     CHIMNEY_MAX_PATH_MTU);
    g_assert_cmphex(offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, n->slot),
                                   hb_path4(&t->env->hb, 1, 31,
                                            CHIMNEY_MAX_PATH_MTU + 1)), ==,
                    CHIMNEY_ST_OFFLOAD_PATH_MTU);
    g_assert_cmphex(offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, n->slot),
                                   hb_path4(&t->env->hb, 1, 31, CHIMNEY_MAX_PATH_MTU)),
                    ==, CHIMNEY_ST_SUCCESS);
    /* none of these is a guest error */
    g_assert_cmpuint(err_count(t), ==, errs);

    /* rule 032: no interface VLANs: any neighbor VLAN */
    g_assert_cmphex(offload_status(t, NULL, hb_neigh(&t->env->hb, peer2_mac, 300)), ==,
                    CHIMNEY_ST_SUCCESS);
    /* an interface table of 0 only ("untagged"): still any */
    g_assert_cmphex(set_vlans(t, &zero, 1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(offload_status(t, NULL, hb_neigh(&t->env->hb, peer2_mac, 301)), ==,
                    CHIMNEY_ST_SUCCESS);
    /* 100 and 200: 300 fails, 200 and 0 pass */
    g_assert_cmphex(set_vlans(t, vids, 2), ==, CHIMNEY_ST_SUCCESS);
    b = hb_neigh(&t->env->hb, peer2_mac, 300);
    g_assert_cmphex(offload_status(t, NULL, b), ==,
                    CHIMNEY_ST_OFFLOAD_VLAN_MISMATCH);
    g_assert_cmphex(b->slot, ==, 0);
    g_assert_cmphex(offload_status(t, NULL, hb_neigh(&t->env->hb, peer2_mac, 200)), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(offload_status(t, NULL, hb_neigh(&t->env->hb, peer2_mac, 0)), ==,
                    CHIMNEY_ST_SUCCESS);
    /* only bits 0..11 are the VLAN id: 0x10c8 is VLAN 200 */
    g_assert_cmphex(offload_status(t, NULL, hb_neigh(&t->env->hb, peer2_mac, 0x10c8)),
                    ==, CHIMNEY_ST_SUCCESS);
    /* an emptied table accepts 300 again */
    g_assert_cmphex(set_vlans(t, NULL, 0), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(offload_status(t, NULL, hb_neigh(&t->env->hb, peer2_mac, 300)), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(err_count(t), ==, errs);

    /* the other INVALID_PARAMETER conditions: the send list */
    {
        ChimneyDmaBuf sl, dat;
        ChimneySendBuf e[2];
        static const struct {
            uint32_t len0, acked0, count, snd_max_off;
            uint32_t status;
            const char *what;
        } cases[] = {
            { 0, 0, 2, 10, CHIMNEY_ST_INVALID_PARAMETER, "an entry of 0 "
              "bytes" },
            { 10, 4, 2, 10, CHIMNEY_ST_INVALID_PARAMETER, "acked != 0" },
            { 10, 0, 2, 21, CHIMNEY_ST_INVALID_PARAMETER, "a list shorter "
              "than SndMax - SndUna" },
            { 10, 0, 1025, 10, CHIMNEY_ST_OFFLOAD_TCP_XMIT_BUFFER, "1025 "
              "entries" },
            { 10, 0, 2, 20, CHIMNEY_ST_SUCCESS, "a good list" },
        };

        fill_buf(t, &dat, 10, 9);
        g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, sizeof(e), &sl), ==, 0);
        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            memset(e, 0, sizeof(e));
            e[0].addr = cpu_to_le64(dat.dma);
            e[0].len = cpu_to_le32(cases[i].len0);
            e[0].acked = cpu_to_le32(cases[i].acked0);
            e[1].addr = cpu_to_le64(dat.dma);
            e[1].len = cpu_to_le32(10);
            qchimney_dma_write(&t->qe.os, &sl, 0, e, sizeof(e));
            tcp_state(&s, 3100 + i, 80);
            s.d.snd_max = cpu_to_le32(5000 + cases[i].snd_max_off);
            s.d.send_list_addr = cpu_to_le64(sl.dma);
            s.d.send_list_count = cpu_to_le32(cases[i].count);
            b = hb_tcp_state(&t->env->hb, &s);
            if (offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot), b) !=
                cases[i].status) {
                soft_fail(t, "send list with %s: status 0x%x, expected 0x%x",
                          cases[i].what, b->b.status, cases[i].status);
            }
        }
        /* a SACK connection: this device has no CAP_SACK */
        g_assert_cmphex(rd(t, CHIMNEY_REG_CAP_FLAGS) & CHIMNEY_CAP_SACK, ==,
                        0);
        tcp_state(&s, 3200, 80);
        s.c.flags = cpu_to_le16(CHIMNEY_TCP_CONST_SACK);
        b = hb_tcp_state(&t->env->hb, &s);
        if (offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot), b) !=
            CHIMNEY_ST_OFFLOAD_CONNECTION_REJECTED) {
            soft_fail(t, "SACK: status 0x%x, expected "
                      "OFFLOAD_CONNECTION_REJECTED", b->b.status);
        }
        /*
         * Conditions are checked in table order: a window too large comes
         * before an unreadable send list (DMA_ERROR is the last row).
         */
        tcp_state(&s, 3201, 80);
        s.k.initial_rcv_wnd = cpu_to_le32(CHIMNEY_MAX_RCV_WND + 1);
        s.d.snd_max = cpu_to_le32(5010);
        s.d.send_list_addr = cpu_to_le64(BAD_GPA);
        s.d.send_list_count = cpu_to_le32(1);
        b = hb_tcp_state(&t->env->hb, &s);
        if (offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot), b) !=
            CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW) {
            soft_fail(t, "window too large and send list unreadable: status "
                      "0x%x, expected OFFLOAD_TCP_RCV_WINDOW (table order)",
                      b->b.status);
        }
        tcp_state(&s, 1000, 80);                /* DUPLICATE too */
        s.d.snd_max = cpu_to_le32(5010);
        s.d.send_list_addr = cpu_to_le64(BAD_GPA);
        s.d.send_list_count = cpu_to_le32(1);
        b = hb_tcp_state(&t->env->hb, &s);
        if (offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot), b) !=
            CHIMNEY_ST_DUPLICATE) {
            soft_fail(t, "duplicate 4-tuple and send list unreadable: status "
                      "0x%x, expected DUPLICATE (table order)", b->b.status);
        }
        qchimney_dma_free(&t->qe.os, &sl);
        qchimney_dma_free(&t->qe.os, &dat);
    }

    /* rule 033: which TCP states can be offloaded */
    for (i = 0; i < G_N_ELEMENTS(states); i++) {
        uint32_t before = err_count(t);

        tcp_state(&s, 4000 + i, 80);
        s.d.state = cpu_to_le32(states[i].state);
        b = hb_tcp_state(&t->env->hb, &s);
        g_assert_cmphex(offload_status(t, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4,
                                                 p->slot), b), ==,
                        states[i].ok ? CHIMNEY_ST_SUCCESS :
                        CHIMNEY_ST_INVALID_PARAMETER);
        /* INVALID_PARAMETER is a guest error */
        g_assert_cmpuint(err_count(t), ==, before + !states[i].ok);
        if (states[i].ok) {
            TcpState q;

            g_assert_cmphex(query_tcp(t, b->slot, &q), ==,
                            CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(le32_to_cpu(q.d.state), ==, states[i].state);
        }
    }
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
        { "rule-029-033-failure-codes", test_rule_029_033 },
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
