/*
 * Standalone unit tests of the chimney-nic offload target's segment
 * header builder (chimney_hdr.c) and received-frame parser
 * (chimney_parse.c), without QEMU.
 *
 * Expected frames are written out byte for byte; checksums are checked
 * against the straightforward implementation below, not the device's.
 * Rule numbers refer to section 8 of the TCP Chimney reference notes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney_hdr.h"
#include "chimney_parse.h"

#define FRAME_MAX       2048

static const uint8_t iface_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };

typedef struct TestConn {
    ChimneyNeighObj n;
    ChimneyPathObj p;
    ChimneyTcpObj t;
} TestConn;

/* --- Reference checksum: concatenate, pad, add 16-bit words, fold. --- */

static uint16_t ref_csum2(const uint8_t *a, size_t alen, const uint8_t *b,
                          size_t blen)
{
    g_autofree uint8_t *all = g_malloc0(alen + blen + 1);
    uint32_t sum = 0;
    size_t i;

    if (alen) {
        memcpy(all, a, alen);
    }
    if (blen) {
        memcpy(all + alen, b, blen);
    }
    for (i = 0; i < alen + blen; i += 2) {
        sum += all[i] * 256u + all[i + 1];
    }
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum & 0xffff;
}

/* RFC 793 / RFC 8200 8.1 pseudo-header, laid out literally. */
static size_t ref_pseudo(bool v6, const uint8_t *src, const uint8_t *dst,
                         size_t len, uint8_t *ph)
{
    if (v6) {
        memcpy(ph, src, 16);
        memcpy(ph + 16, dst, 16);
        ph[32] = len >> 24;
        ph[33] = len >> 16;
        ph[34] = len >> 8;
        ph[35] = len;
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = 6;
        return 40;
    }
    memcpy(ph, src, 4);
    memcpy(ph + 4, dst, 4);
    ph[8] = 0;
    ph[9] = 6;
    ph[10] = len >> 8;
    ph[11] = len;
    return 12;
}

static uint16_t ref_tcp_csum(bool v6, const uint8_t *src, const uint8_t *dst,
                             const uint8_t *seg, size_t len)
{
    uint8_t ph[40];
    size_t phlen = ref_pseudo(v6, src, dst, len, ph);

    return ref_csum2(ph, phlen, seg, len);
}

static uint16_t be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Offset of the IP header in a frame we built (one tag at most). */
static size_t l3_of(const uint8_t *f)
{
    return be16(f + 12) == 0x8100 ? 18 : 14;
}

/* Recompute the IPv4 header checksum in place (test's own code). */
static void fix_ip_csum(uint8_t *f, size_t l3)
{
    size_t ihl = (f[l3] & 0xf) * 4;
    uint16_t c;

    f[l3 + 10] = f[l3 + 11] = 0;
    c = ref_csum2(f + l3, ihl, NULL, 0);
    f[l3 + 10] = c >> 8;
    f[l3 + 11] = c;
}

/* Recompute the TCP checksum of an option-free IP header frame. */
static void fix_tcp_csum(uint8_t *f, size_t l3)
{
    bool v6 = (f[l3] >> 4) == 6;
    size_t l4 = l3 + (v6 ? 40 : (f[l3] & 0xf) * 4);
    size_t len = v6 ? be16(f + l3 + 4) : be16(f + l3 + 2) - (l4 - l3);
    uint16_t c;

    f[l4 + 16] = f[l4 + 17] = 0;
    c = ref_tcp_csum(v6, f + l3 + (v6 ? 8 : 12), f + l3 + (v6 ? 24 : 16),
                     f + l4, len);
    f[l4 + 16] = c >> 8;
    f[l4 + 17] = c;
}

/* --- Connections and segments --- */

static void conn_v4(TestConn *c)
{
    static const uint8_t src[4] = { 192, 168, 1, 10 };
    static const uint8_t dst[4] = { 192, 168, 1, 20 };

    memset(c, 0, sizeof(*c));
    c->n.in_use = true;
    memcpy(c->n.dl_dst, peer_mac, 6);
    c->p.in_use = true;
    memcpy(c->p.src, src, 4);
    memcpy(c->p.dst, dst, 4);
    c->p.path_mtu = 1500;
    c->t.in_use = true;
    c->t.c.local_port = 49152;
    c->t.c.remote_port = 80;
    c->t.c.remote_mss = 1460;
    c->t.k.ttl_hop_limit = 64;
}

static void conn_v6(TestConn *c)
{
    static const uint8_t src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    static const uint8_t dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

    memset(c, 0, sizeof(*c));
    c->n.in_use = true;
    memcpy(c->n.dl_dst, peer_mac, 6);
    c->p.in_use = true;
    c->p.ipv6 = true;
    memcpy(c->p.src, src, 16);
    memcpy(c->p.dst, dst, 16);
    c->p.path_mtu = 1500;
    c->t.in_use = true;
    c->t.c.local_port = 443;
    c->t.c.remote_port = 51000;
    c->t.c.remote_mss = 1440;
    c->t.k.ttl_hop_limit = 255;
}

static ChimneySegment seg_basic(const void *payload, uint32_t len)
{
    ChimneySegment s = {
        .seq = 1000, .ack = 2000, .window = 8192,
        .flags = CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, .ip_id = 0x8001,
        .ts_val = 77, .ts_ecr = 66,
        .payload = payload, .payload_len = len,
    };
    return s;
}

static size_t build(TestConn *c, const ChimneySegment *s, uint8_t *buf,
                    size_t buflen)
{
    return chimney_build_segment(iface_mac, &c->n, &c->p, &c->t, s, buf,
                                 buflen);
}

static size_t build_ok(TestConn *c, const ChimneySegment *s, uint8_t *buf)
{
    size_t len = build(c, s, buf, FRAME_MAX);

    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, ==, chimney_segment_overhead(&c->n, &c->p, &c->t) +
                     s->payload_len);
    return len;
}

static void assert_parse_candidate(const uint8_t *f, size_t len,
                                   ChimneyRxParsed *r)
{
    g_assert_true(chimney_parse_frame(f, len, r));
    g_assert_true(chimney_rx_is_offload_candidate(r));
}

static void assert_not_candidate(const uint8_t *f, size_t len,
                                 ChimneyRxParsed *r)
{
    g_assert_true(chimney_parse_frame(f, len, r));
    g_assert_false(chimney_rx_is_offload_candidate(r));
}

/* --- Builder: whole frames byte for byte --- */

static void test_ipv4_vlan_ts_bytes(void)
{
    static const uint8_t expect[] = {
        /* Ethernet: peer, interface MAC (dl_src is zero) */
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        /* 802.1Q: PCP 5, CFI 0, VID 100 */
        0x81, 0x00, 0xa0, 0x64,
        0x08, 0x00,
        /* IPv4: len 57, id 0x1234|0x8000, DF, TTL 64, TCP, csum */
        0x45, 0x10, 0x00, 0x39, 0x92, 0x34, 0x40, 0x00,
        0x40, 0x06, 0x25, 0x0c,
        192, 168, 1, 10,
        192, 168, 1, 20,
        /* TCP: 49152 -> 80, seq, ack, doff 8, ACK|PSH, win, csum, urg */
        0xc0, 0x00, 0x00, 0x50,
        0x01, 0x02, 0x03, 0x04,
        0xa0, 0xb0, 0xc0, 0xd0,
        0x80, 0x18, 0x20, 0x00,
        0x58, 0x42, 0x00, 0x00,
        /* NOP NOP TS(8, 10, TSval, TSecr) */
        0x01, 0x01, 0x08, 0x0a,
        0x11, 0x22, 0x33, 0x44,
        0x55, 0x66, 0x77, 0x88,
        'h', 'e', 'l', 'l', 'o',
    };
    TestConn c;
    ChimneySegment s = {
        .seq = 0x01020304, .ack = 0xa0b0c0d0, .window = 0x2000,
        .flags = CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, .ip_id = 0x1234,
        .ts_val = 0x11223344, .ts_ecr = 0x55667788,
        .payload = (const uint8_t *)"hello", .payload_len = 5,
    };
    uint8_t buf[FRAME_MAX];
    size_t len;

    conn_v4(&c);
    c.n.vlan_id = 100;
    c.t.k.user_priority = 5;
    c.t.k.tos_traffic_class = 0x10;
    c.t.c.flags = CHIMNEY_TCP_CONST_TIMESTAMP;
    len = build_ok(&c, &s, buf);
    g_assert_cmpmem(buf, len, expect, sizeof(expect));
}

