/*
 * chimney-nic test support: data I/O on an offloaded connection.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney-test-io.h"
#include "chimney-test-drv.h"

uint32_t io_req(ChimneyTestEnv *env, uint16_t opcode, uint16_t flags,
                uint64_t addr, uint32_t len, uint64_t handle,
                uint64_t *cookie)
{
    ChimneyTestDone d = { .env = env };
    u64 ck = 0;

    g_assert_cmpint(chimney_drv_raw_cmd(env->drv, opcode, flags, addr, len,
                                        handle, env_cmd_done, &d, &ck), ==,
                    0);
    env_wait(env, &d.calls, 1);
    if (cookie) {
        *cookie = ck;
    }
    return d.status;
}

const ChimneyTestRec *io_find(ChimneyTestEnv *env, uint64_t cookie)
{
    unsigned i;

    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec, i);

        if (r->kind == 'I' && r->cookie == cookie) {
            return r;
        }
    }
    return NULL;
}

const ChimneyTestRec *io_wait(ChimneyTestEnv *env, uint64_t cookie)
{
    unsigned i;

    for (i = 0; i < CHIMNEY_TEST_WAIT_ITERS; i++) {
        const ChimneyTestRec *r = io_find(env, cookie);

        if (r) {
            return r;
        }
        env->poll(env);
    }
    g_error("%s: no completion for request 0x%" G_GINT64_MODIFIER "x",
            env->name, cookie);
    return NULL;
}

unsigned io_count(ChimneyTestEnv *env, uint16_t type)
{
    unsigned i, n = 0;

    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec, i);

        n += r->kind == 'I' && (!type || r->type == type);
    }
    return n;
}

unsigned io_tcp_events(ChimneyTestEnv *env, uint16_t type)
{
    return env_count_recs(env, 'T', type);
}

void peer_recv(ChimneyTestEnv *env, const ChimneyTestConn *c,
               ChimneyTestRxSeg *rs, uint8_t *buf, size_t cap)
{
    size_t len = env_wire_recv(env, buf, cap);

    g_assert_true(seg_parse(buf, len, rs));
    g_assert_cmpuint(rs->sport, ==, c->lport);
    g_assert_cmpuint(rs->dport, ==, c->rport);
}

unsigned peer_expect_data(ChimneyTestEnv *env, const ChimneyTestConn *c,
                          uint32_t seq, const uint8_t *expect, uint32_t len,
                          uint32_t max_seg, uint8_t *flags)
{
    uint32_t got = 0;
    unsigned nseg = 0, i;
    uint8_t f[9100];

    for (i = 0; i < 4 * len + 16 && got < len; i++) {
        ChimneyTestRxSeg rs;

        peer_recv(env, c, &rs, f, sizeof(f));
        if (!rs.plen && !(rs.flags & CHIMNEY_TH_FIN)) {
            continue;                   /* a pure ACK */
        }
        g_assert_cmpuint(rs.seq, ==, seq + got);
        g_assert_cmpuint(rs.plen, <=, max_seg);
        g_assert_cmpuint(got + rs.plen, <=, len);
        g_assert_cmpmem(rs.payload, rs.plen, expect + got, rs.plen);
        got += rs.plen;
        nseg++;
        if (flags) {
            *flags = rs.flags;
        }
    }
    g_assert_cmpuint(got, ==, len);
    return nseg;
}

void peer_ack(ChimneyTestEnv *env, ChimneyTestConn *c, uint32_t ack,
              uint16_t win)
{
    uint8_t f[256];
    ChimneyTestSeg s;

    conn_peer_seg(env, c, &s, NULL, 0);
    s.flags = CHIMNEY_TH_ACK;
    s.ack = ack;
    s.win = win;
    env->wire_inject(env, f, seg_build(&s, f));
}

void peer_data_at(ChimneyTestEnv *env, ChimneyTestConn *c, uint32_t seq,
                  const void *data, uint32_t len, uint8_t flags,
                  uint32_t ack)
{
    uint8_t f[2048];
    ChimneyTestSeg s;

    conn_peer_seg(env, c, &s, data, len);
    s.seq = seq;
    s.flags = flags;
    s.ack = ack;
    g_assert_cmpuint(seg_len(&s), <=, sizeof(f));
    env->wire_inject(env, f, seg_build(&s, f));
}

uint8_t *io_pattern(uint32_t len, uint8_t seed)
{
    uint8_t *p = g_malloc(len);
    uint32_t i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
    }
    return p;
}

uint64_t conn_up(ChimneyTestEnv *env, ChimneyTestConn *c, uint16_t lport)
{
    conn_init4(c, 1, 2, lport, 80);
    conn_offload(env, c);
    return c->t->slot;
}

void buf_with(ChimneyTestEnv *env, struct chimney_dma_buf *b,
              const void *data, uint32_t len)
{
    g_assert_cmpint(env_dma_alloc(env, len, b), ==, 0);
    env_dma_write(env, b, 0, data, len);
    env->dma_sync(env);
}

void sgl_with(ChimneyTestEnv *env, struct chimney_dma_buf *list,
              const struct chimney_dma_buf *pieces,
              const uint32_t *lens, unsigned n)
{
    ChimneyRecvSge e[8];
    unsigned i;

    g_assert_cmpuint(n, <=, G_N_ELEMENTS(e));
    for (i = 0; i < n; i++) {
        e[i].addr = GUINT64_TO_LE(pieces ? pieces[i].dma :
                                  CHIMNEY_TEST_BAD_GPA);
        e[i].len = GUINT32_TO_LE(lens[i]);
        e[i].reserved = 0;
    }
    buf_with(env, list, e, n * sizeof(e[0]));
}

void check_done(ChimneyTestEnv *env, uint64_t cookie, uint16_t type,
                uint32_t status, uint32_t info)
{
    const ChimneyTestRec *r = io_wait(env, cookie);

    g_assert_cmpuint(r->type, ==, type);
    g_assert_cmphex(r->a, ==, status);
    g_assert_cmpuint(r->b, ==, info);
}

uint32_t query_state(ChimneyTestEnv *env, uint64_t h,
                     ChimneyTestTcpState *q)
{
    ChimneyTestTcpState own;

    if (!q) {
        q = &own;
    }
    g_assert_cmphex(env_query_tcp(env, h, q), ==, CHIMNEY_ST_SUCCESS);
    return GUINT32_FROM_LE(q->d.state);
}

unsigned ind_count(ChimneyTestEnv *env)
{
    return env_count_recs(env, 'D', CHIMNEY_EVT_RECV_INDICATE);
}
