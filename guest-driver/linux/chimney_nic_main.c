// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: Linux driver for the QEMU chimney-nic PCI device (1b36:00c1),
 * plain L2 NIC path on the portable driver core.
 *
 * The device ABI is include/hw/net/chimney_hw.h; its behaviour is described
 * in docs/specs/chimney-nic.rst and docs/design/l2-semantics.md.
 *
 * The device is driven through the portable core (guest-driver/core/,
 * linked into this module): the TX and RX rings through the ring helper
 * (chimney_ring.c), the CMD and EVT rings (commands, their completions,
 * link and status events) entirely by the command/event path
 * (chimney_drv.c), their only owner.  Both reach the device through the
 * Linux OS shim below (struct chimney_os_ops).  One NAPI context handles
 * RX, TX completion and events.  Interrupts: five MSI-X vectors (misc, TX,
 * RX, CMD, EVT) or one INTx/MSI vector for all causes.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/skbuff.h>
#include <linux/if_vlan.h>
#include <linux/u64_stats_sync.h>
#include <linux/completion.h>
#include <linux/workqueue.h>
#include <linux/rtnetlink.h>
#include <linux/iopoll.h>
#include <linux/log2.h>
#include <linux/refcount.h>
#include <linux/slab.h>

#include "chimney_nic.h"

#define DRV_NAME		"chimney_nic"
#define DRV_VERSION		"0.1"

#define CHIMNEY_TX_RING		256
#define CHIMNEY_RX_RING		256
#define CHIMNEY_CMD_RING	64
#define CHIMNEY_EVT_RING	64
#define CHIMNEY_RX_BUF_SIZE	2048
/* Worst case descriptors of one frame: the device's per-frame limit. */
#define CHIMNEY_TX_DESC_MAX	CHIMNEY_TX_MAX_FRAGS
#define CHIMNEY_TX_WAKE		(CHIMNEY_TX_DESC_MAX + 1)
#define CHIMNEY_TX_TIMEOUT	(5 * HZ)
#define CHIMNEY_CMD_TIMEOUT	(2 * HZ)

/* Causes handled by NAPI, masked while it runs. */
#define CHIMNEY_NAPI_CAUSES	(CHIMNEY_INT_TX | CHIMNEY_INT_RX | CHIMNEY_INT_EVT | \
				 CHIMNEY_INT_IND)
/* Causes handled directly in the interrupt handler. */
#define CHIMNEY_MISC_CAUSES	(CHIMNEY_INT_LINK | CHIMNEY_INT_ERR | \
				 CHIMNEY_INT_RX_NOBUF)

static bool msix = true;
module_param(msix, bool, 0444);
MODULE_PARM_DESC(msix, "Use MSI-X (5 vectors); 0 = one INTx/MSI vector");

static unsigned int tx_ring = CHIMNEY_TX_RING;
module_param(tx_ring, uint, 0444);
MODULE_PARM_DESC(tx_ring, "TX ring entries (power of 2, 32..4096)");

static unsigned int rx_ring = CHIMNEY_RX_RING;
module_param(rx_ring, uint, 0444);
MODULE_PARM_DESC(rx_ring, "RX ring entries (power of 2, 8..4096)");

static unsigned int irq_throttle_us;
module_param(irq_throttle_us, uint, 0444);
MODULE_PARM_DESC(irq_throttle_us,
		 "Minimum gap between two interrupts of a vector, us (0 = off)");

static const char * const chimney_vec_suffix[CHIMNEY_MSIX_VECTORS] = {
	[CHIMNEY_VEC_MISC] = "misc",
	[CHIMNEY_VEC_TX] = "tx",
	[CHIMNEY_VEC_RX] = "rx",
	[CHIMNEY_VEC_CMD] = "cmd",
	[CHIMNEY_VEC_EVT] = "evt",
};

static inline u32 chimney_rd(struct chimney_priv *priv, u32 off)
{
	return readl(priv->regs + off);
}

static inline void chimney_wr(struct chimney_priv *priv, u32 off, u32 val)
{
	writel(val, priv->regs + off);
}

/* ---- OS shim of the portable core (guest-driver/core/chimney_os.h) ----- */

static u32 chimney_os_reg_read(void *ctx, u32 off)
{
	return chimney_rd(ctx, off);
}

/* writel orders earlier writes to coherent memory before the doorbell. */
static void chimney_os_reg_write(void *ctx, u32 off, u32 val)
{
	chimney_wr(ctx, off, val);
}

/*
 * Coherent memory is page aligned (more than CHIMNEY_RING_ALIGN) and
 * zeroed.  The core allocates from chimney_up() (process context) and,
 * for commands with a payload, from the submit functions, which this
 * driver calls from process context only; softirq callers would get
 * GFP_ATOMIC.
 */
static int chimney_os_dma_alloc(void *ctx, u32 len,
				struct chimney_dma_buf *buf)
{
	struct chimney_priv *priv = ctx;
	dma_addr_t dma;
	void *va;

	va = dma_alloc_coherent(priv->dev, len, &dma,
				in_task() ? GFP_KERNEL : GFP_ATOMIC);
	if (!va)
		return -ENOMEM;
	buf->dma = dma;
	buf->handle = va;
	buf->len = len;
	return 0;
}

static void chimney_os_dma_free(void *ctx, struct chimney_dma_buf *buf)
{
	struct chimney_priv *priv = ctx;

	dma_free_coherent(priv->dev, buf->len, buf->handle,
			  (dma_addr_t)buf->dma);
}

/*
 * IND buffers: pages mapped for streaming DMA, so that the receive path
 * can hand them to the socket (chimney_ofl_rx.c).  From chimney_up()
 * (process context) and chimney_down().
 */
static int chimney_os_rxbuf_alloc(void *ctx, u32 len,
				  struct chimney_dma_buf *buf)
{
	return chimney_rx_buf_alloc(ctx, len,
				    in_task() ? GFP_KERNEL : GFP_ATOMIC, buf);
}

static void chimney_os_rxbuf_free(void *ctx, struct chimney_dma_buf *buf)
{
	chimney_rx_buf_free(ctx, buf);
}

/*
 * Aligned 2-, 4- and 8-byte accesses are single loads and stores (status
 * and flag words the device writes); the read is followed by dma_rmb(),
 * so what is read next is not read before it.
 */
static void chimney_os_dma_read(void *ctx, const struct chimney_dma_buf *buf,
				u32 off, void *dst, u32 len)
{
	const u8 *src = (const u8 *)buf->handle + off;
	u16 v16;
	u32 v32;
	u64 v64;

	if (len == 2 && IS_ALIGNED((unsigned long)src, 2)) {
		v16 = READ_ONCE(*(const u16 *)src);
		memcpy(dst, &v16, 2);
	} else if (len == 4 && IS_ALIGNED((unsigned long)src, 4)) {
		v32 = READ_ONCE(*(const u32 *)src);
		memcpy(dst, &v32, 4);
	} else if (len == 8 && IS_ALIGNED((unsigned long)src, 8)) {
		v64 = READ_ONCE(*(const u64 *)src);
		memcpy(dst, &v64, 8);
	} else {
		memcpy(dst, src, len);
	}
	dma_rmb();
}

static void chimney_os_dma_write(void *ctx, const struct chimney_dma_buf *buf,
				 u32 off, const void *src, u32 len)
{
	u8 *dst = (u8 *)buf->handle + off;
	u16 v16;
	u32 v32;
	u64 v64;

	if (len == 2 && IS_ALIGNED((unsigned long)dst, 2)) {
		memcpy(&v16, src, 2);
		WRITE_ONCE(*(u16 *)dst, v16);
	} else if (len == 4 && IS_ALIGNED((unsigned long)dst, 4)) {
		memcpy(&v32, src, 4);
		WRITE_ONCE(*(u32 *)dst, v32);
	} else if (len == 8 && IS_ALIGNED((unsigned long)dst, 8)) {
		memcpy(&v64, src, 8);
		WRITE_ONCE(*(u64 *)dst, v64);
	} else {
		memcpy(dst, src, len);
	}
}

