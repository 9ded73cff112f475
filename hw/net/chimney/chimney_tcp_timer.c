/*
 * chimney-nic TCP engine: per-connection timers and keepalive.
 * C + GLib only.
 *
 * Each connection keeps one deadline per timer (NIC ticks) and a bit of
 * which run; the engine's heap (chimney_timer.c) holds each timed
 * connection once, keyed by its earliest deadline, and the host's one
 * engine timer follows the heap's top.  Spec "Timers" (rules 041, 056,
 * 058).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

/* Longest a timer may run, so heap keys stay comparable (spec "Timers"). */
#define CHIMNEY_TIMER_MAX_TICKS     0x7fffffffu
/* Connections whose timers fire in one host-timer callback. */
#define CHIMNEY_TIMERS_PER_RUN      1024u

static const uint8_t timer_slot[CHIMNEY_TCP_TMR_COUNT] = {
    [CHIMNEY_TCP_TMR_REXMIT] = CHIMNEY_TCP_SLOT_RTX,
    [CHIMNEY_TCP_TMR_PERSIST] = CHIMNEY_TCP_SLOT_RTX,
    [CHIMNEY_TCP_TMR_TIME_WAIT] = CHIMNEY_TCP_SLOT_RTX,
    [CHIMNEY_TCP_TMR_KEEPALIVE] = CHIMNEY_TCP_SLOT_KEEPALIVE,
    [CHIMNEY_TCP_TMR_DELACK] = CHIMNEY_TCP_SLOT_DELACK,
    [CHIMNEY_TCP_TMR_PUSH] = CHIMNEY_TCP_SLOT_PUSH,
    [CHIMNEY_TCP_TMR_FIN_WAIT_2] = CHIMNEY_TCP_SLOT_FIN_WAIT_2,
};

static bool timer_running(const ChimneyTcpObj *o, unsigned which)
{
    return o->tmr_armed & (1u << which);
}

static uint32_t timer_deadline(const ChimneyTcpObj *o, unsigned which)
{
    return o->deadline[timer_slot[which]];
}

/* Re-key the connection on the heap from its earliest running timer. */
static void timer_requeue(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    uint32_t now = chimney_nic_ticks(eng), best = 0, i;
    bool any = false;

    for (i = 0; i < CHIMNEY_TCP_TMR_COUNT; i++) {
        if (timer_running(o, i) &&
            (!any || chimney_ticks_before(timer_deadline(o, i) - now,
                                          best - now))) {
            best = timer_deadline(o, i);
            any = true;
        }
    }
    if (any) {
        chimney_timer_heap_set(&eng->timers, idx, best);
    } else {
        chimney_timer_heap_remove(&eng->timers, idx);
    }
}

/* Point the host timer at the heap's earliest deadline. */
static void timer_program(ChimneyEngine *eng)
{
    uint32_t id, key, now;
    int64_t ns, tick = chimney_tick_ns(eng);

    if (eng->kick_head != CHIMNEY_NO_INDEX) {
        /* connections with more to send: at once */
        eng->svc->timer_set(eng->opaque, eng->svc->clock_ns(eng->opaque));
        return;
    }
    if (!chimney_timer_heap_peek(&eng->timers, &id, &key)) {
        eng->svc->timer_set(eng->opaque, INT64_MAX);
        trace_chimney_engine_timer_next(INT64_MAX, 0);
        return;
    }
    ns = eng->svc->clock_ns(eng->opaque);
    now = (uint32_t)(ns / tick);
    if (chimney_ticks_before(now, key)) {
        /* the start of tick `key` */
        ns = (ns / tick + (int64_t)(uint32_t)(key - now)) * tick;
    }
    eng->svc->timer_set(eng->opaque, ns);
    trace_chimney_engine_timer_next(ns, eng->timers.len);
}

void chimney_tcp_timer_arm(ChimneyEngine *eng, uint32_t idx, unsigned which,
                           uint32_t ticks)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    unsigned i;

    ticks = MIN(ticks, CHIMNEY_TIMER_MAX_TICKS);
    for (i = 0; i < CHIMNEY_TCP_TMR_COUNT; i++) {
        if (timer_slot[i] == timer_slot[which]) {
            o->tmr_armed &= ~(1u << i);
        }
    }
    o->deadline[timer_slot[which]] = chimney_nic_ticks(eng) + ticks;
    o->tmr_armed |= 1u << which;
    trace_chimney_engine_timer_arm(idx, which, ticks);
    timer_requeue(eng, idx);
    timer_program(eng);
}

void chimney_tcp_timer_cancel(ChimneyEngine *eng, uint32_t idx,
                              unsigned which)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);

    if (!timer_running(o, which)) {
        return;
    }
    o->tmr_armed &= ~(1u << which);
    trace_chimney_engine_timer_cancel(idx, which);
    timer_requeue(eng, idx);
    timer_program(eng);
}

