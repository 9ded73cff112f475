/*
 * chimney-nic test scenarios, spec chapter "State operations", INITIATE:
 * buffered data and send lists handed over, RTT and timer state.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/*
 * rules 023, 024: buffered receive data handed over at INITIATE is copied
 * before the completion (the host reuses its buffer at once) and comes
 * back, before any newer data, at TERMINATE.  More than CAP_RCV_BUF is
 * refused with OFFLOAD_TCP_RCV_BUFFER.
 */
static void scn_rule_023_024(ChimneyTestEnv *env)
{
    struct chimney_dma_buf in, out;
    g_autofree uint8_t *orig = NULL, *got = NULL;
    ChimneyTestHBlk *term, *lk, *big;
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    uint8_t f[256];

    env_fill_buf(env, &in, 300, 0x31);
    orig = env_buf_bytes(env, &in);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.rcv_data_addr = GUINT64_TO_LE(in.dma);
    c.s.d.rcv_data_len = GUINT32_TO_LE(300);
    conn_offload(env, &c);
    /* the host reuses the buffer as soon as the offload completed */
    memset(f, 0xff, sizeof(f));
    env_dma_write(env, &in, 0, f, sizeof(f));
    env->dma_sync(env);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.rcv_backlog_size), ==, 300);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.rcv_nxt), ==, 1000);

    /* newer data from the peer goes after it */
    conn_send_data(env, &c, "newer", 5);
    g_assert_cmpuint(env_wire_recv(env, f, sizeof(f)), >=, 54);   /* its ACK */

    g_assert_cmpint(env_dma_alloc(env, 4096, &out), ==, 0);
    term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, &out, 4096);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len), ==,
                     305);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_nxt), ==, 1005);
    got = env_buf_bytes(env, &out);
    g_assert_cmpmem(got, 300, orig, 300);
    g_assert_cmpmem(got + 300, 5, "newer", 5);

    /* more than CAP_RCV_BUF: refused, the host keeps it */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, c.p->slot);
    conn_init4(&c, 1, 2, 1001, 80);
    c.s.d.rcv_data_addr = GUINT64_TO_LE(in.dma);
    c.s.d.rcv_data_len = GUINT32_TO_LE(CHIMNEY_RCV_BUF + 1);
    big = hb_tcp_state(&env->hb, &c.s);
    hb_dep(lk, big);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(big->b.status, ==, CHIMNEY_ST_OFFLOAD_TCP_RCV_BUFFER);
    g_assert_cmphex(big->slot, ==, 0);
    env_dma_free(env, &in);
    env_dma_free(env, &out);
}

/*
 * rule 025: a failed TCP block leaves its send list and data untouched,
 * and none of it is ever completed (no SEND_DONE): the host still owns
 * it and can hand it over again.
 */
