// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: direct reads.  A blocking read of an offloaded connection
 * whose receive queue is empty pins the program's buffer and posts it to
 * the device as one RECV_POST with a scatter-gather list (spec RECV_POST,
 * CHIMNEY_RECVF_SGL; devices with CHIMNEY_CAP_RECV_SGL): the device writes
 * the received TCP data straight into the program's pages, and recvmsg's
 * copy is gone.
 *
 * Stream order.  Received data goes into posted requests first, and the
 * device indicates only while none is posted (spec "Delivery
 * algorithm").  A request is posted only when the receive queue is empty
 * (checked under the connection lock, which on_indicate holds while it
 * queues data and sends its IND_DONE), and while it is posted on_indicate
 * takes nothing (IND_DONE 0): the device then places the indicated bytes
 * into the request, in order, instead of letting them overtake bytes
 * already placed (chimney_ofl_dev.c).  Such an indication leaves the
 * connection suppressed; the reader's zero-length RECV_POST afterwards
 * (chimney_rx_resume) lets the device indicate again should the request
 * have completed before that IND_DONE arrived.
 *
 * Between reads.  Where the device has CHIMNEY_CAP_RECV_HOLD each request
 * is posted with CHIMNEY_RECVF_HOLD: once it completes, the data that
 * follows waits in the device for the reader's next request instead of
 * being indicated (spec RECV_POST "Hold").  On other devices on_indicate
 * declines what comes while the reader is between two direct reads
 * (direct_recent): the same effect, at the cost of one indication per
 * read.  A reader that goes another way lets indications resume
 * (chimney_direct_leave()).
 *
 * Giving up.  A signal or SO_RCVTIMEO ends the wait with RECV_FLUSH (spec
 * RECV_FLUSH): the device completes the request at once with the bytes
 * placed so far, which the read returns.  The pages are unpinned only
 * after the RECV_DONE: the device may write them until then.  If the
 * device does not answer within CHIMNEY_DIRECT_FLUSH_WAIT (a broken
 * device), the request is abandoned: it stays registered, its pages
 * pinned, until a completion comes (then a work item releases it) or the
 * module goes (after the device was reset); the connection fails with
 * EIO, since bytes may still land in the buffer.
 *
 * Lifetime.  A request lives in an IDR of its own, not in the connection:
 * its RECV_DONE (cookie: connection id << 32 | request id) finds it even
 * while the connection is being uploaded.  An upload (TERMINATE) fills
 * the posted request from buffered data and completes it before the
 * TERMINATE's CMD_DONE (spec TERMINATE step 4), so the bytes placed
 * precede the receive data the upload returns; an RST completes it with
 * REQUEST_ABORTED after EVT_TCP_ABORT; a peer FIN completes it (empty:
 * INVALID_STATE) before EVT_TCP_DISCONNECT.  Interface down, device reset
 * and module removal upload every connection first.  The DMA mappings
 * are undone in the completion, where the device is known to be alive
 * (the reader may run after the device's removal); the pages are
 * unpinned and dirtied by the reader, which may sleep.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

static unsigned int direct_min = 16384;
module_param(direct_min, uint, 0644);
MODULE_PARM_DESC(direct_min,
		 "smallest blocking read placed directly into the program's buffer (bytes; 0: never)");

/* Pages one request pins at most: 1 MiB with 4 KiB pages. */
#define CHIMNEY_DIRECT_PAGES		256u
/* How long a flushed request may take to complete before it is given up. */
#define CHIMNEY_DIRECT_FLUSH_WAIT	(30 * HZ)

struct chimney_dreq {
	u32 id;				/* chimney_dreq_idr; cookie low half */
	struct chimney_priv *priv;
	struct llist_node done_node;	/* priv->dreq_done */
	struct completion done;
	struct work_struct release_work;	/* abandoned, then completed */
	bool abandoned;			/* chimney_dreq_lock */
	u32 status;			/* RECV_DONE (or refused CMD_DONE) */
	u32 placed;			/* bytes the device placed */
	u32 len;			/* bytes of the buffer */
	u32 npages;
	u32 nsge;
	dma_addr_t sgl_dma;
	struct page *pages[CHIMNEY_DIRECT_PAGES];
	/* the list the device reads until the RECV_DONE (wire format) */
	ChimneyRecvSge sgl[CHIMNEY_RECV_SGL_MAX] ____cacheline_aligned;
};

static DEFINE_IDR(chimney_dreq_idr);
static DEFINE_SPINLOCK(chimney_dreq_lock);

static void chimney_dreq_free(struct chimney_dreq *r)
{
	if (r->npages)
		unpin_user_pages_dirty_lock(r->pages, r->npages, true);
	kfree(r);
}

/* An abandoned request completed after all: the device is done with it. */
static void chimney_dreq_release_workfn(struct work_struct *w)
{
	chimney_dreq_free(container_of(w, struct chimney_dreq, release_work));
}

/* Undo the DMA mappings (the pieces and the list), once. */
static void chimney_dreq_unmap(struct chimney_dreq *r)
{
	struct device *dev = r->priv->dev;
	u32 i;

	if (r->sgl_dma)
		dma_unmap_single(dev, r->sgl_dma, r->nsge * sizeof(r->sgl[0]),
				 DMA_TO_DEVICE);
	for (i = 0; i < r->nsge; i++)
		dma_unmap_page(dev, (dma_addr_t)le64_to_cpu(r->sgl[i].addr),
			       le32_to_cpu(r->sgl[i].len), DMA_FROM_DEVICE);
	r->sgl_dma = 0;
	r->nsge = 0;
}

/*
 * The end of request @id: its RECV_DONE, or the CMD_DONE of a RECV_POST
 * the device refused (no RECV_DONE follows then).  Any context.
 */
static void chimney_dreq_complete(u32 id, u32 status, u32 placed)
{
	struct chimney_dreq *r;
	bool abandoned;

	spin_lock_bh(&chimney_dreq_lock);
	r = idr_remove(&chimney_dreq_idr, id);
	spin_unlock_bh(&chimney_dreq_lock);
	if (!r)
		return;
	chimney_dreq_unmap(r);
	r->status = status;
	r->placed = min(placed, r->len);
	/* counted here: the reader may run after the device is gone */
	chimney_ofl_count(r->priv, CHIMNEY_OFL_RX_DIRECT_BYTES, r->placed);
	chimney_ofl_count(r->priv, CHIMNEY_OFL_BYTES_RCVD, r->placed);
	if (!r->placed && status != CHIMNEY_ST_SUCCESS &&
	    status != CHIMNEY_ST_INVALID_STATE &&
	    status != CHIMNEY_ST_UPLOAD_IN_PROGRESS &&
	    status != CHIMNEY_ST_REQUEST_ABORTED)
		net_warn_ratelimited("%s: direct RECV_POST %u: status %x\n",
				     netdev_name(r->priv->ndev), id, status);
	spin_lock_bh(&chimney_dreq_lock);
	abandoned = r->abandoned;
	if (!abandoned)
		llist_add(&r->done_node, &r->priv->dreq_done);
	spin_unlock_bh(&chimney_dreq_lock);
	if (abandoned)
		queue_work(chimney_wq, &r->release_work);
}

/*
 * Wake the readers of the requests completed since the last call: after
 * the whole event batch (NAPI poll, after chimney_drv_process_events()),
 * not at the RECV_DONE itself.  At the peer's FIN the device completes
 * the posted request and then posts EVT_TCP_DISCONNECT (spec "TCP
 * events"); a reader woken at the RECV_DONE could post its next request
 * before that event is processed, which the device refuses as a
 * RECV_POST on a closed receive side.  Woken after the batch, it finds
 * rx_eof set.  Also called after chimney_drv_fini(), which aborts the
 * requests not yet accepted.
 */
void chimney_direct_wake(struct chimney_priv *priv)
{
	struct chimney_dreq *r, *n;

	llist_for_each_entry_safe(r, n, llist_del_all(&priv->dreq_done),
				  done_node)
		complete(&r->done);
}

/* EVT_RECV_DONE of a direct request (cookie low half != 0). */
void chimney_direct_done(u64 cookie, u32 status, u32 info)
{
	chimney_dreq_complete((u32)cookie, status, info);
}

/* CMD_DONE of the RECV_POST: a refusal is the request's end. */
static void chimney_dreq_accepted(void *ctx, u32 status)
{
	if (status != CHIMNEY_ST_SUCCESS)
		chimney_dreq_complete((u32)(uintptr_t)ctx, status, 0);
}

/* The user buffer the iterator continues with: its first segment. */
static bool chimney_direct_useg(const struct iov_iter *it,
				unsigned long *addr, size_t *len)
{
	struct iovec v;

	if (iter_is_ubuf(it)) {
		*addr = (unsigned long)it->ubuf + it->iov_offset;
		*len = it->count;
		return true;
	}
	if (!iter_is_iovec(it) || !it->count)
		return false;
	v = iov_iter_iovec(it);
	*addr = (unsigned long)v.iov_base;
	*len = v.iov_len;
	return true;
}

/*
 * Pin up to @len bytes at @addr and describe them as at most
 * CHIMNEY_RECV_SGL_MAX pieces, physically contiguous pages in one piece,
 * each mapped for the device.  Returns the bytes described (0: none).
 */
static u32 chimney_dreq_build(struct chimney_dreq *r, unsigned long addr,
			      u32 len)
{
	struct device *dev = r->priv->dev;
	u32 off = offset_in_page(addr), i, n, used = 0;
	u16 first[CHIMNEY_RECV_SGL_MAX];
	u32 plen[CHIMNEY_RECV_SGL_MAX];
	int want, got;
	dma_addr_t dma;

	want = min_t(u32, DIV_ROUND_UP(off + len, PAGE_SIZE),
		     CHIMNEY_DIRECT_PAGES);
	got = pin_user_pages_fast(addr & PAGE_MASK, want, FOLL_WRITE,
				  r->pages);
	if (got <= 0)
		return 0;
	r->npages = got;
	len = min_t(u32, len, got * PAGE_SIZE - off);
	/* pieces: runs of physically contiguous pages */
	for (i = 0; i < (u32)got && used < len; i++) {
		n = min_t(u32, PAGE_SIZE - (i ? 0 : off), len - used);
		if (i && page_to_phys(r->pages[i]) ==
			 page_to_phys(r->pages[i - 1]) + PAGE_SIZE) {
			plen[r->nsge - 1] += n;
		} else {
			if (r->nsge == CHIMNEY_RECV_SGL_MAX)
				break;
			first[r->nsge] = i;
			plen[r->nsge++] = n;
		}
		used += n;
	}
	/* pages past the last piece are not needed */
	if (i < (u32)got) {
		unpin_user_pages(r->pages + i, got - i);
		r->npages = i;
	}
	for (i = 0; i < r->nsge; i++) {
		dma = dma_map_page(dev, r->pages[first[i]], i ? 0 : off,
				   plen[i], DMA_FROM_DEVICE);
		if (dma_mapping_error(dev, dma)) {
			r->nsge = i;
			chimney_dreq_unmap(r);
			return 0;
		}
		r->sgl[i].addr = cpu_to_le64(dma);
		r->sgl[i].len = cpu_to_le32(plen[i]);
		r->sgl[i].reserved = 0;
	}
	r->sgl_dma = dma_map_single(dev, r->sgl, r->nsge * sizeof(r->sgl[0]),
				    DMA_TO_DEVICE);
	if (dma_mapping_error(dev, r->sgl_dma)) {
		r->sgl_dma = 0;
		chimney_dreq_unmap(r);
		return 0;
	}
	r->len = used;
	return used;
}

/*
 * Whether a read of @len bytes with @flags is of the kind placed directly
 * once the receive queue is empty.
 */
bool chimney_direct_reader(struct chimney_conn *c, struct msghdr *msg,
			   size_t len, int flags, long timeo)
{
	return direct_min && len >= direct_min && timeo &&
	       (c->priv->cap_flags & CHIMNEY_CAP_RECV_SGL) &&
	       !(flags & (MSG_PEEK | MSG_OOB | MSG_TRUNC)) &&
	       user_backed_iter(&msg->msg_iter);
}

/* Whether a read of @len bytes with @flags may be placed directly now. */
bool chimney_direct_wanted(struct chimney_conn *c, struct msghdr *msg,
			   size_t len, int flags, long timeo)
{
	return chimney_direct_reader(c, msg, len, flags, timeo) &&
	       skb_queue_empty_lockless(&c->rq);
}

/*
 * Such a reader took data from the receive queue: what arrives next waits
 * in the device (on_indicate declines it) until the queue is empty and
 * the reader's next read posts a request for it.  Otherwise a reader that
 * once fell behind a fast peer would copy from the queue for the rest of
 * the stream, the queue never empty when it comes back.
 */
void chimney_direct_drain(struct chimney_conn *c)
{
	if (READ_ONCE(c->direct_recent))
		return;
	spin_lock_bh(&c->lock);
	c->direct_recent = true;
	spin_unlock_bh(&c->lock);
}

/* RECV_FLUSH (socket lock held, connection still the device's). */
static void chimney_direct_flush(struct chimney_conn *c)
{
	int err, tries = 0;

	if (READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED)
		return;		/* the upload's TERMINATE completes it */
	do {
		err = chimney_drv_recv_flush(&c->priv->drv, c->handle, NULL,
					     NULL);
		if (err == -EBUSY)
			usleep_range(100, 300);
	} while (err == -EBUSY && ++tries < 10000);
	if (err)
		netdev_warn(c->priv->ndev, "conn %u: RECV_FLUSH not queued: %d\n",
			    c->id, err);
	else
		chimney_ofl_count(c->priv, CHIMNEY_OFL_RX_DIRECT_FLUSH, 1);
}

/*
 * Wait for the request's end (socket lock held on entry and return,
 * released while waiting).  A signal or the receive timeout flushes it.
 * false: the device never answered and the request was abandoned.
 */
static bool chimney_direct_wait(struct chimney_conn *c, struct sock *sk,
				struct chimney_dreq *r, long *timeo)
{
	bool abandoned = false;
	long left;

	release_sock(sk);
	left = wait_for_completion_interruptible_timeout(&r->done, *timeo);
	lock_sock(sk);
	if (left > 0) {
		if (*timeo != MAX_SCHEDULE_TIMEOUT)
			*timeo = left;
		return true;
	}
	if (!left)
		*timeo = 0;		/* SO_RCVTIMEO: -EAGAIN if nothing came */
	if (completion_done(&r->done))
		return true;
	chimney_direct_flush(c);
	release_sock(sk);
	left = wait_for_completion_timeout(&r->done, CHIMNEY_DIRECT_FLUSH_WAIT);
	lock_sock(sk);
	if (left)
		return true;
	spin_lock_bh(&chimney_dreq_lock);
	if (idr_find(&chimney_dreq_idr, r->id) == r) {
		r->abandoned = true;
		abandoned = true;
	}
	spin_unlock_bh(&chimney_dreq_lock);
	if (!abandoned) {
		/* its completion is running: the device has answered */
		wait_for_completion(&r->done);
		return true;
	}
	WARN(1, "chimney_nic: conn %u: the device did not complete a flushed receive request\n",
	     c->id);
	return false;
}

/*
 * One direct read into @msg of at most @len bytes (socket lock held;
 * chimney_recvmsg checked chimney_direct_wanted()).  Returns the bytes
 * placed (the iterator advanced past them), 0 when nothing was placed
 * (the caller continues on the receive queue path, without another direct
 * read in the same call: the device answered INVALID_STATE at the peer's
 * FIN, the upload took the connection, a signal or the timeout ended the
 * wait, or no request could be posted), or an error.
 */
int chimney_direct_read(struct chimney_conn *c, struct sock *sk,
			struct msghdr *msg, size_t len, long *timeo)
{
	struct chimney_priv *priv = c->priv;
	unsigned long addr;
	size_t seg;
	struct chimney_dreq *r;
	bool posted = false;
	u32 status, placed;
	int id, err = 0;
	u16 hold = priv->cap_flags & CHIMNEY_CAP_RECV_HOLD ?
		   CHIMNEY_RECVF_HOLD : 0;

	if (!chimney_direct_useg(&msg->msg_iter, &addr, &seg))
		return 0;
	len = min3(len, seg, (size_t)S32_MAX);
	if (len < direct_min)
		return 0;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return 0;
	r->priv = priv;
	init_completion(&r->done);
	INIT_WORK(&r->release_work, chimney_dreq_release_workfn);
	if (chimney_dreq_build(r, addr, len) < direct_min)
		goto undo;

	idr_preload(GFP_KERNEL);
	spin_lock_bh(&chimney_dreq_lock);
	id = idr_alloc_cyclic(&chimney_dreq_idr, r, 1, INT_MAX, GFP_NOWAIT);
	spin_unlock_bh(&chimney_dreq_lock);
	idr_preload_end();
	if (id < 0)
		goto undo;
	r->id = id;

	/*
	 * Posted under the connection lock, with the receive queue empty:
	 * on_indicate (same lock) either queued its data before (then no
	 * request) or sees c->direct and takes nothing.
	 */
	spin_lock_bh(&c->lock);
	if (c->state == CHIMNEY_CONN_OFFLOADED && !c->direct && !c->rx_eof &&
	    !c->aborted && !c->retrieve && !c->err && skb_queue_empty(&c->rq)) {
		err = chimney_drv_recv_post(&priv->drv, c->handle, r->sgl_dma,
					    r->nsge, CHIMNEY_RECVF_SGL | hold,
					    (u64)c->id << 32 | (u32)id,
					    chimney_dreq_accepted,
					    (void *)(uintptr_t)id);
		posted = !err;
		if (posted) {
			c->direct = true;
			/* the device indicates again after this request */
			c->rx_suppressed = false;
		}
	}
	spin_unlock_bh(&c->lock);
	if (!posted) {
		spin_lock_bh(&chimney_dreq_lock);
		idr_remove(&chimney_dreq_idr, id);
		spin_unlock_bh(&chimney_dreq_lock);
		goto undo;
	}
	chimney_ofl_count(priv, CHIMNEY_OFL_RX_DIRECT_REQS, 1);

	if (!chimney_direct_wait(c, sk, r, timeo)) {
		/* the device may still write the buffer: the stream is lost */
		spin_lock_bh(&c->lock);
		c->direct = false;
		if (!c->err)
			c->err = EIO;
		spin_unlock_bh(&c->lock);
		return -EIO;
	}
	status = r->status;
	placed = r->placed;
	spin_lock_bh(&c->lock);
	c->direct = false;
	c->direct_recent = placed > 0;
	/* RECVF_HOLD: the device holds what comes next for the next read */
	if (hold && placed)
		c->rx_suppressed = true;
	c->bytes_rcvd += placed;
	spin_unlock_bh(&c->lock);
	chimney_dreq_free(r);
	iov_iter_advance(&msg->msg_iter, placed);
	if (placed)
		return placed;
	switch (status) {
	case CHIMNEY_ST_SUCCESS:		/* flushed empty */
	case CHIMNEY_ST_INVALID_STATE:		/* the peer's FIN */
	case CHIMNEY_ST_UPLOAD_IN_PROGRESS:	/* the kernel has it now */
		return 0;
	case CHIMNEY_ST_REQUEST_ABORTED:
		/* an RST (after EVT_TCP_ABORT), or the command path went down */
		if (READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED)
			return 0;
		return -(READ_ONCE(c->err) ?: ECONNRESET);
	default:		/* refused or DMA_ERROR: logged at completion */
		return 0;
	}

undo:
	chimney_dreq_unmap(r);
	chimney_dreq_free(r);
	return 0;
}

/*
 * The reader goes another way than a direct read (it waits on the queue,
 * returns EAGAIN, polls): indications declined for its next request
 * resume (a zero-length RECV_POST when the device holds back data).
 */
void chimney_direct_leave(struct chimney_conn *c, struct sock *sk)
{
	if (!READ_ONCE(c->direct_recent))
		return;
	spin_lock_bh(&c->lock);
	c->direct_recent = false;
	spin_unlock_bh(&c->lock);
	chimney_rx_resume(c, sk);
}

/*
 * Module exit: requests abandoned by their readers whose completion never
 * came.  The device was reset when its driver was removed: nothing writes
 * the pages any more.
 */
void chimney_direct_exit(void)
{
	struct chimney_dreq *r;
	int id;

	idr_for_each_entry(&chimney_dreq_idr, r, id) {
		pr_warn("receive request %d abandoned by its reader: released\n",
			id);
		chimney_dreq_free(r);
	}
	idr_destroy(&chimney_dreq_idr);
}
