/*
 * chimney-nic scenarios: TCP behaviour of an offloaded connection (spec
 * "Offload engine behaviour", "Upload requests", "Status indications"):
 * fast retransmit, delayed ACK, FIN_WAIT_2 and TIME_WAIT, a receive side
 * closed by DISCONNECT, urgent data,
 * SYN, blind data, PAWS, sequence numbers that wrap, the send-backlog
 * event, UPLOAD_ALL, and bulk transfers with loss, reordering and
 * duplication in both directions.  Each runs over the fake host and QEMU.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-io.h"

static bool seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

static uint64_t up(ChimneyTestEnv *env, ChimneyTestConn *c)
{
    conn_offload(env, c);
    return c->t->slot;
}

static const ChimneyTestRec *retrieve_of(ChimneyTestEnv *env,
                                         const ChimneyTestConn *c)
{
    return env_find_rec(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE,
                        c->t->b.ndis_offload_handle);
}

/*
 * Rule 128: after dup_ack_threshold (3) duplicate ACKs the lost segment
 * is sent again at once, long before the retransmission timer.
 */
static void scn_fast_retransmit(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(5 * 1460, 11);
    struct chimney_dma_buf b;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, ck;
    uint8_t f[2048];
    unsigned i;

    conn_init4(&c, 1, 2, 1000, 80);
    h = up(env, &c);
    buf_with(env, &b, data, 5 * 1460);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 5 * 1460, h,
                           &ck), ==, CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 5 * 1460, 1460, NULL);
    /* the first segment was "lost": the peer ACKs SND four times */
    peer_ack(env, &c, SND, 65535);          /* window update, not a dup */
    for (i = 0; i < 3; i++) {
        peer_ack(env, &c, SND, 65535);
    }
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.seq, ==, SND);
    g_assert_cmpuint(rs.plen, ==, 1460);
    g_assert_cmpmem(rs.payload, 1460, data, 1460);
    peer_ack(env, &c, SND + 5 * 1460, 65535);
    {
        const ChimneyTestRec *r = io_wait(env, ck);

        g_assert_cmphex(r->a, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(r->b, ==, 5 * 1460);
    }
    env_dma_free(env, &b);
}

/*
 * Rule 129: full-sized segments are acknowledged every ack_frequency (2)
 * segments or after delayed_ack_ticks (200); TERMINATE sends an owed ACK
 * (rule 040).
 */
static void scn_delayed_ack(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(3 * 1460, 12);
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    ChimneyTestHBlk *term;
    uint8_t f[2048];

    conn_init4(&c, 1, 2, 1000, 80);
    up(env, &c);
    conn_send_data(env, &c, data, 1460);
    g_assert_true(env->wire_quiet(env));            /* delayed */
    conn_send_data(env, &c, data + 1460, 1460);
    peer_recv(env, &c, &rs, f, sizeof(f));          /* the second: now */
    g_assert_cmpuint(rs.ack, ==, RCV + 2920);
    conn_send_data(env, &c, data + 2920, 1460);
    g_assert_true(env->wire_quiet(env));
    env->clock_step(env, 210 * CHIMNEY_TEST_NS_PER_MS);
    peer_recv(env, &c, &rs, f, sizeof(f));          /* the timer */
    g_assert_cmpuint(rs.ack, ==, RCV + 4380);
    /* an ACK owed at TERMINATE goes out first */
    conn_send_data(env, &c, data, 1460);
    g_assert_true(env->wire_quiet(env));
    term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, NULL, 0);
    env_run_ok(env, OP_TERMINATE, term);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 5840);
}

/*
 * Rules 126, 127: after our FIN is acknowledged the FIN_WAIT_2 timer runs;
 * its expiry asks for an upload with TIMEOUT (state CLOSED).  A FIN in
 * FIN_WAIT_2 means TIME_WAIT: an upload request with REQUESTED.
 */
