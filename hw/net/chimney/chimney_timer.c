/*
 * chimney-nic offload engine: the timer heap (a binary min-heap of object
 * ids keyed by deadline).  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "chimney_timer.h"

void chimney_timer_heap_init(ChimneyTimerHeap *h, uint32_t max,
                             ChimneyTimerEntryFn entry, void *ctx)
{
    h->ids = NULL;
    h->len = 0;
    h->cap = 0;
    h->max = max;
    h->entry = entry;
    h->ctx = ctx;
}

void chimney_timer_heap_destroy(ChimneyTimerHeap *h)
{
    g_free(h->ids);
    h->ids = NULL;
    h->len = h->cap = 0;
}

void chimney_timer_heap_clear(ChimneyTimerHeap *h)
{
    h->len = 0;
}

static void heap_place(ChimneyTimerHeap *h, uint32_t pos, uint32_t id)
{
    h->ids[pos] = id;
    h->entry(h->ctx, id)->pos = pos + 1;
}

static uint32_t heap_key(ChimneyTimerHeap *h, uint32_t pos)
{
    return h->entry(h->ctx, h->ids[pos])->key;
}

static void heap_up(ChimneyTimerHeap *h, uint32_t pos)
{
    uint32_t id = h->ids[pos];
    uint32_t key = h->entry(h->ctx, id)->key;

    while (pos) {
        uint32_t parent = (pos - 1) / 2;

        if (!chimney_ticks_before(key, heap_key(h, parent))) {
            break;
        }
        heap_place(h, pos, h->ids[parent]);
        pos = parent;
    }
    heap_place(h, pos, id);
}

static void heap_down(ChimneyTimerHeap *h, uint32_t pos)
{
    uint32_t id = h->ids[pos];
    uint32_t key = h->entry(h->ctx, id)->key;

    for (;;) {
        uint32_t child = 2 * pos + 1;

        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len &&
            chimney_ticks_before(heap_key(h, child + 1), heap_key(h, child))) {
            child++;
        }
        if (!chimney_ticks_before(heap_key(h, child), key)) {
            break;
        }
        heap_place(h, pos, h->ids[child]);
        pos = child;
    }
    heap_place(h, pos, id);
}

void chimney_timer_heap_set(ChimneyTimerHeap *h, uint32_t id, uint32_t key)
{
    ChimneyTimerEntry *e = h->entry(h->ctx, id);

    e->key = key;
    if (e->pos) {
        heap_up(h, e->pos - 1);
        heap_down(h, e->pos - 1);
        return;
    }
    if (h->len == h->cap) {
        /* at most one entry per object: bounded by max */
        h->cap = MIN(MAX(h->cap * 2, 64u), h->max);
        h->ids = g_renew(uint32_t, h->ids, h->cap);
    }
    h->ids[h->len] = id;
    e->pos = ++h->len;
    heap_up(h, h->len - 1);
}

void chimney_timer_heap_remove(ChimneyTimerHeap *h, uint32_t id)
{
    ChimneyTimerEntry *e = h->entry(h->ctx, id);
    uint32_t pos;

    if (!e->pos) {
        return;
    }
    pos = e->pos - 1;
    e->pos = 0;
    if (--h->len == pos) {
        return;
    }
    id = h->ids[h->len];
    heap_place(h, pos, id);
    heap_up(h, pos);
    heap_down(h, h->entry(h->ctx, id)->pos - 1);
}

bool chimney_timer_heap_peek(const ChimneyTimerHeap *h, uint32_t *id,
                             uint32_t *key)
{
    if (!h->len) {
        return false;
    }
    *id = h->ids[0];
    *key = h->entry(h->ctx, h->ids[0])->key;
    return true;
}
