/*
 * chimney-nic offload state: object tables, handles, 4-tuple demux and the
 * queue of pending upload requests.  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <stddef.h>
#include <string.h>

#include "chimney_offload.h"
#include "chimney_io.h"
#include "chimney_tcp.h"

/*
 * Tables: chunked arrays with a free list threaded through the free slots.
 * Slots keep their generation across reuse so stale handles never match
 * (spec "Handles"); a migrated floor keeps them stale across migration.
 */

static void chimney_table_init(ChimneyTable *t, uint32_t capacity,
                               size_t entry_size, size_t link_off)
{
    memset(t, 0, sizeof(*t));
    t->capacity = capacity;
    t->entry_size = entry_size;
    t->link_off = link_off;
    t->free_head = CHIMNEY_NO_INDEX;
    t->chunks = g_new0(void *, capacity / CHIMNEY_TABLE_CHUNK + 1);
}

static void chimney_table_destroy(ChimneyTable *t)
{
    uint32_t i;

    for (i = 0; i * CHIMNEY_TABLE_CHUNK < t->allocated; i++) {
        g_free(t->chunks[i]);
    }
    g_free(t->chunks);
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

static uint32_t *chimney_table_link(ChimneyTable *t, uint32_t idx)
{
    return (uint32_t *)((uint8_t *)chimney_table_at(t, idx) + t->link_off);
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

    if (t->free_head == CHIMNEY_NO_INDEX) {
        uint32_t base = t->allocated, i, n;

        if (base >= t->capacity) {
            return CHIMNEY_NO_INDEX;
        }
        t->chunks[base / CHIMNEY_TABLE_CHUNK] =
            g_malloc0(CHIMNEY_TABLE_CHUNK * t->entry_size);
        n = MIN(CHIMNEY_TABLE_CHUNK, t->capacity - base);
        t->allocated = base + CHIMNEY_TABLE_CHUNK;
        /* chain in reverse so low indices are handed out first */
        for (i = n; i > 0; i--) {
            *chimney_table_link(t, base + i - 1) = t->free_head;
            t->free_head = base + i - 1;
        }
    }
    idx = t->free_head;
    t->free_head = *chimney_table_link(t, idx);
    h = chimney_table_at(t, idx);
    gen = MAX(h->gen, t->gen_floor) + 1;
    if (gen == 0) {
        gen = 1;                /* generation 0 is never valid */
    }
    memset(h, 0, t->entry_size);
    h->gen = gen;
    h->in_use = true;
    t->gen_max = MAX(t->gen_max, gen);
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
    *chimney_table_link(t, idx) = t->free_head;
    t->free_head = idx;
}

ChimneyNeighObj *chimney_neigh_at(ChimneyEngine *eng, uint32_t idx)
{
    return chimney_table_at(&eng->neigh, idx);
}

ChimneyPathObj *chimney_path_at(ChimneyEngine *eng, uint32_t idx)
{
    return chimney_table_at(&eng->path, idx);
}

ChimneyTcpObj *chimney_tcp_at(ChimneyEngine *eng, uint32_t idx)
{
    return chimney_table_at(&eng->tcp, idx);
}

ChimneyTable *chimney_table_of(ChimneyEngine *eng, unsigned kind)
{
    switch (kind) {
    case CHIMNEY_KIND_NEIGH:
        return &eng->neigh;
    case CHIMNEY_KIND_PATH:
        return &eng->path;
    case CHIMNEY_KIND_TCP:
        return &eng->tcp;
    default:
        return NULL;
    }
}

uint64_t chimney_offload_handle(ChimneyEngine *eng, unsigned kind,
                                uint32_t idx)
{
    ChimneyObjHead *h = chimney_table_at(chimney_table_of(eng, kind), idx);

    return CHIMNEY_HANDLE_MAKE(kind, idx, h->gen);
}

void *chimney_offload_lookup(ChimneyEngine *eng, uint64_t handle,
                             unsigned kind, uint32_t *idx)
{
    ChimneyTable *t = chimney_table_of(eng, kind);
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
 * Dependents: each neighbor lists its paths, each path its connections
 * (doubly linked through the dependents), so INVALIDATE and TERMINATE
 * touch only the objects concerned (rule 064), never a whole table.
 */

void chimney_path_link(ChimneyEngine *eng, uint32_t path, uint32_t neigh)
{
    ChimneyPathObj *p = chimney_path_at(eng, path);
    ChimneyNeighObj *n = chimney_neigh_at(eng, neigh);

    p->neigh = neigh;
    p->neigh_next = CHIMNEY_NO_INDEX;
    p->neigh_prev = n->npaths ? n->last_path : CHIMNEY_NO_INDEX;
    if (p->neigh_prev == CHIMNEY_NO_INDEX) {
        n->first_path = path;
    } else {
        chimney_path_at(eng, p->neigh_prev)->neigh_next = path;
    }
    n->last_path = path;
    n->npaths++;
}

void chimney_path_unlink(ChimneyEngine *eng, uint32_t path)
{
    ChimneyPathObj *p = chimney_path_at(eng, path);
    ChimneyNeighObj *n = chimney_neigh_at(eng, p->neigh);

    if (p->neigh_prev == CHIMNEY_NO_INDEX) {
        n->first_path = p->neigh_next;
    } else {
        chimney_path_at(eng, p->neigh_prev)->neigh_next = p->neigh_next;
    }
    if (p->neigh_next == CHIMNEY_NO_INDEX) {
        n->last_path = p->neigh_prev;
    } else {
        chimney_path_at(eng, p->neigh_next)->neigh_prev = p->neigh_prev;
    }
    p->neigh_prev = p->neigh_next = CHIMNEY_NO_INDEX;
    n->npaths--;
}

void chimney_tcp_link(ChimneyEngine *eng, uint32_t tcp, uint32_t path)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, tcp);
    ChimneyPathObj *p = chimney_path_at(eng, path);

    o->path = path;
    o->path_next = CHIMNEY_NO_INDEX;
    o->path_prev = p->ntcp ? p->last_tcp : CHIMNEY_NO_INDEX;
    if (o->path_prev == CHIMNEY_NO_INDEX) {
        p->first_tcp = tcp;
    } else {
        chimney_tcp_at(eng, o->path_prev)->path_next = tcp;
    }
    p->last_tcp = tcp;
    p->ntcp++;
}