static void scn_fin_wait_2(ChimneyTestEnv *env)
{
    ChimneyTestConn c, d;
    ChimneyTestRxSeg rs;
    uint64_t h, ck, hd, ckd;
    uint8_t f[2048];

    conn_init4(&c, 1, 2, 1000, 80);
    h = up(env, &c);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_GRACEFUL,
                           0, 0, h, &ck), ==, CHIMNEY_ST_SUCCESS);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_true(rs.flags & CHIMNEY_TH_FIN);
    g_assert_cmpuint(rs.seq, ==, SND);
    peer_ack(env, &c, SND + 1, 8192);
    io_wait(env, ck);
    g_assert_cmpuint(query_state(env, h, NULL), ==, CHIMNEY_TCPS_FIN_WAIT_2);
    env->clock_step(env, 119 * 1000 * CHIMNEY_TEST_NS_PER_MS);
    env_settle(env, 3);
    g_assert_null(retrieve_of(env, &c));
    env->clock_step(env, 2 * 1000 * CHIMNEY_TEST_NS_PER_MS);
    env_settle(env, 3);
    g_assert_nonnull(retrieve_of(env, &c));
    g_assert_cmpuint(retrieve_of(env, &c)->a, ==, CHIMNEY_UPLOAD_TIMEOUT);
    g_assert_cmpuint(query_state(env, h, NULL), ==, CHIMNEY_TCPS_CLOSED);

    /* the peer closes too: TIME_WAIT is the host's */
    conn_init4(&d, 1, 2, 1001, 80);
    hd = up(env, &d);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_GRACEFUL,
                           0, 0, hd, &ckd), ==, CHIMNEY_ST_SUCCESS);
    peer_recv(env, &d, &rs, f, sizeof(f));
    peer_ack(env, &d, SND + 1, 8192);
    io_wait(env, ckd);
    d.s.d.snd_una = GUINT32_TO_LE(SND + 1);
    conn_send_flags(env, &d, CHIMNEY_TH_FIN | CHIMNEY_TH_ACK, SND + 1);
    peer_recv(env, &d, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 1);
    env_settle(env, 3);
    g_assert_nonnull(retrieve_of(env, &d));
    g_assert_cmpuint(retrieve_of(env, &d)->a, ==, CHIMNEY_UPLOAD_REQUESTED);
    g_assert_cmpuint(query_state(env, hd, NULL), ==, CHIMNEY_TCPS_TIME_WAIT);
}

/*
 * Rules 101, 102, 106 (spec DISCONNECT "Receive side closed"): a graceful
 * DISCONNECT with DISC_RCV_CLOSED arms the abortive close the host wants
 * once data arrives that nobody will read (RFC 1122 4.2.2.13).  The first
 * segment with new data gets the RST; it is neither acknowledged nor
 * placed; EVT_TCP_ABORT (info DATA_AFTER_CLOSE) comes before the queued
 * requests complete with REQUEST_ABORTED; nothing more is answered.  Old
 * data and the peer's FIN change nothing; without the flag the receive
 * side stays open (rule 106).  After a graceful DISCONNECT the flag alone
 * closes the receive side: done at its CMD_DONE, no DISC_DONE.  With
 * ABORTIVE it is INVALID_PARAMETER.
 */
