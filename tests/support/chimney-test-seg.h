/*
 * chimney-nic test support: the reference segment builder.  Builds any
 * Ethernet/IPv4-or-IPv6/TCP frame a test needs, including ones the
 * device never sends (IP options, fragments, bad checksums), field by
 * field from the protocol definitions, so the frames a test expects do
 * not come from the device's own builder (hw/net/chimney/chimney_hdr.c).
 * The checksums are the device's RFC 1071 implementation
 * (chimney_ip_checksum(), chimney_tcp_checksum()), which
 * tests/unit/test-chimney-hdr.c checks against known values.
 *
 * Also the parser the scripted peer uses to read what the device sends.
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_SEG_H
#define CHIMNEY_TEST_SEG_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chimney-test-hdr.h"

typedef struct ChimneyTestSeg {
    const uint8_t *dst_mac;
    const uint8_t *src_mac;
    int tci;                    /* 802.1Q TCI, -1: untagged */
    bool v6;
    uint8_t src_ip[16];
    uint8_t dst_ip[16];
    uint8_t tos;                /* IPv4 TOS / IPv6 traffic class */
    uint8_t ttl;                /* TTL / hop limit */
    uint32_t flow;              /* IPv6 flow label */
    uint16_t ip_id;
    uint16_t frag;              /* IPv4 flags + fragment offset field */
    unsigned ip_opt_len;        /* IPv4 option bytes (multiple of 4) */
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;              /* CHIMNEY_TH_* */
    uint16_t win;
    uint16_t urg;
    bool ts;                    /* NOP NOP TS option */
    uint32_t tsval;
    uint32_t tsecr;
    const void *payload;
    size_t plen;
    bool bad_tcp_csum;
    uint8_t nsack;              /* SACK blocks (NOP NOP SACK), at most 3 */
    uint32_t sack[3][2];
} ChimneyTestSeg;

/* Bytes seg_build() writes for @s. */
size_t seg_len(const ChimneyTestSeg *s);
/* The frame (no padding) into @buf (at least seg_len() bytes). */
size_t seg_build(const ChimneyTestSeg *s, uint8_t *buf);

/* A TCP segment as read back from a frame. */
typedef struct ChimneyTestRxSeg {
    bool tagged;
    uint16_t tci;
    bool v6;
    const uint8_t *src_ip;      /* into the frame */
    const uint8_t *dst_ip;
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;
    uint16_t win;
    bool ts;
    uint32_t tsval;
    uint32_t tsecr;
    const uint8_t *payload;     /* into the frame */
    size_t plen;
    size_t l4_off;
} ChimneyTestRxSeg;

/*
 * Parse an Ethernet/IP/TCP frame (padding allowed); false unless it is
 * one with correct IP and TCP checksums.
 */
bool seg_parse(const uint8_t *f, size_t len, ChimneyTestRxSeg *out);

#endif /* CHIMNEY_TEST_SEG_H */
