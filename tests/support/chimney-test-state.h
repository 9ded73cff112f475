/*
 * chimney-nic test support: the default offload states (one definition
 * for the unit tests, the driver-core tests and the qtests).
 *
 * QEMU-free (C + GLib).  Every structure is in the wire format of
 * include/hw/net/chimney_hw.h (little endian, state headers set).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_STATE_H
#define CHIMNEY_TEST_STATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/net/chimney_hw.h"

/* The three structures of one layer, as INITIATE and QUERY carry them. */
typedef struct ChimneyTestNeighState {
    ChimneyNeighConst c;
    ChimneyNeighCached k;
    ChimneyNeighDelegated d;
} ChimneyTestNeighState;

typedef struct ChimneyTestPathState {
    ChimneyPathConst c;
    ChimneyPathCached k;
    ChimneyPathDelegated d;
} ChimneyTestPathState;

typedef struct ChimneyTestTcpState {
    ChimneyTcpConst c;
    ChimneyTcpCached k;
    ChimneyTcpDelegated d;
} ChimneyTestTcpState;

/* A state structure's header for a designated initializer. */
#define CHIMNEY_TEST_HDR(s) { .length = GUINT32_TO_LE(sizeof(s)) }

/* Default sequence numbers of a connection (chimney_test_tcp_state()). */
#define CHIMNEY_TEST_RCV_NXT        1000u   /* the peer's next byte */
#define CHIMNEY_TEST_SND_NXT        5000u   /* our next byte */
#define CHIMNEY_TEST_WND            65535u

/* Sizes of the three structures of each layer (QUERY/TERMINATE blocks). */
extern const uint32_t chimney_test_neigh_sizes[3];
extern const uint32_t chimney_test_path_sizes[3];
extern const uint32_t chimney_test_tcp_sizes[3];

/* Neighbor with cached DlDstAddr @mac (6 bytes) and const VLAN @vlan. */
void chimney_test_neigh_state(ChimneyTestNeighState *s, const uint8_t *mac,
                              uint16_t vlan);

/* Path @src -> @dst (4 or 16 bytes, network order), cached PathMtu. */
void chimney_test_path_state(ChimneyTestPathState *s, bool v6,
                             const uint8_t *src, const uint8_t *dst,
                             uint32_t mtu);

/* IPv4 path 10.0.0.<src_last> -> 10.0.0.<dst_last>. */
void chimney_test_path4_state(ChimneyTestPathState *s, uint8_t src_last,
                              uint8_t dst_last, uint32_t mtu);

/*
 * An ESTABLISHED connection lport -> rport: RemoteMss 1460, TTL 64,
 * RcvNxt 1000, SndUna = SndNxt = SndMax 5000, windows 65535 (SndWl1 999,
 * so the first in-order segment updates the send window), cwnd 10 MSS,
 * timers off, no options.
 */
void chimney_test_tcp_state(ChimneyTestTcpState *s, uint16_t lport,
                            uint16_t rport);

#endif /* CHIMNEY_TEST_STATE_H */
