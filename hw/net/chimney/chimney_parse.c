/*
 * chimney-nic offload target: received-frame parser (see chimney_parse.h).
 *
 * Every read is preceded by a check against the bytes actually present;
 * lengths from headers are only trusted after they have been compared
 * with what the frame holds.  Rule numbers refer to section 8 of the TCP
 * Chimney reference notes.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney_hdr.h"
#include "chimney_parse.h"

#define IPV4_MF                 0x2000
#define IPV4_OFFSET_MASK        0x1fff

/* IPv6 extension header numbers (RFC 8200, IANA registry). */
#define IPV6_EXT_HOPOPTS        0
#define IPV6_EXT_ROUTING        43
#define IPV6_EXT_FRAGMENT       44
#define IPV6_EXT_ESP            50
#define IPV6_EXT_AH             51
#define IPV6_EXT_DSTOPTS        60
#define IPV6_EXT_MOBILITY       135
#define IPV6_EXT_HIP            139
#define IPV6_EXT_SHIM6          140
#define IPV6_EXT_EXP1           253
#define IPV6_EXT_EXP2           254

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static bool ipv6_is_ext_header(uint8_t nh)
{
    switch (nh) {
    case IPV6_EXT_HOPOPTS:
    case IPV6_EXT_ROUTING:
    case IPV6_EXT_FRAGMENT:
    case IPV6_EXT_ESP:
    case IPV6_EXT_AH:
    case IPV6_EXT_DSTOPTS:
    case IPV6_EXT_MOBILITY:
    case IPV6_EXT_HIP:
    case IPV6_EXT_SHIM6:
    case IPV6_EXT_EXP1:
    case IPV6_EXT_EXP2:
        return true;
    default:
        return false;
    }
}

/*
 * Walk the option list th[20..doff).  doff <= 60 and i grows by at least
 * one per round, so the loop is bounded.  An option whose length runs
 * past the header, is shorter than 2, or does not match its kind makes
 * the header malformed (a corrupted TCP header, chimney-spec 4.6).
 */
static bool parse_tcp_options(const uint8_t *th, size_t doff,
                              ChimneyRxParsed *out)
{
    size_t i = CHIMNEY_TCP_HLEN;

    while (i < doff) {
        uint8_t kind = th[i];
        uint8_t olen;

        if (kind == CHIMNEY_TCPOPT_EOL) {
            break;
        }
        if (kind == CHIMNEY_TCPOPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= doff) {
            return false;
        }
        olen = th[i + 1];
        if (olen < 2 || olen > doff - i) {
            return false;
        }
        switch (kind) {
        case CHIMNEY_TCPOPT_MSS:
            if (olen != 4) {
                return false;
            }
            out->has_mss = true;
            out->mss = get_be16(th + i + 2);
            break;
        case CHIMNEY_TCPOPT_WSCALE:
            if (olen != 3) {
                return false;
            }
            out->has_wscale = true;
            out->wscale = th[i + 2];
            break;
        case CHIMNEY_TCPOPT_SACK_PERM:
            if (olen != 2) {
                return false;
            }
            out->sack_permitted = true;
            break;
        case CHIMNEY_TCPOPT_SACK:
            if (olen < 10 || (olen - 2) % 8) {
                return false;
            }
            out->has_sack = true;
            {
                size_t b;

                /* (olen - 2) / 8 <= 4 blocks fit a 60-byte header */
                for (b = 0; b < (size_t)(olen - 2) / 8 && out->nsack < 4;
                     b++) {
                    out->sack[out->nsack][0] = get_be32(th + i + 2 + 8 * b);
                    out->sack[out->nsack][1] = get_be32(th + i + 6 + 8 * b);
                    out->nsack++;
                }
            }
            break;
        case CHIMNEY_TCPOPT_TIMESTAMP:
            if (olen != 10) {
                return false;
            }
            out->has_ts = true;
            out->ts_val = get_be32(th + i + 2);
            out->ts_ecr = get_be32(th + i + 6);
            break;
        default:
            /* Unknown options are skipped (RFC 9293 3.1). */
            break;
        }
        i += olen;
    }
    return true;
}

/*
 * th holds exactly tlen bytes of TCP header + payload (the IP payload,
 * known to be complete); src/dst feed the pseudo-header.
 */
