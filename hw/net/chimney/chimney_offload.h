/*
 * chimney-nic offload target: state objects, tables and the operations on
 * them.  C + GLib only, like chimney_core.c.
 *
 * Objects live in three tables (neighbor, path, TCP).  They form the
 * inverted tree of the "Offload Target's Internal State Trees" page: each
 * TCP object names its path, each path its neighbor.  Received frames are
 * matched to TCP objects through a 4-tuple hash (no tree walk).
 *
 * All fields are in host byte order; conversion to and from the
 * little-endian wire structures of chimney_hw.h happens at the DMA edge.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_OFFLOAD_H
#define CHIMNEY_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/net/chimney_hw.h"

typedef struct ChimneyCore ChimneyCore;

#define CHIMNEY_NO_INDEX        UINT32_MAX

typedef struct ChimneyNeighObj {
    uint32_t gen;               /* generation; 0 = slot never used */
    bool in_use;
    bool invalid;               /* invalidated, awaiting terminate */
    uint8_t dl_src[6];          /* const; all zero = interface MAC */
    uint16_t vlan_id;           /* const, 12 bits */
    uint8_t dl_dst[6];          /* cached */
    uint32_t hrd;               /* cached HostReachabilityDelta */
    uint32_t hrt;               /* NIC ticks: host last saw progress */
    uint32_t nrt;               /* NIC ticks: we last saw progress */
    uint64_t host_handle;
    uint32_t npaths;            /* paths linked to this neighbor */
} ChimneyNeighObj;

typedef struct ChimneyPathObj {
    uint32_t gen;
    bool in_use;
    bool invalid;
    bool ipv6;
    uint8_t src[16];            /* const, network order; IPv4 in [0..3] */
    uint8_t dst[16];
    uint32_t path_mtu;          /* cached */
    uint32_t neigh;             /* index of the neighbor it is linked to */
    uint64_t host_handle;
    uint32_t ntcp;              /* TCP objects linked to this path */
} ChimneyPathObj;

typedef struct ChimneyTcpConstState {
    uint16_t flags;             /* CHIMNEY_TCP_CONST_* */
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t snd_wind_scale;
    uint8_t rcv_wind_scale;
    uint16_t remote_mss;
    uint32_t hash_value;
} ChimneyTcpConstState;

typedef struct ChimneyTcpCachedState {
    uint16_t flags;             /* CHIMNEY_TCP_CACHED_* */
    uint32_t initial_rcv_wnd;
    uint32_t rcv_indication_size;
    uint32_t ka_timeout;
    uint32_t ka_interval;
    uint32_t max_rt;
    uint32_t flow_label;
    uint8_t ka_probe_count;
    uint8_t ttl_hop_limit;
    uint8_t tos_traffic_class;
    uint8_t user_priority;
} ChimneyTcpCachedState;

typedef struct ChimneyTcpDelegatedState {
    uint32_t state;             /* ChimneyTcpState */
    uint16_t flags;
    uint32_t rcv_nxt;
    uint32_t rcv_wnd;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max;
    uint32_t snd_wnd;
    uint32_t max_snd_wnd;
    uint32_t snd_wl1;
    uint32_t cwnd;
    uint32_t ssthresh;
    uint16_t srtt;              /* ticks x 8 */
    uint16_t rttvar;            /* ticks x 4 */
    uint32_t ts_recent;
    uint32_t ts_recent_age;
    uint32_t ts_time;
    uint32_t total_rt;
    uint8_t dup_ack_count;
    uint8_t snd_wnd_probe_count;
    uint8_t ka_probe_count;
    uint8_t rexmit_count;
    uint32_t ka_timeout_delta;
    uint32_t rexmit_timeout_delta;
    uint32_t dwnd;
} ChimneyTcpDelegatedState;

/* One send request the connection owns (handed over at offload). */
typedef struct ChimneySendReq {
    uint64_t addr;
    uint32_t len;
    uint32_t acked;
    uint64_t cookie;
} ChimneySendReq;

