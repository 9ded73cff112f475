// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: SEND requests of an offloaded socket: room in the send
 * budget, submission (shared by sendmsg and sendpage), and sendpage
 * (sendfile, splice) without a copy.
 *
 * sendmsg copies the caller's bytes into a request buffer, as
 * tcp_sendmsg copies into skbs.  sendpage does not: the request is the
 * page itself, referenced and mapped for the device until SEND_DONE (spec
 * SEND: the device reads the data by DMA for every segment and every
 * retransmission until then), or until an upload hands the bytes back to
 * the kernel's write queue (chimney_ofl_upload.c copies them from the
 * request, then frees it).  Like the kernel's TCP (tcp_sendpage), the
 * page's contents are sent as they are when the device reads them.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

/* CMD_DONE of a SEND: accepted, or refused (the data goes back at upload). */
static void chimney_send_accepted(void *ctx, u32 status)
{
	struct chimney_sreq *r = ctx;
	struct chimney_conn *c = r->conn;
	bool refused;

	spin_lock_bh(&c->lock);
	refused = status != CHIMNEY_ST_SUCCESS;
	r->state = refused ? CHIMNEY_SREQ_NEW : CHIMNEY_SREQ_ACCEPTED;
	spin_unlock_bh(&c->lock);
	if (refused) {
		netdev_dbg(c->priv->ndev, "SEND refused: %x\n", status);
		chimney_queue_upload(c);
	}
}

static bool chimney_can_send(struct chimney_conn *c, struct sock *sk)
{
	return READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED ||
	       READ_ONCE(c->err) || READ_ONCE(c->retrieve) ||
	       READ_ONCE(c->inflight) < chimney_snd_budget(sk);
}

/*
 * Wait (socket lock held, as sk_stream_wait_memory) until the send budget
 * has room: 0 and *@space bytes of room; 1 when the connection is no
 * longer offloaded (the kernel's TCP takes the rest); else -errno.
 */
int chimney_send_room(struct chimney_conn *c, struct sock *sk, long *timeo,
		      u32 *space)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	u32 room;

	for (;;) {
		if (READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED)
			return 1;
		if (READ_ONCE(c->err))
			return -READ_ONCE(c->err);
		if (sk->sk_shutdown & SEND_SHUTDOWN)
			return -EPIPE;
		room = chimney_snd_budget(sk);
		room = room > c->inflight ? room - c->inflight : 0;
		if (room && !READ_ONCE(c->retrieve)) {
			*space = room;
			return 0;
		}
		if (!*timeo)
			return -EAGAIN;
		if (signal_pending(current))
			return sock_intr_errno(*timeo);
		set_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
		add_wait_queue(sk_sleep(sk), &wait);
		sk_wait_event(sk, timeo, chimney_can_send(c, sk) &&
			      !READ_ONCE(c->retrieve), &wait);
		remove_wait_queue(sk_sleep(sk), &wait);
	}
}

/*
 * Queue @r (mapped) on the connection and submit its SEND (socket lock
 * held).  Accepted or not, the data is the connection's now: a request
 * the device did not take goes back to the kernel at upload.
 */
void chimney_send_submit(struct chimney_conn *c, struct chimney_sreq *r,
			 bool push)
{
	int ret, tries = 0;

	spin_lock_bh(&c->lock);
	r->cookie = (u64)c->id << 32 | c->send_seq++;
	r->state = CHIMNEY_SREQ_SUBMITTED;
	list_add_tail(&r->node, &c->sreqs);
	c->inflight += r->len;
	spin_unlock_bh(&c->lock);
	do {
		ret = chimney_drv_send(&c->priv->drv, c->handle, r->dma, r->len,
				       push ? CHIMNEY_SENDF_PUSH : 0, r->cookie,
				       chimney_send_accepted, r);
		if (ret == -EBUSY)
			usleep_range(100, 300);
	} while (ret == -EBUSY && ++tries < 10000);
	if (!ret) {
		chimney_ofl_count(c->priv, CHIMNEY_OFL_SENDS, 1);
		return;
	}
	spin_lock_bh(&c->lock);
	r->state = CHIMNEY_SREQ_NEW;
	spin_unlock_bh(&c->lock);
	chimney_upload_locked(c, false);
}

/* A request whose buffer is @len bytes of @page at @off (a reference). */
static struct chimney_sreq *chimney_sreq_page(struct chimney_conn *c,
					      struct page *page, int off,
					      u32 len)
{
	struct device *dev = c->priv->dev;
	struct chimney_sreq *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	r->dma = dma_map_page(dev, page, off, len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, r->dma)) {
		kfree(r);
		return NULL;
	}
	get_page(page);
	r->page = page;
	/* the upload copies the bytes back from here (no highmem: below) */
	r->buf = page_address(page) + off;
	r->conn = c;
	r->len = len;
	r->cap = len;
	return r;
}

/*
 * proto.sendpage (sendfile, splice to the socket): the page becomes the
 * SEND request, no copy; PUSH on the last one unless more follows
 * (MSG_MORE, MSG_SENDPAGE_NOTLAST), as tcp_sendpage pushes.
 */
int chimney_sendpage(struct sock *sk, struct page *page, int offset,
		     size_t size, int flags)
{
	struct chimney_conn *c;
	struct chimney_sreq *r;
	size_t sent = 0;
	int err = 0, ret;
	long timeo;
	u32 space, n;

	if (PageHighMem(page))		/* no kernel address for the upload */
		return sock_no_sendpage(sk->sk_socket, page, offset, size,
					flags);
	lock_sock(sk);
	c = chimney_sk_conn(sk);
	if (!c) {
		release_sock(sk);
		return tcp_sendpage(sk, page, offset, size, flags);
	}
	refcount_inc(&c->ref);
	timeo = sock_sndtimeo(sk, flags & MSG_DONTWAIT);
	while (sent < size) {
		ret = chimney_send_room(c, sk, &timeo, &space);
		if (ret > 0) {
			/* uploaded meanwhile: the kernel takes the rest */
			ret = tcp_sendpage_locked(sk, page, offset + sent,
						  size - sent, flags);
			if (ret < 0 && !sent)
				err = ret;
			else if (ret > 0)
				sent += ret;
			break;
		}
		if (ret < 0) {
			err = ret;
			break;
		}
		n = min_t(size_t, size - sent, space);
		r = chimney_sreq_page(c, page, offset + sent, n);
		if (!r) {
			err = -ENOBUFS;
			break;
		}
		sent += n;
		chimney_ofl_count(c->priv, CHIMNEY_OFL_TX_ZC_BYTES, n);
		chimney_send_submit(c, r, sent == size &&
				    !(flags & (MSG_MORE | MSG_SENDPAGE_NOTLAST)));
	}
	release_sock(sk);
	chimney_conn_put(c);
	if (sent)
		return sent;
	return sk_stream_error(sk, flags, err);
}