static void scn_disc_rcv_closed(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(1460, 21);
    struct chimney_dma_buf b, r;
    ChimneyTestConn c, d, e;
    ChimneyTestRxSeg rs;
    uint64_t h, hd, he, ck_s, ck_d, ck_r, ckd, cke, ckr;
    uint32_t errs = env_err_count(env);
    uint8_t f[2048], fl = 0;
    unsigned i, abort_at = 0, last_done = 0, done = 0;

    conn_init4(&c, 1, 2, 1000, 80);
    h = up(env, &c);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_ABORTIVE | CHIMNEY_DISC_RCV_CLOSED,
                           0, 0, h, NULL), ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_GRACEFUL | CHIMNEY_DISC_ABORTIVE |
                           CHIMNEY_DISC_RCV_CLOSED, 0, 0, h, NULL), ==,
                    CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmpuint(env_err_count(env), >=, errs + 2);
    g_assert_true(env->wire_quiet(env));

    /* a receive posted, data and the FIN sent, unacknowledged */
    g_assert_cmpint(env_dma_alloc(env, 64, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 64, h,
                           &ck_r), ==, CHIMNEY_ST_SUCCESS);
    buf_with(env, &b, data, 1460);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 1460, h, &ck_s),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_GRACEFUL | CHIMNEY_DISC_RCV_CLOSED,
                           0, 0, h, &ck_d), ==, CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 1460, 1460, &fl);
    if (!(fl & CHIMNEY_TH_FIN)) {
        peer_recv(env, &c, &rs, f, sizeof(f));
        g_assert_true(rs.flags & CHIMNEY_TH_FIN);
    }
    /* the peer's data crosses the FIN: the RST, nothing acknowledged */
    conn_send_data(env, &c, "late", 4);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_true(rs.flags & CHIMNEY_TH_RST);
    g_assert_cmpuint(rs.seq, ==, SND + 1461);
    g_assert_cmpuint(rs.ack, ==, RCV);
    g_assert_cmpuint(rs.plen, ==, 0);
    env_settle(env, 3);
    g_assert_cmpuint(query_state(env, h, NULL), ==, CHIMNEY_TCPS_CLOSED);
    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *ev = &g_array_index(env->recs, ChimneyTestRec,
                                                  i);

        if (ev->kind == 'T' && ev->type == CHIMNEY_EVT_TCP_ABORT) {
            g_assert_cmpuint(ev->a, ==, CHIMNEY_ABORT_DATA_AFTER_CLOSE);
            abort_at = i + 1;
        }
        if (ev->kind == 'I' && (ev->cookie == ck_s || ev->cookie == ck_d ||
                                ev->cookie == ck_r)) {
            g_assert_cmphex(ev->a, ==, CHIMNEY_ST_REQUEST_ABORTED);
            last_done = i + 1;
            done++;
        }
    }
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_ABORT), ==, 1);
    g_assert_cmpuint(abort_at, >, 0);
    g_assert_cmpuint(done, ==, 3);
    g_assert_cmpuint(abort_at, <, last_done);
    g_assert_cmpuint(io_find(env, ck_r)->b, ==, 0);     /* nothing placed */
    /* aborted: the peer's next segments get no answer */
    conn_send_data(env, &c, "more", 4);
    env_settle(env, 3);
    g_assert_true(env->wire_quiet(env));

    /* FIN_WAIT_2: old data is acknowledged, the FIN taken as ever */
    conn_init4(&d, 1, 2, 1001, 80);
    hd = up(env, &d);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_GRACEFUL | CHIMNEY_DISC_RCV_CLOSED,
                           0, 0, hd, &ckd), ==, CHIMNEY_ST_SUCCESS);
    peer_recv(env, &d, &rs, f, sizeof(f));
    g_assert_true(rs.flags & CHIMNEY_TH_FIN);
    peer_ack(env, &d, SND + 1, 8192);
    g_assert_cmphex(io_wait(env, ckd)->a, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(query_state(env, hd, NULL), ==, CHIMNEY_TCPS_FIN_WAIT_2);
    peer_data_at(env, &d, RCV - 4, "old!", 4, CHIMNEY_TH_ACK, SND + 1);
    peer_recv(env, &d, &rs, f, sizeof(f));
    g_assert_false(rs.flags & CHIMNEY_TH_RST);
    g_assert_cmpuint(rs.ack, ==, RCV);
    d.s.d.snd_una = GUINT32_TO_LE(SND + 1);
    conn_send_flags(env, &d, CHIMNEY_TH_FIN | CHIMNEY_TH_ACK, SND + 1);
    peer_recv(env, &d, &rs, f, sizeof(f));
    g_assert_false(rs.flags & CHIMNEY_TH_RST);
    g_assert_cmpuint(rs.ack, ==, RCV + 1);
    env_settle(env, 3);
    g_assert_cmpuint(query_state(env, hd, NULL), ==, CHIMNEY_TCPS_TIME_WAIT);
    g_assert_nonnull(retrieve_of(env, &d));

    /* without the flag, data after the FIN is taken (rule 106) ... */
    conn_init4(&e, 1, 2, 1002, 80);
    he = up(env, &e);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_GRACEFUL, 0, 0, he, &cke), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_recv(env, &e, &rs, f, sizeof(f));
    g_assert_true(rs.flags & CHIMNEY_TH_FIN);
    peer_ack(env, &e, SND + 1, 8192);
    io_wait(env, cke);
    e.s.d.snd_una = GUINT32_TO_LE(SND + 1);
    conn_send_data(env, &e, "late", 4);
    peer_recv(env, &e, &rs, f, sizeof(f));
    g_assert_false(rs.flags & CHIMNEY_TH_RST);
    g_assert_cmpuint(rs.ack, ==, RCV + 4);
    g_assert_cmpuint(query_state(env, he, NULL), ==, CHIMNEY_TCPS_FIN_WAIT_2);
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_ABORT), ==, 1);
    /* ... until the flag alone closes the receive side: no DISC_DONE */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_RCV_CLOSED, 0, 0, he, &ckr), ==,
                    CHIMNEY_ST_SUCCESS);
    env_settle(env, 3);
    g_assert_null(io_find(env, ckr));
    g_assert_true(env->wire_quiet(env));
    conn_send_data(env, &e, "more", 4);
    peer_recv(env, &e, &rs, f, sizeof(f));
    g_assert_true(rs.flags & CHIMNEY_TH_RST);
    g_assert_cmpuint(rs.ack, ==, RCV + 4);
    env_settle(env, 3);
    g_assert_cmpuint(query_state(env, he, NULL), ==, CHIMNEY_TCPS_CLOSED);
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_ABORT), ==, 2);
    g_assert_null(io_find(env, ckr));
    env_dma_free(env, &b);
    env_dma_free(env, &r);
}