void chimney_tcp_unlink(ChimneyEngine *eng, uint32_t tcp)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, tcp);
    ChimneyPathObj *p = chimney_path_at(eng, o->path);

    if (o->path_prev == CHIMNEY_NO_INDEX) {
        p->first_tcp = o->path_next;
    } else {
        chimney_tcp_at(eng, o->path_prev)->path_next = o->path_next;
    }
    if (o->path_next == CHIMNEY_NO_INDEX) {
        p->last_tcp = o->path_prev;
    } else {
        chimney_tcp_at(eng, o->path_next)->path_prev = o->path_prev;
    }
    o->path_prev = o->path_next = CHIMNEY_NO_INDEX;
    p->ntcp--;
}

/*
 * 4-tuple demux: chained hash of TCP indices (O(1) receive lookup).  A
 * connection remembers its bucket, so removal never depends on the path
 * object, and lookup returns only live connections.
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

void chimney_demux_insert(ChimneyEngine *eng, uint32_t tcp)
{
    ChimneyTcpObj *t = chimney_tcp_at(eng, tcp);
    ChimneyPathObj *p = chimney_path_at(eng, t->path);
    uint32_t b = chimney_tuple_hash(p->ipv6, p->src, p->dst, t->c.local_port,
                                    t->c.remote_port) & eng->demux_mask;

    t->demux_bucket = b;
    t->hash_next = eng->demux[b];
    eng->demux[b] = tcp;
}

void chimney_demux_remove(ChimneyEngine *eng, uint32_t tcp)
{
    ChimneyTcpObj *t = chimney_tcp_at(eng, tcp);
    uint32_t *link, guard = eng->tcp.capacity;

    if (t->demux_bucket == CHIMNEY_NO_INDEX) {
        return;
    }
    link = &eng->demux[t->demux_bucket];
    while (*link != CHIMNEY_NO_INDEX && guard--) {
        if (*link == tcp) {
            *link = t->hash_next;
            break;
        }
        link = &chimney_tcp_at(eng, *link)->hash_next;
    }
    t->hash_next = CHIMNEY_NO_INDEX;
    t->demux_bucket = CHIMNEY_NO_INDEX;
}

uint32_t chimney_demux_lookup(ChimneyEngine *eng, bool ipv6,
                              const uint8_t *local_ip,
                              const uint8_t *remote_ip,
                              uint16_t local_port, uint16_t remote_port)
{
    uint32_t b = chimney_tuple_hash(ipv6, local_ip, remote_ip, local_port,
                                    remote_port) & eng->demux_mask;
    uint32_t i = eng->demux[b];
    uint32_t guard = eng->tcp.capacity;
    size_t alen = ipv6 ? 16 : 4;

    while (i != CHIMNEY_NO_INDEX && guard--) {
        ChimneyTcpObj *t = chimney_tcp_at(eng, i);
        ChimneyPathObj *p;

        if (!t || !t->in_use) {
            return CHIMNEY_NO_INDEX;    /* never reach a released object */
        }
        p = chimney_path_at(eng, t->path);
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