static void test_ipv6_bytes(void)
{
    static const uint8_t expect[] = {
        /* Ethernet: neighbor's dl_src (non-zero) is the source */
        0x00, 0x0c, 0x29, 0x01, 0x02, 0x03,
        0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0x86, 0xdd,
        /* IPv6: TC 0xb8, flow 0x12345, plen 23, TCP, hop limit 255 */
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x17, 0x06, 0xff,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
        /* TCP: 443 -> 51000, doff 5, FIN|PSH|ACK, win 0xffff */
        0x01, 0xbb, 0xc7, 0x38,
        0xff, 0xff, 0xff, 0xf0,
        0x00, 0x00, 0x00, 0x01,
        0x50, 0x19, 0xff, 0xff,
        0xc7, 0x0b, 0x00, 0x00,
        'a', 'b', 'c',
    };
    static const uint8_t src_mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
    static const uint8_t dst_mac[6] = { 0x00, 0x0c, 0x29, 0x01, 0x02, 0x03 };
    TestConn c;
    ChimneySegment s = {
        .seq = 0xfffffff0, .ack = 1, .window = 0xffff,
        .flags = CHIMNEY_TH_FIN | CHIMNEY_TH_PSH | CHIMNEY_TH_ACK,
        .ip_id = 0x1234, .ts_val = 5, .ts_ecr = 6,
        .payload = (const uint8_t *)"abc", .payload_len = 3,
    };
    uint8_t buf[FRAME_MAX];
    size_t len;

    conn_v6(&c);
    memcpy(c.n.dl_src, src_mac, 6);
    memcpy(c.n.dl_dst, dst_mac, 6);
    c.t.k.tos_traffic_class = 0xb8;
    c.t.k.flow_label = 0xfff12345;      /* only bits 0..19 count */
    len = build_ok(&c, &s, buf);
    g_assert_cmpmem(buf, len, expect, sizeof(expect));
}

/* --- Builder: rules --- */

static void test_rule_074_df_set(void)
{
    static const uint8_t flags[] = {
        CHIMNEY_TH_ACK, CHIMNEY_TH_ACK | CHIMNEY_TH_PSH,
        CHIMNEY_TH_FIN | CHIMNEY_TH_ACK, CHIMNEY_TH_RST,
    };
    uint8_t payload[1448] = { 0 };
    uint8_t buf[FRAME_MAX];
    TestConn c;
    unsigned i;

    conn_v4(&c);
    for (i = 0; i < G_N_ELEMENTS(flags); i++) {
        ChimneySegment s = seg_basic(payload, i * 400);
        size_t len;

        s.flags = flags[i];
        len = build_ok(&c, &s, buf);
        /* DF set, MF clear, offset 0: never a fragment. */
        g_assert_cmphex(be16(buf + 14 + 6), ==, 0x4000);
        g_assert_cmpuint(be16(buf + 14 + 2), ==, len - 14);
    }
}

static void test_rule_075_ip_id(void)
{
    static const struct {
        uint16_t in, out;
    } ids[] = {
        { 0x0000, 0x8000 }, { 0x0001, 0x8001 }, { 0x1234, 0x9234 },
        { 0x7fff, 0xffff }, { 0x8000, 0x8000 }, { 0xabcd, 0xabcd },
        { 0xffff, 0xffff },
    };
    uint8_t buf[FRAME_MAX], buf2[FRAME_MAX];
    TestConn c;
    unsigned i;
    size_t len;

    conn_v4(&c);
    for (i = 0; i < G_N_ELEMENTS(ids); i++) {
        ChimneySegment s = seg_basic(NULL, 0);
        ChimneyRxParsed r;

        s.ip_id = ids[i].in;
        len = build_ok(&c, &s, buf);
        g_assert_cmphex(be16(buf + 14 + 4), ==, ids[i].out);
        g_assert_cmpuint(be16(buf + 14 + 4), >=, 0x8000);
        /* The forced bit is covered by the header checksum. */
        assert_parse_candidate(buf, len, &r);
        g_assert_cmphex(r.ip_id, ==, ids[i].out);
    }

    /* IPv6 has no id in the fixed header: ip_id changes nothing. */
    conn_v6(&c);
    {
        ChimneySegment s = seg_basic(NULL, 0);

        s.ip_id = 0x0001;
        len = build_ok(&c, &s, buf);
        s.ip_id = 0xfffe;
        g_assert_cmpuint(build_ok(&c, &s, buf2), ==, len);
        g_assert_cmpmem(buf, len, buf2, len);
    }
}

static void test_rule_076_timestamp_every_segment(void)
{
    static const uint8_t flags[] = {
        CHIMNEY_TH_ACK, CHIMNEY_TH_ACK | CHIMNEY_TH_PSH,
        CHIMNEY_TH_FIN | CHIMNEY_TH_ACK, CHIMNEY_TH_RST | CHIMNEY_TH_ACK,
    };
    static const uint8_t data[100];
    uint8_t buf[FRAME_MAX];
    TestConn c;
    unsigned v6, i, with;

    for (v6 = 0; v6 < 2; v6++) {
        for (with = 0; with < 2; with++) {
            for (i = 0; i < G_N_ELEMENTS(flags) * 2; i++) {
                ChimneySegment s = seg_basic(data, (i & 1) ? 100 : 0);
                size_t l4, len;
                ChimneyRxParsed r;

                if (v6) {
                    conn_v6(&c);
                } else {
                    conn_v4(&c);
                }
                if (with) {
                    c.t.c.flags = CHIMNEY_TCP_CONST_TIMESTAMP;
                }
                /* Other option flags add nothing to data segments. */
                c.t.c.flags |= CHIMNEY_TCP_CONST_SACK |
                               CHIMNEY_TCP_CONST_WSCALE;
                s.flags = flags[i / 2];
                s.ts_val = 0xdead0000 + i;
                s.ts_ecr = 0xbeef0000 + i;
                len = build_ok(&c, &s, buf);
                l4 = 14 + (v6 ? 40 : 20);
                if (with) {
                    g_assert_cmphex(buf[l4 + 12], ==, 0x80);
                    g_assert_cmphex(be32(buf + l4 + 20), ==, 0x0101080a);
                    g_assert_cmphex(be32(buf + l4 + 24), ==, s.ts_val);
                    g_assert_cmphex(be32(buf + l4 + 28), ==, s.ts_ecr);
                } else {
                    g_assert_cmphex(buf[l4 + 12], ==, 0x50);
                }
                g_assert_cmpuint(len, ==, l4 + (with ? 32 : 20) +
                                 s.payload_len);
                assert_parse_candidate(buf, len, &r);
                g_assert_cmpint(r.has_ts, ==, with);
                if (with) {
                    g_assert_cmphex(r.ts_val, ==, s.ts_val);
                    g_assert_cmphex(r.ts_ecr, ==, s.ts_ecr);
                }
                g_assert_false(r.has_sack || r.has_mss || r.has_wscale ||
                               r.sack_permitted);
            }
        }
    }
}

