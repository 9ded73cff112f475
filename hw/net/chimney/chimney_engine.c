/*
 * chimney-nic offload engine: the API the device core calls (commands,
 * received frames, timer expiry, held-back events, MAC/enable/link
 * changes, introspection) and the engine's view of its host services.
 * C + GLib only.  Spec: docs/specs/chimney-nic.rst.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include "chimney_io.h"
#include "chimney_offload.h"
#include "chimney_tcp.h"

/*
 * Host services
 */

void chimney_eng_guest_error(ChimneyEngine *eng, uint32_t code,
                             const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    eng->svc->guest_error(eng->opaque, code, msg);
    g_free(msg);
}

int chimney_eng_dma_read(ChimneyEngine *eng, uint64_t addr, void *buf,
                         size_t len)
{
    return eng->svc->dma_read(eng->opaque, addr, buf, len);
}

int chimney_eng_dma_write(ChimneyEngine *eng, uint64_t addr,
                          const void *buf, size_t len)
{
    return eng->svc->dma_write(eng->opaque, addr, buf, len);
}

void chimney_eng_post_event(ChimneyEngine *eng, const ChimneyEvent *ev)
{
    /* the core counts and logs a full queue */
    eng->svc->queue_event(eng->opaque, ev);
}

/*
 * Commands
 */

bool chimney_engine_handles_opcode(uint16_t opcode)
{
    switch (opcode) {
    case CHIMNEY_CMD_SET_PARAMS:
    case CHIMNEY_CMD_SET_VLANS:
    case CHIMNEY_CMD_INITIATE:
    case CHIMNEY_CMD_TERMINATE:
    case CHIMNEY_CMD_UPDATE:
    case CHIMNEY_CMD_QUERY:
    case CHIMNEY_CMD_INVALIDATE:
    case CHIMNEY_CMD_NEIGH_REPLY:
    case CHIMNEY_CMD_QUERY_STATS:
    case CHIMNEY_CMD_CLEAR_STATS:
        return true;
    default:
        return chimney_io_handles_opcode(opcode);
    }
}

/* NEIGH_REPLY: the host's answer to a reachability query (decision 9.5). */
static uint32_t chimney_engine_neigh_reply(ChimneyEngine *eng,
                                           const ChimneyCmdDesc *cmd)
{
    uint32_t len = GUINT32_FROM_LE(cmd->len);
    ChimneyNeighCached k;
    ChimneyNeighObj *n;

    n = chimney_offload_lookup(eng, GUINT64_FROM_LE(cmd->handle),
                               CHIMNEY_KIND_NEIGH, NULL);
    if (!n) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                "NEIGH_REPLY for bad handle 0x%"
                                G_GINT64_MODIFIER "x",
                                (uint64_t)GUINT64_FROM_LE(cmd->handle));
        return CHIMNEY_ST_BAD_HANDLE;
    }
    if (len < sizeof(k)) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                "NEIGH_REPLY length %u below %zu", len,
                                sizeof(k));
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (chimney_eng_dma_read(eng, GUINT64_FROM_LE(cmd->addr), &k,
                             sizeof(k)) < 0) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA, "chimney-nic: "
                                "NEIGH_REPLY buffer not readable");
        return CHIMNEY_ST_DMA_ERROR;
    }
    if (GUINT32_FROM_LE(k.hdr.length) < sizeof(k) ||
        GUINT32_FROM_LE(k.hdr.length) > len) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                "NEIGH_REPLY header length %u",
                                GUINT32_FROM_LE(k.hdr.length));
        return CHIMNEY_ST_BAD_LENGTH;
    }
    n->hrd = GUINT32_FROM_LE(k.host_reachability_delta);
    chimney_tcp_neigh_hrd_updated(eng, n);
    return CHIMNEY_ST_SUCCESS;
}

uint32_t chimney_engine_command(ChimneyEngine *eng, const ChimneyCmdDesc *cmd,
                                uint32_t *info, uint32_t *work)
{
    uint16_t opcode = GUINT16_FROM_LE(cmd->opcode);
    uint32_t st;

    *info = 0;
    *work = 1;
    if (opcode == CHIMNEY_CMD_NEIGH_REPLY) {
        st = chimney_engine_neigh_reply(eng, cmd);
    } else if (opcode == CHIMNEY_CMD_QUERY_STATS ||
               opcode == CHIMNEY_CMD_CLEAR_STATS) {
        st = chimney_stats_command(eng, cmd);
    } else if (chimney_io_handles_opcode(opcode)) {
        st = chimney_io_command(eng, cmd);
    } else {
        st = chimney_offload_cmd(eng, cmd, info, work);
    }
    trace_chimney_engine_cmd(opcode, st, *info, *work);
    return st;
}

void chimney_engine_after_command(ChimneyEngine *eng)
{
    chimney_io_after_command(eng);
}

/*
 * Frames, timers, events
 */

bool chimney_engine_rx(ChimneyEngine *eng, const uint8_t *frame, size_t len)
{
    /* Offloaded connections keep running while paused (rule 121). */
    if (!eng->link_up || !eng->tcp.used) {
        return false;
    }
    return chimney_tcp_input(eng, frame, len, false);
}

