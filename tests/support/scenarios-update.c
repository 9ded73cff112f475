/*
 * chimney-nic test scenarios, spec chapter "State operations": UPDATE,
 * QUERY and INVALIDATE on offloaded connections, and what they change on
 * the wire.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/*
 * rule 053: UPDATE copies the cached variables only (const and delegated
 * state stay), at every layer; rules 081, 082: the next segment uses the
 * new neighbor MAC, TTL and TOS.
 */
static void scn_rule_053(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q0, q1;
    ChimneyTestNeighState n1;
    ChimneyTestPathState p1;
    ChimneyNeighCached nk;
    ChimneyPathCached pk;
    ChimneyTcpCached tk;
    ChimneyTestHBlk *un, *up, *ut;
    uint8_t f[256];
    size_t l3 = 14;

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q0), ==, CHIMNEY_ST_SUCCESS);

    memset(&nk, 0, sizeof(nk));
    nk.hdr.length = GUINT32_TO_LE(sizeof(nk));
    memcpy(nk.dl_dst_addr, chimney_test_peer2_mac, 6);
    nk.host_reachability_delta = GUINT32_TO_LE(5);
    memset(&pk, 0, sizeof(pk));
    pk.hdr.length = GUINT32_TO_LE(sizeof(pk));
    pk.path_mtu = GUINT32_TO_LE(1400);
    memset(&tk, 0, sizeof(tk));
    tk.hdr.length = GUINT32_TO_LE(sizeof(tk));
    tk.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_NAGLE);
    tk.initial_rcv_wnd = GUINT32_TO_LE(60000);
    tk.rcv_indication_size = GUINT32_TO_LE(4096);
    tk.ka_timeout = GUINT32_TO_LE(7200000);
    tk.ka_interval = GUINT32_TO_LE(1000);
    tk.max_rt = GUINT32_TO_LE(12345);
    tk.flow_label = GUINT32_TO_LE(0x54321);
    tk.ka_probe_count = 9;
    tk.ttl_hop_limit = 33;
    tk.tos_traffic_class = 0x48;
    tk.user_priority = 0;
    un = hb_new(&env->hb, CHIMNEY_TYPE_NEIGH_CACHED, true, c.n->slot, &nk,
                sizeof(nk));
    up = hb_new(&env->hb, CHIMNEY_TYPE_IP4_CACHED, true, c.p->slot, &pk,
                sizeof(pk));
    ut = hb_new(&env->hb, CHIMNEY_TYPE_TCP_CACHED, true, c.t->slot, &tk,
                sizeof(tk));
    hb_dep(un, up);
    hb_dep(up, ut);
    env_run_ok(env, OP_UPDATE, un);
    g_assert_cmphex(un->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(up->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ut->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* update input is not copied back */
    g_assert_cmpmem(ut->st, sizeof(tk), &tk, sizeof(tk));

    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&q1.c, sizeof(q1.c), &q0.c, sizeof(q0.c));
    g_assert_cmpmem(&q1.k, sizeof(q1.k), &tk, sizeof(tk));
    g_assert_cmpmem(&q1.d, sizeof(q1.d), &q0.d, sizeof(q0.d));
    g_assert_cmphex(env_query_neigh(env, c.n->slot, &n1), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(n1.k.dl_dst_addr, 6, chimney_test_peer2_mac, 6);
    g_assert_cmpuint(GUINT32_FROM_LE(n1.k.host_reachability_delta), ==, 5);
    g_assert_cmpuint(GUINT16_FROM_LE(n1.c.vlan_id), ==, 0);
    g_assert_cmphex(env_query_path(env, false, c.p->slot, &p1), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(p1.k.path_mtu), ==, 1400);
    g_assert_cmpmem(p1.c.dst_addr, 4, c.rip, 4);

    /* the next ACK: new MAC, TTL, TOS */
    conn_send_data(env, &c, "after update", 12);
    memcpy(c.nmac, chimney_test_peer2_mac, 6);
    c.s.k = tk;
    conn_recv_ack_basic(env, &c, chimney_test_peer2_mac, f, sizeof(f));
    g_assert_cmphex(f[l3 + 1], ==, 0x48);
    g_assert_cmpuint(f[l3 + 8], ==, 33);
}

/*
 * rule 054: an UPDATE tree rooted at a neighbor relinks the paths under
 * it; the proof is on the wire: the ACK for the next in-order segment
 * goes to the new neighbor's MAC.  Paths under a placeholder or in the
 * root chain are not relinked.
 */
static void scn_rule_054(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestHBlk *n2, *rn, *rp, *ph;
    uint8_t f[256];

    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    n2 = hb_neigh(&env->hb, chimney_test_peer2_mac, 0);
    env_offload_ok(env, n2);
    conn_send_data(env, &c, "one", 3);
    conn_recv_ack_basic(env, &c, chimney_test_peer_mac, f, sizeof(f));

    rn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n2->slot);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, c.p->slot);
    hb_dep(rn, rp);
    env_run_ok(env, OP_UPDATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(env, &c, "two", 3);
    conn_recv_ack_basic(env, &c, chimney_test_peer2_mac, f, sizeof(f));

    /* the old neighbor has no path left; the new one has */
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_NEIGH, n2->slot), ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_NEIGH, c.n->slot), ==,
                    CHIMNEY_ST_SUCCESS);

    /* not relinked under a placeholder, nor in the root chain */
    c.n = hb_neigh(&env->hb, chimney_test_peer_mac, 0);
    env_offload_ok(env, c.n);
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_NEIGH);
    hb_dep(ph, hb_obj(&env->hb, CHIMNEY_TYPE_IP4, c.p->slot));
    env_run_ok(env, OP_UPDATE, ph);
    g_assert_cmphex(ph->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_SUCCESS);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, c.p->slot);
    env_run_ok(env, OP_UPDATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(env, &c, "three", 5);
    conn_recv_ack_basic(env, &c, chimney_test_peer2_mac, f, sizeof(f));
    /* back to the first MAC through a neighbor-rooted tree */
    rn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, c.n->slot);
    hb_dep(rn, hb_obj(&env->hb, CHIMNEY_TYPE_IP4, c.p->slot));
    env_run_ok(env, OP_UPDATE, rn);
    conn_send_data(env, &c, "four", 4);
    conn_recv_ack_basic(env, &c, chimney_test_peer_mac, f, sizeof(f));
}

