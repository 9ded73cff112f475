/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, TERMINATE: delegated state, send list and data
 * returned, terminate without state, stale handles, frames after upload
 * (rules 038-048).
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

/*
 * Tests: terminate (rules 041-051)
 */

/*
 * rules 041, 042: TERMINATE fills the delegated structure with the
 * current values: every field as handed over where nothing happened,
 * TsTime and TsRecentAge advanced by the ticks that passed, stopped
 * timers -1, the backlog sizes and reserved words 0; it leaves the
 * header and the "T in" fields alone.
 */
static void test_rule_041_042(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    ChimneyTcpDelegated *d, *o;
    HBlk *term;
    Mis m;

    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    d = &c.s.d;
    d->state = cpu_to_le32(CHIMNEY_TCPS_CLOSE_WAIT);
    d->flags = cpu_to_le16(0x1234);
    d->rsvd = cpu_to_le16(0x9999);
    d->rcv_nxt = cpu_to_le32(0x11111111);
    d->rcv_wnd = cpu_to_le32(40000);
    d->snd_una = cpu_to_le32(0x22222222);
    d->snd_nxt = cpu_to_le32(0x22222222);
    d->snd_max = cpu_to_le32(0x22222222);
    d->snd_wnd = cpu_to_le32(30000);
    d->max_snd_wnd = cpu_to_le32(50000);
    d->snd_wl1 = cpu_to_le32(0x1111110f);
    d->cwnd = cpu_to_le32(7300);
    d->ssthresh = cpu_to_le32(20000);
    d->srtt = cpu_to_le16(0x123);
    d->rttvar = cpu_to_le16(0x45);
    d->ts_recent = cpu_to_le32(0xabcdef01);
    d->ts_recent_age = cpu_to_le32(7);
    d->ts_time = cpu_to_le32(0x00c0ffee);
    d->total_rt = cpu_to_le32(9);
    d->dup_ack_count = 1;
    d->snd_wnd_probe_count = 2;
    d->ka_probe_count = 3;
    d->rexmit_count = 4;
    d->send_backlog_size = cpu_to_le32(0x5555);
    d->rcv_backlog_size = cpu_to_le32(0x6666);
    d->dwnd = cpu_to_le32(0x77777777);
    d->rsvd2 = cpu_to_le32(0x8888);
    conn_offload(t->env, &c);
    qchimney_os_clock_step(&t->qe.os, 123 * NS_PER_MS);
    term = hb_term_tcp(t, c.t->slot, NULL, 0, NULL, 0);
    run_ok(t, OP_TERMINATE, term);
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
    mis_u(&m, "send_list_addr (T in)", le64_to_cpu(o->send_list_addr), 0);
    MIS_LE32(&m, "send_list_count", o->send_list_count, 0);
    MIS_LE32(&m, "send_list_cap (T in)", o->send_list_cap, 0);
    mis_u(&m, "rcv_data_addr (T in)", le64_to_cpu(o->rcv_data_addr), 0);
    MIS_LE32(&m, "rcv_data_len", o->rcv_data_len, 0);
    MIS_LE32(&m, "rcv_data_cap (T in)", o->rcv_data_cap, 0);
    /* ticks since TsRecent was received: handed over 7, 123 passed */
    MIS_LE32(&m, "ts_recent_age (7 + 123 ticks)", o->ts_recent_age, 130);
    mis_check(&m, "TERMINATE delegated state");
    t_end(t);
}

/*
 * rules 043-045: the send list comes back (original requests, original
 * order, SndUna/SndNxt/SndMax consistent); with no send data the count
 * is 0 and the list space untouched; buffered data comes back, followed
 * by what arrived since, and nothing past it is written.  Too little
 * return space fails the block and leaves the connection offloaded.
 */