static __printf(3, 4) void chimney_os_log(void *ctx, int level,
					  const char *fmt, ...)
{
	struct chimney_priv *priv = ctx;
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	switch (level) {
	case CHIMNEY_LOG_ERR:
		dev_err(priv->dev, "%pV\n", &vaf);
		break;
	case CHIMNEY_LOG_WARN:
		dev_warn(priv->dev, "%pV\n", &vaf);
		break;
	case CHIMNEY_LOG_INFO:
		dev_info(priv->dev, "%pV\n", &vaf);
		break;
	default:
		dev_dbg(priv->dev, "%pV\n", &vaf);
		break;
	}
	va_end(args);
}

/* Process context (submits) and NAPI (event processing). */
static void chimney_os_lock(void *ctx)
{
	struct chimney_priv *priv = ctx;

	spin_lock_bh(&priv->drv_lock);
}

static void chimney_os_unlock(void *ctx)
{
	struct chimney_priv *priv = ctx;

	spin_unlock_bh(&priv->drv_lock);
}

static const struct chimney_os_ops chimney_linux_os_ops = {
	.reg_read	= chimney_os_reg_read,
	.reg_write	= chimney_os_reg_write,
	.dma_alloc	= chimney_os_dma_alloc,
	.dma_free	= chimney_os_dma_free,
	.dma_read	= chimney_os_dma_read,
	.dma_write	= chimney_os_dma_write,
	.log		= chimney_os_log,
	.rxbuf_alloc	= chimney_os_rxbuf_alloc,
	.rxbuf_free	= chimney_os_rxbuf_free,
	.lock		= chimney_os_lock,
	.unlock		= chimney_os_unlock,
};

/* ---- Interrupt mask ---------------------------------------------------- */

static void chimney_irq_enable(struct chimney_priv *priv, u32 causes)
{
	unsigned long flags;

	spin_lock_irqsave(&priv->irq_lock, flags);
	priv->int_mask |= causes;
	chimney_wr(priv, CHIMNEY_REG_INT_MASK, priv->int_mask);
	spin_unlock_irqrestore(&priv->irq_lock, flags);
}

static void chimney_irq_disable(struct chimney_priv *priv, u32 causes)
{
	unsigned long flags;

	spin_lock_irqsave(&priv->irq_lock, flags);
	priv->int_mask &= ~causes;
	chimney_wr(priv, CHIMNEY_REG_INT_MASK, priv->int_mask);
	spin_unlock_irqrestore(&priv->irq_lock, flags);
}

/* Schedule NAPI with its causes masked.  Any context with BHs handled. */
static void chimney_napi_kick(struct chimney_priv *priv)
{
	if (napi_schedule_prep(&priv->napi)) {
		chimney_irq_disable(priv, CHIMNEY_NAPI_CAUSES);
		__napi_schedule(&priv->napi);
	}
}

/* ---- Link and errors --------------------------------------------------- */

static void chimney_update_link(struct chimney_priv *priv)
{
	struct net_device *ndev = priv->ndev;
	bool up = chimney_rd(priv, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_LINK_UP;

	if (up && !netif_carrier_ok(ndev)) {
		netif_carrier_on(ndev);
		netdev_info(ndev, "link up\n");
	} else if (!up && netif_carrier_ok(ndev)) {
		netif_carrier_off(ndev);
		netdev_info(ndev, "link down\n");
	}
}

static void chimney_check_ring_errors(struct chimney_priv *priv)
{
	static const u32 ids[] = {
		CHIMNEY_RING_TX, CHIMNEY_RING_RX, CHIMNEY_RING_CMD,
		CHIMNEY_RING_EVT,
	};
	bool reset = false;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		u32 st = chimney_rd(priv, CHIMNEY_RING_REG(ids[i],
							   CHIMNEY_RING_STATUS));

		if (!(st & CHIMNEY_RING_ST_ERROR))
			continue;
		netdev_err(priv->ndev,
			   "ring %u stopped by the device: error 0x%02x (last_err 0x%x)\n",
			   ids[i],
			   (st & CHIMNEY_RING_ST_ERR_MASK) >> CHIMNEY_RING_ST_ERR_SHIFT,
			   chimney_rd(priv, CHIMNEY_REG_LAST_ERR));
		reset = true;
	}
	if (reset)
		schedule_work(&priv->reset_task);
}

/*
 * LINK, ERR, RX_NOBUF.  With MSI-X the device has already cleared them when
 * the misc vector fires, so everything is checked then.
 */
static void chimney_handle_misc(struct chimney_priv *priv, u32 cause)
{
	atomic64_inc(&priv->misc_irqs);
	if (cause & CHIMNEY_INT_LINK)
		chimney_update_link(priv);
	if (cause & CHIMNEY_INT_ERR)
		chimney_check_ring_errors(priv);
	if (cause & CHIMNEY_INT_RX_NOBUF)
		chimney_napi_kick(priv);	/* refill */
}

/* ---- Interrupt handlers ------------------------------------------------ */

/* MSI-X: the device clears a vector's causes when it sends the message. */
static irqreturn_t chimney_msix_misc(int irq, void *data)
{
	chimney_handle_misc(data, CHIMNEY_MISC_CAUSES);
	return IRQ_HANDLED;
}

static irqreturn_t chimney_msix_napi(int irq, void *data)
{
	chimney_napi_kick(data);
	return IRQ_HANDLED;
}

static irqreturn_t chimney_msix_cmd(int irq, void *data)
{
	/* Commands consumed; completions come through the event ring. */
	return IRQ_HANDLED;
}

/* INTx or MSI: one vector, level = (INT_CAUSE & INT_MASK) != 0. */
static irqreturn_t chimney_intx(int irq, void *data)
{
	struct chimney_priv *priv = data;
	u32 cause;

	cause = chimney_rd(priv, CHIMNEY_REG_INT_CAUSE) & READ_ONCE(priv->int_mask);
	if (!cause)
		return IRQ_NONE;
	chimney_wr(priv, CHIMNEY_REG_INT_CAUSE, cause);
	if (cause & CHIMNEY_MISC_CAUSES)
		chimney_handle_misc(priv, cause);
	if (cause & CHIMNEY_NAPI_CAUSES)
		chimney_napi_kick(priv);
	return IRQ_HANDLED;
}

static int chimney_request_irqs(struct chimney_priv *priv)
{
	struct pci_dev *pdev = priv->pdev;
	const char *name = priv->ndev->name;
	int i, err;

	if (!priv->use_msix) {
		snprintf(priv->irq_name[0], sizeof(priv->irq_name[0]), "%s", name);
		err = request_irq(pci_irq_vector(pdev, 0), chimney_intx,
				  IRQF_SHARED, priv->irq_name[0], priv);
		if (!err)
			priv->irqs_requested = true;
		return err;
	}

	for (i = 0; i < CHIMNEY_MSIX_VECTORS; i++) {
		irq_handler_t h;

		switch (i) {
		case CHIMNEY_VEC_MISC:
			h = chimney_msix_misc;
			break;
		case CHIMNEY_VEC_CMD:
			h = chimney_msix_cmd;
			break;
		default:
			h = chimney_msix_napi;
			break;
		}
		snprintf(priv->irq_name[i], sizeof(priv->irq_name[i]), "%s-%s",
			 name, chimney_vec_suffix[i]);
		err = request_irq(pci_irq_vector(pdev, i), h, 0,
				  priv->irq_name[i], priv);
		if (err) {
			while (--i >= 0)
				free_irq(pci_irq_vector(pdev, i), priv);
			return err;
		}
	}
	priv->irqs_requested = true;
	return 0;
}

static void chimney_free_irqs(struct chimney_priv *priv)
{
	int i;

	if (!priv->irqs_requested)
		return;
	for (i = 0; i < (priv->use_msix ? CHIMNEY_MSIX_VECTORS : 1); i++)
		free_irq(pci_irq_vector(priv->pdev, i), priv);
	priv->irqs_requested = false;
}

/* ---- Commands and events (through the core) --------------------------- */

/*
 * One synchronous command.  The waiter is shared with the completion
 * callback (two references), so a command that times out may still
 * complete later, at the latest when chimney_drv_fini() aborts it.
 */
struct chimney_cmd_wait {
	struct completion done;
	refcount_t ref;
	u32 status;
};

static void chimney_cmd_wait_put(struct chimney_cmd_wait *w)
{
	if (refcount_dec_and_test(&w->ref))
		kfree(w);
}

