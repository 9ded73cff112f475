// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: the offloaded socket's protocol: sendmsg (SEND), recvmsg and
 * poll (indications), ioctl, shutdown, close.  The SEND requests
 * themselves and sendpage: chimney_ofl_tx.c.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

/* ---- The offloaded socket's protocol ------------------------------------ */

struct proto chimney_prot;
struct proto_ops chimney_stream_ops;

u32 chimney_snd_budget(struct sock *sk)
{
	u32 sndbuf = READ_ONCE(sk->sk_sndbuf);

	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK)
		return sndbuf;
	return max(sndbuf, CHIMNEY_SND_MIN_BUDGET);
}

u32 chimney_rq_limit(struct sock *sk)
{
	return max_t(u32, READ_ONCE(sk->sk_rcvbuf), CHIMNEY_RQ_MIN);
}

static int chimney_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	struct chimney_conn *c;
	struct chimney_sreq *r;
	int flags = msg->msg_flags;
	size_t copied = 0;
	long timeo;
	int err = 0, ret;
	u32 space;

	lock_sock(sk);
	c = chimney_sk_conn(sk);
	if (!c) {
		release_sock(sk);
		return tcp_sendmsg(sk, msg, size);
	}
	refcount_inc(&c->ref);
	if (flags & MSG_OOB)		/* urgent data is the host's */
		chimney_upload_locked(c, false);
	timeo = sock_sndtimeo(sk, flags & MSG_DONTWAIT);

	while (msg_data_left(msg)) {
		/* SEND requests: chimney_ofl_tx.c */
		ret = chimney_send_room(c, sk, &timeo, &space);
		if (ret > 0) {
			/* uploaded meanwhile: the kernel takes the rest */
			ret = tcp_sendmsg_locked(sk, msg, msg_data_left(msg));
			if (ret < 0 && !copied)
				err = ret;
			else if (ret > 0)
				copied += ret;
			goto out;
		}
		if (ret < 0) {
			err = ret;
			goto out;
		}
		r = chimney_sreq_get(c, min_t(size_t, msg_data_left(msg),
					      space));
		if (!r) {
			err = -ENOBUFS;
			goto out;
		}
		if (!copy_from_iter_full(r->buf, r->len, &msg->msg_iter)) {
			chimney_sreq_free(r);
			err = -EFAULT;
			goto out;
		}
		if (chimney_sreq_map(r)) {
			chimney_sreq_free(r);
			err = -ENOBUFS;
			goto out;
		}
		copied += r->len;
		chimney_send_submit(c, r, !msg_data_left(msg) &&
				    !(flags & MSG_MORE));
	}
out:
	release_sock(sk);
	chimney_conn_put(c);
	if (copied)
		return copied;
	return sk_stream_error(sk, flags, err);
}

static bool chimney_rx_ready(struct chimney_conn *c)
{
	return !skb_queue_empty_lockless(&c->rq) || READ_ONCE(c->rx_eof) ||
	       READ_ONCE(c->err) || READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED;
}

/* Zero-length RECV_POST: the device indicates again after a partial take. */
void chimney_rx_resume(struct chimney_conn *c, struct sock *sk)
{
	bool post;

	spin_lock_bh(&c->lock);
	post = c->rx_suppressed && c->state == CHIMNEY_CONN_OFFLOADED &&
	       c->rq_bytes < chimney_rq_limit(sk) / 2;
	if (post)
		c->rx_suppressed = false;
	spin_unlock_bh(&c->lock);
	if (post && chimney_drv_recv_post(&c->priv->drv, c->handle, 0, 0, 0,
					  (u64)c->id << 32, NULL, NULL)) {
		spin_lock_bh(&c->lock);
		c->rx_suppressed = true;
		spin_unlock_bh(&c->lock);
	}
}

