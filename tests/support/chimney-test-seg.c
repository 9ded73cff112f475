/*
 * chimney-nic test support: reference segment builder and parser (see
 * chimney-test-seg.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-test-seg.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint16_t get16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

size_t seg_len(const ChimneyTestSeg *s)
{
    return 14 + (s->tci >= 0 ? 4 : 0) +
           (s->v6 ? 40 : 20 + s->ip_opt_len) +
           20 + (s->ts ? 12 : 0) + (s->nsack ? 4 + 8 * s->nsack : 0) +
           s->plen;
}

size_t seg_build(const ChimneyTestSeg *s, uint8_t *buf)
{
    size_t l3, l4, iphl, thl = 20 + (s->ts ? 12 : 0) +
                               (s->nsack ? 4 + 8 * s->nsack : 0);
    size_t tcplen = thl + s->plen;
    uint8_t *th;

    memcpy(buf, s->dst_mac, 6);
    memcpy(buf + 6, s->src_mac, 6);
    l3 = 12;
    if (s->tci >= 0) {
        put16(buf + 12, CHIMNEY_ETHERTYPE_VLAN);
        put16(buf + 14, s->tci);
        l3 += 4;
    }
    put16(buf + l3, s->v6 ? CHIMNEY_ETHERTYPE_IPV6 : CHIMNEY_ETHERTYPE_IPV4);
    l3 += 2;
    if (s->v6) {
        uint8_t *ip = buf + l3;

        iphl = 40;
        put32(ip, 6u << 28 | (uint32_t)s->tos << 20 | (s->flow & 0xfffff));
        put16(ip + 4, tcplen);
        ip[6] = CHIMNEY_IPPROTO_TCP;
        ip[7] = s->ttl;
        memcpy(ip + 8, s->src_ip, 16);
        memcpy(ip + 24, s->dst_ip, 16);
    } else {
        uint8_t *ip = buf + l3;

        iphl = 20 + s->ip_opt_len;
        ip[0] = 0x40 | iphl / 4;
        ip[1] = s->tos;
        put16(ip + 2, iphl + tcplen);
        put16(ip + 4, s->ip_id);
        put16(ip + 6, s->frag);
        ip[8] = s->ttl;
        ip[9] = CHIMNEY_IPPROTO_TCP;
        put16(ip + 10, 0);
        memcpy(ip + 12, s->src_ip, 4);
        memcpy(ip + 16, s->dst_ip, 4);
        memset(ip + 20, CHIMNEY_TCPOPT_NOP, s->ip_opt_len);
        put16(ip + 10, chimney_ip_checksum(ip, iphl));
    }
    l4 = l3 + iphl;
    th = buf + l4;
    put16(th, s->sport);
    put16(th + 2, s->dport);
    put32(th + 4, s->seq);
    put32(th + 8, s->ack);
    th[12] = (thl / 4) << 4;
    th[13] = s->flags;
    put16(th + 14, s->win);
    put16(th + 16, 0);
    put16(th + 18, s->urg);
    if (s->ts) {
        th[20] = CHIMNEY_TCPOPT_NOP;
        th[21] = CHIMNEY_TCPOPT_NOP;
        th[22] = CHIMNEY_TCPOPT_TIMESTAMP;
        th[23] = 10;
        put32(th + 24, s->tsval);
        put32(th + 28, s->tsecr);
    }
    if (s->nsack) {
        uint8_t *o = th + 20 + (s->ts ? 12 : 0);
        unsigned b;

        o[0] = CHIMNEY_TCPOPT_NOP;
        o[1] = CHIMNEY_TCPOPT_NOP;
        o[2] = CHIMNEY_TCPOPT_SACK;
        o[3] = 2 + 8 * s->nsack;
        for (b = 0; b < s->nsack; b++) {
            put32(o + 4 + 8 * b, s->sack[b][0]);
            put32(o + 8 + 8 * b, s->sack[b][1]);
        }
    }
    if (s->plen) {
        memcpy(th + thl, s->payload, s->plen);
    }
    put16(th + 16, chimney_tcp_checksum(s->v6, s->src_ip, s->dst_ip, th,
                                        tcplen) ^
                   (s->bad_tcp_csum ? 0x5555 : 0));
    return l4 + tcplen;
}

bool seg_parse(const uint8_t *f, size_t len, ChimneyTestRxSeg *out)
{
    size_t l3 = 12, iphl, tcplen, thl, i;
    const uint8_t *ip, *th;
    uint16_t et;

    memset(out, 0, sizeof(*out));
    if (len < 14) {
        return false;
    }
    et = get16(f + 12);
    if (et == CHIMNEY_ETHERTYPE_VLAN) {
        if (len < 18) {
            return false;
        }
        out->tagged = true;
        out->tci = get16(f + 14);
        l3 += 4;
        et = get16(f + l3);
    }
    l3 += 2;
    ip = f + l3;
    if (et == CHIMNEY_ETHERTYPE_IPV6) {
        out->v6 = true;
        iphl = 40;
        if (len < l3 + iphl || ip[0] >> 4 != 6 ||
            ip[6] != CHIMNEY_IPPROTO_TCP) {
            return false;
        }
        tcplen = get16(ip + 4);
        out->src_ip = ip + 8;
        out->dst_ip = ip + 24;
    } else if (et == CHIMNEY_ETHERTYPE_IPV4) {
        if (len < l3 + 20 || ip[0] >> 4 != 4) {
            return false;
        }
        iphl = (ip[0] & 15) * 4;
        if (iphl < 20 || len < l3 + iphl || ip[9] != CHIMNEY_IPPROTO_TCP ||
            chimney_ip_checksum(ip, iphl) != 0 || get16(ip + 2) < iphl) {
            return false;
        }
        tcplen = get16(ip + 2) - iphl;
        out->src_ip = ip + 12;
        out->dst_ip = ip + 16;
    } else {
        return false;
    }
    out->l4_off = l3 + iphl;
    th = f + out->l4_off;
    if (tcplen < 20 || len < out->l4_off + tcplen ||
        chimney_tcp_checksum(out->v6, out->src_ip, out->dst_ip, th,
                             tcplen) != 0) {
        return false;
    }
    thl = (th[12] >> 4) * 4;
    if (thl < 20 || thl > tcplen) {
        return false;
    }
    out->sport = get16(th);
    out->dport = get16(th + 2);
    out->seq = get32(th + 4);
    out->ack = get32(th + 8);
    out->flags = th[13];
    out->win = get16(th + 14);
    for (i = 20; i < thl;) {
        uint8_t kind = th[i];

        if (kind == CHIMNEY_TCPOPT_EOL) {
            break;
        }
        if (kind == CHIMNEY_TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= thl || th[i + 1] < 2 || i + th[i + 1] > thl) {
            return false;
        }
        if (kind == CHIMNEY_TCPOPT_TIMESTAMP && th[i + 1] == 10) {
            out->ts = true;
            out->tsval = get32(th + i + 2);
            out->tsecr = get32(th + i + 6);
        }
        i += th[i + 1];
    }
    out->payload = th + thl;
    out->plen = tcplen - thl;
    return true;
}
