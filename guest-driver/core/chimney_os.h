/*
 * chimney-nic portable driver core: the OS shim.
 *
 * The driver core (chimney_drv.c) touches the device and guest memory only
 * through the function pointers below, which each OS port provides: the
 * Linux module (readl/writel, dma_alloc_coherent + memcpy), a qtest
 * (qtest_readl/writel, guest_alloc + qtest_memread/memwrite) or the unit
 * tests (the standalone device core and its fake host).  The core never
 * dereferences DMA memory itself, so a shim is free to keep it anywhere.
 *
 * Plain C, no OS headers: only <stdint.h> (the Linux module maps it to
 * <linux/types.h> through guest-driver/linux/compat/).
 *
 * Note: guest-driver/core/chimney_ring.h (the L2 ring helper) has its own,
 * port-provided shim "chimney_ring_os.h" with inline register accessors
 * (guest-driver/linux/chimney_ring_os.h).  The two share no names, so both
 * can be included in one translation unit.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_CORE_OS_H
#define CHIMNEY_CORE_OS_H

#include <stdint.h>

#ifndef NULL
#define NULL ((void *)0)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CHIMNEY_OS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CHIMNEY_OS_PRINTF(f, a)
#endif

/* Log levels for ChimneyOsOps.log (same order as the kernel's). */
enum ChimneyOsLogLevel {
    CHIMNEY_LOG_ERR   = 3,
    CHIMNEY_LOG_WARN  = 4,
    CHIMNEY_LOG_INFO  = 6,
    CHIMNEY_LOG_DEBUG = 7,
};

/*
 * One DMA-coherent buffer.  `dma` is the address the device uses (a bus
 * address, what goes into rings and blocks); `handle` is the port's own
 * reference (Linux: the CPU address; qtest: unused); `len` is the size
 * asked for.  The core only passes the structure back to the shim.
 */
typedef struct ChimneyDmaBuf {
    uint64_t dma;
    void *handle;
    uint32_t len;
} ChimneyDmaBuf;

/*
 * The services an OS port provides.  `os` is the port's context pointer
 * given to chimney_drv_init().
 *
 * reg_read / reg_write
 *     32-bit access to a BAR0 register at byte offset `off`.  reg_write
 *     must make every earlier dma_write visible to the device before the
 *     register write reaches it (Linux writel() does).
 * dma_alloc
 *     Allocate `len` bytes of DMA-coherent memory, zero-filled, with `dma`
 *     a multiple of 64 (CHIMNEY_RING_ALIGN).  Fill *buf and return 0, or
 *     return a negative value.  Called from the contexts the host calls
 *     the chimney_drv_* submit functions and chimney_drv_init() from,
 *     never with the shim lock held.
 * dma_free
 *     Free a buffer from dma_alloc.  Called from chimney_drv_fini() and
 *     from chimney_drv_process_events() (completion context), never with
 *     the shim lock held.
 * dma_read / dma_write
 *     Copy `len` bytes between buffer `buf` at byte offset `off` and CPU
 *     memory.  off + len never exceeds buf->len.  dma_read has acquire
 *     semantics: the loads of one call complete before those of any later
 *     call (Linux: memcpy followed by dma_rmb()), so after reading a
 *     device-written "valid" word the rest of the entry is read afresh.
 * log
 *     One printf-style message (no trailing newline; only %d %u %x %s
 *     %llx %llu with matching casts are used).  May be called with the
 *     shim lock held.
 * lock / unlock (optional: both NULL or both set)
 *     A non-sleeping mutual exclusion lock (Linux: a spinlock, _bh or
 *     _irqsave as the port's calling contexts require).  It protects the
 *     command ring, the pending-command table and the event ring index.
 *     Callbacks into the host are never made with it held.
 */
typedef struct ChimneyOsOps {
    uint32_t (*reg_read)(void *os, uint32_t off);
    void (*reg_write)(void *os, uint32_t off, uint32_t val);
    int (*dma_alloc)(void *os, uint32_t len, ChimneyDmaBuf *buf);
    void (*dma_free)(void *os, ChimneyDmaBuf *buf);
    void (*dma_read)(void *os, const ChimneyDmaBuf *buf, uint32_t off,
                     void *dst, uint32_t len);
    void (*dma_write)(void *os, const ChimneyDmaBuf *buf, uint32_t off,
                      const void *src, uint32_t len);
    void (*log)(void *os, int level, const char *fmt, ...)
        CHIMNEY_OS_PRINTF(3, 4);
    void (*lock)(void *os);
    void (*unlock)(void *os);
} ChimneyOsOps;

#endif /* CHIMNEY_CORE_OS_H */