/* Copy up to @len unread bytes; socket lock held (the only consumer). */
static int chimney_rq_copy(struct chimney_conn *c, struct msghdr *msg,
			   size_t len, bool peek)
{
	struct sk_buff *skb;
	u32 off, n, peek_off = 0;
	int copied = 0, err;

	while (copied < len) {
		spin_lock_bh(&c->lock);
		skb = skb_peek(&c->rq);
		off = 0;
		while (skb && peek) {
			off = CHIMNEY_RXCB(skb)->off + peek_off;
			if (off < skb->len)
				break;
			peek_off -= skb->len - CHIMNEY_RXCB(skb)->off;
			skb = skb_peek_next(skb, &c->rq);
		}
		if (skb && !peek)
			off = CHIMNEY_RXCB(skb)->off;
		spin_unlock_bh(&c->lock);
		if (!skb)
			break;
		n = min_t(size_t, skb->len - off, len - copied);
		err = skb_copy_datagram_msg(skb, off, msg, n);
		if (err)
			return copied ? copied : err;
		copied += n;
		if (peek) {
			peek_off += n;
			continue;
		}
		spin_lock_bh(&c->lock);
		CHIMNEY_RXCB(skb)->off += n;
		c->rq_bytes -= n;
		if (CHIMNEY_RXCB(skb)->off >= skb->len)
			__skb_unlink(skb, &c->rq);
		else
			skb = NULL;
		spin_unlock_bh(&c->lock);
		kfree_skb(skb);
	}
	return copied;
}

static int chimney_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
			   int flags, int *addr_len)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct chimney_conn *c;
	int copied = 0, n, target;
	bool direct = true;
	long timeo;

	if (flags & MSG_ERRQUEUE)
		return inet_recv_error(sk, msg, len, addr_len);
	lock_sock(sk);
	c = chimney_sk_conn(sk);
	if (!c) {
		release_sock(sk);
		return tcp_recvmsg(sk, msg, len, flags, addr_len);
	}
	refcount_inc(&c->ref);
	if (flags & MSG_OOB) {
		copied = -EINVAL;
		goto out;
	}
	timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
	target = sock_rcvlowat(sk, flags & MSG_WAITALL, len);

	for (;;) {
		n = chimney_rq_copy(c, msg, len - copied, flags & MSG_PEEK);
		if (n < 0) {
			if (!copied)
				copied = n;
			break;
		}
		copied += n;
		if (n && !(flags & MSG_PEEK)) {
			/* a direct reader drains the queue, then reads directly */
			if (direct && chimney_direct_reader(c, msg, len, flags,
							    timeo))
				chimney_direct_drain(c);
			else
				chimney_rx_resume(c, sk);
		}
		if (copied >= target || (flags & MSG_PEEK && copied))
			break;
		if (READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED &&
		    skb_queue_empty_lockless(&c->rq)) {
			/*
			 * Uploaded meanwhile: the kernel has the rest, and a
			 * read that wants more (MSG_WAITALL, SO_RCVLOWAT) goes
			 * on there instead of returning short.
			 */
			if (copied < target) {
				release_sock(sk);
				chimney_conn_put(c);
				n = tcp_recvmsg(sk, msg, len - copied, flags,
						addr_len);
				if (n < 0)
					return copied ? copied : n;
				return copied + n;
			}
			break;
		}
		if (READ_ONCE(c->rx_eof) || (sk->sk_shutdown & RCV_SHUTDOWN))
			break;
		if (READ_ONCE(c->err)) {
			if (!copied)
				copied = -READ_ONCE(c->err);
			break;
		}
		if (copied && !(flags & MSG_WAITALL))
			break;
		if (!timeo) {
			chimney_direct_leave(c, sk);
			if (!copied)
				copied = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			if (!copied)
				copied = sock_intr_errno(timeo);
			break;
		}
		if (direct && chimney_direct_wanted(c, msg, len - copied, flags,
						    timeo)) {
			/* the device places the data (chimney_ofl_direct.c) */
			n = chimney_direct_read(c, sk, msg, len - copied, &timeo);
			if (n < 0) {
				if (!copied)
					copied = n;
				break;
			}
			/* once per call when nothing came: then the queue */
			direct = n > 0;
			copied += n;
			/*
			 * Nothing placed: let the device indicate again.  Else
			 * what it holds back goes into the next direct read
			 * (chimney_direct_leave() if there is none).
			 */
			if (!READ_ONCE(c->direct_recent))
				chimney_rx_resume(c, sk);
			continue;
		}
		/* waiting for queued data: indications must flow */
		chimney_direct_leave(c, sk);
		add_wait_queue(sk_sleep(sk), &wait);
		sk_wait_event(sk, &timeo, chimney_rx_ready(c), &wait);
		remove_wait_queue(sk_sleep(sk), &wait);
	}
out:
	release_sock(sk);
	chimney_conn_put(c);
	return copied;
}