static void scn_rule_025(ChimneyTestEnv *env)
{
    struct chimney_dma_buf d0, d1, sl, ret;
    ChimneySendBuf list[2];
    g_autofree uint8_t *sl0 = NULL, *b0 = NULL, *b1 = NULL;
    ChimneyTestHBlk *n, *p, *tc[1], *lk, *x[3] = { NULL }, *term;
    ChimneySendBuf back[2];
    ChimneyTestTcpState s;
    unsigned i;

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 1, 1000);
    env_offload_ok(env, n);
    env_fill_buf(env, &d0, 100, 1);
    env_fill_buf(env, &d1, 60, 2);
    memset(list, 0, sizeof(list));
    list[0].addr = GUINT64_TO_LE(d0.dma);
    list[0].len = GUINT32_TO_LE(100);
    list[0].cookie = GUINT64_TO_LE(0xc0c0a);
    list[1].addr = GUINT64_TO_LE(d1.dma);
    list[1].len = GUINT32_TO_LE(60);
    list[1].cookie = GUINT64_TO_LE(0xc0c0b);
    g_assert_cmpint(env_dma_alloc(env, sizeof(list), &sl), ==, 0);
    env_dma_write(env, &sl, 0, list, sizeof(list));
    env->dma_sync(env);
    sl0 = env_buf_bytes(env, &sl);
    b0 = env_buf_bytes(env, &d0);
    b1 = env_buf_bytes(env, &d1);

    /* three ways to fail after the send list was looked at */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    for (i = 0; i < 3; i++) {
        chimney_test_tcp_state(&s, i == 2 ? 1000 : 2000 + i,
                               80);  /* 2: DUPLICATE */
        s.d.snd_max = GUINT32_TO_LE(5000 + 160);
        s.d.send_list_addr = GUINT64_TO_LE(sl.dma);
        s.d.send_list_count = GUINT32_TO_LE(2);
        if (i == 0) {
            s.k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_MAX_RCV_WND + 1);
        } else if (i == 1) {
            s.c.snd_wind_scale = 15;
        }
        x[i] = hb_tcp_state(&env->hb, &s);
        if (i) {
            hb_next(x[i - 1], x[i]);
        }
    }
    hb_dep(lk, x[0]);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(x[0]->b.status, ==, CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW);
    g_assert_cmphex(x[1]->b.status, ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(x[2]->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_FAILURE);
    env->clock_step(env, 3000 * CHIMNEY_TEST_NS_PER_MS);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'I', 0), ==, 0);
    {
        g_autofree uint8_t *a = env_buf_bytes(env, &sl);
        g_autofree uint8_t *c0 = env_buf_bytes(env, &d0);
        g_autofree uint8_t *c1 = env_buf_bytes(env, &d1);

        g_assert_cmpmem(a, sizeof(list), sl0, sizeof(list));
        g_assert_cmpmem(c0, 100, b0, 100);
        g_assert_cmpmem(c1, 60, b1, 60);
    }

    /* the host hands the same list over again, successfully */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    chimney_test_tcp_state(&s, 2000, 80);
    s.d.snd_max = GUINT32_TO_LE(5000 + 160);
    s.d.send_list_addr = GUINT64_TO_LE(sl.dma);
    s.d.send_list_count = GUINT32_TO_LE(2);
    x[0] = hb_tcp_state(&env->hb, &s);
    hb_dep(lk, x[0]);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(x[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpint(env_dma_alloc(env, sizeof(back), &ret), ==, 0);
    term = hb_term_tcp(&env->hb, x[0]->slot, &ret, 2, NULL, 0);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->send_list_count), ==,
                     2);
    env->dma_sync(env);
    env_dma_read(env, &ret, 0, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), list, sizeof(list));
    env_dma_free(env, &ret);
    env_dma_free(env, &sl);
    env_dma_free(env, &d0);
    env_dma_free(env, &d1);
}

/*
 * rule 034: SRtt is 8 x SRTT and RttVar 4 x RTTVAR in ticks: the values
 * are kept as given (QUERY and TERMINATE return them unscaled).
 */
static void scn_rule_034(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestHBlk *term;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.srtt = GUINT16_TO_LE(8 * 37 + 5);
    c.s.d.rttvar = GUINT16_TO_LE(4 * 11 + 3);
    conn_offload(env, &c);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT16_FROM_LE(q.d.srtt), ==, 8 * 37 + 5);
    g_assert_cmpuint(GUINT16_FROM_LE(q.d.rttvar), ==, 4 * 11 + 3);
    term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, NULL, 0);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT16_FROM_LE(hb_delegated(term)->srtt), ==, 8 * 37 + 5);
    g_assert_cmpuint(GUINT16_FROM_LE(hb_delegated(term)->rttvar), ==,
                     4 * 11 + 3);
}

/* rule 035: TimeoutDelta -1 means "not running" and stays so. */
static void scn_rule_035(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestHBlk *term;

    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    env->clock_step(env, 5000 * CHIMNEY_TEST_NS_PER_MS);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==,
                    CHIMNEY_TIMER_OFF);
    g_assert_cmphex(GUINT32_FROM_LE(q.d.rexmit_timeout_delta), ==,
                    CHIMNEY_TIMER_OFF);
    env->clock_step(env, 5000 * CHIMNEY_TEST_NS_PER_MS);
    term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, NULL, 0);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(GUINT32_FROM_LE(hb_delegated(term)->ka_timeout_delta), ==,
                    CHIMNEY_TIMER_OFF);
    g_assert_cmphex(GUINT32_FROM_LE(hb_delegated(term)->rexmit_timeout_delta),
                    ==,
                    CHIMNEY_TIMER_OFF);
    /* nothing happened on the wire nor in events meanwhile */
    g_assert_true(env->wire_quiet(env));
    g_assert_cmpuint(env->recs->len, ==, 0);
}

