/*
 * chimney-nic scenarios: the data path of an offloaded connection (spec
 * "Data I/O", "Delivery algorithm", "TCP events", "Offload engine
 * behaviour"): SEND and SEND_DONE, RECV_POST and push, graceful and
 * abortive DISCONNECT, the peer's FIN and RST, retransmission, reassembly,
 * persist, FORWARD and the statistics.  Each scenario runs over the fake
 * host and over QEMU (tests/support/README.md).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

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
 * Rules 069, 070, 073, 079: a SEND is cut into segments of the
 * effective MSS, PSH on the last byte of a SENDF_PUSH request, and
 * SEND_DONE comes only once every byte is acknowledged, with info = len.
 */
static void scn_send_segmented(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(3000, 1);
    struct chimney_dma_buf b;
    ChimneyTestTcpState q;
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), ck;
    uint8_t flags = 0;

    buf_with(env, &b, data, 3000);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, CHIMNEY_SENDF_PUSH, b.dma,
                           3000, h, &ck), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(peer_expect_data(env, &c, SND, data, 3000, 1460,
                                      &flags), ==, 3);
    g_assert_true(flags & CHIMNEY_TH_PSH);
    g_assert_null(io_find(env, ck));
    /* a partial ACK completes nothing (rule 067) */
    peer_ack(env, &c, SND + 1460, 8192);
    env_settle(env, 3);
    g_assert_null(io_find(env, ck));
    peer_ack(env, &c, SND + 3000, 8192);
    check_done(env, ck, CHIMNEY_EVT_SEND_DONE, CHIMNEY_ST_SUCCESS, 3000);
    query_state(env, h, &q);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.snd_una), ==, SND + 3000);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.snd_max), ==, SND + 3000);
    env_dma_free(env, &b);
}

/* Rule 068: requests go out and complete in FIFO order. */
static void scn_send_in_order(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(300, 2);
    struct chimney_dma_buf b;
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), ck[3];
    unsigned i, seen = 0;

    buf_with(env, &b, data, 300);
    for (i = 0; i < 3; i++) {
        g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma + i * 100, 100,
                               h, &ck[i]), ==, CHIMNEY_ST_SUCCESS);
    }
    peer_expect_data(env, &c, SND, data, 300, 1460, NULL);
    peer_ack(env, &c, SND + 300, 8192);
    io_wait(env, ck[2]);
    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec,
                                                 i);

        if (r->kind == 'I') {
            g_assert_cmpuint(r->cookie, ==, ck[seen]);
            g_assert_cmphex(r->a, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(r->b, ==, 100);
            seen++;
        }
    }
    g_assert_cmpuint(seen, ==, 3);
    env_dma_free(env, &b);
}

/*
 * Rule 124: unacknowledged data is sent again when the retransmission
 * timer expires (the same bytes, read again from the request), with
 * backoff; after max_retransmissions the connection asks to be uploaded
 * with TIMEOUT.
 */
static void scn_rexmit_timeout(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(500, 3);
    struct chimney_dma_buf b;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), ck;
    uint8_t f[2048];
    unsigned rexmits = 0, i;

    buf_with(env, &b, data, 500);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 500, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 500, 1460, NULL);
    /* 1 s initial RTO, doubled each time: 1+2+4+8+16+32 s */
    for (i = 0; i < 70 && !io_tcp_events(env, CHIMNEY_EVT_TCP_RETRIEVE);
         i++) {
        env->clock_step(env, 1000 * CHIMNEY_TEST_NS_PER_MS);
        while (env->wire_take(env, f, sizeof(f))) {
            g_assert_true(seg_parse(f, sizeof(f), &rs));
            g_assert_cmpuint(rs.seq, ==, SND);
            g_assert_cmpuint(rs.plen, ==, 500);
            g_assert_cmpmem(rs.payload, 500, data, 500);
            rexmits++;
        }
        env->poll(env);
    }
    g_assert_cmpuint(rexmits, ==, 5);
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_RETRIEVE), ==, 1);
    g_assert_cmpuint(env_find_rec(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE,
                                  c.t->b.ndis_offload_handle)->a, ==,
                     CHIMNEY_UPLOAD_TIMEOUT);
    g_assert_null(io_find(env, ck));
    /* after a mandatory request, I/O is refused */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 1, h, NULL), ==,
                    CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    env_dma_free(env, &b);
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