static void test_rule_079_effective_mss(void)
{
    static const struct {
        bool v6, ts;
        uint32_t mtu;
        uint16_t rmss;
        uint32_t expect;
    } cases[] = {
        { false, false, 1500, 1460, 1460 },
        { false, true,  1500, 1460, 1448 },
        { false, false, 1500, 9000, 1460 },     /* PMTU bound */
        { false, false, 9000, 8960, 8960 },
        { false, false, 1400, 1460, 1360 },
        { false, false, 1500, 536, 536 },       /* RemoteMss bound */
        { false, true,  1500, 536, 524 },
        { false, false, 1500, 0, 536 },         /* RFC 1122 default */
        { false, true,  1500, 0, 524 },
        { false, false, 0, 1460, 28 },          /* MTU clamped to 68 */
        { false, true,  20, 1460, 16 },
        { false, false, 68, 1460, 28 },
        { false, true,  1500, 12, 1 },          /* never below 1 */
        { false, true,  1500, 5, 1 },
        { false, false, 1500, 1, 1 },
        { true,  false, 1500, 1440, 1440 },
        { true,  true,  1500, 1440, 1428 },
        { true,  false, 1500, 9000, 1440 },
        { true,  false, 1500, 0, 1220 },        /* RFC 8200 default */
        { true,  false, 0, 9000, 1220 },        /* MTU clamped to 1280 */
        { true,  true,  1000, 9000, 1208 },
        { true,  false, 9000, 65535, 8940 },
    };
    TestConn c;
    unsigned i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        if (cases[i].v6) {
            conn_v6(&c);
        } else {
            conn_v4(&c);
        }
        c.p.path_mtu = cases[i].mtu;
        c.t.c.remote_mss = cases[i].rmss;
        c.t.c.flags = 0;
        if (cases[i].ts) {
            c.t.c.flags = CHIMNEY_TCP_CONST_TIMESTAMP;
        }
        g_assert_cmpuint(chimney_effective_mss(&c.p, &c.t), ==,
                         cases[i].expect);
    }

    /* A full-MSS segment fits the path MTU exactly (no fragmentation). */
    for (i = 0; i < 4; i++) {
        static uint8_t data[9000];
        uint8_t *buf = g_malloc(9100);
        ChimneySegment s;
        size_t len, l3;

        if (i & 1) {
            conn_v6(&c);
        } else {
            conn_v4(&c);
        }
        c.t.c.flags = (i & 2) ? CHIMNEY_TCP_CONST_TIMESTAMP : 0;
        c.p.path_mtu = 1500;
        c.t.c.remote_mss = 9000;
        s = seg_basic(data, chimney_effective_mss(&c.p, &c.t));
        len = build(&c, &s, buf, 9100);
        l3 = l3_of(buf);
        g_assert_cmpuint(len - l3, ==, 1500);
        g_free(buf);
    }
}

static void test_rule_080_vlan_tagging(void)
{
    static const struct {
        uint16_t vid;
        uint8_t prio;
        bool tagged;
        uint16_t tci;
    } cases[] = {
        { 0, 0, false, 0 },             /* no tag */
        { 0, 3, true, 0x6000 },         /* priority-only tag, VID 0 */
        { 0, 7, true, 0xe000 },
        { 100, 0, true, 0x0064 },       /* VID, PCP 0 */
        { 100, 6, true, 0xc064 },
        { 4094, 1, true, 0x2ffe },
        { 0, 8, false, 0 },             /* priority is bits 0..2 only */
        { 5, 0xfd, true, 0xa005 },
        { 0x1005, 0, true, 0x0005 },    /* VlanId is bits 0..11 only */
    };
    uint8_t buf[FRAME_MAX];
    TestConn c;
    unsigned i, v6;

    for (v6 = 0; v6 < 2; v6++) {
        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            ChimneySegment s = seg_basic("xyz", 3);
            ChimneyRxParsed r;
            size_t len;

            if (v6) {
                conn_v6(&c);
            } else {
                conn_v4(&c);
            }
            c.n.vlan_id = cases[i].vid;
            c.t.k.user_priority = cases[i].prio;
            len = build_ok(&c, &s, buf);
            if (cases[i].tagged) {
                g_assert_cmphex(be16(buf + 12), ==, 0x8100);
                /* CFI (bit 12) always 0. */
                g_assert_cmphex(be16(buf + 14), ==, cases[i].tci);
                g_assert_cmphex(be16(buf + 16), ==, v6 ? 0x86dd : 0x0800);
            } else {
                g_assert_cmphex(be16(buf + 12), ==, v6 ? 0x86dd : 0x0800);
            }
            assert_parse_candidate(buf, len, &r);
            g_assert_cmpint(r.vlan, ==, cases[i].tagged);
            g_assert_cmpuint(r.vlan_id, ==, cases[i].tci & 0xfff);
            g_assert_cmpuint(r.vlan_pcp, ==, cases[i].tci >> 13);
        }
    }
}

static void test_rule_081_source_mac(void)
{
    static const uint8_t own[6] = { 0x02, 0x01, 0x02, 0x03, 0x04, 0x05 };
    static const uint8_t dst[6] = { 0x00, 0x50, 0x56, 0xaa, 0xbb, 0xcc };
    static const uint8_t low[6] = { 0, 0, 0, 0, 0, 1 };
    uint8_t buf[FRAME_MAX];
    ChimneySegment s = seg_basic(NULL, 0);
    TestConn c;

    conn_v4(&c);
    memcpy(c.n.dl_dst, dst, 6);
    build_ok(&c, &s, buf);
    g_assert_cmpmem(buf, 6, dst, 6);
    g_assert_cmpmem(buf + 6, 6, iface_mac, 6);

    memcpy(c.n.dl_src, own, 6);
    build_ok(&c, &s, buf);
    g_assert_cmpmem(buf, 6, dst, 6);
    g_assert_cmpmem(buf + 6, 6, own, 6);

    /* Any non-zero byte makes it "set". */
    memcpy(c.n.dl_src, low, 6);
    build_ok(&c, &s, buf);
    g_assert_cmpmem(buf + 6, 6, low, 6);
}

static void test_rule_082_ttl_tos_flow(void)
{
    uint8_t buf[FRAME_MAX];
    ChimneySegment s = seg_basic("q", 1);
    ChimneyRxParsed r;
    TestConn c;
    size_t len;

    conn_v4(&c);
    c.t.k.ttl_hop_limit = 17;
    c.t.k.tos_traffic_class = 0x2e;
    len = build_ok(&c, &s, buf);
    g_assert_cmpuint(buf[14 + 8], ==, 17);
    g_assert_cmphex(buf[14 + 1], ==, 0x2e);
    assert_parse_candidate(buf, len, &r);
    g_assert_cmpuint(r.ttl_hop_limit, ==, 17);
    g_assert_cmphex(r.tos_traffic_class, ==, 0x2e);

    /* An update of the cached state applies to the next segment. */
    c.t.k.ttl_hop_limit = 128;
    c.t.k.tos_traffic_class = 0xb8;
    len = build_ok(&c, &s, buf);
    g_assert_cmpuint(buf[14 + 8], ==, 128);
    g_assert_cmphex(buf[14 + 1], ==, 0xb8);
    assert_parse_candidate(buf, len, &r);

    conn_v6(&c);
    c.t.k.ttl_hop_limit = 3;
    c.t.k.tos_traffic_class = 0xff;
    c.t.k.flow_label = 0xfffff;
    len = build_ok(&c, &s, buf);
    g_assert_cmphex(be32(buf + 14), ==, 0x6fffffff);
    g_assert_cmpuint(buf[14 + 7], ==, 3);
    assert_parse_candidate(buf, len, &r);
    g_assert_cmphex(r.flow_label, ==, 0xfffff);
    g_assert_cmphex(r.tos_traffic_class, ==, 0xff);
    g_assert_cmpuint(r.ttl_hop_limit, ==, 3);

    c.t.k.ttl_hop_limit = 64;
    c.t.k.tos_traffic_class = 0x01;
    c.t.k.flow_label = 0x100000;        /* bit 20 is not flow label */
    build_ok(&c, &s, buf);
    g_assert_cmphex(be32(buf + 14), ==, 0x60100000);
    g_assert_cmpuint(buf[14 + 7], ==, 64);
}

