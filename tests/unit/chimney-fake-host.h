/*
 * A fake host for the chimney-nic core: guest RAM as an array, a wire
 * that records frames, recorded MSI-X messages and INTx level, a manual
 * clock and timers.  Used by the standalone unit tests, fuzzers and
 * benchmarks, which drive the core without QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FAKE_HOST_H
#define CHIMNEY_FAKE_HOST_H

#include <glib.h>
#include <string.h>

#include "chimney_core.h"

#define FAKE_RAM_BASE   0x100000ull
#ifndef FAKE_RAM_SIZE
#define FAKE_RAM_SIZE   (40u << 20)
#endif

typedef struct FakeHost {
    ChimneyCore core;
    uint8_t *ram;
    bool bus_master;
    bool msix;
    bool intx;
    unsigned msix_count[CHIMNEY_MSIX_VECTORS];
    GPtrArray *frames;          /* GByteArray *, frames sent on the wire */
    int64_t now;
    int64_t timer_deadline[CHIMNEY_TIMER_COUNT];    /* -1 = off */
    bool cmd_scheduled;
    unsigned rx_flushes;
    unsigned guest_errors;
    uint64_t alloc_next;
    /* guest memory the device may read but not write (IOMMU-style) */
    uint64_t ro_base, ro_len;
} FakeHost;

static inline bool fake_in_ram(uint64_t addr, size_t len)
{
    return addr >= FAKE_RAM_BASE && len <= FAKE_RAM_SIZE &&
           addr - FAKE_RAM_BASE <= FAKE_RAM_SIZE - len;
}

static int fake_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    FakeHost *h = opaque;

    if (!fake_in_ram(addr, len)) {
        return -1;
    }
    memcpy(buf, h->ram + (addr - FAKE_RAM_BASE), len);
    return 0;
}

static int fake_dma_write(void *opaque, uint64_t addr, const void *buf,
                          size_t len)
{
    FakeHost *h = opaque;

    if (!fake_in_ram(addr, len) ||
        (h->ro_len && addr < h->ro_base + h->ro_len &&
         h->ro_base < addr + len)) {
        return -1;
    }
    memcpy(h->ram + (addr - FAKE_RAM_BASE), buf, len);
    return 0;
}

static bool fake_dma_enabled(void *opaque)
{
    return ((FakeHost *)opaque)->bus_master;
}

static void fake_send_frame(void *opaque, const uint8_t *buf, size_t len)
{
    FakeHost *h = opaque;
    GByteArray *f = g_byte_array_sized_new(len);

    g_byte_array_append(f, buf, len);
    g_ptr_array_add(h->frames, f);
}

static void fake_rx_flush(void *opaque)
{
    ((FakeHost *)opaque)->rx_flushes++;
}

static bool fake_msix_enabled(void *opaque)
{
    return ((FakeHost *)opaque)->msix;
}

static void fake_msix_notify(void *opaque, unsigned vector)
{
    ((FakeHost *)opaque)->msix_count[vector]++;
}

static void fake_set_intx(void *opaque, bool level)
{
    ((FakeHost *)opaque)->intx = level;
}

static int64_t fake_clock_ns(void *opaque)
{
    return ((FakeHost *)opaque)->now;
}

static void fake_timer_arm(void *opaque, unsigned timer, int64_t deadline)
{
    ((FakeHost *)opaque)->timer_deadline[timer] = deadline;
}

static void fake_timer_cancel(void *opaque, unsigned timer)
{
    ((FakeHost *)opaque)->timer_deadline[timer] = -1;
}

static void fake_schedule_cmd(void *opaque)
{
    ((FakeHost *)opaque)->cmd_scheduled = true;
}

static void fake_guest_error(void *opaque, const char *msg)
{
    ((FakeHost *)opaque)->guest_errors++;
    if (g_getenv("CHIMNEY_TEST_VERBOSE")) {
        g_printerr("guest error: %s\n", msg);
    }
}

