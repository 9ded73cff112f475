/*
 * chimney-nic device core: registers, interrupts, rings and the L2 path.
 *
 * Behaviour is specified in docs/specs/chimney-nic.rst; section names in
 * comments refer to it.  C + GLib only (see chimney_core.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_core_int.h"
#include "chimney_engine.h"

#define ETH_HDR_LEN         14
#define ETH_MIN_FRAME       60      /* without FCS; shorter frames padded */
#define ETH_P_VLAN          0x8100
/* "Never sent" for moderation: far enough back that any gap has passed. */
#define CHIMNEY_LONG_AGO_NS (INT64_MIN / 2)

/* Causes delivered through each MSI-X vector ("Interrupts"). */
static const uint32_t chimney_vec_causes[CHIMNEY_MSIX_VECTORS] = {
    [CHIMNEY_VEC_MISC] = CHIMNEY_INT_LINK | CHIMNEY_INT_ERR |
                         CHIMNEY_INT_RX_NOBUF,
    [CHIMNEY_VEC_TX]   = CHIMNEY_INT_TX,
    [CHIMNEY_VEC_RX]   = CHIMNEY_INT_RX | CHIMNEY_INT_IND,
    [CHIMNEY_VEC_CMD]  = CHIMNEY_INT_CMD,
    [CHIMNEY_VEC_EVT]  = CHIMNEY_INT_EVT,
};

void chimney_core_guest_error(ChimneyCore *core, uint32_t code,
                              const char *fmt, ...)
{
    va_list ap;
    char *msg;

    core->err_count++;
    if (code != CHIMNEY_ERR_NONE) {
        core->last_err = code;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    core->ops->guest_error(core->opaque, msg);
    g_free(msg);
}

bool chimney_dma_enabled(ChimneyCore *core)
{
    return core->ops->dma_enabled(core->opaque);
}

int chimney_core_dma_read(ChimneyCore *core, uint64_t addr, void *buf,
                          size_t len)
{
    return core->ops->dma_read(core->opaque, addr, buf, len);
}

int chimney_core_dma_write(ChimneyCore *core, uint64_t addr, const void *buf,
                           size_t len)
{
    return core->ops->dma_write(core->opaque, addr, buf, len);
}

/*
 * Interrupts
 */

static int64_t chimney_throttle_ns(ChimneyCore *core)
{
    return (int64_t)(core->int_throttle & 0xffff) * 1000;
}

static void chimney_update_irq(ChimneyCore *core)
{
    uint32_t pending = core->int_cause & core->int_mask;
    unsigned v;

    if (!core->ops->msix_enabled(core->opaque)) {
        bool level = pending != 0;

        if (level != core->intx_level) {
            core->intx_level = level;
            trace_chimney_intx(level);
        }
        core->ops->set_intx(core->opaque, level);
        return;
    }
    if (core->intx_level) {
        core->intx_level = false;
        core->ops->set_intx(core->opaque, false);
    }

    for (v = 0; v < CHIMNEY_MSIX_VECTORS; v++) {
        uint32_t bits = pending & chimney_vec_causes[v];
        int64_t now, gap;

        if (!bits || core->vec_deadline_ns[v]) {
            /* nothing to send, or held back until the moderation timer */
            continue;
        }
        now = core->ops->clock_ns(core->opaque);
        gap = chimney_throttle_ns(core);
        if (gap && now - core->vec_last_ns[v] < gap) {
            core->vec_deadline_ns[v] = core->vec_last_ns[v] + gap;
            core->ops->timer_arm(core->opaque, CHIMNEY_TIMER_VEC0 + v,
                                 core->vec_deadline_ns[v]);
            trace_chimney_irq_moderated(v, core->vec_deadline_ns[v]);
            continue;
        }
        /* MSI-X causes auto-clear when their message is sent. */
        core->int_cause &= ~bits;
        core->vec_last_ns[v] = now;
        trace_chimney_irq(v, bits);
        core->ops->msix_notify(core->opaque, v);
    }
}

void chimney_raise(ChimneyCore *core, uint32_t causes)
{
    core->int_cause |= causes;
    if (!core->irq_hold) {
        chimney_update_irq(core);
    }
}

static void chimney_evt_drain(ChimneyCore *core);

void chimney_core_timer_expired(ChimneyCore *core, unsigned timer)
{
    if (timer < CHIMNEY_TIMER_VEC0 + CHIMNEY_MSIX_VECTORS) {
        unsigned v = timer - CHIMNEY_TIMER_VEC0;

        /* The gap has passed: the held-back message may go now. */
        core->vec_deadline_ns[v] = 0;
        chimney_update_irq(core);
    } else if (timer == CHIMNEY_TIMER_ENGINE) {
        chimney_engine_timer_expired(core->engine);
        chimney_evt_drain(core);
    }
}

/*
 * Rings
 */


/*
 * Events and commands
 */

static uint32_t chimney_evt_slots(ChimneyCore *core)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_EVT];

    if (!chimney_ring_enabled(r) || !chimney_dma_enabled(core)) {
        return 0;
    }
    return chimney_ring_avail(r);
}

/* Commands the guest has posted that the device has not consumed. */
static bool chimney_cmd_pending(ChimneyCore *core)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_CMD];

    return chimney_ring_enabled(r) && r->head != r->tail;
}