/* rule 055: MAX_RT_RESTART resets TotalRT; action flags are not stored. */
static void scn_rule_055(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTcpCached k;
    ChimneyTestHBlk *u;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.total_rt = GUINT32_TO_LE(77);
    c.s.k.max_rt = GUINT32_TO_LE(3000);
    conn_offload(env, &c);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.total_rt), ==, 77);

    /* without the flag TotalRT stays */
    k = c.s.k;
    k.max_rt = GUINT32_TO_LE(4000);
    u = hb_tcp_cached(&env->hb, c.t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.total_rt), ==, 77);
    g_assert_cmpuint(GUINT32_FROM_LE(q.k.max_rt), ==, 4000);

    k.max_rt = GUINT32_TO_LE(5000);
    k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_MAX_RT_RESTART |
                            CHIMNEY_TCP_CACHED_NAGLE);
    u = hb_tcp_cached(&env->hb, c.t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.total_rt), ==, 0);
    g_assert_cmpuint(GUINT32_FROM_LE(q.k.max_rt), ==, 5000);
    /* the action flag reads 0, the stored one stays */
    g_assert_cmphex(GUINT16_FROM_LE(q.k.flags), ==, CHIMNEY_TCP_CACHED_NAGLE);
}

/*
 * rules 056, 058 and decision 4: keepalive.  Setting KEEPALIVE starts the
 * timer (KaTimeoutDelta = KaTimeout), clearing it stops it (-1);
 * KA_RESTART restarts it from zero (probe count 0); MAX_RT_RESTART with a
 * changed keepalive parameter does the same.  Checked within one tick.
 */