/* Completion callback: NAPI context, or chimney_down(). */
static void chimney_cmd_wait_done(void *ctx, u32 status)
{
	struct chimney_cmd_wait *w = ctx;

	w->status = status;
	complete(&w->done);
	chimney_cmd_wait_put(w);
}

/*
 * Run one core command and wait for its completion; returns 0 and its
 * CHIMNEY_ST_* in *@status.  @submit queues the command with the given
 * completion; CHIMNEY_DRV_EBUSY (CMD ring full) is retried.
 */
int chimney_cmd_sync(struct chimney_priv *priv,
		     int (*submit)(struct chimney_priv *priv,
				   chimney_drv_cmd_done_fn done, void *ctx,
				   void *arg),
		     void *arg, u32 *status)
{
	struct chimney_cmd_wait *w;
	int err, tries = 0;

	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return -ENOMEM;
	init_completion(&w->done);
	refcount_set(&w->ref, 2);

	for (;;) {
		err = priv->drv_up ? submit(priv, chimney_cmd_wait_done, w,
					    arg) : -ENETDOWN;
		if (err != -EBUSY || ++tries > 1000)
			break;
		usleep_range(500, 1000);
	}
	if (err) {
		kfree(w);
		return err;
	}
	if (!wait_for_completion_timeout(&w->done, CHIMNEY_CMD_TIMEOUT))
		err = -ETIMEDOUT;
	else
		*status = w->status;
	chimney_cmd_wait_put(w);
	return err;
}

static int chimney_submit_nop(struct chimney_priv *priv,
			      chimney_drv_cmd_done_fn done, void *ctx,
			      void *arg)
{
	return chimney_drv_nop(&priv->drv, done, ctx);
}

/* EVT_LINK: NAPI context. */
static void chimney_on_link(void *ctx, int up)
{
	chimney_update_link(ctx);
}

static void chimney_on_status(void *ctx, u16 code)
{
	struct chimney_priv *priv = ctx;

	netdev_dbg(priv->ndev, "status indication %u\n", code);
	chimney_ofl_on_status(priv, code);
}

static const struct chimney_drv_event_ops chimney_event_ops = {
	.on_link	= chimney_on_link,
	.on_status	= chimney_on_status,
	.on_tcp_event	= chimney_ofl_on_tcp_event,
	.on_neigh_query	= chimney_ofl_on_neigh_query,
	.on_io_done	= chimney_ofl_on_io_done,
	.on_indicate	= chimney_ofl_on_indicate,
};

/* ---- RX ---------------------------------------------------------------- */

static int chimney_rx_fill(struct chimney_priv *priv, gfp_t gfp)
{
	struct chimney_ring *r = &priv->rx;
	struct device *dev = &priv->pdev->dev;
	u32 idx = r->ntu;
	int n = 0;

	while (chimney_ring_space(r->size, r->ntc, idx)) {
		struct chimney_rx_buf *buf = &priv->rx_buf[idx];
		struct sk_buff *skb;
		dma_addr_t dma;

		skb = __netdev_alloc_skb_ip_align(priv->ndev,
						  CHIMNEY_RX_BUF_SIZE, gfp);
		if (unlikely(!skb)) {
			atomic64_inc(&priv->rx_alloc_failed);
			break;
		}
		dma = dma_map_single(dev, skb->data, CHIMNEY_RX_BUF_SIZE,
				     DMA_FROM_DEVICE);
		if (unlikely(dma_mapping_error(dev, dma))) {
			dev_kfree_skb_any(skb);
			break;
		}
		buf->skb = skb;
		buf->dma = dma;
		chimney_rx_desc_write(&priv->os, r, idx, dma,
				      CHIMNEY_RX_BUF_SIZE);
		idx = chimney_ring_next(r, idx);
		n++;
	}
	if (n) {
		r->ntu = idx;
		chimney_ring_kick(&priv->os, r, idx);
	}
	return n;
}

/*
 * One completed RX descriptor.  Returns the finished frame, or NULL when the
 * frame continues in the next descriptor or was dropped.  A frame that fits
 * one buffer is passed up in that buffer's skb; longer ones (MTU above
 * 2 KiB) are copied into rx_chain piece by piece.
 */
static struct sk_buff *chimney_rx_desc(struct chimney_priv *priv,
				       struct sk_buff *skb, u16 status, u16 len)
{
	bool eop = status & CHIMNEY_DESC_EOP;
	struct sk_buff *chain = priv->rx_chain;

	if (unlikely(chimney_desc_err(status) || len > CHIMNEY_RX_BUF_SIZE ||
		     priv->rx_discard)) {
		if (!priv->rx_discard)
			atomic64_inc(&priv->rx_errors);
		priv->rx_discard = !eop;
		goto drop;
	}
	if (eop && !chain) {
		if (unlikely(len < ETH_HLEN))
			goto error;
		skb_put(skb, len);
		return skb;
	}
	if (!chain) {
		chain = napi_alloc_skb(&priv->napi, priv->max_frame);
		if (unlikely(!chain)) {
			atomic64_inc(&priv->rx_dropped);
			priv->rx_discard = true;
			goto drop;
		}
		priv->rx_chain = chain;
	}
	if (unlikely(len > skb_tailroom(chain)))
		goto error;
	skb_put_data(chain, skb->data, len);
	dev_kfree_skb_any(skb);
	if (!eop)
		return NULL;
	priv->rx_chain = NULL;
	if (unlikely(chain->len < ETH_HLEN)) {
		atomic64_inc(&priv->rx_errors);
		dev_kfree_skb_any(chain);
		return NULL;
	}
	return chain;

error:
	atomic64_inc(&priv->rx_errors);
	priv->rx_discard = !eop;
drop:
	if (priv->rx_chain) {
		dev_kfree_skb_any(priv->rx_chain);
		priv->rx_chain = NULL;
	}
	dev_kfree_skb_any(skb);
	return NULL;
}

static int chimney_rx_poll(struct chimney_priv *priv, int budget)
{
	struct chimney_ring *r = &priv->rx;
	struct device *dev = &priv->pdev->dev;
	struct net_device *ndev = priv->ndev;
	u64 bytes = 0;
	int done = 0;

	while (done < budget && r->ntc != r->ntu) {
		u32 idx = r->ntc;
		struct chimney_rx_buf *buf = &priv->rx_buf[idx];
		struct sk_buff *skb;
		u16 status, len;

		status = chimney_rx_desc_done(&priv->os, r, idx, &len);
		if (!status)
			break;
		skb = buf->skb;
		buf->skb = NULL;
		dma_unmap_single(dev, buf->dma, CHIMNEY_RX_BUF_SIZE,
				 DMA_FROM_DEVICE);
		r->ntc = chimney_ring_next(r, idx);

		skb = chimney_rx_desc(priv, skb, status, len);
		if (!skb)
			continue;
		bytes += skb->len;
		skb->protocol = eth_type_trans(skb, ndev);
		/* Frames of offloaded connections never reach the stack. */
		if (atomic_read(&priv->ofl_conns) &&
		    chimney_ofl_rx_steal(priv, skb)) {
			done++;
			continue;
		}
		napi_gro_receive(&priv->napi, skb);
		done++;
	}

	if (done) {
		u64_stats_update_begin(&priv->rx_stats.syncp);
		priv->rx_stats.packets += done;
		priv->rx_stats.bytes += bytes;
		u64_stats_update_end(&priv->rx_stats.syncp);
	}
	chimney_rx_fill(priv, GFP_ATOMIC);
	/* With no buffer posted the device cannot interrupt us: retry. */
	if (unlikely(r->ntc == r->ntu))
		mod_timer(&priv->refill_timer, jiffies + max(1, HZ / 100));
	return done;
}

static void chimney_refill_timer(struct timer_list *t)
{
	struct chimney_priv *priv = from_timer(priv, t, refill_timer);

	chimney_napi_kick(priv);
}

static void chimney_rx_free(struct chimney_priv *priv)
{
	u32 i;

	if (priv->rx_chain) {
		dev_kfree_skb_any(priv->rx_chain);
		priv->rx_chain = NULL;
	}

	if (!priv->rx_buf)
		return;
	for (i = 0; i < priv->rx.size; i++) {
		struct chimney_rx_buf *buf = &priv->rx_buf[i];

		if (!buf->skb)
			continue;
		dma_unmap_single(&priv->pdev->dev, buf->dma,
				 CHIMNEY_RX_BUF_SIZE, DMA_FROM_DEVICE);
		dev_kfree_skb_any(buf->skb);
		buf->skb = NULL;
	}
}