/* Write one event at HEAD: body first, VALID last (spec "Event ring"). */
static int chimney_evt_write(ChimneyCore *core, const ChimneyEvent *ev)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_EVT];
    uint32_t valid = GUINT32_TO_LE(CHIMNEY_EVTF_VALID);
    const size_t body = offsetof(ChimneyEvent, flags);

    if (chimney_ring_dma_write(core, CHIMNEY_RING_EVT, r->head, 0, ev,
                               body) < 0 ||
        chimney_ring_dma_write(core, CHIMNEY_RING_EVT, r->head, body, &valid,
                               sizeof(valid)) < 0) {
        return -1;
    }
    trace_chimney_event(GUINT16_FROM_LE(ev->type), GUINT16_FROM_LE(ev->code),
                        GUINT32_FROM_LE(ev->status));
    r->head = chimney_ring_next(r, r->head);
    r->count++;
    core->stats[CHIMNEY_STAT_EVENTS]++;
    return 0;
}

/*
 * Move queued events, then pending upload requests, into free event-ring
 * slots.  Upload requests wait in the offload module (one per connection)
 * so an invalidate behind which 64k connections sit loses none of them.
 */
static void chimney_evt_drain(ChimneyCore *core)
{
    bool wrote = false;
    ChimneyEvent ev;

    unsigned pass;

    /*
     * Object events the engine deferred for lack of FIFO room go in once
     * there is room; twice at most, so one drain is bounded.
     */
    for (pass = 0; pass < 2; pass++) {
        while (core->evtq_len && chimney_evt_slots(core)) {
            if (chimney_evt_write(core, &core->evtq[core->evtq_head]) < 0) {
                break;
            }
            core->evtq_head = (core->evtq_head + 1) % CHIMNEY_EVT_QUEUE_MAX;
            core->evtq_len--;
            wrote = true;
            chimney_evtq_refill(core);
        }
        if (pass || chimney_evtq_count(core) >= CHIMNEY_EVT_QUEUE_MAX) {
            break;
        }
        chimney_engine_event_room(core->engine);
    }
    /*
     * The slot is checked first, then the event taken: a failed write
     * keeps it in the core's queue, so none is lost.  While commands wait
     * in the command ring the last free slot is left for their
     * completion (spec "Flow control"): a flood of upload requests never
     * holds up the commands that answer them.
     */
    while (!core->evtq_len &&
           chimney_evt_slots(core) > (chimney_cmd_pending(core) ? 1u : 0u) &&
           chimney_engine_pop_event(core->engine, &ev)) {
        if (chimney_evt_write(core, &ev) < 0) {
            chimney_evtq_push(core, &ev);
            break;
        }
        wrote = true;
    }
    if (wrote) {
        chimney_raise(core, CHIMNEY_INT_EVT);
    }
}

void chimney_core_post_event(ChimneyCore *core, const ChimneyEvent *ev)
{
    if (chimney_evtq_push(core, ev)) {
        chimney_evt_drain(core);
    }
}

static void chimney_post_cmd_done(ChimneyCore *core, const ChimneyCmdDesc *cmd,
                                  uint32_t status, uint32_t info)
{
    ChimneyEvent ev = {
        .type = GUINT16_TO_LE(CHIMNEY_EVT_CMD_DONE),
        .code = cmd->opcode,                /* already LE */
        .status = GUINT32_TO_LE(status),
        .cookie = cmd->cookie,              /* already LE */
        .handle = cmd->handle,              /* already LE */
        .info = GUINT32_TO_LE(info),
    };

    trace_chimney_cmd(GUINT16_FROM_LE(cmd->opcode),
                      GUINT64_FROM_LE(cmd->cookie), status);
    chimney_core_post_event(core, &ev);
}

static uint32_t chimney_cmd_execute(ChimneyCore *core,
                                    const ChimneyCmdDesc *cmd,
                                    uint32_t *info, uint32_t *work)
{
    uint16_t opcode = GUINT16_FROM_LE(cmd->opcode);

    *info = 0;
    *work = 1;
    if (chimney_engine_handles_opcode(opcode)) {
        return chimney_engine_command(core->engine, cmd, info, work);
    }
    switch (opcode) {
    case CHIMNEY_CMD_NOP:
        return CHIMNEY_ST_SUCCESS;
    default:
        chimney_core_guest_error(core, CHIMNEY_ERR_BAD_OPCODE,
                                 "chimney-nic: unknown command opcode 0x%x",
                                 opcode);
        return CHIMNEY_ST_NOT_SUPPORTED;
    }
}

/*
 * Consume commands while the event ring can take their completions
 * (spec "Flow control"): a command is never consumed without a slot for
 * its CMD_DONE, so completions are never dropped.
 */
