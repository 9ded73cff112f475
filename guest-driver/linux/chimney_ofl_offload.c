// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: offload of an established kernel TCP socket (the TCP ULP's init):
 * the state tree from the kernel's own data, CMD_INITIATE, the socket
 * handed to the device.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include "chimney_ofl.h"

/*
 * Test aid: the device owns a connection from the INITIATE's completion
 * on, the socket switches over a moment later; events for the connection
 * (SEND_DONEs, indications) can come in between.  A non-zero value widens
 * that window to so many milliseconds (at most CHIMNEY_OFFLOAD_HOLD_MAX),
 * announced in the kernel log, so a test can send traffic into it.
 */
static unsigned int offload_hold_ms;
module_param(offload_hold_ms, uint, 0644);
MODULE_PARM_DESC(offload_hold_ms,
		 "test aid: wait between INITIATE's completion and the socket's switch-over (ms; 0: none)");
#define CHIMNEY_OFFLOAD_HOLD_MAX	5000u

/* ---- Offload ------------------------------------------------------------ */

/* Copy [*seq, end of skb data) of one send-queue skb into requests. */
static int chimney_collect_skb(struct chimney_conn *c, struct sk_buff *skb,
			       u32 *seq, struct list_head *list)
{
	u32 start = TCP_SKB_CB(skb)->seq;
	u32 off, n;
	struct chimney_sreq *r;

	if (TCP_SKB_CB(skb)->tcp_flags & (TCPHDR_FIN | TCPHDR_SYN))
		return -EBUSY;
	if (after(start, *seq))
		return -EPROTO;
	off = *seq - start;
	while (off < skb->len) {
		r = list_empty(list) ? NULL :
			list_last_entry(list, struct chimney_sreq, node);
		if (!r || r->len == r->cap) {
			r = chimney_sreq_get(c, CHIMNEY_SREQ_MAX);
			if (!r)
				return -ENOMEM;
			r->len = 0;
			list_add_tail(&r->node, list);
		}
		n = min_t(u32, skb->len - off, r->cap - r->len);
		if (skb_copy_bits(skb, off, r->buf + r->len, n))
			return -EFAULT;
		r->len += n;
		off += n;
		*seq += n;
	}
	return 0;
}

/* The unacknowledged and unsent data of @sk, from snd_una, as requests. */
static int chimney_collect_sendq(struct chimney_conn *c, struct sock *sk,
				 struct list_head *list)
{
	struct tcp_sock *tp = tcp_sk(sk);
	u32 seq = tp->snd_una;
	struct chimney_sreq *r;
	struct sk_buff *skb;
	struct rb_node *p;
	int err;

	for (p = rb_first(&sk->tcp_rtx_queue); p; p = rb_next(p)) {
		err = chimney_collect_skb(c, rb_to_skb(p), &seq, list);
		if (err)
			return err;
	}
	skb_queue_walk(&sk->sk_write_queue, skb) {
		err = chimney_collect_skb(c, skb, &seq, list);
		if (err)
			return err;
	}
	if (seq != tp->write_seq)
		return -EPROTO;
	list_for_each_entry(r, list, node) {
		r->state = CHIMNEY_SREQ_ACCEPTED;
		r->cookie = (u64)c->id << 32 | c->send_seq++;
		err = chimney_sreq_map(r);
		if (err)
			return err;
	}
	return 0;
}

/* Free the kernel's write and retransmit queues (tcp_write_queue_purge). */
static void chimney_purge_sendq(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct rb_node *p = rb_first(&sk->tcp_rtx_queue);
	struct sk_buff *skb;

	while ((skb = __skb_dequeue(&sk->sk_write_queue)) != NULL) {
		tcp_skb_tsorted_anchor_cleanup(skb);
		tcp_wmem_free_skb(sk, skb);
	}
	tp->highest_sack = NULL;
	while (p) {
		skb = rb_to_skb(p);
		p = rb_next(p);
		tcp_rtx_queue_unlink(skb, sk);
		tcp_wmem_free_skb(sk, skb);
	}
	INIT_LIST_HEAD(&tp->tsorted_sent_queue);
	sk_mem_reclaim(sk);
	tcp_clear_all_retrans_hints(tp);
	tp->packets_out = 0;
	tp->retrans_out = 0;
	tp->lost_out = 0;
	tp->sacked_out = 0;
	tp->undo_marker = 0;
	inet_csk(sk)->icsk_backoff = 0;
}