/* ---- TX ---------------------------------------------------------------- */

static u32 chimney_tx_space(struct chimney_priv *priv)
{
	struct chimney_ring *r = &priv->tx;

	return chimney_ring_space(r->size, READ_ONCE(r->ntc), READ_ONCE(r->ntu));
}

static void chimney_tx_unmap(struct chimney_priv *priv,
			     struct chimney_tx_buf *buf)
{
	struct device *dev = &priv->pdev->dev;

	if (!buf->len)
		return;
	if (buf->page)
		dma_unmap_page(dev, buf->dma, buf->len, DMA_TO_DEVICE);
	else
		dma_unmap_single(dev, buf->dma, buf->len, DMA_TO_DEVICE);
	buf->len = 0;
}

static netdev_tx_t chimney_start_xmit(struct sk_buff *skb,
				      struct net_device *ndev)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	struct chimney_ring *r = &priv->tx;
	struct device *dev = &priv->pdev->dev;
	u32 first, idx, last, nfrags, i, len;
	struct chimney_tx_buf *buf;
	dma_addr_t dma;

	/* The device pads runts too, but do not rely on it. */
	if (eth_skb_pad(skb)) {
		atomic64_inc(&priv->tx_dropped);
		return NETDEV_TX_OK;
	}
	if (skb_shinfo(skb)->nr_frags + 1 > CHIMNEY_TX_DESC_MAX &&
	    skb_linearize(skb))
		goto drop;
	nfrags = skb_shinfo(skb)->nr_frags;

	if (unlikely(chimney_tx_space(priv) < nfrags + 1)) {
		/* The queue is stopped before this can happen. */
		netif_stop_queue(ndev);
		netdev_err_once(ndev, "TX ring full with the queue awake\n");
		return NETDEV_TX_BUSY;
	}

	first = r->ntu;
	idx = first;
	last = first;
	len = skb_headlen(skb);
	if (len) {
		dma = dma_map_single(dev, skb->data, len, DMA_TO_DEVICE);
		if (dma_mapping_error(dev, dma))
			goto drop;
		buf = &priv->tx_buf[idx];
		buf->dma = dma;
		buf->len = len;
		buf->page = false;
		chimney_tx_desc_write(&priv->os, r, idx, dma, len, 0);
		last = idx;
		idx = chimney_ring_next(r, idx);
	}
	for (i = 0; i < nfrags; i++) {
		const skb_frag_t *frag = &skb_shinfo(skb)->frags[i];

		len = skb_frag_size(frag);
		if (!len)
			continue;
		dma = skb_frag_dma_map(dev, frag, 0, len, DMA_TO_DEVICE);
		if (dma_mapping_error(dev, dma))
			goto unmap;
		buf = &priv->tx_buf[idx];
		buf->dma = dma;
		buf->len = len;
		buf->page = true;
		chimney_tx_desc_write(&priv->os, r, idx, dma, len, 0);
		last = idx;
		idx = chimney_ring_next(r, idx);
	}
	if (idx == first)	/* nothing mapped: cannot happen after padding */
		goto drop;

	chimney_tx_desc_set_flags(&priv->os, r, last, CHIMNEY_TXF_EOP);
	priv->tx_buf[last].skb = skb;
	skb_tx_timestamp(skb);

	/* Publish ntu before the doorbell can complete these entries. */
	smp_store_release(&r->ntu, idx);

	if (unlikely(chimney_tx_space(priv) < CHIMNEY_TX_WAKE)) {
		netif_stop_queue(ndev);
		atomic64_inc(&priv->tx_stops);
		/* Pairs with the barrier in chimney_tx_clean(). */
		smp_mb();
		if (chimney_tx_space(priv) >= CHIMNEY_TX_WAKE)
			netif_start_queue(ndev);
	}
	if (__netdev_sent_queue(ndev, skb->len, netdev_xmit_more()))
		chimney_ring_kick(&priv->os, r, idx);
	return NETDEV_TX_OK;

unmap:
	while (first != idx) {
		chimney_tx_unmap(priv, &priv->tx_buf[first]);
		first = chimney_ring_next(r, first);
	}
drop:
	atomic64_inc(&priv->tx_dropped);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* NAPI context: reclaim completed descriptors. */
static int chimney_tx_clean(struct chimney_priv *priv, int budget)
{
	struct chimney_ring *r = &priv->tx;
	struct net_device *ndev = priv->ndev;
	unsigned int pkts = 0, bytes = 0;
	/* Pairs with the release in chimney_start_xmit(): descriptors and
	 * tx_buf entries up to ntu are written.
	 */
	u32 idx = r->ntc, ntu = smp_load_acquire(&r->ntu);

	while (idx != ntu) {
		struct chimney_tx_buf *buf = &priv->tx_buf[idx];
		u16 status = chimney_tx_desc_done(&priv->os, r, idx);

		if (!status)
			break;
		chimney_tx_unmap(priv, buf);
		if (buf->skb) {
			if (unlikely(chimney_desc_err(status))) {
				atomic64_inc(&priv->tx_errors);
				netdev_dbg(ndev, "TX frame error 0x%02x\n",
					   chimney_desc_err(status));
			}
			pkts++;
			bytes += buf->skb->len;
			napi_consume_skb(buf->skb, budget);
			buf->skb = NULL;
		}
		idx = chimney_ring_next(r, idx);
	}
	if (idx == r->ntc)
		return 0;

	/* Buffers are released before xmit may reuse the entries. */
	smp_store_release(&r->ntc, idx);
	netdev_completed_queue(ndev, pkts, bytes);
	u64_stats_update_begin(&priv->tx_stats.syncp);
	priv->tx_stats.packets += pkts;
	priv->tx_stats.bytes += bytes;
	u64_stats_update_end(&priv->tx_stats.syncp);

	/* Pairs with the barrier in chimney_start_xmit(). */
	smp_mb();
	if (unlikely(netif_queue_stopped(ndev)) &&
	    chimney_tx_space(priv) >= CHIMNEY_TX_WAKE) {
		netif_tx_lock(ndev);
		/* Not while chimney_down() runs: ndo_stop is called with
		 * the interface no longer running, the reset task detaches.
		 */
		if (netif_queue_stopped(ndev) && netif_running(ndev) &&
		    netif_device_present(ndev)) {
			netif_wake_queue(ndev);
			atomic64_inc(&priv->tx_wakes);
		}
		netif_tx_unlock(ndev);
	}
	return pkts;
}

static void chimney_tx_free(struct chimney_priv *priv)
{
	u32 i;

	if (!priv->tx_buf)
		return;
	for (i = 0; i < priv->tx.size; i++) {
		struct chimney_tx_buf *buf = &priv->tx_buf[i];

		chimney_tx_unmap(priv, buf);
		if (buf->skb) {
			dev_kfree_skb_any(buf->skb);
			buf->skb = NULL;
		}
	}
	netdev_reset_queue(priv->ndev);
}

/* ---- NAPI -------------------------------------------------------------- */

static bool chimney_work_pending(struct chimney_priv *priv)
{
	struct chimney_ring *r;
	u16 len;

	r = &priv->rx;
	if (r->ntc != r->ntu &&
	    chimney_rx_desc_done(&priv->os, r, r->ntc, &len))
		return true;
	r = &priv->tx;
	/* ntu is written by chimney_start_xmit() (release). */
	if (r->ntc != smp_load_acquire(&r->ntu) &&
	    chimney_tx_desc_done(&priv->os, r, r->ntc))
		return true;
	return chimney_drv_event_pending(&priv->drv);
}