void chimney_offload_request_upload(ChimneyEngine *eng, uint32_t tcp,
                                    uint8_t reason)
{
    ChimneyTcpObj *t = chimney_tcp_at(eng, tcp);

    if (t->retrieve_pending) {
        return;
    }
    trace_chimney_engine_upload_request(tcp, reason);
    t->retrieve_pending = true;
    t->retrieve_reason = reason;
    t->evt_next = CHIMNEY_NO_INDEX;
    t->evt_prev = eng->evt_tail;
    if (eng->evt_tail == CHIMNEY_NO_INDEX) {
        eng->evt_head = tcp;
    } else {
        chimney_tcp_at(eng, eng->evt_tail)->evt_next = tcp;
    }
    eng->evt_tail = tcp;
}

/* Take a connection out of the FIFO (it stays retrieve_pending). */
static void chimney_offload_unqueue(ChimneyEngine *eng, uint32_t tcp)
{
    ChimneyTcpObj *t = chimney_tcp_at(eng, tcp);

    if (t->evt_prev == CHIMNEY_NO_INDEX) {
        eng->evt_head = t->evt_next;
    } else {
        chimney_tcp_at(eng, t->evt_prev)->evt_next = t->evt_next;
    }
    if (t->evt_next == CHIMNEY_NO_INDEX) {
        eng->evt_tail = t->evt_prev;
    } else {
        chimney_tcp_at(eng, t->evt_next)->evt_prev = t->evt_prev;
    }
    t->evt_next = t->evt_prev = CHIMNEY_NO_INDEX;
}

uint32_t chimney_offload_pop_retrieve(ChimneyEngine *eng)
{
    uint32_t tcp = eng->evt_head;

    if (tcp != CHIMNEY_NO_INDEX) {
        chimney_offload_unqueue(eng, tcp);
        chimney_tcp_at(eng, tcp)->evt_queued_out = true;
    }
    return tcp;
}

/*
 * The connection is going away: drop its request if it still waits in
 * the FIFO (O(1); one already written to the event ring is not there).
 */
void chimney_offload_cancel_retrieve(ChimneyEngine *eng, uint32_t tcp)
{
    ChimneyTcpObj *t = chimney_tcp_at(eng, tcp);

    if (t->retrieve_pending && !t->evt_queued_out) {
        chimney_offload_unqueue(eng, tcp);
    }
    t->retrieve_pending = false;
    t->evt_queued_out = false;
}

