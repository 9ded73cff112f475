/*
 * chimney-nic TCP engine: NIC time, timestamps, neighbor reachability and
 * the hooks the state operations call.  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

/* Largest preferred send backlog QUERY reports (spec). */
#define CHIMNEY_SEND_BACKLOG_MAX    (16u << 20)

uint64_t chimney_tick_ns(ChimneyEngine *eng)
{
    uint32_t tps = eng->params_set ? eng->params.ticks_per_second : 1000;

    return 1000000000ull / tps;
}

uint32_t chimney_nic_ticks(ChimneyEngine *eng)
{
    uint64_t ns = eng->svc->clock_ns(eng->opaque);

    /* rule 131: 32-bit ticks of >= 1 ms wrap after 49 days, not sooner */
    return (uint32_t)(ns / chimney_tick_ns(eng));
}

uint32_t chimney_tcp_ts_recent_age(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    return chimney_nic_ticks(eng) - o->ts_recent_stamp;
}

uint32_t chimney_tcp_ts_now(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    /* rules 036, 042: NicTime + NicDelta */
    return chimney_nic_ticks(eng) + (uint32_t)o->ts_delta;
}

/*
 * Neighbor reachability (chimney-spec 5.2, rules 119-120)
 */

void chimney_tcp_neigh_offloaded(ChimneyEngine *eng, ChimneyNeighObj *n,
                                 uint32_t nrd)
{
    uint32_t nct = chimney_nic_ticks(eng);

    n->nrt = nct - nrd;
    n->hrt = nct - n->hrd;
}

uint32_t chimney_tcp_neigh_nrd(ChimneyEngine *eng, const ChimneyNeighObj *n)
{
    return chimney_nic_ticks(eng) - n->nrt;
}

void chimney_tcp_neigh_hrd_updated(ChimneyEngine *eng, ChimneyNeighObj *n)
{
    n->hrt = chimney_nic_ticks(eng) - n->hrd;
}

/*
 * State hooks
 */

void chimney_tcp_offloaded(ChimneyEngine *eng, uint32_t idx,
                           const ChimneyTcpHandover *ho)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    uint32_t now = chimney_nic_ticks(eng);

    if (o->d.state == CHIMNEY_TCPS_ESTABLISHED ||
        o->d.state == CHIMNEY_TCPS_CLOSE_WAIT) {
        chimney_stats_tcp(eng, o)->currently_established++;
    }
    /* no rate-limited ACK sent yet: the first one may go */
    o->oow_tick = now - 0x7fffffffu;
    /* rule 036: NicDelta = TsTime - NicTime */
    o->ts_delta = (int32_t)(ho->ts_time - now);
    /* TsRecentAge keeps aging on the NIC clock */
    o->ts_recent_stamp = now - ho->ts_recent_age;
    /* rule 041: the delegated timers continue where they were */
    if ((o->k.flags & CHIMNEY_TCP_CACHED_KEEPALIVE) &&
        ho->ka_timeout_delta != CHIMNEY_TIMER_OFF) {
        chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_KEEPALIVE,
                              ho->ka_timeout_delta);
    }
    if (ho->rexmit_timeout_delta != CHIMNEY_TIMER_OFF) {
        chimney_tcp_timer_arm(eng, idx,
                              o->d.state == CHIMNEY_TCPS_FIN_WAIT_2 ?
                              CHIMNEY_TCP_TMR_FIN_WAIT_2 :
                              chimney_seq_lt(o->d.snd_una, o->d.snd_max) ?
                              CHIMNEY_TCP_TMR_REXMIT :
                              CHIMNEY_TCP_TMR_PERSIST,
                              ho->rexmit_timeout_delta);
    }
    /* rules 026-028: handed-over data not yet (re)sent goes out now */
    if (o->io && chimney_seq_lt(o->d.snd_nxt, o->io->snd_end)) {
        chimney_tcp_output(eng, idx);
    }
}

void chimney_tcp_before_upload(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    /* rule 040: a delayed ACK that is owed goes out before the upload */
    if ((o->tmr_armed & (1u << CHIMNEY_TCP_TMR_DELACK)) && o->io &&
        !o->io->aborted && !o->invalid) {
        chimney_tcp_send_ack(eng, o);
    }
}

uint32_t chimney_tcp_fin_wait2_ticks(ChimneyEngine *eng)
{
    uint32_t tps = eng->params_set ? eng->params.ticks_per_second : 1000;

    /* SET_PARAMS fin_wait2_ticks, 0 = 120 s */
    return eng->params.fin_wait2_ticks ? eng->params.fin_wait2_ticks :
           120 * tps;
}

void chimney_tcp_cached_update(ChimneyEngine *eng, uint32_t idx,
                               const ChimneyTcpCachedState *k)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    bool ka_was_on = o->k.flags & CHIMNEY_TCP_CACHED_KEEPALIVE;
    bool ka_params = k->ka_timeout != o->k.ka_timeout ||
                     k->ka_interval != o->k.ka_interval ||
                     k->ka_probe_count != o->k.ka_probe_count;

    o->k = *k;
    if (k->flags & CHIMNEY_TCP_CACHED_MAX_RT_RESTART) {
        o->d.total_rt = 0;                                  /* rule 055 */
    }
    /* rule 058: keepalive follows the enable flag */
    if (!(k->flags & CHIMNEY_TCP_CACHED_KEEPALIVE)) {
        chimney_tcp_keepalive_restart(eng, idx);            /* stops it */
    } else if (!ka_was_on || (k->flags & CHIMNEY_TCP_CACHED_KA_RESTART)) {
        chimney_tcp_keepalive_restart(eng, idx);            /* rule 056 */
    } else if (ka_params && (k->flags & CHIMNEY_TCP_CACHED_MAX_RT_RESTART)) {
        /* decision 9.4: either restart flag resets the keepalive state */
        chimney_tcp_keepalive_restart(eng, idx);
    }
    if ((k->flags & CHIMNEY_TCP_CACHED_UPDATE_RCV_WND) &&
        k->initial_rcv_wnd != o->d.rcv_wnd) {
        /* rule 057: advertise the new window */
        o->d.rcv_wnd = k->initial_rcv_wnd;
        chimney_tcp_send_ack(eng, o);
    }
}

uint32_t chimney_tcp_send_backlog(const ChimneyTcpObj *o)
{
    return MIN(MAX(o->d.cwnd, o->d.snd_wnd), CHIMNEY_SEND_BACKLOG_MAX);
}

void chimney_tcp_release_data(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpStats *ts = chimney_stats_tcp(eng, o);

    if (o->d.state == CHIMNEY_TCPS_ESTABLISHED ||
        o->d.state == CHIMNEY_TCPS_CLOSE_WAIT) {
        ts->currently_established--;            /* the gauge (rule 134) */
    }
    chimney_tcp_timers_stop(eng, idx);
    chimney_io_free(eng, idx);
}
