/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic: the Linux implementation of the inline shim used by the
 * portable L2 ring helper (guest-driver/core/chimney_ring.h).  See
 * guest-driver/core/README.md, "Ring helper shim".
 */
#ifndef CHIMNEY_RING_OS_H
#define CHIMNEY_RING_OS_H

#include <linux/types.h>
#include <linux/io.h>
#include <linux/device.h>
#include <linux/compiler.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>

struct chimney_os_dev {
	struct device *dev;
	void __iomem *regs;
};

static inline u32 chimney_os_rd32(struct chimney_os_dev *os, u32 off)
{
	return readl(os->regs + off);
}

static inline void chimney_os_wr32(struct chimney_os_dev *os, u32 off, u32 val)
{
	writel(val, os->regs + off);
}

#define chimney_os_dma_rmb()		dma_rmb()
#define chimney_os_dma_wmb()		dma_wmb()

/*
 * The ABI header declares its little-endian fields as plain uintN_t, so
 * the conversions go through the plain types.
 */
#define chimney_os_cpu_to_le16(x)	((__force u16)cpu_to_le16(x))
#define chimney_os_cpu_to_le32(x)	((__force u32)cpu_to_le32(x))
#define chimney_os_cpu_to_le64(x)	((__force u64)cpu_to_le64(x))
#define chimney_os_le16_to_cpu(x)	le16_to_cpu((__force __le16)(x))
#define chimney_os_le32_to_cpu(x)	le32_to_cpu((__force __le32)(x))
#define chimney_os_le64_to_cpu(x)	le64_to_cpu((__force __le64)(x))

#define chimney_os_read_once16(p)	READ_ONCE(*(p))
#define chimney_os_read_once32(p)	READ_ONCE(*(p))

#define chimney_os_log_err(os, fmt, ...) \
	dev_err((os)->dev, fmt, ##__VA_ARGS__)

#endif /* CHIMNEY_RING_OS_H */