/* The kernel's unread receive queue goes into the connection's. */
static void chimney_take_rcvq(struct chimney_conn *c, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;
	u32 off;

	while ((skb = __skb_dequeue(&sk->sk_receive_queue)) != NULL) {
		off = before(TCP_SKB_CB(skb)->seq, tp->copied_seq) ?
		      tp->copied_seq - TCP_SKB_CB(skb)->seq : 0;
		skb_orphan(skb);
		if (off >= skb->len) {
			kfree_skb(skb);
			continue;
		}
		skb_dst_drop(skb);
		CHIMNEY_RXCB(skb)->off = off;
		__skb_queue_tail(&c->rq, skb);
		c->rq_bytes += skb->len - off;
	}
	sk_mem_reclaim(sk);
}

static int chimney_backlog_drop(struct sock *sk, struct sk_buff *skb)
{
	/*
	 * Segments that reached the socket before the device took over (it
	 * was locked by the offload): the device never saw them, the peer
	 * sends the data again.
	 */
	kfree_skb(skb);
	return 0;
}

static struct chimney_neigh *chimney_find_neigh(struct chimney_priv *priv,
						__be32 nexthop, const u8 *mac)
{
	struct chimney_neigh *n;

	list_for_each_entry(n, &chimney_neighs, node)
		if (n->priv == priv && n->nexthop == nexthop &&
		    ether_addr_equal(n->mac, mac) && n->handle)
			return n;
	return NULL;
}

static struct chimney_path *chimney_find_path(struct chimney_neigh *n,
					      __be32 saddr, __be32 daddr)
{
	struct chimney_path *p;

	list_for_each_entry(p, &chimney_paths, node)
		if (p->neigh == n && p->saddr == saddr && p->daddr == daddr &&
		    p->handle)
			return p;
	return NULL;
}

/*
 * The receive window the connection takes to the device (TCP_CACHED
 * initial_rcv_wnd).  The kernel would grow the buffer of a socket whose
 * SO_RCVBUF the program did not set, up to tcp_rmem[2] (receive buffer
 * auto-tuning); the device cannot grow it later by itself, so it gets
 * that ceiling now, within what the window scale can express (the device
 * holds at most CAP_RCV_BUF of it, from its own memory).  A program that
 * set SO_RCVBUF keeps that buffer.  Never less than what the kernel
 * advertised last.
 */
static u32 chimney_rcv_space(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	u32 space = tcp_full_space(sk);

	if (!(sk->sk_userlocks & SOCK_RCVBUF_LOCK)) {
		int rmem = READ_ONCE(sock_net(sk)->ipv4.sysctl_tcp_rmem[2]);
		u32 most = tp->rx_opt.wscale_ok ?
			   (u32)U16_MAX << tp->rx_opt.rcv_wscale : U16_MAX;

		space = max_t(u32, space,
			      min_t(u32, tcp_win_from_space(sk, rmem), most));
	}
	return max_t(u32, space, tcp_receive_window(tp));
}