/*
 * rules 029-033: the specific failure codes of INITIATE, and which of
 * them are guest errors (only INVALID_PARAMETER here).
 */
static void scn_rule_029_033(ChimneyTestEnv *env)
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
    ChimneyTestHBlk *n, *p, *tc[1], *b;
    ChimneyTestNeighState ns;
    ChimneyTestTcpState s;
    uint32_t errs;
    uint16_t vids[2] = { 100, 200 }, zero = 0;
    unsigned i;
    uint8_t mac[6] = { 0x02, 0, 0, 0, 0x29, 0 };

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 1, 1000);
    env_offload_ok(env, n);

    /* rule 029: a source MAC needs CAP_SRC_MAC, which this device lacks */
    g_assert_cmphex(env->reg_read(env, CHIMNEY_REG_CAP_FLAGS) &
                    CHIMNEY_CAP_SRC_MAC, ==, 0);
    errs = env_err_count(env);
    chimney_test_neigh_state(&ns, chimney_test_peer2_mac, 0);
    memcpy(ns.c.dl_src_addr, mac, 6);
    b = hb_neigh_state(&env->hb, &ns);
    g_assert_cmphex(env_offload_status(env, NULL, b), ==,
                    CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES);
    g_assert_cmphex(b->slot, ==, 0);

    /* rule 030: InitialRcvWnd up to CAP_MAX_RCV_WND */
    g_assert_cmpuint(env->reg_read(env, CHIMNEY_REG_CAP_MAX_RCV_WND), ==,
                     CHIMNEY_MAX_RCV_WND);
    chimney_test_tcp_state(&s, 2000, 80);
    s.k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_MAX_RCV_WND + 1);
    g_assert_cmphex(env_offload_status(env, hb_obj(&env->hb, CHIMNEY_TYPE_IP4,
                                                   p->slot),
                                   hb_tcp_state(&env->hb, &s)), ==,
                    CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW);
    s.k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_MAX_RCV_WND);
    g_assert_cmphex(env_offload_status(env, hb_obj(&env->hb, CHIMNEY_TYPE_IP4,
                                                   p->slot),
                                   hb_tcp_state(&env->hb, &s)), ==,
                    CHIMNEY_ST_SUCCESS);

    /* rule 031: PathMtu up to CAP_MAX_PATH_MTU */
    g_assert_cmpuint(env->reg_read(env, CHIMNEY_REG_CAP_MAX_PATH_MTU), ==,
                     CHIMNEY_MAX_PATH_MTU);
    g_assert_cmphex(env_offload_status(env, hb_obj(&env->hb,
                                                   CHIMNEY_TYPE_NEIGH, n->slot),
                                   hb_path4(&env->hb, 1, 31,
                                            CHIMNEY_MAX_PATH_MTU + 1)), ==,
                    CHIMNEY_ST_OFFLOAD_PATH_MTU);
    g_assert_cmphex(env_offload_status(env, hb_obj(&env->hb,
                                                   CHIMNEY_TYPE_NEIGH, n->slot),
                                   hb_path4(&env->hb, 1, 31,
                                            CHIMNEY_MAX_PATH_MTU)),
                    ==, CHIMNEY_ST_SUCCESS);
    /* none of these is a guest error */
    g_assert_cmpuint(env_err_count(env), ==, errs);

    /* rule 032: no interface VLANs: any neighbor VLAN */
    g_assert_cmphex(env_offload_status(env, NULL, hb_neigh(&env->hb,
                    chimney_test_peer2_mac, 300)), ==,
                    CHIMNEY_ST_SUCCESS);
    /* an interface table of 0 only ("untagged"): still any */
    g_assert_cmphex(env_set_vlans(env, &zero, 1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_offload_status(env, NULL, hb_neigh(&env->hb,
                    chimney_test_peer2_mac, 301)), ==,
                    CHIMNEY_ST_SUCCESS);
    /* 100 and 200: 300 fails, 200 and 0 pass */
    g_assert_cmphex(env_set_vlans(env, vids, 2), ==, CHIMNEY_ST_SUCCESS);
    b = hb_neigh(&env->hb, chimney_test_peer2_mac, 300);
    g_assert_cmphex(env_offload_status(env, NULL, b), ==,
                    CHIMNEY_ST_OFFLOAD_VLAN_MISMATCH);
    g_assert_cmphex(b->slot, ==, 0);
    g_assert_cmphex(env_offload_status(env, NULL, hb_neigh(&env->hb,
                    chimney_test_peer2_mac, 200)), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_offload_status(env, NULL, hb_neigh(&env->hb,
                    chimney_test_peer2_mac, 0)), ==,
                    CHIMNEY_ST_SUCCESS);
    /* only bits 0..11 are the VLAN id: 0x10c8 is VLAN 200 */
    g_assert_cmphex(env_offload_status(env, NULL, hb_neigh(&env->hb,
                    chimney_test_peer2_mac, 0x10c8)),
                    ==, CHIMNEY_ST_SUCCESS);
    /* an emptied table accepts 300 again */
    g_assert_cmphex(env_set_vlans(env, NULL, 0), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_offload_status(env, NULL, hb_neigh(&env->hb,
                    chimney_test_peer2_mac, 300)), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(env_err_count(env), ==, errs);

    /* the other INVALID_PARAMETER conditions: the send list */
    {
        struct chimney_dma_buf sl, dat;
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

        env_fill_buf(env, &dat, 10, 9);
        g_assert_cmpint(env_dma_alloc(env, sizeof(e), &sl), ==, 0);
        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            memset(e, 0, sizeof(e));
            e[0].addr = GUINT64_TO_LE(dat.dma);
            e[0].len = GUINT32_TO_LE(cases[i].len0);
            e[0].acked = GUINT32_TO_LE(cases[i].acked0);
            e[1].addr = GUINT64_TO_LE(dat.dma);
            e[1].len = GUINT32_TO_LE(10);
            env_dma_write(env, &sl, 0, e, sizeof(e));
            chimney_test_tcp_state(&s, 3100 + i, 80);
            s.d.snd_max = GUINT32_TO_LE(5000 + cases[i].snd_max_off);
            s.d.send_list_addr = GUINT64_TO_LE(sl.dma);
            s.d.send_list_count = GUINT32_TO_LE(cases[i].count);
            b = hb_tcp_state(&env->hb, &s);
            if (env_offload_status(env, hb_obj(&env->hb, CHIMNEY_TYPE_IP4,
                                               p->slot), b) !=
                cases[i].status) {
                env_soft_fail(env,
                              "send list with %s: status 0x%x, expected 0x%x",
                          cases[i].what, b->b.status, cases[i].status);
            }
        }
        /* a SACK connection: CAP_SACK is set, so it is offloaded */
        g_assert_cmphex(env->reg_read(env, CHIMNEY_REG_CAP_FLAGS) &
                        CHIMNEY_CAP_SACK, ==, CHIMNEY_CAP_SACK);
        chimney_test_tcp_state(&s, 3200, 80);
        s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_SACK);
        b = hb_tcp_state(&env->hb, &s);
        if (env_offload_status(env, hb_obj(&env->hb, CHIMNEY_TYPE_IP4,
                                           p->slot), b) !=
            CHIMNEY_ST_SUCCESS) {
            env_soft_fail(env, "SACK: status 0x%x, expected SUCCESS",
                          b->b.status);
        }
        /*
         * Conditions are checked in table order: a window too large comes
         * before an unreadable send list (DMA_ERROR is the last row).
         */
        chimney_test_tcp_state(&s, 3201, 80);
        s.k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_MAX_RCV_WND + 1);
        s.d.snd_max = GUINT32_TO_LE(5010);
        s.d.send_list_addr = GUINT64_TO_LE(CHIMNEY_TEST_BAD_GPA);
        s.d.send_list_count = GUINT32_TO_LE(1);
        b = hb_tcp_state(&env->hb, &s);
        if (env_offload_status(env, hb_obj(&env->hb, CHIMNEY_TYPE_IP4,
                                           p->slot), b) !=
            CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW) {
            env_soft_fail(env,
                          "window too large and send list unreadable: status "
                      "0x%x, expected OFFLOAD_TCP_RCV_WINDOW (table order)",
                      b->b.status);
        }
        chimney_test_tcp_state(&s, 1000, 80);                /* DUPLICATE too */
        s.d.snd_max = GUINT32_TO_LE(5010);
        s.d.send_list_addr = GUINT64_TO_LE(CHIMNEY_TEST_BAD_GPA);
        s.d.send_list_count = GUINT32_TO_LE(1);
        b = hb_tcp_state(&env->hb, &s);
        if (env_offload_status(env, hb_obj(&env->hb, CHIMNEY_TYPE_IP4,
                                           p->slot), b) !=
            CHIMNEY_ST_DUPLICATE) {
            env_soft_fail(env,
                          "duplicate 4-tuple and send list unreadable: status "
                      "0x%x, expected DUPLICATE (table order)", b->b.status);
        }
        env_dma_free(env, &sl);
        env_dma_free(env, &dat);
    }

    /* rule 033: which TCP states can be offloaded */
    for (i = 0; i < G_N_ELEMENTS(states); i++) {
        uint32_t before = env_err_count(env);

        chimney_test_tcp_state(&s, 4000 + i, 80);
        s.d.state = GUINT32_TO_LE(states[i].state);
        b = hb_tcp_state(&env->hb, &s);
        g_assert_cmphex(env_offload_status(env, hb_obj(&env->hb,
                                                       CHIMNEY_TYPE_IP4,
                                                 p->slot), b), ==,
                        states[i].ok ? CHIMNEY_ST_SUCCESS :
                        CHIMNEY_ST_INVALID_PARAMETER);
        /* INVALID_PARAMETER is a guest error */
        g_assert_cmpuint(env_err_count(env), ==, before + !states[i].ok);
        if (states[i].ok) {
            ChimneyTestTcpState q;

            g_assert_cmphex(env_query_tcp(env, b->slot, &q), ==,
                            CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(GUINT32_FROM_LE(q.d.state), ==, states[i].state);
        }
    }
}