/*
 * Rules 103, 104, 106: a graceful DISCONNECT sends its final data, then the
 * FIN (here on the same segment); DISC_DONE when the FIN is acknowledged,
 * info = final-data bytes; the send side is closed, reception goes on.
 */
static void scn_disconnect_graceful(ChimneyTestEnv *env)
{
    struct chimney_dma_buf b, r;
    ChimneyTestTcpState q;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), ck, k;
    uint8_t f[2048], flags = 0;

    buf_with(env, &b, "final data", 10);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_GRACEFUL,
                           b.dma, 10, h, &ck), ==, CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, (const uint8_t *)"final data", 10, 1460,
                     &flags);
    g_assert_true(flags & CHIMNEY_TH_FIN);
    g_assert_cmpuint(query_state(env, h, &q), ==, CHIMNEY_TCPS_FIN_WAIT_1);
    g_assert_null(io_find(env, ck));
    /* the data alone acknowledged: not yet */
    peer_ack(env, &c, SND + 10, 8192);
    env_settle(env, 3);
    g_assert_null(io_find(env, ck));
    peer_ack(env, &c, SND + 11, 8192);
    check_done(env, ck, CHIMNEY_EVT_DISC_DONE, CHIMNEY_ST_SUCCESS, 10);
    g_assert_cmpuint(query_state(env, h, &q), ==, CHIMNEY_TCPS_FIN_WAIT_2);
    /* the send side is closed */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 10, h, NULL), ==,
                    CHIMNEY_ST_INVALID_STATE);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT,
                           CHIMNEY_DISC_GRACEFUL, 0, 0, h, NULL), ==,
                    CHIMNEY_ST_INVALID_STATE);
    /* receiving goes on */
    g_assert_cmpint(env_dma_alloc(env, 4, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 4, h, &k), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV, "more", 4, CHIMNEY_TH_ACK, SND + 11);
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 4);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 4);
    g_assert_cmpuint(rs.seq, ==, SND + 11);
    env_dma_free(env, &b);
    env_dma_free(env, &r);
}

/*
 * Rules 101, 102: an abortive DISCONNECT sends an RST, completes the
 * queued SENDs with REQUEST_ABORTED, then itself with SUCCESS; later
 * requests get REQUEST_ABORTED.
 */
static void scn_disconnect_abortive(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(100, 5);
    struct chimney_dma_buf b;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), ck, cd;
    uint8_t f[2048];

    buf_with(env, &b, data, 100);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 100, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 100, 1460, NULL);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_ABORTIVE,
                           0, 0, h, &cd), ==, CHIMNEY_ST_SUCCESS);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_true(rs.flags & CHIMNEY_TH_RST);
    g_assert_cmpuint(rs.seq, ==, SND + 100);
    check_done(env, ck, CHIMNEY_EVT_SEND_DONE, CHIMNEY_ST_REQUEST_ABORTED, 0);
    check_done(env, cd, CHIMNEY_EVT_DISC_DONE, CHIMNEY_ST_SUCCESS, 0);
    g_assert_true(io_find(env, ck) < io_find(env, cd));
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 100, h, NULL), ==,
                    CHIMNEY_ST_REQUEST_ABORTED);
    /* nothing more is acknowledged */
    conn_send_data(env, &c, "late", 4);
    g_assert_true(env->wire_quiet(env));
    env_dma_free(env, &b);
}

/*
 * Rules 091, 107, 110: the peer's FIN is acknowledged, the connection goes to
 * CLOSE_WAIT, EVT_TCP_DISCONNECT comes once all data before it is
 * delivered; the send side stays open and no upload is requested.
 */
