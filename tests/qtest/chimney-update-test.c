/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, UPDATE, QUERY and INVALIDATE: cached-only updates
 * and what they change on the wire, relinking, keepalive, queries,
 * invalidation (rules 053-065).
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

/*
 * rule 053: UPDATE copies the cached variables only (const and delegated
 * state stay), at every layer; rules 081, 082: the next segment uses the
 * new neighbor MAC, TTL and TOS.
 */
static void test_rule_053(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    TcpState q0, q1;
    NeighState n1;
    PathState p1;
    ChimneyNeighCached nk;
    ChimneyPathCached pk;
    ChimneyTcpCached tk;
    HBlk *un, *up, *ut;
    uint8_t f[256];
    size_t l3 = 14;

    rx_setup(t);
    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q0), ==, CHIMNEY_ST_SUCCESS);

    memset(&nk, 0, sizeof(nk));
    nk.hdr.length = cpu_to_le32(sizeof(nk));
    memcpy(nk.dl_dst_addr, peer2_mac, 6);
    nk.host_reachability_delta = cpu_to_le32(5);
    memset(&pk, 0, sizeof(pk));
    pk.hdr.length = cpu_to_le32(sizeof(pk));
    pk.path_mtu = cpu_to_le32(1400);
    memset(&tk, 0, sizeof(tk));
    tk.hdr.length = cpu_to_le32(sizeof(tk));
    tk.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_NAGLE);
    tk.initial_rcv_wnd = cpu_to_le32(60000);
    tk.rcv_indication_size = cpu_to_le32(4096);
    tk.ka_timeout = cpu_to_le32(7200000);
    tk.ka_interval = cpu_to_le32(1000);
    tk.max_rt = cpu_to_le32(12345);
    tk.flow_label = cpu_to_le32(0x54321);
    tk.ka_probe_count = 9;
    tk.ttl_hop_limit = 33;
    tk.tos_traffic_class = 0x48;
    tk.user_priority = 0;
    un = hb_new(&t->env->hb, CHIMNEY_TYPE_NEIGH_CACHED, true, c.n->slot, &nk,
                sizeof(nk));
    up = hb_new(&t->env->hb, CHIMNEY_TYPE_IP4_CACHED, true, c.p->slot, &pk, sizeof(pk));
    ut = hb_new(&t->env->hb, CHIMNEY_TYPE_TCP_CACHED, true, c.t->slot, &tk, sizeof(tk));
    hb_dep(un, up);
    hb_dep(up, ut);
    run_ok(t, OP_UPDATE, un);
    g_assert_cmphex(un->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(up->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ut->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* update input is not copied back */
    g_assert_cmpmem(ut->st, sizeof(tk), &tk, sizeof(tk));

    g_assert_cmphex(query_tcp(t, c.t->slot, &q1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&q1.c, sizeof(q1.c), &q0.c, sizeof(q0.c));
    g_assert_cmpmem(&q1.k, sizeof(q1.k), &tk, sizeof(tk));
    g_assert_cmpmem(&q1.d, sizeof(q1.d), &q0.d, sizeof(q0.d));
    g_assert_cmphex(query_neigh(t, c.n->slot, &n1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(n1.k.dl_dst_addr, 6, peer2_mac, 6);
    g_assert_cmpuint(le32_to_cpu(n1.k.host_reachability_delta), ==, 5);
    g_assert_cmpuint(le16_to_cpu(n1.c.vlan_id), ==, 0);
    g_assert_cmphex(query_path(t, false, c.p->slot, &p1), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(p1.k.path_mtu), ==, 1400);
    g_assert_cmpmem(p1.c.dst_addr, 4, c.rip, 4);

    /* the next ACK: new MAC, TTL, TOS */
    conn_send_data(t->env, &c, "after update", 12);
    memcpy(c.nmac, peer2_mac, 6);
    c.s.k = tk;
    conn_recv_ack_basic(t->env, &c, peer2_mac, f, sizeof(f));
    g_assert_cmphex(f[l3 + 1], ==, 0x48);
    g_assert_cmpuint(f[l3 + 8], ==, 33);
    t_end(t);
}

/*
 * rule 054: an UPDATE tree rooted at a neighbor relinks the paths under
 * it; the proof is on the wire: the ACK for the next in-order segment
 * goes to the new neighbor's MAC.  Paths under a placeholder or in the
 * root chain are not relinked.
 */
static void test_rule_054(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    HBlk *n2, *rn, *rp, *ph;
    uint8_t f[256];

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    n2 = hb_neigh(&t->env->hb, peer2_mac, 0);
    offload_ok(t, n2);
    conn_send_data(t->env, &c, "one", 3);
    conn_recv_ack_basic(t->env, &c, peer_mac, f, sizeof(f));

    rn = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, n2->slot);
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, c.p->slot);
    hb_dep(rn, rp);
    run_ok(t, OP_UPDATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(t->env, &c, "two", 3);
    conn_recv_ack_basic(t->env, &c, peer2_mac, f, sizeof(f));

    /* the old neighbor has no path left; the new one has */
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_NEIGH, n2->slot), ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_NEIGH, c.n->slot), ==,
                    CHIMNEY_ST_SUCCESS);

    /* not relinked under a placeholder, nor in the root chain */
    c.n = hb_neigh(&t->env->hb, peer_mac, 0);
    offload_ok(t, c.n);
    ph = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_NEIGH);
    hb_dep(ph, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, c.p->slot));
    run_ok(t, OP_UPDATE, ph);
    g_assert_cmphex(ph->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_SUCCESS);
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, c.p->slot);
    run_ok(t, OP_UPDATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(t->env, &c, "three", 5);
    conn_recv_ack_basic(t->env, &c, peer2_mac, f, sizeof(f));
    /* back to the first MAC through a neighbor-rooted tree */
    rn = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, c.n->slot);
    hb_dep(rn, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, c.p->slot));
    run_ok(t, OP_UPDATE, rn);
    conn_send_data(t->env, &c, "four", 4);
    conn_recv_ack_basic(t->env, &c, peer_mac, f, sizeof(f));
    t_end(t);
}

