/*
 * chimney-nic test scenarios, spec chapter "State operations", TERMINATE:
 * delegated state, send list and data returned, stale handles, frames
 * after an upload.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/*
 * rules 038, 044 (spec TERMINATE step 3): without a delegated structure
 * the device keeps nothing: send requests not yet completed complete with
 * SEND_DONE(UPLOAD_IN_PROGRESS), before the TERMINATE completes.
 */
static void scn_rule_038(ChimneyTestEnv *env)
{
    struct chimney_dma_buf dat, sl;
    ChimneySendBuf list[2];
    ChimneyTestConn c;
    unsigned i, n = 0;

    env_fill_buf(env, &dat, 100, 3);
    memset(list, 0, sizeof(list));
    for (i = 0; i < 2; i++) {
        list[i].addr = GUINT64_TO_LE(dat.dma + 50 * i);
        list[i].len = GUINT32_TO_LE(50);
        list[i].cookie = GUINT64_TO_LE(0x5e4d0000 + i);
    }
    g_assert_cmpint(env_dma_alloc(env, sizeof(list), &sl), ==, 0);
    env_dma_write(env, &sl, 0, list, sizeof(list));
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.snd_max = GUINT32_TO_LE(5100);
    c.s.d.send_list_addr = GUINT64_TO_LE(sl.dma);
    c.s.d.send_list_count = GUINT32_TO_LE(2);
    conn_offload(env, &c);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    /* the callbacks ran in event order: I/O completions came first */
    for (i = 0; i < env->recs->len; i++) {
        ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec, i);

        if (r->kind == 'I' && r->type == CHIMNEY_EVT_SEND_DONE &&
            r->cookie == 0x5e4d0000 + n) {
            g_assert_cmphex(r->a, ==, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
            g_assert_cmphex(r->handle, ==, c.t->slot);
            n++;
        }
    }
    if (n != 2) {
        env_soft_fail(env,
                      "TERMINATE without a delegated structure: %u of 2 send "
                  "requests completed with SEND_DONE(UPLOAD_IN_PROGRESS) "
                  "(%u events in all)", n, env->recs->len);
    }
    env_dma_free(env, &sl);
    env_dma_free(env, &dat);
}

/*
 * rules 041, 042: TERMINATE fills the delegated structure with the
 * current values: every field as handed over where nothing happened,
 * TsTime and TsRecentAge advanced by the ticks that passed, stopped
 * timers -1, the backlog sizes and reserved words 0; it leaves the
 * header and the "T in" fields alone.
 */