bool chimney_engine_rx_trusted(ChimneyEngine *eng, const uint8_t *frame,
                               size_t len)
{
    if (!eng->link_up || !eng->tcp.used) {
        return false;
    }
    return chimney_tcp_input(eng, frame, len, true);
}

void chimney_engine_timer_expired(ChimneyEngine *eng)
{
    chimney_io_run_kicks(eng);
    chimney_tcp_timers_run(eng);
}

void chimney_engine_ind_posted(ChimneyEngine *eng)
{
    chimney_deliver_ind_posted(eng);
}

void chimney_engine_event_room(ChimneyEngine *eng)
{
    chimney_io_flush_deferred(eng);
    /* indications held back while the FIFO was full */
    chimney_deliver_ind_posted(eng);
}

bool chimney_engine_pop_event(ChimneyEngine *eng, ChimneyEvent *ev)
{
    uint32_t idx = chimney_offload_pop_retrieve(eng);
    ChimneyTcpObj *t;

    if (idx == CHIMNEY_NO_INDEX) {
        return false;
    }
    t = chimney_tcp_at(eng, idx);
    /* retrieve_pending stays set: one request per connection until upload */
    memset(ev, 0, sizeof(*ev));
    ev->type = GUINT16_TO_LE(CHIMNEY_EVT_TCP_RETRIEVE);
    ev->code = GUINT16_TO_LE(t->retrieve_reason);
    ev->cookie = GUINT64_TO_LE(t->host_handle);
    ev->handle = GUINT64_TO_LE(chimney_offload_handle(eng, CHIMNEY_KIND_TCP,
                                                      idx));
    return true;
}

void chimney_engine_set_mac(ChimneyEngine *eng, const uint8_t mac[6])
{
    memcpy(eng->mac, mac, 6);
}

void chimney_engine_set_enabled(ChimneyEngine *eng, bool enabled)
{
    eng->enabled = enabled;
}

void chimney_engine_set_link(ChimneyEngine *eng, bool up)
{
    eng->link_up = up;
}

/*
 * Introspection
 */

uint32_t chimney_engine_count(const ChimneyEngine *eng, unsigned kind)
{
    switch (kind) {
    case CHIMNEY_KIND_NEIGH:
        return eng->neigh.used;
    case CHIMNEY_KIND_PATH:
        return eng->path.used;
    case CHIMNEY_KIND_TCP:
        return eng->tcp.used;
    default:
        return 0;
    }
}

uint32_t chimney_engine_objects(const ChimneyEngine *eng)
{
    return eng->neigh.used + eng->path.used + eng->tcp.used;
}

uint64_t chimney_engine_mem_used(const ChimneyEngine *eng)
{
    return eng->mem_used;
}

void chimney_engine_gen_floor(const ChimneyEngine *eng, uint32_t floor[3])
{
    floor[0] = MAX(eng->neigh.gen_max, eng->neigh.gen_floor);
    floor[1] = MAX(eng->path.gen_max, eng->path.gen_floor);
    floor[2] = MAX(eng->tcp.gen_max, eng->tcp.gen_floor);
}

void chimney_engine_set_gen_floor(ChimneyEngine *eng, const uint32_t floor[3])
{
    eng->neigh.gen_floor = MAX(eng->neigh.gen_floor, floor[0]);
    eng->path.gen_floor = MAX(eng->path.gen_floor, floor[1]);
    eng->tcp.gen_floor = MAX(eng->tcp.gen_floor, floor[2]);
}

void chimney_engine_get_setup(const ChimneyEngine *eng, ChimneyEngineSetup *c)
{
    memset(c, 0, sizeof(*c));
    c->params_set = eng->params_set;
    if (eng->params_set) {
        c->params = eng->params;
    }
    c->nvlans = eng->nvlans;
    memcpy(c->vlans, eng->vlans, sizeof(c->vlans));
}

bool chimney_engine_set_setup(ChimneyEngine *eng, const ChimneyEngineSetup *c,
                              const char **why)
{
    uint32_t tps = c->params.ticks_per_second, i;

    /* the same checks as SET_PARAMS and SET_VLANS (chimney_params.c) */
    if (c->params_set > 1 ||
        (c->params_set && tps != 10 && tps != 100 && tps != 1000)) {
        *why = "offload parameters: ticks_per_second not 10, 100 or 1000";
        return false;
    }
    if (c->nvlans > CHIMNEY_MAX_IFACE_VLANS) {
        *why = "interface VLAN table longer than CHIMNEY_MAX_IFACE_VLANS";
        return false;
    }
    for (i = 0; i < c->nvlans; i++) {
        if (c->vlans[i] > 4095) {
            *why = "interface VLAN id above 4095";
            return false;
        }
    }
    eng->params_set = c->params_set;
    eng->params = c->params;
    eng->nvlans = c->nvlans;
    memcpy(eng->vlans, c->vlans, sizeof(eng->vlans));
    return true;
}
