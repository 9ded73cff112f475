/*
 * chimney-nic test support: one offloaded connection and the scripted
 * peer (see chimney-test-peer.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-test-peer.h"

const uint8_t chimney_test_peer_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34,
                                           0x56 };
const uint8_t chimney_test_peer2_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd,
                                            0xef };

static uint16_t ld16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

void conn_init4(ChimneyTestConn *c, uint8_t lip_last, uint8_t rip_last,
                uint16_t lport, uint16_t rport)
{
    memset(c, 0, sizeof(*c));
    c->lip[0] = 10;
    c->lip[3] = lip_last;
    c->rip[0] = 10;
    c->rip[3] = rip_last;
    c->lport = lport;
    c->rport = rport;
    memcpy(c->nmac, chimney_test_peer_mac, 6);
    c->mtu = 1500;
    chimney_test_tcp_state(&c->s, lport, rport);
    c->peer_seq = CHIMNEY_TEST_RCV_NXT;
}

void conn_init6(ChimneyTestConn *c, uint8_t lip_last, uint8_t rip_last,
                uint16_t lport, uint16_t rport)
{
    static const uint8_t pfx[8] = { 0xfd, 0x00, 0xc4, 0x1e, 0, 0, 0, 1 };

    conn_init4(c, 0, 0, lport, rport);
    c->v6 = true;
    memset(c->lip, 0, 16);
    memset(c->rip, 0, 16);
    memcpy(c->lip, pfx, 8);
    memcpy(c->rip, pfx, 8);
    c->lip[15] = lip_last;
    c->rip[15] = rip_last;
}

ChimneyTestHBlk *conn_tree(ChimneyTestEnv *env, ChimneyTestConn *c)
{
    ChimneyTestNeighState ns;
    ChimneyTestPathState ps;

    chimney_test_neigh_state(&ns, c->nmac, c->vlan);
    c->n = hb_neigh_state(&env->hb, &ns);
    chimney_test_path_state(&ps, c->v6, c->lip, c->rip, c->mtu);
    c->p = hb_path_state(&env->hb, c->v6, &ps);
    c->t = hb_tcp_state(&env->hb, &c->s);
    hb_dep(c->n, c->p);
    hb_dep(c->p, c->t);
    return c->n;
}

void conn_offload(ChimneyTestEnv *env, ChimneyTestConn *c)
{
    env_offload_ok(env, conn_tree(env, c));
    g_assert_cmphex(c->t->slot, !=, 0);
}

void conn_peer_seg(ChimneyTestEnv *env, const ChimneyTestConn *c,
                   ChimneyTestSeg *s, const void *payload, size_t plen)
{
    memset(s, 0, sizeof(*s));
    s->dst_mac = env->dev_mac;
    s->src_mac = c->nmac;
    s->tci = c->vlan ? c->vlan : -1;
    s->v6 = c->v6;
    memcpy(s->src_ip, c->rip, 16);
    memcpy(s->dst_ip, c->lip, 16);
    s->ttl = 64;
    s->ip_id = 0x1234;
    s->frag = 0x4000;
    s->sport = c->rport;
    s->dport = c->lport;
    s->seq = c->peer_seq;
    s->ack = GUINT32_FROM_LE(c->s.d.snd_una);      /* nothing new acked */
    s->flags = CHIMNEY_TH_ACK | CHIMNEY_TH_PSH;
    s->win = 8192;
    s->ts = GUINT16_FROM_LE(c->s.c.flags) & CHIMNEY_TCP_CONST_TIMESTAMP;
    s->tsval = c->peer_ts;
    s->tsecr = GUINT32_FROM_LE(c->s.d.ts_time);
    s->payload = payload;
    s->plen = plen;
}

void conn_send_data(ChimneyTestEnv *env, ChimneyTestConn *c,
                    const void *payload, size_t plen)
{
    uint8_t f[2048];
    ChimneyTestSeg s;

    conn_peer_seg(env, c, &s, payload, plen);
    g_assert_cmpuint(seg_len(&s), <=, sizeof(f));
    env->wire_inject(env, f, seg_build(&s, f));
    c->peer_seq += plen;
}

void conn_send_flags(ChimneyTestEnv *env, ChimneyTestConn *c, uint8_t flags,
                     uint32_t ack)
{
    uint8_t f[256];
    ChimneyTestSeg s;

    conn_peer_seg(env, c, &s, NULL, 0);
    s.flags = flags;
    s.ack = ack;
    env->wire_inject(env, f, seg_build(&s, f));
    c->peer_seq += !!(flags & (CHIMNEY_TH_FIN | CHIMNEY_TH_SYN));
}

