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
#include "chimney_offload.h"

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
    unsigned tso_frames;        /* super-segments the wire cut */
    uint32_t tso_max_len;       /* the longest one's payload */
} Fx;

static void fx_emit(void *ctx, const uint8_t *f, size_t len)
{
    Fx *fx = ctx;

    g_ptr_array_add(fx->frames, g_byte_array_append(g_byte_array_new(), f,
                                                    len));
}

static uint16_t rd16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/*
 * The wire's segmentation offload, as Linux does it for a virtio-net
 * GSO frame (tcp_gso_segment): check what the engine handed over, then
 * cut the payload into mss-byte segments with the headers repeated, the
 * sequence number advanced, IPv4 id + i, lengths and both checksums
 * computed, PSH and FIN only on the last segment.  The segments go where
 * the engine's plain frames go (fx->frames).
 */
static void fx_emit_tso(void *ctx, const uint8_t *f, size_t len,
                        uint16_t l4_off, uint16_t hdr_len, uint16_t mss,
                        bool ipv6)
{
    Fx *fx = ctx;
    const uint8_t *ip = f + 14, *th = f + l4_off;
    uint32_t seq = (uint32_t)rd16(th + 4) << 16 | rd16(th + 6);
    uint32_t sum, i, off, n;
    uint8_t seg[2048];

    g_assert_false(ipv6);
    g_assert_cmpuint(l4_off, ==, 14 + 20);
    g_assert_cmpuint(hdr_len, ==, l4_off + (th[12] >> 4) * 4);
    g_assert_cmpuint(mss, ==, MSS);
    g_assert_cmpuint(len, >, hdr_len + mss);
    g_assert_cmpuint(len, <=, CHIMNEY_TSO_MAX_FRAME);
    g_assert_cmpuint(rd16(ip + 2), ==, len - 14);   /* IP total length */
    g_assert_cmphex(rd16(ip + 6), ==, 0x4000);      /* DF, rule 074 */
    /* NEEDS_CSUM: the folded pseudo-header sum over the whole segment */
    sum = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18) +
          6 + (uint32_t)(len - l4_off);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    g_assert_cmphex(rd16(th + 16), ==, sum);
    fx->tso_frames++;
    fx->tso_max_len = MAX(fx->tso_max_len, len - hdr_len);

    for (i = 0, off = hdr_len; off < len; i++, off += n) {
        bool last;

        n = MIN(mss, len - off);
        last = off + n == len;
        memcpy(seg, f, hdr_len);
        memcpy(seg + hdr_len, f + off, n);
        wr16(seg + 14 + 2, hdr_len - 14 + n);
        wr16(seg + 14 + 4, rd16(ip + 4) + i);
        wr16(seg + 14 + 10, 0);
        wr16(seg + 14 + 10, chimney_ip_checksum(seg + 14, 20));
        wr16(seg + l4_off + 4, (seq + off - hdr_len) >> 16);
        wr16(seg + l4_off + 6, seq + off - hdr_len);
        if (!last) {
            seg[l4_off + 13] &= ~(CHIMNEY_TH_PSH | CHIMNEY_TH_FIN);
        }
        wr16(seg + l4_off + 16, 0);
        wr16(seg + l4_off + 16,
             chimney_tcp_checksum(false, ip + 12, ip + 16, seg + l4_off,
                                  hdr_len - l4_off + n));
        fx_emit(fx, seg, hdr_len + n);
    }
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