/* Both checksums of many frames against the reference implementation. */
static void test_checksums_reference(void)
{
    g_autoptr(GRand) rnd = g_rand_new_with_seed(0xc41f);
    static uint8_t data[1500];
    uint8_t buf[FRAME_MAX];
    unsigned i, j;

    for (i = 0; i < sizeof(data); i++) {
        data[i] = g_rand_int(rnd);
    }
    for (i = 0; i < 2000; i++) {
        TestConn c;
        ChimneySegment s = seg_basic(data, g_rand_int_range(rnd, 0, 1449));
        size_t len, l3, l4, tlen;
        bool v6 = i & 1;
        uint16_t stored;

        if (v6) {
            conn_v6(&c);
        } else {
            conn_v4(&c);
        }
        for (j = 0; j < (v6 ? 16 : 4); j++) {
            c.p.src[j] = g_rand_int(rnd);
            c.p.dst[j] = g_rand_int(rnd);
        }
        c.t.c.local_port = g_rand_int(rnd);
        c.t.c.remote_port = g_rand_int(rnd);
        c.t.c.flags = g_rand_boolean(rnd) ? CHIMNEY_TCP_CONST_TIMESTAMP : 0;
        c.t.k.ttl_hop_limit = g_rand_int(rnd);
        c.t.k.tos_traffic_class = g_rand_int(rnd);
        c.n.vlan_id = g_rand_boolean(rnd) ? g_rand_int_range(rnd, 0, 4095)
                                          : 0;
        s.seq = g_rand_int(rnd);
        s.ack = g_rand_int(rnd);
        s.window = g_rand_int(rnd);
        s.flags = g_rand_int(rnd);
        s.ip_id = g_rand_int(rnd);
        s.ts_val = g_rand_int(rnd);
        s.ts_ecr = g_rand_int(rnd);
        len = build_ok(&c, &s, buf);
        l3 = l3_of(buf);
        l4 = l3 + (v6 ? 40 : 20);
        tlen = len - l4;
        if (!v6) {
            stored = be16(buf + l3 + 10);
            buf[l3 + 10] = buf[l3 + 11] = 0;
            g_assert_cmphex(stored, ==, ref_csum2(buf + l3, 20, NULL, 0));
            buf[l3 + 10] = stored >> 8;
            buf[l3 + 11] = stored;
            g_assert_cmphex(chimney_ip_checksum(buf + l3, 20), ==, 0);
        }
        stored = be16(buf + l4 + 16);
        buf[l4 + 16] = buf[l4 + 17] = 0;
        g_assert_cmphex(stored, ==,
                        ref_tcp_csum(v6, c.p.src, c.p.dst, buf + l4, tlen));
        g_assert_cmphex(chimney_tcp_checksum(v6, c.p.src, c.p.dst, buf + l4,
                                             tlen), ==, stored);
    }

    /* Bare chimney_ip_checksum on odd and even lengths. */
    for (i = 0; i < 300; i++) {
        g_assert_cmphex(chimney_ip_checksum(data + i, i), ==,
                        ref_csum2(data + i, i, NULL, 0));
    }
    g_assert_cmphex(chimney_ip_checksum(NULL, 0), ==, 0xffff);
}

static void test_buffer_too_small(void)
{
    uint8_t payload[300];
    unsigned v6, ts;

    memset(payload, 0x5a, sizeof(payload));
    for (v6 = 0; v6 < 2; v6++) {
        for (ts = 0; ts < 2; ts++) {
            ChimneySegment s = seg_basic(payload, sizeof(payload));
            uint8_t ref[FRAME_MAX];
            TestConn c;
            size_t full, n;

            if (v6) {
                conn_v6(&c);
            } else {
                conn_v4(&c);
            }
            c.n.vlan_id = 7;
            c.t.c.flags = ts ? CHIMNEY_TCP_CONST_TIMESTAMP : 0;
            full = build_ok(&c, &s, ref);
            for (n = 0; n <= full; n++) {
                /* Exact-size heap buffer: ASan sees any overrun. */
                uint8_t *buf = g_malloc(n + 1);

                memset(buf, 0xee, n + 1);
                if (n < full) {
                    g_assert_cmpuint(build(&c, &s, buf, n), ==, 0);
                    /* Nothing written on failure. */
                    g_assert_cmphex(buf[0], ==, 0xee);
                    g_assert_cmphex(buf[n], ==, 0xee);
                } else {
                    g_assert_cmpuint(build(&c, &s, buf, n), ==, full);
                    g_assert_cmpmem(buf, full, ref, full);
                    g_assert_cmphex(buf[n], ==, 0xee);
                }
                g_free(buf);
            }
        }
    }
}

static void test_inconsistent_inputs(void)
{
    static uint8_t big[65536];
    uint8_t *buf = g_malloc(70000);
    ChimneySegment s = seg_basic(NULL, 0);
    TestConn c;

    conn_v4(&c);
    g_assert_cmpuint(chimney_build_segment(NULL, &c.n, &c.p, &c.t, &s, buf,
                                           70000), ==, 0);
    g_assert_cmpuint(chimney_build_segment(iface_mac, NULL, &c.p, &c.t, &s,
                                           buf, 70000), ==, 0);
    g_assert_cmpuint(chimney_build_segment(iface_mac, &c.n, NULL, &c.t, &s,
                                           buf, 70000), ==, 0);
    g_assert_cmpuint(chimney_build_segment(iface_mac, &c.n, &c.p, NULL, &s,
                                           buf, 70000), ==, 0);
    g_assert_cmpuint(chimney_build_segment(iface_mac, &c.n, &c.p, &c.t, NULL,
                                           buf, 70000), ==, 0);
    g_assert_cmpuint(chimney_build_segment(iface_mac, &c.n, &c.p, &c.t, &s,
                                           NULL, 70000), ==, 0);
    g_assert_cmpuint(chimney_segment_overhead(NULL, &c.p, &c.t), ==, 0);

    /* A length without data. */
    s.payload_len = 1;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 0);

    /*
     * Larger than the MSS is the caller's business, larger than an IP
     * datagram can say is not.
     */
    s.payload = big;
    s.payload_len = 65535 - 20 - 20;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 14 + 65535);
    s.payload_len++;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 0);
    c.t.c.flags = CHIMNEY_TCP_CONST_TIMESTAMP;
    s.payload_len = 65535 - 20 - 32;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 14 + 65535);
    s.payload_len++;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 0);

    conn_v6(&c);
    s.payload_len = 65535 - 20;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 14 + 40 + 65535);
    s.payload_len++;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 0);
    s.payload_len = UINT32_MAX;
    g_assert_cmpuint(build(&c, &s, buf, 70000), ==, 0);
    g_free(buf);
}

/* --- Parser --- */