size_t env_wire_recv(ChimneyTestEnv *env, uint8_t *buf, size_t cap)
{
    size_t len = env->wire_take(env, buf, cap);

    if (!len) {
        g_error("%s: no frame on the wire", env->name);
    }
    return len;
}

uint16_t conn_window(const ChimneyTestConn *c, uint32_t rcv_wnd,
                     uint32_t buffered)
{
    /* the reservation of a connection the host has not consumed from */
    uint32_t wnd = MIN(rcv_wnd, CHIMNEY_RCV_BUF_INITIAL - buffered);

    if (GUINT16_FROM_LE(c->s.c.flags) & CHIMNEY_TCP_CONST_WSCALE) {
        wnd >>= c->s.c.rcv_wind_scale;
    }
    return MIN(wnd, 65535u);
}

size_t conn_expect_ack(ChimneyTestEnv *env, const ChimneyTestConn *c,
                       uint32_t ack, uint16_t win, uint32_t tsval,
                       uint32_t tsecr, uint16_t ip_id, uint8_t *buf)
{
    uint8_t up = c->s.k.user_priority & 7;
    ChimneyTestSeg s;
    size_t len;

    memset(&s, 0, sizeof(s));
    s.dst_mac = c->nmac;
    s.src_mac = env->dev_mac;
    s.tci = (c->vlan & 0xfff) || up ? (up << 13 | (c->vlan & 0xfff)) : -1;
    s.v6 = c->v6;
    memcpy(s.src_ip, c->lip, 16);
    memcpy(s.dst_ip, c->rip, 16);
    s.tos = c->s.k.tos_traffic_class;
    s.ttl = c->s.k.ttl_hop_limit;
    s.flow = GUINT32_FROM_LE(c->s.k.flow_label) & 0xfffff;
    s.ip_id = ip_id;
    s.frag = 0x4000;                                /* DF */
    s.sport = c->lport;
    s.dport = c->rport;
    s.seq = GUINT32_FROM_LE(c->s.d.snd_nxt);
    s.ack = ack;
    s.flags = CHIMNEY_TH_ACK;
    s.win = win;
    s.ts = GUINT16_FROM_LE(c->s.c.flags) & CHIMNEY_TCP_CONST_TIMESTAMP;
    s.tsval = tsval;
    s.tsecr = tsecr;
    len = seg_build(&s, buf);
    if (len < 60) {
        memset(buf + len, 0, 60 - len);
        len = 60;
    }
    return len;
}

/* Name of the header field at byte @off of a frame. */
static const char *frame_field(bool v6, bool tagged, size_t off)
{
    static const struct {
        unsigned end;
        const char *name;
    } ip4[] = {
        { 1, "IPv4 version/IHL" }, { 2, "IPv4 TOS" }, { 4, "IPv4 length" },
        { 6, "IPv4 id" }, { 8, "IPv4 flags/frag (DF)" }, { 9, "IPv4 TTL" },
        { 10, "IPv4 protocol" }, { 12, "IPv4 checksum" },
        { 16, "IPv4 source" }, { 20, "IPv4 destination" },
    }, ip6[] = {
        { 4, "IPv6 version/traffic class/flow label" },
        { 6, "IPv6 payload length" }, { 7, "IPv6 next header" },
        { 8, "IPv6 hop limit" }, { 24, "IPv6 source" },
        { 40, "IPv6 destination" },
    }, tcp[] = {
        { 2, "TCP source port" }, { 4, "TCP destination port" },
        { 8, "TCP seq" }, { 12, "TCP ack" }, { 13, "TCP data offset" },
        { 14, "TCP flags" }, { 16, "TCP window" }, { 18, "TCP checksum" },
        { 20, "TCP urgent pointer" }, { 24, "TCP options NOP NOP TS 10" },
        { 28, "TCP TSval" }, { 32, "TCP TSecr" },
    };
    size_t l3 = tagged ? 18 : 14, l4 = l3 + (v6 ? 40 : 20);
    unsigned i;

    if (off < 6) {
        return "Ethernet destination";
    }
    if (off < 12) {
        return "Ethernet source";
    }
    if (off < l3 - 2) {
        return off < 14 ? "802.1Q TPID" : "802.1Q TCI";
    }
    if (off < l3) {
        return "Ethertype";
    }
    if (off < l4) {
        for (i = 0; i < (v6 ? G_N_ELEMENTS(ip6) : G_N_ELEMENTS(ip4)); i++) {
            if (off - l3 < (v6 ? ip6[i].end : ip4[i].end)) {
                return v6 ? ip6[i].name : ip4[i].name;
            }
        }
    }
    for (i = 0; i < G_N_ELEMENTS(tcp); i++) {
        if (off - l4 < tcp[i].end) {
            return tcp[i].name;
        }
    }
    return "payload/padding";
}