/*
 * Rules 114, 115: a segment with URG asks for an upload (URGENT_DATA) and
 * goes up the L2 path unacknowledged; so does a SYN at RcvNxt
 * (REQUESTED).  Further segments follow it up the L2 path.
 */
static void scn_urg_syn(ChimneyTestEnv *env)
{
    ChimneyTestConn c, d;
    ChimneyTestSeg s;
    uint8_t f[2048];
    size_t len;

    conn_init4(&c, 1, 2, 1000, 80);
    up(env, &c);
    conn_peer_seg(env, &c, &s, "urgent", 6);
    s.flags |= CHIMNEY_TH_URG;
    s.urg = 6;
    len = seg_build(&s, f);
    env_expect_l2(env, f, len, "URG segment");
    env_settle(env, 3);
    g_assert_cmpuint(retrieve_of(env, &c)->a, ==,
                     CHIMNEY_UPLOAD_URGENT_DATA);
    conn_peer_seg(env, &c, &s, "after", 5);
    len = seg_build(&s, f);
    env_expect_l2(env, f, len, "segment after the upload request");

    conn_init4(&d, 1, 2, 1001, 80);
    up(env, &d);
    conn_peer_seg(env, &d, &s, NULL, 0);
    s.flags = CHIMNEY_TH_SYN;
    s.ack = 0;
    len = seg_build(&s, f);
    env_expect_l2(env, f, len, "SYN at RcvNxt");
    env_settle(env, 3);
    g_assert_cmpuint(retrieve_of(env, &d)->a, ==, CHIMNEY_UPLOAD_REQUESTED);
}

/*
 * Rule 130: blind data.  Data outside the window (a guessed sequence
 * number) is answered with an ACK at RcvNxt and not accepted; an ACK
 * beyond SndMax with data is dropped; neither changes the stream.
 */
static void scn_blind_data(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, k;
    uint8_t f[2048], got[4];

    conn_init4(&c, 1, 2, 1000, 80);
    h = up(env, &c);
    g_assert_cmpint(env_dma_alloc(env, 4, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r.dma, 4, h, &k), ==, CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV + 0x20000000u, "evil", 4, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
    peer_data_at(env, &c, RCV, "evil", 4, CHIMNEY_TH_ACK, SND + 100000);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
    g_assert_null(io_find(env, k));
    peer_data_at(env, &c, RCV, "good", 4, CHIMNEY_TH_ACK, SND);
    io_wait(env, k);
    env_dma_read(env, &r, 0, got, 4);
    g_assert_cmpmem(got, 4, "good", 4);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==,
                     0);
    env_dma_free(env, &r);
}

/*
 * Rules 132, 076: PAWS drops a segment with an old timestamp (and ACKs
 * it); the device's timestamps continue the host's clock (TsTime) and
 * echo the peer's latest TSval.
 */
static void scn_paws(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, k;
    uint8_t f[2048];

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_TIMESTAMP);
    c.s.d.ts_recent = GUINT32_TO_LE(5000);
    c.s.d.ts_time = GUINT32_TO_LE(0x40000000);
    h = up(env, &c);
    g_assert_cmpint(env_dma_alloc(env, 8, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r.dma, 8, h, &k), ==, CHIMNEY_ST_SUCCESS);
    c.peer_ts = 4000;                               /* older: PAWS */
    conn_send_data(env, &c, "old!", 4);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
    g_assert_true(rs.ts);
    g_assert_cmpuint(rs.tsecr, ==, 5000);
    g_assert_cmpuint(rs.tsval - 0x40000000u, <, 10000);
    c.peer_seq = RCV;
    c.peer_ts = 6000;
    conn_send_data(env, &c, "new!", 4);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 4);
    g_assert_cmpuint(rs.tsecr, ==, 6000);
    env_dma_free(env, &r);
}

