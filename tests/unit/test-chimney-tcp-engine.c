/*
 * Unit tests of the TCP data path driven through the engine interface
 * alone (chimney_engine.h, tests/unit/chimney-fake-engine.h), with a
 * scripted peer built from the reference segment builder: cases found by
 * the engine-to-engine benchmark and the segment fuzzer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-fake-engine.h"
#include "chimney-test-seg.h"

static const uint8_t eng_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

#define ISS     5000u           /* our first byte */
#define IRS     1000u           /* the peer's */
#define MSS     1460u

typedef struct Fx {
    int64_t clock;
    FeHost h;
    GPtrArray *frames;          /* GByteArray *, what the engine sent */
    uint64_t handle;
} Fx;

static void fx_emit(void *ctx, const uint8_t *f, size_t len)
{
    Fx *fx = ctx;

    g_ptr_array_add(fx->frames, g_byte_array_append(g_byte_array_new(), f,
                                                    len));
}

/* One connection 10.0.0.1:1000 <-> 10.0.0.2:80, no options. */
static void fx_init(Fx *fx)
{
    ChimneyTestMem mem;
    ChimneyTestRaw r;
    ChimneyTestTcpState s;
    uint64_t n, p, t;

    memset(fx, 0, sizeof(*fx));
    fx->frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    fe_init(&fx->h, eng_mac, &fx->clock, 4u << 20, 16, 16u << 20);
    fx->h.emit = fx_emit;
    fx->h.emit_ctx = fx;
    g_assert_cmphex(fe_set_params(&fx->h, 1000, 2, 200, 500), ==,
                    CHIMNEY_ST_SUCCESS);
    mem = fe_mem(&fx->h);
    raw_init_at(&r, &mem, fe_alloc(&fx->h, 4096), 4096);
    n = raw_neigh(&r, peer_mac, 0);
    p = raw_path4(&r, 1, 2, 1500);
    fe_tcp_side(&s, 1000, 80, ISS, IRS, 0, 0, 65535, false, -1);
    t = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, &s, sizeof(s));
    raw_dep(&r, n, p);
    raw_dep(&r, p, t);
    raw_put(&r);
    g_assert_cmphex(fe_cmd(&fx->h, CHIMNEY_CMD_INITIATE, 0, n, 0, 0, NULL),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(raw_status(&r, t), ==, CHIMNEY_ST_SUCCESS);
    fx->handle = raw_handle(&r, t);
    raw_free(&r);
}

static void fx_fini(Fx *fx)
{
    fe_fini(&fx->h);
    g_ptr_array_unref(fx->frames);
}

/* The peer acknowledges @ack (window 65535, no data). */
static void peer_ack(Fx *fx, uint32_t ack)
{
    static const uint8_t lip[4] = { 10, 0, 0, 1 }, rip[4] = { 10, 0, 0, 2 };
    ChimneyTestSeg s = {
        .dst_mac = eng_mac, .src_mac = peer_mac, .tci = -1, .ttl = 64,
        .sport = 80, .dport = 1000, .seq = IRS, .ack = ack,
        .flags = CHIMNEY_TH_ACK, .win = 65535,
    };
    uint8_t f[128];

    memcpy(s.src_ip, rip, 4);
    memcpy(s.dst_ip, lip, 4);
    g_assert_true(chimney_engine_rx(fx->h.eng, f, seg_build(&s, f)));
}

/* The data segments sent since the last call: their seq and payload. */
static unsigned take_data(Fx *fx, uint32_t *seq, uint8_t (*payload)[MSS],
                          unsigned max)
{
    unsigned i, n = 0;

    for (i = 0; i < fx->frames->len; i++) {
        GByteArray *f = g_ptr_array_index(fx->frames, i);
        ChimneyTestRxSeg rs;

        g_assert_true(seg_parse(f->data, f->len, &rs));
        if (rs.plen) {
            g_assert_cmpuint(n, <, max);
            g_assert_cmpuint(rs.plen, ==, MSS);
            seq[n] = rs.seq;
            memcpy(payload[n++], rs.payload, MSS);
        }
    }
    g_ptr_array_set_size(fx->frames, 0);
    return n;
}

/*
 * NewReno partial ACK (RFC 6582 3.2 (5)) acknowledging whole SEND
 * requests: the hole retransmitted must be read from the request that
 * holds the new SndUna.  The engine used to retransmit before it dropped
 * the acknowledged requests from its send queue, and read the segment
 * past the end of the first (acknowledged) request's buffer: wrong data
 * on the wire under loss (found by bench-chimney-tcp, 1% loss).
 */
static void test_partial_ack_rexmit_data(void)
{
    Fx fx;
    uint32_t seq[8];
    uint8_t payload[8][MSS];
    uint64_t buf[6], cookie[6];
    ChimneyEvent ev;
    unsigned k, n, done = 0;

    fx_init(&fx);
    /* six one-segment requests, each in its own buffer between fences */
    for (k = 0; k < 6; k++) {
        uint64_t fence = fe_alloc(&fx.h, 4096);

        memset(fe_ptr(&fx.h, fence), 0xee, 4096);
        buf[k] = fe_alloc(&fx.h, MSS);
        memset(fe_ptr(&fx.h, buf[k]), 0x10 + k, MSS);
        g_assert_cmphex(fe_cmd(&fx.h, CHIMNEY_CMD_SEND, 0, buf[k], MSS,
                               fx.handle, &cookie[k]), ==,
                        CHIMNEY_ST_SUCCESS);
    }
    n = take_data(&fx, seq, payload, 8);
    g_assert_cmpuint(n, ==, 6);

    /* segment 0 lost: three duplicate ACKs, fast retransmit of it */
    for (k = 0; k < 3; k++) {
        peer_ack(&fx, ISS);
    }
    n = take_data(&fx, seq, payload, 8);
    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpuint(seq[0], ==, ISS);
    g_assert_cmpuint(payload[0][0], ==, 0x10);

    /* segment 2 lost too: the partial ACK covers requests 0 and 1 */
    peer_ack(&fx, ISS + 2 * MSS);
    n = take_data(&fx, seq, payload, 8);
    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpuint(seq[0], ==, ISS + 2 * MSS);
    for (k = 0; k < MSS; k++) {
        g_assert_cmphex(payload[0][k], ==, 0x12);
    }
    while (fe_pop(&fx.h, &ev)) {
        if (ev.type == CHIMNEY_EVT_SEND_DONE) {
            g_assert_cmpuint(done, <, 2);
            g_assert_cmphex(ev.cookie, ==, cookie[done]);
            g_assert_cmphex(ev.status, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(ev.info, ==, MSS);
            done++;
        }
    }
    g_assert_cmpuint(done, ==, 2);
    g_assert_cmpuint(fx.h.guest_errors, ==, 0);
    fx_fini(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/tcp-engine/partial-ack-rexmit-data",
                    test_partial_ack_rexmit_data);
    return g_test_run();
}