static void parse_tcp(const uint8_t *th, size_t tlen, bool ipv6,
                      const uint8_t *src, const uint8_t *dst,
                      ChimneyRxParsed *out)
{
    size_t doff;

    if (tlen < CHIMNEY_TCP_HLEN) {
        return;
    }
    out->is_tcp = true;
    out->src_port = get_be16(th);
    out->dst_port = get_be16(th + 2);
    out->seq = get_be32(th + 4);
    out->ack = get_be32(th + 8);
    doff = (th[12] >> 4) * 4;
    out->data_off = doff;
    out->tcp_flags = th[13];
    out->window = get_be16(th + 14);
    out->urg_ptr = get_be16(th + 18);
    out->tcp_csum_ok = out->csum_vouched ||
                       chimney_tcp_checksum(ipv6, src, dst, th, tlen) == 0;
    if (doff < CHIMNEY_TCP_HLEN || doff > tlen) {
        return;
    }
    out->tcp_header_ok = true;
    out->tcp_options_ok = parse_tcp_options(th, doff, out);
    out->payload_off = out->l4_off + doff;
    out->payload_len = tlen - doff;
}

static void parse_ipv4(const uint8_t *ip, size_t avail, ChimneyRxParsed *out)
{
    size_t ihl, total;
    uint16_t frag;

    if (avail < CHIMNEY_IPV4_HLEN) {
        out->truncated = true;
        return;
    }
    ihl = (ip[0] & 0xf) * 4;
    total = get_be16(ip + 2);
    frag = get_be16(ip + 6);
    out->tos_traffic_class = ip[1];
    out->ip_total_len = total;
    out->ip_id = get_be16(ip + 4);
    out->ttl_hop_limit = ip[8];
    out->ip_proto = ip[9];
    memcpy(out->src_ip, ip + 12, 4);
    memcpy(out->dst_ip, ip + 16, 4);
    out->has_ip_options = ihl > CHIMNEY_IPV4_HLEN;
    out->is_fragment = (frag & IPV4_MF) || (frag & IPV4_OFFSET_MASK);
    if (total > avail || ihl > avail) {
        out->truncated = true;
    }
    if ((ip[0] >> 4) != 4 || ihl < CHIMNEY_IPV4_HLEN || total < ihl ||
        ihl > avail) {
        return;
    }
    out->ip_csum_ok = chimney_ip_checksum(ip, ihl) == 0;
    out->ip_header_ok = out->ip_csum_ok;
    out->ip_payload_len = total - ihl;
    out->l4_off = out->l3_off + ihl;
    /*
     * A fragment's TCP header (if it is even in this one) cannot be
     * checked without reassembly, which is the host's job (rule 111).
     */
    if (out->truncated || out->is_fragment ||
        out->ip_proto != CHIMNEY_IPPROTO_TCP) {
        return;
    }
    parse_tcp(ip + ihl, total - ihl, false, ip + 12, ip + 16, out);
}

