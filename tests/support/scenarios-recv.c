/*
 * chimney-nic scenarios: delivering received data on an offloaded
 * connection (spec "RECV_POST", "Receive indications", "Delivery
 * algorithm", "Receive window", "FORWARD"): posted requests in push and
 * non-push mode, lists (RECVF_SGL) and RECVF_HOLD, reassembly,
 * indications through the IND ring and their suppression, the window
 * update, data handed over at INITIATE and zero-length requests, no L2
 * RX ring, and FORWARD.  Each scenario runs over the fake host and over
 * QEMU (tests/support/README.md).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "chimney-scenarios.h"
#include "chimney-test-io.h"

/* Bytes the device holds for the connection (QUERY rcv_backlog_size). */
static uint32_t chimney_rcvbuf_query(ChimneyTestEnv *env, ChimneyTestConn *c)
{
    ChimneyTestTcpState q;

    g_assert_cmphex(env_query_tcp(env, c->t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    return GUINT32_FROM_LE(q.d.rcv_backlog_size);
}

/*
 * Rules 085, 087, 088: posted requests take data in order; a push-mode
 * request
 * completes partially filled when a PSH segment's data went into it or
 * the push timer expires, a non-push request only when full.
 */
static void scn_recv_push(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r1, r2, r3;
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), k1, k2, k3;
    uint8_t got[100];

    g_assert_cmpint(env_dma_alloc(env, 100, &r1), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 10, &r2), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 100, &r3), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r1.dma, 100, h,
                           &k1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r2.dma, 10, h, &k2), ==, CHIMNEY_ST_SUCCESS);
    /* 30 bytes without PSH: the request stays */
    peer_data_at(env, &c, RCV, "abcdefghijklmnopqrstuvwxyz0123", 30,
                 CHIMNEY_TH_ACK, SND);
    env_settle(env, 3);
    g_assert_null(io_find(env, k1));
    /* 20 more with PSH: completes with 50 */
    peer_data_at(env, &c, RCV + 30, "ABCDEFGHIJKLMNOPQRST", 20,
                 CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, SND);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 50);
    env_dma_read(env, &r1, 0, got, 50);
    g_assert_cmpmem(got, 50,
                    "abcdefghijklmnopqrstuvwxyz0123ABCDEFGHIJKLMNOPQRST", 50);
    /* non-push: PSH does not complete it, being full does */
    peer_data_at(env, &c, RCV + 50, "1234", 4,
                 CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, SND);
    env_settle(env, 3);
    g_assert_null(io_find(env, k2));
    peer_data_at(env, &c, RCV + 54, "567890", 6, CHIMNEY_TH_ACK, SND);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 10);
    env_dma_read(env, &r2, 0, got, 10);
    g_assert_cmpmem(got, 10, "1234567890", 10);
    /* the push timer (push_ticks 500) completes a partial request */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r3.dma, 100, h,
                           &k3), ==, CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV + 60, "xy", 2, CHIMNEY_TH_ACK, SND);
    env_settle(env, 3);
    g_assert_null(io_find(env, k3));
    env->clock_step(env, 600 * CHIMNEY_TEST_NS_PER_MS);
    check_done(env, k3, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 2);
    env_dma_free(env, &r1);
    env_dma_free(env, &r2);
    env_dma_free(env, &r3);
}

/*
 * Rules 097, 099 (reassembly): a segment beyond a hole is held and
 * answered with a
 * duplicate ACK at once; when the hole is filled, the ACK covers both
 * and the data is delivered in order.
 */
static void scn_reassembly(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(300, 4);
    struct chimney_dma_buf r;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), k;
    uint8_t f[2048], got[300];

    g_assert_cmpint(env_dma_alloc(env, 300, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r.dma, 300, h, &k), ==, CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV + 100, data + 100, 100, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);              /* duplicate ACK */
    /* a duplicate of the held data changes nothing */
    peer_data_at(env, &c, RCV + 150, data + 150, 50, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
    peer_data_at(env, &c, RCV, data, 100, CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 200);        /* hole filled */
    g_assert_null(io_find(env, k));
    /* overlapping the delivered part and the rest */
    peer_data_at(env, &c, RCV + 180, data + 180, 120, CHIMNEY_TH_ACK, SND);
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 300);
    env_dma_read(env, &r, 0, got, 300);
    g_assert_cmpmem(got, 300, data, 300);
    env_dma_free(env, &r);
}