static void check_round_trip(TestConn *c, const ChimneySegment *s)
{
    uint8_t buf[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len = build_ok(c, s, buf);
    bool v6 = c->p.ipv6;
    bool ts = c->t.c.flags & CHIMNEY_TCP_CONST_TIMESTAMP;
    size_t l3 = l3_of(buf);

    assert_parse_candidate(buf, len, &r);
    g_assert_cmpint(r.vlan, ==, l3 == 18);
    g_assert_cmpuint(r.vlan_id, ==, c->n.vlan_id & 0xfff);
    g_assert_cmpuint(r.vlan_pcp, ==, r.vlan ? c->t.k.user_priority & 7 : 0);
    g_assert_cmphex(r.ethertype, ==, v6 ? 0x86dd : 0x0800);
    g_assert_cmpuint(r.l3_off, ==, l3);
    g_assert_cmpint(r.is_ipv4, ==, !v6);
    g_assert_cmpint(r.is_ipv6, ==, v6);
    g_assert_true(r.ip_header_ok && r.ip_csum_ok);
    g_assert_false(r.truncated || r.has_ip_options || r.is_fragment ||
                   r.ipv6_ext_headers);
    /* IPv4 addresses in [0..3], the rest zero on both sides. */
    g_assert_cmpmem(r.src_ip, 16, c->p.src, 16);
    g_assert_cmpmem(r.dst_ip, 16, c->p.dst, 16);
    g_assert_cmpuint(r.ip_proto, ==, 6);
    g_assert_cmpuint(r.ttl_hop_limit, ==, c->t.k.ttl_hop_limit);
    g_assert_cmpuint(r.tos_traffic_class, ==, c->t.k.tos_traffic_class);
    g_assert_cmpuint(r.flow_label, ==, v6 ? c->t.k.flow_label & 0xfffff : 0);
    g_assert_cmpuint(r.ip_id, ==, v6 ? 0 : s->ip_id | 0x8000);
    g_assert_cmpuint(r.l4_off, ==, l3 + (v6 ? 40 : 20));
    g_assert_cmpuint(r.ip_total_len, ==, len - l3);
    g_assert_cmpuint(r.ip_payload_len, ==, len - r.l4_off);
    g_assert_true(r.is_tcp && r.tcp_header_ok && r.tcp_options_ok &&
                  r.tcp_csum_ok);
    g_assert_cmpuint(r.src_port, ==, c->t.c.local_port);
    g_assert_cmpuint(r.dst_port, ==, c->t.c.remote_port);
    g_assert_cmphex(r.seq, ==, s->seq);
    g_assert_cmphex(r.ack, ==, s->ack);
    g_assert_cmphex(r.tcp_flags, ==, s->flags);
    g_assert_cmpuint(r.window, ==, s->window);
    g_assert_cmpuint(r.urg_ptr, ==, 0);
    g_assert_cmpuint(r.data_off, ==, ts ? 32 : 20);
    g_assert_cmpint(r.has_ts, ==, ts);
    g_assert_cmphex(r.ts_val, ==, ts ? s->ts_val : 0);
    g_assert_cmphex(r.ts_ecr, ==, ts ? s->ts_ecr : 0);
    g_assert_cmpuint(r.payload_off, ==, r.l4_off + r.data_off);
    g_assert_cmpuint(r.payload_len, ==, s->payload_len);
    g_assert_cmpmem(buf + r.payload_off, r.payload_len, s->payload,
                    s->payload_len);
}

static void test_parse_round_trip(void)
{
    static const uint32_t lens[] = { 0, 1, 2, 5, 6, 536, 1427, 1428, 1448 };
    static uint8_t data[1448];
    unsigned v6, vlan, ts, i;

    for (i = 0; i < sizeof(data); i++) {
        data[i] = i * 31 + 7;
    }
    for (v6 = 0; v6 < 2; v6++) {
        for (vlan = 0; vlan < 3; vlan++) {
            for (ts = 0; ts < 2; ts++) {
                for (i = 0; i < G_N_ELEMENTS(lens); i++) {
                    ChimneySegment s = seg_basic(data, lens[i]);
                    TestConn c;

                    if (v6) {
                        conn_v6(&c);
                        c.t.k.flow_label = 0xabcde;
                    } else {
                        conn_v4(&c);
                    }
                    c.n.vlan_id = vlan == 1 ? 42 : 0;
                    c.t.k.user_priority = vlan == 2 ? 4 : 0;
                    c.t.k.tos_traffic_class = 0x28;
                    c.t.c.flags = ts ? CHIMNEY_TCP_CONST_TIMESTAMP : 0;
                    s.seq = 0x80000000u + i;
                    s.ack = 0x7fffffffu - i;
                    s.window = 0x1234 + i;
                    s.ip_id = 0x100 * i;
                    s.ts_val = 0xa5a5a5a5;
                    s.ts_ecr = 0x5a5a5a5a;
                    s.flags = CHIMNEY_TH_ACK | (i & 1 ? CHIMNEY_TH_PSH : 0);
                    check_round_trip(&c, &s);
                }
            }
        }
    }
}

/* A valid frame for the robustness tests (vlan + v4 + TS + payload). */
static size_t valid_frame(bool v6, bool vlan, uint8_t *buf)
{
    ChimneySegment s = seg_basic("hello, world", 12);
    TestConn c;

    if (v6) {
        conn_v6(&c);
    } else {
        conn_v4(&c);
    }
    c.n.vlan_id = vlan ? 10 : 0;
    c.t.c.flags = CHIMNEY_TCP_CONST_TIMESTAMP;
    return build_ok(&c, &s, buf);
}

static void test_parse_every_truncation(void)
{
    unsigned v6, vlan;

    for (v6 = 0; v6 < 2; v6++) {
        for (vlan = 0; vlan < 2; vlan++) {
            uint8_t full[FRAME_MAX];
            size_t flen = valid_frame(v6, vlan, full);
            size_t l3 = vlan ? 18 : 14;
            size_t n;

            for (n = 0; n < flen; n++) {
                uint8_t *f = g_malloc(n ? n : 1);
                ChimneyRxParsed r;

                memcpy(f, full, n);
                g_assert_cmpint(chimney_parse_frame(f, n, &r), ==, n >= 14);
                g_assert_false(chimney_rx_is_offload_candidate(&r));
                if (n >= l3) {
                    g_assert_cmpint(r.vlan, ==, vlan);
                    g_assert_true(v6 ? r.is_ipv6 : r.is_ipv4);
                    g_assert_true(r.truncated);
                    g_assert_false(r.is_tcp);
                }
                g_free(f);
            }
            /* NULL frame and the full frame. */
            {
                ChimneyRxParsed r;

                g_assert_false(chimney_parse_frame(NULL, 100, &r));
                g_assert_false(chimney_rx_is_offload_candidate(&r));
                assert_parse_candidate(full, flen, &r);
                g_assert_false(chimney_rx_is_offload_candidate(NULL));
            }
        }
    }
}

/*
 * Sanity of whatever the parser reports: offsets inside the frame, and
 * candidates really carry a valid checksum by the reference code.
 */
static void check_parsed_invariants(const uint8_t *f, size_t len,
                                    const ChimneyRxParsed *r)
{
    if (r->is_tcp) {
        g_assert_cmpuint(r->l4_off + 20, <=, len);
    }
    if (r->tcp_header_ok) {
        g_assert_cmpuint(r->payload_off, ==, r->l4_off + r->data_off);
        g_assert_cmpuint(r->payload_off + r->payload_len, <=, len);
    }
    if (chimney_rx_is_offload_candidate(r)) {
        bool v6 = r->is_ipv6;
        size_t tlen = r->ip_payload_len;

        g_assert_cmpuint(r->l4_off + tlen, <=, len);
        g_assert_cmpuint(r->payload_off + r->payload_len, ==,
                         r->l4_off + tlen);
        g_assert_cmphex(ref_tcp_csum(v6, r->src_ip, r->dst_ip, f + r->l4_off,
                                     tlen), ==, 0);
        if (!v6) {
            g_assert_cmphex(ref_csum2(f + r->l3_off, 20, NULL, 0), ==, 0);
        }
    }
}

static void test_parse_random_bytes(void)
{
    g_autoptr(GRand) rnd = g_rand_new_with_seed(20000);
    unsigned i, candidates = 0, tcp = 0;

    for (i = 0; i < 20000; i++) {
        size_t len = g_rand_int_range(rnd, 0, i < 19000 ? 160 : 1600);
        uint8_t *f = g_malloc(len ? len : 1);
        ChimneyRxParsed r;
        size_t j, l3;

        for (j = 0; j < len; j++) {
            f[j] = g_rand_int(rnd);
        }
        /*
         * Pure noise almost never gets past the ethertype; steer three
         * quarters of the frames into the IP and TCP code with plausible
         * ethertypes, versions, lengths and checksums, leaving the rest
         * (IHL, data offset, options, payload) random.
         */
        if (len >= 18 && (i & 3)) {
            bool vlan = g_rand_boolean(rnd);
            bool v6 = g_rand_boolean(rnd);

            l3 = vlan ? 18 : 14;
            if (vlan) {
                f[12] = 0x81;
                f[13] = 0x00;
            }
            f[l3 - 2] = v6 ? 0x86 : 0x08;
            f[l3 - 1] = v6 ? 0xdd : 0x00;
            if (len >= l3 + 40) {
                size_t ip_len = len - l3 - g_rand_int_range(rnd, 0, 3);

                if (v6) {
                    f[l3] = 0x60 | (f[l3] & 0xf);
                    f[l3 + 4] = (ip_len - 40) >> 8;
                    f[l3 + 5] = ip_len - 40;
                    f[l3 + 6] = g_rand_int_range(rnd, 0, 8) ? 6 : 44;
                } else {
                    f[l3] = g_rand_int_range(rnd, 0, 4) ?
                            0x45 : (0x40 | (f[l3] & 0xf));
                    f[l3 + 2] = ip_len >> 8;
                    f[l3 + 3] = ip_len;
                    f[l3 + 6] &= g_rand_int_range(rnd, 0, 8) ? 0x40 : 0xff;
                    f[l3 + 7] = 0;
                    f[l3 + 9] = 6;
                    if ((f[l3] & 0xf) >= 5 && (f[l3] & 0xf) * 4u <= ip_len) {
                        fix_ip_csum(f, l3);
                    }
                }
                /* Data offset stays random: options walk gets noise. */
                if (g_rand_boolean(rnd) && ip_len >= (v6 ? 60u : 40u) &&
                    (v6 || ((f[l3] & 0xf) == 5 && !(f[l3 + 6] & 0x3f)))) {
                    fix_tcp_csum(f, l3);
                }
            }
        }
        g_assert_cmpint(chimney_parse_frame(f, len, &r), ==, len >= 14);
        check_parsed_invariants(f, len, &r);
        tcp += r.is_tcp;
        candidates += chimney_rx_is_offload_candidate(&r);
        g_free(f);
    }
    /* The steering must really reach the TCP parser and beyond. */
    g_assert_cmpuint(tcp, >, 5000);
    g_assert_cmpuint(candidates, >, 100);
    if (g_test_verbose()) {
        g_test_message("random: %u tcp, %u candidates", tcp, candidates);
    }
}

/* Flip random bytes of valid frames: deeper paths than pure noise. */
static void test_parse_mutations(void)
{
    g_autoptr(GRand) rnd = g_rand_new_with_seed(0x5eed);
    unsigned i;

    for (i = 0; i < 20000; i++) {
        uint8_t full[FRAME_MAX];
        size_t flen = valid_frame(i & 1, i & 2, full);
        size_t len = g_rand_int_range(rnd, 0, 6) ? flen
                     : (size_t)g_rand_int_range(rnd, 0, flen + 1);
        uint8_t *f = g_malloc(len ? len : 1);
        unsigned flips = g_rand_int_range(rnd, 1, 4);
        ChimneyRxParsed r;

        memcpy(f, full, len);
        while (flips-- && len) {
            f[g_rand_int_range(rnd, 0, len)] = g_rand_int(rnd);
        }
        g_assert_cmpint(chimney_parse_frame(f, len, &r), ==, len >= 14);
        check_parsed_invariants(f, len, &r);
        g_free(f);
    }
}

static void test_parse_bogus_ihl_doff(void)
{
    uint8_t full[FRAME_MAX];
    size_t flen = valid_frame(false, false, full);
    unsigned ihl, doff;

    for (ihl = 0; ihl < 16; ihl++) {
        for (doff = 0; doff < 16; doff++) {
            uint8_t *f = g_malloc(flen);
            ChimneyRxParsed r;
            bool cand;

            memcpy(f, full, flen);
            f[14] = 0x40 | ihl;
            if (ihl >= 5) {
                f[14 + 20 + 12] = doff << 4;
                fix_ip_csum(f, 14);
                if (ihl == 5) {
                    fix_tcp_csum(f, 14);
                }
            }
            g_assert_true(chimney_parse_frame(f, flen, &r));
            check_parsed_invariants(f, flen, &r);
            cand = chimney_rx_is_offload_candidate(&r);
            g_assert_cmpint(r.has_ip_options, ==, ihl > 5);
            if (ihl < 5) {
                g_assert_false(r.ip_header_ok);
                g_assert_false(r.is_tcp);
            } else {
                g_assert_true(r.ip_header_ok);
                /* 64-byte datagram: even IHL 15 fits in it. */
            }
            if (ihl == 5) {
                g_assert_true(r.is_tcp && r.tcp_csum_ok);
                /* 44 TCP bytes: data offsets 11..15 overrun them. */
                g_assert_cmpint(r.tcp_header_ok, ==, doff >= 5 && doff <= 11);
                g_assert_cmpuint(r.data_off, ==, doff * 4);
            }
            /*
             * Only doff 5 (options read as payload) and 8 (the real one)
             * leave a well-formed segment; 6, 7 and 9..11 cut an option.
             */
            g_assert_cmpint(cand, ==, ihl == 5 && (doff == 5 || doff == 8));
            g_free(f);
        }
    }

    /* The same on IPv6, where only the data offset can lie. */
    flen = valid_frame(true, false, full);
    for (doff = 0; doff < 16; doff++) {
        uint8_t *f = g_malloc(flen);
        ChimneyRxParsed r;

        memcpy(f, full, flen);
        f[14 + 40 + 12] = doff << 4;
        fix_tcp_csum(f, 14);
        g_assert_true(chimney_parse_frame(f, flen, &r));
        check_parsed_invariants(f, flen, &r);
        g_assert_cmpint(r.tcp_header_ok, ==, doff >= 5 && doff <= 11);
        g_assert_cmpint(chimney_rx_is_offload_candidate(&r), ==,
                        doff == 5 || doff == 8);
        g_free(f);
    }
}

/* Replace the 12 option bytes of a TS frame and refresh the checksum. */
static bool parse_with_options(const uint8_t opts[12], ChimneyRxParsed *r)
{
    uint8_t f[FRAME_MAX];
    size_t len = valid_frame(false, false, f);

    memcpy(f + 14 + 20 + 20, opts, 12);
    fix_tcp_csum(f, 14);
    g_assert_true(chimney_parse_frame(f, len, r));
    g_assert_true(r->is_tcp && r->tcp_header_ok && r->tcp_csum_ok);
    return chimney_rx_is_offload_candidate(r);
}

static void test_parse_tcp_options(void)
{
    static const uint8_t syn_opts[12] = {
        2, 4, 0x05, 0xb4,       /* MSS 1460 */
        1, 3, 3, 7,             /* NOP, wscale 7 */
        4, 2,                   /* SACK permitted */
        0, 0xff,                /* EOL: the rest is ignored */
    };
    static const uint8_t sack_opts[12] = {
        1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2,
    };
    static const uint8_t unknown_opts[12] = {
        30, 4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,      /* MPTCP-ish, skipped */
    };
    static const uint8_t bad[][12] = {
        { 1, 1, 8, 0 },                           /* length 0 */
        { 1, 1, 8, 1 },                           /* length 1 */
        { 1, 1, 8, 11 },                          /* past data offset */
        { 1, 1, 8, 8, 0, 0, 0, 0, 0, 0, 1, 1 },   /* TS too short */
        { 2, 3, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 },   /* MSS length 3 */
        { 3, 4, 7, 0, 1, 1, 1, 1, 1, 1, 1, 1 },   /* wscale length 4 */
        { 4, 3, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 },   /* SACK-perm len 3 */
        { 5, 6, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1 },   /* SACK len 6 */
        { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30 },  /* no length byte */
        { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30, 3 },  /* 3 past the end */
    };
    ChimneyRxParsed r;
    unsigned i;

    g_assert_true(parse_with_options(syn_opts, &r));
    g_assert_true(r.has_mss && r.has_wscale && r.sack_permitted);
    g_assert_cmpuint(r.mss, ==, 1460);
    g_assert_cmpuint(r.wscale, ==, 7);
    g_assert_false(r.has_ts || r.has_sack);

    g_assert_true(parse_with_options(sack_opts, &r));
    g_assert_true(r.has_sack);
    g_assert_false(r.has_ts);

    g_assert_true(parse_with_options(unknown_opts, &r));
    g_assert_false(r.has_ts || r.has_sack || r.has_mss);

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(parse_with_options(bad[i], &r));
        g_assert_false(r.tcp_options_ok);
    }
}

