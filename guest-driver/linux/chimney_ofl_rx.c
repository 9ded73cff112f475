// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: receive indications into an offloaded socket's queue
 * without a copy.
 *
 * The IND buffers are pages mapped for streaming DMA (the core's
 * rxbuf_alloc shim member, chimney_nic_main.c), not coherent memory.
 * Filled IND buffers belong to the driver from the moment the device
 * completes them (spec "Receive indications", step 3), so the pages of
 * the bytes the host keeps go into the connection's receive queue as skb
 * page fragments, and each of their IND slots gets a fresh page
 * (chimney_drv_ind_swap()).  The only per-byte copy left is recvmsg's,
 * kernel to user, as for every NIC.  Short buffers are still copied
 * (CHIMNEY_RX_COPYBREAK): a page held for a few bytes would let the
 * receive queue, which is bounded in bytes of data, pin far more memory.
 * So is everything when no page can be had (GFP_ATOMIC, NAPI context).
 *
 * The pages come from a page pool: the receive queue gives them back
 * when the reader is done with them (skb_mark_for_recycle()), still
 * mapped.  The Debian kernel zeroes every page the page allocator hands
 * out (init_on_alloc), so a fresh page per 4 KiB received cost as much
 * as recvmsg's copy; a recycled page costs nothing.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <net/page_pool.h>

#include "chimney_ofl.h"

/*
 * Buffers with fewer bytes are copied: a page fragment pins at most
 * PAGE_SIZE / CHIMNEY_RX_COPYBREAK times its bytes.
 */
#define CHIMNEY_RX_COPYBREAK	(CHIMNEY_IND_BUF / 4)

static unsigned int chimney_rx_order(u32 len)
{
	return get_order(len);
}

/* Pool pages: one-page buffers while the pool exists (ring start..stop). */
static bool chimney_rx_pooled(struct chimney_priv *priv, u32 len)
{
	return priv->rx_pool && len <= PAGE_SIZE;
}

/*
 * The pool of the IND ring's pages: twice the ring, for the pages that
 * wait in receive queues (they come back through its recycle ring).
 * Without one (no memory) pages come from the page allocator.
 */
void chimney_rx_pool_create(struct chimney_priv *priv)
{
	struct page_pool_params pp = {
		.flags = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV,
		.order = 0,
		.pool_size = 2 * CHIMNEY_IND_RING,
		.nid = dev_to_node(priv->dev),
		.dev = priv->dev,
		.dma_dir = DMA_FROM_DEVICE,
		.max_len = PAGE_SIZE,
	};
	struct page_pool *pool = page_pool_create(&pp);

	priv->rx_pool = IS_ERR(pool) ? NULL : pool;
}

/* After chimney_drv_fini(): pages still in receive queues come back later. */
void chimney_rx_pool_destroy(struct chimney_priv *priv)
{
	if (priv->rx_pool)
		page_pool_destroy(priv->rx_pool);
	priv->rx_pool = NULL;
}

/* An IND buffer: whole pages (compound if several), mapped for the device. */
int chimney_rx_buf_alloc(struct chimney_priv *priv, u32 len, gfp_t gfp,
			 struct chimney_dma_buf *buf)
{
	unsigned int order = chimney_rx_order(len);
	struct page *page;
	dma_addr_t dma;

	if (chimney_rx_pooled(priv, len)) {
		page = page_pool_alloc_pages(priv->rx_pool, gfp | __GFP_NOWARN);
		if (!page)
			return -ENOMEM;
		buf->dma = page_pool_get_dma_addr(page);
		buf->handle = page_address(page);
		buf->len = len;
		return 0;
	}
	page = alloc_pages(gfp | __GFP_NOWARN | (order ? __GFP_COMP : 0),
			   order);
	if (!page)
		return -ENOMEM;
	dma = dma_map_page(priv->dev, page, 0, PAGE_SIZE << order,
			   DMA_FROM_DEVICE);
	if (dma_mapping_error(priv->dev, dma)) {
		__free_pages(page, order);
		return -ENOMEM;
	}
	buf->dma = dma;
	buf->handle = page_address(page);
	buf->len = len;
	return 0;
}

/* A buffer leaves the ring for a receive queue (a pool page stays mapped). */
static void chimney_rx_buf_unmap(struct chimney_priv *priv,
				 const struct chimney_dma_buf *buf)
{
	if (chimney_rx_pooled(priv, buf->len))
		return;
	dma_unmap_page(priv->dev, (dma_addr_t)buf->dma,
		       PAGE_SIZE << chimney_rx_order(buf->len),
		       DMA_FROM_DEVICE);
}

void chimney_rx_buf_free(struct chimney_priv *priv,
			 struct chimney_dma_buf *buf)
{
	if (chimney_rx_pooled(priv, buf->len)) {
		page_pool_put_full_page(priv->rx_pool,
					virt_to_page(buf->handle), false);
		return;
	}
	chimney_rx_buf_unmap(priv, buf);
	put_page(virt_to_page(buf->handle));
}