static void scn_remote_fin(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r, b;
    ChimneyTestTcpState q;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), k, ck;
    uint8_t f[2048];

    conn_send_data(env, &c, "0123456789", 10);
    env_wire_recv(env, f, sizeof(f));
    conn_send_flags(env, &c, CHIMNEY_TH_FIN | CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV + 11);
    g_assert_cmpuint(query_state(env, h, &q), ==, CHIMNEY_TCPS_CLOSE_WAIT);
    /* 10 bytes still buffered: no TCP_DISCONNECT yet */
    env_settle(env, 3);
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_DISCONNECT), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 64, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 64, h, &k),
                    ==, CHIMNEY_ST_SUCCESS);
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 10);
    env_settle(env, 3);
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_DISCONNECT), ==, 1);
    /* no more data will come: RECV_POST is refused */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 64, h, NULL),
                    ==, CHIMNEY_ST_INVALID_STATE);
    /* rule 110: half-closed, still sending, not uploaded */
    buf_with(env, &b, "reply", 5);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 5, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, (const uint8_t *)"reply", 5, 1460, NULL);
    peer_ack(env, &c, SND + 5, 8192);
    check_done(env, ck, CHIMNEY_EVT_SEND_DONE, CHIMNEY_ST_SUCCESS, 5);
    g_assert_cmpuint(io_tcp_events(env, CHIMNEY_EVT_TCP_RETRIEVE), ==, 0);
    env_dma_free(env, &r);
    env_dma_free(env, &b);
}

/*
 * Rules 108, 130 (RFC 5961): an RST in the window but not at RcvNxt, or a
 * SYN, gets a challenge ACK and changes nothing; an RST outside the window
 * is ignored; an RST at RcvNxt aborts: EVT_TCP_ABORT, then every queued
 * request completes with REQUEST_ABORTED.
 */
static void scn_rst(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r;
    ChimneyTestTcpState q;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), k;
    uint8_t f[2048];
    unsigned i, abort_at = 0, done_at = 0;

    g_assert_cmpint(env_dma_alloc(env, 64, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 64, h, &k),
                    ==, CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV + 100, NULL, 0, CHIMNEY_TH_RST, 0);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);              /* challenge ACK */
    g_assert_false(rs.flags & CHIMNEY_TH_RST);
    /* challenge ACKs are rate-limited (500 ms): let the interval pass */
    env->clock_step(env, 600 * CHIMNEY_TEST_NS_PER_MS);
    peer_data_at(env, &c, RCV + 100, NULL, 0,
                 CHIMNEY_TH_SYN | CHIMNEY_TH_ACK, SND);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.ack, ==, RCV);
    peer_data_at(env, &c, RCV + 0x40000000u, NULL, 0, CHIMNEY_TH_RST, 0);
    g_assert_true(env->wire_quiet(env));
    g_assert_cmpuint(query_state(env, h, &q), ==, CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmpuint(io_tcp_events(env, 0), ==, 0);
    g_assert_null(io_find(env, k));

    peer_data_at(env, &c, RCV, NULL, 0, CHIMNEY_TH_RST, 0);
    io_wait(env, k);
    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *e = &g_array_index(env->recs, ChimneyTestRec, i);

        if (e->kind == 'T' && e->type == CHIMNEY_EVT_TCP_ABORT) {
            abort_at = i + 1;
        }
        if (e->kind == 'I' && e->cookie == k) {
            done_at = i + 1;
            g_assert_cmphex(e->a, ==, CHIMNEY_ST_REQUEST_ABORTED);
        }
    }
    g_assert_cmpuint(abort_at, >, 0);
    g_assert_cmpuint(abort_at, <, done_at);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 64, h, NULL),
                    ==, CHIMNEY_ST_REQUEST_ABORTED);
    env_dma_free(env, &r);
}

/*
 * Rule 125: against a zero window the data waits and the persist timer
 * sends one-byte probes; when the window opens, the rest goes out.
 */
