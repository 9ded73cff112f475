/*
 * chimney-nic: QEMU glue for the TCP Chimney Offload NIC model.
 *
 * PCI device, BAR0 MMIO, MSI-X/INTx, netdev, timers, reset, VMState and
 * properties.  All device behaviour lives in chimney_core.c (C + GLib);
 * this file only connects it to QEMU (the igb.c / igb_core.c split).
 * Programming interface: docs/specs/chimney-nic.rst.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "net/net.h"
#include "standard-headers/linux/virtio_net.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "migration/blocker.h"
#include "migration/misc.h"
#include "system/dma.h"
#include "system/system.h"
#include "trace.h"

#include "qapi/visitor.h"

#include "chimney_core.h"
#include "chimney_migrate.h"

#define TYPE_CHIMNEY_NIC "chimney-nic"
OBJECT_DECLARE_SIMPLE_TYPE(ChimneyNicState, CHIMNEY_NIC)

/*
 * Work an entry point found the device busy with (it was called while the
 * device was inside one of its own callbacks: from the device's own DMA or
 * MSI-X message, through another device) and left for the end of that
 * callback; see chimney_nic_enter().
 */
enum {
    CHIMNEY_NIC_DEFER_RESET  = 1u << 0,     /* reset hold */
    CHIMNEY_NIC_DEFER_LINK   = 1u << 1,     /* netdev link changed */
    CHIMNEY_NIC_DEFER_PCI    = 1u << 2,     /* config write */
    CHIMNEY_NIC_DEFER_CMD    = 1u << 3,     /* command bottom half */
    CHIMNEY_NIC_DEFER_RX     = 1u << 4,     /* frame delivery */
    CHIMNEY_NIC_DEFER_TIMER0 = 1u << 8,     /* + core timer id */
};
QEMU_BUILD_BUG_ON(CHIMNEY_TIMER_COUNT > 24);

/* Which core timer a QEMUTimer callback belongs to. */
typedef struct ChimneyNicTimerCtx {
    ChimneyNicState *s;
    unsigned id;
} ChimneyNicTimerCtx;

struct ChimneyNicState {
    PCIDevice parent_obj;

    NICState *nic;
    NICConf conf;
    MemoryRegion mmio;
    QEMUTimer *timers[CHIMNEY_TIMER_COUNT];
    ChimneyNicTimerCtx timer_ctx[CHIMNEY_TIMER_COUNT];
    QEMUBH *cmd_bh;
    /*
     * Frames the engine sends while a peer is delivering a frame to us
     * (chimney_nic_receive): sent from tx_bh, in order, never back into
     * the peer's own callback (libslirp is not re-entrant: it iterates
     * its sockets while it delivers, and a segment we answer with at
     * once can free one of them).
     */
    GQueue txq;                 /* of GBytes, vnet header included */
    QEMUBH *tx_bh;
    /*
     * The peer takes a virtio-net header with every frame (tap): frames
     * carry one both ways, and with the tso property the engine's
     * super-segments go out as GSO frames the host kernel cuts, and the
     * kernel's come in whole (spec "Segmentation offload").
     */
    bool has_vnet;
    bool tso;                   /* property tso */
    uint32_t max_conn;          /* property max-conn */
    uint64_t mem_budget;        /* property mem-budget */

    /* depth of the device's own callbacks running (0: idle) */
    unsigned busy;
    /* frames delivered by our own rx_flush are no re-entry */
    unsigned rx_flushing;
    bool in_receive;
    uint32_t deferred;                  /* CHIMNEY_NIC_DEFER_* */
    /* set while state objects are offloaded (see chimney_nic_blocker) */
    Error *migration_blocker;
    bool blocker_failed;                /* reported that it was refused */

    ChimneyCore core;
};

/*
 * ChimneyCoreOps on top of QEMU
 */

static int chimney_nic_dma_read(void *opaque, uint64_t addr, void *buf,
                                size_t len)
{
    ChimneyNicState *s = opaque;

    return pci_dma_read(PCI_DEVICE(s), addr, buf, len) == MEMTX_OK ? 0 : -1;
}

static int chimney_nic_dma_write(void *opaque, uint64_t addr,
                                 const void *buf, size_t len)
{
    ChimneyNicState *s = opaque;

    return pci_dma_write(PCI_DEVICE(s), addr, buf, len) == MEMTX_OK ? 0 : -1;
}

