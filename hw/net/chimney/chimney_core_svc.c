/*
 * chimney-nic device core: the offload engine's host services
 * (chimney_engine.h).  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_core_int.h"

/*
 * The engine's host services (chimney_engine.h).  None of them calls
 * back into the engine: events are only queued, and written to the
 * event ring at the end of the core's entry point that called the engine.
 */

static int chimney_svc_dma_read(void *opaque, uint64_t addr, void *buf,
                                size_t len)
{
    return chimney_core_dma_read(opaque, addr, buf, len);
}

static int chimney_svc_dma_write(void *opaque, uint64_t addr,
                                 const void *buf, size_t len)
{
    return chimney_core_dma_write(opaque, addr, buf, len);
}

static void chimney_svc_emit_frame(void *opaque, const uint8_t *buf,
                                   size_t len)
{
    ChimneyCore *core = opaque;

    /* spec: engine frames are lost while the link is down */
    if (core->link_up) {
        core->ops->send_frame(core->opaque, buf, len);
    }
}

static uint32_t chimney_svc_tso_max(void *opaque)
{
    ChimneyCore *core = opaque;

    return core->ops->tso_max ? core->ops->tso_max(core->opaque) : 0;
}

static void chimney_svc_emit_tso(void *opaque, const uint8_t *buf,
                                 size_t len, uint16_t l4_off,
                                 uint16_t hdr_len, uint16_t mss, bool ipv6)
{
    ChimneyCore *core = opaque;

    if (core->link_up) {
        core->ops->send_tso(core->opaque, buf, len, l4_off, hdr_len, mss,
                            ipv6);
    }
}

static bool chimney_svc_queue_event(void *opaque, const ChimneyEvent *ev)
{
    return chimney_evtq_push(opaque, ev);
}

static int64_t chimney_svc_clock_ns(void *opaque)
{
    ChimneyCore *core = opaque;

    return core->ops->clock_ns(core->opaque);
}

static void chimney_svc_timer_set(void *opaque, int64_t deadline_ns)
{
    ChimneyCore *core = opaque;

    if (deadline_ns == INT64_MAX) {
        core->ops->timer_cancel(core->opaque, CHIMNEY_TIMER_ENGINE);
    } else {
        core->ops->timer_arm(core->opaque, CHIMNEY_TIMER_ENGINE, deadline_ns);
    }
}

static void chimney_svc_guest_error(void *opaque, uint32_t code,
                                    const char *msg)
{
    chimney_core_guest_error(opaque, code, "%s", msg);
}

static bool chimney_svc_event_room(void *opaque)
{
    return chimney_evtq_count(opaque) < CHIMNEY_EVT_QUEUE_MAX;
}

static int64_t chimney_svc_indicate(void *opaque, uint64_t handle,
                                    uint32_t seq, const uint8_t *data,
                                    uint32_t len)
{
    return chimney_core_indicate(opaque, handle, seq, data, len);
}

const ChimneyEngineServices chimney_engine_services = {
    .dma_read = chimney_svc_dma_read,
    .dma_write = chimney_svc_dma_write,
    .emit_frame = chimney_svc_emit_frame,
    .tso_max = chimney_svc_tso_max,
    .emit_tso = chimney_svc_emit_tso,
    .queue_event = chimney_svc_queue_event,
    .clock_ns = chimney_svc_clock_ns,
    .timer_set = chimney_svc_timer_set,
    .guest_error = chimney_svc_guest_error,
    .event_room = chimney_svc_event_room,
    .indicate = chimney_svc_indicate,
};
