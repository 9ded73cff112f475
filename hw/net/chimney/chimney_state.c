/*
 * chimney-nic offload state: object tables, handles, 4-tuple demux and the
 * queue of pending upload requests.  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney_offload.h"

/*
 * Tables: chunked arrays with a free-index stack.  Slots keep their
 * generation across reuse so stale handles never match (spec "Handles").
 */

static void chimney_table_init(ChimneyTable *t, uint32_t capacity,
                               size_t entry_size)
{
    memset(t, 0, sizeof(*t));
    t->capacity = capacity;
    t->entry_size = entry_size;
    t->chunks = g_new0(void *, capacity / CHIMNEY_TABLE_CHUNK + 1);
    t->free_list = g_new(uint32_t, capacity);
}

static void chimney_table_destroy(ChimneyTable *t)
{
    uint32_t i;

    for (i = 0; i * CHIMNEY_TABLE_CHUNK < t->allocated; i++) {
        g_free(t->chunks[i]);
    }
    g_free(t->chunks);
    g_free(t->free_list);
    memset(t, 0, sizeof(*t));
}

void *chimney_table_at(ChimneyTable *t, uint32_t idx)
{
    if (idx >= t->allocated) {
        return NULL;
    }
    return (uint8_t *)t->chunks[idx / CHIMNEY_TABLE_CHUNK] +
           (size_t)(idx % CHIMNEY_TABLE_CHUNK) * t->entry_size;
}

/* Every object type starts with `uint32_t gen; bool in_use;`. */
typedef struct ChimneyObjHead {
    uint32_t gen;
    bool in_use;
} ChimneyObjHead;

uint32_t chimney_table_alloc(ChimneyTable *t)
{
    uint32_t idx;
    ChimneyObjHead *h;
    uint32_t gen;

    if (!t->nfree) {
        uint32_t base = t->allocated, i;

        if (base >= t->capacity) {
            return CHIMNEY_NO_INDEX;
        }
        t->chunks[base / CHIMNEY_TABLE_CHUNK] =
            g_malloc0(CHIMNEY_TABLE_CHUNK * t->entry_size);
        t->allocated = base + CHIMNEY_TABLE_CHUNK;
        /* push in reverse so low indices are handed out first */
        for (i = CHIMNEY_TABLE_CHUNK; i > 0; i--) {
            if (base + i - 1 < t->capacity) {
                t->free_list[t->nfree++] = base + i - 1;
            }
        }
    }
    idx = t->free_list[--t->nfree];
    h = chimney_table_at(t, idx);
    gen = h->gen + 1;
    if (gen == 0) {
        gen = 1;                /* generation 0 is never valid */
    }
    memset(h, 0, t->entry_size);
    h->gen = gen;
    h->in_use = true;
    t->used++;
    return idx;
}

void chimney_table_release(ChimneyTable *t, uint32_t idx)
{
    ChimneyObjHead *h = chimney_table_at(t, idx);

    if (!h || !h->in_use) {
        return;
    }
    h->in_use = false;
    t->used--;
    t->free_list[t->nfree++] = idx;
}

ChimneyNeighObj *chimney_neigh_at(ChimneyOffload *ofl, uint32_t idx)
{
    return chimney_table_at(&ofl->neigh, idx);
}

ChimneyPathObj *chimney_path_at(ChimneyOffload *ofl, uint32_t idx)
{
    return chimney_table_at(&ofl->path, idx);
}

ChimneyTcpObj *chimney_tcp_at(ChimneyOffload *ofl, uint32_t idx)
{
    return chimney_table_at(&ofl->tcp, idx);
}

static ChimneyTable *chimney_table_of(ChimneyOffload *ofl, unsigned kind)
{
    switch (kind) {
    case CHIMNEY_KIND_NEIGH:
        return &ofl->neigh;
    case CHIMNEY_KIND_PATH:
        return &ofl->path;
    case CHIMNEY_KIND_TCP:
        return &ofl->tcp;
    default:
        return NULL;
    }
}

uint64_t chimney_offload_handle(ChimneyOffload *ofl, unsigned kind,
                                uint32_t idx)
{
    ChimneyObjHead *h = chimney_table_at(chimney_table_of(ofl, kind), idx);

    return CHIMNEY_HANDLE_MAKE(kind, idx, h->gen);
}