static void scn_rule_041_042(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTcpDelegated *d, *o;
    ChimneyTestHBlk *term;
    Mis m;

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    d = &c.s.d;
    d->state = GUINT32_TO_LE(CHIMNEY_TCPS_CLOSE_WAIT);
    d->flags = GUINT16_TO_LE(0x1234);
    d->rsvd = GUINT16_TO_LE(0x9999);
    d->rcv_nxt = GUINT32_TO_LE(0x11111111);
    d->rcv_wnd = GUINT32_TO_LE(40000);
    d->snd_una = GUINT32_TO_LE(0x22222222);
    d->snd_nxt = GUINT32_TO_LE(0x22222222);
    d->snd_max = GUINT32_TO_LE(0x22222222);
    d->snd_wnd = GUINT32_TO_LE(30000);
    d->max_snd_wnd = GUINT32_TO_LE(50000);
    d->snd_wl1 = GUINT32_TO_LE(0x1111110f);
    d->cwnd = GUINT32_TO_LE(7300);
    d->ssthresh = GUINT32_TO_LE(20000);
    d->srtt = GUINT16_TO_LE(0x123);
    d->rttvar = GUINT16_TO_LE(0x45);
    d->ts_recent = GUINT32_TO_LE(0xabcdef01);
    d->ts_recent_age = GUINT32_TO_LE(7);
    d->ts_time = GUINT32_TO_LE(0x00c0ffee);
    d->total_rt = GUINT32_TO_LE(9);
    d->dup_ack_count = 1;
    d->snd_wnd_probe_count = 2;
    d->ka_probe_count = 3;
    d->rexmit_count = 4;
    d->send_backlog_size = GUINT32_TO_LE(0x5555);
    d->rcv_backlog_size = GUINT32_TO_LE(0x6666);
    d->dwnd = GUINT32_TO_LE(0x77777777);
    d->rsvd2 = GUINT32_TO_LE(0x8888);
    conn_offload(env, &c);
    env->clock_step(env, 123 * CHIMNEY_TEST_NS_PER_MS);
    term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, NULL, 0);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    o = hb_delegated(term);
    mis_init(&m);
    MIS_LE32(&m, "hdr.length", o->hdr.length, sizeof(*o));
    MIS_LE32(&m, "hdr.recognized_options", o->hdr.recognized_options, 0);
    MIS_LE32(&m, "state", o->state, CHIMNEY_TCPS_CLOSE_WAIT);
    MIS_LE16(&m, "flags", o->flags, 0x1234);
    MIS_LE16(&m, "rsvd", o->rsvd, 0);
    MIS_LE32(&m, "rcv_nxt", o->rcv_nxt, 0x11111111);
    MIS_LE32(&m, "rcv_wnd", o->rcv_wnd, 40000);
    MIS_LE32(&m, "snd_una", o->snd_una, 0x22222222);
    MIS_LE32(&m, "snd_nxt", o->snd_nxt, 0x22222222);
    MIS_LE32(&m, "snd_max", o->snd_max, 0x22222222);
    MIS_LE32(&m, "snd_wnd", o->snd_wnd, 30000);
    MIS_LE32(&m, "max_snd_wnd", o->max_snd_wnd, 50000);
    MIS_LE32(&m, "snd_wl1", o->snd_wl1, 0x1111110f);
    MIS_LE32(&m, "cwnd", o->cwnd, 7300);
    MIS_LE32(&m, "ssthresh", o->ssthresh, 20000);
    MIS_LE16(&m, "srtt", o->srtt, 0x123);
    MIS_LE16(&m, "rttvar", o->rttvar, 0x45);
    MIS_LE32(&m, "ts_recent", o->ts_recent, 0xabcdef01);
    MIS_LE32(&m, "ts_time (TsTime + 123 ticks)", o->ts_time, 0x00c0ffee + 123);
    MIS_LE32(&m, "total_rt", o->total_rt, 9);
    mis_u(&m, "dup_ack_count", o->dup_ack_count, 1);
    mis_u(&m, "snd_wnd_probe_count", o->snd_wnd_probe_count, 2);
    mis_u(&m, "ka_probe_count", o->ka_probe_count, 3);
    mis_u(&m, "rexmit_count", o->rexmit_count, 4);
    MIS_LE32(&m, "ka_timeout_delta", o->ka_timeout_delta, CHIMNEY_TIMER_OFF);
    MIS_LE32(&m, "rexmit_timeout_delta", o->rexmit_timeout_delta,
             CHIMNEY_TIMER_OFF);
    MIS_LE32(&m, "send_backlog_size", o->send_backlog_size, 0);
    MIS_LE32(&m, "rcv_backlog_size", o->rcv_backlog_size, 0);
    MIS_LE32(&m, "dwnd", o->dwnd, 0x77777777);
    MIS_LE32(&m, "rsvd2", o->rsvd2, 0);
    mis_u(&m, "send_list_addr (T in)", GUINT64_FROM_LE(o->send_list_addr), 0);
    MIS_LE32(&m, "send_list_count", o->send_list_count, 0);
    MIS_LE32(&m, "send_list_cap (T in)", o->send_list_cap, 0);
    mis_u(&m, "rcv_data_addr (T in)", GUINT64_FROM_LE(o->rcv_data_addr), 0);
    MIS_LE32(&m, "rcv_data_len", o->rcv_data_len, 0);
    MIS_LE32(&m, "rcv_data_cap (T in)", o->rcv_data_cap, 0);
    /* ticks since TsRecent was received: handed over 7, 123 passed */
    MIS_LE32(&m, "ts_recent_age (7 + 123 ticks)", o->ts_recent_age, 130);
    mis_check(&m, "TERMINATE delegated state");
}

/*
 * rules 043-045: the send list comes back (original requests, original
 * order, SndUna/SndNxt/SndMax consistent); with no send data the count
 * is 0 and the list space untouched; buffered data comes back, followed
 * by what arrived since, and nothing past it is written.  Too little
 * return space fails the block and leaves the connection offloaded.
 */