static int chimney_poll(struct napi_struct *napi, int budget)
{
	struct chimney_priv *priv = container_of(napi, struct chimney_priv, napi);
	int work;

	chimney_tx_clean(priv, budget);
	/* The event ring: link events and command completions. */
	chimney_drv_process_events(&priv->drv);
	/* readers of direct reads, once the batch's TCP events are seen */
	chimney_direct_wake(priv);
	work = chimney_rx_poll(priv, budget);
	if (work >= budget)
		return budget;

	if (napi_complete_done(napi, work)) {
		/* Drop causes latched while masked, then unmask and look
		 * again: anything that arrived in between is in the rings.
		 */
		chimney_wr(priv, CHIMNEY_REG_INT_CAUSE, CHIMNEY_NAPI_CAUSES);
		chimney_irq_enable(priv, CHIMNEY_NAPI_CAUSES);
		if (chimney_work_pending(priv))
			chimney_napi_kick(priv);
	}
	return work;
}

/* ---- Bring-up and tear-down -------------------------------------------- */

static void chimney_free_rings(struct chimney_priv *priv)
{
	chimney_ring_free(&priv->os, &priv->tx);
	chimney_ring_free(&priv->os, &priv->rx);
	kfree(priv->tx_buf);
	priv->tx_buf = NULL;
	kfree(priv->rx_buf);
	priv->rx_buf = NULL;
}

/* TX and RX; the core allocates CMD and EVT in chimney_up(). */
static int chimney_alloc_rings(struct chimney_priv *priv)
{
	u32 tx = min_t(u32, tx_ring, priv->ring_max);
	u32 rx = min_t(u32, rx_ring, priv->ring_max);
	int err;

	chimney_ring_init(&priv->tx, CHIMNEY_RING_TX, tx,
			  sizeof(ChimneyTxDesc));
	chimney_ring_init(&priv->rx, CHIMNEY_RING_RX, rx,
			  sizeof(ChimneyRxDesc));
	err = chimney_ring_alloc(&priv->os, &priv->tx);
	if (!err)
		err = chimney_ring_alloc(&priv->os, &priv->rx);
	if (!err) {
		priv->tx_buf = kcalloc(tx, sizeof(*priv->tx_buf), GFP_KERNEL);
		priv->rx_buf = kcalloc(rx, sizeof(*priv->rx_buf), GFP_KERNEL);
		if (!priv->tx_buf || !priv->rx_buf)
			err = -ENOMEM;
	}
	if (err)
		chimney_free_rings(priv);
	return err;
}

static void chimney_stop_rings(struct chimney_priv *priv)
{
	chimney_ring_stop(&priv->os, &priv->tx);
	chimney_ring_stop(&priv->os, &priv->rx);
}

/* The command/event path first (the core owns CMD and EVT), then L2. */
static int chimney_start_rings(struct chimney_priv *priv)
{
	struct chimney_ring *rings[] = { &priv->tx, &priv->rx };
	unsigned int i;
	int err;

	err = chimney_drv_init(&priv->drv, &chimney_linux_os_ops, priv,
			       CHIMNEY_CMD_RING, CHIMNEY_EVT_RING);
	if (err) {
		netdev_err(priv->ndev, "cannot start the command path: %d\n",
			   err);
		return err;
	}
	chimney_drv_set_event_ops(&priv->drv, &chimney_event_ops, priv);
	priv->drv_up = true;
	/* Receive indications of offloaded connections (optional). */
	chimney_rx_pool_create(priv);
	err = chimney_drv_ind_start(&priv->drv, CHIMNEY_IND_RING,
				    CHIMNEY_IND_BUF);
	priv->ind_up = !err;
	if (err)
		netdev_warn(priv->ndev, "no IND ring (%d): no TCP offload\n",
			    err);

	for (i = 0; i < ARRAY_SIZE(rings); i++) {
		err = chimney_ring_start(&priv->os, rings[i]);
		if (err) {
			netdev_err(priv->ndev, "cannot enable ring %u: %d\n",
				   rings[i]->id, err);
			goto fail;
		}
	}
	priv->rx_discard = false;
	if (!chimney_rx_fill(priv, GFP_KERNEL)) {
		err = -ENOMEM;
		goto fail;
	}
	return 0;

fail:
	chimney_stop_rings(priv);
	priv->drv_up = false;
	chimney_drv_fini(&priv->drv);
	chimney_direct_wake(priv);	/* requests fini aborted */
	chimney_rx_pool_destroy(priv);
	return err;
}

static void chimney_set_rx_mode(struct net_device *ndev)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	u32 filter = CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST;

	/* No multicast hash: any multicast membership means ALLMULTI. */
	if (ndev->flags & IFF_PROMISC)
		filter |= CHIMNEY_RXF_PROMISC;
	if ((ndev->flags & IFF_ALLMULTI) || !netdev_mc_empty(ndev))
		filter |= CHIMNEY_RXF_ALLMULTI;
	chimney_wr(priv, CHIMNEY_REG_RX_FILTER, filter);
}

static void chimney_write_mac(struct chimney_priv *priv, const u8 *a)
{
	chimney_wr(priv, CHIMNEY_REG_MAC_LO,
		   a[0] | a[1] << 8 | a[2] << 16 | (u32)a[3] << 24);
	chimney_wr(priv, CHIMNEY_REG_MAC_HI, a[4] | a[5] << 8);
}

/* Under RTNL.  Rings and buffers must be allocated. */
static int chimney_up(struct chimney_priv *priv)
{
	struct net_device *ndev = priv->ndev;
	int err;

	chimney_wr(priv, CHIMNEY_REG_INT_MASK, 0);
	chimney_wr(priv, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_ALL);
	chimney_wr(priv, CHIMNEY_REG_INT_THROTTLE, irq_throttle_us & 0xffff);
	chimney_write_mac(priv, ndev->dev_addr);
	chimney_set_rx_mode(ndev);

	err = chimney_start_rings(priv);
	if (err)
		return err;

	napi_enable(&priv->napi);
	priv->int_mask = 0;
	chimney_irq_enable(priv, CHIMNEY_NAPI_CAUSES | CHIMNEY_MISC_CAUSES);
	netif_carrier_off(ndev);
	chimney_update_link(priv);
	netif_start_queue(ndev);
	priv->up = true;
	/* Frames or events that raced with the unmask. */
	local_bh_disable();
	chimney_napi_kick(priv);
	local_bh_enable();
	return 0;
}

static void chimney_down(struct chimney_priv *priv)
{
	struct net_device *ndev = priv->ndev;
	int i;

	if (!priv->up)
		return;
	priv->up = false;
	netif_tx_disable(ndev);
	netif_carrier_off(ndev);
	chimney_irq_disable(priv, CHIMNEY_INT_ALL);
	for (i = 0; i < priv->nvec; i++)
		synchronize_irq(pci_irq_vector(priv->pdev, i));
	/* NAPI rings doorbells and processes events: stop it first. */
	napi_disable(&priv->napi);
	del_timer_sync(&priv->refill_timer);
	chimney_stop_rings(priv);
	/* Commands still in flight complete as REQUEST_ABORTED. */
	priv->drv_up = false;
	chimney_drv_fini(&priv->drv);
	chimney_direct_wake(priv);	/* requests fini aborted */
	chimney_rx_pool_destroy(priv);
	chimney_wr(priv, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_ALL);
	chimney_tx_free(priv);
	chimney_rx_free(priv);
}

static int chimney_open(struct net_device *ndev)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	u32 status;
	int err;

	err = chimney_alloc_rings(priv);
	if (err)
		return err;
	err = chimney_request_irqs(priv);
	if (err) {
		netdev_err(ndev, "cannot request interrupts: %d\n", err);
		goto err_rings;
	}
	err = chimney_up(priv);
	if (err)
		goto err_irqs;

	/* Check the command and event rings end to end. */
	err = chimney_cmd_sync(priv, chimney_submit_nop, NULL, &status);
	if (err || status != CHIMNEY_ST_SUCCESS)
		netdev_warn(ndev, "NOP command failed: err %d status 0x%08x\n",
			    err, err ? 0 : status);
	else
		netdev_info(ndev, "command/event path ok\n");
	chimney_ofl_dev_open(priv);
	return 0;

err_irqs:
	chimney_free_irqs(priv);
err_rings:
	chimney_free_rings(priv);
	return err;
}

static int chimney_stop(struct net_device *ndev)
{
	struct chimney_priv *priv = netdev_priv(ndev);

	/* Offloaded connections go back to the host stack first. */
	chimney_ofl_dev_close(priv);
	chimney_down(priv);
	chimney_free_irqs(priv);
	chimney_free_rings(priv);
	return 0;
}