void *chimney_offload_lookup(ChimneyOffload *ofl, uint64_t handle,
                             unsigned kind, uint32_t *idx)
{
    ChimneyTable *t = chimney_table_of(ofl, kind);
    ChimneyObjHead *h;

    /* Bits 28..31 are reserved and must be zero in a handle we issued. */
    if (!t || CHIMNEY_HANDLE_KIND(handle) != kind ||
        (handle & 0xf0000000u) || CHIMNEY_HANDLE_GEN(handle) == 0) {
        return NULL;
    }
    h = chimney_table_at(t, CHIMNEY_HANDLE_INDEX(handle));
    if (!h || !h->in_use || h->gen != CHIMNEY_HANDLE_GEN(handle)) {
        return NULL;
    }
    if (idx) {
        *idx = CHIMNEY_HANDLE_INDEX(handle);
    }
    return h;
}

/*
 * 4-tuple demux: chained hash of TCP indices (O(1) receive lookup).
 */

static uint32_t chimney_mix(uint32_t h, uint32_t v)
{
    h ^= v;
    h *= 0x01000193u;           /* FNV prime */
    return h ^ (h >> 15);
}

static uint32_t chimney_tuple_hash(bool ipv6, const uint8_t *local_ip,
                                   const uint8_t *remote_ip,
                                   uint16_t local_port, uint16_t remote_port)
{
    uint32_t h = 0x811c9dc5u, i, n = ipv6 ? 16 : 4;

    for (i = 0; i < n; i++) {
        h = chimney_mix(h, local_ip[i] | (uint32_t)remote_ip[i] << 8);
    }
    h = chimney_mix(h, local_port | (uint32_t)remote_port << 16);
    return h;
}

static uint32_t chimney_tcp_bucket(ChimneyOffload *ofl, ChimneyTcpObj *t)
{
    ChimneyPathObj *p = chimney_path_at(ofl, t->path);

    return chimney_tuple_hash(p->ipv6, p->src, p->dst, t->c.local_port,
                              t->c.remote_port) & ofl->demux_mask;
}

void chimney_demux_insert(ChimneyOffload *ofl, uint32_t tcp)
{
    ChimneyTcpObj *t = chimney_tcp_at(ofl, tcp);
    uint32_t b = chimney_tcp_bucket(ofl, t);

    t->hash_next = ofl->demux[b];
    ofl->demux[b] = tcp;
}

void chimney_demux_remove(ChimneyOffload *ofl, uint32_t tcp)
{
    ChimneyTcpObj *t = chimney_tcp_at(ofl, tcp);
    uint32_t *link = &ofl->demux[chimney_tcp_bucket(ofl, t)];
    uint32_t guard = ofl->tcp.capacity;

    while (*link != CHIMNEY_NO_INDEX && guard--) {
        if (*link == tcp) {
            *link = t->hash_next;
            t->hash_next = CHIMNEY_NO_INDEX;
            return;
        }
        link = &chimney_tcp_at(ofl, *link)->hash_next;
    }
}

uint32_t chimney_demux_lookup(ChimneyOffload *ofl, bool ipv6,
                              const uint8_t *local_ip,
                              const uint8_t *remote_ip,
                              uint16_t local_port, uint16_t remote_port)
{
    uint32_t b = chimney_tuple_hash(ipv6, local_ip, remote_ip, local_port,
                                    remote_port) & ofl->demux_mask;
    uint32_t i = ofl->demux[b];
    uint32_t guard = ofl->tcp.capacity;
    size_t alen = ipv6 ? 16 : 4;

    while (i != CHIMNEY_NO_INDEX && guard--) {
        ChimneyTcpObj *t = chimney_tcp_at(ofl, i);
        ChimneyPathObj *p = chimney_path_at(ofl, t->path);

        if (t->c.local_port == local_port && t->c.remote_port == remote_port &&
            p->ipv6 == ipv6 && !memcmp(p->src, local_ip, alen) &&
            !memcmp(p->dst, remote_ip, alen)) {
            return i;
        }
        i = t->hash_next;
    }
    return CHIMNEY_NO_INDEX;
}

/*
 * Upload requests waiting for event-ring space: a FIFO threaded through
 * the TCP objects, so at most one entry per connection and never lost.
 */

void chimney_offload_request_upload(ChimneyOffload *ofl, uint32_t tcp,
                                    uint8_t reason)
{
    ChimneyTcpObj *t = chimney_tcp_at(ofl, tcp);

    if (t->retrieve_pending) {
        return;
    }
    t->retrieve_pending = true;
    t->retrieve_reason = reason;
    t->evt_next = CHIMNEY_NO_INDEX;
    if (ofl->evt_tail == CHIMNEY_NO_INDEX) {
        ofl->evt_head = tcp;
    } else {
        chimney_tcp_at(ofl, ofl->evt_tail)->evt_next = tcp;
    }
    ofl->evt_tail = tcp;
}