void chimney_core_cmd_process(ChimneyCore *core)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_CMD];
    uint32_t budget, work_left = CHIMNEY_CMD_WORK_PER_BATCH;
    bool consumed = false;

    if (!chimney_ring_enabled(r) || !chimney_dma_enabled(core)) {
        return;
    }
    /* one message per batch, not one per completion */
    core->irq_hold++;
    for (budget = r->size; budget && r->head != r->tail; budget--) {
        ChimneyCmdDesc cmd;
        uint32_t status, info, work;

        /*
         * Give the main loop back after a bounded amount of work (spec
         * "Command processing"); the rest runs in a later bottom half.
         */
        if (!work_left) {
            core->ops->schedule_cmd(core->opaque);
            break;
        }
        if (core->evtq_len || !chimney_evt_slots(core)) {
            break;
        }
        if (chimney_ring_dma_read(core, CHIMNEY_RING_CMD, r->head, &cmd) < 0) {
            break;
        }
        r->head = chimney_ring_next(r, r->head);
        r->count++;
        core->stats[CHIMNEY_STAT_CMDS]++;
        consumed = true;
        status = chimney_cmd_execute(core, &cmd, &info, &work);
        work_left -= MIN(work, work_left);
        chimney_post_cmd_done(core, &cmd, status, info);
        chimney_engine_after_command(core->engine);
    }
    if (consumed) {
        chimney_raise(core, CHIMNEY_INT_CMD);
        /* upload requests raised by the commands (invalidate) */
        chimney_evt_drain(core);
    }
    core->irq_hold--;
    chimney_update_irq(core);
}

/*
 * L2 transmit
 */

static void chimney_tx_process(ChimneyCore *core)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_TX];
    ChimneyTxDesc desc[CHIMNEY_TX_MAX_FRAGS];
    uint32_t budget = r->size;
    bool completed = false;

    if (!chimney_ring_enabled(r) || !chimney_dma_enabled(core)) {
        return;
    }
    while (r->head != r->tail && budget) {
        uint32_t idx = r->head, n = 0, total = 0, err = CHIMNEY_ERR_NONE;
        bool eop = false;
        uint32_t i;

        /* Gather one frame: descriptors up to EOP, at most 16. */
        while (idx != r->tail && n < CHIMNEY_TX_MAX_FRAGS) {
            if (chimney_ring_dma_read(core, CHIMNEY_RING_TX, idx,
                                      &desc[n]) < 0) {
                goto out;
            }
            idx = chimney_ring_next(r, idx);
            eop = GUINT16_FROM_LE(desc[n].flags) & CHIMNEY_TXF_EOP;
            n++;
            if (eop) {
                break;
            }
        }
        if (!eop) {
            if (n < CHIMNEY_TX_MAX_FRAGS) {
                break;          /* frame not complete yet: wait for TAIL */
            }
            err = CHIMNEY_ERR_TOO_MANY_FRAGS;
            chimney_core_guest_error(core, err, "chimney-nic: TX frame at %u "
                                "has more than %u descriptors",
                                r->head, CHIMNEY_TX_MAX_FRAGS);
        }
        for (i = 0; i < n && !err; i++) {
            uint16_t len = GUINT16_FROM_LE(desc[i].len);

            if (len == 0) {
                err = CHIMNEY_ERR_ZERO_LEN;
            } else if (total + len > CHIMNEY_MAX_FRAME) {
                err = CHIMNEY_ERR_OVERSIZE;
            } else if (core->ops->dma_read(core->opaque,
                                           GUINT64_FROM_LE(desc[i].addr),
                                           core->tx_buf + total, len) < 0) {
                err = CHIMNEY_ERR_DMA;
            }
            total += len;
        }
        if (!err && total < CHIMNEY_MIN_FRAME) {
            err = CHIMNEY_ERR_RUNT;
        }
        if (err && err != CHIMNEY_ERR_TOO_MANY_FRAGS) {
            chimney_core_guest_error(core, err, "chimney-nic: TX frame at %u "
                                "(%u descriptors, %u bytes) dropped: error %u",
                                r->head, n, total, err);
        }
        if (!err) {
            uint32_t wire = total;

            if (wire < ETH_MIN_FRAME) {
                memset(core->tx_buf + wire, 0, ETH_MIN_FRAME - wire);
                wire = ETH_MIN_FRAME;
            }
            core->ops->send_frame(core->opaque, core->tx_buf, wire);
            core->stats[CHIMNEY_STAT_TX_FRAMES]++;
            core->stats[CHIMNEY_STAT_TX_BYTES] += wire;
        } else {
            core->stats[CHIMNEY_STAT_TX_ERRORS] += n;
        }
        trace_chimney_tx_frame(r->head, n, total, err);

        /* Write back: status is the only field the device changes. */
        for (i = 0; i < n; i++) {
            uint16_t st = GUINT16_TO_LE(CHIMNEY_DESC_DONE |
                                        (err << CHIMNEY_DESC_ERR_SHIFT));

            if (chimney_ring_dma_write(core, CHIMNEY_RING_TX, r->head,
                                       offsetof(ChimneyTxDesc, status),
                                       &st, sizeof(st)) < 0) {
                goto out;
            }
            r->head = chimney_ring_next(r, r->head);
            r->count++;
        }
        budget = budget > n ? budget - n : 0;
        completed = true;
    }
out:
    if (completed) {
        chimney_raise(core, CHIMNEY_INT_TX);
    }
}

/*
 * L2 receive
 */

static bool chimney_l2_can_receive(ChimneyCore *core)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_RX];

    return core->link_up && chimney_ring_enabled(r) &&
           chimney_dma_enabled(core) && r->head != r->tail;
}

/*
 * Frames are taken only while the host path can take them too (spec
 * "Receive processing"): a frame that must go up the RX ring is never
 * dropped, and the ones behind it, offloaded or not, wait with it.
 */
/*
 * While TCP connections are offloaded the device always takes frames, so
 * that offloaded connections never wait behind the host's RX ring (spec
 * "Receive processing"); a host-path frame that finds no room is then
 * dropped as on a real NIC.
 */