static void test_rule_043_045(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    ChimneyDmaBuf dat[3], sl, ret, rdi, rdo;
    ChimneySendBuf list[3], back[4];
    static const uint32_t lens[3] = { 100, 50, 70 };
    g_autofree uint8_t *hand = NULL, *got = NULL;
    Conn c, c2;
    HBlk *term;
    TcpState q;
    unsigned i;
    uint8_t f[256];

    rx_setup(t);
    memset(list, 0, sizeof(list));
    for (i = 0; i < 3; i++) {
        fill_buf(t, &dat[i], lens[i], 0x10 * i);
        list[i].addr = cpu_to_le64(dat[i].dma);
        list[i].len = cpu_to_le32(lens[i]);
        list[i].cookie = cpu_to_le64(0xc00c1e00 + i);
    }
    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, sizeof(list), &sl), ==, 0);
    qchimney_dma_write(&t->qe.os, &sl, 0, list, sizeof(list));
    fill_buf(t, &rdi, 40, 0x77);
    hand = buf_bytes(t, &rdi);
    conn_init4(&c, 1, 2, 1000, 80);
    /* 100 sent and unacked, 50 being retransmitted, 70 never sent */
    c.s.d.snd_una = cpu_to_le32(5000);
    c.s.d.snd_nxt = cpu_to_le32(5100);
    c.s.d.snd_max = cpu_to_le32(5150);
    c.s.d.send_list_addr = cpu_to_le64(sl.dma);
    c.s.d.send_list_count = cpu_to_le32(3);
    c.s.d.rcv_data_addr = cpu_to_le64(rdi.dma);
    c.s.d.rcv_data_len = cpu_to_le32(40);
    conn_offload(t->env, &c);
    /* a second connection without any data */
    conn_init4(&c2, 1, 2, 1001, 80);
    {
        HBlk *lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, c.p->slot);

        c2.t = hb_tcp_state(&t->env->hb, &c2.s);
        hb_dep(lk, c2.t);
        run_ok(t, OP_INITIATE, lk);
        g_assert_cmphex(c2.t->b.status, ==, CHIMNEY_ST_SUCCESS);
    }
    /* two in-order segments arrive (each ACKed) */
    conn_send_data(t->env, &c, "first-", 6);
    wire_recv(t, f, sizeof(f));
    conn_send_data(t->env, &c, "second", 6);
    wire_recv(t, f, sizeof(f));

    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, sizeof(back), &ret), ==, 0);
    memset(back, POISON8, sizeof(back));
    qchimney_dma_write(&t->qe.os, &ret, 0, back, sizeof(back));
    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, 256, &rdo), ==, 0);
    memset(f, POISON8, sizeof(f));
    qchimney_dma_write(&t->qe.os, &rdo, 0, f, 256);
    qchimney_os_flush(&t->qe.os);

    /* not enough room for the send list, then for the data: BAD_LENGTH */
    term = hb_term_tcp(t, c.t->slot, &ret, 2, &rdo, 256);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    term = hb_term_tcp(t, c.t->slot, &ret, 4, &rdo, 51);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.rcv_backlog_size), ==, 52);

    term = hb_term_tcp(t, c.t->slot, &ret, 4, &rdo, 256);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->send_list_count), ==, 3);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->snd_una), ==, 5000);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->snd_nxt), ==, 5100);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->snd_max), ==, 5150);
    qchimney_os_touch(&t->qe.os);
    qchimney_dma_read(&t->qe.os, &ret, 0, back, sizeof(back));
    for (i = 0; i < 3; i++) {
        g_assert_cmphex(le64_to_cpu(back[i].addr), ==, dat[i].dma);
        g_assert_cmpuint(le32_to_cpu(back[i].len), ==, lens[i]);
        g_assert_cmpuint(le32_to_cpu(back[i].acked), ==, 0);
        g_assert_cmphex(le64_to_cpu(back[i].cookie), ==, 0xc00c1e00 + i);
    }
    g_assert_cmphex(back[3].cookie, ==, POISON64);      /* untouched */
    /* rule 045 (and 024): handed-over data, then what arrived */
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->rcv_data_len), ==, 52);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->rcv_nxt), ==, 1012);
    got = buf_bytes(t, &rdo);
    g_assert_cmpmem(got, 40, hand, 40);
    g_assert_cmpmem(got + 40, 12, "first-second", 12);
    g_assert_cmphex(got[52], ==, POISON8);
    /* the requests were returned, not completed */
    g_assert_cmpuint(count_recs(t, 'I', 0), ==, 0);

    /* rule 044: no send data, no receive data */
    memset(back, POISON8, sizeof(back));
    qchimney_dma_write(&t->qe.os, &ret, 0, back, sizeof(back));
    term = hb_term_tcp(t, c2.t->slot, &ret, 4, &rdo, 256);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->send_list_count), ==, 0);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->rcv_data_len), ==, 0);
    qchimney_os_touch(&t->qe.os);
    qchimney_dma_read(&t->qe.os, &ret, 0, back, sizeof(back));
    g_assert_cmphex(back[0].addr, ==, POISON64);
    for (i = 0; i < 3; i++) {
        qchimney_dma_free(&t->qe.os, &dat[i]);
    }
    qchimney_dma_free(&t->qe.os, &sl);
    qchimney_dma_free(&t->qe.os, &ret);
    qchimney_dma_free(&t->qe.os, &rdi);
    qchimney_dma_free(&t->qe.os, &rdo);
    t_end(t);
}