/* --- Offload-candidate classification (rules 111-113, spec 4.6) --- */

static void insert_bytes(uint8_t *f, size_t *len, size_t at,
                         const uint8_t *bytes, size_t n)
{
    memmove(f + at + n, f + at, *len - at);
    memcpy(f + at, bytes, n);
    *len += n;
}

static void test_candidate_basic(void)
{
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len;

    /* All four shapes are candidates as built. */
    len = valid_frame(false, false, f);
    assert_parse_candidate(f, len, &r);
    len = valid_frame(false, true, f);
    assert_parse_candidate(f, len, &r);
    len = valid_frame(true, false, f);
    assert_parse_candidate(f, len, &r);
    len = valid_frame(true, true, f);
    assert_parse_candidate(f, len, &r);

    /* Ethernet padding after a short datagram is not part of it. */
    {
        TestConn c;
        ChimneySegment s = seg_basic(NULL, 0);

        conn_v4(&c);
        len = build_ok(&c, &s, f);
        g_assert_cmpuint(len, ==, 54);
        memset(f + len, 0xa5, 60 - len);
        assert_parse_candidate(f, 60, &r);
        g_assert_cmpuint(r.payload_len, ==, 0);
        g_assert_cmpuint(r.ip_total_len, ==, 40);
        g_assert_false(r.truncated);
    }
}

