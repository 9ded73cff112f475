/*
 * chimney-nic offload target: parser for received Ethernet frames.
 *
 * Frames come straight from the wire, so the parser reads nothing outside
 * [frame, frame + len) whatever the bytes say, and every loop is bounded
 * by a header field of at most a few dozen bytes.  It only describes the
 * frame; chimney_rx_is_offload_candidate() says whether the offload
 * receive path may look at it at all.
 *
 * C + GLib only, like chimney_core.c.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_PARSE_H
#define CHIMNEY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IPv6 extension headers followed before giving up (host path anyway). */
#define CHIMNEY_PARSE_MAX_IPV6_EXT  8

/*
 * Everything is in host byte order except the addresses.  Fields of a
 * layer are only meaningful when the flag that says the layer was found
 * is set; all others are zero.
 */
typedef struct ChimneyRxParsed {
    /* Ethernet / 802.1Q (one tag, TPID 0x8100, is understood). */
    bool vlan;                  /* 802.1Q tag present */
    uint16_t vlan_id;           /* VID, 12 bits */
    uint8_t vlan_pcp;           /* 802.1p priority, 3 bits */
    uint16_t ethertype;         /* after the tag, if any */
    uint32_t l3_off;            /* offset of the IP header */

    /* IP.  is_ipv4/is_ipv6 follow the ethertype alone. */
    bool is_ipv4;
    bool is_ipv6;
    bool truncated;             /* frame shorter than the IP lengths say */
    bool ip_header_ok;          /* version/IHL/lengths sane, IPv4 csum ok */
    bool ip_csum_ok;            /* IPv4 header checksum ok (IPv6: true) */
    bool has_ip_options;        /* IPv4 IHL > 5 */
    bool is_fragment;           /* IPv4 MF/offset, IPv6 fragment header */
    bool ipv6_ext_headers;      /* any IPv6 extension header before L4 */
    uint8_t src_ip[16];         /* network order; IPv4 in [0..3] */
    uint8_t dst_ip[16];
    uint8_t ip_proto;           /* IPv4 protocol / last IPv6 next header */
    uint8_t ttl_hop_limit;
    uint8_t tos_traffic_class;
    uint32_t flow_label;        /* IPv6 only */
    uint16_t ip_id;             /* IPv4 only */
    uint32_t ip_total_len;      /* IP header + payload, as the header says */
    uint32_t ip_payload_len;    /* bytes after the IP header(s) */
    uint32_t l4_off;

    /*
     * TCP.  Parsed only for a complete, unfragmented IP datagram whose
     * header is sane and whose protocol is TCP with no IPv6 extension
     * header; is_tcp says the 20-byte fixed header is there.
     */
    bool is_tcp;
    bool tcp_header_ok;         /* 20 <= data offset <= TCP length */
    bool tcp_options_ok;        /* option list well formed */
    bool tcp_csum_ok;           /* checksum with pseudo-header verified */
    bool csum_vouched;          /* chimney_parse_frame_vouched(): not read */
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t tcp_flags;          /* CHIMNEY_TH_* */
    uint16_t window;            /* raw header value, not scaled */
    uint16_t urg_ptr;
    uint8_t data_off;           /* TCP header length in bytes */
    bool has_ts;
    uint32_t ts_val;
    uint32_t ts_ecr;
    bool has_mss;
    uint16_t mss;
    bool has_wscale;
    uint8_t wscale;
    bool sack_permitted;
    bool has_sack;              /* SACK blocks present */
    uint8_t nsack;              /* blocks decoded (at most 4) */
    uint32_t sack[4][2];        /* left edge, right edge (exclusive) */
    uint32_t payload_off;
    uint32_t payload_len;
} ChimneyRxParsed;

/*
 * Describe frame[0..len) in *out (always fully written).  Returns true if
 * it is at least an Ethernet header (14 bytes); the flags then say what
 * else was recognised.  Trailing bytes beyond the IP datagram (Ethernet
 * padding) are ignored.
 */
bool chimney_parse_frame(const uint8_t *frame, size_t len,
                         ChimneyRxParsed *out);
/*
 * The same for a frame whose TCP checksum the backend vouches for (the
 * host stack that built it left the checksum to the wire, spec
 * "Segmentation offload"): it is not computed (a super-segment is up to
 * 64 KiB) and tcp_csum_ok is set.
 */
bool chimney_parse_frame_vouched(const uint8_t *frame, size_t len,
                                 ChimneyRxParsed *out);

/*
 * True only for a well-formed, complete IPv4 or IPv6 TCP segment that
 * the offload receive path may process: no IP options, not a fragment,
 * no IPv6 extension header, valid IP and TCP checksums.  Everything else
 * is for the host (rules 111-113; corrupted headers are indicated to the
 * host, the recommended choice of chimney-spec 4.6).
 */
bool chimney_rx_is_offload_candidate(const ChimneyRxParsed *r);

#endif /* CHIMNEY_PARSE_H */