static bool chimney_rx_serves_engine(ChimneyCore *core)
{
    return core->link_up && chimney_dma_enabled(core) &&
           chimney_engine_count(core->engine, CHIMNEY_KIND_TCP);
}

bool chimney_core_can_receive(ChimneyCore *core)
{
    return chimney_l2_can_receive(core) || chimney_rx_serves_engine(core);
}

/* No room in the RX ring: hold the frame (ret 0), or drop it. */
static ssize_t chimney_rx_nobuf(ChimneyCore *core, size_t len, size_t room)
{
    core->stats[CHIMNEY_STAT_RX_NOBUF]++;
    trace_chimney_rx_nobuf(len, room);
    if (!core->rx_stalled) {
        core->rx_stalled = true;
        chimney_raise(core, CHIMNEY_INT_RX_NOBUF);
    }
    return chimney_rx_serves_engine(core) ? (ssize_t)len : 0;
}

static bool chimney_rx_filter_accepts(ChimneyCore *core, const uint8_t *dst)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    if (core->rx_filter & CHIMNEY_RXF_PROMISC) {
        return true;
    }
    if (!memcmp(dst, bcast, 6)) {
        return core->rx_filter & CHIMNEY_RXF_BROADCAST;
    }
    if (dst[0] & 1) {
        return core->rx_filter & CHIMNEY_RXF_ALLMULTI;
    }
    return (core->rx_filter & CHIMNEY_RXF_UNICAST) &&
           !memcmp(dst, core->mac, 6);
}

static void chimney_rx_drop(ChimneyCore *core, size_t len, unsigned stat)
{
    core->stats[stat]++;
    trace_chimney_rx_drop(len, stat);
}

static ssize_t chimney_receive_frame(ChimneyCore *core, const uint8_t *buf,
                                     size_t len)
{
    /*
     * The logical switch: segments of offloaded connections go to the TCP
     * engine, everything else up the host (L2) path untouched.
     */
    if (chimney_engine_rx(core->engine, buf, len)) {
        return len;
    }
    return chimney_l2_receive_frame(core, buf, len);
}

ssize_t chimney_l2_receive_frame(ChimneyCore *core, const uint8_t *buf,
                                 size_t len)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_RX];
    ChimneyRxDesc stack_desc[32];
    ChimneyRxDesc *desc = stack_desc;
    uint32_t avail, n = 0, idx, i;
    size_t room = 0, off = 0;
    uint16_t flags = 0;
    ssize_t ret = 0;

    if (!chimney_l2_can_receive(core)) {
        if (chimney_rx_serves_engine(core)) {
            return chimney_rx_nobuf(core, len, 0);
        }
        return 0;
    }
    if (len > CHIMNEY_MAX_FRAME) {
        chimney_rx_drop(core, len, CHIMNEY_STAT_RX_OVERSIZE);
        return len;
    }
    if (len < ETH_HDR_LEN || !chimney_rx_filter_accepts(core, buf)) {
        chimney_rx_drop(core, len, CHIMNEY_STAT_RX_FILTERED);
        return len;
    }
    if (((uint16_t)buf[12] << 8 | buf[13]) == ETH_P_VLAN) {
        flags |= CHIMNEY_RXF_VLAN;
    }

    /*
     * Snapshot the descriptors the frame needs before writing anything, so
     * a frame is either delivered whole or left queued (never lost).
     */
    avail = chimney_ring_avail(r);
    if (avail > G_N_ELEMENTS(stack_desc)) {
        desc = g_new(ChimneyRxDesc, avail);
    }
    for (idx = r->head; n < avail && room < len; n++) {
        if (chimney_ring_dma_read(core, CHIMNEY_RING_RX, idx, &desc[n]) < 0) {
            goto out;
        }
        room += GUINT16_FROM_LE(desc[n].buf_len);
        idx = chimney_ring_next(r, idx);
    }
    if (room < len) {
        ret = chimney_rx_nobuf(core, len, room);
        goto out;
    }

    /* Data first, then len/flags, then status last (spec "RX ring"). */
    for (i = 0, idx = r->head; i < n; i++, idx = chimney_ring_next(r, idx)) {
        uint16_t buf_len = GUINT16_FROM_LE(desc[i].buf_len);
        size_t chunk = MIN((size_t)buf_len, len - off);
        uint16_t st = CHIMNEY_DESC_DONE;
        uint16_t lenflags[1];

        if (buf_len == 0) {
            st |= CHIMNEY_ERR_ZERO_LEN << CHIMNEY_DESC_ERR_SHIFT;
            core->stats[CHIMNEY_STAT_RX_ERRORS]++;
            chimney_core_guest_error(core, CHIMNEY_ERR_ZERO_LEN,
                                     "chimney-nic: RX descriptor %u has "
                                     "buf_len 0, skipped", idx);
        } else if (core->ops->dma_write(core->opaque,
                                        GUINT64_FROM_LE(desc[i].addr),
                                        buf + off, chunk) < 0) {
            chimney_core_guest_error(core, CHIMNEY_ERR_DMA,
                                     "chimney-nic: RX buffer of descriptor %u "
                                     "not writable, ring stopped", idx);
            chimney_ring_fault(core, CHIMNEY_RING_RX, CHIMNEY_ERR_DMA);
            goto out;
        } else {
            off += chunk;
            if (off == len) {
                st |= CHIMNEY_DESC_EOP;
            }
        }
        lenflags[0] = GUINT16_TO_LE(buf_len ? chunk : 0);
        if (chimney_ring_dma_write(core, CHIMNEY_RING_RX, idx,
                                   offsetof(ChimneyRxDesc, len), lenflags,
                                   sizeof(lenflags)) < 0) {
            goto out;
        }
        lenflags[0] = GUINT16_TO_LE(flags);
        if (chimney_ring_dma_write(core, CHIMNEY_RING_RX, idx,
                                   offsetof(ChimneyRxDesc, flags), lenflags,
                                   sizeof(lenflags)) < 0) {
            goto out;
        }
        st = GUINT16_TO_LE(st);
        if (chimney_ring_dma_write(core, CHIMNEY_RING_RX, idx,
                                   offsetof(ChimneyRxDesc, status), &st,
                                   sizeof(st)) < 0) {
            goto out;
        }
    }
    trace_chimney_rx_frame(r->head, n, len);
    r->head = idx;
    r->count += n;
    core->stats[CHIMNEY_STAT_RX_FRAMES]++;
    core->stats[CHIMNEY_STAT_RX_BYTES] += len;
    chimney_raise(core, CHIMNEY_INT_RX);
    ret = len;
