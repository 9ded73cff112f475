/*
 * chimney-nic device core: frames a backend with receive offloads hands
 * over (spec "Segmentation offload"): TCP segments whose checksum the
 * host left to the wire, and TCP super-segments of several segments.
 * The offload engine takes them whole; the host (L2) path gets what a
 * NIC without offloads receives: complete checksums, segments of at most
 * the sender's MSS.  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_core_int.h"
#include "chimney_hdr.h"

#define RXOFF_MAX_SEGS  256u    /* segments one super-segment may make */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, v >> 16);
    wr16(p + 2, v);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

static void rxoff_drop(ChimneyCore *core, size_t len, const char *why)
{
    core->stats[CHIMNEY_STAT_RX_OVERSIZE]++;
    trace_chimney_rx_offload_drop(len, why);
}

/* One frame whose checksum at csum_start/offset the wire completes. */
static ssize_t rxoff_csum(ChimneyCore *core, const uint8_t *buf, size_t len,
                          const ChimneyRxOffload *ro)
{
    g_autofree uint8_t *f = NULL;
    size_t at = (size_t)ro->csum_start + ro->csum_offset;

    if (len > CHIMNEY_MAX_FRAME || at + 2 > len) {
        rxoff_drop(core, len, "checksum request outside the frame");
        return len;
    }
    f = g_memdup2(buf, len);
    /* the field holds the pseudo-header sum: sum it with the rest */
    wr16(f + at, chimney_ip_checksum(f + ro->csum_start,
                                     len - ro->csum_start));
    return chimney_l2_receive_frame(core, f, len);
}

/*
 * A TCP super-segment for the host path, cut as the sender's stack
 * would have sent it (RFC 9293 segments of gso_size bytes): headers
 * repeated, sequence numbers advanced, IPv4 id + i, lengths and both
 * checksums computed, PSH and FIN on the last segment, CWR on the first.
 * All or nothing for the first segment (0: the caller queues the frame);
 * a later one that finds no room is a loss on the wire, as when a NIC
 * runs out of buffers.
 */
static ssize_t rxoff_cut(ChimneyCore *core, const uint8_t *buf, size_t len,
                         const ChimneyRxOffload *ro)
{
    size_t l3 = 14, l4, hdr, off;
    uint16_t et = len >= 14 ? rd16(buf + 12) : 0;
    bool v6;
    uint32_t seq, i;
    g_autofree uint8_t *seg = NULL;

    if (et == CHIMNEY_ETHERTYPE_VLAN && len >= 18) {
        l3 = 18;
        et = rd16(buf + 16);
    }
    v6 = et == CHIMNEY_ETHERTYPE_IPV6;
    if ((!v6 && et != CHIMNEY_ETHERTYPE_IPV4) ||
        len < l3 + (v6 ? CHIMNEY_IPV6_HLEN : CHIMNEY_IPV4_HLEN)) {
        rxoff_drop(core, len, "super-segment not TCP over IP");
        return len;
    }
    l4 = v6 ? l3 + CHIMNEY_IPV6_HLEN : l3 + (buf[l3] & 0xf) * 4;
    if ((v6 ? buf[l3 + 6] : buf[l3 + 9]) != CHIMNEY_IPPROTO_TCP ||
        l4 + CHIMNEY_TCP_HLEN > len) {
        rxoff_drop(core, len, "super-segment not TCP over IP");
        return len;
    }
    hdr = l4 + (buf[l4 + 12] >> 4) * 4;
    if (hdr < l4 + CHIMNEY_TCP_HLEN || hdr >= len || !ro->gso_size ||
        hdr + ro->gso_size > CHIMNEY_MAX_FRAME ||
        (len - hdr + ro->gso_size - 1) / ro->gso_size > RXOFF_MAX_SEGS) {
        rxoff_drop(core, len, "super-segment headers or size");
        return len;
    }
    seq = rd32(buf + l4 + 4);
    seg = g_malloc(hdr + ro->gso_size);
    for (i = 0, off = hdr; off < len; i++, off += ro->gso_size) {
        size_t n = MIN((size_t)ro->gso_size, len - off);
        uint8_t *ip = seg + l3, *th = seg + l4;
        ssize_t r;

        memcpy(seg, buf, hdr);
        memcpy(seg + hdr, buf + off, n);
        if (v6) {
            wr16(ip + 4, hdr - l4 + n);
        } else {
            wr16(ip + 2, hdr - l3 + n);
            wr16(ip + 4, rd16(buf + l3 + 4) + i);
            wr16(ip + 10, 0);
            wr16(ip + 10, chimney_ip_checksum(ip, l4 - l3));
        }
        wr32(th + 4, seq + (uint32_t)(off - hdr));
        if (off + n < len) {
            th[13] &= ~(CHIMNEY_TH_FIN | CHIMNEY_TH_PSH);
        }
        if (i) {
            th[13] &= ~CHIMNEY_TH_CWR;
        }
        wr16(th + 16, 0);
        wr16(th + 16, chimney_tcp_checksum(v6, ip + (v6 ? 8 : 12),
                                           ip + (v6 ? 24 : 16), th,
                                           hdr - l4 + n));
        r = chimney_l2_receive_frame(core, seg, hdr + n);
        if (r == 0 && i == 0) {
            return 0;
        }
        if (r == 0) {
            trace_chimney_rx_offload_cut_short(len, i);
            break;
        }
    }
    trace_chimney_rx_offload_cut(len, i);
    return len;
}

ssize_t chimney_rxoff_frame(ChimneyCore *core, const uint8_t *buf,
                            size_t len, const ChimneyRxOffload *ro)
{
    if (len > CHIMNEY_TSO_MAX_FRAME) {
        rxoff_drop(core, len, "longer than a super-segment can be");
        return len;
    }
    /* the host built it: the engine takes it whole, checksum vouched for */
    if (chimney_engine_rx_trusted(core->engine, buf, len)) {
        return len;
    }
    return ro->gso ? rxoff_cut(core, buf, len, ro) :
                     rxoff_csum(core, buf, len, ro);
}