void chimney_tcp_timers_stop(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);

    if (!o->tmr_armed) {
        return;
    }
    o->tmr_armed = 0;
    chimney_timer_heap_remove(&eng->timers, idx);
    timer_program(eng);
}

uint32_t chimney_tcp_timer_left(ChimneyEngine *eng, const ChimneyTcpObj *o,
                                unsigned which)
{
    uint32_t now = chimney_nic_ticks(eng);

    if (!timer_running(o, which)) {
        return CHIMNEY_TIMER_OFF;
    }
    /* 0 = running and due now */
    return chimney_ticks_before(now, timer_deadline(o, which)) ?
           timer_deadline(o, which) - now : 0;
}

uint32_t chimney_tcp_rexmit_left(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    static const unsigned carried[] = {
        CHIMNEY_TCP_TMR_REXMIT, CHIMNEY_TCP_TMR_PERSIST,
        CHIMNEY_TCP_TMR_FIN_WAIT_2,
    };
    unsigned i;

    /* chimney-spec 6.1: these share Retransmit.TimeoutDelta */
    for (i = 0; i < G_N_ELEMENTS(carried); i++) {
        if (timer_running(o, carried[i])) {
            return chimney_tcp_timer_left(eng, o, carried[i]);
        }
    }
    return CHIMNEY_TIMER_OFF;
}

void chimney_tcp_keepalive_restart(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);

    o->d.ka_probe_count = 0;
    if (o->k.flags & CHIMNEY_TCP_CACHED_KEEPALIVE) {
        chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_KEEPALIVE,
                              o->k.ka_timeout);               /* rule 056 */
    } else {
        chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_KEEPALIVE);
    }
}

/*
 * Keepalive (chimney-spec 6.6): after ka_timeout idle ticks a probe, then
 * one every ka_interval ticks while unanswered; after ka_probe_count
 * unanswered probes the connection asks to be uploaded (TIMEOUT,
 * decision 8).  Any acceptable segment restarts it (chimney_tcp_in.c).
 */
static void keepalive_expired(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);

    if (o->d.ka_probe_count >= o->k.ka_probe_count) {
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_TIMEOUT);
        return;
    }
    o->d.ka_probe_count++;
    trace_chimney_engine_keepalive_probe(idx, o->d.ka_probe_count);
    chimney_tcp_send_keepalive(eng, o);
    chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_KEEPALIVE,
                          MAX(o->k.ka_interval, 1u));
}

static void timer_fire(ChimneyEngine *eng, uint32_t idx, unsigned which)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);

    trace_chimney_engine_timer_fire(idx, which);
    if (o->retrieve_pending) {
        return;                 /* the connection stopped (an upload) */
    }
    switch (which) {
    case CHIMNEY_TCP_TMR_KEEPALIVE:
        keepalive_expired(eng, idx);
        break;
    case CHIMNEY_TCP_TMR_FIN_WAIT_2:
        /* rule 126: give up, the host closes it */
        chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSED);
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_TIMEOUT);
        break;
    case CHIMNEY_TCP_TMR_REXMIT:
        chimney_cc_on_timeout(eng, idx);
        break;
    case CHIMNEY_TCP_TMR_PERSIST:
        chimney_cc_persist_expired(eng, idx);
        break;
    case CHIMNEY_TCP_TMR_DELACK:
        chimney_tcp_send_ack(eng, o);
        break;
    case CHIMNEY_TCP_TMR_PUSH:
        chimney_deliver_push_expired(eng, idx);
        break;
    default:
        /* TIME_WAIT is the host's (rule 127): ask for the upload */
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_REQUESTED);
        break;
    }
}

void chimney_tcp_timers_run(ChimneyEngine *eng)
{
    uint32_t budget = CHIMNEY_TIMERS_PER_RUN, id, key, now, i;

    now = chimney_nic_ticks(eng);
    while (budget-- && chimney_timer_heap_peek(&eng->timers, &id, &key) &&
           !chimney_ticks_before(now, key)) {
        ChimneyTcpObj *o = chimney_tcp_at(eng, id);
        uint8_t due = 0;

        for (i = 0; i < CHIMNEY_TCP_TMR_COUNT; i++) {
            if (timer_running(o, i) &&
                !chimney_ticks_before(now, timer_deadline(o, i))) {
                due |= 1u << i;
            }
        }
        o->tmr_armed &= ~due;
        timer_requeue(eng, id);
        for (i = 0; i < CHIMNEY_TCP_TMR_COUNT; i++) {
            if ((due & (1u << i)) && o->in_use) {
                timer_fire(eng, id, i);
            }
        }
    }
    /* what is still due runs in the next callback (bounded work) */
    timer_program(eng);
}