/* Rule 116: a FORWARDed segment is processed as if it had arrived. */
static void scn_forward(ChimneyTestEnv *env)
{
    struct chimney_dma_buf s, r;
    ChimneyTestConn c;
    ChimneyTestSeg seg;
    uint64_t h = conn_up(env, &c, 1000), k, kf;
    uint8_t frame[256], got[5];
    size_t fl;

    conn_peer_seg(env, &c, &seg, "hello", 5);
    fl = seg_build(&seg, frame);
    /* the TCP header on, the IP header off */
    buf_with(env, &s, frame + conn_l4_off(&c), fl - conn_l4_off(&c));
    g_assert_cmpint(env_dma_alloc(env, 5, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 5, h, &k), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_FORWARD, 0, s.dma, 19, h, NULL),
                    ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_FORWARD, 0, s.dma,
                           fl - conn_l4_off(&c), h, &kf), ==,
                    CHIMNEY_ST_SUCCESS);
    check_done(env, kf, CHIMNEY_EVT_FORWARD_DONE, CHIMNEY_ST_SUCCESS, 0);
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 5);
    env_dma_read(env, &r, 0, got, 5);
    g_assert_cmpmem(got, 5, "hello", 5);
    env_dma_free(env, &s);
    env_dma_free(env, &r);
}

/*
 * Rules 093, 098: with no request posted, received data is indicated
 * through the IND ring (several buffers for one indication, in order,
 * never more than rcv_indication_size), and the consumed data opens the
 * window again.
 */
static void scn_indicate(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(1000, 9);
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint8_t f[2048];

    /* 15 posted buffers of 128 bytes hold both indications at once */
    env_ind_start(env, 16, 128);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.k.rcv_indication_size = GUINT32_TO_LE(600);
    conn_offload(env, &c);
    conn_send_data(env, &c, data, 1000);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 1000);
    env_settle(env, 5);
    /* 600 then 400: rcv_indication_size bounds one indication */
    g_assert_cmpuint(ind_count(env), ==, 2);
    g_assert_cmpuint(env_find_rec(env, 'D', CHIMNEY_EVT_RECV_INDICATE,
                                  c.t->b.ndis_offload_handle)->a, ==, 600);
    g_assert_cmpuint(env_find_rec(env, 'D', CHIMNEY_EVT_RECV_INDICATE,
                                  c.t->b.ndis_offload_handle)->b, ==, 5);
    g_assert_cmpmem(env->ind_data->data, env->ind_data->len, data, 1000);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, 0);
}

/*
 * Rule 094: an indication only partly accepted keeps the rest
 * buffered and stops indications until a RECV_POST is consumed, which
 * then gets the unconsumed data first, in order.
 */
static void scn_indicate_partial(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(300, 10);
    struct chimney_dma_buf r;
    ChimneyTestConn c;
    uint64_t h, k;
    uint8_t got[290];

    env_ind_start(env, 16, 512);
    h = conn_up(env, &c, 1000);
    env->ind_accept = 10;
    conn_send_data(env, &c, data, 100);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 1);
    env->ind_accept = -1;
    /* suppressed: more data is buffered, not indicated */
    conn_send_data(env, &c, data + 100, 200);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 1);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, 290);
    g_assert_cmpint(env_dma_alloc(env, 290, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 290, h, &k),
                    ==, CHIMNEY_ST_SUCCESS);
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 290);
    env_dma_read(env, &r, 0, got, 290);
    g_assert_cmpmem(env->ind_data->data, 10, data, 10);
    g_assert_cmpmem(got, 290, data + 10, 290);
    env_dma_free(env, &r);
}

/*
 * Receive window update (spec "Receive window", RFC 9293 3.8.6.2.2): the
 * window the host's consumption reopens is advertised at once, measured
 * from the window the last segment advertised, whichever way the host
 * consumes (here IND_DONEs after the window closed while indications were
 * suppressed): a peer facing a closed window must not wait for its
 * persist timer.
 */