/*
 * Sequence numbers that wrap during a transfer, both directions: the
 * device's send sequence and the peer's cross 2^32.
 */
static void scn_seq_wrap(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(4000, 13);
    struct chimney_dma_buf b, r;
    ChimneyTestConn c;
    const uint32_t snd = 0xfffff000u, rcv = 0xfffffc00u;
    uint64_t h, ck, k;
    uint8_t got[4000];
    uint32_t off;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.snd_una = c.s.d.snd_nxt = c.s.d.snd_max = GUINT32_TO_LE(snd);
    c.s.d.rcv_nxt = GUINT32_TO_LE(rcv);
    c.s.d.snd_wl1 = GUINT32_TO_LE(rcv - 1);
    c.peer_seq = rcv;
    h = up(env, &c);
    buf_with(env, &b, data, 4000);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 4000, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, snd, data, 4000, 1460, NULL);
    c.s.d.snd_una = GUINT32_TO_LE(snd + 4000);
    peer_ack(env, &c, snd + 4000, 65535);
    g_assert_cmpuint(io_wait(env, ck)->b, ==, 4000);
    g_assert_cmpint(env_dma_alloc(env, 4000, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r.dma, 4000, h, &k), ==, CHIMNEY_ST_SUCCESS);
    for (off = 0; off < 4000; off += 1000) {
        conn_send_data(env, &c, data + off, 1000);
    }
    g_assert_cmpuint(io_wait(env, k)->b, ==, 4000);
    env_dma_read(env, &r, 0, got, 4000);
    g_assert_cmpmem(got, 4000, data, 4000);
    env_dma_free(env, &b);
    env_dma_free(env, &r);
}

/*
 * Rule 083: EVT_TCP_BACKLOG reports MAX(cwnd, snd_wnd) when it moved by
 * at least one MSS, not more than once per round-trip time.
 */
static void scn_backlog(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    const ChimneyTestRec *e;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.srtt = GUINT16_TO_LE(100 << 3);            /* 100 ticks */
    up(env, &c);
    env->clock_step(env, 150 * CHIMNEY_TEST_NS_PER_MS);
    peer_ack(env, &c, SND, 65535);                  /* no change */
    env_settle(env, 3);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_BACKLOG), ==,
                     0);
    peer_ack(env, &c, SND, 40000);                  /* -25535 */
    env_settle(env, 3);
    e = env_find_rec(env, 'T', CHIMNEY_EVT_TCP_BACKLOG,
                     c.t->b.ndis_offload_handle);
    g_assert_nonnull(e);
    g_assert_cmpuint(e->a, ==, 40000);
    /* within one RTT: no second event */
    peer_ack(env, &c, SND, 20000);
    env_settle(env, 3);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_BACKLOG), ==,
                     1);
}

/*
 * Rules 121, 122, 050: clearing CTRL_OFFLOAD_EN posts PAUSE and
 * UPLOAD_ALL; the connection keeps running (its data is still ACKed),
 * new data requests complete with UPLOAD_IN_PROGRESS.
 */
static void scn_upload_all(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h;
    uint8_t f[2048];
    uint32_t ctrl;

    conn_init4(&c, 1, 2, 1000, 80);
    h = up(env, &c);
    ctrl = env->reg_read(env, CHIMNEY_REG_CTRL);
    env->reg_write(env, CHIMNEY_REG_CTRL, ctrl & ~CHIMNEY_CTRL_OFFLOAD_EN);
    env_settle(env, 3);
    g_assert_cmpuint(env_count_recs(env, 'S', 0), >=, 2);
    conn_send_data(env, &c, "still", 5);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 5);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, 0, 0, h, NULL), ==,
                    CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    env->reg_write(env, CHIMNEY_REG_CTRL, ctrl);
    env_settle(env, 3);
}

/*
 * A bulk transfer from the device to a lossy, reordering, duplicating
 * peer: every 5th data segment is lost once, ACKs are cumulative; the
 * peer receives the stream intact and every SEND completes.
 */