static void scn_persist(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(100, 6);
    struct chimney_dma_buf b;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), ck;
    uint8_t f[2048];

    peer_ack(env, &c, SND, 0);                      /* window closes */
    buf_with(env, &b, data, 100);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 100, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_true(env->wire_quiet(env));
    env->clock_step(env, 1100 * CHIMNEY_TEST_NS_PER_MS);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.seq, ==, SND);
    g_assert_cmpuint(rs.plen, ==, 1);               /* the probe */
    g_assert_cmphex(rs.payload[0], ==, data[0]);
    /* still closed: the next probe comes after twice the interval */
    peer_ack(env, &c, SND, 0);
    env->clock_step(env, 1500 * CHIMNEY_TEST_NS_PER_MS);
    g_assert_true(env->wire_quiet(env));
    env->clock_step(env, 700 * CHIMNEY_TEST_NS_PER_MS);
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.seq, ==, SND);
    g_assert_cmpuint(rs.plen, ==, 1);
    /* the window opens with the probe byte acknowledged */
    peer_ack(env, &c, SND + 1, 8192);
    peer_expect_data(env, &c, SND + 1, data + 1, 99, 1460, NULL);
    peer_ack(env, &c, SND + 100, 8192);
    check_done(env, ck, CHIMNEY_EVT_SEND_DONE, CHIMNEY_ST_SUCCESS, 100);
    env_dma_free(env, &b);
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
 * Rules 133-135: the counters of QUERY_STATS count the offloaded
 * connection's segments; CLEAR_STATS zeroes a set but not the
 * currently_established gauge.
 */
static void scn_stats(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(200, 7);
    struct chimney_dma_buf b, st;
    ChimneyOffloadStats s;
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), ck;
    uint8_t f[2048];

    g_assert_cmpint(env_dma_alloc(env, sizeof(s), &st), ==, 0);
    buf_with(env, &b, data, 200);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_CLEAR_STATS, 0xf, 0, 0, 0, NULL),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 200, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 200, 1460, NULL);
    conn_send_data(env, &c, "abc", 3);
    env_wire_recv(env, f, sizeof(f));
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_QUERY_STATS, 0, st.dma, 215, 0,
                           NULL), ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_QUERY_STATS, 0, st.dma,
                           sizeof(s), 0, NULL), ==, CHIMNEY_ST_SUCCESS);
    env_dma_read(env, &st, 0, &s, sizeof(s));
    g_assert_cmpuint(GUINT32_FROM_LE(s.hdr.length), ==, 216);
    g_assert_cmpuint(GUINT64_FROM_LE(s.tcp4.out_segments), ==, 2);
    g_assert_cmpuint(GUINT64_FROM_LE(s.tcp4.in_segments), ==, 1);
    g_assert_cmpuint(GUINT32_FROM_LE(s.tcp4.currently_established), ==, 1);
    g_assert_cmpuint(GUINT64_FROM_LE(s.ip4.in_receives), ==, 1);
    g_assert_cmpuint(GUINT64_FROM_LE(s.ip4.in_octets), ==, 20 + 20 + 3);
    g_assert_cmpuint(GUINT64_FROM_LE(s.ip4.out_requests), ==, 2);
    g_assert_cmpuint(GUINT64_FROM_LE(s.ip4.out_octets), ==,
                     (20 + 20 + 200) + (20 + 20));
    g_assert_cmpuint(GUINT64_FROM_LE(s.tcp6.out_segments), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_CLEAR_STATS, CHIMNEY_STATS_TCP4,
                           0, 0, 0, NULL), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_QUERY_STATS, 0, st.dma,
                           sizeof(s), 0, NULL), ==, CHIMNEY_ST_SUCCESS);
    env_dma_read(env, &st, 0, &s, sizeof(s));
    g_assert_cmpuint(GUINT64_FROM_LE(s.tcp4.out_segments), ==, 0);
    g_assert_cmpuint(GUINT32_FROM_LE(s.tcp4.currently_established), ==, 1);
    g_assert_cmpuint(GUINT64_FROM_LE(s.ip4.out_requests), ==, 2);
    env_dma_free(env, &b);
    env_dma_free(env, &st);
}

/*
 * Rules 043, 047: TERMINATE hands back the requests still queued (no
 * SEND_DONE for them) and completes posted receives with
 * UPLOAD_IN_PROGRESS; the request buffers are not touched afterwards.
 */
