/*
 * chimney-nic offload engine: the timer heap.  C + GLib only.
 *
 * Every connection with at least one running timer (retransmit, persist,
 * keepalive, delayed ACK, push, FIN_WAIT_2, TIME_WAIT) has one entry keyed
 * by its earliest deadline; the engine's single host timer follows the top
 * of the heap.  Arm, re-key and cancel are O(log n); nothing scans all
 * connections.  Keys are NIC ticks compared modulo 2^32, so every live
 * deadline must lie within 2^31 ticks of now (the engine clamps longer
 * timers; spec "Timers").
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TIMER_H
#define CHIMNEY_TIMER_H

#include <stdbool.h>
#include <stdint.h>

/* Lives in the timed object. */
typedef struct ChimneyTimerEntry {
    uint32_t pos;               /* heap position + 1; 0 = not queued */
    uint32_t key;               /* earliest deadline, NIC ticks */
} ChimneyTimerEntry;

/* Maps an object id to its entry (the heap stores ids only). */
typedef ChimneyTimerEntry *(*ChimneyTimerEntryFn)(void *ctx, uint32_t id);

typedef struct ChimneyTimerHeap {
    uint32_t *ids;
    uint32_t len;
    uint32_t cap;               /* grown on demand, never beyond max */
    uint32_t max;
    ChimneyTimerEntryFn entry;
    void *ctx;
} ChimneyTimerHeap;

static inline bool chimney_ticks_before(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

void chimney_timer_heap_init(ChimneyTimerHeap *h, uint32_t max,
                             ChimneyTimerEntryFn entry, void *ctx);
void chimney_timer_heap_destroy(ChimneyTimerHeap *h);
/* Drop every entry (their ChimneyTimerEntry must be reset by the caller). */
void chimney_timer_heap_clear(ChimneyTimerHeap *h);
/* Queue id with key, or move it if queued. */
void chimney_timer_heap_set(ChimneyTimerHeap *h, uint32_t id, uint32_t key);
void chimney_timer_heap_remove(ChimneyTimerHeap *h, uint32_t id);
/* The earliest entry; false when the heap is empty. */
bool chimney_timer_heap_peek(const ChimneyTimerHeap *h, uint32_t *id,
                             uint32_t *key);

#endif /* CHIMNEY_TIMER_H */