static void test_rule_111_fragments(void)
{
    static const uint8_t frag6[8] = { 6, 0, 0x00, 0x00, 0x80, 0, 0, 1 };
    static const uint8_t hbh6[8] = { 44, 0, 1, 4, 0, 0, 0, 0 };
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len, plen;

    /* IPv4 first fragment: MF. */
    len = valid_frame(false, false, f);
    f[14 + 6] = 0x20;
    fix_ip_csum(f, 14);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_fragment && r.ip_header_ok);
    g_assert_false(r.is_tcp);

    /* IPv4 later fragment: offset 8, no MF. */
    len = valid_frame(false, true, f);
    f[18 + 6] = 0x00;
    f[18 + 7] = 0x01;
    fix_ip_csum(f, 18);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_fragment);

    /* IPv6 atomic fragment header directly after the fixed header. */
    len = valid_frame(true, false, f);
    insert_bytes(f, &len, 14 + 40, frag6, 8);
    f[14 + 6] = 44;
    plen = be16(f + 14 + 4) + 8;
    f[14 + 4] = plen >> 8;
    f[14 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_fragment && r.ipv6_ext_headers);
    g_assert_cmpuint(r.ip_proto, ==, 6);
    g_assert_false(r.is_tcp);

    /* ... and behind a hop-by-hop header. */
    insert_bytes(f, &len, 14 + 40, hbh6, 8);
    f[14 + 6] = 0;
    plen += 8;
    f[14 + 4] = plen >> 8;
    f[14 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_fragment && r.ipv6_ext_headers);
    g_assert_cmpuint(r.l4_off, ==, 14 + 40 + 16);
    g_assert_cmpuint(r.ip_payload_len, ==, plen - 16);
}

static void test_rule_112_ip_options(void)
{
    static const uint8_t opts[4] = { 1, 1, 1, 0 };      /* NOP NOP NOP EOL */
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len, total;

    len = valid_frame(false, true, f);
    insert_bytes(f, &len, 18 + 20, opts, 4);
    f[18] = 0x46;
    total = be16(f + 18 + 2) + 4;
    f[18 + 2] = total >> 8;
    f[18 + 3] = total;
    fix_ip_csum(f, 18);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.has_ip_options && r.ip_header_ok && !r.truncated);
    /* The TCP segment itself is intact for whoever wants it. */
    g_assert_true(r.is_tcp && r.tcp_csum_ok && r.tcp_header_ok);
    g_assert_cmpuint(r.l4_off, ==, 18 + 24);
}

static void test_rule_113_arp_icmp_rip(void)
{
    static const uint8_t arp[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 192, 168, 1, 20,
        0, 0, 0, 0, 0, 0, 192, 168, 1, 10,
    };
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len;

    assert_not_candidate(arp, sizeof(arp), &r);
    g_assert_cmphex(r.ethertype, ==, 0x0806);
    g_assert_false(r.is_ipv4 || r.is_ipv6 || r.is_tcp);

    /* ICMP (protocol 1) with a valid IP header. */
    len = valid_frame(false, false, f);
    f[14 + 9] = 1;
    fix_ip_csum(f, 14);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_ipv4 && r.ip_header_ok);
    g_assert_cmpuint(r.ip_proto, ==, 1);
    g_assert_false(r.is_tcp);

    /* RIP: UDP. */
    f[14 + 9] = 17;
    fix_ip_csum(f, 14);
    assert_not_candidate(f, len, &r);
    g_assert_false(r.is_tcp);

    /* ICMPv6 (58). */
    len = valid_frame(true, false, f);
    f[14 + 6] = 58;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_ipv6 && r.ip_header_ok);
    g_assert_cmpuint(r.ip_proto, ==, 58);
    g_assert_false(r.is_tcp || r.ipv6_ext_headers);
}

static void test_candidate_bad_checksums(void)
{
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len;

    /* Corrupted IP header (checksum). */
    len = valid_frame(false, false, f);
    f[14 + 8] ^= 1;
    assert_not_candidate(f, len, &r);
    g_assert_false(r.ip_header_ok || r.ip_csum_ok);

    /* Corrupted TCP segment, valid IP. */
    len = valid_frame(false, false, f);
    f[len - 1] ^= 0x40;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ip_header_ok && r.is_tcp && r.tcp_header_ok);
    g_assert_false(r.tcp_csum_ok);
    /* ... unless the backend vouches for it (not read; the rest checked) */
    g_assert_true(chimney_parse_frame_vouched(f, len, &r));
    g_assert_true(r.tcp_csum_ok && chimney_rx_is_offload_candidate(&r));
    f[14 + 8] ^= 1;
    g_assert_true(chimney_parse_frame_vouched(f, len, &r));
    g_assert_false(r.ip_header_ok || chimney_rx_is_offload_candidate(&r));

    len = valid_frame(true, true, f);
    f[18 + 40 + 4] ^= 0x80;             /* sequence number */
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ip_header_ok && r.is_tcp);
    g_assert_false(r.tcp_csum_ok);

    /* A pseudo-header field (destination address) changed. */
    len = valid_frame(true, false, f);
    f[14 + 39] ^= 1;
    assert_not_candidate(f, len, &r);
    g_assert_false(r.tcp_csum_ok);

    /* Wrong IP versions behind the right ethertypes. */
    len = valid_frame(false, false, f);
    f[14] = 0x55;
    fix_ip_csum(f, 14);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_ipv4);
    g_assert_false(r.ip_header_ok);
    len = valid_frame(true, false, f);
    f[14] = 0x40 | (f[14] & 0xf);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.is_ipv6);
    g_assert_false(r.ip_header_ok);

    /* Total length shorter than the header. */
    len = valid_frame(false, false, f);
    f[14 + 2] = 0;
    f[14 + 3] = 19;
    fix_ip_csum(f, 14);
    assert_not_candidate(f, len, &r);
    g_assert_false(r.ip_header_ok);

    /* Total length longer than the frame. */
    len = valid_frame(false, false, f);
    f[14 + 3]++;
    fix_ip_csum(f, 14);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.truncated);
}