/* rule 021: two INITIATE commands in flight at once both complete. */
static void scn_rule_021(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n1, *n2, *p1, *p2, *tc1[2], *tc2[2];
    ChimneyTestDone d1 = { .env = env };
    ChimneyTestDone d2 = { .env = env };
    ChimneyTestPathState ps;

    n1 = hb_npt(&env->hb, chimney_test_peer_mac, &p1, tc1, 2, 1000);
    n2 = hb_neigh(&env->hb, chimney_test_peer2_mac, 0);
    chimney_test_path_state(&ps, false, (const uint8_t[]){ 10, 0, 0, 1 },
                            (const uint8_t[]){ 10, 0, 0, 3 }, 1500);
    p2 = hb_path_state(&env->hb, false, &ps);
    tc2[0] = hb_tcp(&env->hb, 1000, 80);
    tc2[1] = hb_tcp(&env->hb, 1001, 80);
    hb_dep(n2, p2);
    hb_dep(p2, tc2[0]);
    hb_next(tc2[0], tc2[1]);
    g_assert_cmpint(OP_INITIATE(env->drv, &n1->b, env_tree_done, &d1), ==, 0);
    g_assert_cmpint(OP_INITIATE(env->drv, &n2->b, env_tree_done, &d2), ==, 0);
    g_assert_cmpuint(chimney_drv_pending(env->drv), ==, 2);
    g_assert_cmpuint(d1.calls + d2.calls, ==, 0);
    env_wait(env, &d2.calls, 1);
    g_assert_cmpuint(d2.calls, ==, 1);
    env_wait(env, &d1.calls, 1);
    g_assert_cmpuint(d1.calls, ==, 1);
    g_assert_cmphex(d1.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(d2.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_true(d1.root == &n1->b && d2.root == &n2->b);
    g_assert_cmphex(tc1[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tc2[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(n1->slot, !=, n2->slot);
    g_assert_cmphex(tc1[0]->slot, !=, tc2[0]->slot);
    g_assert_cmphex(env_query_tcp(env, tc2[1]->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_drv_pending(env->drv), ==, 0);
}

/*
 * rule 036: the timestamp clock.  TsTime handed over is the host's
 * current adjusted timestamp; it advances with NIC time (1000 ticks/s:
 * N ms of virtual time = N ticks, modulo 2^32): QUERY, the TSval of the
 * ACKs and TERMINATE all see TsTime + N.
 */
static void scn_rule_036(ChimneyTestEnv *env)
{
    const uint32_t x = 0xfffffff0u;
    struct chimney_dma_buf out;
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestHBlk *term;
    uint8_t f[256];
    size_t len, ts_off;

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_TIMESTAMP);
    c.s.d.ts_time = GUINT32_TO_LE(x);
    c.s.d.ts_recent = GUINT32_TO_LE(0x11223344);
    c.peer_ts = 0x55667788;
    conn_offload(env, &c);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(GUINT32_FROM_LE(q.d.ts_time), ==, x);

    env->clock_step(env, 250 * CHIMNEY_TEST_NS_PER_MS);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(GUINT32_FROM_LE(q.d.ts_time), ==, x + 250);

    /* the ACK for a data segment: TSval = TsTime + 250, TSecr = peer's */
    conn_send_data(env, &c, "ts", 2);
    len = env_wire_recv(env, f, sizeof(f));
    ts_off = 14 + 20 + 20;
    g_assert_cmpuint(len, >=, ts_off + 12);
    g_assert_cmpuint(f[14 + 20 + 12] >> 4, ==, 8);      /* 32-byte header */
    g_assert_cmpmem(f + ts_off, 4, ((uint8_t[]){ 1, 1, 8, 10 }), 4);
    g_assert_cmphex(chimney_test_ld32(f + ts_off + 4), ==, x + 250);
    g_assert_cmphex(chimney_test_ld32(f + ts_off + 8), ==, 0x55667788);

    env->clock_step(env, 17 * CHIMNEY_TEST_NS_PER_MS);
    g_assert_cmpint(env_dma_alloc(env, 64, &out), ==, 0);
    term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, &out, 64);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(GUINT32_FROM_LE(hb_delegated(term)->ts_time), ==, x + 267);
    g_assert_cmphex(GUINT32_FROM_LE(hb_delegated(term)->ts_recent), ==,
                    0x55667788);

    /* rule 005: at 100 ticks/s, 250 ms are 25 ticks */
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_IP4, c.p->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_NEIGH, c.n->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_set_params(env, 100, 0), ==, CHIMNEY_ST_SUCCESS);
    {
        /* the middle of a 10 ms tick */
        int64_t tick = 10 * CHIMNEY_TEST_NS_PER_MS;
        int64_t now = env->clock_step(env, 1);

        env->clock_step(env, tick - now % tick + tick / 2);
    }
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_TIMESTAMP);
    c.s.d.ts_time = GUINT32_TO_LE(1000);
    conn_offload(env, &c);
    env->clock_step(env, 250 * CHIMNEY_TEST_NS_PER_MS);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ts_time), ==, 1025);
    env_dma_free(env, &out);
}

const ChimneyScenario chimney_scenarios_initiate[] = {
    { "rule-021-concurrent-initiates", scn_rule_021 },
    { "rule-023-024-buffered-data-copied", scn_rule_023_024 },
    { "rule-025-failed-tcp-send-list-untouched", scn_rule_025 },
    { "rule-029-033-failure-codes", scn_rule_029_033 },
    { "rule-034-srtt-rttvar", scn_rule_034 },
    { "rule-035-timeout-delta-off", scn_rule_035 },
    { "rule-036-tstime-clock", scn_rule_036 },
    { NULL, NULL },
};