static void scn_window_update(ChimneyTestEnv *env)
{
    const uint32_t total = 60000;
    g_autofree uint8_t *data = io_pattern(total, 11);
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, k;
    uint32_t off, n, i;
    uint8_t f[2048];

    env_ind_start(env, 64, 2048);
    h = conn_up(env, &c, 1000);
    env->ind_accept = 0;        /* the host takes nothing: suppressed */
    for (off = 0; off < total; off += n) {
        n = MIN(1460, total - off);
        conn_send_data(env, &c, data + off, n);
    }
    for (i = 0, rs.ack = 0; i < 100 && rs.ack != RCV + total; i++) {
        peer_recv(env, &c, &rs, f, sizeof(f));
    }
    g_assert_cmpuint(rs.ack, ==, RCV + total);
    g_assert_cmpuint(rs.win, ==, CHIMNEY_TEST_WND - total);
    env_settle(env, 5);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, total);

    /* a zero-length RECV_POST re-enables indications; all is taken */
    env->ind_accept = -1;
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, 0, 0, h, &k), ==,
                    CHIMNEY_ST_SUCCESS);
    env_settle(env, 5);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, 0);
    /* the window update, with nothing more from the peer */
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + total);
    g_assert_cmpuint(rs.win, >=, CHIMNEY_TEST_WND / 2);
}

/*
 * The receive buffer grows by use (spec "Memory budget"): a connection
 * handed a 512 KiB window advertises at most CHIMNEY_RCV_BUF_INITIAL
 * while the host has consumed nothing, and the whole CAP_RCV_BUF once the
 * host has consumed about 192 KiB; the window never exceeds its rcv_wnd.
 */
static void scn_rcvbuf_grows_by_use(ChimneyTestEnv *env)
{
    enum { SEG = 1000, NSEG = 200, WSCALE = 4 };
    const uint32_t wnd = 512 * 1024, total = SEG + NSEG * SEG;
    g_autofree uint8_t *data = io_pattern(total + 100, 13);
    g_autofree uint8_t *got = g_malloc(total);
    struct chimney_dma_buf r;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h, k;
    uint32_t i, n;
    uint8_t f[2048];

    g_assert_cmpuint(env->reg_read(env, CHIMNEY_REG_CAP_RCV_BUF), ==,
                     CHIMNEY_RCV_BUF);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_WSCALE);
    c.s.c.rcv_wind_scale = WSCALE;
    c.s.c.snd_wind_scale = WSCALE;
    c.s.d.rcv_wnd = GUINT32_TO_LE(wnd);
    c.s.k.initial_rcv_wnd = GUINT32_TO_LE(wnd);
    conn_offload(env, &c);
    h = c.t->slot;

    /* nothing consumed yet: the initial reservation bounds the window */
    peer_data_at(env, &c, RCV, data, SEG, CHIMNEY_TH_ACK, SND);
    env->clock_step(env, 300 * CHIMNEY_TEST_NS_PER_MS);     /* delayed ACK */
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + SEG);
    g_assert_cmpuint(rs.win, ==, (CHIMNEY_RCV_BUF_INITIAL - SEG) >> WSCALE);

    /* the host reads everything as it comes */
    g_assert_cmpint(env_dma_alloc(env, total, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r.dma, total, h, &k), ==, CHIMNEY_ST_SUCCESS);
    for (i = 0; i < NSEG; i++) {
        peer_data_at(env, &c, RCV + SEG + i * SEG, data + SEG + i * SEG, SEG,
                     CHIMNEY_TH_ACK, SND);
    }
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, total);
    env_dma_read(env, &r, 0, got, total);
    g_assert_cmpmem(got, total, data, total);

    /* 100 more bytes, unread: the whole buffer is the bound now */
    peer_data_at(env, &c, RCV + total, data + total, 100,
                 CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, SND);
    env->clock_step(env, 300 * CHIMNEY_TEST_NS_PER_MS);
    for (n = 0, rs.ack = 0; n < 2 * NSEG && rs.ack != RCV + total + 100;
         n++) {
        peer_recv(env, &c, &rs, f, sizeof(f));
    }
    g_assert_cmpuint(rs.ack, ==, RCV + total + 100);
    g_assert_cmpuint(rs.win, ==, (CHIMNEY_RCV_BUF - 100) >> WSCALE);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, 100);
    env_dma_free(env, &r);
}

/*
 * Rule 086 and the "never behind the L2 ring": posted requests
 * take data before any indication, and an offloaded connection is served
 * while the L2 RX ring is disabled.
 */
static void scn_no_l2_ring(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), k;
    uint32_t ctrl = CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_CTRL);
    uint8_t f[2048];

    env_ind_start(env, 16, 512);
    g_assert_cmpint(env_dma_alloc(env, 8, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 8, h, &k), ==,
                    CHIMNEY_ST_SUCCESS);
    env->reg_write(env, ctrl, 0);
    conn_send_data(env, &c, "12345678", 8);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 8);
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 8);
    g_assert_cmpuint(ind_count(env), ==, 0);
    conn_send_data(env, &c, "abc", 3);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 11);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 1);
    env->reg_write(env, ctrl, CHIMNEY_RING_CTRL_ENABLE);
    env_dma_free(env, &r);
}