static bool chimney_nic_dma_enabled(void *opaque)
{
    ChimneyNicState *s = opaque;

    return PCI_DEVICE(s)->config[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

#define CHIMNEY_NIC_TXQ_MAX 4096    /* frames deferred at most */

/* One frame to the peer, behind its virtio-net header if it takes one. */
static void chimney_nic_send_vnet(ChimneyNicState *s,
                                  const struct virtio_net_hdr *vh,
                                  const uint8_t *buf, size_t len)
{
    size_t vlen = s->has_vnet ? sizeof(*vh) : 0;
    struct iovec iov[2] = {
        { .iov_base = (void *)vh, .iov_len = vlen },
        { .iov_base = (void *)buf, .iov_len = len },
    };

    if (s->in_receive || !g_queue_is_empty(&s->txq)) {
        uint8_t *copy;

        if (g_queue_get_length(&s->txq) >= CHIMNEY_NIC_TXQ_MAX) {
            trace_chimney_tx_deferred_drop(len);    /* a loss on the wire */
            return;
        }
        copy = g_malloc(vlen + len);
        memcpy(copy, vh, vlen);
        memcpy(copy + vlen, buf, len);
        g_queue_push_tail(&s->txq, g_bytes_new_take(copy, vlen + len));
        qemu_bh_schedule(s->tx_bh);
        return;
    }
    qemu_sendv_packet(qemu_get_queue(s->nic), vlen ? iov : iov + 1,
                      vlen ? 2 : 1);
}

static void chimney_nic_send_frame(void *opaque, const uint8_t *buf,
                                   size_t len)
{
    static const struct virtio_net_hdr plain = {
        .gso_type = VIRTIO_NET_HDR_GSO_NONE,
    };

    chimney_nic_send_vnet(opaque, &plain, buf, len);
}

static uint32_t chimney_nic_tso_max(void *opaque)
{
    ChimneyNicState *s = opaque;

    return s->has_vnet && s->tso ? CHIMNEY_TSO_MAX_FRAME : 0;
}

/*
 * A super-segment of the engine as one GSO frame: the host kernel cuts
 * it into gso_size segments and completes their checksums from the
 * pseudo-header sum in place (NEEDS_CSUM), as for virtio-net's TSO.
 */
static void chimney_nic_send_tso(void *opaque, const uint8_t *buf,
                                 size_t len, uint16_t l4_off,
                                 uint16_t hdr_len, uint16_t mss, bool ipv6)
{
    ChimneyNicState *s = opaque;
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
                           VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = hdr_len,
        .gso_size = mss,
        .csum_start = l4_off,
        .csum_offset = 16,      /* TCP checksum field */
    };

    trace_chimney_tx_tso(len, mss);
    chimney_nic_send_vnet(s, &vh, buf, len);
}

static void chimney_nic_txq_purge(ChimneyNicState *s)
{
    GBytes *b;

    while ((b = g_queue_pop_head(&s->txq))) {
        g_bytes_unref(b);
    }
}

static void chimney_nic_tx_bh(void *opaque)
{
    ChimneyNicState *s = opaque;
    unsigned n = g_queue_get_length(&s->txq);   /* bounded: this many */
    GBytes *b;
    gsize len;
    const uint8_t *data;

    /* the frames carry their vnet header already (chimney_nic_send_vnet) */
    while (n-- && (b = g_queue_pop_head(&s->txq))) {
        data = g_bytes_get_data(b, &len);
        qemu_send_packet(qemu_get_queue(s->nic), data, len);
        g_bytes_unref(b);
    }
}

static void chimney_nic_rx_flush(void *opaque)
{
    ChimneyNicState *s = opaque;

    if (chimney_core_can_receive(&s->core)) {
        /* the frames this delivers are wanted now (chimney_nic_receive) */
        s->rx_flushing++;
        qemu_flush_queued_packets(qemu_get_queue(s->nic));
        s->rx_flushing--;
    }
}

static bool chimney_nic_msix_enabled(void *opaque)
{
    return msix_enabled(PCI_DEVICE(opaque));
}

static void chimney_nic_msix_notify(void *opaque, unsigned vector)
{
    msix_notify(PCI_DEVICE(opaque), vector);
}

static void chimney_nic_set_intx(void *opaque, bool level)
{
    pci_set_irq(PCI_DEVICE(opaque), level);
}

static int64_t chimney_nic_clock_ns(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void chimney_nic_timer_arm(void *opaque, unsigned timer,
                                  int64_t deadline_ns)
{
    ChimneyNicState *s = opaque;

    timer_mod(s->timers[timer], deadline_ns);
}

static void chimney_nic_timer_cancel(void *opaque, unsigned timer)
{
    ChimneyNicState *s = opaque;

    if (s->timers[timer]) {
        timer_del(s->timers[timer]);
    }
}

static void chimney_nic_schedule_cmd(void *opaque)
{
    ChimneyNicState *s = opaque;

    qemu_bh_schedule(s->cmd_bh);
}

static void chimney_nic_guest_error(void *opaque, const char *msg)
{
    trace_chimney_guest_error(msg);
    qemu_log_mask(LOG_GUEST_ERROR, "%s\n", msg);
}

static const ChimneyCoreOps chimney_nic_core_ops = {
    .dma_read = chimney_nic_dma_read,
    .dma_write = chimney_nic_dma_write,
    .dma_enabled = chimney_nic_dma_enabled,
    .send_frame = chimney_nic_send_frame,
    .tso_max = chimney_nic_tso_max,
    .send_tso = chimney_nic_send_tso,
    .rx_flush = chimney_nic_rx_flush,
    .msix_enabled = chimney_nic_msix_enabled,
    .msix_notify = chimney_nic_msix_notify,
    .set_intx = chimney_nic_set_intx,
    .clock_ns = chimney_nic_clock_ns,
    .timer_arm = chimney_nic_timer_arm,
    .timer_cancel = chimney_nic_timer_cancel,
    .schedule_cmd = chimney_nic_schedule_cmd,
    .guest_error = chimney_nic_guest_error,
};

/*
 * Migration blocker: while the guest has state objects offloaded, their
 * state lives only in this device and is not in the migration stream, so
 * migration is refused with a reason a person can act on.  Updated at the
 * end of every callback that can change the number of objects (the
 * commands, CTRL writes, resets all run in one of them).
 */

static void chimney_nic_blocker_update(ChimneyNicState *s)
{
    uint32_t objects = chimney_core_offload_objects(&s->core);
    Error *err = NULL;
    char *path;

    if (!objects) {
        if (s->migration_blocker) {
            trace_chimney_migration_blocker(0, 0);
            migrate_del_blocker(&s->migration_blocker);
        }
        s->blocker_failed = false;
        return;
    }
    if (s->migration_blocker || migration_is_running()) {
        /*
         * A migration that started before the first object was offloaded
         * cannot be blocked any more: pre_save refuses it at the end.
         */
        if (!s->migration_blocker && !s->blocker_failed) {
            s->blocker_failed = true;
            warn_report("chimney-nic: state objects were offloaded during "
                        "a migration; the migration will fail");
        }
        return;
    }
    path = object_get_canonical_path(OBJECT(s));
    error_setg(&s->migration_blocker,
               "chimney-nic %s: the guest has offloaded TCP connections "
               "(or their neighbor and path state) to the device, and "
               "offloaded state cannot be migrated; have the guest driver "
               "upload them first (e.g. clear CTRL.OFFLOAD_EN, or unload "
               "the driver), see x-offloaded-connections", path);
    g_free(path);
    /*
     * _internal: the blocker only lasts while objects are offloaded, so
     * -only-migratable does not forbid offloading (pre_save still refuses
     * a migration that would lose objects).
     */
    if (migrate_add_blocker_internal(&s->migration_blocker, &err) < 0) {
        warn_report_err(err);
        s->blocker_failed = true;
        return;
    }
    trace_chimney_migration_blocker(1, objects);
}

/*
 * Reentrancy.  Every entry point that runs the core holds the device's
 * reentrancy guard (DeviceState.mem_reentrancy_guard) while it does, as
 * memory.c does for MMIO: MMIO of this device reached through its own DMA
 * or MSI-X messages is then refused by memory.c.  An entry point that is
 * itself reached that way (a PCI config write through ECAM, a bus reset
 * through a bridge's config space, a timer or bottom half run by a nested
 * event loop) finds the guard engaged: it logs a guest error and leaves its
 * work in s->deferred, which the outermost callback does when the core is
 * consistent again (chimney_nic_finish); the command bottom half is also
 * scheduled, for the case that the outer callback is not one of ours (the
 * MSI-X table).  Frame delivery from the net layer is handled in
 * chimney_nic_receive.
 */

static bool chimney_nic_enter(ChimneyNicState *s, uint32_t defer,
                              const char *what)
{
    MemReentrancyGuard *guard = &DEVICE(s)->mem_reentrancy_guard;

    if (guard->engaged_in_io || s->busy) {
        trace_chimney_reentry(what);
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: %s while the device "
                      "is busy (reached from its own DMA or MSI-X "
                      "message): deferred\n", what);
        s->deferred |= defer;
        if (defer != CHIMNEY_NIC_DEFER_CMD) {
            qemu_bh_schedule(s->cmd_bh);
        }
        return false;
    }
    guard->engaged_in_io = true;
    s->busy++;
    return true;
}

static void chimney_nic_core_reset(ChimneyNicState *s)
{
    unsigned i;

    chimney_core_reset(&s->core);
    /* the reset cancelled the timers */
    for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
        s->deferred &= ~(CHIMNEY_NIC_DEFER_TIMER0 << i);
    }
    chimney_core_set_link(&s->core, !qemu_get_queue(s->nic)->link_down);
}

