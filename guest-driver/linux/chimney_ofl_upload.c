// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: upload (CMD_TERMINATE with delegated state) and the rebuild of
 * the kernel socket from what the device returns.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

/* ---- Upload ------------------------------------------------------------- */

/* Append @skb (payload only) to the kernel's receive queue at *@seq. */
static void chimney_rcvq_add(struct sock *sk, struct sk_buff *skb, u32 *seq,
			     bool fin)
{
	memset(skb->cb, 0, sizeof(skb->cb));
	TCP_SKB_CB(skb)->seq = *seq;
	TCP_SKB_CB(skb)->end_seq = *seq + skb->len + (fin ? 1 : 0);
	if (fin)
		TCP_SKB_CB(skb)->tcp_flags = TCPHDR_FIN | TCPHDR_ACK;
	*seq = TCP_SKB_CB(skb)->end_seq;
	/* forced: the data was acknowledged long ago */
	__sk_mem_schedule(sk, skb->truesize, SK_MEM_RECV);
	skb_set_owner_r(skb, sk);
	__skb_queue_tail(&sk->sk_receive_queue, skb);
}

static int chimney_rcvq_add_data(struct sock *sk, const u8 *data, u32 len,
				 u32 *seq)
{
	struct sk_buff *skb;
	u32 n;

	while (len) {
		n = min_t(u32, len, SKB_MAX_ORDER(0, 2));
		skb = alloc_skb(n, GFP_KERNEL);
		if (!skb)
			return -ENOMEM;
		skb_put_data(skb, data, n);
		chimney_rcvq_add(sk, skb, seq, false);
		data += n;
		len -= n;
	}
	return 0;
}

static int chimney_sendmsg_kvec(struct sock *sk, struct kvec *kv, size_t nkv,
				size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	int ret;

	if (!len)
		return 0;
	iov_iter_kvec(&msg.msg_iter, WRITE, kv, nkv, len);
	ret = tcp_sendmsg_locked(sk, &msg, len);
	if (ret != (int)len) {
		pr_err("upload: %zu bytes of send data back to the socket, %d taken\n",
		       len, ret);
		return ret < 0 ? ret : -ENOBUFS;
	}
	return 0;
}

/*
 * The connection's send side is closed and our FIN acknowledged
 * (FIN_WAIT_2, TIME_WAIT) or the connection is over (CLOSED: reset,
 * aborted, LAST_ACK done, FIN_WAIT_2 timeout).  Sequence numbers and the
 * receive queue are restored already.  An orphan (closed while offloaded)
 * ends in tcp_close() after the upload, unless it goes to TIME_WAIT here.
 */
static void chimney_restore_closed(struct chimney_conn *c, u32 st)
{
	struct sock *sk = c->sk;
	int err = 0;

	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | SEND_SHUTDOWN);
	switch (st) {
	case CHIMNEY_TCPS_FIN_WAIT_2:
		/* the peer's FIN comes to the kernel (tcp_fin: TIME_WAIT) */
		tcp_set_state(sk, TCP_FIN_WAIT2);
		return;
	case CHIMNEY_TCPS_TIME_WAIT:
		if (c->close_pending && c->want_abort) {
			/* late data: chimney_upload_sock() resets it */
			tcp_set_state(sk, TCP_FIN_WAIT2);
			return;
		}
		if (c->close_pending) {
			/* __tcp_close()'s orphan accounting, then TIME_WAIT */
			c->close_pending = false;
			this_cpu_inc(tcp_orphan_count);
			sock_set_flag(sk, SOCK_DEAD);
		}
		tcp_time_wait(sk, TCP_TIME_WAIT, 0);
		return;
	default:
		break;
	}
	spin_lock_bh(&c->lock);
	if (c->aborted)
		err = ECONNRESET;
	else if (!c->closed && !(c->disc_done &&
				 c->disc_status == CHIMNEY_ST_SUCCESS))
		err = c->retrieve_why == CHIMNEY_UPLOAD_TIMEOUT ? ETIMEDOUT :
								    EPIPE;
	spin_unlock_bh(&c->lock);
	if (c->close_pending) {
		tcp_set_state(sk, TCP_CLOSE);	/* tcp_close() destroys it */
		return;
	}
	if (err) {
		sk->sk_err = err;
		sk_error_report(sk);
	}
	tcp_done(sk);
}

/*
 * Rebuild the kernel socket from the delegated state @d the device gave
 * back, its send list @sl (@nsl entries) and receive data @rd (@rlen).
 * Socket lock held; the connection is no longer the device's.
 */
