/*
 * chimney-nic offload target: Ethernet/IP/TCP header builder for the
 * segments an offloaded connection sends, and the Internet checksum.
 *
 * C + GLib only, like chimney_core.c.  Inputs are the host-byte-order
 * objects of chimney_offload.h; output is a complete Ethernet frame
 * (without FCS and without padding to the 60-byte minimum).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_HDR_H
#define CHIMNEY_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chimney_offload.h"

#define CHIMNEY_ETH_HLEN            14
#define CHIMNEY_VLAN_HLEN           4
#define CHIMNEY_IPV4_HLEN           20      /* without options */
#define CHIMNEY_IPV6_HLEN           40      /* without extension headers */
#define CHIMNEY_TCP_HLEN            20      /* without options */
#define CHIMNEY_TCP_TS_OPTLEN       12      /* NOP NOP TS(10) */

#define CHIMNEY_ETHERTYPE_IPV4      0x0800
#define CHIMNEY_ETHERTYPE_ARP       0x0806
#define CHIMNEY_ETHERTYPE_VLAN      0x8100
#define CHIMNEY_ETHERTYPE_IPV6      0x86dd

#define CHIMNEY_IPPROTO_TCP         6

/* TCP header flag bits (byte 13 of the TCP header). */
#define CHIMNEY_TH_FIN              0x01
#define CHIMNEY_TH_SYN              0x02
#define CHIMNEY_TH_RST              0x04
#define CHIMNEY_TH_PSH              0x08
#define CHIMNEY_TH_ACK              0x10
#define CHIMNEY_TH_URG              0x20
#define CHIMNEY_TH_ECE              0x40
#define CHIMNEY_TH_CWR              0x80

/* TCP option kinds the target writes or reads. */
#define CHIMNEY_TCPOPT_EOL          0
#define CHIMNEY_TCPOPT_NOP          1
#define CHIMNEY_TCPOPT_MSS          2
#define CHIMNEY_TCPOPT_WSCALE       3
#define CHIMNEY_TCPOPT_SACK_PERM    4
#define CHIMNEY_TCPOPT_SACK         5
#define CHIMNEY_TCPOPT_TIMESTAMP    8

/* IPv4 ids from this range belong to the target (rule 075). */
#define CHIMNEY_IPV4_ID_BASE        0x8000u

/*
 * One TCP segment to send.  Everything the connection objects cannot
 * supply: the caller (the send/ACK/timer machinery) decides these.
 */
typedef struct ChimneySegment {
    uint32_t seq;
    uint32_t ack;
    uint16_t window;            /* header value, already shifted by caller */
    uint8_t flags;              /* CHIMNEY_TH_* */
    uint16_t ip_id;             /* IPv4 only; top bit forced (rule 075) */
    uint32_t ts_val;            /* used iff CHIMNEY_TCP_CONST_TIMESTAMP */
    uint32_t ts_ecr;
    const uint8_t *payload;     /* may be NULL when payload_len is 0 */
    uint32_t payload_len;
    /*
     * SACK blocks (RFC 2018), only on a segment without payload, at most
     * 3 with timestamps and 4 without (40 bytes of options).
     */
    uint8_t nsack;
    uint32_t sack[4][2];
    /*
     * The wire completes the TCP checksum (segmentation offload): the
     * checksum field gets the folded pseudo-header sum only, over the
     * whole segment's length, as a virtio-net header's NEEDS_CSUM wants.
     */
    bool csum_partial;
} ChimneySegment;

/*
 * Bytes of Ethernet (+ 802.1Q) + IP + TCP headers (with options) that
 * chimney_build_segment() puts in front of the payload for this
 * connection; the caller sizes buffers and segments with it.
 */
size_t chimney_segment_overhead(const ChimneyNeighObj *n,
                                const ChimneyPathObj *p,
                                const ChimneyTcpObj *t);

/*
 * Build the complete Ethernet frame for one segment of connection t,
 * which runs over path p, which runs over neighbor n.  Returns the frame
 * length (no FCS, not padded to the Ethernet minimum), or 0 when buf is
 * too small or the inputs cannot form a frame (NULL objects, NULL
 * payload with a length, IP length field overflow).  Nothing is written
 * to buf when 0 is returned.
 */
size_t chimney_build_segment(const uint8_t iface_mac[6],
                             const ChimneyNeighObj *n,
                             const ChimneyPathObj *p,
                             const ChimneyTcpObj *t,
                             const ChimneySegment *seg,
                             uint8_t *buf, size_t buflen);

/*
 * Largest TCP payload per segment for connection t on path p (rule 079):
 * min(RemoteMss, PathMtu - IP header - TCP header), less the timestamp
 * option when it is on.  Always at least 1.
 */
uint32_t chimney_effective_mss(const ChimneyPathObj *p,
                               const ChimneyTcpObj *t);

/*
 * RFC 1071 Internet checksum of len bytes: the one's complement of the
 * one's complement sum, in host order, ready to be stored big-endian.
 * Computed over a header whose checksum field is zero it gives the value
 * to store; computed over a header with its checksum in place it gives 0
 * exactly when that checksum is correct.
 */
uint16_t chimney_ip_checksum(const void *data, size_t len);

/*
 * Same for a TCP segment (header + payload, len bytes) with the IPv4 or
 * IPv6 pseudo-header built from src/dst (4 or 16 bytes, network order).
 * For IPv4, len must fit the 16-bit pseudo-header length.
 */
uint16_t chimney_tcp_checksum(bool ipv6, const uint8_t *src,
                              const uint8_t *dst, const void *seg,
                              size_t len);

/*
 * The folded, not complemented, pseudo-header sum of a TCP segment of
 * len bytes: what a checksum field holds for the wire to complete
 * (virtio-net NEEDS_CSUM: the wire sums from the TCP header on, adds
 * this, complements).
 */
uint16_t chimney_tcp_pseudo_sum(bool ipv6, const uint8_t *src,
                                const uint8_t *dst, size_t len);

#endif /* CHIMNEY_HDR_H */