/* End of the outermost callback (guard held): deferred work, blocker. */
static void chimney_nic_finish(ChimneyNicState *s)
{
    unsigned round, i;

    /* deferred work may defer more; bounded, the rest goes to the BH */
    for (round = 0; s->deferred && round < 4; round++) {
        uint32_t d = s->deferred;

        s->deferred = 0;
        if (d & CHIMNEY_NIC_DEFER_RESET) {
            chimney_nic_core_reset(s);
        }
        if (d & CHIMNEY_NIC_DEFER_LINK) {
            chimney_core_set_link(&s->core,
                                  !qemu_get_queue(s->nic)->link_down);
        }
        if (d & CHIMNEY_NIC_DEFER_PCI) {
            chimney_core_pci_changed(&s->core);
        }
        for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
            if (d & (CHIMNEY_NIC_DEFER_TIMER0 << i)) {
                chimney_core_timer_expired(&s->core, i);
            }
        }
        if (d & CHIMNEY_NIC_DEFER_CMD) {
            qemu_bh_schedule(s->cmd_bh);
        }
        if (d & CHIMNEY_NIC_DEFER_RX) {
            chimney_nic_rx_flush(s);
        }
    }
    if (s->deferred) {
        qemu_bh_schedule(s->cmd_bh);
    }
    chimney_nic_blocker_update(s);
}