static void chimney_restore(struct chimney_conn *c, const ChimneyTcpDelegated *d,
			    const ChimneySendBuf *sl, u32 nsl, const u8 *rd,
			    u32 rlen)
{
	struct sock *sk = c->sk;
	struct tcp_sock *tp = tcp_sk(sk);
	struct inet_connection_sock *icsk = inet_csk(sk);
	u32 st = d->state;
	/* the peer's FIN is in rcv_nxt */
	bool fin = st == CHIMNEY_TCPS_CLOSE_WAIT || st == CHIMNEY_TCPS_CLOSING ||
		   st == CHIMNEY_TCPS_LAST_ACK || st == CHIMNEY_TCPS_TIME_WAIT ||
		   (st == CHIMNEY_TCPS_CLOSED && c->rx_eof && !c->aborted);
	/* the send side is open, or closed with our FIN not yet acknowledged */
	bool sending = st == CHIMNEY_TCPS_ESTABLISHED ||
		       st == CHIMNEY_TCPS_CLOSE_WAIT ||
		       st == CHIMNEY_TCPS_FIN_WAIT_1 ||
		       st == CHIMNEY_TCPS_CLOSING || st == CHIMNEY_TCPS_LAST_ACK;
	bool fin_sent = st == CHIMNEY_TCPS_FIN_WAIT_1 ||
			st == CHIMNEY_TCPS_CLOSING || st == CHIMNEY_TCPS_LAST_ACK;
	struct sk_buff_head rq;
	struct chimney_sreq *r;
	struct sk_buff *skb;
	struct kvec *kv = NULL;
	u32 nkv = 0, total = 0, sent_len, seq, mss, i, k;
	unsigned int shutdown;
	int sndbuf, err;
	u64 srtt_us;

	/* 1. the protocol hooks come back */
	WRITE_ONCE(sk->sk_prot, c->orig_prot);
	if (sk->sk_socket)
		WRITE_ONCE(sk->sk_socket->ops, c->orig_ops);
	sk->sk_backlog_rcv = c->orig_backlog_rcv;
	rcu_assign_pointer(icsk->icsk_ulp_data, NULL);

	/* 2. receive side: unread data, then what the device returned */
	__skb_queue_head_init(&rq);
	spin_lock_bh(&c->lock);
	skb_queue_splice_init(&c->rq, &rq);
	total = c->rq_bytes + rlen;
	c->rq_bytes = 0;
	spin_unlock_bh(&c->lock);
	seq = d->rcv_nxt - (fin ? 1 : 0) - total;
	WRITE_ONCE(tp->copied_seq, seq);
	while ((skb = __skb_dequeue(&rq)) != NULL) {
		u32 off = CHIMNEY_RXCB(skb)->off;

		if (off && chimney_rx_pull(skb, off)) {
			pr_err("upload: cannot trim a receive buffer\n");
			seq += skb->len - off;
			kfree_skb(skb);
			continue;
		}
		chimney_rcvq_add(sk, skb, &seq, false);
	}
	if (rlen && chimney_rcvq_add_data(sk, rd, rlen, &seq))
		pr_err("upload: %u bytes of receive data lost\n", rlen);
	if (fin) {
		skb = alloc_skb(0, GFP_KERNEL);
		if (skb)
			chimney_rcvq_add(sk, skb, &seq, true);
	}
	WRITE_ONCE(tp->rcv_nxt, d->rcv_nxt);
	tp->rcv_wup = d->rcv_nxt;
	tp->rcv_wnd = min(d->rcv_wnd, tp->window_clamp ? tp->window_clamp :
			  d->rcv_wnd);
	tp->rcvq_space.seq = tp->copied_seq;
	tp->rcv_tstamp = tcp_jiffies32;
	if (fin && sk->sk_state == TCP_ESTABLISHED) {
		tcp_set_state(sk, TCP_CLOSE_WAIT);
		WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | RCV_SHUTDOWN);
		sock_set_flag(sk, SOCK_DONE);
	}

	/* 3. sequence space, windows, RTT, timestamps */
	mss = max_t(u32, tp->mss_cache, 1);
	tp->snd_una = d->snd_una;
	WRITE_ONCE(tp->snd_nxt, d->snd_una);
	WRITE_ONCE(tp->write_seq, d->snd_una);
	tp->pushed_seq = d->snd_una;
	tp->snd_up = d->snd_una;
	tp->snd_sml = d->snd_una;
	tp->snd_wl1 = d->snd_wl1;
	tp->snd_wnd = d->snd_wnd;
	tp->max_window = max(d->max_snd_wnd, d->snd_wnd);
	tcp_snd_cwnd_set(tp, clamp_t(u32, d->cwnd / mss, 1,
				     tp->snd_cwnd_clamp));
	tp->snd_ssthresh = d->ssthresh >= 0x3fffffff ? TCP_INFINITE_SSTHRESH :
			   max_t(u32, d->ssthresh / mss, 2);
	tp->snd_cwnd_stamp = tcp_jiffies32;
	if (d->srtt) {
		srtt_us = (u64)d->srtt * 1000;
		tp->srtt_us = srtt_us;
		tp->rttvar_us = max_t(u32, d->rttvar * 1000,
				      jiffies_to_usecs(TCP_RTO_MIN));
		tp->mdev_us = tp->rttvar_us;
		tp->mdev_max_us = tp->rttvar_us;
		icsk->icsk_rto = clamp_t(u32, usecs_to_jiffies((srtt_us >> 3) +
							       tp->rttvar_us),
					 TCP_RTO_MIN, TCP_RTO_MAX);
	}
	if (tp->rx_opt.tstamp_ok) {
		tp->rx_opt.ts_recent = d->ts_recent;
		tp->rx_opt.ts_recent_stamp = ktime_get_seconds() -
					     d->ts_recent_age / 1000;
		tp->tsoffset = d->ts_time - tcp_time_stamp_raw();
	}
	tp->lsndtime = tcp_jiffies32;
	tp->retrans_stamp = 0;
	tp->tlp_high_seq = 0;
	tp->high_seq = d->snd_una;
	icsk->icsk_retransmits = 0;
	icsk->icsk_backoff = 0;
	icsk->icsk_probes_out = 0;
	icsk->icsk_ca_state = TCP_CA_Open;	/* tcp_set_ca_state: not exported */

	if (!sending) {
		chimney_restore_closed(c, st);
		return;
	}

	/* 4. send side: the returned list, then requests never accepted */
	k = nsl;
	list_for_each_entry(r, &c->sreqs, node)
		k++;
	kv = kcalloc(k + 1, sizeof(*kv), GFP_KERNEL);
	if (!kv) {
		pr_err("upload: no memory for the send data\n");
		goto timers;
	}
	for (i = 0; i < nsl; i++) {
		list_for_each_entry(r, &c->sreqs, node) {
			if (r->cookie == sl[i].cookie &&
			    r->state == CHIMNEY_SREQ_ACCEPTED)
				break;
		}
		if (list_entry_is_head(r, &c->sreqs, node) ||
		    sl[i].acked >= sl[i].len || sl[i].len != r->len) {
			pr_err("upload: send list entry %u not ours\n", i);
			continue;
		}
		r->state = CHIMNEY_SREQ_SUBMITTED;	/* returned */
		kv[nkv].iov_base = r->buf + sl[i].acked;
		kv[nkv].iov_len = r->len - sl[i].acked;
		total += kv[nkv].iov_len;
		nkv++;
	}
	list_for_each_entry(r, &c->sreqs, node) {
		if (r->state != CHIMNEY_SREQ_NEW || nkv >= k)
			continue;
		kv[nkv].iov_base = r->buf;
		kv[nkv].iov_len = r->len;
		total += r->len;
		nkv++;
	}
	sent_len = d->snd_max - d->snd_una;
	if (fin_sent && sent_len == total + 1)
		sent_len = total;	/* the device's FIN: sent again below */
	if (sent_len > total) {
		pr_err("upload: %u bytes sent but only %u returned\n",
		       sent_len, total);
		sent_len = total;
	}
	shutdown = sk->sk_shutdown;
	WRITE_ONCE(sk->sk_shutdown, shutdown & ~SEND_SHUTDOWN);
	sndbuf = sk->sk_sndbuf;
	WRITE_ONCE(sk->sk_sndbuf, max_t(int, sndbuf, 2 * total + SOCK_MIN_SNDBUF));
	/* the part the device sent: queued as sent, like TCP_REPAIR */
	tp->repair = 1;
	tp->repair_queue = TCP_SEND_QUEUE;
	for (i = 0; i < nkv && sent_len; i++) {
		size_t n = min_t(size_t, kv[i].iov_len, sent_len);
		struct kvec part = { .iov_base = kv[i].iov_base, .iov_len = n };

		err = chimney_sendmsg_kvec(sk, &part, 1, n);
		if (err)
			break;
		sent_len -= n;
		kv[i].iov_base += n;
		kv[i].iov_len -= n;
	}
	tp->repair = 0;
	tp->repair_queue = TCP_NO_QUEUE;
	if (tp->snd_nxt != d->snd_max)
		pr_warn("upload: snd_nxt %u, device snd_max %u\n", tp->snd_nxt,
			d->snd_max);
	/* the rest was never sent: ordinary data, sent now */
	for (i = 0; i < nkv; i++)
		if (kv[i].iov_len && chimney_sendmsg_kvec(sk, &kv[i], 1,
							  kv[i].iov_len))
			break;
	WRITE_ONCE(sk->sk_sndbuf, max_t(int, sndbuf, sk->sk_sndbuf / 2));
	WRITE_ONCE(sk->sk_shutdown, shutdown);
	kfree(kv);
	if (!tp->packets_out && !tcp_write_queue_empty(sk))
		tcp_check_probe_timer(sk);
	/*
	 * A closed send side (DISCONNECT, or shutdown the device did not
	 * take): the kernel's FIN, after the data.  If the device sent its
	 * FIN already, this is a retransmission of it (same sequence number).
	 */
	if (fin_sent || (shutdown & SEND_SHUTDOWN)) {
		tcp_shutdown(sk, SEND_SHUTDOWN);
		if (st == CHIMNEY_TCPS_CLOSING && sk->sk_state == TCP_LAST_ACK)
			tcp_set_state(sk, TCP_CLOSING);
	}