static void scn_bulk_send_lossy(ChimneyTestEnv *env)
{
    enum { TOTAL = 96 * 1024, REQ = 8192 };
    g_autofree uint8_t *data = io_pattern(TOTAL, 14);
    g_autofree uint8_t *got = g_malloc0(TOTAL);
    g_autofree uint8_t *have = g_malloc0(TOTAL);
    g_autoptr(GHashTable) lost = g_hash_table_new(NULL, NULL);
    struct chimney_dma_buf b;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, ck[TOTAL / REQ];
    uint32_t nxt = SND, i, n = 0, iter;
    uint8_t f[2048];

    conn_init4(&c, 1, 2, 1000, 80);
    h = up(env, &c);
    buf_with(env, &b, data, TOTAL);
    for (i = 0; i < TOTAL / REQ; i++) {
        g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma + i * REQ, REQ,
                               h, &ck[i]), ==, CHIMNEY_ST_SUCCESS);
    }
    for (iter = 0; iter < 20000 && nxt != SND + TOTAL; iter++) {
        size_t len = env->wire_take(env, f, sizeof(f));

        if (!len) {
            /* nothing more arrives: let the retransmission timer run */
            env->clock_step(env, 100 * CHIMNEY_TEST_NS_PER_MS);
            continue;
        }
        g_assert_true(seg_parse(f, len, &rs));
        if (!rs.plen) {
            continue;
        }
        n++;
        if (n % 5 == 0 &&
            !g_hash_table_contains(lost, GUINT_TO_POINTER(rs.seq))) {
            g_hash_table_add(lost, GUINT_TO_POINTER(rs.seq));
            continue;                           /* lost on the wire */
        }
        g_assert_cmpuint(rs.seq - SND + rs.plen, <=, TOTAL);
        g_assert_cmpmem(rs.payload, rs.plen, data + (rs.seq - SND), rs.plen);
        memcpy(got + (rs.seq - SND), rs.payload, rs.plen);
        memset(have + (rs.seq - SND), 1, rs.plen);
        while (nxt != SND + TOTAL && have[nxt - SND]) {
            nxt++;
        }
        peer_ack(env, &c, nxt, 65535);
        if (n % 7 == 0) {
            peer_ack(env, &c, nxt, 65535);      /* a duplicate ACK */
        }
    }
    g_assert_cmpuint(nxt, ==, SND + TOTAL);
    g_assert_cmpmem(got, TOTAL, data, TOTAL);
    for (i = 0; i < TOTAL / REQ; i++) {
        const ChimneyTestRec *r = io_wait(env, ck[i]);

        g_assert_cmphex(r->a, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(r->b, ==, REQ);
    }
    env_dma_free(env, &b);
}

/*
 * A bulk transfer from a peer to the device with loss, reordering,
 * duplication and corruption: the peer sends segments pairwise swapped,
 * drops some, sends some twice, precedes some with a copy whose bytes and
 * checksum are wrong (it goes up the L2 path, never into the stream), and
 * resends from the device's ACK when it stops moving; the posted requests
 * receive the stream intact.
 */