out:
    if (desc != stack_desc) {
        g_free(desc);
    }
    return ret;
}

ssize_t chimney_core_receive(ChimneyCore *core, const uint8_t *buf,
                             size_t len)
{
    ssize_t ret = chimney_receive_frame(core, buf, len);

    /* events the engine queued (upload requests) go out once it is done */
    chimney_evt_drain(core);
    return ret;
}

ssize_t chimney_core_receive_offloaded(ChimneyCore *core, const uint8_t *buf,
                                       size_t len,
                                       const ChimneyRxOffload *ro)
{
    ssize_t ret = ro->needs_csum || ro->gso ?
                  chimney_rxoff_frame(core, buf, len, ro) :
                  chimney_receive_frame(core, buf, len);

    chimney_evt_drain(core);
    return ret;
}

/*
 * Link, PCI state, reset
 */

void chimney_core_set_link(ChimneyCore *core, bool up)
{
    ChimneyEvent ev = {
        .type = GUINT16_TO_LE(CHIMNEY_EVT_LINK),
        .info = GUINT32_TO_LE(up ? 1 : 0),
    };

    if (core->link_up == up) {
        return;
    }
    core->link_up = up;
    chimney_engine_set_link(core->engine, up);
    trace_chimney_link(up);
    if (chimney_ring_enabled(&core->ring[CHIMNEY_RING_EVT])) {
        chimney_core_post_event(core, &ev);
    }
    chimney_raise(core, CHIMNEY_INT_LINK);
    if (up) {
        core->ops->rx_flush(core->opaque);
    }
}

/* Work that waited for bus mastering may run now. */
static void chimney_kick_all(ChimneyCore *core)
{
    chimney_tx_process(core);
    chimney_evt_drain(core);
    core->ops->schedule_cmd(core->opaque);
    core->ops->rx_flush(core->opaque);
}

void chimney_core_pci_changed(ChimneyCore *core)
{
    chimney_update_irq(core);
    if (chimney_dma_enabled(core)) {
        chimney_kick_all(core);
    }
}

void chimney_core_reset(ChimneyCore *core)
{
    unsigned i;

    for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
        core->ops->timer_cancel(core->opaque, i);
    }
    memcpy(core->mac, core->perm_mac, sizeof(core->mac));
    core->ctrl = 0;
    core->offload_paused = false;
    core->rx_filter = CHIMNEY_RXF_RESET_VALUE;
    core->err_count = 0;
    core->last_err = 0;
    core->int_cause = 0;
    core->int_mask = 0;
    core->int_throttle = 0;
    core->rx_stalled = false;
    memset(core->ring, 0, sizeof(core->ring));
    memset(core->stats, 0, sizeof(core->stats));
    for (i = 0; i < CHIMNEY_MSIX_VECTORS; i++) {
        core->vec_last_ns[i] = CHIMNEY_LONG_AGO_NS;
    }
    memset(core->vec_deadline_ns, 0, sizeof(core->vec_deadline_ns));
    core->evtq_head = 0;
    core->evtq_len = 0;
    chimney_evtq_clear_overflow(core);
    core->irq_hold = 0;
    chimney_engine_reset(core->engine);
    chimney_engine_set_mac(core->engine, core->mac);
    chimney_engine_set_link(core->engine, core->link_up);
    core->intx_level = false;
    core->ops->set_intx(core->opaque, false);
    trace_chimney_reset();
}


void chimney_core_init_config(ChimneyCore *core, const ChimneyCoreOps *ops,
                              void *opaque, const uint8_t mac[6],
                              bool link_up, const ChimneyEngineConfig *cfg)
{
    memset(core, 0, sizeof(*core));
    core->ops = ops;
    core->opaque = opaque;
    memcpy(core->perm_mac, mac, sizeof(core->perm_mac));
    core->link_up = link_up;
    core->engine_cfg = *cfg;
    core->engine = chimney_engine_new(&chimney_engine_services, core, cfg);
    chimney_core_reset(core);
}

void chimney_core_init(ChimneyCore *core, const ChimneyCoreOps *ops,
                       void *opaque, const uint8_t mac[6], bool link_up)
{
    ChimneyEngineConfig cfg = {
        .max_conn = CHIMNEY_MAX_CONN,
        .mem_budget = CHIMNEY_MEM_BUDGET_DEFAULT,
    };

    chimney_core_init_config(core, ops, opaque, mac, link_up, &cfg);
}

