/*
 * chimney-nic TCP engine entry points used by the state operations and
 * the receive path.  C + GLib only.
 *
 * This is the part-1 engine: NIC time and timestamps, in-order receive
 * into the connection's buffer with immediate ACKs, ACK processing of the
 * handed-over send data, neighbor reachability.  Send, the delivery
 * algorithm and the timers build on these.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TCP_H
#define CHIMNEY_TCP_H

#include <stdint.h>

#include "chimney_offload.h"

/* NIC time in the host's ticks (TicksPerSecond, rule 005); wraps. */
uint32_t chimney_nic_ticks(ChimneyCore *core);
/* Timestamp value this connection sends now: NicTime + NicDelta. */
uint32_t chimney_tcp_ts_now(ChimneyCore *core, const ChimneyTcpObj *o);

/* TsRecentAge now: ticks since TsRecent was received. */
uint32_t chimney_tcp_ts_recent_age(ChimneyCore *core, const ChimneyTcpObj *o);

void chimney_tcp_neigh_offloaded(ChimneyCore *core, ChimneyNeighObj *n,
                                 uint32_t nrd);
/* Current NicReachabilityDelta (ticks since we saw forward progress). */
uint32_t chimney_tcp_neigh_nrd(ChimneyCore *core, const ChimneyNeighObj *n);
/* The host's HRD changed (update or NEIGH_REPLY): HRT = NCT - HRD. */
void chimney_tcp_neigh_hrd_updated(ChimneyCore *core, ChimneyNeighObj *n);

void chimney_tcp_offloaded(ChimneyCore *core, ChimneyTcpObj *o);
void chimney_tcp_before_upload(ChimneyCore *core, ChimneyTcpObj *o);
void chimney_tcp_cached_update(ChimneyCore *core, ChimneyTcpObj *o,
                               const ChimneyTcpCachedState *k);
/* Send a bare ACK for the connection's current state (if allowed). */
void chimney_tcp_send_ack(ChimneyCore *core, ChimneyTcpObj *o);

#endif /* CHIMNEY_TCP_H */