/* rule 055: MAX_RT_RESTART resets TotalRT; action flags are not stored. */
static void test_rule_055(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    TcpState q;
    ChimneyTcpCached k;
    HBlk *u;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.total_rt = cpu_to_le32(77);
    c.s.k.max_rt = cpu_to_le32(3000);
    conn_offload(t->env, &c);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.total_rt), ==, 77);

    /* without the flag TotalRT stays */
    k = c.s.k;
    k.max_rt = cpu_to_le32(4000);
    u = hb_tcp_cached(t, c.t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.total_rt), ==, 77);
    g_assert_cmpuint(le32_to_cpu(q.k.max_rt), ==, 4000);

    k.max_rt = cpu_to_le32(5000);
    k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_MAX_RT_RESTART |
                          CHIMNEY_TCP_CACHED_NAGLE);
    u = hb_tcp_cached(t, c.t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.total_rt), ==, 0);
    g_assert_cmpuint(le32_to_cpu(q.k.max_rt), ==, 5000);
    /* the action flag reads 0, the stored one stays */
    g_assert_cmphex(le16_to_cpu(q.k.flags), ==, CHIMNEY_TCP_CACHED_NAGLE);
    t_end(t);
}

/*
 * rules 056, 058 and decision 4: keepalive.  Setting KEEPALIVE starts the
 * timer (KaTimeoutDelta = KaTimeout), clearing it stops it (-1);
 * KA_RESTART restarts it from zero (probe count 0); MAX_RT_RESTART with a
 * changed keepalive parameter does the same.  Checked within one tick.
 */