char *frame_diff(const uint8_t *got, size_t glen, const uint8_t *exp,
                 size_t elen, bool v6, bool tagged)
{
    GString *s = g_string_new(NULL);
    GString *a, *b;
    const char *last = NULL;
    size_t i;

    if (glen != elen) {
        g_string_append_printf(s, "\n  length %zu, expected %zu", glen, elen);
    }
    for (i = 0; i < MIN(glen, elen); i++) {
        const char *f = frame_field(v6, tagged, i);

        if (got[i] != exp[i] && f != last) {
            g_string_append_printf(s, "\n  %s (byte %zu): got 0x%02x, "
                                   "expected 0x%02x", f, i, got[i], exp[i]);
            last = f;
        }
    }
    if (!s->len) {
        g_string_free(s, TRUE);
        return NULL;
    }
    a = g_string_new(NULL);
    b = g_string_new(NULL);
    for (i = 0; i < glen; i++) {
        g_string_append_printf(a, "%02x", got[i]);
    }
    for (i = 0; i < elen; i++) {
        g_string_append_printf(b, "%02x", exp[i]);
    }
    g_string_append_printf(s, "\n  got      %s\n  expected %s", a->str,
                           b->str);
    g_string_free(a, TRUE);
    g_string_free(b, TRUE);
    return g_string_free(s, FALSE);
}

size_t conn_l4_off(const ChimneyTestConn *c)
{
    bool tagged = (c->vlan & 0xfff) || (c->s.k.user_priority & 7);

    return (tagged ? 18 : 14) + (c->v6 ? 40 : 20);
}

void conn_check_ack(ChimneyTestEnv *env, ChimneyTestConn *c,
                    uint32_t rcv_wnd, uint32_t buffered, uint32_t tsval,
                    const char *ctx)
{
    uint8_t got[256], exp[256];
    size_t glen, elen;
    uint16_t id = 0x8000;
    bool tagged = (c->vlan & 0xfff) || (c->s.k.user_priority & 7);
    char *diff;

    glen = env_wire_recv(env, got, sizeof(got));
    if (!c->v6 && glen >= conn_l4_off(c)) {
        id = ld16(got + (tagged ? 18 : 14) + 4);
        if (id < 0x8000) {
            g_error("%s: IPv4 id 0x%04x not in 0x8000..0xffff (rule 075)",
                    ctx, id);
        }
    }
    elen = conn_expect_ack(env, c, c->peer_seq,
                           conn_window(c, rcv_wnd, buffered), tsval,
                           c->peer_ts, id, exp);
    diff = frame_diff(got, glen, exp, elen, c->v6, tagged);
    if (diff) {
        env_soft_fail(env, "%s: the frame differs:%s", ctx, diff);
        g_free(diff);
    }
}

void conn_recv_ack_basic(ChimneyTestEnv *env, const ChimneyTestConn *c,
                         const uint8_t *dmac, uint8_t *f, size_t cap)
{
    size_t len = env_wire_recv(env, f, cap), l4 = conn_l4_off(c);

    g_assert_cmpuint(len, >=, l4 + 20);
    g_assert_cmpmem(f, 6, dmac, 6);
    g_assert_cmpmem(f + 6, 6, env->dev_mac, 6);
    g_assert_cmpuint(ld16(f + l4), ==, c->lport);
    g_assert_cmpuint(ld16(f + l4 + 2), ==, c->rport);
    g_assert_cmphex(ld32(f + l4 + 8), ==, c->peer_seq);
    g_assert_cmphex(f[l4 + 13], ==, CHIMNEY_TH_ACK);
}

void env_expect_l2(ChimneyTestEnv *env, const uint8_t *f, size_t len,
                   const char *what)
{
    uint8_t got[2048];
    size_t glen;

    env->wire_inject(env, f, len);
    glen = env->l2_take(env, got, sizeof(got));
    if (!glen) {
        env_soft_fail(env, "%s: the frame did not come up the L2 RX ring",
                      what);
        return;
    }
    if (glen != len || memcmp(got, f, len)) {
        env_soft_fail(env, "%s: the RX ring got a different frame (%zu "
                      "bytes, expected %zu)", what, glen, len);
    }
    if (!env->wire_quiet(env)) {
        env_soft_fail(env, "%s: the device answered a frame that is not "
                      "its own", what);
        while (env->wire_take(env, got, sizeof(got))) {
            /* drain */
        }
    }
}