static void scn_rule_043_045(ChimneyTestEnv *env)
{
    struct chimney_dma_buf dat[3], sl, ret, rdi, rdo;
    ChimneySendBuf list[3], back[4];
    static const uint32_t lens[3] = { 100, 50, 70 };
    g_autofree uint8_t *hand = NULL, *got = NULL;
    ChimneyTestConn c, c2;
    ChimneyTestHBlk *term;
    ChimneyTestTcpState q;
    unsigned i;
    uint8_t f[256];

    memset(list, 0, sizeof(list));
    for (i = 0; i < 3; i++) {
        env_fill_buf(env, &dat[i], lens[i], 0x10 * i);
        list[i].addr = GUINT64_TO_LE(dat[i].dma);
        list[i].len = GUINT32_TO_LE(lens[i]);
        list[i].cookie = GUINT64_TO_LE(0xc00c1e00 + i);
    }
    g_assert_cmpint(env_dma_alloc(env, sizeof(list), &sl), ==, 0);
    env_dma_write(env, &sl, 0, list, sizeof(list));
    env_fill_buf(env, &rdi, 40, 0x77);
    hand = env_buf_bytes(env, &rdi);
    conn_init4(&c, 1, 2, 1000, 80);
    /* 100 sent and unacked, 50 being retransmitted, 70 never sent */
    c.s.d.snd_una = GUINT32_TO_LE(5000);
    c.s.d.snd_nxt = GUINT32_TO_LE(5100);
    c.s.d.snd_max = GUINT32_TO_LE(5150);
    c.s.d.send_list_addr = GUINT64_TO_LE(sl.dma);
    c.s.d.send_list_count = GUINT32_TO_LE(3);
    c.s.d.rcv_data_addr = GUINT64_TO_LE(rdi.dma);
    c.s.d.rcv_data_len = GUINT32_TO_LE(40);
    conn_offload(env, &c);
    /*
     * rules 026-028: [SndNxt, SndMax) goes out first, then the rest,
     * read from the handed-over requests
     */
    {
        uint32_t next = 5100;
        g_autofree uint8_t *all = g_malloc(220);

        for (i = 0; i < 3; i++) {
            g_autofree uint8_t *b = env_buf_bytes(env, &dat[i]);

            memcpy(all + (i == 0 ? 0 : i == 1 ? 100 : 150), b, lens[i]);
        }
        for (i = 0; i < 8 && next != 5220; i++) {
            ChimneyTestRxSeg rs;
            size_t fl = env_wire_recv(env, f, sizeof(f));

            g_assert_true(seg_parse(f, fl, &rs));
            g_assert_cmpuint(rs.seq, ==, next);
            g_assert_cmpuint(rs.plen, >, 0);
            g_assert_cmpmem(rs.payload, rs.plen, all + (next - 5000),
                            rs.plen);
            next += rs.plen;
        }
        g_assert_cmpuint(next, ==, 5220);
    }
    /* a second connection without any data */
    conn_init4(&c2, 1, 2, 1001, 80);
    {
        ChimneyTestHBlk *lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, c.p->slot);

        c2.t = hb_tcp_state(&env->hb, &c2.s);
        hb_dep(lk, c2.t);
        env_run_ok(env, OP_INITIATE, lk);
        g_assert_cmphex(c2.t->b.status, ==, CHIMNEY_ST_SUCCESS);
    }
    /* two in-order segments arrive (each ACKed) */
    conn_send_data(env, &c, "first-", 6);
    env_wire_recv(env, f, sizeof(f));
    conn_send_data(env, &c, "second", 6);
    env_wire_recv(env, f, sizeof(f));

    g_assert_cmpint(env_dma_alloc(env, sizeof(back), &ret), ==, 0);
    memset(back, CHIMNEY_TEST_POISON8, sizeof(back));
    env_dma_write(env, &ret, 0, back, sizeof(back));
    g_assert_cmpint(env_dma_alloc(env, 256, &rdo), ==, 0);
    memset(f, CHIMNEY_TEST_POISON8, sizeof(f));
    env_dma_write(env, &rdo, 0, f, 256);
    env->dma_sync(env);

    /* not enough room for the send list, then for the data: BAD_LENGTH */
    term = hb_term_tcp(&env->hb, c.t->slot, &ret, 2, &rdo, 256);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    term = hb_term_tcp(&env->hb, c.t->slot, &ret, 4, &rdo, 51);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.rcv_backlog_size), ==, 52);

    term = hb_term_tcp(&env->hb, c.t->slot, &ret, 4, &rdo, 256);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->send_list_count), ==,
                     3);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->snd_una), ==, 5000);
    /* all of it was sent, none acknowledged */
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->snd_nxt), ==, 5220);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->snd_max), ==, 5220);
    env->dma_sync(env);
    env_dma_read(env, &ret, 0, back, sizeof(back));
    for (i = 0; i < 3; i++) {
        g_assert_cmphex(GUINT64_FROM_LE(back[i].addr), ==, dat[i].dma);
        g_assert_cmpuint(GUINT32_FROM_LE(back[i].len), ==, lens[i]);
        g_assert_cmpuint(GUINT32_FROM_LE(back[i].acked), ==, 0);
        g_assert_cmphex(GUINT64_FROM_LE(back[i].cookie), ==, 0xc00c1e00 + i);
    }
    g_assert_cmphex(back[3].cookie, ==,
                    CHIMNEY_TEST_POISON64);      /* untouched */
    /* rule 045 (and 024): handed-over data, then what arrived */
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len), ==, 52);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_nxt), ==, 1012);
    got = env_buf_bytes(env, &rdo);
    g_assert_cmpmem(got, 40, hand, 40);
    g_assert_cmpmem(got + 40, 12, "first-second", 12);
    g_assert_cmphex(got[52], ==, CHIMNEY_TEST_POISON8);
    /* the requests were returned, not completed */
    g_assert_cmpuint(env_count_recs(env, 'I', 0), ==, 0);

    /* rule 044: no send data, no receive data */
    memset(back, CHIMNEY_TEST_POISON8, sizeof(back));
    env_dma_write(env, &ret, 0, back, sizeof(back));
    term = hb_term_tcp(&env->hb, c2.t->slot, &ret, 4, &rdo, 256);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->send_list_count), ==,
                     0);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len), ==, 0);
    env->dma_sync(env);
    env_dma_read(env, &ret, 0, back, sizeof(back));
    g_assert_cmphex(back[0].addr, ==, CHIMNEY_TEST_POISON64);
    for (i = 0; i < 3; i++) {
        env_dma_free(env, &dat[i]);
    }
    env_dma_free(env, &sl);
    env_dma_free(env, &ret);
    env_dma_free(env, &rdi);
    env_dma_free(env, &rdo);
}