/*
 * Rule 092 and "buffered data first": data handed over at INITIATE
 * is delivered before what arrives later; a zero-length request
 * completes as soon as it reaches the head of the queue (with 0) and
 * re-enables indications after a partial one.
 */
static void scn_initial_data_zero_len(ChimneyTestEnv *env)
{
    struct chimney_dma_buf rdi, r1, r2;
    ChimneyTestConn c;
    uint64_t h, k0, k1, k2;
    uint8_t got[12];

    env_fill_buf(env, &rdi, 6, 0x30);
    conn_init4(&c, 1, 2, 1000, 80);
    c.s.d.rcv_data_addr = GUINT64_TO_LE(rdi.dma);
    c.s.d.rcv_data_len = GUINT32_TO_LE(6);
    conn_offload(env, &c);
    h = c.t->slot;
    conn_send_data(env, &c, "ABCDEF", 6);
    env_settle(env, 3);
    g_assert_cmpint(env_dma_alloc(env, 12, &r1), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 4, &r2), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, 0, 0, h, &k0), ==,
                    CHIMNEY_ST_SUCCESS);
    check_done(env, k0, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r1.dma, 12, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 12);
    env_dma_read(env, &r1, 0, got, 12);
    {
        g_autofree uint8_t *hand = env_buf_bytes(env, &rdi);

        g_assert_cmpmem(got, 6, hand, 6);
    }
    g_assert_cmpmem(got + 6, 6, "ABCDEF", 6);
    /* a zero-length request behind a data request waits its turn */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
                           r2.dma, 4, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, 0, 0, h, &k2), ==,
                    CHIMNEY_ST_SUCCESS);
    env_settle(env, 3);
    g_assert_null(io_find(env, k2));
    conn_send_data(env, &c, "wxyz", 4);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 4);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 0);
    g_assert_true(io_find(env, k1) < io_find(env, k2));
    env_dma_free(env, &rdi);
    env_dma_free(env, &r1);
    env_dma_free(env, &r2);
}

/*
 * RECV_POST with a list (RECVF_SGL, spec "RECV_POST"): the data fills the
 * pieces in list order, whether it arrives after the post (placed as it
 * comes) or was buffered before it; push mode completes a partly filled
 * list at PSH, non-push mode only when every piece is full; RECV_DONE's
 * info is the bytes placed in all pieces.
 */
static void scn_recv_sgl_pieces(ChimneyTestEnv *env)
{
    static const uint32_t lens[3] = { 7, 100, 50 }, lens2[2] = { 3, 9 };
    g_autofree uint8_t *data = io_pattern(300, 11);
    struct chimney_dma_buf p[3], p2[2], l1, l2;
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), k1, k2;
    uint8_t got[100];
    unsigned i;

    for (i = 0; i < 3; i++) {
        g_assert_cmpint(env_dma_alloc(env, lens[i], &p[i]), ==, 0);
    }
    for (i = 0; i < 2; i++) {
        g_assert_cmpint(env_dma_alloc(env, lens2[i], &p2[i]), ==, 0);
    }
    sgl_with(env, &l1, p, lens, 3);
    sgl_with(env, &l2, p2, lens2, 2);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           l1.dma, 3, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    /* 30 bytes without PSH cross the first piece: the request stays */
    peer_data_at(env, &c, RCV, data, 30, CHIMNEY_TH_ACK, SND);
    env_settle(env, 3);
    g_assert_null(io_find(env, k1));
    /* 100 more with PSH: completes with 130 spread over the pieces */
    peer_data_at(env, &c, RCV + 30, data + 30, 100,
                 CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, SND);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 130);
    env_dma_read(env, &p[0], 0, got, 7);
    g_assert_cmpmem(got, 7, data, 7);
    env_dma_read(env, &p[1], 0, got, 100);
    g_assert_cmpmem(got, 100, data + 7, 100);
    env_dma_read(env, &p[2], 0, got, 23);
    g_assert_cmpmem(got, 23, data + 107, 23);
    /* buffered before the post, non-push: full only, PSH ignored */
    peer_data_at(env, &c, RCV + 130, data + 130, 5,
                 CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, SND);
    env_settle(env, 3);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST,
                           CHIMNEY_RECVF_SGL | CHIMNEY_RECVF_NO_PUSH,
                           l2.dma, 2, h, &k2), ==, CHIMNEY_ST_SUCCESS);
    env_settle(env, 3);
    g_assert_null(io_find(env, k2));
    peer_data_at(env, &c, RCV + 135, data + 135, 7, CHIMNEY_TH_ACK, SND);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 12);
    env_dma_read(env, &p2[0], 0, got, 3);
    g_assert_cmpmem(got, 3, data + 130, 3);
    env_dma_read(env, &p2[1], 0, got, 9);
    g_assert_cmpmem(got, 9, data + 133, 9);
    for (i = 0; i < 3; i++) {
        env_dma_free(env, &p[i]);
    }
    for (i = 0; i < 2; i++) {
        env_dma_free(env, &p2[i]);
    }
    env_dma_free(env, &l1);
    env_dma_free(env, &l2);
}

