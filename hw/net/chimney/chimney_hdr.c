/*
 * chimney-nic offload target: header builder for offloaded-connection
 * segments and the Internet checksum (see chimney_hdr.h).
 *
 * Rule numbers refer to the conformance checklist, section 8 of the
 * TCP Chimney reference notes; "decision 9.x" to its section 9.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney_hdr.h"

/* IPv4 flags/fragment-offset field: only DF, never MF nor an offset. */
#define IPV4_DF                 0x4000
/* RFC 1122 / RFC 8200 minimums and defaults used to sanitise inputs. */
#define IPV4_MIN_MTU            68
#define IPV6_MIN_MTU            1280
#define IPV4_DEFAULT_MSS        536
#define IPV6_DEFAULT_MSS        1220
#define IP_MAX_LEN              0xffff

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/*
 * Add len bytes to a running one's complement sum as big-endian 16-bit
 * words.  A 64-bit accumulator cannot overflow for any buffer we could
 * be given, so folding is left to the end.  Only the last chunk summed
 * may have an odd length (its last byte is the high half of a word).
 *
 * The words are summed in host order, eight bytes at a time, and the
 * folded result is byte-swapped into network order at the end: the one's
 * complement sum commutes with swapping the bytes of every word (RFC
 * 1071 2(B)), so this equals the big-endian sum.
 */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    uint64_t acc = 0, w;
    uint16_t h;

    while (len >= 8) {
        memcpy(&w, p, 8);
        acc += (w & 0xffffffffu) + (w >> 32);
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        memcpy(&h, p, 2);
        acc += h;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t last[2] = { p[0], 0 };

        memcpy(&h, last, 2);
        acc += h;
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return sum + GUINT16_FROM_BE((uint16_t)acc);
}