static void scn_terminate_returns_requests(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(100, 8);
    struct chimney_dma_buf b, r, ret, rd;
    ChimneySendBuf back;
    ChimneyTestConn c;
    ChimneyTestHBlk *term;
    uint64_t h = conn_up(env, &c, 1000), ck, k;

    buf_with(env, &b, data, 100);
    g_assert_cmpint(env_dma_alloc(env, 16, &r), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, sizeof(back), &ret), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 64, &rd), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 100, h, &ck), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 16, h, &k),
                    ==, CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 100, 1460, NULL);
    peer_ack(env, &c, SND + 40, 8192);
    env_settle(env, 3);
    term = hb_term_tcp(&env->hb, c.t->slot, &ret, 1, &rd, 64);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->send_list_count), ==,
                     1);
    env_dma_read(env, &ret, 0, &back, sizeof(back));
    g_assert_cmphex(GUINT64_FROM_LE(back.addr), ==, b.dma);
    g_assert_cmpuint(GUINT32_FROM_LE(back.len), ==, 100);
    g_assert_cmpuint(GUINT32_FROM_LE(back.acked), ==, 40);
    g_assert_cmphex(GUINT64_FROM_LE(back.cookie), ==, ck);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->snd_una), ==,
                     SND + 40);
    g_assert_null(io_find(env, ck));
    check_done(env, k, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_UPLOAD_IN_PROGRESS,
               0);
    env_dma_free(env, &b);
    env_dma_free(env, &r);
    env_dma_free(env, &ret);
    env_dma_free(env, &rd);
}

/*
 * TERMINATE with a receive buffer that cannot be written (spec TERMINATE
 * steps 3-4, "DMA errors"): while an indication is outstanding data stays
 * buffered and requests wait; TERMINATE places it: the unwritable request
 * completes with DMA_ERROR (a guest error), the next takes the bytes in
 * order, and what no request takes comes back in rcv_data: no byte lost.
 */
static void scn_terminate_recv_dma_error(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(300, 15);
    struct chimney_dma_buf r, ret, rd;
    ChimneyTestConn c;
    ChimneyTestHBlk *term;
    uint64_t h, kbad, kgood;
    uint32_t errs;
    uint8_t got[300];

    env_ind_start(env, 16, 512);
    h = conn_up(env, &c, 1000);
    env->ind_defer = true;
    conn_send_data(env, &c, data, 300);
    env_settle(env, 5);
    g_assert_cmpuint(ind_count(env), ==, 1);
    g_assert_cmpint(env_dma_alloc(env, 300, &r), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, sizeof(ChimneySendBuf), &ret), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 512, &rd), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, CHIMNEY_TEST_BAD_GPA,
                           100, h, &kbad), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 250, h,
                           &kgood), ==, CHIMNEY_ST_SUCCESS);
    env_settle(env, 3);
    /* the indication is outstanding: the requests wait */
    g_assert_null(io_find(env, kbad));
    g_assert_null(io_find(env, kgood));
    errs = env_err_count(env);
    term = hb_term_tcp(&env->hb, c.t->slot, &ret, 1, &rd, 512);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    check_done(env, kbad, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_DMA_ERROR, 0);
    check_done(env, kgood, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 250);
    g_assert_true(io_find(env, kbad) < io_find(env, kgood));
    g_assert_cmpuint(env_err_count(env), >, errs);
    env_dma_read(env, &r, 0, got, 250);
    g_assert_cmpmem(got, 250, data, 250);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len), ==,
                     50);
    env_dma_read(env, &rd, 0, got, 50);
    g_assert_cmpmem(got, 50, data + 250, 50);
    env->ind_defer = false;
    env_dma_free(env, &r);
    env_dma_free(env, &ret);
    env_dma_free(env, &rd);
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
 * DMA errors on data buffers (spec "SEND", "RECV_POST"): send data that
 * cannot be read stops the connection with an upload request
 * (REQUESTED) and a guest error; a receive buffer that cannot be written
 * completes with DMA_ERROR and the data stays for the next request.
 */