/*
 * RECV_POST "Hold" (CAP_RECV_HOLD): once a RECVF_HOLD request completes,
 * the data after it waits in the device for the next request instead of
 * being indicated; a zero-length RECV_POST without the flag lets
 * indications resume, and so does RECV_FLUSH.  Without the flag the same
 * sequence indicates the rest (spec "Delivery algorithm").
 */
static void scn_recv_hold(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(300, 14);
    struct chimney_dma_buf r1, r2;
    ChimneyTestConn c;
    uint64_t h, k1, k2, k0;
    uint8_t got[100];

    env_ind_start(env, 16, 512);
    h = conn_up(env, &c, 1000);
    g_assert_cmpint(env_dma_alloc(env, 100, &r1), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 50, &r2), ==, 0);

    /* 150 bytes for a 100-byte request: the 50 after it are held */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_HOLD,
                           r1.dma, 100, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(env, &c, data, 150);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 100);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 0);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, 50);
    /* the next request takes them at once; held again after it */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_HOLD,
                           r2.dma, 50, h, &k2), ==, CHIMNEY_ST_SUCCESS);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 50);
    env_dma_read(env, &r1, 0, got, 100);
    g_assert_cmpmem(got, 100, data, 100);
    env_dma_read(env, &r2, 0, got, 50);
    g_assert_cmpmem(got, 50, data + 100, 50);
    conn_send_data(env, &c, data + 150, 30);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 0);
    g_assert_cmpuint(chimney_rcvbuf_query(env, &c), ==, 30);

    /* a zero-length request resumes indications: the 30 are indicated */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, 0, 0, h, &k0), ==,
                    CHIMNEY_ST_SUCCESS);
    check_done(env, k0, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 0);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 1);
    g_assert_cmpmem(env->ind_data->data, env->ind_data->len, data + 150, 30);

    /* held after a request ended by its PSH; RECV_FLUSH resumes too */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_HOLD,
                           r1.dma, 100, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(env, &c, data + 180, 40);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 40);
    conn_send_data(env, &c, data + 220, 20);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 1);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_FLUSH, 0, 0, 0, h, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 2);
    g_assert_cmpmem(env->ind_data->data + 30, env->ind_data->len - 30,
                    data + 220, 20);

    /* without the flag the data after a full request is indicated */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r2.dma, 50, h,
                           &k2), ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(env, &c, data + 240, 60);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 50);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 3);
    g_assert_cmpmem(env->ind_data->data + 50, env->ind_data->len - 50,
                    data + 290, 10);
    env_dma_free(env, &r1);
    env_dma_free(env, &r2);
}

const ChimneyScenario chimney_scenarios_recv[] = {
    { "rule-092-initial-data-first-zero-length", scn_initial_data_zero_len },
    { "rule-093-098-indicate-ind-ring", scn_indicate },
    { "rule-094-indicate-partial-suppresses", scn_indicate_partial },
    { "receive-window-update-after-consumption", scn_window_update },
    { "receive-buffer-grows-by-use", scn_rcvbuf_grows_by_use },
    { "rule-086-posted-first-no-l2-ring", scn_no_l2_ring },
    { "rule-085-087-088-recv-post-push", scn_recv_push },
    { "rule-097-099-reassembly-in-order", scn_reassembly },
    { "rule-116-forward", scn_forward },
    { "recv-sgl-pieces-in-order", scn_recv_sgl_pieces },
    { "recv-hold-data-waits-for-next-request", scn_recv_hold },
    { NULL, NULL },
};