/*
 * rule 041 for the other layers, and longer structures: TERMINATE writes
 * the neighbor's current NRD (handed-over NRD + ticks since), leaves a
 * path's delegated structure as it is (header only), and writes only the
 * known part of a longer TCP delegated structure, keeping its header.
 * QUERY reports HRD and NRD as they age.
 */
static void scn_rule_041_layers(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestNeighState ns, *nin;
    ChimneyTestHBlk *rn, *rp, *rt;
    uint8_t st[sizeof(ChimneyTcpDelegated) + 8];
    ChimneyTcpDelegated *d;
    ChimneyStateHdr ph[2];

    env_clock_mid_tick(env);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_tree(env, &c);
    nin = (ChimneyTestNeighState *)c.n->st;
    nin->k.host_reachability_delta = GUINT32_TO_LE(7);
    nin->d.nic_reachability_delta = GUINT32_TO_LE(5);
    env_offload_ok(env, c.n);
    env->clock_step(env, 20 * CHIMNEY_TEST_NS_PER_MS);
    g_assert_cmphex(env_query_neigh(env, c.n->slot, &ns), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(ns.k.host_reachability_delta), ==, 27);
    g_assert_cmpuint(GUINT32_FROM_LE(ns.d.nic_reachability_delta), ==, 25);
    env->clock_step(env, 10 * CHIMNEY_TEST_NS_PER_MS);

    rn = hb_ref(&env->hb, CHIMNEY_TYPE_NEIGH_DELEGATED, c.n->slot, 1,
                &chimney_test_neigh_sizes[2]);
    memset(ph, CHIMNEY_TEST_POISON8, sizeof(ph));
    ph[0].length = GUINT32_TO_LE(sizeof(ph));
    ph[0].recognized_options = 0;
    rp = hb_new(&env->hb, CHIMNEY_TYPE_IP4_DELEGATED, true, c.p->slot, ph,
                sizeof(ph));
    memset(st, CHIMNEY_TEST_POISON8, sizeof(st));
    d = (ChimneyTcpDelegated *)st;
    d->hdr.length = GUINT32_TO_LE(sizeof(st));
    d->hdr.recognized_options = 0;
    d->send_list_addr = 0;
    d->send_list_cap = 0;
    d->rcv_data_addr = 0;
    d->rcv_data_cap = 0;
    rt = hb_new(&env->hb, CHIMNEY_TYPE_TCP_DELEGATED, true, c.t->slot, st,
                sizeof(st));
    hb_dep(rn, rp);
    hb_dep(rp, rt);
    env_run_ok(env, OP_TERMINATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt->b.status, ==, CHIMNEY_ST_SUCCESS);
    if (GUINT32_FROM_LE(((ChimneyNeighDelegated *)rn->st)
                        ->nic_reachability_delta)
        != 35) {
        env_soft_fail(env, "neighbor NRD at TERMINATE %u, expected 35 (5 + 30 "
                  "ticks)", GUINT32_FROM_LE(((ChimneyNeighDelegated *)rn->st)->
                                        nic_reachability_delta));
    }
    if (memcmp(rp->st, ph, sizeof(ph))) {
        env_soft_fail(env, "path TERMINATE wrote into its delegated structure "
                  "(header length now %u, was %zu)",
                  GUINT32_FROM_LE(((ChimneyStateHdr *)rp->st)->length),
                  sizeof(ph));
    }
    d = (ChimneyTcpDelegated *)rt->st;
    if (GUINT32_FROM_LE(d->hdr.length) != sizeof(st)) {
        env_soft_fail(env, "TCP TERMINATE changed the header of a longer "
                  "delegated structure: length %u, was %zu",
                  GUINT32_FROM_LE(d->hdr.length), sizeof(st));
    }
    if (st[sizeof(*d)] != CHIMNEY_TEST_POISON8 ||
        st[sizeof(st) - 1] != CHIMNEY_TEST_POISON8 ||
        rt->st[sizeof(*d)] != CHIMNEY_TEST_POISON8 ||
        rt->st[sizeof(st) - 1] != CHIMNEY_TEST_POISON8) {
        env_soft_fail(env, "TCP TERMINATE wrote past the ABI size of a longer "
                  "delegated structure");
    }
    if (GUINT32_FROM_LE(d->state) != CHIMNEY_TCPS_ESTABLISHED ||
        GUINT32_FROM_LE(d->rcv_nxt) != 1000) {
        env_soft_fail(env, "TCP TERMINATE into a longer structure: state %u "
                  "rcv_nxt %u", GUINT32_FROM_LE(d->state),
                  GUINT32_FROM_LE(d->rcv_nxt));
    }
}