static const ChimneyCoreOps fake_ops = {
    .dma_read = fake_dma_read,
    .dma_write = fake_dma_write,
    .dma_enabled = fake_dma_enabled,
    .send_frame = fake_send_frame,
    .rx_flush = fake_rx_flush,
    .msix_enabled = fake_msix_enabled,
    .msix_notify = fake_msix_notify,
    .set_intx = fake_set_intx,
    .clock_ns = fake_clock_ns,
    .timer_arm = fake_timer_arm,
    .timer_cancel = fake_timer_cancel,
    .schedule_cmd = fake_schedule_cmd,
    .guest_error = fake_guest_error,
};

static inline FakeHost *fake_host_new(void)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    FakeHost *h = g_new0(FakeHost, 1);
    unsigned i;

    h->ram = g_malloc0(FAKE_RAM_SIZE);
    h->frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    h->bus_master = true;
    h->msix = true;
    h->alloc_next = FAKE_RAM_BASE;
    for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
        h->timer_deadline[i] = -1;
    }
    chimney_core_init(&h->core, &fake_ops, h, mac, true);
    return h;
}

static inline void fake_host_free(FakeHost *h)
{
    chimney_core_cleanup(&h->core);
    g_ptr_array_unref(h->frames);
    g_free(h->ram);
    g_free(h);
}

/*
 * The same on guest RAM the caller owns (FAKE_RAM_SIZE bytes, zeroed as
 * the caller sees fit), for fuzzers that run thousands of programs and
 * cannot afford a fresh 40 MiB per program; free such a host with
 * fake_host_free_keep_ram(), which leaves the RAM to the caller.
 */
static inline FakeHost *fake_host_new_on_ram(uint8_t *ram)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    FakeHost *h = g_new0(FakeHost, 1);
    unsigned i;

    h->ram = ram;
    h->frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    h->bus_master = true;
    h->msix = true;
    h->alloc_next = FAKE_RAM_BASE;
    for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
        h->timer_deadline[i] = -1;
    }
    chimney_core_init(&h->core, &fake_ops, h, mac, true);
    return h;
}

static inline void fake_host_free_keep_ram(FakeHost *h)
{
    chimney_core_cleanup(&h->core);
    g_ptr_array_unref(h->frames);
    g_free(h);
}

/* Bump allocator for guest memory, 64-byte aligned. */
static inline uint64_t fake_alloc(FakeHost *h, size_t len)
{
    uint64_t a = h->alloc_next;

    h->alloc_next += (len + 63) & ~(size_t)63;
    g_assert(h->alloc_next <= FAKE_RAM_BASE + FAKE_RAM_SIZE);
    return a;
}

static inline void *fake_ptr(FakeHost *h, uint64_t addr)
{
    g_assert(fake_in_ram(addr, 1));
    return h->ram + (addr - FAKE_RAM_BASE);
}

/* Advance the clock, firing due timers in deadline order. */
static inline void fake_clock_step(FakeHost *h, int64_t ns)
{
    int64_t end = h->now + ns;

    for (;;) {
        int64_t best = -1;
        unsigned i, which = 0;

        for (i = 0; i < CHIMNEY_TIMER_COUNT; i++) {
            if (h->timer_deadline[i] >= 0 && h->timer_deadline[i] <= end &&
                (best < 0 || h->timer_deadline[i] < best)) {
                best = h->timer_deadline[i];
                which = i;
            }
        }
        if (best < 0) {
            break;
        }
        h->now = best > h->now ? best : h->now;
        h->timer_deadline[which] = -1;
        chimney_core_timer_expired(&h->core, which);
    }
    h->now = end;
}

static inline uint32_t rd(FakeHost *h, uint64_t reg)
{
    return chimney_core_read(&h->core, reg, 4);
}

static inline void wr(FakeHost *h, uint64_t reg, uint32_t val)
{
    chimney_core_write(&h->core, reg, val, 4);
}

/* Program and enable a ring of `size` entries; returns its base. */
static inline uint64_t fake_ring_setup(FakeHost *h, unsigned ring,
                                       uint32_t size, size_t entry)
{
    uint64_t base = fake_alloc(h, size * entry);

    wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_LO), (uint32_t)base);
    wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_HI), base >> 32);
    wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_SIZE), size);
    wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_CTRL), CHIMNEY_RING_CTRL_ENABLE);
    return base;
}

#endif /* CHIMNEY_FAKE_HOST_H */