static void scn_bulk_recv_lossy(ChimneyTestEnv *env)
{
    enum { TOTAL = 64 * 1024, SEG = 1000, REQ = 16384 };
    g_autofree uint8_t *data = io_pattern(TOTAL, 15);
    struct chimney_dma_buf r[TOTAL / REQ];
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, k[TOTAL / REQ];
    uint32_t acked = RCV, i, round;
    uint8_t f[2048], got[REQ];

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.rcv_wnd = GUINT32_TO_LE(65535);
    h = up(env, &c);
    for (i = 0; i < TOTAL / REQ; i++) {
        g_assert_cmpint(env_dma_alloc(env, REQ, &r[i]), ==, 0);
        g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST,
                               CHIMNEY_RECVF_NO_PUSH, r[i].dma, REQ, h, &k[i]),
                        ==, CHIMNEY_ST_SUCCESS);
    }
    for (round = 0; round < 200 && acked != RCV + TOTAL; round++) {
        uint32_t segs[16], ns = 0, j, s;
        size_t len;

        /* one window's worth from the last ACK, pairs swapped */
        for (s = acked; s != RCV + TOTAL && ns < 16;
             s += MIN(SEG, RCV + TOTAL - s)) {
            segs[ns++] = s;
        }
        for (j = 0; j < ns; j += 2) {
            uint32_t order[2] = { j + 1 < ns ? segs[j + 1] : segs[j],
                                  segs[j] };
            unsigned m, cnt = j + 1 < ns ? 2 : 1;

            for (m = 2 - cnt; m < 2; m++) {
                uint32_t seq = order[m], ix = (seq - RCV) / SEG;
                uint32_t l = MIN(SEG, RCV + TOTAL - seq);

                if ((ix + round) % 9 == 4) {
                    continue;                       /* lost */
                }
                if (ix % 13 == 5) {
                    /* a corrupted copy first: up the L2 path, unused */
                    ChimneyTestSeg cs;
                    g_autofree uint8_t *bad = g_memdup2(data + (seq - RCV),
                                                        l);
                    size_t fl;

                    bad[0] ^= 0xff;
                    conn_peer_seg(env, &c, &cs, bad, l);
                    cs.seq = seq;
                    cs.flags = CHIMNEY_TH_ACK;
                    cs.ack = SND;
                    cs.bad_tcp_csum = true;
                    fl = seg_build(&cs, f);
                    env->wire_inject(env, f, fl);
                    g_assert_cmpuint(env->l2_take(env, f, sizeof(f)), ==,
                                     fl);
                }
                peer_data_at(env, &c, seq, data + (seq - RCV), l,
                             CHIMNEY_TH_ACK, SND);
                if (ix % 11 == 0) {
                    peer_data_at(env, &c, seq, data + (seq - RCV), l,
                                 CHIMNEY_TH_ACK, SND);  /* duplicated */
                }
            }
        }
        /* what the device acknowledged */
        env->clock_step(env, 250 * CHIMNEY_TEST_NS_PER_MS);
        while ((len = env->wire_take(env, f, sizeof(f)))) {
            g_assert_true(seg_parse(f, len, &rs));
            if (seq_after(rs.ack, acked)) {
                acked = rs.ack;
            }
        }
    }
    g_assert_cmpuint(acked, ==, RCV + TOTAL);
    for (i = 0; i < TOTAL / REQ; i++) {
        const ChimneyTestRec *d = io_wait(env, k[i]);

        g_assert_cmphex(d->a, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(d->b, ==, REQ);
        env_dma_read(env, &r[i], 0, got, REQ);
        g_assert_cmpmem(got, REQ, data + i * REQ, REQ);
        env_dma_free(env, &r[i]);
    }
}

/*
 * SACK (TCP_CONST_SACK, CAP_SACK): data held out of order is reported in
 * SACK blocks of the duplicate ACKs, the latest block first; as sender the
 * device resends the holes the peer's SACK blocks show, one per duplicate
 * ACK, without waiting for partial acknowledgments; data the peer only
 * SACKed still counts as unacknowledged (rule 049).
 */