timers:
	if (c->keepopen || sock_flag(sk, SOCK_KEEPOPEN)) {
		sock_set_flag(sk, SOCK_KEEPOPEN);
		inet_csk_reset_keepalive_timer(sk, keepalive_time_when(tp));
	}
}

/*
 * Upload @c (socket lock held).  @detach: the ULP leaves the socket too
 * (it may be offloaded again); close and shutdown keep it attached until
 * the socket is destroyed.
 */
int chimney_upload_locked(struct chimney_conn *c, bool detach)
{
	struct sock *sk = c->sk;
	struct chimney_priv *priv = c->priv;
	struct chimney_tree_op *op;
	struct chimney_sreq *r, *rn;
	struct sk_buff_head held;
	struct sk_buff *skb;
	ChimneySendBuf *sl = NULL;
	dma_addr_t sl_dma = 0, rd_dma = 0;
	size_t sl_len;
	u32 rd_cap = max_t(u32, priv->cap_rcv_buf, PAGE_SIZE);
	u8 *rd = NULL;
	u32 nreq = 0;
	int err;

	spin_lock_bh(&c->lock);
	if (c->state != CHIMNEY_CONN_OFFLOADED) {
		spin_unlock_bh(&c->lock);
		return 0;
	}
	c->state = CHIMNEY_CONN_UPLOADING;
	list_for_each_entry(r, &c->sreqs, node)
		nreq++;
	spin_unlock_bh(&c->lock);

	mutex_lock(&chimney_mutex);
	op = chimney_tree_op_alloc();
	sl_len = (nreq + 1) * sizeof(*sl);
	sl = dma_alloc_coherent(priv->dev, sl_len, &sl_dma, GFP_KERNEL);
	rd = dma_alloc_coherent(priv->dev, rd_cap, &rd_dma, GFP_KERNEL);
	if (!op || !sl || !rd) {
		err = -ENOMEM;
		goto fail;
	}
	chimney_state_hdr(&op->tst.d.hdr, sizeof(op->tst.d));
	op->tst.d.send_list_addr = sl_dma;
	op->tst.d.send_list_cap = nreq + 1;
	op->tst.d.rcv_data_addr = rd_dma;
	op->tst.d.rcv_data_cap = rd_cap;
	op->tslot = c->handle;
	op->tb.type = CHIMNEY_TYPE_TCP;
	op->tb.miniport_offload_context = &op->tslot;
	op->tb.state = &op->tst.d;
	op->tb.state_len = sizeof(op->tst.d);
	err = chimney_tree_sync(priv, chimney_drv_terminate_offload, op,
				&op->tb);
	if (err == -ETIMEDOUT) {
		/* the device may still write the buffers: leak them */
		op = NULL;
		sl = NULL;
		rd = NULL;
		goto fail;
	}
	if (!err && op->tb.status != CHIMNEY_ST_SUCCESS)
		err = -EIO;
	if (err) {
		netdev_err(priv->ndev, "TERMINATE of conn %u: %d, status %x/%x\n",
			   c->id, err, op->status, op->tb.status);
		goto fail;
	}
	if (op->tst.d.send_list_count > nreq + 1 ||
	    op->tst.d.rcv_data_len > rd_cap) {
		netdev_err(priv->ndev, "TERMINATE returned %u entries, %u bytes\n",
			   op->tst.d.send_list_count, op->tst.d.rcv_data_len);
		op->tst.d.send_list_count = min(op->tst.d.send_list_count,
						nreq + 1);
		op->tst.d.rcv_data_len = min(op->tst.d.rcv_data_len, rd_cap);
	}

	/* The connection is the host's again. */
	netdev_dbg(priv->ndev, "upload conn %u: state %u, send list %u entries (%u bytes sent, unacknowledged), rcv_data %u bytes, %u unread bytes\n",
		   c->id, op->tst.d.state, op->tst.d.send_list_count,
		   op->tst.d.snd_max - op->tst.d.snd_una,
		   op->tst.d.rcv_data_len, c->rq_bytes);
	chimney_restore(c, &op->tst.d, sl, op->tst.d.send_list_count, rd,
			op->tst.d.rcv_data_len);
	c->path->refs--;
	list_del_init(&c->node);
	chimney_evlog_upload(c);
	chimney_gc();
	mutex_unlock(&chimney_mutex);

	spin_lock_bh(&c->lock);
	list_for_each_entry_safe(r, rn, &c->sreqs, node) {
		list_del(&r->node);
		chimney_sreq_free(r);
	}
	c->inflight = 0;
	c->state = CHIMNEY_CONN_UPLOADED;
	c->held_closed = true;
	__skb_queue_head_init(&held);
	skb_queue_splice_init(&c->held, &held);
	spin_unlock_bh(&c->lock);
	chimney_fw2_cancel(c);
	chimney_hash_del(c);
	chimney_idr_del(c);
	/* Frames seen since the device let go: the kernel's now. */
	while ((skb = __skb_dequeue(&held)) != NULL)
		netif_rx(skb);
	if (detach && inet_csk(sk)->icsk_ulp_ops == &chimney_ulp_ops) {
		inet_csk(sk)->icsk_ulp_ops = NULL;
		module_put(THIS_MODULE);
	}
	dma_free_coherent(priv->dev, sl_len, sl, sl_dma);
	dma_free_coherent(priv->dev, rd_cap, rd, rd_dma);
	chimney_tree_op_put(op);
	chimney_ofl_count(priv, CHIMNEY_OFL_UPLOADS, 1);
	netdev_dbg(priv->ndev, "uploaded conn %u\n", c->id);
	sk->sk_state_change(sk);
	chimney_wake(sk);
	chimney_conn_put(c);		/* the attachment's reference */
	return 0;

fail:
	mutex_unlock(&chimney_mutex);
	if (sl)
		dma_free_coherent(priv->dev, sl_len, sl, sl_dma);
	if (rd)
		dma_free_coherent(priv->dev, rd_cap, rd, rd_dma);
	if (op)
		chimney_tree_op_put(op);
	spin_lock_bh(&c->lock);
	c->state = CHIMNEY_CONN_OFFLOADED;
	spin_unlock_bh(&c->lock);
	return err;
}