uint32_t chimney_core_offload_objects(ChimneyCore *core)
{
    /* completions in the overflow list are state that does not migrate */
    return chimney_engine_objects(core->engine) +
           (core->evtq_more ? core->evtq_more->length : 0);
}

void chimney_core_cleanup(ChimneyCore *core)
{
    chimney_evtq_clear_overflow(core);
    chimney_engine_free(core->engine);
    core->engine = NULL;
}

void chimney_core_pre_save(ChimneyCore *core)
{
    chimney_engine_gen_floor(core->engine, core->handle_gen_floor);
    chimney_engine_get_setup(core->engine, &core->engine_setup);
}

bool chimney_core_post_load(ChimneyCore *core, const char **why)
{
    unsigned v;

    if (!chimney_engine_set_setup(core->engine, &core->engine_setup, why)) {
        return false;
    }
    chimney_engine_set_gen_floor(core->engine, core->handle_gen_floor);
    /* the engine's view of the migrated registers */
    chimney_engine_set_mac(core->engine, core->mac);
    chimney_engine_set_enabled(core->engine,
                               core->ctrl & CHIMNEY_CTRL_OFFLOAD_EN);
    chimney_engine_set_link(core->engine, core->link_up);
    for (v = 0; v < CHIMNEY_MSIX_VECTORS; v++) {
        if (core->vec_deadline_ns[v]) {
            core->ops->timer_arm(core->opaque, CHIMNEY_TIMER_VEC0 + v,
                                 core->vec_deadline_ns[v]);
        }
    }
    return true;
}

/*
 * Registers
 */

static uint32_t chimney_status_reg(ChimneyCore *core)
{
    uint32_t st = 0;

    if (core->link_up) {
        st |= CHIMNEY_STATUS_LINK_UP;
    }
    if (chimney_dma_enabled(core)) {
        st |= CHIMNEY_STATUS_BUS_MASTER;
    }
    if (core->ops->msix_enabled(core->opaque)) {
        st |= CHIMNEY_STATUS_MSIX;
    }
    return st;
}

static bool chimney_ring_reg_read(ChimneyCore *core, uint64_t addr,
                                  uint32_t *val)
{
    unsigned ring = (addr - CHIMNEY_REG_RING_BASE) / CHIMNEY_REG_RING_STRIDE;
    ChimneyRing *r = &core->ring[ring];

    switch ((addr - CHIMNEY_REG_RING_BASE) % CHIMNEY_REG_RING_STRIDE) {
    case CHIMNEY_RING_ADDR_LO:
        *val = (uint32_t)r->base;
        return true;
    case CHIMNEY_RING_ADDR_HI:
        *val = r->base >> 32;
        return true;
    case CHIMNEY_RING_SIZE:
        *val = r->size;
        return true;
    case CHIMNEY_RING_HEAD:
        *val = r->head;
        return true;
    case CHIMNEY_RING_TAIL:
        *val = r->tail;
        return true;
    case CHIMNEY_RING_CTRL:
        *val = r->ctrl;
        return true;
    case CHIMNEY_RING_STATUS:
        *val = r->status;
        return true;
    case CHIMNEY_RING_COUNT_REG:
        *val = r->count;
        return true;
    }
    return false;
}

static void chimney_ring_enable(ChimneyCore *core, unsigned ring)
{
    ChimneyRing *r = &core->ring[ring];
    uint32_t err = CHIMNEY_ERR_NONE;

    if (r->size < CHIMNEY_RING_MIN || r->size > CHIMNEY_RING_MAX ||
        (r->size & (r->size - 1))) {
        err = CHIMNEY_ERR_BAD_SIZE;
    } else if (r->base & (CHIMNEY_RING_ALIGN - 1)) {
        err = CHIMNEY_ERR_BAD_ALIGN;
    }
    if (err) {
        chimney_core_guest_error(core, err,
                                 "chimney-nic: ring %u enable refused "
                            "(base 0x%" G_GINT64_MODIFIER "x size %u): "
                            "error %u", ring, r->base, r->size, err);
        chimney_ring_fault(core, ring, err);
        return;
    }
    r->head = 0;
    r->tail = 0;
    r->ctrl = CHIMNEY_RING_CTRL_ENABLE;
    r->status = CHIMNEY_RING_ST_ENABLED;
    trace_chimney_ring_enable(ring, r->base, r->size);
    if (ring == CHIMNEY_RING_RX) {
        core->rx_stalled = false;
    }
}

/* The driver handed entries to the device: act on them. */
static void chimney_ring_kick(ChimneyCore *core, unsigned ring)
{
    switch (ring) {
    case CHIMNEY_RING_TX:
        chimney_tx_process(core);
        break;
    case CHIMNEY_RING_RX:
        core->rx_stalled = false;
        core->ops->rx_flush(core->opaque);
        break;
    case CHIMNEY_RING_CMD:
        core->ops->schedule_cmd(core->opaque);
        break;
    case CHIMNEY_RING_EVT:
        chimney_evt_drain(core);
        /* commands may have waited for completion slots */
        core->ops->schedule_cmd(core->opaque);
        break;
    case CHIMNEY_RING_IND:
        /* spec "Delivery algorithm", event E */
        chimney_engine_ind_posted(core->engine);
        chimney_evt_drain(core);
        break;
    default:
        break;
    }
}