/*
 * rules 038, 044 (spec TERMINATE step 3): without a delegated structure
 * the device keeps nothing: send requests not yet completed complete with
 * SEND_DONE(UPLOAD_IN_PROGRESS), before the TERMINATE completes.
 */
static void test_rule_038(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    ChimneyDmaBuf dat, sl;
    ChimneySendBuf list[2];
    Conn c;
    unsigned i, n = 0;

    fill_buf(t, &dat, 100, 3);
    memset(list, 0, sizeof(list));
    for (i = 0; i < 2; i++) {
        list[i].addr = cpu_to_le64(dat.dma + 50 * i);
        list[i].len = cpu_to_le32(50);
        list[i].cookie = cpu_to_le64(0x5e4d0000 + i);
    }
    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, sizeof(list), &sl), ==, 0);
    qchimney_dma_write(&t->qe.os, &sl, 0, list, sizeof(list));
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.snd_max = cpu_to_le32(5100);
    c.s.d.send_list_addr = cpu_to_le64(sl.dma);
    c.s.d.send_list_count = cpu_to_le32(2);
    conn_offload(t->env, &c);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    /* the callbacks ran in event order: I/O completions came first */
    for (i = 0; i < t->env->recs->len; i++) {
        Rec *r = &g_array_index(t->env->recs, Rec, i);

        if (r->kind == 'I' && r->type == CHIMNEY_EVT_SEND_DONE &&
            r->cookie == 0x5e4d0000 + n) {
            g_assert_cmphex(r->a, ==, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
            g_assert_cmphex(r->handle, ==, c.t->slot);
            n++;
        }
    }
    if (n != 2) {
        soft_fail(t, "TERMINATE without a delegated structure: %u of 2 send "
                  "requests completed with SEND_DONE(UPLOAD_IN_PROGRESS) "
                  "(%u events in all)", n, t->env->recs->len);
    }
    qchimney_dma_free(&t->qe.os, &sl);
    qchimney_dma_free(&t->qe.os, &dat);
    t_end(t);
}

/*
 * rule 041 for the other layers, and longer structures: TERMINATE writes
 * the neighbor's current NRD (handed-over NRD + ticks since), leaves a
 * path's delegated structure as it is (header only), and writes only the
 * known part of a longer TCP delegated structure, keeping its header.
 * QUERY reports HRD and NRD as they age.
 */
