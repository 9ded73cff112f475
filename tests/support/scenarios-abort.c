/*
 * chimney-nic scenarios: data requests that end early or fail (spec
 * "DISCONNECT", "TCP events", "TERMINATE", "RECV_FLUSH", "DMA errors"):
 * abortive DISCONNECT, the peer's RST (challenge ACKs, then the abort),
 * TERMINATE with requests and data outstanding, RECV_FLUSH, DMA errors on
 * data buffers and bad RECV_POST lists.  Each scenario runs over the fake
 * host and over QEMU (tests/support/README.md).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "chimney-scenarios.h"
#include "chimney-test-io.h"

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

const ChimneyScenario chimney_scenarios_abort[] = {
    { "bad-input-data-buffer-dma-errors", scn_data_dma_errors },
    { "rule-101-102-disconnect-abortive", scn_disconnect_abortive },
    { "rule-108-130-rst-challenge-abort", scn_rst },
    { "rule-043-047-terminate-returns-requests",
      scn_terminate_returns_requests },
    { "terminate-recv-dma-error", scn_terminate_recv_dma_error },
    { "recv-sgl-bad-lists", scn_recv_sgl_bad },
    { "recv-flush-completes-posted", scn_recv_flush },
    { NULL, NULL },
};
