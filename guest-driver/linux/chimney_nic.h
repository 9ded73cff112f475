/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic Linux driver: the state shared by the L2 driver
 * (chimney_nic_main.c) and the TCP offload path (chimney_ofl_*.c).
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#ifndef CHIMNEY_NIC_H
#define CHIMNEY_NIC_H

#include <linux/netdevice.h>
#include <linux/u64_stats_sync.h>
#include <linux/workqueue.h>
#include <linux/timer.h>
#include <linux/list.h>

#include "hw/net/chimney_hw.h"
#include "chimney_drv.h"
#include "chimney_ring.h"

struct chimney_tx_buf {
	struct sk_buff *skb;	/* on the frame's last descriptor only */
	dma_addr_t dma;
	u32 len;
	bool page;		/* mapped with skb_frag_dma_map */
};

struct chimney_rx_buf {
	struct sk_buff *skb;
	dma_addr_t dma;
};

/* Offload counters of one interface (ethtool -S "ofl_*"). */
enum {
	CHIMNEY_OFL_OFFLOADS,		/* INITIATE of a connection succeeded */
	CHIMNEY_OFL_OFFLOAD_FAILED,	/* an offload attempt that failed */
	CHIMNEY_OFL_UPLOADS,		/* connections given back (TERMINATE) */
	CHIMNEY_OFL_UPLOAD_REQS,	/* RETRIEVE events, UPLOAD_ALL */
	CHIMNEY_OFL_BYTES_SENT,		/* acknowledged (SEND_DONE) */
	CHIMNEY_OFL_BYTES_RCVD,		/* taken from indications */
	CHIMNEY_OFL_INDICATIONS,	/* receive indications */
	CHIMNEY_OFL_SENDS,		/* SEND requests queued */
	CHIMNEY_OFL_UPDATES,		/* UPDATE commands that succeeded */
	CHIMNEY_OFL_RELINKS,		/* paths relinked to another neighbor */
	CHIMNEY_OFL_NEIGH_QUERIES,	/* NEIGH_QUERY events answered */
	CHIMNEY_OFL_RESETS,		/* device resets (ethtool, ring error) */
	CHIMNEY_OFL_RX_ZC_BYTES,	/* received without the driver's copy */
	CHIMNEY_OFL_TX_ZC_BYTES,	/* sent from the caller's pages (sendpage) */
	CHIMNEY_OFL_RX_DIRECT_BYTES,	/* placed by the device in a reader's pages */
	CHIMNEY_OFL_RX_DIRECT_REQS,	/* direct reads posted (RECV_POST, SGL) */
	CHIMNEY_OFL_RX_DIRECT_FLUSH,	/* ... ended by RECV_FLUSH (signal, timeout) */
	CHIMNEY_OFL_SBUF_REUSED,	/* SEND buffers taken from the cache */
	CHIMNEY_OFL_NSTATS
};

/*
 * The IND ring (receive indications of offloaded connections): 256
 * buffers of one page each, 1 MiB.  One page per buffer: the pages the
 * host keeps become skb page fragments (chimney_ofl_rx.c), and order-0
 * pages are what a NAPI context can count on getting.
 */
#define CHIMNEY_IND_RING	256
#define CHIMNEY_IND_BUF		PAGE_SIZE

struct chimney_pcpu_stats {
	u64 packets;
	u64 bytes;
	struct u64_stats_sync syncp;
};

struct chimney_priv {
	struct chimney_os os;		/* the core's shim: ops, ctx = priv */
	void __iomem *regs;
	struct device *dev;
	struct pci_dev *pdev;
	struct net_device *ndev;
	struct napi_struct napi;

	struct chimney_ring tx;
	struct chimney_ring rx;
	/* CMD and EVT rings: the core's command/event path */
	struct chimney_drv drv;
	spinlock_t drv_lock;		/* the shim lock of the core */
	bool drv_up;			/* chimney_drv_init() done */
	struct chimney_tx_buf *tx_buf;
	struct chimney_rx_buf *rx_buf;
	/* A frame spanning several descriptors is copied into rx_chain. */
	struct sk_buff *rx_chain;
	bool rx_discard;		/* dropping the rest of a frame */
	struct timer_list refill_timer;	/* RX ring empty after failed allocs */
	bool up;			/* chimney_up() done, not yet down */