static void scn_data_dma_errors(ChimneyTestEnv *env)
{
    struct chimney_dma_buf r;
    ChimneyTestConn c, d;
    uint64_t h, hd, k1, k2;
    uint32_t errs = env_err_count(env);
    uint8_t got[5];

    h = conn_up(env, &c, 1000);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, CHIMNEY_TEST_BAD_GPA,
                           5, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpint(env_dma_alloc(env, 5, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 5, h, &k2),
                    ==, CHIMNEY_ST_SUCCESS);
    conn_send_data(env, &c, "hello", 5);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_DMA_ERROR, 0);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 5);
    env_dma_read(env, &r, 0, got, 5);
    g_assert_cmpmem(got, 5, "hello", 5);
    g_assert_cmpuint(env_err_count(env), >, errs);

    errs = env_err_count(env);
    conn_init4(&d, 1, 2, 1001, 80);
    conn_offload(env, &d);
    hd = d.t->slot;
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, CHIMNEY_TEST_BAD_GPA,
                           100, hd, NULL), ==, CHIMNEY_ST_SUCCESS);
    env_settle(env, 3);
    g_assert_nonnull(env_find_rec(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE,
                                  d.t->b.ndis_offload_handle));
    g_assert_cmpuint(env_find_rec(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE,
                                  d.t->b.ndis_offload_handle)->a, ==,
                     CHIMNEY_UPLOAD_REQUESTED);
    g_assert_cmpuint(env_err_count(env), >, errs);
    env_dma_free(env, &r);
}

/*
 * NewReno partial acknowledgment across a request boundary (found by the
 * interoperability qtest, chimney-interop-test.c, under loss): the
 * segment retransmitted for the next hole holds the bytes at the new
 * SndUna, read from the request that holds them, even when the ACK
 * completed the request before it.  Two SEND requests in buffers that are
 * not adjacent (the first one's buffer is followed by other bytes); the
 * peer makes the device enter fast recovery, then acknowledges the whole
 * first request and part of the second.
 */
static void scn_partial_ack_next_request(ChimneyTestEnv *env)
{
    g_autofree uint8_t *data = io_pattern(6000, 13);
    g_autofree uint8_t *junk = g_malloc(4096);
    struct chimney_dma_buf a, b;
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    uint64_t h = conn_up(env, &c, 1000), ka, kb;
    uint8_t f[2048];
    int i;

    /* A: bytes 0..1999, then 4 KiB that are not part of any request */
    memset(junk, 0xee, 4096);
    g_assert_cmpint(env_dma_alloc(env, 2000 + 4096, &a), ==, 0);
    env_dma_write(env, &a, 0, data, 2000);
    env_dma_write(env, &a, 2000, junk, 4096);
    buf_with(env, &b, data + 2000, 4000);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, a.dma, 2000, h, &ka),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_SEND, 0, b.dma, 4000, h, &kb),
                    ==, CHIMNEY_ST_SUCCESS);
    peer_expect_data(env, &c, SND, data, 6000, 1460, NULL);
    /* three duplicate ACKs: fast retransmit of the first segment */
    for (i = 0; i < 3; i++) {
        peer_ack(env, &c, SND, CHIMNEY_TEST_WND);
    }
    peer_recv(env, &c, &rs, f, sizeof(f));
    g_assert_cmpuint(rs.seq, ==, SND);
    g_assert_cmpuint(rs.plen, ==, 1460);
    g_assert_cmpmem(rs.payload, rs.plen, data, 1460);
    /* a partial ACK past A: the next hole is B's bytes 920..2379 */
    peer_ack(env, &c, SND + 2920, CHIMNEY_TEST_WND);
    do {
        peer_recv(env, &c, &rs, f, sizeof(f));
    } while (!rs.plen);
    g_assert_cmpuint(rs.seq, ==, SND + 2920);
    g_assert_cmpuint(rs.plen, ==, 1460);
    g_assert_cmpmem(rs.payload, rs.plen, data + 2920, 1460);
    check_done(env, ka, CHIMNEY_EVT_SEND_DONE, CHIMNEY_ST_SUCCESS, 2000);
    peer_ack(env, &c, SND + 6000, CHIMNEY_TEST_WND);
    check_done(env, kb, CHIMNEY_EVT_SEND_DONE, CHIMNEY_ST_SUCCESS, 4000);
    env_dma_free(env, &a);
    env_dma_free(env, &b);
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
 * Bad RECV_POST lists (spec "RECV_POST"): entry counts outside 1..64 and
 * totals over 2^31 - 1 are BAD_LENGTH, an empty piece or a reserved field
 * set INVALID_PARAMETER, a list that cannot be read DMA_ERROR, each with
 * a guest error and nothing queued.  A piece that cannot be written
 * completes the request with DMA_ERROR and the bytes placed before it;
 * the rest of the data stays for the next request, in order.
 */