static void chimney_nic_leave(ChimneyNicState *s)
{
    chimney_nic_finish(s);
    s->busy--;
    DEVICE(s)->mem_reentrancy_guard.engaged_in_io = false;
}

/*
 * MMIO, config space, netdev callbacks
 */

/*
 * memory.c holds the guard around these (and refuses to enter them while
 * it is engaged), so they are always outermost.
 */
static uint64_t chimney_nic_mmio_read(void *opaque, hwaddr addr,
                                      unsigned size)
{
    ChimneyNicState *s = opaque;
    uint32_t val;

    s->busy++;
    val = chimney_core_read(&s->core, addr, size);
    s->busy--;
    trace_chimney_mmio_read(addr, size, val);
    return val;
}

static void chimney_nic_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                                   unsigned size)
{
    ChimneyNicState *s = opaque;

    trace_chimney_mmio_write(addr, size, val);
    s->busy++;
    chimney_core_write(&s->core, addr, val, size);
    chimney_nic_finish(s);
    s->busy--;
}

/*
 * Every access reaches the core, which rejects anything but aligned 32-bit
 * accesses with a guest error (spec "Registers").
 */
static const MemoryRegionOps chimney_nic_mmio_ops = {
    .read = chimney_nic_mmio_read,
    .write = chimney_nic_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

static void chimney_nic_write_config(PCIDevice *pdev, uint32_t addr,
                                     uint32_t val, int len)
{
    ChimneyNicState *s = CHIMNEY_NIC(pdev);

    pci_default_write_config(pdev, addr, val, len);
    /* Bus mastering or MSI-X enable may have changed. */
    if (!chimney_nic_enter(s, CHIMNEY_NIC_DEFER_PCI, "PCI config write")) {
        return;
    }
    chimney_core_pci_changed(&s->core);
    chimney_nic_leave(s);
}

static bool chimney_nic_can_receive(NetClientState *nc)
{
    ChimneyNicState *s = qemu_get_nic_opaque(nc);

    return chimney_core_can_receive(&s->core);
}

/*
 * The net layer holds the guard around delivery (qemu_new_nic), but also
 * delivers while it is engaged: legitimately when the device flushes its
 * queue itself (rx_flush), otherwise when a peer answers synchronously
 * while the device is sending (slirp replies to ARP that way) or a frame
 * comes back through another device the guest made this one DMA into.
 * Those wait in the net queue (return 0) until the device's current
 * callback is done, so the core is never entered twice.
 */
/*
 * The receive offloads a peer's virtio-net header announces (spec
 * "Segmentation offload"): a checksum left to us, a TCP super-segment.
 * False for what no NIC could take (UDP segmentation, ECN: never asked
 * for, see chimney_nic_set_offloads()), dropped as a wire drops it.
 */
static bool chimney_nic_vnet_rx(const uint8_t *buf, size_t size,
                                ChimneyRxOffload *ro)
{
    struct virtio_net_hdr vh;

    memset(ro, 0, sizeof(*ro));
    if (size < sizeof(vh)) {
        return false;
    }
    memcpy(&vh, buf, sizeof(vh));
    switch (vh.gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE:
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
        ro->gso = true;
        ro->gso_size = vh.gso_size;
        break;
    default:
        trace_chimney_rx_vnet_drop(size, vh.gso_type);
        return false;
    }
    if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        ro->needs_csum = true;
        ro->csum_start = vh.csum_start;
        ro->csum_offset = vh.csum_offset;
    }
    return true;
}