static void test_rule_056_058(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c[3];
    TcpState q;
    ChimneyTcpCached k;
    HBlk *root, *u;
    unsigned i;

    clock_mid_tick(t);
    for (i = 0; i < 3; i++) {
        conn_init4(&c[i], 1, 2, 1000 + i, 80);
        c[i].s.k.ka_timeout = cpu_to_le32(1000);
        c[i].s.k.ka_interval = cpu_to_le32(100);
        c[i].s.k.ka_probe_count = 5;
        if (i) {
            c[i].s.k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_KEEPALIVE);
            c[i].s.d.ka_timeout_delta = cpu_to_le32(300);
            c[i].s.d.ka_probe_count = 2;
        }
    }
    root = conn_tree(t->env, &c[0]);
    c[1].t = hb_tcp_state(&t->env->hb, &c[1].s);
    c[2].t = hb_tcp_state(&t->env->hb, &c[2].s);
    hb_next(c[0].t, c[1].t);
    hb_next(c[1].t, c[2].t);
    offload_ok(t, root);
    g_assert_cmphex(query_tcp(t, c[1].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ka_timeout_delta), ==, 300);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 2);
    g_assert_cmphex(le16_to_cpu(q.k.flags), ==, CHIMNEY_TCP_CACHED_KEEPALIVE);

    /* rule 058: setting KEEPALIVE starts the timer */
    k = c[0].s.k;
    k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_KEEPALIVE);
    u = hb_tcp_cached(t, c[0].t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_tcp(t, c[0].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ka_timeout_delta), ==, 1000);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 0);
    /* ... clearing it stops it */
    k.flags = 0;
    u = hb_tcp_cached(t, c[0].t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(query_tcp(t, c[0].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(le32_to_cpu(q.d.ka_timeout_delta), ==, CHIMNEY_TIMER_OFF);

    /* an update without action flags leaves a running timer alone */
    k = c[1].s.k;
    u = hb_tcp_cached(t, c[1].t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(query_tcp(t, c[1].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ka_timeout_delta), ==, 300);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 2);
    /* rule 056: KA_RESTART restarts it from zero */
    k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_KEEPALIVE |
                          CHIMNEY_TCP_CACHED_KA_RESTART);
    u = hb_tcp_cached(t, c[1].t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(query_tcp(t, c[1].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ka_timeout_delta), ==, 1000);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 0);
    g_assert_cmphex(le16_to_cpu(q.k.flags), ==, CHIMNEY_TCP_CACHED_KEEPALIVE);

    /* decision 4: MAX_RT_RESTART alone keeps the keepalive state ... */
    k = c[2].s.k;
    k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_KEEPALIVE |
                          CHIMNEY_TCP_CACHED_MAX_RT_RESTART);
    u = hb_tcp_cached(t, c[2].t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(query_tcp(t, c[2].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ka_timeout_delta), ==, 300);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 2);
    /* ... but with a changed keepalive parameter resets it */
    k.ka_interval = cpu_to_le32(150);
    u = hb_tcp_cached(t, c[2].t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(query_tcp(t, c[2].t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.ka_timeout_delta), ==, 1000);
    g_assert_cmpuint(q.d.ka_probe_count, ==, 0);
    g_assert_cmpuint(le32_to_cpu(q.k.ka_interval), ==, 150);
    t_end(t);
}

/*
 * rule 057: UPDATE_RCV_WND with an InitialRcvWnd different from RcvWnd
 * makes the device advertise the new window at once: a window-update ACK
 * (seq = SndNxt, ack = RcvNxt, window = the new window).  The same value
 * again sends nothing.
 */
static void test_rule_057(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    TcpState q;
    ChimneyTcpCached k;
    HBlk *u;
    uint8_t f[256];
    size_t len, l4;
    Mis m;

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.k.initial_rcv_wnd = cpu_to_le32(16384);
    c.s.d.rcv_wnd = cpu_to_le32(16384);
    conn_offload(t->env, &c);
    k = c.s.k;
    k.initial_rcv_wnd = cpu_to_le32(32768);
    k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_UPDATE_RCV_WND);
    u = hb_tcp_cached(t, c.t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_SUCCESS);
    len = wire_recv(t, f, sizeof(f));
    l4 = conn_l4_off(&c);
    g_assert_cmpuint(len, >=, l4 + 20);
    mis_init(&m);
    mis_u(&m, "seq (SndNxt)", ldl_be_p(f + l4 + 4), 5000);
    mis_u(&m, "ack (RcvNxt)", ldl_be_p(f + l4 + 8), 1000);
    mis_u(&m, "flags", f[l4 + 13], TH_ACK);
    mis_u(&m, "window (the new InitialRcvWnd)", lduw_be_p(f + l4 + 14),
          32768);
    mis_check(&m, "window update ACK");
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.rcv_wnd), ==, 32768);
    g_assert_cmpuint(le32_to_cpu(q.k.initial_rcv_wnd), ==, 32768);
    g_assert_cmphex(le16_to_cpu(q.k.flags), ==, 0);
    /* no change, no advertisement */
    u = hb_tcp_cached(t, c.t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    wire_sync(t);
    wire_expect_nothing(t);
    t_end(t);
}

/*
 * rule 059: a failed UPDATE block changes nothing (no cached field) and
 * the connection keeps running: it still ACKs data with the old values.
 */