static int chimney_hw_reset(struct chimney_priv *priv);

/*
 * Reset the device under RTNL (interface running): offloaded connections
 * go back to the host stack first (TERMINATE while the command path still
 * works), then the rings stop, CTRL.RESET drops whatever state the device
 * still has, and everything is set up again, offload included.
 */
static int chimney_reset_locked(struct chimney_priv *priv)
{
	struct net_device *ndev = priv->ndev;
	int err;

	ASSERT_RTNL();
	chimney_ofl_count(priv, CHIMNEY_OFL_RESETS, 1);
	netif_device_detach(ndev);
	chimney_ofl_dev_close(priv);
	chimney_down(priv);
	err = chimney_hw_reset(priv);
	if (err)
		netdev_err(ndev, "device reset did not complete: %d\n", err);
	else
		err = chimney_up(priv);
	if (err) {
		netdev_err(ndev, "restart failed; set the interface down and up\n");
		return err;
	}
	netif_device_attach(ndev);
	chimney_ofl_dev_open(priv);
	return 0;
}

static void chimney_reset_task(struct work_struct *work)
{
	struct chimney_priv *priv =
		container_of(work, struct chimney_priv, reset_task);
	struct net_device *ndev = priv->ndev;

	rtnl_lock();
	if (netif_running(ndev) && netif_device_present(ndev)) {
		netdev_warn(ndev, "restarting rings\n");
		chimney_reset_locked(priv);
	}
	rtnl_unlock();
}

static void chimney_tx_timeout(struct net_device *ndev, unsigned int txq)
{
	struct chimney_priv *priv = netdev_priv(ndev);

	netdev_err(ndev,
		   "TX timeout: ntc %u ntu %u hw head %u status 0x%x int_cause 0x%x mask 0x%x\n",
		   priv->tx.ntc, priv->tx.ntu,
		   chimney_ring_hw_head(&priv->os, &priv->tx),
		   chimney_ring_hw_status(&priv->os, &priv->tx),
		   chimney_rd(priv, CHIMNEY_REG_INT_CAUSE), priv->int_mask);
	schedule_work(&priv->reset_task);
}

static int chimney_set_mac_address(struct net_device *ndev, void *p)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	int err;

	err = eth_prepare_mac_addr_change(ndev, p);
	if (err)
		return err;
	eth_commit_mac_addr_change(ndev, p);
	chimney_write_mac(priv, ndev->dev_addr);
	return 0;
}

static void chimney_get_stats64(struct net_device *ndev,
				struct rtnl_link_stats64 *s)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&priv->rx_stats.syncp);
		s->rx_packets = priv->rx_stats.packets;
		s->rx_bytes = priv->rx_stats.bytes;
	} while (u64_stats_fetch_retry(&priv->rx_stats.syncp, start));
	do {
		start = u64_stats_fetch_begin(&priv->tx_stats.syncp);
		s->tx_packets = priv->tx_stats.packets;
		s->tx_bytes = priv->tx_stats.bytes;
	} while (u64_stats_fetch_retry(&priv->tx_stats.syncp, start));
	s->rx_dropped = atomic64_read(&priv->rx_dropped);
	s->rx_errors = atomic64_read(&priv->rx_errors);
	s->tx_dropped = atomic64_read(&priv->tx_dropped);
	s->tx_errors = atomic64_read(&priv->tx_errors);
}

static const struct net_device_ops chimney_netdev_ops = {
	.ndo_open		= chimney_open,
	.ndo_stop		= chimney_stop,
	.ndo_start_xmit		= chimney_start_xmit,
	.ndo_get_stats64	= chimney_get_stats64,
	.ndo_set_rx_mode	= chimney_set_rx_mode,
	.ndo_set_mac_address	= chimney_set_mac_address,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_tx_timeout		= chimney_tx_timeout,
};

struct chimney_priv *chimney_priv_from_netdev(const struct net_device *dev)
{
	if (!dev || dev->netdev_ops != &chimney_netdev_ops)
		return NULL;
	return netdev_priv(dev);
}

/* ---- ethtool ----------------------------------------------------------- */

static const char chimney_stat_names[][ETH_GSTRING_LEN] = {
	[CHIMNEY_STAT_TX_FRAMES] = "hw_tx_frames",
	[CHIMNEY_STAT_TX_BYTES] = "hw_tx_bytes",
	[CHIMNEY_STAT_TX_ERRORS] = "hw_tx_errors",
	[CHIMNEY_STAT_RX_FRAMES] = "hw_rx_frames",
	[CHIMNEY_STAT_RX_BYTES] = "hw_rx_bytes",
	[CHIMNEY_STAT_RX_ERRORS] = "hw_rx_errors",
	[CHIMNEY_STAT_RX_FILTERED] = "hw_rx_filtered",
	[CHIMNEY_STAT_RX_OVERSIZE] = "hw_rx_oversize",
	[CHIMNEY_STAT_RX_NOBUF] = "hw_rx_nobuf",
	[CHIMNEY_STAT_CMDS] = "hw_cmds",
	[CHIMNEY_STAT_EVENTS] = "hw_events",
	[CHIMNEY_STAT_EVT_OVERFLOW] = "hw_evt_overflow",
	/* driver counters */
	[CHIMNEY_STAT_COUNT] = "misc_irqs",
	[CHIMNEY_STAT_COUNT + 1] = "rx_alloc_failed",
	[CHIMNEY_STAT_COUNT + 2] = "tx_queue_stops",
	[CHIMNEY_STAT_COUNT + 3] = "tx_queue_wakes",
};

/* The offload path's counters (chimney_nic.h), per interface. */
static const char chimney_ofl_stat_names[][ETH_GSTRING_LEN] = {
	[CHIMNEY_OFL_OFFLOADS] = "ofl_offloads",
	[CHIMNEY_OFL_OFFLOAD_FAILED] = "ofl_offload_failed",
	[CHIMNEY_OFL_UPLOADS] = "ofl_uploads",
	[CHIMNEY_OFL_UPLOAD_REQS] = "ofl_upload_requests",
	[CHIMNEY_OFL_BYTES_SENT] = "ofl_bytes_sent",
	[CHIMNEY_OFL_BYTES_RCVD] = "ofl_bytes_rcvd",
	[CHIMNEY_OFL_INDICATIONS] = "ofl_indications",
	[CHIMNEY_OFL_SENDS] = "ofl_send_requests",
	[CHIMNEY_OFL_UPDATES] = "ofl_updates",
	[CHIMNEY_OFL_RELINKS] = "ofl_relinks",
	[CHIMNEY_OFL_NEIGH_QUERIES] = "ofl_neigh_queries",
	[CHIMNEY_OFL_RESETS] = "ofl_resets",
	[CHIMNEY_OFL_RX_ZC_BYTES] = "ofl_rx_zc_bytes",
	[CHIMNEY_OFL_TX_ZC_BYTES] = "ofl_tx_zc_bytes",
	[CHIMNEY_OFL_RX_DIRECT_BYTES] = "ofl_rx_direct_bytes",
	[CHIMNEY_OFL_RX_DIRECT_REQS] = "ofl_rx_direct_reqs",
	[CHIMNEY_OFL_RX_DIRECT_FLUSH] = "ofl_rx_direct_flush",
	[CHIMNEY_OFL_SBUF_REUSED] = "ofl_sbuf_reused",
};

/* The device's engine counters (CMD_QUERY_STATS), IPv4. */
static const char chimney_dev_stat_names[][ETH_GSTRING_LEN] = {
	"ofl_conns",		/* not the device's: connections offloaded now */
	"dev_tcp4_in_segs",
	"dev_tcp4_out_segs",
	"dev_tcp4_established",
	"dev_tcp4_reset_established",
	"dev_tcp4_retrans_segs",
	"dev_tcp4_in_errors",
	"dev_tcp4_out_resets",
	"dev_ip4_in_receives",
	"dev_ip4_in_octets",
	"dev_ip4_in_delivers",
	"dev_ip4_out_requests",
	"dev_ip4_out_octets",
	"dev_ip4_in_hdr_errors",
	"dev_ip4_in_truncated",
	"dev_ip4_in_discards",
	"dev_ip4_out_discards",
	"dev_ip4_out_no_routes",
};