/*
 * With the tso property the peer may hand us TCP super-segments and
 * leave checksums to us (the core serves both); else whole frames with
 * complete checksums, as a NIC without offloads gets them.
 */
static void chimney_nic_set_offloads(ChimneyNicState *s)
{
    int on = s->tso;

    qemu_set_offload(qemu_get_queue(s->nic)->peer, on, on, on, 0, 0, 0, 0);
}

static ssize_t chimney_nic_receive(NetClientState *nc, const uint8_t *buf,
                                   size_t size)
{
    ChimneyNicState *s = qemu_get_nic_opaque(nc);
    ChimneyRxOffload ro;
    ssize_t ret;

    if (s->in_receive || (s->busy && !s->rx_flushing)) {
        trace_chimney_rx_deferred(size);
        s->deferred |= CHIMNEY_NIC_DEFER_RX;
        return 0;
    }
    if (s->has_vnet && !chimney_nic_vnet_rx(buf, size, &ro)) {
        return size;
    }
    s->busy++;
    s->in_receive = true;
    if (s->has_vnet) {
        size_t vlen = sizeof(struct virtio_net_hdr);

        ret = chimney_core_receive_offloaded(&s->core, buf + vlen,
                                             size - vlen, &ro);
        ret = ret > 0 ? size : ret;
    } else {
        ret = chimney_core_receive(&s->core, buf, size);
    }
    s->in_receive = false;
    if (s->busy == 1) {
        chimney_nic_finish(s);
    }
    s->busy--;
    return ret;
}

static void chimney_nic_link_status_changed(NetClientState *nc)
{
    ChimneyNicState *s = qemu_get_nic_opaque(nc);

    if (!chimney_nic_enter(s, CHIMNEY_NIC_DEFER_LINK, "link change")) {
        return;
    }
    chimney_core_set_link(&s->core, !nc->link_down);
    chimney_nic_leave(s);
}

static NetClientInfo chimney_nic_net_info = {
    .type = NET_CLIENT_DRIVER_NIC,
    .size = sizeof(NICState),
    .can_receive = chimney_nic_can_receive,
    .receive = chimney_nic_receive,
    .link_status_changed = chimney_nic_link_status_changed,
};

/*
 * Realize, reset, migration, QOM
 */

static void chimney_nic_timer_fire(void *opaque)
{
    ChimneyNicTimerCtx *ctx = opaque;
    ChimneyNicState *s = ctx->s;

    if (!chimney_nic_enter(s, CHIMNEY_NIC_DEFER_TIMER0 << ctx->id,
                           "moderation timer")) {
        return;
    }
    chimney_core_timer_expired(&s->core, ctx->id);
    chimney_nic_leave(s);
}

/*
 * A plain (not qemu_bh_new_guarded) bottom half: aio_bh_call() runs a
 * guarded one even when the guard is engaged (nested event loop), so the
 * callback takes the guard itself and defers instead.
 */
static void chimney_nic_cmd_bh(void *opaque)
{
    ChimneyNicState *s = opaque;

    if (!chimney_nic_enter(s, CHIMNEY_NIC_DEFER_CMD, "command processing")) {
        return;
    }
    chimney_core_cmd_process(&s->core);
    chimney_nic_leave(s);
}

static void chimney_nic_get_count(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    ChimneyNicState *s = CHIMNEY_NIC(obj);
    uint32_t val = chimney_engine_count(s->core.engine,
                                        GPOINTER_TO_UINT(opaque));

    visit_type_uint32(v, name, &val, errp);
}

static void chimney_nic_get_mem_used(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    ChimneyNicState *s = CHIMNEY_NIC(obj);
    uint64_t val = chimney_engine_mem_used(s->core.engine);

    visit_type_uint64(v, name, &val, errp);
}