static void chimney_ring_reg_write(ChimneyCore *core, uint64_t addr,
                                   uint32_t val)
{
    unsigned ring = (addr - CHIMNEY_REG_RING_BASE) / CHIMNEY_REG_RING_STRIDE;
    unsigned off = (addr - CHIMNEY_REG_RING_BASE) % CHIMNEY_REG_RING_STRIDE;
    ChimneyRing *r = &core->ring[ring];

    switch (off) {
    case CHIMNEY_RING_ADDR_LO:
    case CHIMNEY_RING_ADDR_HI:
    case CHIMNEY_RING_SIZE:
        if (chimney_ring_enabled(r)) {
            chimney_core_guest_error(core, CHIMNEY_ERR_BUSY,
                                     "chimney-nic: ring %u reconfigured "
                                     "while enabled, ignored", ring);
            return;
        }
        if (off == CHIMNEY_RING_ADDR_LO) {
            r->base = (r->base & 0xffffffff00000000ull) | val;
        } else if (off == CHIMNEY_RING_ADDR_HI) {
            r->base = (r->base & 0xffffffffull) | ((uint64_t)val << 32);
        } else {
            r->size = val;
        }
        return;
    case CHIMNEY_RING_TAIL:
        if (!chimney_ring_enabled(r) || val >= r->size) {
            chimney_core_guest_error(core, CHIMNEY_ERR_BAD_TAIL,
                                     "chimney-nic: ring %u TAIL %u ignored "
                                     "(size %u, %s)", ring, val, r->size,
                                     chimney_ring_enabled(r) ? "enabled" :
                                     "disabled");
            return;
        }
        r->tail = val;
        chimney_ring_kick(core, ring);
        return;
    case CHIMNEY_RING_CTRL:
        if (val & CHIMNEY_RING_CTRL_ENABLE) {
            if (!chimney_ring_enabled(r)) {
                chimney_ring_enable(core, ring);
            }
        } else {
            r->ctrl = 0;
            r->status &= ~CHIMNEY_RING_ST_ENABLED;
        }
        return;
    default:
        chimney_core_guest_error(core, CHIMNEY_ERR_BAD_REG,
                                 "chimney-nic: write to "
                                 "read-only ring register 0x%" G_GINT64_MODIFIER
                                 "x ignored", addr);
        return;
    }
}

static void chimney_post_status(ChimneyCore *core, uint16_t code)
{
    ChimneyEvent ev = {
        .type = GUINT16_TO_LE(CHIMNEY_EVT_STATUS),
        .code = GUINT16_TO_LE(code),
    };

    chimney_core_post_event(core, &ev);
}

/*
 * OFFLOAD_EN transitions are the device's NdisMIndicateStatusEx: clearing
 * it pauses offload (and asks for everything back if anything is
 * offloaded), setting it again resumes (spec "Enabling offload").
 */
static void chimney_ctrl_offload_en(ChimneyCore *core, uint32_t en)
{
    bool was = core->ctrl & CHIMNEY_CTRL_OFFLOAD_EN;

    core->ctrl = en;
    chimney_engine_set_enabled(core->engine, en);
    if (was && !en) {
        chimney_post_status(core, CHIMNEY_STATUS_IND_PAUSE);
        if (chimney_engine_objects(core->engine)) {
            chimney_post_status(core, CHIMNEY_STATUS_IND_UPLOAD_ALL);
        }
        core->offload_paused = true;
    } else if (!was && en && core->offload_paused) {
        chimney_post_status(core, CHIMNEY_STATUS_IND_RESUME);
        core->offload_paused = false;
    }
}

