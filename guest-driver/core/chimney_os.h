/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic portable driver core: the OS shim.
 *
 * Every part of the core (the offload command/event path chimney_drv.c and
 * the L2 ring helper chimney_ring.c) reaches the device and DMA memory
 * only through struct chimney_os_ops, a table of functions each OS port
 * provides, bound to the port's context in struct chimney_os:
 *
 *   Linux module   guest-driver/linux/chimney_nic_main.c (readl/writel,
 *                  dma_alloc_coherent + memcpy, a spinlock, dev_printk)
 *   qtests         tests/qtest/libqos/chimney-drv-qtest.c (qpci_io_*,
 *                  guest_alloc + qtest_bufread/bufwrite)
 *   unit tests     tests/unit/test-driver-core.c (the standalone device
 *                  core and the fake host's guest RAM)
 *
 * The core never dereferences DMA memory itself, so a shim is free to keep
 * it anywhere.  Byte order is not part of the shim: the ABI is
 * little-endian and the helpers below convert at compile time.
 *
 * Plain C, no OS headers: the kernel build gets its types from
 * <linux/types.h>, every other build from <stdint.h> (the compiler's
 * freestanding header is enough).
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#ifndef CHIMNEY_CORE_OS_H
#define CHIMNEY_CORE_OS_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
typedef __UINT8_TYPE__ u8;
typedef __UINT16_TYPE__ u16;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;
#endif

#ifndef NULL
#define NULL ((void *)0)
#endif

#ifndef __printf
#define __printf(a, b) __attribute__((__format__(__printf__, a, b)))
#endif

/*
 * Return codes of the core: 0 or a negative value.  The values are the
 * Linux errno numbers, so the Linux port can return them as they are.
 */
#define CHIMNEY_DRV_OK		0
#define CHIMNEY_DRV_EIO		(-5)	/* device refused a ring */
#define CHIMNEY_DRV_E2BIG	(-7)	/* tree over CAP_TREE_BLOCKS */
#define CHIMNEY_DRV_ENOMEM	(-12)	/* dma_alloc failed */
#define CHIMNEY_DRV_EBUSY	(-16)	/* CMD ring/pending table full */
#define CHIMNEY_DRV_ENODEV	(-19)	/* no chimney-nic or ABI major */
#define CHIMNEY_DRV_EINVAL	(-22)	/* bad argument or tree shape */
#define CHIMNEY_DRV_ELOOP	(-40)	/* tree block reached twice */
#define CHIMNEY_DRV_ESHUTDOWN	(-108)	/* not initialised */

/* Log levels of chimney_os_ops.log (the kernel's numbers). */
enum chimney_log_level {
	CHIMNEY_LOG_ERR = 3,
	CHIMNEY_LOG_WARN = 4,
	CHIMNEY_LOG_INFO = 6,
	CHIMNEY_LOG_DEBUG = 7,
};

/*
 * One DMA-coherent buffer.  @dma is the address the device uses (a bus
 * address, what goes into rings and blocks); @handle is the port's own
 * reference (Linux: the CPU address; qtest, unit tests: the shim's
 * bookkeeping); @len is the size asked for.  The core only passes the
 * structure back to the shim.
 */
struct chimney_dma_buf {
	u64 dma;
	void *handle;
	u32 len;
};

/*
 * The services an OS port provides.  @os is the port's context pointer
 * (struct chimney_os.ctx).
 *
 * reg_read / reg_write
 *	32-bit access to a BAR0 register at byte offset @off.  reg_write
 *	makes every earlier dma_write visible to the device before the
 *	register write reaches it (Linux writel() does).
 * dma_alloc
 *	Allocate @len bytes of DMA-coherent memory, zero-filled, with @dma a
 *	multiple of 64 (CHIMNEY_RING_ALIGN).  Fill *@buf and return 0, or
 *	return a negative value.  Called from the contexts the port calls
 *	chimney_drv_init(), chimney_ring_alloc() and the chimney_drv_*
 *	submit functions from, never with the shim lock held.
 * dma_free
 *	Free a buffer from dma_alloc.  Called from chimney_drv_fini(),
 *	chimney_ring_free() and chimney_drv_process_events() (completion
 *	context), never with the shim lock held.
 * dma_read / dma_write
 *	Copy @len bytes between buffer @buf at byte offset @off and CPU
 *	memory.  off + len never exceeds buf->len.  An aligned access of
 *	2, 4 or 8 bytes is a single access (no torn reads of a field the
 *	device writes).  dma_read has acquire semantics: the loads of one
 *	call complete before those of any later call (Linux: the copy, then
 *	dma_rmb()), so after reading a device-written "done" or "valid"
 *	word the rest of the entry is read afresh.
 * log (optional)
 *	One printf-style message without trailing newline; only %d %u %x
 *	%s %llx %llu with matching casts are used.  May be called with the
 *	shim lock held.
 * rxbuf_alloc / rxbuf_free (optional: both NULL or both set)
 *	Allocate / free one IND ring buffer: memory the device writes
 *	received data into and the CPU reads (through dma_read, or the
 *	port's own way), @dma a multiple of 64, @len at least the size asked
 *	for, not necessarily zero-filled.  For a port that hands filled
 *	buffers to its network stack instead of copying them
 *	(chimney_drv_ind_swap(); Linux: pages mapped for streaming DMA),
 *	so that every buffer of the ring, the core's and the port's
 *	replacements, is of one kind.  NULL: dma_alloc / dma_free.  Called
 *	from chimney_drv_ind_start() / chimney_drv_ind_stop() and
 *	chimney_drv_fini(), never with the shim lock held.
 * lock / unlock (optional: both NULL or both set)
 *	A non-sleeping mutual exclusion lock (Linux: a spinlock, _bh or
 *	_irqsave as the port's calling contexts require).  The offload core
 *	takes it around its command ring, pending-command table and event
 *	ring index; it never calls back into the port with it held.  The
 *	ring helper does not lock: its rings are the caller's business.
 */
struct chimney_os_ops {
	u32 (*reg_read)(void *os, u32 off);
	void (*reg_write)(void *os, u32 off, u32 val);
	int (*dma_alloc)(void *os, u32 len, struct chimney_dma_buf *buf);
	void (*dma_free)(void *os, struct chimney_dma_buf *buf);
	void (*dma_read)(void *os, const struct chimney_dma_buf *buf, u32 off,
			 void *dst, u32 len);
	void (*dma_write)(void *os, const struct chimney_dma_buf *buf, u32 off,
			  const void *src, u32 len);
	void (*log)(void *os, int level, const char *fmt, ...) __printf(3, 4);
	int (*rxbuf_alloc)(void *os, u32 len, struct chimney_dma_buf *buf);
	void (*rxbuf_free)(void *os, struct chimney_dma_buf *buf);
	void (*lock)(void *os);
	void (*unlock)(void *os);
};

/* A port: its operations and the context they are called with. */
struct chimney_os {
	const struct chimney_os_ops *ops;
	void *ctx;
};

/* Byte order of the ABI's fields (little-endian, plain uintN_t). */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
	__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define chimney_le16(v)	((u16)__builtin_bswap16(v))
#define chimney_le32(v)	((u32)__builtin_bswap32(v))
#define chimney_le64(v)	((u64)__builtin_bswap64(v))
#else
#define chimney_le16(v)	((u16)(v))
#define chimney_le32(v)	((u32)(v))
#define chimney_le64(v)	((u64)(v))
#endif

#endif /* CHIMNEY_CORE_OS_H */