/* A new skb at the tail of @q for page fragments only (no linear data). */
static struct sk_buff *chimney_rx_frag_skb(struct sk_buff_head *q)
{
	struct sk_buff *skb = skb_peek_tail(q);

	if (skb && !skb_headlen(skb) &&
	    skb_shinfo(skb)->nr_frags < MAX_SKB_FRAGS)
		return skb;
	skb = alloc_skb(0, GFP_ATOMIC);
	if (skb) {
		CHIMNEY_RXCB(skb)->off = 0;
		__skb_queue_tail(q, skb);
	}
	return skb;
}

/* The first @n bytes of @frag's page as a fragment of the tail skb of @q. */
static bool chimney_rx_take_page(struct chimney_priv *priv,
				 const struct chimney_drv_ind_frag *frag,
				 u32 n, struct sk_buff_head *q)
{
	struct chimney_dma_buf fresh, taken;
	struct sk_buff *skb;

	skb = chimney_rx_frag_skb(q);
	if (!skb)
		return false;
	if (chimney_rx_buf_alloc(priv, CHIMNEY_IND_BUF, GFP_ATOMIC, &fresh))
		goto no_page;
	if (chimney_drv_ind_swap(&priv->drv, frag, &fresh, &taken)) {
		chimney_rx_buf_free(priv, &fresh);
		goto no_page;
	}
	chimney_rx_buf_unmap(priv, &taken);
	skb_add_rx_frag(skb, skb_shinfo(skb)->nr_frags,
			virt_to_page(taken.handle), 0, n,
			PAGE_SIZE << chimney_rx_order(taken.len));
	/* every fragment of these skbs is a pool page (or none is) */
	if (chimney_rx_pooled(priv, taken.len))
		skb_mark_for_recycle(skb);
	return true;

no_page:
	if (!skb->len) {
		__skb_unlink(skb, q);
		kfree_skb(skb);
	}
	return false;
}

/* The first @n bytes of @frag copied into a new skb at the tail of @q. */
static bool chimney_rx_copy(struct chimney_priv *priv,
			    const struct chimney_drv_ind_frag *frag, u32 n,
			    struct sk_buff_head *q)
{
	struct sk_buff *skb = alloc_skb(n, GFP_ATOMIC);

	if (!skb)
		return false;
	chimney_drv_ind_read(&priv->drv, frag, 0, skb_put(skb, n), n);
	CHIMNEY_RXCB(skb)->off = 0;
	__skb_queue_tail(q, skb);
	return true;
}

/*
 * Queue the first @take bytes of an indication (@frags, NAPI context,
 * inside on_indicate) on @q as receive queue entries.  Returns the bytes
 * queued: @take, or less when memory ran out (the rest stays in the
 * device: a partial take).
 */
u32 chimney_rx_build(struct chimney_priv *priv,
		     const struct chimney_drv_ind_frag *frags, u32 nfrags,
		     u32 take, struct sk_buff_head *q)
{
	struct device *dev = priv->dev;
	u32 i, n, left = take, zc = 0;
	dma_addr_t dma;
	bool ok;

	for (i = 0; i < nfrags && left; i++) {
		n = min(frags[i].len, left);
		dma = (dma_addr_t)frags[i].buf->dma;
		dma_sync_single_for_cpu(dev, dma, n, DMA_FROM_DEVICE);
		ok = n >= CHIMNEY_RX_COPYBREAK &&
		     chimney_rx_take_page(priv, &frags[i], n, q);
		if (ok) {
			zc += n;
		} else {
			ok = chimney_rx_copy(priv, &frags[i], n, q);
			/* the slot keeps its page: the device's again */
			dma_sync_single_for_device(dev, dma, n,
						   DMA_FROM_DEVICE);
		}
		if (!ok)
			break;
		left -= n;
	}
	chimney_ofl_count(priv, CHIMNEY_OFL_RX_ZC_BYTES, zc);
	return take - left;
}

/*
 * Drop the first @off bytes of a receive queue entry (upload: the kernel's
 * queue holds unread bytes only).  Page-fragment entries (chimney_rx_build)
 * are shortened in place: no allocation, nothing copied.
 */
int chimney_rx_pull(struct sk_buff *skb, u32 off)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	u32 left = off, sz;
	int i, k = 0;

	if (skb_headlen(skb) || off > skb->len)
		return pskb_pull(skb, off) ? 0 : -ENOMEM;
	for (i = 0; i < sh->nr_frags; i++) {
		skb_frag_t *f = &sh->frags[i];

		sz = skb_frag_size(f);
		if (left >= sz) {
			left -= sz;
			skb_frag_unref(skb, i);
			continue;
		}
		if (left) {
			skb_frag_off_add(f, left);
			skb_frag_size_sub(f, left);
			left = 0;
		}
		sh->frags[k++] = *f;
	}
	sh->nr_frags = k;
	skb->len -= off;
	skb->data_len -= off;
	return 0;
}