static void scn_rule_056_058(ChimneyTestEnv *env)
{
    ChimneyTestConn c[3];
    ChimneyTestTcpState q;
    ChimneyTcpCached k;
    ChimneyTestHBlk *root, *u;
    unsigned i;

    env_clock_mid_tick(env);
    for (i = 0; i < 3; i++) {
        conn_init4(&c[i], 1, 2, 1000 + i, 80);
        c[i].s.k.ka_timeout = GUINT32_TO_LE(1000);
        c[i].s.k.ka_interval = GUINT32_TO_LE(100);
        c[i].s.k.ka_probe_count = 5;
        if (i) {
            c[i].s.k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE);
            c[i].s.d.ka_timeout_delta = GUINT32_TO_LE(300);
            c[i].s.d.ka_probe_count = 2;
        }
    }
    root = conn_tree(env, &c[0]);
    c[1].t = hb_tcp_state(&env->hb, &c[1].s);
    c[2].t = hb_tcp_state(&env->hb, &c[2].s);
    hb_next(c[0].t, c[1].t);
    hb_next(c[1].t, c[2].t);
    env_offload_ok(env, root);
    g_assert_cmphex(env_query_tcp(env, c[1].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 300);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 2);
    g_assert_cmphex(GUINT16_FROM_LE(q.k.flags), ==,
                    CHIMNEY_TCP_CACHED_KEEPALIVE);

    /* rule 058: setting KEEPALIVE starts the timer */
    k = c[0].s.k;
    k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE);
    u = hb_tcp_cached(&env->hb, c[0].t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, c[0].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 1000);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 0);
    /* ... clearing it stops it */
    k.flags = 0;
    u = hb_tcp_cached(&env->hb, c[0].t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(env_query_tcp(env, c[0].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==,
                    CHIMNEY_TIMER_OFF);

    /* an update without action flags leaves a running timer alone */
    k = c[1].s.k;
    u = hb_tcp_cached(&env->hb, c[1].t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(env_query_tcp(env, c[1].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 300);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 2);
    /* rule 056: KA_RESTART restarts it from zero */
    k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE |
                            CHIMNEY_TCP_CACHED_KA_RESTART);
    u = hb_tcp_cached(&env->hb, c[1].t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(env_query_tcp(env, c[1].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 1000);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 0);
    g_assert_cmphex(GUINT16_FROM_LE(q.k.flags), ==,
                    CHIMNEY_TCP_CACHED_KEEPALIVE);

    /* decision 4: MAX_RT_RESTART alone keeps the keepalive state ... */
    k = c[2].s.k;
    k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE |
                            CHIMNEY_TCP_CACHED_MAX_RT_RESTART);
    u = hb_tcp_cached(&env->hb, c[2].t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(env_query_tcp(env, c[2].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 300);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 2);
    /* ... but with a changed keepalive parameter resets it */
    k.ka_interval = GUINT32_TO_LE(150);
    u = hb_tcp_cached(&env->hb, c[2].t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(env_query_tcp(env, c[2].t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 1000);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 0);
    g_assert_cmpuint(GUINT32_FROM_LE(q.k.ka_interval), ==, 150);
}

/*
 * rule 057: UPDATE_RCV_WND with an InitialRcvWnd different from RcvWnd
 * makes the device advertise the new window at once: a window-update ACK
 * (seq = SndNxt, ack = RcvNxt, window = the new window).  The same value
 * again sends nothing.
 */
static void scn_rule_057(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTcpCached k;
    ChimneyTestHBlk *u;
    uint8_t f[256];
    size_t len, l4;
    Mis m;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.k.initial_rcv_wnd = GUINT32_TO_LE(16384);
    c.s.d.rcv_wnd = GUINT32_TO_LE(16384);
    conn_offload(env, &c);
    k = c.s.k;
    k.initial_rcv_wnd = GUINT32_TO_LE(32768);
    k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_UPDATE_RCV_WND);
    u = hb_tcp_cached(&env->hb, c.t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    len = env_wire_recv(env, f, sizeof(f));
    l4 = conn_l4_off(&c);
    g_assert_cmpuint(len, >=, l4 + 20);
    mis_init(&m);
    mis_u(&m, "seq (SndNxt)", chimney_test_ld32(f + l4 + 4), 5000);
    mis_u(&m, "ack (RcvNxt)", chimney_test_ld32(f + l4 + 8), 1000);
    mis_u(&m, "flags", f[l4 + 13], CHIMNEY_TH_ACK);
    mis_u(&m, "window (the new InitialRcvWnd)", chimney_test_ld16(f + l4 + 14),
          32768);
    mis_check(&m, "window update ACK");
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.rcv_wnd), ==, 32768);
    g_assert_cmpuint(GUINT32_FROM_LE(q.k.initial_rcv_wnd), ==, 32768);
    g_assert_cmphex(GUINT16_FROM_LE(q.k.flags), ==, 0);
    /* no change, no advertisement */
    u = hb_tcp_cached(&env->hb, c.t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_true(env->wire_quiet(env));
}

/*
 * rule 059: a failed UPDATE block changes nothing (no cached field) and
 * the connection keeps running: it still ACKs data with the old values.
 */
static void scn_rule_059(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q0, q1;
    ChimneyTestPathState ps;
    ChimneyTcpCached k;
    ChimneyPathCached pk = { .hdr = CHIMNEY_TEST_HDR(ChimneyPathCached) };
    ChimneyTestHBlk *u;
    uint8_t f[256];

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q0), ==, CHIMNEY_ST_SUCCESS);
    k = c.s.k;
    k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_MAX_RCV_WND + 1);
    k.ttl_hop_limit = 1;
    k.tos_traffic_class = 0xfc;
    k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_KEEPALIVE |
                            CHIMNEY_TCP_CACHED_MAX_RT_RESTART);
    u = hb_tcp_cached(&env->hb, c.t->slot, &k);
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&q1, sizeof(q1), &q0, sizeof(q0));
    /* path MTU out of range both ways */
    pk.path_mtu = GUINT32_TO_LE(CHIMNEY_MAX_PATH_MTU + 1);
    u = hb_new(&env->hb, CHIMNEY_TYPE_IP4_CACHED, true, c.p->slot, &pk,
               sizeof(pk));
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_OFFLOAD_PATH_MTU);
    pk.path_mtu = GUINT32_TO_LE(67);
    u = hb_new(&env->hb, CHIMNEY_TYPE_IP4_CACHED, true, c.p->slot, &pk,
               sizeof(pk));
    env_run_ok(env, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(env_query_path(env, false, c.p->slot, &ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(ps.k.path_mtu), ==, 1500);
    /* still running, with the old TTL */
    conn_send_data(env, &c, "still here", 10);
    conn_recv_ack_basic(env, &c, chimney_test_peer_mac, f, sizeof(f));
    g_assert_cmpuint(f[14 + 8], ==, 64);
    g_assert_cmpuint(f[14 + 1], ==, 0);
}

/*
 * rules 060, 061: QUERY fills exactly the structures the type names with
 * the current values: const and cached as stored, HRD/NRD from the
 * device's clocks, the delegated TCP state with SendBacklogSize
 * 0xffffffff (not supported), RcvBacklogSize = bytes buffered, send-list
 * and receive-data fields 0.  A host structure longer than the ABI size
 * keeps its header and its tail; a shorter one is BAD_LENGTH.
 */
static void scn_rule_060_061(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestNeighState ns;
    ChimneyTestPathState ps;
    ChimneyTestHBlk *b;
    uint8_t f[256];
    uint32_t longer[3];
    unsigned i;
    Mis m;

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    c.vlan = 12;
    c.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_WSCALE);
    c.s.c.snd_wind_scale = 3;
    c.s.c.rcv_wind_scale = 4;
    c.s.c.hash_value = GUINT32_TO_LE(0xfeedbeef);
    c.s.k.flow_label = GUINT32_TO_LE(0x12345);
    c.s.k.user_priority = 6;
    c.s.d.dwnd = GUINT32_TO_LE(0x0d0d0d0d);
    c.s.d.flags = GUINT16_TO_LE(0xf00d);
    conn_tree(env, &c);
    {
        ChimneyTestNeighState *nsi = (ChimneyTestNeighState *)c.n->st;

        nsi->k.host_reachability_delta = GUINT32_TO_LE(7);
        nsi->d.nic_reachability_delta = GUINT32_TO_LE(3);
    }
    env_offload_ok(env, c.n);

    /* neighbor: each structure alone and all three */
    g_assert_cmphex(env_query_neigh(env, c.n->slot, &ns), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&ns.c, sizeof(ns.c), c.n->st, sizeof(ns.c));
    g_assert_cmpmem(&ns.k, sizeof(ns.k), c.n->st + sizeof(ns.c),
                    sizeof(ns.k));
    g_assert_cmpuint(GUINT32_FROM_LE(ns.d.nic_reachability_delta), ==, 3);
    g_assert_cmpuint(GUINT32_FROM_LE(ns.d.hdr.length), ==, sizeof(ns.d));
    for (i = 0; i < 3; i++) {
        b = hb_ref(&env->hb, CHIMNEY_TYPE_NEIGH_CONST + i, c.n->slot, 1,
                   &chimney_test_neigh_sizes[i]);
        env_run_ok(env, OP_QUERY, b);
        g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpmem(b->st, chimney_test_neigh_sizes[i],
                        (uint8_t *)&ns + (i == 0 ? 0 : i == 1 ?
                                          sizeof(ns.c) :
                                          sizeof(ns.c) + sizeof(ns.k)),
                        chimney_test_neigh_sizes[i]);
    }
    /* path */
    g_assert_cmphex(env_query_path(env, false, c.p->slot, &ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&ps, sizeof(ps), c.p->st, sizeof(ps));
    for (i = 0; i < 3; i++) {
        b = hb_ref(&env->hb, CHIMNEY_TYPE_IP4_CONST + i, c.p->slot, 1,
                   &chimney_test_path_sizes[i]);
        env_run_ok(env, OP_QUERY, b);
        g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    }
    /* TCP: two bytes arrive first */
    conn_send_data(env, &c, "hi", 2);
    env_wire_recv(env, f, sizeof(f));
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    mis_init(&m);
    mis_mem(&m, "const", &q.c, &c.s.c, sizeof(q.c));
    mis_mem(&m, "cached", &q.k, &c.s.k, sizeof(q.k));
    MIS_LE32(&m, "delegated hdr.length", q.d.hdr.length, sizeof(q.d));
    MIS_LE32(&m, "state", q.d.state, CHIMNEY_TCPS_ESTABLISHED);
    MIS_LE16(&m, "flags", q.d.flags, 0xf00d);
    MIS_LE32(&m, "rcv_nxt", q.d.rcv_nxt, 1002);
    MIS_LE32(&m, "snd_una", q.d.snd_una, 5000);
    MIS_LE32(&m, "cwnd", q.d.cwnd, 14600);
    MIS_LE32(&m, "dwnd", q.d.dwnd, 0x0d0d0d0d);
    /* spec "send_backlog_size": MIN(MAX(cwnd, SndWnd), 16 MiB) */
    MIS_LE32(&m, "send_backlog_size (rule 061)", q.d.send_backlog_size,
             MIN(MAX(GUINT32_FROM_LE(q.d.cwnd), GUINT32_FROM_LE(q.d.snd_wnd)),
                 16u << 20));
    MIS_LE32(&m, "rcv_backlog_size", q.d.rcv_backlog_size, 2);
    mis_u(&m, "send_list_addr", GUINT64_FROM_LE(q.d.send_list_addr), 0);
    MIS_LE32(&m, "send_list_count", q.d.send_list_count, 0);
    MIS_LE32(&m, "send_list_cap", q.d.send_list_cap, 0);
    mis_u(&m, "rcv_data_addr", GUINT64_FROM_LE(q.d.rcv_data_addr), 0);
    MIS_LE32(&m, "rcv_data_len", q.d.rcv_data_len, 0);
    MIS_LE32(&m, "rcv_data_cap", q.d.rcv_data_cap, 0);
    MIS_LE16(&m, "rsvd", q.d.rsvd, 0);
    MIS_LE32(&m, "rsvd2", q.d.rsvd2, 0);
    mis_check(&m, "QUERY of the TCP state");
    /* a type names one structure: only that one is written */
    b = hb_ref(&env->hb, CHIMNEY_TYPE_TCP_CACHED, c.t->slot, 1,
               &chimney_test_tcp_sizes[1]);
    env_run_ok(env, OP_QUERY, b);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(b->st, sizeof(q.k), &c.s.k, sizeof(q.k));
    /* too short for what the type names */
    b = hb_ref(&env->hb, CHIMNEY_TYPE_TCP_DELEGATED, c.t->slot, 1,
               &chimney_test_tcp_sizes[1]);
    env_run_ok(env, OP_QUERY, b);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_BAD_LENGTH);

    /* longer host structures: header and tail stay, values are there */
    for (i = 0; i < 3; i++) {
        longer[i] = chimney_test_tcp_sizes[i] + 8;
    }
    b = hb_ref(&env->hb, CHIMNEY_TYPE_TCP, c.t->slot, 3, longer);
    env_run_ok(env, OP_QUERY, b);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    mis_init(&m);
    {
        uint32_t off = 0;

        for (i = 0; i < 3; i++) {
            const ChimneyStateHdr *h = (const ChimneyStateHdr *)(b->st + off);
            static const uint8_t poison[8] = {
                CHIMNEY_TEST_POISON8, CHIMNEY_TEST_POISON8,
                CHIMNEY_TEST_POISON8, CHIMNEY_TEST_POISON8,
                CHIMNEY_TEST_POISON8, CHIMNEY_TEST_POISON8,
                CHIMNEY_TEST_POISON8, CHIMNEY_TEST_POISON8,
            };
            char what[64];

            snprintf(what, sizeof(what), "structure %u header length", i);
            mis_u(&m, what, GUINT32_FROM_LE(h->length), longer[i]);
            snprintf(what, sizeof(what), "structure %u tail", i);
            mis_mem(&m, what, b->st + off + chimney_test_tcp_sizes[i], poison,
                    8);
            off += longer[i];
        }
        mis_mem(&m, "const values", b->st + 8, (uint8_t *)&c.s.c + 8,
                sizeof(c.s.c) - 8);
        mis_mem(&m, "cached values", b->st + longer[0] + 8,
                (uint8_t *)&c.s.k + 8, sizeof(c.s.k) - 8);
    }
    mis_check(&m, "QUERY into longer structures");
}