static __poll_t chimney_poll(struct file *file, struct socket *sock,
			     poll_table *wait)
{
	struct sock *sk = sock->sk;
	struct chimney_conn *c;
	__poll_t mask = 0;
	bool ours;

	rcu_read_lock();
	c = chimney_sk_conn(sk);
	ours = c && READ_ONCE(c->state) == CHIMNEY_CONN_OFFLOADED;
	rcu_read_unlock();
	if (!ours)
		return tcp_poll(file, sock, wait);

	sock_poll_wait(file, sock, wait);
	rcu_read_lock();
	c = chimney_sk_conn(sk);
	if (!c || READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED) {
		/* uploaded in between: look again */
		rcu_read_unlock();
		return EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM;
	}
	if (!skb_queue_empty_lockless(&c->rq))
		mask |= EPOLLIN | EPOLLRDNORM;
	else if (READ_ONCE(c->direct_recent))
		/* a poller waits for indications (chimney_ofl_direct.c) */
		chimney_direct_leave(c, sk);
	if (READ_ONCE(c->rx_eof) || (sk->sk_shutdown & RCV_SHUTDOWN))
		mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
	if (!(sk->sk_shutdown & SEND_SHUTDOWN)) {
		if (READ_ONCE(c->inflight) < chimney_snd_budget(sk) &&
		    !READ_ONCE(c->retrieve))
			mask |= EPOLLOUT | EPOLLWRNORM;
		else
			set_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
	} else {
		mask |= EPOLLOUT | EPOLLWRNORM;	/* as tcp_poll: EPIPE */
	}
	if (sk->sk_shutdown == SHUTDOWN_MASK)
		mask |= EPOLLHUP;
	if (READ_ONCE(c->err))
		mask |= EPOLLERR | EPOLLHUP | EPOLLIN | EPOLLRDNORM;
	rcu_read_unlock();
	return mask;
}

/* CMD_DONE of a DISCONNECT: refused, the host stack closes after an upload. */
static void chimney_disc_accepted(void *ctx, u32 status)
{
	struct chimney_conn *c = ctx;

	if (status != CHIMNEY_ST_SUCCESS) {
		netdev_dbg(c->priv->ndev, "conn %u: DISCONNECT refused: %x\n",
			   c->id, status);
		spin_lock_bh(&c->lock);
		c->disc_sent = false;
		spin_unlock_bh(&c->lock);
		chimney_queue_upload(c);
	}
	chimney_conn_put(c);
}

static bool disc_rcv_closed = true;
module_param(disc_rcv_closed, bool, 0644);
MODULE_PARM_DESC(disc_rcv_closed,
		 "close() closes the device's receive side too (DISC_RCV_CLOSED, where the device has it); 0, or no such device: close() uploads the connection and the kernel closes it. Either way data after close() gets its RST unacknowledged");

/* Can the device close the receive side (DISC_RCV_CLOSED)? */
static bool chimney_rcv_closable(struct chimney_conn *c)
{
	return (c->priv->cap_flags & CHIMNEY_CAP_DISC_RCV_CLOSED) &&
	       READ_ONCE(disc_rcv_closed);
}

/* CMD_DONE of a receive-side DISCONNECT: nothing follows it. */
static void chimney_rcv_closed_done(void *ctx, u32 status)
{
	struct chimney_conn *c = ctx;

	if (status != CHIMNEY_ST_SUCCESS)
		netdev_dbg(c->priv->ndev, "conn %u: receive-side DISCONNECT refused: %x\n",
			   c->id, status);
	chimney_conn_put(c);
}

/*
 * Queue a DISCONNECT with @flags; @done gets its CMD_DONE and the
 * reference taken here.  A full command ring is waited out (bounded).
 */
static int chimney_disc_submit(struct chimney_conn *c, u16 flags,
			       chimney_drv_cmd_done_fn done)
{
	int err, tries = 0;

	refcount_inc(&c->ref);
	do {
		err = chimney_drv_disconnect(&c->priv->drv, c->handle, 0, 0,
					     flags, (u64)c->id << 32, done, c);
		if (err == -EBUSY)
			usleep_range(100, 300);
	} while (err == -EBUSY && ++tries < 10000);
	if (err)
		chimney_conn_put(c);
	return err;
}

/*
 * Submit a DISCONNECT (spec DISCONNECT; socket lock held) with @flags.
 * Graceful: the device sends a FIN after the queued SEND data, the
 * receive side stays open unless CHIMNEY_DISC_RCV_CLOSED says nobody
 * reads any more (close(): new data then resets the connection, as
 * tcp_rcv_state_process() does for an orphan); once only.  Abortive: an
 * RST, every SEND aborted.  0: queued (its acceptance comes later; a
 * refusal uploads the connection and the host stack closes it).
 */