static void test_rule_041_layers(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c;
    NeighState ns, *nin;
    HBlk *rn, *rp, *rt;
    uint8_t st[sizeof(ChimneyTcpDelegated) + 8];
    ChimneyTcpDelegated *d;
    ChimneyStateHdr ph[2];

    clock_mid_tick(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_tree(t->env, &c);
    nin = (NeighState *)c.n->st;
    nin->k.host_reachability_delta = cpu_to_le32(7);
    nin->d.nic_reachability_delta = cpu_to_le32(5);
    offload_ok(t, c.n);
    qchimney_os_clock_step(&t->qe.os, 20 * NS_PER_MS);
    g_assert_cmphex(query_neigh(t, c.n->slot, &ns), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(ns.k.host_reachability_delta), ==, 27);
    g_assert_cmpuint(le32_to_cpu(ns.d.nic_reachability_delta), ==, 25);
    qchimney_os_clock_step(&t->qe.os, 10 * NS_PER_MS);

    rn = hb_ref(&t->env->hb, CHIMNEY_TYPE_NEIGH_DELEGATED, c.n->slot, 1,
                &neigh_sizes[2]);
    memset(ph, POISON8, sizeof(ph));
    ph[0].length = cpu_to_le32(sizeof(ph));
    ph[0].recognized_options = 0;
    rp = hb_new(&t->env->hb, CHIMNEY_TYPE_IP4_DELEGATED, true, c.p->slot, ph,
                sizeof(ph));
    memset(st, POISON8, sizeof(st));
    d = (ChimneyTcpDelegated *)st;
    d->hdr.length = cpu_to_le32(sizeof(st));
    d->hdr.recognized_options = 0;
    d->send_list_addr = 0;
    d->send_list_cap = 0;
    d->rcv_data_addr = 0;
    d->rcv_data_cap = 0;
    rt = hb_new(&t->env->hb, CHIMNEY_TYPE_TCP_DELEGATED, true, c.t->slot, st,
                sizeof(st));
    hb_dep(rn, rp);
    hb_dep(rp, rt);
    run_ok(t, OP_TERMINATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt->b.status, ==, CHIMNEY_ST_SUCCESS);
    if (le32_to_cpu(((ChimneyNeighDelegated *)rn->st)->nic_reachability_delta)
        != 35) {
        soft_fail(t, "neighbor NRD at TERMINATE %u, expected 35 (5 + 30 "
                  "ticks)", le32_to_cpu(((ChimneyNeighDelegated *)rn->st)->
                                        nic_reachability_delta));
    }
    if (memcmp(rp->st, ph, sizeof(ph))) {
        soft_fail(t, "path TERMINATE wrote into its delegated structure "
                  "(header length now %u, was %zu)",
                  le32_to_cpu(((ChimneyStateHdr *)rp->st)->length),
                  sizeof(ph));
    }
    d = (ChimneyTcpDelegated *)rt->st;
    if (le32_to_cpu(d->hdr.length) != sizeof(st)) {
        soft_fail(t, "TCP TERMINATE changed the header of a longer "
                  "delegated structure: length %u, was %zu",
                  le32_to_cpu(d->hdr.length), sizeof(st));
    }
    if (st[sizeof(*d)] != POISON8 || st[sizeof(st) - 1] != POISON8 ||
        rt->st[sizeof(*d)] != POISON8 || rt->st[sizeof(st) - 1] != POISON8) {
        soft_fail(t, "TCP TERMINATE wrote past the ABI size of a longer "
                  "delegated structure");
    }
    if (le32_to_cpu(d->state) != CHIMNEY_TCPS_ESTABLISHED ||
        le32_to_cpu(d->rcv_nxt) != 1000) {
        soft_fail(t, "TCP TERMINATE into a longer structure: state %u "
                  "rcv_nxt %u", le32_to_cpu(d->state),
                  le32_to_cpu(d->rcv_nxt));
    }
    t_end(t);
}

/*
 * rules 046, 047: terminate block statuses, and handles are stale after
 * a terminate in every operation (also once the slot is reused).
 */
static void test_rule_046_047(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    HBlk *n, *p, *tc[2], *r, *lk, *nt;
    uint64_t old;
    uint32_t errs;
    ChimneyTcpCached tk = { .hdr = HDR(ChimneyTcpCached),
                            .initial_rcv_wnd = cpu_to_le32(1000) };

    n = build_npt(t, &p, tc, 2, 1000);
    offload_ok(t, n);
    old = tc[0]->slot;
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, old), ==,
                    CHIMNEY_ST_SUCCESS);
    errs = err_count(t);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, old), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(query_tcp(t, old, NULL), ==, CHIMNEY_ST_BAD_HANDLE);
    r = hb_new(&t->env->hb, CHIMNEY_TYPE_TCP_CACHED, true, old, &tk, sizeof(tk));
    run_ok(t, OP_UPDATE, r);
    g_assert_cmphex(r->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    r = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, old);
    run_ok(t, OP_INVALIDATE, r);
    g_assert_cmphex(r->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmpuint(err_count(t), >=, errs + 4);
    /* the slot is reused with a new generation; the old handle stays bad */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&t->env->hb, 1000, 80);
    hb_dep(lk, nt);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(nt->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(nt->slot), ==,
                     CHIMNEY_HANDLE_INDEX(old));
    g_assert_cmpuint(CHIMNEY_HANDLE_GEN(nt->slot), !=,
                     CHIMNEY_HANDLE_GEN(old));
    g_assert_cmphex(query_tcp(t, old, NULL), ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(query_tcp(t, nt->slot, NULL), ==, CHIMNEY_ST_SUCCESS);
    /* a stale parent: BAD_HANDLE, its subtree FAILURE and not applied */
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, nt->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, tc[1]->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_IP4, p->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    r = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    hb_next(r, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot));
    hb_dep(r, hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, tc[1]->slot));
    run_ok(t, OP_TERMINATE, r);
    g_assert_cmphex(r->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(r->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_FAILURE);
    g_assert_cmphex(r->b.next_block->status, ==, CHIMNEY_ST_BAD_HANDLE);
    /* a linker naming a terminated path */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&t->env->hb, 1000, 80);
    hb_dep(lk, nt);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(nt->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_NEIGH, n->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_neigh(t, n->slot, NULL), ==, CHIMNEY_ST_BAD_HANDLE);
    t_end(t);
}