/*
 * Upload @c from process context (socket unlocked).  Data that came after
 * close() resets the connection first (the device's RST); an orphan gets
 * the kernel's close once the socket is the kernel's again.
 */
void chimney_upload_sock(struct chimney_conn *c, bool detach)
{
	struct sock *sk = c->sk;
	bool close;

	lock_sock(sk);
	if (READ_ONCE(c->want_abort))
		chimney_disconnect(c, CHIMNEY_DISC_ABORTIVE);
	chimney_upload_locked(c, detach);
	spin_lock_bh(&c->lock);
	close = c->close_pending && c->state == CHIMNEY_CONN_UPLOADED;
	if (close)
		c->close_pending = false;
	spin_unlock_bh(&c->lock);
	/*
	 * Data after close() the device could not answer with its RST (it
	 * had asked for the upload already): the kernel's reset, as
	 * tcp_rcv_state_process() would send it.
	 */
	if (close && READ_ONCE(c->want_abort) && sk->sk_state != TCP_CLOSE)
		tcp_disconnect(sk, 0);
	release_sock(sk);
	if (close)
		tcp_close(sk, 0);	/* drops the fd's reference */
}

/*
 * FIN_WAIT_2 of a socket its program still holds (shutdown(SHUT_WR), our
 * FIN acknowledged).  The device ends FIN_WAIT_2 after fin_wait2_ms
 * without a segment (spec rule 126: CLOSED, upload requested with
 * TIMEOUT), as the kernel ends an orphan's after tcp_fin_timeout; but
 * the kernel lets a socket its program holds wait in FIN_WAIT2 for as
 * long as the peer likes.  So a held socket goes back to the kernel
 * before the device's timer can end it, three quarters of the time
 * after the FIN's acknowledgment; an orphan (close()) stays with the
 * device, whose timer then plays tcp_fin_timeout's part.
 */