typedef struct ChimneyTcpObj {
    uint32_t gen;
    bool in_use;
    bool invalid;               /* depends on invalidated state */
    bool retrieve_pending;      /* TCP_RETRIEVE queued for the driver */
    uint8_t retrieve_reason;
    uint32_t path;              /* index of its path */
    uint32_t hash_next;         /* demux chain */
    uint32_t evt_next;          /* pending-event list */
    uint64_t host_handle;
    int32_t ts_delta;           /* NicDelta: TsTime - NicTime (rule 036) */
    uint32_t ts_recent_stamp;   /* NIC ticks when TsRecent was taken */
    uint16_t ip_id;             /* next IPv4 id, 0x8000..0xffff (rule 075) */
    ChimneyTcpConstState c;
    ChimneyTcpCachedState k;
    ChimneyTcpDelegatedState d;
    /* Data, outside the per-connection state budget. */
    ChimneySendReq *sendq;      /* in send order, first byte = SndUna */
    uint32_t sendq_len;
    uint8_t *rcvbuf;            /* acked, undelivered data ending at RcvNxt */
    uint32_t rcv_len;
} ChimneyTcpObj;

/* Tables grow in chunks so an idle device does not pay for 64k slots. */
#define CHIMNEY_TABLE_CHUNK     1024u

typedef struct ChimneyTable {
    void **chunks;              /* entry i: chunks[i / CHUNK][i % CHUNK] */
    uint32_t capacity;          /* slots that may ever exist */
    uint32_t allocated;         /* slots backed by chunks */
    uint32_t used;
    uint32_t *free_list;        /* stack of free indices */
    uint32_t nfree;
    size_t entry_size;
} ChimneyTable;

typedef struct ChimneyOffload {
    ChimneyTable neigh;
    ChimneyTable path;
    ChimneyTable tcp;
    uint32_t *demux;            /* 4-tuple hash buckets of TCP indices */
    uint32_t demux_mask;
    uint32_t evt_head;          /* TCP objects with a queued RETRIEVE */
    uint32_t evt_tail;
    ChimneyOffloadParams params;    /* host order */
    bool params_set;
    uint16_t vlans[CHIMNEY_MAX_IFACE_VLANS];    /* interface VLAN ids */
    uint32_t nvlans;
} ChimneyOffload;

ChimneyOffload *chimney_offload_new(void);
void chimney_offload_free(ChimneyOffload *ofl);
/* Drop every object (device reset). */
void chimney_offload_reset(ChimneyOffload *ofl);

ChimneyNeighObj *chimney_neigh_at(ChimneyOffload *ofl, uint32_t idx);
ChimneyPathObj *chimney_path_at(ChimneyOffload *ofl, uint32_t idx);
ChimneyTcpObj *chimney_tcp_at(ChimneyOffload *ofl, uint32_t idx);

/* Resolve a handle; NULL if malformed, stale or of another kind. */
void *chimney_offload_lookup(ChimneyOffload *ofl, uint64_t handle,
                             unsigned kind, uint32_t *idx);
uint64_t chimney_offload_handle(ChimneyOffload *ofl, unsigned kind,
                                uint32_t idx);

/* Allocate a zeroed slot; CHIMNEY_NO_INDEX when the table is full. */
uint32_t chimney_table_alloc(ChimneyTable *t);
void chimney_table_release(ChimneyTable *t, uint32_t idx);
void *chimney_table_at(ChimneyTable *t, uint32_t idx);

/* 4-tuple demux (chimney_state.c). */
void chimney_demux_insert(ChimneyOffload *ofl, uint32_t tcp);
void chimney_demux_remove(ChimneyOffload *ofl, uint32_t tcp);
uint32_t chimney_demux_lookup(ChimneyOffload *ofl, bool ipv6,
                              const uint8_t *local_ip,
                              const uint8_t *remote_ip,
                              uint16_t local_port, uint16_t remote_port);

/* Run one state-manipulation command (chimney_tree.c). */
uint32_t chimney_offload_cmd(ChimneyCore *core, const ChimneyCmdDesc *cmd,
                             uint32_t *info);

/* Queue a TCP_RETRIEVE for a connection (at most one pending each). */
void chimney_offload_request_upload(ChimneyOffload *ofl, uint32_t tcp,
                                    uint8_t reason);
/* Next connection with a pending RETRIEVE, or CHIMNEY_NO_INDEX. */
uint32_t chimney_offload_pop_retrieve(ChimneyOffload *ofl);
void chimney_offload_cancel_retrieve(ChimneyOffload *ofl, uint32_t tcp);

/*
 * Receive path (chimney_tcp_rx.c): returns true when the frame belonged
 * to an offloaded connection and was consumed by it, false when it must
 * go up the host (L2) path untouched.
 */
bool chimney_offload_rx(ChimneyCore *core, const uint8_t *frame, size_t len);

#endif /* CHIMNEY_OFFLOAD_H */