#define CHIMNEY_NSTATS (ARRAY_SIZE(chimney_stat_names) + \
			ARRAY_SIZE(chimney_ofl_stat_names) + \
			ARRAY_SIZE(chimney_dev_stat_names))

/*
 * CMD_QUERY_STATS with a bounded wait (ethtool runs under RTNL; NAPI,
 * which completes the command, does not need it).  The result buffer is
 * shared with the completion, which may come after a timeout.
 */
struct chimney_stats_wait {
	struct completion done;
	refcount_t ref;
	u32 status;
	ChimneyOffloadStats st;
};

static void chimney_stats_wait_put(struct chimney_stats_wait *w)
{
	if (refcount_dec_and_test(&w->ref))
		kfree(w);
}

static void chimney_stats_done(void *ctx, u32 status)
{
	struct chimney_stats_wait *w = ctx;

	w->status = status;
	complete(&w->done);
	chimney_stats_wait_put(w);
}

static void chimney_query_dev_stats(struct chimney_priv *priv)
{
	struct chimney_stats_wait *w;
	int err;

	if (!priv->drv_up)
		return;		/* interface down: the last values stay */
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return;
	init_completion(&w->done);
	refcount_set(&w->ref, 2);
	err = chimney_drv_query_stats(&priv->drv, &w->st, chimney_stats_done,
				      w);
	if (err) {
		kfree(w);
		return;
	}
	if (wait_for_completion_timeout(&w->done, HZ) &&
	    w->status == CHIMNEY_ST_SUCCESS)
		priv->dev_stats = w->st;
	chimney_stats_wait_put(w);
}

static void chimney_get_drvinfo(struct net_device *ndev,
				struct ethtool_drvinfo *info)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	u32 v = chimney_rd(priv, CHIMNEY_REG_VERSION);

	strscpy(info->driver, DRV_NAME, sizeof(info->driver));
	strscpy(info->version, DRV_VERSION, sizeof(info->version));
	snprintf(info->fw_version, sizeof(info->fw_version), "abi %u.%u",
		 v >> 16, v & 0xffff);
	strscpy(info->bus_info, pci_name(priv->pdev), sizeof(info->bus_info));
}

static int chimney_get_sset_count(struct net_device *ndev, int sset)
{
	return sset == ETH_SS_STATS ? CHIMNEY_NSTATS : -EOPNOTSUPP;
}

static void chimney_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	if (sset != ETH_SS_STATS)
		return;
	memcpy(data, chimney_stat_names, sizeof(chimney_stat_names));
	data += sizeof(chimney_stat_names);
	memcpy(data, chimney_ofl_stat_names, sizeof(chimney_ofl_stat_names));
	data += sizeof(chimney_ofl_stat_names);
	memcpy(data, chimney_dev_stat_names, sizeof(chimney_dev_stat_names));
}

static void chimney_get_ethtool_stats(struct net_device *ndev,
				      struct ethtool_stats *stats, u64 *data)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	const struct ChimneyTcpStats *t;
	const struct ChimneyIpStats *ip;
	int i, j;

	for (i = 0; i < CHIMNEY_STAT_COUNT; i++)
		data[i] = chimney_rd(priv, CHIMNEY_REG_STAT(i));
	data[i++] = atomic64_read(&priv->misc_irqs);
	data[i++] = atomic64_read(&priv->rx_alloc_failed);
	data[i++] = atomic64_read(&priv->tx_stops);
	data[i++] = atomic64_read(&priv->tx_wakes);
	for (j = 0; j < CHIMNEY_OFL_NSTATS; j++)
		data[i++] = atomic64_read(&priv->ofl_stats[j]);

	chimney_query_dev_stats(priv);
	t = &priv->dev_stats.tcp4;
	ip = &priv->dev_stats.ip4;
	data[i++] = atomic_read(&priv->ofl_conns);
	data[i++] = le64_to_cpu(t->in_segments);
	data[i++] = le64_to_cpu(t->out_segments);
	data[i++] = le32_to_cpu(t->currently_established);
	data[i++] = le32_to_cpu(t->reset_established);
	data[i++] = le32_to_cpu(t->retransmitted_segments);
	data[i++] = le32_to_cpu(t->in_errors);
	data[i++] = le32_to_cpu(t->out_resets);
	data[i++] = le64_to_cpu(ip->in_receives);
	data[i++] = le64_to_cpu(ip->in_octets);
	data[i++] = le64_to_cpu(ip->in_delivers);
	data[i++] = le64_to_cpu(ip->out_requests);
	data[i++] = le64_to_cpu(ip->out_octets);
	data[i++] = le32_to_cpu(ip->in_header_errors);
	data[i++] = le32_to_cpu(ip->in_truncated_packets);
	data[i++] = le32_to_cpu(ip->in_discards);
	data[i++] = le32_to_cpu(ip->out_discards);
	data[i++] = le32_to_cpu(ip->out_no_routes);
	WARN_ON_ONCE(i != CHIMNEY_NSTATS);
}

/*
 * ethtool --reset: ETH_RESET_MAC (part of "all") is a device reset as the
 * reset work does it, offloaded connections uploaded first.
 */
static int chimney_ethtool_reset(struct net_device *ndev, u32 *flags)
{
	struct chimney_priv *priv = netdev_priv(ndev);
	int err;

	if (!(*flags & ETH_RESET_MAC))
		return -EOPNOTSUPP;
	if (netif_running(ndev) && netif_device_present(ndev)) {
		netdev_info(ndev, "device reset requested (ethtool)\n");
		err = chimney_reset_locked(priv);
		if (err)
			return err;
	}
	*flags &= ~(ETH_RESET_MAC | ETH_RESET_DMA | ETH_RESET_FILTER |
		    ETH_RESET_OFFLOAD | ETH_RESET_IRQ);
	return 0;
}

static const struct ethtool_ops chimney_ethtool_ops = {
	.get_drvinfo		= chimney_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_sset_count		= chimney_get_sset_count,
	.get_strings		= chimney_get_strings,
	.get_ethtool_stats	= chimney_get_ethtool_stats,
	.reset			= chimney_ethtool_reset,
};

/* ---- PCI --------------------------------------------------------------- */

static int chimney_hw_reset(struct chimney_priv *priv)
{
	u32 v;

	chimney_wr(priv, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
	return readl_poll_timeout(priv->regs + CHIMNEY_REG_CTRL, v,
				  !(v & CHIMNEY_CTRL_RESET), 10, 100000);
}

static int chimney_setup_irqs(struct chimney_priv *priv)
{
	struct pci_dev *pdev = priv->pdev;
	int n;

	if (msix) {
		n = pci_alloc_irq_vectors(pdev, CHIMNEY_MSIX_VECTORS,
					  CHIMNEY_MSIX_VECTORS, PCI_IRQ_MSIX);
		if (n == CHIMNEY_MSIX_VECTORS) {
			priv->use_msix = true;
			priv->nvec = n;
			return 0;
		}
		dev_info(&pdev->dev, "MSI-X unavailable (%d), using one vector\n", n);
	}
	n = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_LEGACY | PCI_IRQ_MSI);
	if (n < 0)
		return n;
	priv->use_msix = false;
	priv->nvec = 1;
	return 0;
}