/* fx_init() on a wire with transmit segmentation offload. */
static void fx_init_tso(Fx *fx)
{
    fx_init(fx);
    fx->h.tso_max = CHIMNEY_TSO_MAX_FRAME;
    fx->h.emit_tso = fx_emit_tso;
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

/* What the peer saw of a bulk transfer so far (peer_take()). */
typedef struct PeerStream {
    uint32_t next;              /* next sequence number expected */
    int last_id;                /* IPv4 id of the last data segment */
    unsigned wraps;             /* ids wrapped from 0xffff to 0x8000 */
    bool psh;                   /* a segment with PSH arrived */
    GByteArray *got;            /* the payload */
} PeerStream;

/*
 * The peer takes the data segments sent since the last call and then
 * acknowledges all it has: in order, nothing lost, at most one MSS each,
 * IPv4 ids in the device's half of the id space (rule 075), consecutive
 * or wrapping from 0xffff to 0x8000, nothing after a PSH.  Returns the
 * payload bytes taken.
 */
static uint32_t peer_take(Fx *fx, PeerStream *ps)
{
    uint32_t k, bytes = 0;

    for (k = 0; k < fx->frames->len; k++) {
        GByteArray *f = g_ptr_array_index(fx->frames, k);
        ChimneyTestRxSeg rs;
        int id = rd16(f->data + 14 + 4);

        g_assert_true(seg_parse(f->data, f->len, &rs));
        if (!rs.plen) {
            continue;
        }
        g_assert_cmpuint(rs.seq, ==, ps->next);
        g_assert_cmpuint(rs.plen, <=, MSS);
        g_assert_cmphex(id & 0x8000, ==, 0x8000);
        if (ps->last_id == 0xffff) {
            g_assert_cmphex(id, ==, 0x8000);
            ps->wraps++;
        } else if (ps->last_id >= 0) {
            g_assert_cmphex(id, ==, ps->last_id + 1);
        }
        ps->last_id = id;
        g_assert_false(ps->psh);
        ps->psh = rs.flags & CHIMNEY_TH_PSH;
        g_byte_array_append(ps->got, rs.payload, rs.plen);
        ps->next += rs.plen;
        bytes += rs.plen;
    }
    g_ptr_array_set_size(fx->frames, 0);
    peer_ack(fx, ps->next);
    return bytes;
}

/*
 * Spec "Segmentation offload", transmit: on a wire that cuts, bulk data
 * leaves as super-segments of whole MSS-sized segments (the pseudo-header
 * sum in place, the IP length of the whole); what the wire puts out is
 * the byte stream of the SEND, segment by segment, with consecutive IPv4
 * ids in the engine's half of the id space, PSH only at the end of the
 * request, and SEND_DONE once all of it is acknowledged.
 */
static void test_tso_bulk_send(void)
{
    const uint32_t total = 40 * MSS + 100;
    g_autoptr(GByteArray) got = g_byte_array_new();
    PeerStream ps = { .next = ISS, .last_id = -1, .got = got };
    Fx fx;
    uint64_t buf, cookie;
    uint32_t k, round, sent[64] = { 0 };
    bool done = false;
    ChimneyEvent ev;
    uint8_t *data;

    fx_init_tso(&fx);
    buf = fe_alloc(&fx.h, total);
    data = fe_ptr(&fx.h, buf);
    for (k = 0; k < total; k++) {
        data[k] = k * 7 + k / 251;
    }
    g_assert_cmphex(fe_cmd(&fx.h, CHIMNEY_CMD_SEND, 0, buf, total, fx.handle,
                           &cookie), ==, CHIMNEY_ST_SUCCESS);
    for (round = 0; round < 64 && ps.next != ISS + total; round++) {
        sent[round] = peer_take(&fx, &ps);
    }
    g_assert_cmpuint(ps.next, ==, ISS + total);
    g_assert_true(ps.psh);
    /*
     * Slow start by bytes acknowledged (spec "TCP engine"): one ACK for
     * a whole flight doubles the window, it does not add one MSS.
     */
    g_assert_cmpuint(sent[0], >=, 2 * MSS);
    g_assert_cmpuint(sent[1], >=, 2 * sent[0]);
    g_assert_cmpmem(got->data, got->len, data, total);
    /* super-segments of whole segments, more than one of them */
    g_assert_cmpuint(fx.tso_frames, >=, 2);
    g_assert_cmpuint(fx.tso_max_len % MSS, ==, 0);
    g_assert_cmpuint(fx.tso_max_len, >=, 2 * MSS);
    while (fe_pop(&fx.h, &ev)) {
        if (ev.type == CHIMNEY_EVT_SEND_DONE) {
            g_assert_cmphex(ev.cookie, ==, cookie);
            g_assert_cmphex(ev.status, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(ev.info, ==, total);
            done = true;
        }
    }
    g_assert_true(done);
    g_assert_cmpuint(fx.h.guest_errors, ==, 0);
    fx_fini(&fx);
}

/*
 * Spec "Segmentation offload", receive: a super-segment of three MSS
 * whose checksum the host left to the wire (here: wrong) is refused as
 * an ordinary frame and taken whole when the wire vouches for it,
 * acknowledged at once (it counts as the segments it carries for the
 * delayed ACK, rule 129); the application gets all of it, in order.
 */
static void test_rx_super_segment_trusted(void)
{
    static const uint8_t lip[4] = { 10, 0, 0, 1 }, rip[4] = { 10, 0, 0, 2 };
    const uint32_t n = 3 * MSS;
    g_autofree uint8_t *data = g_malloc(n);
    g_autofree uint8_t *f = g_malloc(n + 128);
    ChimneyTestSeg sg = {
        .dst_mac = eng_mac, .src_mac = peer_mac, .tci = -1, .ttl = 64,
        .sport = 80, .dport = 1000, .seq = IRS, .ack = ISS,
        .flags = CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, .win = 65535,
        .payload = data, .plen = n, .bad_tcp_csum = true,
    };
    Fx fx;
    uint64_t buf, cookie;
    ChimneyEvent ev;
    size_t flen;
    uint32_t k;
    bool done = false;

    for (k = 0; k < n; k++) {
        data[k] = k * 11 + k / 509;
    }
    memcpy(sg.src_ip, rip, 4);
    memcpy(sg.dst_ip, lip, 4);
    fx_init_tso(&fx);
    flen = seg_build(&sg, f);
    g_assert_false(chimney_engine_rx(fx.h.eng, f, flen));
    g_assert_true(chimney_engine_rx_trusted(fx.h.eng, f, flen));
    /* three segments' worth: acknowledged at once, not after the timer */
    g_assert_cmpuint(fx.frames->len, ==, 1);
    {
        GByteArray *a = g_ptr_array_index(fx.frames, 0);
        ChimneyTestRxSeg rs;

        g_assert_true(seg_parse(a->data, a->len, &rs));
        g_assert_cmpuint(rs.ack, ==, IRS + n);
    }
    buf = fe_alloc(&fx.h, n);
    g_assert_cmphex(fe_cmd(&fx.h, CHIMNEY_CMD_RECV_POST, 0, buf, n,
                           fx.handle, &cookie), ==, CHIMNEY_ST_SUCCESS);
    while (fe_pop(&fx.h, &ev)) {
        if (ev.type == CHIMNEY_EVT_RECV_DONE) {
            g_assert_cmphex(ev.cookie, ==, cookie);
            g_assert_cmphex(ev.status, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(ev.info, ==, n);
            done = true;
        }
    }
    g_assert_true(done);
    g_assert_cmpmem(fe_ptr(&fx.h, buf), n, data, n);
    g_assert_cmpuint(fx.h.guest_errors, ==, 0);
    fx_fini(&fx);
}

/*
 * Rule 075 with segmentation offload: the wire counts the ids of a
 * super-segment's segments up from its own, so a super-segment never
 * carries more segments than ids remain before 0xffff; the ids on the
 * wire stay in 0x8000..0xffff and wrap from 0xffff to 0x8000.
 */
static void test_tso_ip_id_wrap(void)
{
    const uint32_t total = 30 * MSS;
    g_autoptr(GByteArray) got = g_byte_array_new();
    PeerStream ps = { .next = ISS, .last_id = -1, .got = got };
    Fx fx;
    uint64_t buf;
    uint32_t round;

    fx_init_tso(&fx);
    chimney_tcp_at(fx.h.eng, 0)->ip_id = 0xfffa;
    buf = fe_alloc(&fx.h, total);
    g_assert_cmphex(fe_cmd(&fx.h, CHIMNEY_CMD_SEND, 0, buf, total, fx.handle,
                           NULL), ==, CHIMNEY_ST_SUCCESS);
    for (round = 0; round < 64 && ps.next != ISS + total; round++) {
        peer_take(&fx, &ps);
    }
    g_assert_cmpuint(ps.next, ==, ISS + total);
    g_assert_cmpuint(ps.wraps, ==, 1);
    g_assert_cmpuint(fx.tso_frames, >=, 2);
    fx_fini(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/tcp-engine/partial-ack-rexmit-data",
                    test_partial_ack_rexmit_data);
    g_test_add_func("/chimney/tcp-engine/tso-bulk-send", test_tso_bulk_send);
    g_test_add_func("/chimney/tcp-engine/rule-075-tso-ip-id-wrap",
                    test_tso_ip_id_wrap);
    g_test_add_func("/chimney/tcp-engine/rx-super-segment-trusted",
                    test_rx_super_segment_trusted);
    return g_test_run();
}