static unsigned int fin_wait2_ms = 60000;
module_param(fin_wait2_ms, uint, 0644);
MODULE_PARM_DESC(fin_wait2_ms,
		 "the device's FIN_WAIT_2 timeout (ms; taken when the interface comes up)");

u32 chimney_fin_wait2_ms(void)
{
	return clamp(READ_ONCE(fin_wait2_ms), 1000u, 600000u);
}

void chimney_fw2_arm(struct chimney_conn *c)
{
	u32 ms = READ_ONCE(c->priv->fin_wait2_ms);

	if (READ_ONCE(c->closed))
		return;
	refcount_inc(&c->ref);
	if (!queue_delayed_work(chimney_wq, &c->fw2_work,
				msecs_to_jiffies(ms / 4 * 3)))
		chimney_conn_put(c);
}

/* The connection is the kernel's again (or going): no FIN_WAIT_2 upload. */
void chimney_fw2_cancel(struct chimney_conn *c)
{
	if (cancel_delayed_work(&c->fw2_work))
		chimney_conn_put(c);
}

void chimney_fw2_workfn(struct work_struct *w)
{
	struct chimney_conn *c = container_of(to_delayed_work(w),
					      struct chimney_conn, fw2_work);
	bool up;

	spin_lock_bh(&c->lock);
	up = c->state == CHIMNEY_CONN_OFFLOADED && !c->closed &&
	     !c->rx_eof && !c->aborted && !c->retrieve;
	spin_unlock_bh(&c->lock);
	if (up) {
		WRITE_ONCE(c->upload_why, CHIMNEY_UPR_FIN_WAIT2);
		chimney_queue_upload(c);
	}
	chimney_conn_put(c);
}

