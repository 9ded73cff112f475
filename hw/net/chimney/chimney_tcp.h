/*
 * chimney-nic TCP engine, internal interface between the engine's files.
 * C + GLib only; the device core never includes this file.
 *
 *   chimney_tcp.c        NIC time, timestamps, neighbor reachability, the
 *                        hooks the state operations call
 *   chimney_tcp_in.c     segment input: steering, acceptance, ACK, window
 *   chimney_tcp_out.c    segment output: ACKs and probes
 *   chimney_tcp_timer.c  per-connection timers on the engine's heap,
 *                        keepalive
 *   chimney_rcvbuf.c     receive buffer and the device-wide data budget
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TCP_H
#define CHIMNEY_TCP_H

#include <stdint.h>

#include "chimney_offload.h"

/* Sequence-space comparisons (RFC 9293 3.4), modular. */
static inline bool chimney_seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline bool chimney_seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

/* NIC time in the host's ticks (TicksPerSecond, rule 005); wraps. */
uint32_t chimney_nic_ticks(ChimneyEngine *eng);
/* Nanoseconds of one tick. */
uint64_t chimney_tick_ns(ChimneyEngine *eng);
/* Timestamp value this connection sends now: NicTime + NicDelta. */
uint32_t chimney_tcp_ts_now(ChimneyEngine *eng, const ChimneyTcpObj *o);
/* TsRecentAge now: ticks since TsRecent was received. */
uint32_t chimney_tcp_ts_recent_age(ChimneyEngine *eng,
                                   const ChimneyTcpObj *o);

void chimney_tcp_neigh_offloaded(ChimneyEngine *eng, ChimneyNeighObj *n,
                                 uint32_t nrd);
/* Current NicReachabilityDelta (ticks since we saw forward progress). */
uint32_t chimney_tcp_neigh_nrd(ChimneyEngine *eng, const ChimneyNeighObj *n);
/* The host's HRD changed (update or NEIGH_REPLY): HRT = NCT - HRD. */
void chimney_tcp_neigh_hrd_updated(ChimneyEngine *eng, ChimneyNeighObj *n);

/* State-operation hooks. */
void chimney_tcp_offloaded(ChimneyEngine *eng, uint32_t idx,
                           const ChimneyTcpHandover *ho);
void chimney_tcp_before_upload(ChimneyEngine *eng, ChimneyTcpObj *o);
void chimney_tcp_cached_update(ChimneyEngine *eng, uint32_t idx,
                               const ChimneyTcpCachedState *k);
/* FIN_WAIT_2 timeout in ticks (SET_PARAMS fin_wait2_ticks, 0 = 120 s). */
uint32_t chimney_tcp_fin_wait2_ticks(ChimneyEngine *eng);
/* Preferred send backlog reported by QUERY (spec "send_backlog_size"). */
uint32_t chimney_tcp_send_backlog(const ChimneyTcpObj *o);

/* Input: true when the frame was an offloaded connection's and consumed. */
bool chimney_tcp_input(ChimneyEngine *eng, const uint8_t *frame, size_t len,
                       bool csum_trusted);
struct ChimneyRxParsed;
/*
 * One segment for connection idx (from the wire or FORWARD): false when
 * it must go to the host instead (the connection asked for an upload).
 */
bool chimney_tcp_segment(ChimneyEngine *eng, uint32_t idx,
                         const struct ChimneyRxParsed *r,
                         const uint8_t *payload);

/* Output. */
/*
 * Build and send one segment of o at seq with flags; its len payload
 * bytes are already in place in eng->txbuf (after the headers).  len
 * above the effective MSS (only from chimney_tcp_tso_len()) goes to the
 * wire as one super-segment that it cuts (emit_tso).  False when nothing
 * could be sent.
 */
bool chimney_tcp_emit(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t seq,
                      uint8_t flags, uint32_t len, bool rexmit);
/*
 * Transmit segmentation offload (spec "Segmentation offload"):
 * the payload of one super-segment from the avail bytes the windows let
 * go now, or 0 when a single segment goes (no TSO on the wire, avail
 * not above one MSS).  whole: whole segments only (more data follows,
 * or Nagle holds a short tail); else the last segment may be short.
 */
uint32_t chimney_tcp_tso_len(ChimneyEngine *eng, ChimneyTcpObj *o,
                             uint32_t mss, uint32_t avail, bool whole);
void chimney_tcp_send_ack(ChimneyEngine *eng, ChimneyTcpObj *o);
void chimney_tcp_send_keepalive(ChimneyEngine *eng, ChimneyTcpObj *o);

/* Timers (chimney_tcp_timer.c). */
void chimney_tcp_timer_arm(ChimneyEngine *eng, uint32_t idx, unsigned which,
                           uint32_t ticks);
void chimney_tcp_timer_cancel(ChimneyEngine *eng, uint32_t idx,
                              unsigned which);
/* Ticks until it fires (0 = due), or CHIMNEY_TIMER_OFF (rule 041). */
uint32_t chimney_tcp_timer_left(ChimneyEngine *eng, const ChimneyTcpObj *o,
                                unsigned which);
/* rexmit_timeout_delta: retransmit, persist or FIN_WAIT_2, whichever runs. */
uint32_t chimney_tcp_rexmit_left(ChimneyEngine *eng, const ChimneyTcpObj *o);
/* Restart keepalive from zero (rules 056, 058) or stop it. */
void chimney_tcp_keepalive_restart(ChimneyEngine *eng, uint32_t idx);
/* Fire what is due, a bounded number per call, and re-arm the host timer. */
void chimney_tcp_timers_run(ChimneyEngine *eng);
/* Stop every timer of a connection. */
void chimney_tcp_timers_stop(ChimneyEngine *eng, uint32_t idx);

/* Receive buffer and the data-buffer budget (chimney_rcvbuf.c). */
/* Window to advertise now: MIN(RcvWnd, what the connection may hold). */
uint32_t chimney_rcvbuf_window(ChimneyEngine *eng, ChimneyTcpObj *o);
/* Room for in-order data now (grows the reservation if it can). */
uint32_t chimney_rcvbuf_room(ChimneyEngine *eng, ChimneyTcpObj *o);
/* Charge len bytes of initial data (INITIATE); false: budget spent. */
bool chimney_rcvbuf_init(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t len);
/* Where INITIATE copies the handed-over data, and how much it was. */
uint8_t *chimney_rcvbuf_init_data(ChimneyTcpObj *o);
void chimney_rcvbuf_init_done(ChimneyTcpObj *o, uint32_t len);

#endif /* CHIMNEY_TCP_H */