static void test_rule_059(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    TcpState q0, q1;
    PathState ps;
    ChimneyTcpCached k;
    ChimneyPathCached pk = { .hdr = HDR(ChimneyPathCached) };
    HBlk *u;
    uint8_t f[256];

    rx_setup(t);
    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q0), ==, CHIMNEY_ST_SUCCESS);
    k = c.s.k;
    k.initial_rcv_wnd = cpu_to_le32(CHIMNEY_MAX_RCV_WND + 1);
    k.ttl_hop_limit = 1;
    k.tos_traffic_class = 0xfc;
    k.flags = cpu_to_le16(CHIMNEY_TCP_CACHED_KEEPALIVE |
                          CHIMNEY_TCP_CACHED_MAX_RT_RESTART);
    u = hb_tcp_cached(t, c.t->slot, &k);
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&q1, sizeof(q1), &q0, sizeof(q0));
    /* path MTU out of range both ways */
    pk.path_mtu = cpu_to_le32(CHIMNEY_MAX_PATH_MTU + 1);
    u = hb_new(&t->env->hb, CHIMNEY_TYPE_IP4_CACHED, true, c.p->slot, &pk, sizeof(pk));
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_OFFLOAD_PATH_MTU);
    pk.path_mtu = cpu_to_le32(67);
    u = hb_new(&t->env->hb, CHIMNEY_TYPE_IP4_CACHED, true, c.p->slot, &pk, sizeof(pk));
    run_ok(t, OP_UPDATE, u);
    g_assert_cmphex(u->b.status, ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(query_path(t, false, c.p->slot, &ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(ps.k.path_mtu), ==, 1500);
    /* still running, with the old TTL */
    conn_send_data(t->env, &c, "still here", 10);
    conn_recv_ack_basic(t->env, &c, peer_mac, f, sizeof(f));
    g_assert_cmpuint(f[14 + 8], ==, 64);
    g_assert_cmpuint(f[14 + 1], ==, 0);
    t_end(t);
}

/*
 * rules 060, 061: QUERY fills exactly the structures the type names with
 * the current values: const and cached as stored, HRD/NRD from the
 * device's clocks, the delegated TCP state with SendBacklogSize
 * 0xffffffff (not supported), RcvBacklogSize = bytes buffered, send-list
 * and receive-data fields 0.  A host structure longer than the ABI size
 * keeps its header and its tail; a shorter one is BAD_LENGTH.
 */
static void test_rule_060_061(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    TcpState q;
    NeighState ns;
    PathState ps;
    HBlk *b;
    uint8_t f[256];
    uint32_t longer[3];
    unsigned i;
    Mis m;

    rx_setup(t);
    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    c.vlan = 12;
    c.s.c.flags = cpu_to_le16(CHIMNEY_TCP_CONST_WSCALE);
    c.s.c.snd_wind_scale = 3;
    c.s.c.rcv_wind_scale = 4;
    c.s.c.hash_value = cpu_to_le32(0xfeedbeef);
    c.s.k.flow_label = cpu_to_le32(0x12345);
    c.s.k.user_priority = 6;
    c.s.d.dwnd = cpu_to_le32(0x0d0d0d0d);
    c.s.d.flags = cpu_to_le16(0xf00d);
    conn_tree(t->env, &c);
    {
        NeighState *nsi = (NeighState *)c.n->st;

        nsi->k.host_reachability_delta = cpu_to_le32(7);
        nsi->d.nic_reachability_delta = cpu_to_le32(3);
    }
    offload_ok(t, c.n);

    /* neighbor: each structure alone and all three */
    g_assert_cmphex(query_neigh(t, c.n->slot, &ns), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&ns.c, sizeof(ns.c), c.n->st, sizeof(ns.c));
    g_assert_cmpmem(&ns.k, sizeof(ns.k), c.n->st + sizeof(ns.c),
                    sizeof(ns.k));
    g_assert_cmpuint(le32_to_cpu(ns.d.nic_reachability_delta), ==, 3);
    g_assert_cmpuint(le32_to_cpu(ns.d.hdr.length), ==, sizeof(ns.d));
    for (i = 0; i < 3; i++) {
        b = hb_ref(&t->env->hb, CHIMNEY_TYPE_NEIGH_CONST + i, c.n->slot, 1,
                   &neigh_sizes[i]);
        run_ok(t, OP_QUERY, b);
        g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpmem(b->st, neigh_sizes[i],
                        (uint8_t *)&ns + (i == 0 ? 0 : i == 1 ?
                                          sizeof(ns.c) :
                                          sizeof(ns.c) + sizeof(ns.k)),
                        neigh_sizes[i]);
    }
    /* path */
    g_assert_cmphex(query_path(t, false, c.p->slot, &ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&ps, sizeof(ps), c.p->st, sizeof(ps));
    for (i = 0; i < 3; i++) {
        b = hb_ref(&t->env->hb, CHIMNEY_TYPE_IP4_CONST + i, c.p->slot, 1,
                   &path_sizes[i]);
        run_ok(t, OP_QUERY, b);
        g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    }
    /* TCP: two bytes arrive first */
    conn_send_data(t->env, &c, "hi", 2);
    wire_recv(t, f, sizeof(f));
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
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
             MIN(MAX(le32_to_cpu(q.d.cwnd), le32_to_cpu(q.d.snd_wnd)),
                 16u << 20));
    MIS_LE32(&m, "rcv_backlog_size", q.d.rcv_backlog_size, 2);
    mis_u(&m, "send_list_addr", le64_to_cpu(q.d.send_list_addr), 0);
    MIS_LE32(&m, "send_list_count", q.d.send_list_count, 0);
    MIS_LE32(&m, "send_list_cap", q.d.send_list_cap, 0);
    mis_u(&m, "rcv_data_addr", le64_to_cpu(q.d.rcv_data_addr), 0);
    MIS_LE32(&m, "rcv_data_len", q.d.rcv_data_len, 0);
    MIS_LE32(&m, "rcv_data_cap", q.d.rcv_data_cap, 0);
    MIS_LE16(&m, "rsvd", q.d.rsvd, 0);
    MIS_LE32(&m, "rsvd2", q.d.rsvd2, 0);
    mis_check(&m, "QUERY of the TCP state");
    /* a type names one structure: only that one is written */
    b = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP_CACHED, c.t->slot, 1, &tcp_sizes[1]);
    run_ok(t, OP_QUERY, b);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(b->st, sizeof(q.k), &c.s.k, sizeof(q.k));
    /* too short for what the type names */
    b = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP_DELEGATED, c.t->slot, 1, &tcp_sizes[1]);
    run_ok(t, OP_QUERY, b);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_BAD_LENGTH);

    /* longer host structures: header and tail stay, values are there */
    for (i = 0; i < 3; i++) {
        longer[i] = tcp_sizes[i] + 8;
    }
    b = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP, c.t->slot, 3, longer);
    run_ok(t, OP_QUERY, b);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    mis_init(&m);
    {
        uint32_t off = 0;

        for (i = 0; i < 3; i++) {
            const ChimneyStateHdr *h = (const ChimneyStateHdr *)(b->st + off);
            static const uint8_t poison[8] = {
                POISON8, POISON8, POISON8, POISON8,
                POISON8, POISON8, POISON8, POISON8,
            };
            char what[64];

            snprintf(what, sizeof(what), "structure %u header length", i);
            mis_u(&m, what, le32_to_cpu(h->length), longer[i]);
            snprintf(what, sizeof(what), "structure %u tail", i);
            mis_mem(&m, what, b->st + off + tcp_sizes[i], poison, 8);
            off += longer[i];
        }
        mis_mem(&m, "const values", b->st + 8, (uint8_t *)&c.s.c + 8,
                sizeof(c.s.c) - 8);
        mis_mem(&m, "cached values", b->st + longer[0] + 8,
                (uint8_t *)&c.s.k + 8, sizeof(c.s.k) - 8);
    }
    mis_check(&m, "QUERY into longer structures");
    t_end(t);
}

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
 * rule 063: INVALIDATE blocks carry no state (size 64); one with state
 * fails with BAD_LENGTH (a guest error) and invalidates nothing.
 */