/*
 * rule 048: while offloaded, the connection's segments never reach the
 * L2 RX ring (the device ACKs them); after the upload they do, as
 * received, and the device no longer answers them.
 */
static void test_rule_048(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    uint8_t f[256], got[RX_BUF_LEN];
    size_t len, glen;
    Conn c;
    Seg s;

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    conn_send_data(t->env, &c, "offloaded", 9);
    len = wire_recv(t, f, sizeof(f));
    g_assert_cmpuint(len, >=, 54);
    g_assert_cmphex(ldl_be_p(f + 14 + 20 + 8), ==, 1009);   /* its ACK */
    wire_sync(t);               /* fails if the segment went up L2 */

    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    conn_peer_seg(t->env, &c, &s, "uploaded", 8);
    len = seg_build(&s, f);
    wire_send(t, f, len);
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    wire_sync(t);
    wire_expect_nothing(t);
    t_end(t);
}

/*
 * rules 048, 115, 118: a segment with URG asks for the upload
 * (URGENT_DATA, a mandatory reason); from then on the device processes
 * nothing of the connection and holds its frames (not ACKed), and
 * delivers them through the RX ring, as received, right after the
 * TERMINATE's CMD_DONE (spec "Upload requests").
 */
static void test_rule_048_115_urgent(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    uint8_t f[256], f2[256], got[RX_BUF_LEN];
    size_t len, len2, glen;
    const Rec *r;
    Conn c;
    Seg s;

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    conn_peer_seg(t->env, &c, &s, "urgent", 6);
    s.flags |= TH_URG;
    s.urg = 6;
    len = seg_build(&s, f);
    wire_send(t, f, len);
    c.peer_seq += 6;
    conn_peer_seg(t->env, &c, &s, "later", 5);          /* host path as well */
    len2 = seg_build(&s, f2);
    wire_send(t, f2, len2);
    qchimney_settle(&t->qe.os, 5);
    r = find_rec(t, 'T', CHIMNEY_EVT_TCP_RETRIEVE, c.t->b.ndis_offload_handle);
    g_assert_nonnull(r);
    g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_URGENT_DATA);
    g_assert_cmphex(r->handle, ==, c.t->slot);
    /*
     * Spec ("Upload requests", ABI 1.0 decision): the urgent segment and
     * everything after it go up the RX ring as received, unacknowledged,
     * for the host stack that uploads the connection.
     */
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len2);
    g_assert_cmpmem(got, glen, f2, len2);
    wire_sync(t);
    wire_expect_nothing(t);                     /* nothing ACKed */

    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_terminate_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "rule-041-042-delegated-returned", test_rule_041_042 },
        { "rule-043-045-send-list-and-data-returned", test_rule_043_045 },
        { "rule-038-terminate-without-state", test_rule_038 },
        { "rule-041-neighbor-path-longer-structures", test_rule_041_layers },
        { "rule-046-047-stale-handles", test_rule_046_047 },
        { "rule-048-frames-after-upload", test_rule_048 },
        { "rule-048-115-urgent-frames-held", test_rule_048_115_urgent },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_terminate_test);

#endif /* !_WIN32 */