static void scn_recv_sgl_bad(ChimneyTestEnv *env)
{
    static const uint32_t zero[2] = { 8, 0 }, huge[2] = { 0x80000000u,
                                                          0x80000000u };
    static const uint32_t two[2] = { 4, 8 };
    g_autofree uint8_t *data = io_pattern(40, 12);
    struct chimney_dma_buf lz, lh, lr, lb, p[2], r;
    ChimneyRecvSge e = { .addr = 0, .len = GUINT32_TO_LE(8),
                         .reserved = GUINT32_TO_LE(1) };
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), k1, k2;
    uint32_t errs = env_err_count(env);
    uint8_t got[40];

    g_assert_cmpint(env_dma_alloc(env, 4, &p[0]), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 8, &p[1]), ==, 0);
    sgl_with(env, &lz, p, zero, 2);
    sgl_with(env, &lh, p, huge, 2);
    buf_with(env, &lr, &e, sizeof(e));
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           lz.dma, 0, h, NULL), ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           lz.dma, CHIMNEY_RECV_SGL_MAX + 1, h, NULL), ==,
                    CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           lh.dma, 2, h, NULL), ==, CHIMNEY_ST_BAD_LENGTH);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           lz.dma, 2, h, NULL), ==,
                    CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           lr.dma, 1, h, NULL), ==,
                    CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           CHIMNEY_TEST_BAD_GPA, 2, h, NULL), ==,
                    CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 1u << 3, p[0].dma, 4,
                           h, NULL), ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmpuint(env_err_count(env), >=, errs + 7);
    g_assert_cmpuint(io_count(env, CHIMNEY_EVT_RECV_DONE), ==, 0);

    /* the second piece cannot be written: 4 bytes placed, 36 stay */
    {
        struct chimney_dma_buf good_bad[2] = { p[0], p[0] };

        good_bad[1].dma = CHIMNEY_TEST_BAD_GPA;
        sgl_with(env, &lb, good_bad, two, 2);
    }
    g_assert_cmpint(env_dma_alloc(env, 36, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           lb.dma, 2, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 36, h, &k2),
                    ==, CHIMNEY_ST_SUCCESS);
    errs = env_err_count(env);
    conn_send_data(env, &c, data, 40);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_DMA_ERROR, 4);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 36);
    g_assert_cmpuint(env_err_count(env), >, errs);
    env_dma_read(env, &p[0], 0, got, 4);
    g_assert_cmpmem(got, 4, data, 4);
    env_dma_read(env, &r, 0, got, 36);
    g_assert_cmpmem(got, 36, data + 4, 36);
    env_dma_free(env, &p[0]);
    env_dma_free(env, &p[1]);
    env_dma_free(env, &r);
    env_dma_free(env, &lz);
    env_dma_free(env, &lh);
    env_dma_free(env, &lr);
    env_dma_free(env, &lb);
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

/*
 * RECV_FLUSH (spec "RECV_FLUSH"): after its CMD_DONE every posted request
 * completes at once, in order, with the bytes it holds (SUCCESS; 0 for an
 * empty one); later data goes to the next request.  Bad flags or len:
 * INVALID_PARAMETER; a bad handle: BAD_HANDLE.  On an aborted connection,
 * whose posted receives otherwise wait for TERMINATE, they complete
 * with REQUEST_ABORTED.
 */