static void chimney_fill_tcp(struct chimney_tree_op *op, struct sock *sk,
			     struct dst_entry *dst, unsigned long pending,
			     unsigned long timeout)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct inet_sock *inet = inet_sk(sk);
	struct inet_connection_sock *icsk = inet_csk(sk);
	ChimneyTcpConst *tc = &op->tst.c;
	ChimneyTcpCached *ca = &op->tst.ca;
	ChimneyTcpDelegated *d = &op->tst.d;
	u32 mss = tp->mss_cache;
	int ttl = inet->uc_ttl;

	chimney_state_hdr(&tc->hdr, sizeof(*tc));
	if (tp->rx_opt.tstamp_ok)
		tc->flags |= CHIMNEY_TCP_CONST_TIMESTAMP;
	if (tp->rx_opt.sack_ok)
		tc->flags |= CHIMNEY_TCP_CONST_SACK;
	if (tp->rx_opt.wscale_ok)
		tc->flags |= CHIMNEY_TCP_CONST_WSCALE;
	tc->remote_port = ntohs(inet->inet_dport);
	tc->local_port = ntohs(inet->inet_sport);
	tc->snd_wind_scale = tp->rx_opt.snd_wscale;
	tc->rcv_wind_scale = tp->rx_opt.rcv_wscale;
	tc->remote_mss = tp->rx_opt.mss_clamp ? tp->rx_opt.mss_clamp : mss;
	tc->hash_value = sk->sk_txhash;

	chimney_state_hdr(&ca->hdr, sizeof(*ca));
	if (sock_flag(sk, SOCK_KEEPOPEN))
		ca->flags |= CHIMNEY_TCP_CACHED_KEEPALIVE;
	if (!(tp->nonagle & TCP_NAGLE_OFF))
		ca->flags |= CHIMNEY_TCP_CACHED_NAGLE;
	ca->initial_rcv_wnd = min_t(u32, chimney_rcv_space(sk),
				    CHIMNEY_MAX_RCV_WND);
	ca->ka_timeout = jiffies_to_msecs(keepalive_time_when(tp));
	ca->ka_interval = jiffies_to_msecs(keepalive_intvl_when(tp));
	ca->ka_probe_count = min(keepalive_probes(tp), 255);
	ca->max_rt = 0;		/* SET_PARAMS max_retransmissions, then upload */
	if (ttl < 0)
		ttl = ip4_dst_hoplimit(dst);
	ca->ttl_hop_limit = ttl;
	ca->tos_traffic_class = inet->tos;

	chimney_state_hdr(&d->hdr, sizeof(*d));
	d->state = sk->sk_state == TCP_CLOSE_WAIT ? CHIMNEY_TCPS_CLOSE_WAIT :
						    CHIMNEY_TCPS_ESTABLISHED;
	d->rcv_nxt = tp->rcv_nxt;
	/*
	 * Spec "Receive window": the device reopens RcvWnd only for bytes
	 * the host consumes from it.  The unread bytes stay in the driver's
	 * queue (chimney_take_rcvq, bounded by chimney_rq_limit()) and never
	 * pass through the device, so the window is handed over whole (never
	 * less than what was advertised).  With tcp_receive_window() alone,
	 * a program that had not read when its connection was offloaded (a
	 * full queue: window 0) would see the window stay closed for good.
	 */
	d->rcv_wnd = max_t(u32, tcp_receive_window(tp), ca->initial_rcv_wnd);
	d->snd_una = tp->snd_una;
	d->snd_nxt = tp->snd_nxt;
	d->snd_max = tp->snd_nxt;
	d->snd_wnd = tp->snd_wnd;
	d->max_snd_wnd = max(tp->max_window, tp->snd_wnd);
	d->snd_wl1 = tp->snd_wl1;
	d->cwnd = tcp_snd_cwnd(tp) * mss;
	d->ssthresh = tp->snd_ssthresh >= 0xffff ? 0x3fffffff :
		      tp->snd_ssthresh * mss;
	d->srtt = min_t(u32, tp->srtt_us / 1000, 0xffff);
	d->rttvar = min_t(u32, tp->rttvar_us / 1000, 0xffff);
	if (tp->rx_opt.tstamp_ok) {
		time64_t age = ktime_get_seconds() - tp->rx_opt.ts_recent_stamp;

		d->ts_recent = tp->rx_opt.ts_recent;
		d->ts_recent_age = age < 0 ? 0 : (u32)min_t(time64_t,
							    age * 1000, S32_MAX);
		d->ts_time = tcp_time_stamp_raw() + tp->tsoffset;
	}
	d->snd_wnd_probe_count = min_t(u32, icsk->icsk_probes_out, 255);
	d->rexmit_count = min_t(u32, icsk->icsk_retransmits, 255);
	d->ka_timeout_delta = CHIMNEY_TIMER_OFF;
	if (sock_flag(sk, SOCK_KEEPOPEN))
		d->ka_timeout_delta =
			chimney_jiffies_to_ticks(keepalive_time_when(tp) -
						 (long)keepalive_time_elapsed(tp));
	d->rexmit_timeout_delta = CHIMNEY_TIMER_OFF;
	if (pending == ICSK_TIME_RETRANS || pending == ICSK_TIME_LOSS_PROBE ||
	    pending == ICSK_TIME_REO_TIMEOUT || pending == ICSK_TIME_PROBE0)
		d->rexmit_timeout_delta =
			chimney_jiffies_to_ticks((long)(timeout - jiffies));
	else if (tp->snd_una != tp->snd_nxt)
		d->rexmit_timeout_delta = jiffies_to_msecs(icsk->icsk_rto);
}

