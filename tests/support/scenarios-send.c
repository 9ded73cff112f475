/*
 * chimney-nic scenarios: sending on an offloaded connection and closing it
 * gracefully (spec "Data I/O", "TCP events", "Offload engine behaviour"):
 * SEND cut into segments and SEND_DONE once acknowledged, FIFO order,
 * retransmission with backoff up to the upload request, the NewReno
 * partial ACK across requests, persist probes against a zero window,
 * graceful DISCONNECT, the peer's FIN (half close: sending goes on) and
 * the statistics.  Each scenario runs over the fake host and over QEMU
 * (tests/support/README.md).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-io.h"

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

const ChimneyScenario chimney_scenarios_send[] = {
    { "rule-069-070-073-079-send-done-on-ack", scn_send_segmented },
    { "rule-068-send-fifo-in-order", scn_send_in_order },
    { "rule-124-retransmit-backoff-limit", scn_rexmit_timeout },
    { "rule-103-104-106-disconnect-graceful", scn_disconnect_graceful },
    { "rule-091-107-110-remote-fin-half-close", scn_remote_fin },
    { "rule-125-persist-probe", scn_persist },
    { "rule-133-135-query-clear-stats", scn_stats },
    { "newreno-partial-ack-next-request", scn_partial_ack_next_request },
    { NULL, NULL },
};