uint32_t chimney_core_read(ChimneyCore *core, uint64_t addr, unsigned size)
{
    uint32_t val = 0;

    if (size != 4 || (addr & 3)) {
        chimney_core_guest_error(core, CHIMNEY_ERR_BAD_REG,
                                 "chimney-nic: %u-byte "
                                 "read at 0x%" G_GINT64_MODIFIER "x ignored "
                                 "(32-bit aligned only)", size, addr);
        return 0;
    }
    if (addr >= CHIMNEY_REG_RING_BASE &&
        addr < CHIMNEY_REG_RING_BASE +
               CHIMNEY_RING_COUNT * CHIMNEY_REG_RING_STRIDE) {
        chimney_ring_reg_read(core, addr, &val);
        return val;
    }
    if (addr >= CHIMNEY_REG_STATS_BASE &&
        addr < CHIMNEY_REG_STAT(CHIMNEY_STAT_COUNT)) {
        return core->stats[(addr - CHIMNEY_REG_STATS_BASE) / 4];
    }
    switch (addr) {
    case CHIMNEY_REG_ID:
        return CHIMNEY_ID_MAGIC;
    case CHIMNEY_REG_VERSION:
        return CHIMNEY_ABI_VERSION;
    case CHIMNEY_REG_CTRL:
        return core->ctrl;
    case CHIMNEY_REG_STATUS:
        return chimney_status_reg(core);
    case CHIMNEY_REG_MAC_LO:
        return core->mac[0] | core->mac[1] << 8 | core->mac[2] << 16 |
               (uint32_t)core->mac[3] << 24;
    case CHIMNEY_REG_MAC_HI:
        return core->mac[4] | core->mac[5] << 8;
    case CHIMNEY_REG_RX_FILTER:
        return core->rx_filter;
    case CHIMNEY_REG_ERR_COUNT:
        return core->err_count;
    case CHIMNEY_REG_INT_CAUSE:
        return core->int_cause;
    case CHIMNEY_REG_INT_MASK:
        return core->int_mask;
    case CHIMNEY_REG_INT_THROTTLE:
        return core->int_throttle;
    case CHIMNEY_REG_LAST_ERR:
        return core->last_err;
    case CHIMNEY_REG_CAP_FLAGS:
        return CHIMNEY_CAP_L2 | CHIMNEY_CAP_OFFLOAD_IPV4 |
               CHIMNEY_CAP_OFFLOAD_IPV6 | CHIMNEY_CAP_VLAN |
               CHIMNEY_CAP_8021P | CHIMNEY_CAP_TIMESTAMPS |
               CHIMNEY_CAP_WSCALE | CHIMNEY_CAP_SACK | CHIMNEY_CAP_RECV_SGL |
               CHIMNEY_CAP_RECV_HOLD | CHIMNEY_CAP_DISC_RCV_CLOSED;
    case CHIMNEY_REG_CAP_MAX_CONN:
        return core->engine_cfg.max_conn;
    case CHIMNEY_REG_CAP_MAX_PATH:
        return CHIMNEY_MAX_PATH;
    case CHIMNEY_REG_CAP_MAX_NEIGH:
        return CHIMNEY_MAX_NEIGH;
    case CHIMNEY_REG_CAP_TREE_BLOCKS:
        return CHIMNEY_TREE_MAX_BLOCKS;
    case CHIMNEY_REG_CAP_MAX_FRAME:
        return CHIMNEY_MAX_FRAME;
    case CHIMNEY_REG_CAP_RING_MAX:
        return CHIMNEY_RING_MAX;
    case CHIMNEY_REG_CAP_MSIX_VECTORS:
        return CHIMNEY_MSIX_VECTORS;
    case CHIMNEY_REG_CAP_RCV_BUF:
        return CHIMNEY_RCV_BUF;
    case CHIMNEY_REG_CAP_MAX_RCV_WND:
        return CHIMNEY_MAX_RCV_WND;
    case CHIMNEY_REG_CAP_MAX_PATH_MTU:
        return CHIMNEY_MAX_PATH_MTU;
    case CHIMNEY_REG_CAP_MEM_BUDGET_KB:
        return (uint32_t)MIN(core->engine_cfg.mem_budget / 1024, UINT32_MAX);
    default:
        chimney_core_guest_error(core, CHIMNEY_ERR_BAD_REG,
                                 "chimney-nic: read of "
                                 "unknown register 0x%" G_GINT64_MODIFIER "x",
                                 addr);
        return 0;
    }
}

void chimney_core_write(ChimneyCore *core, uint64_t addr, uint32_t val,
                        unsigned size)
{
    if (size != 4 || (addr & 3)) {
        chimney_core_guest_error(core, CHIMNEY_ERR_BAD_REG,
                                 "chimney-nic: %u-byte "
                                 "write at 0x%" G_GINT64_MODIFIER "x ignored "
                                 "(32-bit aligned only)", size, addr);
        return;
    }
    if (addr >= CHIMNEY_REG_RING_BASE &&
        addr < CHIMNEY_REG_RING_BASE +
               CHIMNEY_RING_COUNT * CHIMNEY_REG_RING_STRIDE) {
        chimney_ring_reg_write(core, addr, val);
        return;
    }
    switch (addr) {
    case CHIMNEY_REG_CTRL:
        if (val & CHIMNEY_CTRL_RESET) {
            chimney_core_reset(core);
            core->ops->rx_flush(core->opaque);
            return;
        }
        chimney_ctrl_offload_en(core, val & CHIMNEY_CTRL_OFFLOAD_EN);
        chimney_evt_drain(core);
        return;
    case CHIMNEY_REG_MAC_LO:
        core->mac[0] = val;
        core->mac[1] = val >> 8;
        core->mac[2] = val >> 16;
        core->mac[3] = val >> 24;
        chimney_engine_set_mac(core->engine, core->mac);
        return;
    case CHIMNEY_REG_MAC_HI:
        core->mac[4] = val;
        core->mac[5] = val >> 8;
        chimney_engine_set_mac(core->engine, core->mac);
        return;
    case CHIMNEY_REG_RX_FILTER:
        core->rx_filter = val & (CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST |
                                 CHIMNEY_RXF_ALLMULTI | CHIMNEY_RXF_PROMISC);
        core->ops->rx_flush(core->opaque);
        return;
    case CHIMNEY_REG_INT_CAUSE:
        core->int_cause &= ~val;
        chimney_update_irq(core);
        return;
    case CHIMNEY_REG_INT_MASK:
        core->int_mask = val & CHIMNEY_INT_ALL;
        chimney_update_irq(core);
        return;
    case CHIMNEY_REG_INT_THROTTLE:
        core->int_throttle = val & 0xffff;
        return;
    case CHIMNEY_REG_STATS_CLEAR:
        if (val & 1) {
            memset(core->stats, 0, sizeof(core->stats));
        }
        return;
    default:
        chimney_core_guest_error(core, CHIMNEY_ERR_BAD_REG,
                                 "chimney-nic: write of "
                                 "0x%x to read-only or unknown register 0x%"
                                 G_GINT64_MODIFIER "x ignored", val, addr);
        return;
    }
}