int chimney_disconnect(struct chimney_conn *c, u16 flags)
{
	bool abortive = flags & CHIMNEY_DISC_ABORTIVE, rcv_only;
	int err;

	if (!chimney_rcv_closable(c))
		flags &= ~CHIMNEY_DISC_RCV_CLOSED;
	spin_lock_bh(&c->lock);
	if (c->state != CHIMNEY_CONN_OFFLOADED || c->aborted || c->retrieve ||
	    (!abortive && c->disc_sent)) {
		err = c->disc_sent && !abortive ? 0 : -ESHUTDOWN;
		/* the FIN went at shutdown(): close() shuts reception now */
		rcv_only = !err && (flags & CHIMNEY_DISC_RCV_CLOSED) &&
			   c->state == CHIMNEY_CONN_OFFLOADED && !c->aborted &&
			   !c->retrieve;
		spin_unlock_bh(&c->lock);
		/*
		 * close() after shutdown(SHUT_WR): the receive side alone
		 * (DISC_RCV_CLOSED without DISC_GRACEFUL); if the device
		 * cannot take it, on_indicate resets on late data.
		 */
		if (rcv_only)
			chimney_disc_submit(c, CHIMNEY_DISC_RCV_CLOSED,
					    chimney_rcv_closed_done);
		return err;
	}
	if (!abortive)
		c->disc_sent = true;
	spin_unlock_bh(&c->lock);
	err = chimney_disc_submit(c, flags, chimney_disc_accepted);
	if (err && !abortive) {
		spin_lock_bh(&c->lock);
		c->disc_sent = false;
		spin_unlock_bh(&c->lock);
	}
	return err;
}

static bool chimney_disc_finished(struct chimney_conn *c)
{
	return READ_ONCE(c->disc_done) || !READ_ONCE(c->disc_sent) ||
	       READ_ONCE(c->err) || READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED;
}

/*
 * close() of an offloaded socket, as tcp_close() would: unread data or
 * SO_LINGER 0 reset the connection (abortive DISCONNECT); otherwise a
 * graceful DISCONNECT, SO_LINGER waits for the FIN's acknowledgment, and
 * the socket is orphaned while the device finishes (the receive side
 * closed with it, DISC_RCV_CLOSED: the device resets the connection when
 * new data comes, before acknowledging a byte of it: EVT_TCP_ABORT); the
 * device's upload request (TIME_WAIT, CLOSED, FIN_WAIT_2 timeout) hands
 * it back and tcp_close() ends it then (chimney_upload_sock()).  After a
 * direct read the device may hold data back for the next one
 * (chimney_ofl_direct.c): unread too, but only the upload tells how much,
 * so the connection is uploaded and tcp_close() decides (a reset if the
 * upload returned receive data, the FIN otherwise).  So is a connection
 * whose device cannot close the receive side (no
 * CHIMNEY_CAP_DISC_RCV_CLOSED, or disc_rcv_closed=0): the device would
 * acknowledge late data before the driver could reset, the kernel
 * answers it with an RST alone (RFC 1122 4.2.2.13).
 */
static void chimney_close(struct sock *sk, long timeout)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct chimney_conn *c;
	bool abortive, held;

	lock_sock(sk);
	c = chimney_sk_conn(sk);
	if (!c) {
		release_sock(sk);
		tcp_close(sk, timeout);
		return;
	}
	refcount_inc(&c->ref);
	WRITE_ONCE(sk->sk_shutdown, SHUTDOWN_MASK);
	abortive = READ_ONCE(c->rq_bytes) ||
		   (sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime);
	held = READ_ONCE(c->direct_recent) || !chimney_rcv_closable(c);
	if (!abortive && !held &&
	    !chimney_disconnect(c, CHIMNEY_DISC_GRACEFUL |
				CHIMNEY_DISC_RCV_CLOSED)) {
		if (timeout && !chimney_disc_finished(c)) {
			add_wait_queue(sk_sleep(sk), &wait);
			/* woken for anything else: wait on (sk_stream_wait_close) */
			while (!sk_wait_event(sk, &timeout,
					      chimney_disc_finished(c), &wait) &&
			       timeout && !signal_pending(current))
				;
			remove_wait_queue(sk_sleep(sk), &wait);
		}
		if (chimney_sk_conn(sk) == c) {
			/* the fd's reference stays until tcp_close() */
			spin_lock_bh(&c->lock);
			c->closed = true;
			c->close_pending = true;
			spin_unlock_bh(&c->lock);
			sock_orphan(sk);
			release_sock(sk);
			chimney_conn_put(c);
			return;
		}
	}
	/*
	 * Abortive (the device's RST; the upload then finds it CLOSED), data
	 * possibly held back, a receive side the device cannot close, or no
	 * DISCONNECT possible: upload, the host stack closes.
	 */
	if (abortive)
		chimney_disconnect(c, CHIMNEY_DISC_ABORTIVE);
	if (chimney_sk_conn(sk) == c && chimney_upload_locked(c, false)) {
		/* the device keeps it; its end comes with the device's */
		pr_err("close: upload failed, the connection stays offloaded\n");
		release_sock(sk);
		chimney_conn_put(c);
		return;
	}
	release_sock(sk);
	chimney_conn_put(c);
	tcp_close(sk, timeout);
}