/* TCP_ULP init: offload @sk (socket lock held). */
int chimney_offload(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct inet_sock *inet = inet_sk(sk);
	struct inet_connection_sock *icsk = inet_csk(sk);
	struct chimney_neigh *n = NULL, *new_n = NULL;
	struct chimney_path *p = NULL, *new_p = NULL;
	struct chimney_sreq *r, *rn;
	struct chimney_tree_op *op = NULL;
	struct chimney_offload_block *root;
	struct chimney_priv *priv;
	struct chimney_conn *c;
	struct dst_entry *dst;
	struct neighbour *ne;
	unsigned long pending, timeout;
	LIST_HEAD(sl);
	ChimneySendBuf *sbl = NULL;
	dma_addr_t sbl_dma = 0;
	size_t sbl_len = 0;
	__be32 nexthop;
	u8 mac[ETH_ALEN];
	u32 hrd = 0, nsl = 0, i, hold;
	bool have_mac = false, shared_n, shared_p;
	int err;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	if (sk->sk_family != AF_INET || sk->sk_protocol != IPPROTO_TCP ||
	    sk->sk_type != SOCK_STREAM)
		return -EAFNOSUPPORT;
	if (!((1 << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT)))
		return -ENOTCONN;
	if (!sk->sk_socket || sk->sk_socket->ops != &inet_stream_ops ||
	    sk->sk_prot != &tcp_prot)
		return -EOPNOTSUPP;	/* another layer owns the socket */
	if (tp->repair || tp->urg_data || rcu_access_pointer(tp->fastopen_rsk) ||
	    !RB_EMPTY_ROOT(&tp->out_of_order_queue))
		return -EBUSY;		/* urgent or out-of-order data: later */
	if (sk->sk_shutdown & SEND_SHUTDOWN)
		return -EPIPE;

	dst = __sk_dst_check(sk, 0);
	if (!dst) {
		err = inet_sk_rebuild_header(sk);
		if (err)
			return err;
		dst = __sk_dst_get(sk);
	}
	if (!dst)
		return -ENETUNREACH;
	priv = chimney_priv_from_netdev(dst->dev);
	if (!priv)
		return -ENODEV;		/* not routed through a chimney-nic */
	if (!READ_ONCE(priv->ofl_ready) || !(priv->cap_flags &
					     CHIMNEY_CAP_OFFLOAD_IPV4))
		return -EOPNOTSUPP;

	nexthop = rt_nexthop((struct rtable *)dst, inet->inet_daddr);
	rcu_read_lock_bh();
	ne = __ipv4_neigh_lookup_noref(dst->dev, (__force u32)nexthop);
	if (ne && (READ_ONCE(ne->nud_state) & NUD_VALID)) {
		neigh_ha_snapshot((char *)mac, ne, dst->dev);
		hrd = chimney_jiffies_to_ticks(jiffies - READ_ONCE(ne->confirmed));
		have_mac = true;
	}
	rcu_read_unlock_bh();
	if (!have_mac)
		return -EHOSTUNREACH;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	refcount_set(&c->ref, 1);
	spin_lock_init(&c->lock);
	skb_queue_head_init(&c->rq);
	skb_queue_head_init(&c->held);
	INIT_LIST_HEAD(&c->sreqs);
	spin_lock_init(&c->sbuf_lock);
	INIT_LIST_HEAD(&c->sbuf_cache);
	INIT_LIST_HEAD(&c->node);
	INIT_WORK(&c->upload_work, chimney_upload_workfn);
	INIT_DELAYED_WORK(&c->fw2_work, chimney_fw2_workfn);
	c->priv = priv;
	c->sk = sk;
	sock_hold(sk);
	c->saddr = inet->inet_saddr;
	c->daddr = inet->inet_daddr;
	c->sport = inet->inet_sport;
	c->dport = inet->inet_dport;
	c->state = CHIMNEY_CONN_OFFLOADING;

	idr_preload(GFP_KERNEL);
	spin_lock_bh(&chimney_idr_lock);
	err = idr_alloc(&chimney_idr, c, 1, INT_MAX, GFP_NOWAIT);
	spin_unlock_bh(&chimney_idr_lock);
	idr_preload_end();
	if (err < 0) {
		chimney_conn_put(c);
		return err;
	}
	c->id = err;

	mutex_lock(&chimney_mutex);
	/* the interface went down meanwhile: its upload-all may be done */
	if (!READ_ONCE(priv->ofl_ready)) {
		err = -ENETDOWN;
		goto fail;
	}
	op = chimney_tree_op_alloc();
	if (!op) {
		err = -ENOMEM;
		goto fail;
	}

	/* The kernel stops here: ACK what is owed, stop the timers. */
	if (inet_csk_ack_scheduled(sk))
		__tcp_send_ack(sk, tp->rcv_nxt);
	pending = icsk->icsk_pending;
	timeout = icsk->icsk_timeout;
	tcp_clear_xmit_timers(sk);
	inet_csk_delete_keepalive_timer(sk);
	/* From here frames of the connection are the device's. */
	chimney_hash_add(c);

	err = chimney_collect_sendq(c, sk, &sl);
	if (err)
		goto fail_timers;
	list_for_each_entry(r, &sl, node)
		nsl++;
	if (nsl) {
		sbl_len = nsl * sizeof(*sbl);
		sbl = dma_alloc_coherent(priv->dev, sbl_len, &sbl_dma,
					 GFP_KERNEL);
		if (!sbl) {
			err = -ENOMEM;
			goto fail_timers;
		}
		i = 0;
		list_for_each_entry(r, &sl, node) {
			sbl[i].addr = r->dma;
			sbl[i].len = r->len;
			sbl[i].acked = 0;
			sbl[i].cookie = r->cookie;
			i++;
		}
	}

	/* neighbor: a linker to a shared object, or a new one */
	n = chimney_find_neigh(priv, nexthop, mac);
	if (!n) {
		new_n = kzalloc(sizeof(*new_n), GFP_KERNEL);
		if (!new_n) {
			err = -ENOMEM;
			goto fail_timers;
		}
		new_n->priv = priv;
		new_n->nexthop = nexthop;
		ether_addr_copy(new_n->mac, mac);
		n = new_n;
		chimney_state_hdr(&op->nst.c.hdr, sizeof(op->nst.c));
		chimney_state_hdr(&op->nst.ca.hdr, sizeof(op->nst.ca));
		ether_addr_copy(op->nst.ca.dl_dst_addr, mac);
		op->nst.ca.host_reachability_delta = hrd;
		chimney_state_hdr(&op->nst.d.hdr, sizeof(op->nst.d));
		op->nb.state = &op->nst;
		op->nb.state_len = sizeof(op->nst);
	}
	op->nb.type = CHIMNEY_TYPE_NEIGH;
	op->nb.miniport_offload_context = &n->handle;
	op->nb.ndis_offload_handle = (__force u32)nexthop;
	op->nb.dependent_block_list = &op->pb;

	p = new_n ? NULL : chimney_find_path(n, inet->inet_saddr,
					     inet->inet_daddr);
	if (!p) {
		new_p = kzalloc(sizeof(*new_p), GFP_KERNEL);
		if (!new_p) {
			err = -ENOMEM;
			goto fail_timers;
		}
		new_p->neigh = n;
		new_p->saddr = inet->inet_saddr;
		new_p->daddr = inet->inet_daddr;
		new_p->mtu = min_t(u32, icsk->icsk_pmtu_cookie ?
				   icsk->icsk_pmtu_cookie : dst_mtu(dst),
				   priv->cap_max_path_mtu);
		p = new_p;
		chimney_state_hdr(&op->pst.c.hdr, sizeof(op->pst.c));
		memcpy(op->pst.c.src_addr, &new_p->saddr, 4);
		memcpy(op->pst.c.dst_addr, &new_p->daddr, 4);
		chimney_state_hdr(&op->pst.ca.hdr, sizeof(op->pst.ca));
		op->pst.ca.path_mtu = new_p->mtu;
		chimney_state_hdr(&op->pst.d.hdr, sizeof(op->pst.d));
		op->pb.state = &op->pst;
		op->pb.state_len = sizeof(op->pst);
	}
	op->pb.type = CHIMNEY_TYPE_IP4;
	op->pb.miniport_offload_context = &p->handle;
	op->pb.dependent_block_list = &op->tb;

	chimney_fill_tcp(op, sk, dst, pending, timeout);
	op->tst.d.send_list_addr = sbl_dma;
	op->tst.d.send_list_count = nsl;
	op->tb.type = CHIMNEY_TYPE_TCP;
	op->tb.miniport_offload_context = &op->tslot;
	op->tb.ndis_offload_handle = c->id;
	op->tb.state = &op->tst;
	op->tb.state_len = sizeof(op->tst);
	root = &op->nb;
	shared_n = !new_n;
	shared_p = !new_p;

	/*
	 * The send list is the connection's before the INITIATE: the device
	 * owns the connection from its completion on, and the SEND_DONEs of
	 * these requests may come in the same event batch, before this
	 * thread runs again (chimney_ofl_on_io_done() matches each with the
	 * head of c->sreqs, which must be there by then).  Likewise a peer's
	 * FIN then (EVT_TCP_DISCONNECT sets rx_eof) must not be overwritten.
	 */
	spin_lock_bh(&c->lock);
	list_splice_tail_init(&sl, &c->sreqs);
	list_for_each_entry(r, &c->sreqs, node)
		c->inflight += r->len;
	c->rx_eof = !!(sk->sk_shutdown & RCV_SHUTDOWN);
	spin_unlock_bh(&c->lock);

	err = chimney_tree_sync(priv, chimney_drv_initiate_offload, op, root);
	if (err == -ETIMEDOUT) {
		/* the tree may still complete: leave everything it names */
		op = NULL;
		sbl = NULL;
		new_n = NULL;
		new_p = NULL;
		spin_lock_bh(&c->lock);
		INIT_LIST_HEAD(&c->sreqs);
		c->inflight = 0;
		spin_unlock_bh(&c->lock);
		goto fail_timers;
	}
	if (err)
		goto fail_timers;
	if (new_n && op->nb.status != CHIMNEY_ST_SUCCESS &&
	    op->nb.status != CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS)
		netdev_dbg(priv->ndev, "neighbor: status %x\n", op->nb.status);
	/* New objects that exist now are kept (chimney_gc frees unused). */
	if (new_n && new_n->handle) {
		list_add(&new_n->node, &chimney_neighs);
		new_n = NULL;
	}
	if (new_p && new_p->handle) {
		list_add(&new_p->node, &chimney_paths);
		new_p->neigh->refs++;
		new_p = NULL;
	}
	if (op->status != CHIMNEY_ST_SUCCESS ||
	    op->tb.status != CHIMNEY_ST_SUCCESS || !op->tslot) {
		netdev_info(priv->ndev, "INITIATE failed: command %x, blocks %x %x %x\n",
			    op->status, op->nb.status, op->pb.status,
			    op->tb.status);
		err = -EIO;
		if (op->tb.status == CHIMNEY_ST_OFFLOAD_TCP_ENTRIES ||
		    op->tb.status == CHIMNEY_ST_RESOURCES)
			err = -ENOSPC;
		goto fail_timers;
	}

	hold = READ_ONCE(offload_hold_ms);
	if (hold) {
		hold = min(hold, CHIMNEY_OFFLOAD_HOLD_MAX);
		netdev_info(priv->ndev, "conn %u: offload hold %u ms\n", c->id,
			    hold);
		msleep(hold);
	}

	/* The device owns the connection. */
	c->handle = op->tslot;
	c->path = p;
	p->refs++;
	chimney_purge_sendq(sk);
	chimney_take_rcvq(c, sk);
	c->keepopen = sock_flag(sk, SOCK_KEEPOPEN);
	sock_reset_flag(sk, SOCK_KEEPOPEN);
	c->orig_prot = sk->sk_prot;
	c->orig_ops = sk->sk_socket->ops;
	c->orig_backlog_rcv = sk->sk_backlog_rcv;
	rcu_assign_pointer(icsk->icsk_ulp_data, c);
	sk->sk_backlog_rcv = chimney_backlog_drop;
	WRITE_ONCE(sk->sk_socket->ops, &chimney_stream_ops);
	WRITE_ONCE(sk->sk_prot, &chimney_prot);
	spin_lock_bh(&c->lock);
	c->state = CHIMNEY_CONN_OFFLOADED;
	spin_unlock_bh(&c->lock);
	/* data the device indicated meanwhile waits there (on_indicate) */
	chimney_rx_resume(c, sk);
	list_add_tail(&c->node, &chimney_conns);
	chimney_evlog(CHIMNEY_EV_OFFLOAD, c, 0);
	mutex_unlock(&chimney_mutex);
	if (sbl)
		dma_free_coherent(priv->dev, sbl_len, sbl, sbl_dma);
	chimney_tree_op_put(op);
	netdev_dbg(priv->ndev, "offloaded %pI4:%u -> %pI4:%u (conn %u, %s neighbor, %s path): send list %u bytes in %u entries, %u unread bytes\n",
		   &c->saddr, ntohs(c->sport), &c->daddr, ntohs(c->dport),
		   c->id, shared_n ? "shared" : "new", shared_p ? "shared" : "new",
		   c->inflight, nsl, c->rq_bytes);
	chimney_wake(sk);
	chimney_ofl_count(priv, CHIMNEY_OFL_OFFLOADS, 1);
	return 0;

fail_timers:
	chimney_hash_del(c);
	/* The kernel goes on: its timers run again. */
	if (pending)
		inet_csk_reset_xmit_timer(sk, pending,
					  max_t(long, (long)(timeout - jiffies),
						1), TCP_RTO_MAX);
	else if (tp->packets_out)
		inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS,
					  icsk->icsk_rto, TCP_RTO_MAX);
	if (sock_flag(sk, SOCK_KEEPOPEN))
		inet_csk_reset_keepalive_timer(sk, keepalive_time_when(tp));
fail:
	kfree(new_p);
	kfree(new_n);
	chimney_gc();
	mutex_unlock(&chimney_mutex);
	/* a failed INITIATE completes no SEND: the requests are ours */
	spin_lock_bh(&c->lock);
	list_splice_tail_init(&c->sreqs, &sl);
	c->inflight = 0;
	spin_unlock_bh(&c->lock);
	list_for_each_entry_safe(r, rn, &sl, node) {
		list_del(&r->node);
		chimney_sreq_free(r);
	}
	if (sbl)
		dma_free_coherent(priv->dev, sbl_len, sbl, sbl_dma);
	if (op)
		chimney_tree_op_put(op);
	chimney_idr_del(c);
	chimney_conn_put(c);
	chimney_ofl_count(priv, CHIMNEY_OFL_OFFLOAD_FAILED, 1);
	return err;
}