/*
 * Lifetime
 */

static ChimneyTimerEntry *chimney_tcp_timer_entry(void *ctx, uint32_t id)
{
    return &chimney_tcp_at(ctx, id)->tmr;
}

static uint32_t chimney_pow2_at_least(uint32_t v)
{
    uint32_t p = 1;

    while (p < v && p < (1u << 31)) {
        p <<= 1;
    }
    return p;
}

ChimneyEngine *chimney_engine_new(const ChimneyEngineServices *svc,
                                  void *opaque,
                                  const ChimneyEngineConfig *cfg)
{
    ChimneyEngine *eng = g_new0(ChimneyEngine, 1);
    uint32_t buckets;

    eng->svc = svc;
    eng->opaque = opaque;
    eng->cfg = *cfg;
    eng->cfg.max_conn = MAX(1u, MIN(cfg->max_conn, CHIMNEY_MAX_CONN_LIMIT));
    chimney_table_init(&eng->neigh, CHIMNEY_MAX_NEIGH,
                       sizeof(ChimneyNeighObj),
                       offsetof(ChimneyNeighObj, first_path));
    chimney_table_init(&eng->path, CHIMNEY_MAX_PATH, sizeof(ChimneyPathObj),
                       offsetof(ChimneyPathObj, neigh_next));
    chimney_table_init(&eng->tcp, eng->cfg.max_conn, sizeof(ChimneyTcpObj),
                       offsetof(ChimneyTcpObj, hash_next));
    buckets = chimney_pow2_at_least(eng->cfg.max_conn);
    eng->demux_mask = buckets - 1;
    eng->demux = g_new(uint32_t, buckets);
    memset(eng->demux, 0xff, (size_t)buckets * sizeof(uint32_t));
    eng->evt_head = CHIMNEY_NO_INDEX;
    eng->evt_tail = CHIMNEY_NO_INDEX;
    chimney_io_engine_reset(eng);
    chimney_timer_heap_init(&eng->timers, eng->cfg.max_conn,
                            chimney_tcp_timer_entry, eng);
    return eng;
}

void chimney_engine_reset(ChimneyEngine *eng)
{
    /*
     * Generations must survive a reset so handles issued before it stay
     * stale afterwards; keep the tables, release every object.
     */
    uint32_t i;

    for (i = 0; i < eng->tcp.allocated; i++) {
        ChimneyTcpObj *o = chimney_tcp_at(eng, i);

        if (o->in_use) {
            chimney_tcp_release_data(eng, i);
            chimney_table_release(&eng->tcp, i);
        }
    }
    for (i = 0; i < eng->path.allocated; i++) {
        chimney_table_release(&eng->path, i);
    }
    for (i = 0; i < eng->neigh.allocated; i++) {
        chimney_table_release(&eng->neigh, i);
    }
    memset(eng->demux, 0xff, ((size_t)eng->demux_mask + 1) * sizeof(uint32_t));
    chimney_timer_heap_clear(&eng->timers);
    eng->svc->timer_set(eng->opaque, INT64_MAX);
    eng->evt_head = CHIMNEY_NO_INDEX;
    eng->evt_tail = CHIMNEY_NO_INDEX;
    chimney_io_engine_reset(eng);
    eng->nvlans = 0;
    eng->params_set = false;
    eng->enabled = false;
    memset(&eng->params, 0, sizeof(eng->params));
}

void chimney_engine_free(ChimneyEngine *eng)
{
    uint32_t i;

    if (!eng) {
        return;
    }
    for (i = 0; i < eng->tcp.allocated; i++) {
        ChimneyTcpObj *o = chimney_tcp_at(eng, i);

        if (o->in_use) {
            chimney_io_free(eng, i);
        }
    }
    chimney_table_destroy(&eng->neigh);
    chimney_table_destroy(&eng->path);
    chimney_table_destroy(&eng->tcp);
    chimney_timer_heap_destroy(&eng->timers);
    g_free(eng->demux);
    g_free(eng);
}