void chimney_upload_workfn(struct work_struct *w)
{
	struct chimney_conn *c = container_of(w, struct chimney_conn,
					      upload_work);

	chimney_upload_sock(c, true);
	chimney_conn_put(c);
}

/* Any context: upload @c from the workqueue. */
void chimney_queue_upload(struct chimney_conn *c)
{
	refcount_inc(&c->ref);
	if (!queue_work(chimney_wq, &c->upload_work))
		chimney_conn_put(c);
}

/* Upload every connection (of @priv, or all when NULL), reason @why. */
static void chimney_upload_all_why(struct chimney_priv *priv, u8 why)
{
	struct chimney_conn *c, **v;
	unsigned int n = 0, i;

	mutex_lock(&chimney_mutex);
	list_for_each_entry(c, &chimney_conns, node)
		n++;
	v = kcalloc(n + 1, sizeof(*v), GFP_KERNEL);
	n = 0;
	if (v) {
		list_for_each_entry(c, &chimney_conns, node) {
			if (priv && c->priv != priv)
				continue;
			refcount_inc(&c->ref);
			v[n++] = c;
		}
	}
	mutex_unlock(&chimney_mutex);
	for (i = 0; i < n; i++) {
		WRITE_ONCE(v[i]->upload_why, why);
		chimney_upload_sock(v[i], true);
		chimney_conn_put(v[i]);
	}
	kfree(v);
}

/* @priv: its interface goes down; NULL: the user asked. */
void chimney_upload_all(struct chimney_priv *priv)
{
	chimney_upload_all_why(priv, priv ? CHIMNEY_UPR_IFDOWN :
					    CHIMNEY_UPR_USER);
}

static void chimney_upload_all_workfn(struct work_struct *w)
{
	chimney_upload_all_why(NULL, CHIMNEY_UPR_UPLOAD_ALL);
}

DECLARE_WORK(chimney_upload_all_work, chimney_upload_all_workfn);