static void chimney_nic_realize(PCIDevice *pdev, Error **errp)
{
    ChimneyNicState *s = CHIMNEY_NIC(pdev);
    DeviceState *dev = DEVICE(pdev);
    NetClientState *nc;
    unsigned i;
    ChimneyEngineConfig cfg;

    if (s->max_conn < 1 || s->max_conn > CHIMNEY_MAX_CONN_LIMIT) {
        error_setg(errp, "chimney-nic: max-conn must be 1..%u",
                   CHIMNEY_MAX_CONN_LIMIT);
        return;
    }
    if (s->mem_budget > CHIMNEY_MEM_BUDGET_MAX) {
        error_setg(errp, "chimney-nic: mem-budget above %" PRIu64 " bytes",
                   (uint64_t)CHIMNEY_MEM_BUDGET_MAX);
        return;
    }

    pdev->config_write = chimney_nic_write_config;
    pdev->config[PCI_INTERRUPT_PIN] = 1;
    pdev->config[PCI_CACHE_LINE_SIZE] = 0x10;

    memory_region_init_io(&s->mmio, OBJECT(s), &chimney_nic_mmio_ops, s,
                          "chimney-nic-mmio", CHIMNEY_BAR_REGS_SIZE);
    pci_register_bar(pdev, CHIMNEY_BAR_REGS,
                     PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->mmio);

    if (msix_init_exclusive_bar(pdev, CHIMNEY_MSIX_VECTORS, CHIMNEY_BAR_MSIX,
                                errp)) {
        return;
    }
    for (i = 0; i < CHIMNEY_MSIX_VECTORS; i++) {
        msix_vector_use(pdev, i);
    }
    if (pcie_endpoint_cap_init(pdev, 0xa0) < 0) {
        error_setg(errp, "chimney-nic: cannot add the PCIe capability");
        msix_unuse_all_vectors(pdev);
        msix_uninit_exclusive_bar(pdev);
        return;
    }

    qemu_macaddr_default_if_unset(&s->conf.macaddr);
    s->nic = qemu_new_nic(&chimney_nic_net_info, &s->conf,
                          object_get_typename(OBJECT(s)), dev->id,
                          &dev->mem_reentrancy_guard, s);
    qemu_format_nic_info_str(qemu_get_queue(s->nic), s->conf.macaddr.a);
    nc = qemu_get_queue(s->nic);
    s->has_vnet = nc->peer && qemu_has_vnet_hdr(nc->peer);
    if (s->has_vnet) {
        qemu_set_vnet_hdr_len(nc->peer, sizeof(struct virtio_net_hdr));
        chimney_nic_set_offloads(s);
    }

    for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
        s->timer_ctx[i].s = s;
        s->timer_ctx[i].id = i;
        s->timers[i] = timer_new_ns(QEMU_CLOCK_VIRTUAL, chimney_nic_timer_fire,
                                    &s->timer_ctx[i]);
    }
    s->cmd_bh = qemu_bh_new(chimney_nic_cmd_bh, s);
    g_queue_init(&s->txq);
    s->tx_bh = qemu_bh_new(chimney_nic_tx_bh, s);

    cfg.max_conn = s->max_conn;
    cfg.mem_budget = s->mem_budget;
    chimney_core_init_config(&s->core, &chimney_nic_core_ops, s,
                             s->conf.macaddr.a,
                             !qemu_get_queue(s->nic)->link_down, &cfg);

    /*
     * Introspection for driver developers (qom-get over QMP): what the
     * device holds right now, and how many mistakes it has seen.
     */
    object_property_add(OBJECT(s), "x-offloaded-neighbors", "uint32",
                        chimney_nic_get_count, NULL, NULL,
                        GUINT_TO_POINTER(CHIMNEY_KIND_NEIGH));
    object_property_add(OBJECT(s), "x-offloaded-paths", "uint32",
                        chimney_nic_get_count, NULL, NULL,
                        GUINT_TO_POINTER(CHIMNEY_KIND_PATH));
    object_property_add(OBJECT(s), "x-offloaded-connections", "uint32",
                        chimney_nic_get_count, NULL, NULL,
                        GUINT_TO_POINTER(CHIMNEY_KIND_TCP));
    object_property_add(OBJECT(s), "x-mem-used", "uint64",
                        chimney_nic_get_mem_used, NULL, NULL, NULL);
    object_property_add_uint32_ptr(OBJECT(s), "x-guest-errors",
                                   &s->core.err_count, OBJ_PROP_FLAG_READ);
}

static void chimney_nic_exit(PCIDevice *pdev)
{
    ChimneyNicState *s = CHIMNEY_NIC(pdev);
    unsigned i;

    if (s->migration_blocker) {
        migrate_del_blocker(&s->migration_blocker);
    }
    qemu_bh_delete(s->cmd_bh);
    qemu_bh_delete(s->tx_bh);
    chimney_nic_txq_purge(s);
    chimney_core_cleanup(&s->core);
    for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
        timer_free(s->timers[i]);
        s->timers[i] = NULL;
    }
    qemu_del_nic(s->nic);
    pcie_cap_exit(pdev);
    msix_unuse_all_vectors(pdev);
    msix_uninit_exclusive_bar(pdev);
}