/*
 * rule 063: INVALIDATE blocks carry no state (size 64); one with state
 * fails with BAD_LENGTH (a guest error) and invalidates nothing.
 */
static void scn_rule_063(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[1], *inv, *lk, *nt;
    uint32_t errs;

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 1, 1000);
    env_offload_ok(env, n);
    errs = env_err_count(env);
    inv = hb_ref(&env->hb, CHIMNEY_TYPE_IP4, p->slot, 1,
                 &chimney_test_path_sizes[2]);
    env_run_ok(env, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    inv = hb_ref(&env->hb, CHIMNEY_TYPE_TCP, tc[0]->slot, 1,
                 &chimney_test_tcp_sizes[0]);
    env_run_ok(env, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmpuint(env_err_count(env), ==, errs + 2);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 0);
    /* not invalidated: a linker to the path still works */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&env->hb, 1001, 80);
    hb_dep(lk, nt);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
}

/*
 * rule 064: INVALIDATE of a neighbor: one TCP_RETRIEVE(INVALID_STATE)
 * per connection depending on it (and only those), once; from then on
 * nothing is sent on them, not even an ACK for arriving data, which the
 * device no longer processes: it goes up the RX ring as received (spec
 * "INVALIDATE", "Receive steering"), and TERMINATE returns none of it.
 */