/*
 * inet_shutdown (socket lock held, sk_shutdown already updated):
 * SHUT_WR is a graceful DISCONNECT; reception goes on.  If the device
 * cannot take it, the upload gives the socket back with SEND_SHUTDOWN set
 * and the host stack sends the FIN (chimney_restore()).
 */
static void chimney_shutdown(struct sock *sk, int how)
{
	struct chimney_conn *c = chimney_sk_conn(sk);

	if (!c) {
		tcp_shutdown(sk, how);
		return;
	}
	if (!(how & SEND_SHUTDOWN))
		return;		/* SHUT_RD: tcp_shutdown() does nothing either */
	if (chimney_disconnect(c, CHIMNEY_DISC_GRACEFUL))
		chimney_upload_locked(c, false);
}

static int chimney_ioctl(struct sock *sk, int cmd, unsigned long arg)
{
	struct chimney_conn *c;
	int answ;

	lock_sock(sk);
	c = chimney_sk_conn(sk);
	if (!c) {
		release_sock(sk);
		return tcp_ioctl(sk, cmd, arg);
	}
	switch (cmd) {
	case SIOCINQ:
		/*
		 * Data held back for a direct read is not counted: let the
		 * device indicate it, a later SIOCINQ or poll() sees it.
		 */
		if (skb_queue_empty_lockless(&c->rq))
			chimney_direct_leave(c, sk);
		answ = READ_ONCE(c->rq_bytes);
		break;
	case SIOCOUTQ:
	case SIOCOUTQNSD:
		answ = READ_ONCE(c->inflight);
		break;
	default:
		release_sock(sk);
		return -ENOIOCTLCMD;
	}
	release_sock(sk);
	return put_user(answ, (int __user *)arg);
}

/*
 * A thread that entered the kernel's tcp_sendmsg() before the offload
 * (it read sk_prot before the swap and waited for the socket lock) must
 * not queue data on the kernel's side: it finds no room (a non-blocking
 * caller gets EAGAIN and comes back through chimney_sendmsg, a blocking
 * one waits until the upload gives the socket back).
 */
static bool chimney_stream_memory_free(const struct sock *sk, int wake)
{
	return false;
}

static void chimney_keepalive(struct sock *sk, int valbool)
{
	struct chimney_conn *c = chimney_sk_conn(sk);

	/* applied at upload (the device keeps the offloaded setting) */
	if (c)
		WRITE_ONCE(c->keepopen, valbool);
}

/* ---- The ULP ------------------------------------------------------------ */

struct tcp_ulp_ops chimney_ulp_ops = {
	.name	= CHIMNEY_ULP_NAME,
	.owner	= THIS_MODULE,
	.init	= chimney_offload,
};

/* The kernel's TCP with the offloaded socket's operations on top. */
void chimney_ofl_sock_init(void)
{
	chimney_prot = tcp_prot;
	chimney_prot.close = chimney_close;
	chimney_prot.shutdown = chimney_shutdown;
	chimney_prot.sendmsg = chimney_sendmsg;
	chimney_prot.recvmsg = chimney_recvmsg;
	chimney_prot.sendpage = chimney_sendpage;	/* no copy */
	chimney_prot.ioctl = chimney_ioctl;
	chimney_prot.keepalive = chimney_keepalive;
	chimney_prot.stream_memory_free = chimney_stream_memory_free;
	chimney_stream_ops = inet_stream_ops;
	chimney_stream_ops.poll = chimney_poll;
	chimney_stream_ops.splice_read = NULL;	/* generic: read_iter */
	chimney_stream_ops.read_sock = NULL;
	chimney_stream_ops.mmap = sock_no_mmap;
}