static int chimney_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct chimney_priv *priv;
	struct net_device *ndev;
	void __iomem *regs;
	u32 magic, version, lo, hi;
	u8 mac[ETH_ALEN];
	int err;

	err = pci_enable_device_mem(pdev);
	if (err)
		return err;
	err = pci_request_regions(pdev, DRV_NAME);
	if (err)
		goto err_disable;
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err)
		err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
	if (err) {
		dev_err(&pdev->dev, "no usable DMA mask\n");
		goto err_regions;
	}
	pci_set_master(pdev);

	if (pci_resource_len(pdev, CHIMNEY_BAR_REGS) < CHIMNEY_BAR_REGS_SIZE ||
	    !(pci_resource_flags(pdev, CHIMNEY_BAR_REGS) & IORESOURCE_MEM)) {
		dev_err(&pdev->dev, "BAR%d is not a %u-byte memory BAR\n",
			CHIMNEY_BAR_REGS, CHIMNEY_BAR_REGS_SIZE);
		err = -ENODEV;
		goto err_regions;
	}
	regs = pci_ioremap_bar(pdev, CHIMNEY_BAR_REGS);
	if (!regs) {
		err = -ENOMEM;
		goto err_regions;
	}

	magic = readl(regs + CHIMNEY_REG_ID);
	version = readl(regs + CHIMNEY_REG_VERSION);
	if (magic != CHIMNEY_ID_MAGIC) {
		dev_err(&pdev->dev, "bad ID register 0x%08x (want 0x%08x)\n",
			magic, CHIMNEY_ID_MAGIC);
		err = -ENODEV;
		goto err_unmap;
	}
	if (version >> 16 != CHIMNEY_ABI_MAJOR) {
		dev_err(&pdev->dev, "unsupported ABI %u.%u (driver speaks %u.x)\n",
			version >> 16, version & 0xffff, CHIMNEY_ABI_MAJOR);
		err = -ENODEV;
		goto err_unmap;
	}

	ndev = alloc_etherdev(sizeof(*priv));
	if (!ndev) {
		err = -ENOMEM;
		goto err_unmap;
	}
	SET_NETDEV_DEV(ndev, &pdev->dev);
	priv = netdev_priv(ndev);
	priv->os.ops = &chimney_linux_os_ops;
	priv->os.ctx = priv;
	priv->dev = &pdev->dev;
	priv->regs = regs;
	priv->pdev = pdev;
	priv->ndev = ndev;
	spin_lock_init(&priv->irq_lock);
	spin_lock_init(&priv->drv_lock);
	u64_stats_init(&priv->rx_stats.syncp);
	u64_stats_init(&priv->tx_stats.syncp);
	INIT_WORK(&priv->reset_task, chimney_reset_task);
	init_llist_head(&priv->dreq_done);
	timer_setup(&priv->refill_timer, chimney_refill_timer, 0);
	pci_set_drvdata(pdev, priv);

	/* Known state before MSI-X is set up (reset may clear its table). */
	err = chimney_hw_reset(priv);
	if (err) {
		dev_err(&pdev->dev, "device reset timed out\n");
		goto err_free;
	}

	priv->caps = chimney_rd(priv, CHIMNEY_REG_CAP_FLAGS);
	priv->max_frame = min_t(u32, chimney_rd(priv, CHIMNEY_REG_CAP_MAX_FRAME),
				CHIMNEY_MAX_FRAME);
	priv->ring_max = chimney_rd(priv, CHIMNEY_REG_CAP_RING_MAX);
	priv->cap_flags = priv->caps;
	priv->cap_rcv_buf = chimney_rd(priv, CHIMNEY_REG_CAP_RCV_BUF);
	priv->cap_max_rcv_wnd = chimney_rd(priv, CHIMNEY_REG_CAP_MAX_RCV_WND);
	priv->cap_max_path_mtu = chimney_rd(priv, CHIMNEY_REG_CAP_MAX_PATH_MTU);
	atomic_set(&priv->ofl_conns, 0);
	INIT_LIST_HEAD(&priv->ofl_node);
	if (!(priv->caps & CHIMNEY_CAP_L2) ||
	    priv->max_frame < VLAN_ETH_FRAME_LEN ||
	    priv->ring_max < CHIMNEY_RING_MIN) {
		dev_err(&pdev->dev, "unusable caps 0x%x max_frame %u ring_max %u\n",
			priv->caps, priv->max_frame, priv->ring_max);
		err = -ENODEV;
		goto err_free;
	}

	lo = chimney_rd(priv, CHIMNEY_REG_MAC_LO);
	hi = chimney_rd(priv, CHIMNEY_REG_MAC_HI);
	mac[0] = lo;
	mac[1] = lo >> 8;
	mac[2] = lo >> 16;
	mac[3] = lo >> 24;
	mac[4] = hi;
	mac[5] = hi >> 8;
	if (is_valid_ether_addr(mac)) {
		eth_hw_addr_set(ndev, mac);
	} else {
		dev_warn(&pdev->dev, "invalid MAC %pM, using a random one\n", mac);
		eth_hw_addr_random(ndev);
		chimney_write_mac(priv, ndev->dev_addr);
	}

	err = chimney_setup_irqs(priv);
	if (err) {
		dev_err(&pdev->dev, "no interrupt vectors: %d\n", err);
		goto err_free;
	}

	ndev->netdev_ops = &chimney_netdev_ops;
	ndev->ethtool_ops = &chimney_ethtool_ops;
	ndev->watchdog_timeo = CHIMNEY_TX_TIMEOUT;
	ndev->min_mtu = ETH_MIN_MTU;
	/* Frames above one RX buffer are reassembled (chimney_rx_desc). */
	ndev->max_mtu = min_t(u32, priv->max_frame - VLAN_ETH_HLEN,
			      CHIMNEY_MAX_PATH_MTU);
	ndev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	ndev->features |= NETIF_F_HIGHDMA;
	netif_napi_add(ndev, &priv->napi, chimney_poll);
	netif_carrier_off(ndev);

	err = register_netdev(ndev);
	if (err)
		goto err_vectors;

	netdev_info(ndev,
		    "ABI %u.%u, MAC %pM, caps 0x%x, %s (%d vector%s)\n",
		    version >> 16, version & 0xffff,
		    ndev->dev_addr, priv->caps,
		    priv->use_msix ? "MSI-X" : (pdev->msi_enabled ? "MSI" : "INTx"),
		    priv->nvec, priv->nvec == 1 ? "" : "s");
	return 0;

err_vectors:
	netif_napi_del(&priv->napi);
	pci_free_irq_vectors(pdev);
err_free:
	free_netdev(ndev);
err_unmap:
	iounmap(regs);
err_regions:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
	return err;
}

static void chimney_remove(struct pci_dev *pdev)
{
	struct chimney_priv *priv = pci_get_drvdata(pdev);
	struct net_device *ndev = priv->ndev;
	void __iomem *regs = priv->regs;

	unregister_netdev(ndev);
	cancel_work_sync(&priv->reset_task);
	netif_napi_del(&priv->napi);
	pci_free_irq_vectors(pdev);
	chimney_hw_reset(priv);
	free_netdev(ndev);
	iounmap(regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
}

static void chimney_shutdown(struct pci_dev *pdev)
{
	struct chimney_priv *priv = pci_get_drvdata(pdev);
	struct net_device *ndev = priv->ndev;

	rtnl_lock();
	netif_device_detach(ndev);
	if (netif_running(ndev))
		chimney_stop(ndev);
	rtnl_unlock();
	/* Stop all DMA. */
	chimney_stop_rings(priv);
	pci_clear_master(pdev);
}

static const struct pci_device_id chimney_pci_ids[] = {
	{ PCI_DEVICE(CHIMNEY_PCI_VENDOR_ID, CHIMNEY_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, chimney_pci_ids);

static struct pci_driver chimney_pci_driver = {
	.name		= DRV_NAME,
	.id_table	= chimney_pci_ids,
	.probe		= chimney_probe,
	.remove		= chimney_remove,
	.shutdown	= chimney_shutdown,
};

static bool chimney_ring_param_ok(const char *name, unsigned int v,
				  unsigned int min)
{
	if (v >= min && v <= 4096 && is_power_of_2(v))
		return true;
	pr_err("%s=%u: must be a power of 2 in %u..4096\n", name, v, min);
	return false;
}

static int __init chimney_init(void)
{
	int err;

	/* TX: room for a maximal frame (16 descriptors) plus the wake margin. */
	if (!chimney_ring_param_ok("tx_ring", tx_ring, 32) ||
	    !chimney_ring_param_ok("rx_ring", rx_ring, CHIMNEY_RING_MIN))
		return -EINVAL;
	err = chimney_ofl_init();
	if (err)
		return err;
	err = pci_register_driver(&chimney_pci_driver);
	if (err)
		chimney_ofl_exit();
	return err;
}
module_init(chimney_init);

static void __exit chimney_exit(void)
{
	pci_unregister_driver(&chimney_pci_driver);
	chimney_ofl_exit();
}
module_exit(chimney_exit);

MODULE_DESCRIPTION("chimney-nic (QEMU TCP Chimney Offload NIC) driver: L2 and TCP offload");
MODULE_AUTHOR("chimney-nic authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(DRV_VERSION);