static void scn_rule_064(ChimneyTestEnv *env)
{
    ChimneyTestConn a, b, x;
    ChimneyTestHBlk *root, *inv, *term;
    struct chimney_dma_buf out;
    uint8_t f[256], got[2048];
    size_t len, glen;
    unsigned i;
    ChimneyTestSeg s;

    conn_init4(&a, 1, 2, 1000, 80);
    conn_init4(&b, 1, 2, 1001, 80);
    conn_init4(&x, 1, 3, 1000, 80);
    memcpy(x.nmac, chimney_test_peer2_mac, 6);
    root = conn_tree(env, &a);
    b.n = a.n;
    b.p = a.p;
    b.t = hb_tcp_state(&env->hb, &b.s);
    hb_next(a.t, b.t);
    hb_next(root, conn_tree(env, &x));
    env_offload_ok(env, root);

    inv = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, a.n->slot);
    env_run_ok(env, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_SUCCESS);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 2);
    for (i = 0; i < env->recs->len; i++) {
        ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec, i);

        g_assert_cmpint(r->kind, ==, 'T');
        g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_TCP_RETRIEVE);
        g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_INVALID_STATE);
        g_assert_true((r->cookie == a.t->b.ndis_offload_handle &&
                       r->handle == a.t->slot) ||
                      (r->cookie == b.t->b.ndis_offload_handle &&
                       r->handle == b.t->slot));
    }
    g_assert_cmphex(g_array_index(env->recs, ChimneyTestRec, 0).cookie, !=,
                    g_array_index(env->recs, ChimneyTestRec, 1).cookie);

    /* data on an affected connection: up the RX ring, not ACKed */
    conn_peer_seg(env, &a, &s, "quiet", 5);
    len = seg_build(&s, f);
    env->wire_inject(env, f, len);
    glen = env->l2_take(env, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    g_assert_true(env->wire_quiet(env));
    /* the unaffected connection still answers */
    conn_send_data(env, &x, "loud", 4);
    conn_recv_ack_basic(env, &x, chimney_test_peer2_mac, f, sizeof(f));

    /* invalidating again (and the path too): no new requests */
    inv = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, a.n->slot);
    hb_dep(inv, hb_obj(&env->hb, CHIMNEY_TYPE_IP4, a.p->slot));
    env_run_ok(env, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_SUCCESS);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE),
                     ==, 2);

    /* the device took none of it */
    g_assert_cmpint(env_dma_alloc(env, 64, &out), ==, 0);
    term = hb_term_tcp(&env->hb, a.t->slot, NULL, 0, &out, 64);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len), ==, 0);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_nxt), ==, 1000);
    env_dma_free(env, &out);
}