static void scn_sack(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(6 * 1460, 16);
    struct chimney_dma_buf b;
    ChimneyTestConn c, d;
    ChimneyTestRxSeg rs;
    ChimneyTestSeg s;
    uint64_t h, ck;
    uint8_t f[2048];
    const uint8_t *o;
    size_t len;
    unsigned i;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_SACK);
    h = up(env, &c);
    /* receiver: two ranges held, the latest first */
    peer_data_at(env, &c, RCV + 100, "BBBB", 4, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    peer_data_at(env, &c, RCV + 200, "CCCC", 4, CHIMNEY_TH_ACK, SND);
    len = env_wire_recv(env, f, sizeof(f));
    g_assert_true(seg_parse(f, len, &rs));
    g_assert_cmpuint(rs.ack, ==, RCV);
    o = f + rs.l4_off + 20;
    g_assert_cmpuint((f[rs.l4_off + 12] >> 4) * 4, ==, 20 + 4 + 16);
    g_assert_cmphex(o[2], ==, 5);
    g_assert_cmpuint(o[3], ==, 18);
    g_assert_cmpuint(chimney_test_ld32(o + 4), ==, RCV + 200);
    g_assert_cmpuint(chimney_test_ld32(o + 8), ==, RCV + 204);
    g_assert_cmpuint(chimney_test_ld32(o + 12), ==, RCV + 100);
    g_assert_cmpuint(chimney_test_ld32(o + 16), ==, RCV + 104);

    /* sender: segments 0 and 2 of 6 lost; the peer SACKs the rest */
    conn_init4(&d, 1, 2, 1001, 80);
    d.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_SACK);
    h = up(env, &d);
    buf_with(env, &b, data, 6 * 1460);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 6 * 1460, h,
                           &ck), ==, CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &d, SND, data, 6 * 1460, 1460, NULL);
    for (i = 0; i < 4; i++) {
        conn_peer_seg(env, &d, &s, NULL, 0);
        s.flags = CHIMNEY_TH_ACK;
        s.ack = SND;
        /* a reading receiver: the window grows on every ACK (RFC 6675) */
        s.win = 60000 + i * 1000;
        /* one duplicate per arriving segment: 1, then 3, 4 and 5 */
        s.nsack = i ? 2 : 1;
        s.sack[0][0] = SND + 1460;
        s.sack[0][1] = SND + 2 * 1460;
        s.sack[1][0] = SND + 3 * 1460;
        s.sack[1][1] = SND + (3 + i) * 1460;
        env->wire_inject(env, f, seg_build(&s, f));
    }
    /* the 3rd duplicate: segment 0; the 4th: segment 2 (the next hole) */
    peer_recv(env, &d, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.seq, ==, SND);
    g_assert_cmpuint(rs.plen, ==, 1460);
    peer_recv(env, &d, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.seq, ==, SND + 2 * 1460);
    g_assert_cmpuint(rs.plen, ==, 1460);
    g_assert_cmpmem(rs.payload, 1460, data + 2 * 1460, 1460);
    g_assert_null(io_find(env, ck));
    peer_ack(env, &d, SND + 6 * 1460, 65535);
    g_assert_cmpuint(io_wait(env, ck)->b, ==, 6 * 1460);
    env_dma_free(env, &b);
    /* rule 049: data only SACKed (held out of order) is not handed back */
    {
        ChimneyTestHBlk *term;
        struct chimney_dma_buf rd;

        g_assert_cmpint(env_dma_alloc(env, 64, &rd), ==, 0);
        term = hb_term_tcp(&env->hb, c.t->slot, NULL, 0, &rd, 64);
        env_run_ok(env, OP_TERMINATE, term);
        g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len),
                         ==, 0);
        g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_nxt), ==,
                         RCV);
        env_dma_free(env, &rd);
    }
}

/*
 * Rule 130 (RFC 5961 7): answers to segments that change nothing are
 * rate-limited, so a peer that acknowledges data the device never sent
 * cannot start an endless ACK exchange; data segments are still
 * answered (window probes need it).
 */
static void scn_oow_ack_rate_limit(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint8_t f[2048];
    unsigned i;

    conn_init4(&c, 1, 2, 1000, 80);
    up(env, &c);
    for (i = 0; i < 5; i++) {
        peer_ack(env, &c, SND + 2900, 8192);        /* beyond SndMax */
    }
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
    g_assert_true(env->wire_quiet(env));            /* one answer only */
    /* out-of-window data is answered every time */
    peer_data_at(env, &c, RCV + 0x20000000u, "x", 1, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    peer_data_at(env, &c, RCV + 0x20000000u, "x", 1, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    /* after the interval, the next one is answered again */
    env->clock_step(env, 600 * CHIMNEY_TEST_NS_PER_MS);
    peer_ack(env, &c, SND + 2900, 8192);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
}

const ChimneyScenario chimney_scenarios_tcp[] = {
    { "rule-130-out-of-window-ack-rate-limit", scn_oow_ack_rate_limit },
    { "rule-049-sack-blocks-and-recovery", scn_sack },
    { "rule-128-fast-retransmit", scn_fast_retransmit },
    { "rule-040-129-delayed-ack", scn_delayed_ack },
    { "rule-126-127-fin-wait-2-time-wait", scn_fin_wait_2 },
    { "rule-101-102-106-disconnect-receive-closed", scn_disc_rcv_closed },
    { "rule-114-115-urgent-syn-upload", scn_urg_syn },
    { "rule-130-blind-data", scn_blind_data },
    { "rule-076-132-paws-timestamps", scn_paws },
    { "rule-131-sequence-wrap", scn_seq_wrap },
    { "rule-083-send-backlog-event", scn_backlog },
    { "rule-050-121-122-upload-all", scn_upload_all },
    { "rule-068-124-128-bulk-send-lossy", scn_bulk_send_lossy },
    { "rule-097-099-bulk-receive-lossy", scn_bulk_recv_lossy },
    { NULL, NULL },
};