/*
 * rules 046, 047: terminate block statuses, and handles are stale after
 * a terminate in every operation (also once the slot is reused).
 */
static void scn_rule_046_047(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[2], *r, *lk, *nt;
    uint64_t old;
    uint32_t errs;
    ChimneyTcpCached tk = { .hdr = CHIMNEY_TEST_HDR(ChimneyTcpCached),
                            .initial_rcv_wnd = GUINT32_TO_LE(1000) };

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 2, 1000);
    env_offload_ok(env, n);
    old = tc[0]->slot;
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, old), ==,
                    CHIMNEY_ST_SUCCESS);
    errs = env_err_count(env);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, old), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(env_query_tcp(env, old, NULL), ==, CHIMNEY_ST_BAD_HANDLE);
    r = hb_new(&env->hb, CHIMNEY_TYPE_TCP_CACHED, true, old, &tk, sizeof(tk));
    env_run_ok(env, OP_UPDATE, r);
    g_assert_cmphex(r->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    r = hb_obj(&env->hb, CHIMNEY_TYPE_TCP, old);
    env_run_ok(env, OP_INVALIDATE, r);
    g_assert_cmphex(r->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmpuint(env_err_count(env), >=, errs + 4);
    /* the slot is reused with a new generation; the old handle stays bad */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&env->hb, 1000, 80);
    hb_dep(lk, nt);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(nt->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(nt->slot), ==,
                     CHIMNEY_HANDLE_INDEX(old));
    g_assert_cmpuint(CHIMNEY_HANDLE_GEN(nt->slot), !=,
                     CHIMNEY_HANDLE_GEN(old));
    g_assert_cmphex(env_query_tcp(env, old, NULL), ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(env_query_tcp(env, nt->slot, NULL), ==, CHIMNEY_ST_SUCCESS);
    /* a stale parent: BAD_HANDLE, its subtree FAILURE and not applied */
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, nt->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, tc[1]->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_IP4, p->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    r = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    hb_next(r, hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot));
    hb_dep(r, hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[1]->slot));
    env_run_ok(env, OP_TERMINATE, r);
    g_assert_cmphex(r->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(r->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_FAILURE);
    g_assert_cmphex(r->b.next_block->status, ==, CHIMNEY_ST_BAD_HANDLE);
    /* a linker naming a terminated path */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&env->hb, 1000, 80);
    hb_dep(lk, nt);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(nt->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_NEIGH, n->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_neigh(env, n->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
}

/*
 * rule 048: while offloaded, the connection's segments never reach the
 * L2 RX ring (the device ACKs them); after the upload they do, as
 * received, and the device no longer answers them.
 */
static void scn_rule_048(ChimneyTestEnv *env)
{
    uint8_t f[256], got[2048];
    size_t len, glen;
    ChimneyTestConn c;
    ChimneyTestSeg s;

    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    conn_send_data(env, &c, "offloaded", 9);
    len = env_wire_recv(env, f, sizeof(f));
    g_assert_cmpuint(len, >=, 54);
    /* its ACK */
    g_assert_cmphex(chimney_test_ld32(f + 14 + 20 + 8), ==, 1009);
    /* nothing went up L2, nothing answered */
    g_assert_true(env->wire_quiet(env));

    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    conn_peer_seg(env, &c, &s, "uploaded", 8);
    len = seg_build(&s, f);
    env->wire_inject(env, f, len);
    glen = env->l2_take(env, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    g_assert_true(env->wire_quiet(env));
}

/*
 * rules 048, 115, 118: a segment with URG asks for the upload
 * (URGENT_DATA, a mandatory reason); from then on the device processes
 * nothing of the connection and holds its frames (not ACKed), and
 * delivers them through the RX ring, as received, right after the
 * TERMINATE's CMD_DONE (spec "Upload requests").
 */
static void scn_rule_048_115_urgent(ChimneyTestEnv *env)
{
    uint8_t f[256], f2[256], got[2048];
    size_t len, len2, glen;
    const ChimneyTestRec *r;
    ChimneyTestConn c;
    ChimneyTestSeg s;

    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    conn_peer_seg(env, &c, &s, "urgent", 6);
    s.flags |= CHIMNEY_TH_URG;
    s.urg = 6;
    len = seg_build(&s, f);
    env->wire_inject(env, f, len);
    c.peer_seq += 6;
    conn_peer_seg(env, &c, &s, "later", 5);          /* host path as well */
    len2 = seg_build(&s, f2);
    env->wire_inject(env, f2, len2);
    env_settle(env, 5);
    r = env_find_rec(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE,
                     c.t->b.ndis_offload_handle);
    g_assert_nonnull(r);
    g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_URGENT_DATA);
    g_assert_cmphex(r->handle, ==, c.t->slot);
    /*
     * Spec ("Upload requests", ABI 1.0 decision): the urgent segment and
     * everything after it go up the RX ring as received, unacknowledged,
     * for the host stack that uploads the connection.
     */
    glen = env->l2_take(env, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    glen = env->l2_take(env, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len2);
    g_assert_cmpmem(got, glen, f2, len2);
    g_assert_true(env->wire_quiet(env));

    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
}

const ChimneyScenario chimney_scenarios_terminate[] = {
    { "rule-041-042-delegated-returned", scn_rule_041_042 },
    { "rule-043-045-send-list-and-data-returned", scn_rule_043_045 },
    { "rule-038-terminate-without-state", scn_rule_038 },
    { "rule-041-neighbor-path-longer-structures", scn_rule_041_layers },
    { "rule-046-047-stale-handles", scn_rule_046_047 },
    { "rule-048-frames-after-upload", scn_rule_048 },
    { "rule-048-115-urgent-frames-held", scn_rule_048_115_urgent },
    { NULL, NULL },
};