/*
 * rule 065: invalidated objects stay allocated until the host terminates
 * them, and terminate normally (with their delegated state).
 */
static void scn_rule_065(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[2], *inv, *rn, *rp, *rt0, *rt1;
    ChimneyTestTcpState q;

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 2, 1000);
    env_offload_ok(env, n);
    inv = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    env_run_ok(env, OP_INVALIDATE, inv);
    env->clock_step(env, 1000 * CHIMNEY_TEST_NS_PER_MS);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 2);
    g_assert_cmphex(env_query_tcp(env, tc[0]->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_path(env, false, p->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    /* ... but not updated, nor linked to (INVALID_STATE) */
    rn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    hb_dep(rn, rp);
    env_run_ok(env, OP_UPDATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_INVALID_STATE);
    rt0 = hb_tcp_cached(&env->hb, tc[0]->slot,
                        &((ChimneyTestTcpState *)tc[0]->st)->k);
    env_run_ok(env, OP_UPDATE, rt0);
    g_assert_cmphex(rt0->b.status, ==, CHIMNEY_ST_INVALID_STATE);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    rt0 = hb_tcp(&env->hb, 1002, 80);
    hb_dep(rp, rt0);
    env_run_ok(env, OP_INITIATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_INVALID_STATE);
    g_assert_cmphex(rt0->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(rt0->slot, ==, 0);
    rn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    rt0 = hb_term_tcp(&env->hb, tc[0]->slot, NULL, 0, NULL, 0);
    rt1 = hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[1]->slot);
    hb_dep(rn, rp);
    hb_dep(rp, rt0);
    hb_next(rt0, rt1);
    env_run_ok(env, OP_TERMINATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt0->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt1->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(rt0)->rcv_nxt), ==, 1000);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(rt0)->state), ==,
                     CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmphex(env_query_tcp(env, tc[0]->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    /* no further upload request for them once uploaded */
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'T', 0), ==, 2);
}