static void chimney_nic_reset_hold(Object *obj, ResetType type)
{
    ChimneyNicState *s = CHIMNEY_NIC(obj);

    if (!chimney_nic_enter(s, CHIMNEY_NIC_DEFER_RESET, "device reset")) {
        return;
    }
    chimney_nic_txq_purge(s);   /* nothing the device sent survives it */
    chimney_nic_core_reset(s);
    chimney_nic_leave(s);
}

static int chimney_nic_pre_save(void *opaque)
{
    ChimneyNicState *s = opaque;

    /*
     * Offloaded connections live in device memory that is not described
     * to the migration stream yet: refuse rather than lose them.  The
     * migration blocker normally stops a migration before it starts; this
     * catches objects offloaded while one was running.
     */
    if (chimney_core_offload_objects(&s->core)) {
        error_report("chimney-nic: cannot migrate with %u offloaded state "
                     "objects; the guest driver must upload them first",
                     chimney_core_offload_objects(&s->core));
        return -EBUSY;
    }
    chimney_core_pre_save(&s->core);
    return 0;
}

static int chimney_nic_post_load(void *opaque, int version_id)
{
    ChimneyNicState *s = opaque;
    const char *setup_why = NULL;
    char *why = NULL;

    /*
     * The stream is not trusted: refuse state the device cannot be in
     * (chimney_migrate.c) before the core uses any of it, and leave the
     * device reset rather than half loaded.
     */
    if (!chimney_core_migrated_state_valid(&s->core, &why)) {
        char *path = object_get_canonical_path(OBJECT(s));

        error_report("chimney-nic %s: invalid device state in the "
                     "migration stream: %s", path, why);
        trace_chimney_post_load_refused(why);
        g_free(path);
        g_free(why);
        chimney_core_reset(&s->core);
        return -EINVAL;
    }
    /* link_down is not migrated: the netdev's current state wins. */
    s->core.link_up = !qemu_get_queue(s->nic)->link_down;
    if (!chimney_core_post_load(&s->core, &setup_why)) {
        char *path = object_get_canonical_path(OBJECT(s));

        error_report("chimney-nic %s: invalid device state in the "
                     "migration stream: %s", path, setup_why);
        trace_chimney_post_load_refused(setup_why);
        g_free(path);
        chimney_core_reset(&s->core);
        return -EINVAL;
    }
    return 0;
}

static const VMStateDescription chimney_nic_vmstate_ring = {
    .name = "chimney-nic/ring",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, ChimneyRing),
        VMSTATE_UINT32(size, ChimneyRing),
        VMSTATE_UINT32(head, ChimneyRing),
        VMSTATE_UINT32(tail, ChimneyRing),
        VMSTATE_UINT32(ctrl, ChimneyRing),
        VMSTATE_UINT32(status, ChimneyRing),
        VMSTATE_UINT32(count, ChimneyRing),
        VMSTATE_END_OF_LIST()
    }
};

/* Handles issued before migration stay stale after it (spec "Handles"). */
static const VMStateDescription chimney_nic_vmstate_handle_gens = {
    .name = "chimney-nic/handle-generations",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_ARRAY(core.handle_gen_floor, ChimneyNicState, 3),
        VMSTATE_END_OF_LIST()
    }
};