static void scn_recv_flush(ChimneyTestEnv *env)
{
    static const uint32_t lens[2] = { 10, 90 };
    g_autofree uint8_t *data = io_pattern(60, 13);
    struct chimney_dma_buf p[2], l, b, r;
    ChimneyTestConn c;
    uint64_t h = conn_up(env, &c, 1000), k1, k2, kf, k3, k4;
    uint8_t got[60];
    unsigned i;

    for (i = 0; i < 2; i++) {
        g_assert_cmpint(env_dma_alloc(env, lens[i], &p[i]), ==, 0);
    }
    sgl_with(env, &l, p, lens, 2);
    g_assert_cmpint(env_dma_alloc(env, 50, &b), ==, 0);
    g_assert_cmpint(env_dma_alloc(env, 50, &r), ==, 0);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_FLUSH, 1, 0, 0, h, NULL), ==,
                    CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_FLUSH, 0, 0, 4, h, NULL), ==,
                    CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_FLUSH, 0, 0, 0, h ^ 0x5a5a,
                           NULL), ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_SGL,
                           l.dma, 2, h, &k1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, b.dma, 50, h, &k2),
                    ==, CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV, data, 30, CHIMNEY_TH_ACK, SND);
    env_settle(env, 3);
    g_assert_null(io_find(env, k1));
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_FLUSH, 0, 0, 0, h, &kf), ==,
                    CHIMNEY_ST_SUCCESS);
    check_done(env, k1, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 30);
    check_done(env, k2, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 0);
    g_assert_true(io_find(env, k1) < io_find(env, k2));
    env_dma_read(env, &p[0], 0, got, 10);
    g_assert_cmpmem(got, 10, data, 10);
    env_dma_read(env, &p[1], 0, got, 20);
    g_assert_cmpmem(got, 20, data + 10, 20);
    /* the next bytes go to the next request, in order */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 50, h, &k3),
                    ==, CHIMNEY_ST_SUCCESS);
    peer_data_at(env, &c, RCV + 30, data + 30, 30,
                 CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, SND);
    check_done(env, k3, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_SUCCESS, 30);
    env_dma_read(env, &r, 0, got, 30);
    g_assert_cmpmem(got, 30, data + 30, 30);
    /* aborted: the request waits for TERMINATE, or a RECV_FLUSH */
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_POST, 0, r.dma, 50, h, &k4),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_ABORTIVE,
                           0, 0, h, NULL), ==, CHIMNEY_ST_SUCCESS);
    env_settle(env, 3);
    g_assert_null(io_find(env, k4));
    g_assert_cmphex(io_req(env, CHIMNEY_CMD_RECV_FLUSH, 0, 0, 0, h, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    check_done(env, k4, CHIMNEY_EVT_RECV_DONE, CHIMNEY_ST_REQUEST_ABORTED, 0);
    (void)kf;
    for (i = 0; i < 2; i++) {
        env_dma_free(env, &p[i]);
    }
    env_dma_free(env, &l);
    env_dma_free(env, &b);
    env_dma_free(env, &r);
}

const ChimneyScenario chimney_scenarios_data[] = {
    { "bad-input-data-buffer-dma-errors", scn_data_dma_errors },
    { "rule-092-initial-data-first-zero-length", scn_initial_data_zero_len },
    { "rule-093-098-indicate-ind-ring", scn_indicate },
    { "rule-094-indicate-partial-suppresses", scn_indicate_partial },
    { "receive-window-update-after-consumption", scn_window_update },
    { "rule-086-posted-first-no-l2-ring", scn_no_l2_ring },
    { "rule-069-070-073-079-send-done-on-ack", scn_send_segmented },
    { "rule-068-send-fifo-in-order", scn_send_in_order },
    { "rule-124-retransmit-backoff-limit", scn_rexmit_timeout },
    { "rule-085-087-088-recv-post-push", scn_recv_push },
    { "rule-097-099-reassembly-in-order", scn_reassembly },
    { "rule-103-104-106-disconnect-graceful", scn_disconnect_graceful },
    { "rule-101-102-disconnect-abortive", scn_disconnect_abortive },
    { "rule-091-107-110-remote-fin-half-close", scn_remote_fin },
    { "rule-108-130-rst-challenge-abort", scn_rst },
    { "rule-125-persist-probe", scn_persist },
    { "rule-116-forward", scn_forward },
    { "rule-133-135-query-clear-stats", scn_stats },
    { "rule-043-047-terminate-returns-requests",
      scn_terminate_returns_requests },
    { "terminate-recv-dma-error", scn_terminate_recv_dma_error },
    { "newreno-partial-ack-next-request", scn_partial_ack_next_request },
    { "recv-sgl-pieces-in-order", scn_recv_sgl_pieces },
    { "recv-sgl-bad-lists", scn_recv_sgl_bad },
    { "recv-flush-completes-posted", scn_recv_flush },
    { "recv-hold-data-waits-for-next-request", scn_recv_hold },
    { NULL, NULL },
};