static void test_candidate_ipv6_ext_headers(void)
{
    static const uint8_t hbh[8] = { 6, 0, 1, 4, 0, 0, 0, 0 };
    static const uint8_t dst[16] = { 6, 1, 1, 12 };     /* 16-byte PadN */
    static const uint8_t esp[8] = { 0, 0, 0, 1, 0, 0, 0, 1 };
    static const uint8_t rt_long[8] = { 6, 200, 0, 0, 0, 0, 0, 0 };
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len, plen, base;
    unsigned i;

    /* Hop-by-hop then TCP: walked, but still the host's. */
    len = valid_frame(true, false, f);
    base = be16(f + 14 + 4);
    insert_bytes(f, &len, 14 + 40, hbh, 8);
    f[14 + 6] = 0;
    plen = base + 8;
    f[14 + 4] = plen >> 8;
    f[14 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ipv6_ext_headers && r.ip_header_ok);
    g_assert_false(r.is_fragment || r.is_tcp);
    g_assert_cmpuint(r.ip_proto, ==, 6);
    g_assert_cmpuint(r.l4_off, ==, 14 + 48);

    /* Destination options (16 bytes). */
    len = valid_frame(true, true, f);
    insert_bytes(f, &len, 18 + 40, dst, 16);
    f[18 + 6] = 60;
    plen = base + 16;
    f[18 + 4] = plen >> 8;
    f[18 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ipv6_ext_headers);
    g_assert_cmpuint(r.ip_proto, ==, 6);

    /* ESP: not walked. */
    len = valid_frame(true, false, f);
    insert_bytes(f, &len, 14 + 40, esp, 8);
    f[14 + 6] = 50;
    plen = base + 8;
    f[14 + 4] = plen >> 8;
    f[14 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ipv6_ext_headers);
    g_assert_cmpuint(r.ip_proto, ==, 50);
    g_assert_cmpuint(r.l4_off, ==, 14 + 40);

    /* A routing header claiming 1608 bytes in a short datagram. */
    len = valid_frame(true, false, f);
    insert_bytes(f, &len, 14 + 40, rt_long, 8);
    f[14 + 6] = 43;
    plen = base + 8;
    f[14 + 4] = plen >> 8;
    f[14 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ipv6_ext_headers);
    g_assert_cmpuint(r.l4_off, ==, 14 + 40 + plen);
    g_assert_cmpuint(r.ip_payload_len, ==, 0);

    /* A chain longer than the walk limit: stops, no overrun. */
    len = valid_frame(true, false, f);
    for (i = 0; i < CHIMNEY_PARSE_MAX_IPV6_EXT + 4; i++) {
        static const uint8_t dst0[8] = { 60, 0, 1, 4 };

        insert_bytes(f, &len, 14 + 40, dst0, 8);
    }
    f[14 + 6] = 60;
    plen = base + 8 * (CHIMNEY_PARSE_MAX_IPV6_EXT + 4);
    f[14 + 4] = plen >> 8;
    f[14 + 5] = plen;
    assert_not_candidate(f, len, &r);
    g_assert_true(r.ipv6_ext_headers);
    g_assert_cmpuint(r.ip_proto, ==, 60);
    g_assert_cmpuint(r.l4_off, ==, 14 + 40 + 8 * CHIMNEY_PARSE_MAX_IPV6_EXT);
}

static void test_candidate_vlan_oddities(void)
{
    uint8_t f[FRAME_MAX];
    ChimneyRxParsed r;
    size_t len;

    /* Stacked 802.1Q: only the outer tag is read; host path. */
    len = valid_frame(false, true, f);
    insert_bytes(f, &len, 16, (const uint8_t *)"\x81\x00\x00\x05", 4);
    assert_not_candidate(f, len, &r);
    g_assert_true(r.vlan);
    g_assert_cmphex(r.ethertype, ==, 0x8100);
    g_assert_false(r.is_ipv4);

    /* A tag announced but cut off. */
    memset(f, 0, 16);
    f[12] = 0x81;
    assert_not_candidate(f, 16, &r);
    g_assert_false(r.vlan);
    g_assert_cmphex(r.ethertype, ==, 0x8100);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/chimney/hdr/ipv4-vlan-ts-bytes",
                    test_ipv4_vlan_ts_bytes);
    g_test_add_func("/chimney/hdr/ipv6-bytes", test_ipv6_bytes);
    g_test_add_func("/chimney/hdr/rule-074-df-set", test_rule_074_df_set);
    g_test_add_func("/chimney/hdr/rule-075-ip-id-range", test_rule_075_ip_id);
    g_test_add_func("/chimney/hdr/rule-076-timestamp-every-segment",
                    test_rule_076_timestamp_every_segment);
    g_test_add_func("/chimney/hdr/rule-079-effective-mss",
                    test_rule_079_effective_mss);
    g_test_add_func("/chimney/hdr/rule-080-vlan-tagging",
                    test_rule_080_vlan_tagging);
    g_test_add_func("/chimney/hdr/rule-081-source-mac",
                    test_rule_081_source_mac);
    g_test_add_func("/chimney/hdr/rule-082-ttl-tos-flow-label",
                    test_rule_082_ttl_tos_flow);
    g_test_add_func("/chimney/hdr/checksums-vs-reference",
                    test_checksums_reference);
    g_test_add_func("/chimney/hdr/buffer-too-small", test_buffer_too_small);
    g_test_add_func("/chimney/hdr/inconsistent-inputs",
                    test_inconsistent_inputs);
    g_test_add_func("/chimney/parse/round-trip", test_parse_round_trip);
    g_test_add_func("/chimney/parse/every-truncation",
                    test_parse_every_truncation);
    g_test_add_func("/chimney/parse/random-bytes", test_parse_random_bytes);
    g_test_add_func("/chimney/parse/mutations", test_parse_mutations);
    g_test_add_func("/chimney/parse/bogus-ihl-doff",
                    test_parse_bogus_ihl_doff);
    g_test_add_func("/chimney/parse/tcp-options", test_parse_tcp_options);
    g_test_add_func("/chimney/parse/candidate-basic", test_candidate_basic);
    g_test_add_func("/chimney/parse/rule-111-fragments",
                    test_rule_111_fragments);
    g_test_add_func("/chimney/parse/rule-112-ip-options",
                    test_rule_112_ip_options);
    g_test_add_func("/chimney/parse/rule-113-arp-icmp-rip",
                    test_rule_113_arp_icmp_rip);
    g_test_add_func("/chimney/parse/candidate-bad-checksums",
                    test_candidate_bad_checksums);
    g_test_add_func("/chimney/parse/candidate-ipv6-ext-headers",
                    test_candidate_ipv6_ext_headers);
    g_test_add_func("/chimney/parse/candidate-vlan-oddities",
                    test_candidate_vlan_oddities);

    return g_test_run();
}