static void parse_ipv6(const uint8_t *ip, size_t avail, ChimneyRxParsed *out)
{
    size_t plen, end, off;
    uint32_t vtf;
    uint8_t nh;
    unsigned i;

    if (avail < CHIMNEY_IPV6_HLEN) {
        out->truncated = true;
        return;
    }
    vtf = get_be32(ip);
    plen = get_be16(ip + 4);
    nh = ip[6];
    out->tos_traffic_class = (vtf >> 20) & 0xff;
    out->flow_label = vtf & 0xfffff;
    out->ttl_hop_limit = ip[7];
    memcpy(out->src_ip, ip + 8, 16);
    memcpy(out->dst_ip, ip + 24, 16);
    out->ip_total_len = CHIMNEY_IPV6_HLEN + plen;
    end = CHIMNEY_IPV6_HLEN + plen;
    if (end > avail) {
        out->truncated = true;
        end = avail;
    }
    if ((vtf >> 28) != 6) {
        out->ip_proto = nh;
        return;
    }
    /* No header checksum in IPv6. */
    out->ip_csum_ok = true;
    out->ip_header_ok = true;

    /*
     * Extension headers send the datagram to the host (offload candidates
     * have none), but a fragment header anywhere in the chain must still
     * be reported (rule 111), so follow the few whose length we know, a
     * bounded number of times, and stop at anything else.
     */
    off = CHIMNEY_IPV6_HLEN;
    for (i = 0; i < CHIMNEY_PARSE_MAX_IPV6_EXT && ipv6_is_ext_header(nh);
         i++) {
        size_t hlen;

        out->ipv6_ext_headers = true;
        if (nh == IPV6_EXT_FRAGMENT) {
            out->is_fragment = true;
        }
        /* Every extension header is at least 8 bytes long. */
        if (off + 8 > end) {
            break;
        }
        switch (nh) {
        case IPV6_EXT_HOPOPTS:
        case IPV6_EXT_ROUTING:
        case IPV6_EXT_DSTOPTS:
            hlen = (ip[off + 1] + 1) * 8;
            break;
        case IPV6_EXT_FRAGMENT:
            hlen = 8;
            break;
        case IPV6_EXT_AH:
            hlen = (ip[off + 1] + 2) * 4;
            break;
        default:
            hlen = 0;   /* ESP and the rest: not walked */
            break;
        }
        if (!hlen) {
            break;
        }
        nh = ip[off];
        off += hlen;
    }
    out->ip_proto = nh;
    if (off > end) {
        /* Last header claims more than the datagram holds. */
        off = end;
    }
    out->l4_off = out->l3_off + off;
    out->ip_payload_len = CHIMNEY_IPV6_HLEN + plen >= off ?
                          CHIMNEY_IPV6_HLEN + plen - off : 0;
    if (out->truncated || out->ipv6_ext_headers ||
        nh != CHIMNEY_IPPROTO_TCP) {
        return;
    }
    parse_tcp(ip + CHIMNEY_IPV6_HLEN, plen, true, ip + 8, ip + 24, out);
}

static bool parse_frame(const uint8_t *frame, size_t len, bool vouched,
                        ChimneyRxParsed *out)
{
    size_t off = CHIMNEY_ETH_HLEN;
    uint16_t type;

    memset(out, 0, sizeof(*out));
    out->csum_vouched = vouched;
    if (!frame || len < CHIMNEY_ETH_HLEN) {
        return false;
    }
    type = get_be16(frame + 12);
    /*
     * One 802.1Q tag is all the target ever sends or expects (rule 080);
     * a stacked tag leaves ethertype 0x8100 and so goes to the host.
     */
    if (type == CHIMNEY_ETHERTYPE_VLAN && len >= off + CHIMNEY_VLAN_HLEN) {
        uint16_t tci = get_be16(frame + 14);

        out->vlan = true;
        out->vlan_id = tci & 0x0fff;
        out->vlan_pcp = tci >> 13;
        type = get_be16(frame + 16);
        off += CHIMNEY_VLAN_HLEN;
    }
    out->ethertype = type;
    out->l3_off = off;
    if (type == CHIMNEY_ETHERTYPE_IPV4) {
        out->is_ipv4 = true;
        parse_ipv4(frame + off, len - off, out);
    } else if (type == CHIMNEY_ETHERTYPE_IPV6) {
        out->is_ipv6 = true;
        parse_ipv6(frame + off, len - off, out);
    }
    return true;
}

bool chimney_parse_frame(const uint8_t *frame, size_t len,
                         ChimneyRxParsed *out)
{
    return parse_frame(frame, len, false, out);
}

bool chimney_parse_frame_vouched(const uint8_t *frame, size_t len,
                                 ChimneyRxParsed *out)
{
    return parse_frame(frame, len, true, out);
}

bool chimney_rx_is_offload_candidate(const ChimneyRxParsed *r)
{
    if (!r || r->is_ipv4 == r->is_ipv6) {
        return false;
    }
    /* Rules 111 and 112: fragments and IPv4 options are the host's. */
    if (r->is_fragment || r->has_ip_options || r->ipv6_ext_headers) {
        return false;
    }
    /*
     * Corrupted IP or TCP headers: the recommended choice of
     * chimney-spec 4.6, indicate to the host without counting.
     */
    if (r->truncated || !r->ip_header_ok) {
        return false;
    }
    /* Rule 113: ARP/ICMP/RIP never get here as TCP. */
    return r->is_tcp && r->tcp_header_ok && r->tcp_options_ok &&
           r->tcp_csum_ok;
}