/* SET_PARAMS and SET_VLANS: a migrated driver need not repeat them. */
static const VMStateDescription chimney_nic_vmstate_setup = {
    .name = "chimney-nic/offload-setup",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(core.engine_setup.params_set, ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.params.ticks_per_second,
                       ChimneyNicState),
        VMSTATE_UINT8(core.engine_setup.params.ack_frequency,
                      ChimneyNicState),
        VMSTATE_UINT8(core.engine_setup.params.delayed_ack_ticks,
                      ChimneyNicState),
        VMSTATE_UINT8(core.engine_setup.params.max_retransmissions,
                      ChimneyNicState),
        VMSTATE_UINT8(core.engine_setup.params.
                      doubt_reachability_retransmissions, ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.params.sws_prevention_ticks,
                       ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.params.dup_ack_threshold,
                       ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.params.push_ticks, ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.params.nce_stale_ticks,
                       ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.params.fin_wait2_ticks,
                       ChimneyNicState),
        VMSTATE_UINT32(core.engine_setup.nvlans, ChimneyNicState),
        VMSTATE_UINT16_ARRAY(core.engine_setup.vlans, ChimneyNicState,
                             CHIMNEY_MAX_IFACE_VLANS),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription chimney_nic_vmstate = {
    .name = "chimney-nic",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = chimney_nic_pre_save,
    .post_load = chimney_nic_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, ChimneyNicState),
        VMSTATE_MSIX(parent_obj, ChimneyNicState),
        VMSTATE_UINT8_ARRAY(core.mac, ChimneyNicState, 6),
        VMSTATE_UINT32(core.ctrl, ChimneyNicState),
        VMSTATE_BOOL(core.offload_paused, ChimneyNicState),
        VMSTATE_UINT32(core.rx_filter, ChimneyNicState),
        VMSTATE_UINT32(core.err_count, ChimneyNicState),
        VMSTATE_UINT32(core.last_err, ChimneyNicState),
        VMSTATE_UINT32(core.int_cause, ChimneyNicState),
        VMSTATE_UINT32(core.int_mask, ChimneyNicState),
        VMSTATE_UINT32(core.int_throttle, ChimneyNicState),
        VMSTATE_BOOL(core.rx_stalled, ChimneyNicState),
        VMSTATE_BOOL(core.intx_level, ChimneyNicState),
        VMSTATE_STRUCT_ARRAY(core.ring, ChimneyNicState, CHIMNEY_RING_COUNT,
                             1, chimney_nic_vmstate_ring, ChimneyRing),
        VMSTATE_UINT32_ARRAY(core.stats, ChimneyNicState, CHIMNEY_STAT_COUNT),
        VMSTATE_INT64_ARRAY(core.vec_last_ns, ChimneyNicState,
                            CHIMNEY_MSIX_VECTORS),
        VMSTATE_INT64_ARRAY(core.vec_deadline_ns, ChimneyNicState,
                            CHIMNEY_MSIX_VECTORS),
        /* queued events are kept in their little-endian wire format */
        VMSTATE_BUFFER_UNSAFE(core.evtq, ChimneyNicState, 1,
                              sizeof(ChimneyEvent) * CHIMNEY_EVT_QUEUE_MAX),
        VMSTATE_UINT32(core.evtq_head, ChimneyNicState),
        VMSTATE_UINT32(core.evtq_len, ChimneyNicState),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &chimney_nic_vmstate_handle_gens,
        &chimney_nic_vmstate_setup,
        NULL
    }
};

static const Property chimney_nic_properties[] = {
    DEFINE_NIC_PROPERTIES(ChimneyNicState, conf),
    /* spec "Capacity" and "Memory budget" (CAP_MAX_CONN, CAP_MEM_BUDGET) */
    DEFINE_PROP_UINT32("max-conn", ChimneyNicState, max_conn,
                       CHIMNEY_MAX_CONN),
    DEFINE_PROP_SIZE("mem-budget", ChimneyNicState, mem_budget,
                     CHIMNEY_MEM_BUDGET_DEFAULT),
    /* spec "Segmentation offload": used when the peer takes it */
    DEFINE_PROP_BOOL("tso", ChimneyNicState, tso, true),
};

static void chimney_nic_instance_init(Object *obj)
{
    ChimneyNicState *s = CHIMNEY_NIC(obj);

    device_add_bootindex_property(obj, &s->conf.bootindex, "bootindex",
                                  "/ethernet-phy@0", DEVICE(obj));
}

static void chimney_nic_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = chimney_nic_realize;
    k->exit = chimney_nic_exit;
    k->vendor_id = CHIMNEY_PCI_VENDOR_ID;
    k->device_id = CHIMNEY_PCI_DEVICE_ID;
    k->revision = CHIMNEY_PCI_REVISION;
    k->class_id = CHIMNEY_PCI_CLASS;
    k->subsystem_vendor_id = CHIMNEY_PCI_SUBSYS_VENDOR_ID;
    k->subsystem_id = CHIMNEY_PCI_SUBSYS_ID;
    rc->phases.hold = chimney_nic_reset_hold;
    dc->desc = "TCP Chimney Offload NIC (software model)";
    dc->vmsd = &chimney_nic_vmstate;
    device_class_set_props(dc, chimney_nic_properties);
    set_bit(DEVICE_CATEGORY_NETWORK, dc->categories);
}

static const TypeInfo chimney_nic_info = {
    .name = TYPE_CHIMNEY_NIC,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(ChimneyNicState),
    .instance_init = chimney_nic_instance_init,
    .class_init = chimney_nic_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void chimney_nic_register_types(void)
{
    type_register_static(&chimney_nic_info);
}

type_init(chimney_nic_register_types)