/* rule 062: two QUERY commands for one object in flight at once. */
static void scn_rule_062(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestHBlk *q1, *q2, *qp;
    ChimneyTestDone d1 = { .env = env };
    ChimneyTestDone d2 = { .env = env };

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    q1 = hb_query_tcp(&env->hb, c.t->slot);
    q2 = hb_query_tcp(&env->hb, c.t->slot);
    qp = hb_query_path(&env->hb, false, c.p->slot);
    hb_dep(qp, q2);
    g_assert_cmpint(OP_QUERY(env->drv, &q1->b, env_tree_done, &d1), ==, 0);
    g_assert_cmpint(OP_QUERY(env->drv, &qp->b, env_tree_done, &d2), ==, 0);
    env_wait(env, &d1.calls, 1);
    g_assert_cmpuint(d1.calls, ==, 1);
    env_wait(env, &d2.calls, 1);
    g_assert_cmpuint(d2.calls, ==, 1);
    g_assert_cmphex(d1.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(d2.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q1->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q2->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(q1->st, sizeof(ChimneyTestTcpState), q2->st,
                    sizeof(ChimneyTestTcpState));
    g_assert_cmpmem(q1->st, sizeof(ChimneyTcpConst), &c.s.c,
                    sizeof(ChimneyTcpConst));
}

const ChimneyScenario chimney_scenarios_update[] = {
    { "rule-053-cached-only-update", scn_rule_053 },
    { "rule-054-relink-on-the-wire", scn_rule_054 },
    { "rule-055-max-rt-restart", scn_rule_055 },
    { "rule-056-058-keepalive", scn_rule_056_058 },
    { "rule-057-rcv-wnd-update-on-the-wire", scn_rule_057 },
    { "rule-059-failed-update-keeps-running", scn_rule_059 },
    { "rule-060-061-query", scn_rule_060_061 },
    { "rule-062-overlapping-queries", scn_rule_062 },
    { "rule-063-invalidate-with-state", scn_rule_063 },
    { "rule-064-invalidate-retrieve-no-ack", scn_rule_064 },
    { "rule-065-invalidated-terminate", scn_rule_065 },
    { NULL, NULL },
};