static uint16_t csum_finish(uint64_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

uint16_t chimney_ip_checksum(const void *data, size_t len)
{
    return csum_finish(csum_add(0, data, len));
}

/* The TCP pseudo-header's one's complement sum, not folded. */
static uint64_t tcp_pseudo_header(bool ipv6, const uint8_t *src,
                                  const uint8_t *dst, size_t len)
{
    size_t alen = ipv6 ? 16 : 4;
    uint64_t sum;

    /*
     * Addresses, then protocol and TCP length.  As 16-bit words the IPv4
     * layout (zero, proto, len16) and the IPv6 layout (len32, zero24,
     * next header) sum to the same thing apart from the length being 32
     * bits wide for IPv6.
     */
    sum = csum_add(0, src, alen);
    sum = csum_add(sum, dst, alen);
    sum += CHIMNEY_IPPROTO_TCP;
    if (ipv6) {
        sum += (uint64_t)((uint32_t)len >> 16);
    }
    return sum + (len & 0xffff);
}

uint16_t chimney_tcp_checksum(bool ipv6, const uint8_t *src,
                              const uint8_t *dst, const void *seg,
                              size_t len)
{
    return csum_finish(csum_add(tcp_pseudo_header(ipv6, src, dst, len), seg,
                                len));
}

uint16_t chimney_tcp_pseudo_sum(bool ipv6, const uint8_t *src,
                                const uint8_t *dst, size_t len)
{
    /* folded, not complemented: the wire adds the segment and inverts */
    return (uint16_t)~csum_finish(tcp_pseudo_header(ipv6, src, dst, len));
}

/*
 * 802.1Q tag for the connection (rule 080, chimney-spec 1.6): no tag when
 * both the neighbor VlanId and the UserPriority are 0; otherwise VID =
 * VlanId (possibly 0, a priority-only tag) and PCP = UserPriority.  The
 * CFI/DEI bit is always 0.  Both fields are defined as bit ranges of the
 * state (VlanId bits 0..11, UserPriority bits 0..2), so the other bits
 * are not part of them.
 */
static bool chimney_vlan_tci(const ChimneyNeighObj *n,
                             const ChimneyTcpObj *t, uint16_t *tci)
{
    uint16_t vid = n->vlan_id & 0x0fff;
    uint16_t pcp = t->k.user_priority & 0x7;

    if (vid == 0 && pcp == 0) {
        return false;
    }
    *tci = pcp << 13 | vid;
    return true;
}

static bool chimney_ts_enabled(const ChimneyTcpObj *t)
{
    return t->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP;
}

size_t chimney_segment_overhead(const ChimneyNeighObj *n,
                                const ChimneyPathObj *p,
                                const ChimneyTcpObj *t)
{
    uint16_t tci;
    size_t len = CHIMNEY_ETH_HLEN;

    if (!n || !p || !t) {
        return 0;
    }
    if (chimney_vlan_tci(n, t, &tci)) {
        len += CHIMNEY_VLAN_HLEN;
    }
    len += p->ipv6 ? CHIMNEY_IPV6_HLEN : CHIMNEY_IPV4_HLEN;
    len += CHIMNEY_TCP_HLEN;
    if (chimney_ts_enabled(t)) {
        len += CHIMNEY_TCP_TS_OPTLEN;
    }
    return len;
}

size_t chimney_build_segment(const uint8_t iface_mac[6],
                             const ChimneyNeighObj *n,
                             const ChimneyPathObj *p,
                             const ChimneyTcpObj *t,
                             const ChimneySegment *seg,
                             uint8_t *buf, size_t buflen)
{
    static const uint8_t zero_mac[6];
    size_t overhead, tcp_len, total, l3, l4;
    size_t tcp_hlen, sack_len = 0;
    uint16_t tci, csum;
    bool tagged;
    uint8_t *th;

    if (!iface_mac || !n || !p || !t || !seg || !buf) {
        return 0;
    }
    if (seg->payload_len && !seg->payload) {
        return 0;
    }
    overhead = chimney_segment_overhead(n, p, t);
    tagged = chimney_vlan_tci(n, t, &tci);
    tcp_hlen = CHIMNEY_TCP_HLEN +
               (chimney_ts_enabled(t) ? CHIMNEY_TCP_TS_OPTLEN : 0);
    if (seg->nsack) {
        if (seg->payload_len ||
            seg->nsack > (chimney_ts_enabled(t) ? 3 : 4)) {
            return 0;
        }
        sack_len = 4 + 8 * seg->nsack;      /* NOP NOP SACK len blocks */
        tcp_hlen += sack_len;
        overhead += sack_len;
    }
    tcp_len = tcp_hlen + (size_t)seg->payload_len;
    /*
     * The target never fragments (rule 074), so the segment must fit one
     * datagram's length field; no IPv6 jumbograms either.
     */
    if (p->ipv6 ? tcp_len > IP_MAX_LEN
                : tcp_len + CHIMNEY_IPV4_HLEN > IP_MAX_LEN) {
        return 0;
    }
    total = overhead + seg->payload_len;
    if (buflen < total) {
        return 0;
    }

    /* Ethernet (rule 081): DlSourceAddress unless all zero. */
    memcpy(buf, n->dl_dst, 6);
    memcpy(buf + 6, memcmp(n->dl_src, zero_mac, 6) ? n->dl_src : iface_mac,
           6);
    l3 = 12;
    if (tagged) {
        put_be16(buf + l3, CHIMNEY_ETHERTYPE_VLAN);
        put_be16(buf + l3 + 2, tci);
        l3 += CHIMNEY_VLAN_HLEN;
    }
    put_be16(buf + l3, p->ipv6 ? CHIMNEY_ETHERTYPE_IPV6
                               : CHIMNEY_ETHERTYPE_IPV4);
    l3 += 2;

    /*
     * IP: TTL/hop limit, TOS/traffic class and flow label are read from
     * the cached state for every segment, so an update takes effect on
     * the next one (rule 082).
     */
    if (p->ipv6) {
        uint8_t *ip = buf + l3;

        put_be32(ip, 6u << 28 | (uint32_t)t->k.tos_traffic_class << 20 |
                     (t->k.flow_label & 0xfffff));
        put_be16(ip + 4, tcp_len);
        ip[6] = CHIMNEY_IPPROTO_TCP;
        ip[7] = t->k.ttl_hop_limit;
        memcpy(ip + 8, p->src, 16);
        memcpy(ip + 24, p->dst, 16);
        l4 = l3 + CHIMNEY_IPV6_HLEN;
    } else {
        uint8_t *ip = buf + l3;

        ip[0] = 0x45;
        ip[1] = t->k.tos_traffic_class;
        put_be16(ip + 2, CHIMNEY_IPV4_HLEN + tcp_len);
        /* The lower half of the id space is the host stack's (rule 075). */
        put_be16(ip + 4, seg->ip_id | CHIMNEY_IPV4_ID_BASE);
        put_be16(ip + 6, IPV4_DF);      /* rule 074 */
        ip[8] = t->k.ttl_hop_limit;
        ip[9] = CHIMNEY_IPPROTO_TCP;
        put_be16(ip + 10, 0);
        memcpy(ip + 12, p->src, 4);
        memcpy(ip + 16, p->dst, 4);
        put_be16(ip + 10, chimney_ip_checksum(ip, CHIMNEY_IPV4_HLEN));
        l4 = l3 + CHIMNEY_IPV4_HLEN;
    }

    th = buf + l4;
    put_be16(th, t->c.local_port);
    put_be16(th + 2, t->c.remote_port);
    put_be32(th + 4, seg->seq);
    put_be32(th + 8, seg->ack);
    th[12] = (tcp_hlen / 4) << 4;
    th[13] = seg->flags;
    put_be16(th + 14, seg->window);
    put_be16(th + 16, 0);
    /* The host never asks the target to send urgent data (spec 4.1). */
    put_be16(th + 18, 0);
    if (chimney_ts_enabled(t)) {
        /*
         * Rule 076: in every segment, not just the ones carrying data.
         * NOP NOP first keeps TSval/TSecr 32-bit aligned (RFC 7323
         * appendix A layout).
         */
        th[20] = CHIMNEY_TCPOPT_NOP;
        th[21] = CHIMNEY_TCPOPT_NOP;
        th[22] = CHIMNEY_TCPOPT_TIMESTAMP;
        th[23] = 10;
        put_be32(th + 24, seg->ts_val);
        put_be32(th + 28, seg->ts_ecr);
    }
    if (sack_len) {
        uint8_t *o = th + tcp_hlen - sack_len;
        unsigned b;

        o[0] = CHIMNEY_TCPOPT_NOP;
        o[1] = CHIMNEY_TCPOPT_NOP;
        o[2] = CHIMNEY_TCPOPT_SACK;
        o[3] = 2 + 8 * seg->nsack;
        for (b = 0; b < seg->nsack; b++) {
            put_be32(o + 4 + 8 * b, seg->sack[b][0]);
            put_be32(o + 8 + 8 * b, seg->sack[b][1]);
        }
    }
    /* the engine reads send data straight into place (no copy then) */
    if (seg->payload_len && seg->payload != th + tcp_hlen) {
        memcpy(th + tcp_hlen, seg->payload, seg->payload_len);
    }
    csum = seg->csum_partial ?
           chimney_tcp_pseudo_sum(p->ipv6, p->src, p->dst, tcp_len) :
           chimney_tcp_checksum(p->ipv6, p->src, p->dst, th, tcp_len);
    put_be16(th + 16, csum);
    return total;
}

uint32_t chimney_effective_mss(const ChimneyPathObj *p,
                               const ChimneyTcpObj *t)
{
    uint32_t mtu, mss, iphlen;

    /*
     * Decision 9.14 (rule 079): RFC 1122 4.2.2.6 / RFC 1191.  RemoteMss
     * counts only payload after a 20-byte TCP header, and the path MTU
     * counts the IP and TCP headers, so each bounds the payload of an
     * option-less segment; options we add in every segment (timestamps,
     * rule 076) come out of that.  Missing or impossibly small values are
     * replaced by the protocol minimums rather than producing a 0 that
     * would stall the sender.
     */
    if (p->ipv6) {
        iphlen = CHIMNEY_IPV6_HLEN;
        mtu = MAX(p->path_mtu, IPV6_MIN_MTU);
        mss = t->c.remote_mss ? t->c.remote_mss : IPV6_DEFAULT_MSS;
    } else {
        iphlen = CHIMNEY_IPV4_HLEN;
        mtu = MAX(p->path_mtu, IPV4_MIN_MTU);
        mss = t->c.remote_mss ? t->c.remote_mss : IPV4_DEFAULT_MSS;
    }
    mss = MIN(mss, mtu - iphlen - CHIMNEY_TCP_HLEN);
    if (chimney_ts_enabled(t)) {
        mss = mss > CHIMNEY_TCP_TS_OPTLEN ? mss - CHIMNEY_TCP_TS_OPTLEN : 0;
    }
    return MAX(mss, 1);
}