uint32_t chimney_offload_pop_retrieve(ChimneyOffload *ofl)
{
    uint32_t tcp = ofl->evt_head;
    ChimneyTcpObj *t;

    if (tcp == CHIMNEY_NO_INDEX) {
        return tcp;
    }
    t = chimney_tcp_at(ofl, tcp);
    ofl->evt_head = t->evt_next;
    if (ofl->evt_head == CHIMNEY_NO_INDEX) {
        ofl->evt_tail = CHIMNEY_NO_INDEX;
    }
    t->evt_next = CHIMNEY_NO_INDEX;
    return tcp;
}

/* Remove a connection from the pending-upload FIFO (it is going away). */
void chimney_offload_cancel_retrieve(ChimneyOffload *ofl, uint32_t tcp)
{
    uint32_t prev = CHIMNEY_NO_INDEX, i = ofl->evt_head;
    uint32_t guard = ofl->tcp.capacity;
    ChimneyTcpObj *t = chimney_tcp_at(ofl, tcp);

    if (!t->retrieve_pending) {
        return;
    }
    while (i != CHIMNEY_NO_INDEX && guard--) {
        ChimneyTcpObj *cur = chimney_tcp_at(ofl, i);

        if (i == tcp) {
            if (prev == CHIMNEY_NO_INDEX) {
                ofl->evt_head = cur->evt_next;
            } else {
                chimney_tcp_at(ofl, prev)->evt_next = cur->evt_next;
            }
            if (ofl->evt_tail == tcp) {
                ofl->evt_tail = prev;
            }
            break;
        }
        prev = i;
        i = cur->evt_next;
    }
    t->retrieve_pending = false;
    t->evt_next = CHIMNEY_NO_INDEX;
}

/*
 * Lifetime
 */

static void chimney_offload_free_tcp_data(ChimneyOffload *ofl)
{
    uint32_t i;

    for (i = 0; i < ofl->tcp.allocated; i++) {
        ChimneyTcpObj *t = chimney_tcp_at(ofl, i);

        if (t->in_use) {
            g_free(t->sendq);
            g_free(t->rcvbuf);
        }
    }
}

static void chimney_offload_init_tables(ChimneyOffload *ofl)
{
    chimney_table_init(&ofl->neigh, CHIMNEY_MAX_NEIGH,
                       sizeof(ChimneyNeighObj));
    chimney_table_init(&ofl->path, CHIMNEY_MAX_PATH, sizeof(ChimneyPathObj));
    chimney_table_init(&ofl->tcp, CHIMNEY_MAX_CONN, sizeof(ChimneyTcpObj));
    ofl->demux_mask = CHIMNEY_MAX_CONN - 1;
    ofl->demux = g_new(uint32_t, CHIMNEY_MAX_CONN);
    memset(ofl->demux, 0xff, CHIMNEY_MAX_CONN * sizeof(uint32_t));
    ofl->evt_head = CHIMNEY_NO_INDEX;
    ofl->evt_tail = CHIMNEY_NO_INDEX;
    ofl->nvlans = 0;
    ofl->params_set = false;
    memset(&ofl->params, 0, sizeof(ofl->params));
}

static void chimney_offload_destroy_tables(ChimneyOffload *ofl)
{
    chimney_offload_free_tcp_data(ofl);
    chimney_table_destroy(&ofl->neigh);
    chimney_table_destroy(&ofl->path);
    chimney_table_destroy(&ofl->tcp);
    g_free(ofl->demux);
    ofl->demux = NULL;
}

ChimneyOffload *chimney_offload_new(void)
{
    ChimneyOffload *ofl = g_new0(ChimneyOffload, 1);

    chimney_offload_init_tables(ofl);
    return ofl;
}

void chimney_offload_reset(ChimneyOffload *ofl)
{
    /*
     * Generations must survive a reset so handles issued before it stay
     * stale afterwards; keep the tables, release every object.
     */
    uint32_t i;

    chimney_offload_free_tcp_data(ofl);
    for (i = 0; i < ofl->tcp.allocated; i++) {
        chimney_table_release(&ofl->tcp, i);
    }
    for (i = 0; i < ofl->path.allocated; i++) {
        chimney_table_release(&ofl->path, i);
    }
    for (i = 0; i < ofl->neigh.allocated; i++) {
        chimney_table_release(&ofl->neigh, i);
    }
    memset(ofl->demux, 0xff, CHIMNEY_MAX_CONN * sizeof(uint32_t));
    ofl->evt_head = CHIMNEY_NO_INDEX;
    ofl->evt_tail = CHIMNEY_NO_INDEX;
    ofl->nvlans = 0;
    ofl->params_set = false;
    memset(&ofl->params, 0, sizeof(ofl->params));
}

void chimney_offload_free(ChimneyOffload *ofl)
{
    if (ofl) {
        chimney_offload_destroy_tables(ofl);
        g_free(ofl);
    }
}