	/* INT_MASK shadow; the register is shared by all vectors */
	spinlock_t irq_lock;
	u32 int_mask;
	int nvec;
	bool use_msix;
	bool irqs_requested;
	char irq_name[CHIMNEY_MSIX_VECTORS][IFNAMSIZ + 8];

	struct chimney_pcpu_stats rx_stats;
	struct chimney_pcpu_stats tx_stats;
	atomic64_t rx_dropped;
	atomic64_t rx_errors;
	atomic64_t tx_dropped;
	atomic64_t tx_errors;
	atomic64_t misc_irqs;
	atomic64_t rx_alloc_failed;
	atomic64_t tx_stops;
	atomic64_t tx_wakes;

	struct work_struct reset_task;

	/* TCP offload (chimney_ofl_*.c) */
	bool ofl_ready;			/* SET_PARAMS and IND ring done */
	u32 fin_wait2_ms;		/* SET_PARAMS fin_wait2_ticks (1 ms ticks) */
	bool ind_up;			/* IND ring running */
	/* IND buffer pages, recycled from the receive queue (ofl_rx.c) */
	struct page_pool *rx_pool;
	atomic_t ofl_conns;		/* connections offloaded or uploading */
	struct list_head ofl_node;	/* chimney_ofl_devs */
	u32 cap_flags;			/* REG_CAP_FLAGS */
	u32 cap_rcv_buf;		/* REG_CAP_RCV_BUF */
	u32 cap_max_rcv_wnd;		/* REG_CAP_MAX_RCV_WND */
	u32 cap_max_path_mtu;		/* REG_CAP_MAX_PATH_MTU */
	atomic64_t ofl_stats[CHIMNEY_OFL_NSTATS];
	/* direct reads completed in this event batch (chimney_ofl_direct.c) */
	struct llist_head dreq_done;
	/* the device's counters at the last successful CMD_QUERY_STATS */
	ChimneyOffloadStats dev_stats;

	u32 caps;
	u32 max_frame;
	u32 ring_max;
};

/* chimney_nic_main.c */
struct chimney_priv *chimney_priv_from_netdev(const struct net_device *dev);
/* Run a core command synchronously: @submit queues it with (done, ctx). */
int chimney_cmd_sync(struct chimney_priv *priv,
		     int (*submit)(struct chimney_priv *priv,
				   chimney_drv_cmd_done_fn done, void *ctx,
				   void *arg),
		     void *arg, u32 *status);

static inline void chimney_ofl_count(struct chimney_priv *priv, int what,
				     u64 n)
{
	atomic64_add(n, &priv->ofl_stats[what]);
}

/* chimney_ofl_*.c */
int chimney_ofl_init(void);
void chimney_ofl_exit(void);
int chimney_ofl_dev_open(struct chimney_priv *priv);
void chimney_ofl_dev_close(struct chimney_priv *priv);
bool chimney_ofl_rx_steal(struct chimney_priv *priv, struct sk_buff *skb);
void chimney_ofl_on_tcp_event(void *ctx, u64 host_handle, u64 handle,
			      u16 type, u32 info);
void chimney_ofl_on_neigh_query(void *ctx, u64 host_handle, u64 handle,
				u32 nrd);
void chimney_ofl_on_status(struct chimney_priv *priv, u16 code);
void chimney_ofl_on_io_done(void *ctx, u64 cookie, u64 handle, u16 type,
			    u32 status, u32 info);
u32 chimney_ofl_on_indicate(void *ctx, u64 host_handle, u64 handle,
			    const struct chimney_drv_ind_frag *frags,
			    u32 nfrags, u32 total);
void chimney_direct_wake(struct chimney_priv *priv);
/* chimney_ofl_rx.c: IND buffers, pages the receive queue can take over */
int chimney_rx_buf_alloc(struct chimney_priv *priv, u32 len, gfp_t gfp,
			 struct chimney_dma_buf *buf);
void chimney_rx_buf_free(struct chimney_priv *priv,
			 struct chimney_dma_buf *buf);
void chimney_rx_pool_create(struct chimney_priv *priv);
void chimney_rx_pool_destroy(struct chimney_priv *priv);

#endif /* CHIMNEY_NIC_H */