static void test_rule_063(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    HBlk *n, *p, *tc[1], *inv, *lk, *nt;
    uint32_t errs;

    n = build_npt(t, &p, tc, 1, 1000);
    offload_ok(t, n);
    errs = err_count(t);
    inv = hb_ref(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot, 1, &path_sizes[2]);
    run_ok(t, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    inv = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP, tc[0]->slot, 1, &tcp_sizes[0]);
    run_ok(t, OP_INVALIDATE, inv);
    g_assert_cmphex(inv->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmpuint(err_count(t), ==, errs + 2);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 0);
    /* not invalidated: a linker to the path still works */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&t->env->hb, 1001, 80);
    hb_dep(lk, nt);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
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
    term = hb_term_tcp(t, a.t->slot, NULL, 0, &out, 64);
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
    rt0 = hb_tcp_cached(t, tc[0]->slot, &((TcpState *)tc[0]->st)->k);
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
    rt0 = hb_term_tcp(t, tc[0]->slot, NULL, 0, NULL, 0);
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
        { "rule-053-cached-only-update", test_rule_053 },
        { "rule-054-relink-on-the-wire", test_rule_054 },
        { "rule-055-max-rt-restart", test_rule_055 },
        { "rule-056-058-keepalive", test_rule_056_058 },
        { "rule-057-rcv-wnd-update-on-the-wire", test_rule_057 },
        { "rule-059-failed-update-keeps-running", test_rule_059 },
        { "rule-060-061-query", test_rule_060_061 },
        { "rule-062-overlapping-queries", test_rule_062 },
        { "rule-063-invalidate-with-state", test_rule_063 },
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
