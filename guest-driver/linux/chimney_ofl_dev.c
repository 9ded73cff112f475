// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: device events for offloaded connections (indications, SEND_DONE,
 * TCP events, neighbor queries, status), receive steering, device
 * open/close.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

static unsigned int nce_stale_ms = 30000;
module_param(nce_stale_ms, uint, 0444);
MODULE_PARM_DESC(nce_stale_ms,
		 "NCE stale time given to the device (SET_PARAMS nce_stale_ticks, ms; 0: no reachability queries)");

/* ---- Events (NAPI context) ---------------------------------------------- */

u32 chimney_ofl_on_indicate(void *ctx, u64 host_handle, u64 handle,
			    const struct chimney_drv_ind_frag *frags,
			    u32 nfrags, u32 total)
{
	struct chimney_priv *priv = ctx;
	struct chimney_conn *c = chimney_conn_lookup((u32)host_handle);
	struct sk_buff_head q, drop;
	u32 take;
	int err;

	/*
	 * No IND_DONE for a connection uploaded or being uploaded: its
	 * TERMINATE returns (or returned) the data, and its handle is
	 * stale once the device has processed it.
	 */
	if (!c)
		return CHIMNEY_DRV_IND_DEFER;
	__skb_queue_head_init(&q);
	__skb_queue_head_init(&drop);
	/* the room left in the receive queue, at most */
	take = chimney_rq_limit(c->sk);
	take = take > READ_ONCE(c->rq_bytes) ? take - READ_ONCE(c->rq_bytes) : 0;
	take = min(take, total);
	/*
	 * A direct read's request is posted: the data is its (below).  Or
	 * the reader reads directly and will post again once the queue is
	 * empty: the data waits in the device for that request rather than
	 * taking the copying path (chimney_ofl_direct.c;
	 * chimney_direct_leave() resumes indications when the reader goes
	 * another way).
	 */
	if (READ_ONCE(c->direct) || READ_ONCE(c->direct_recent))
		take = 0;
	/* the pages themselves where it pays (chimney_ofl_rx.c) */
	take = chimney_rx_build(priv, frags, nfrags, take, &q);

	spin_lock_bh(&c->lock);
	if (c->closed && c->state == CHIMNEY_CONN_OFFLOADED) {
		/*
		 * Data after close(): the kernel would reset the connection
		 * (tcp_rcv_state_process); consume it and abort.
		 */
		if (!c->want_abort)
			NET_INC_STATS(sock_net(c->sk), LINUX_MIB_TCPABORTONDATA);
		c->want_abort = true;
		err = chimney_drv_ind_done(&priv->drv, handle, total, NULL,
					   NULL);
		spin_unlock_bh(&c->lock);
		skb_queue_purge(&q);
		chimney_queue_upload(c);
		chimney_conn_put(c);
		return err ? total : CHIMNEY_DRV_IND_DEFER;
	}
	if (c->state == CHIMNEY_CONN_OFFLOADING) {
		/*
		 * The device took the connection, the socket is not switched
		 * over yet (its receive queue goes first): take nothing, the
		 * data waits in the device; the offload resumes indications
		 * (chimney_rx_resume()) once the socket is ours.  No IND_DONE
		 * would leave the connection busy: a direct read's request
		 * would never be filled.
		 */
		err = chimney_drv_ind_done(&priv->drv, handle, 0, NULL, NULL);
		c->rx_suppressed = true;
		spin_unlock_bh(&c->lock);
		skb_queue_purge(&q);
		chimney_conn_put(c);
		return err ? 0 : CHIMNEY_DRV_IND_DEFER;
	}
	if (c->state != CHIMNEY_CONN_OFFLOADED) {
		/* an upload is under way: TERMINATE returns the data */
		spin_unlock_bh(&c->lock);
		skb_queue_purge(&q);
		chimney_conn_put(c);
		return CHIMNEY_DRV_IND_DEFER;
	}
	if ((c->direct || c->direct_recent) && take) {
		/*
		 * A direct read posted its request since the check above:
		 * take nothing, the device places these bytes into that
		 * request, behind nothing it placed there (spec RECV_POST:
		 * data goes to posted requests first).
		 */
		skb_queue_splice_init(&q, &drop);
		take = 0;
	}
	/*
	 * IND_DONE goes out under the connection lock, so it is queued
	 * before any TERMINATE of this connection (which sets the state
	 * under the same lock first): indicated data we keep is never
	 * returned by the device as well.
	 */
	err = chimney_drv_ind_done(&priv->drv, handle, take, NULL, NULL);
	/* if that failed, the core sends it (returned below) */
	skb_queue_splice_tail_init(&q, &c->rq);
	c->rq_bytes += take;
	c->bytes_rcvd += take;
	chimney_ofl_count(priv, CHIMNEY_OFL_INDICATIONS, 1);
	chimney_ofl_count(priv, CHIMNEY_OFL_BYTES_RCVD, take);
	if (take < total)
		c->rx_suppressed = true;
	spin_unlock_bh(&c->lock);
	__skb_queue_purge(&drop);
	c->sk->sk_data_ready(c->sk);
	chimney_conn_put(c);
	return err ? take : CHIMNEY_DRV_IND_DEFER;
}

void chimney_ofl_on_io_done(void *ctx, u64 cookie, u64 handle, u16 type,
			    u32 status, u32 info)
{
	struct chimney_conn *c;
	struct chimney_sreq *r;

	if (type == CHIMNEY_EVT_RECV_DONE) {
		/* low half 0: a zero-length post; else a direct read's */
		if ((u32)cookie)
			chimney_direct_done(cookie, status, info);
		return;
	}
	if (type != CHIMNEY_EVT_SEND_DONE && type != CHIMNEY_EVT_DISC_DONE)
		return;
	c = chimney_conn_lookup(cookie >> 32);
	if (!c)
		return;
	if (type == CHIMNEY_EVT_DISC_DONE) {
		spin_lock_bh(&c->lock);
		c->disc_done = true;
		c->disc_status = status;
		spin_unlock_bh(&c->lock);
		netdev_dbg(c->priv->ndev, "conn %u: DISC_DONE %x\n", c->id,
			   status);
		/* our FIN acknowledged: FIN_WAIT_2 (chimney_ofl_upload.c) */
		if (status == CHIMNEY_ST_SUCCESS)
			chimney_fw2_arm(c);
		c->sk->sk_state_change(c->sk);
		chimney_conn_put(c);
		return;
	}
	spin_lock_bh(&c->lock);
	r = list_first_entry_or_null(&c->sreqs, struct chimney_sreq, node);
	if (!r || r->cookie != cookie) {
		spin_unlock_bh(&c->lock);
		/*
		 * The device completes SENDs in order (spec SEND): our list
		 * and its queue disagree, and the writer would wait for
		 * good.  The upload's send list says what is still unsent.
		 */
		netdev_warn(c->priv->ndev, "SEND_DONE %llx out of order: upload\n",
			    cookie);
		chimney_queue_upload(c);
		chimney_conn_put(c);
		return;
	}
	list_del(&r->node);
	c->inflight -= r->len;
	c->bytes_sent += info;
	chimney_ofl_count(c->priv, CHIMNEY_OFL_BYTES_SENT, info);
	if (status != CHIMNEY_ST_SUCCESS && !c->err)
		c->err = status == CHIMNEY_ST_REQUEST_ABORTED ? ECONNRESET : EIO;
	spin_unlock_bh(&c->lock);
	chimney_sreq_free(r);
	chimney_write_space(c->sk);
	chimney_conn_put(c);
}

void chimney_ofl_on_tcp_event(void *ctx, u64 host_handle, u64 handle,
			      u16 type, u32 info)
{
	struct chimney_conn *c = chimney_conn_lookup((u32)host_handle);

	if (!c)
		return;
	spin_lock_bh(&c->lock);
	switch (type) {
	case CHIMNEY_EVT_TCP_DISCONNECT:
		c->rx_eof = true;
		break;
	case CHIMNEY_EVT_TCP_ABORT:
		c->aborted = true;
		c->err = ECONNRESET;
		/* the device's RST for data after close() */
		if (info == CHIMNEY_ABORT_DATA_AFTER_CLOSE)
			NET_INC_STATS(sock_net(c->sk), LINUX_MIB_TCPABORTONDATA);
		break;
	case CHIMNEY_EVT_TCP_RETRIEVE:
		c->retrieve = true;
		chimney_ofl_count(c->priv, CHIMNEY_OFL_UPLOAD_REQS, 1);
		c->retrieve_why = info;
		break;
	default:
		break;
	}
	spin_unlock_bh(&c->lock);
	chimney_evlog_tcp(c, type, info);
	if (type == CHIMNEY_EVT_TCP_ABORT || type == CHIMNEY_EVT_TCP_RETRIEVE) {
		netdev_dbg(c->priv->ndev, "conn %u: event %x (%u): upload\n",
			   c->id, type, info);
		chimney_queue_upload(c);
	}
	c->sk->sk_state_change(c->sk);
	chimney_wake(c->sk);
	chimney_conn_put(c);
}

/* CMD_DONE of a NEIGH_REPLY: counted when the device took the answer. */
static void chimney_neigh_reply_done(void *ctx, u32 status)
{
	struct chimney_priv *priv = ctx;

	if (status == CHIMNEY_ST_SUCCESS)
		chimney_ofl_count(priv, CHIMNEY_OFL_NEIGH_QUERIES, 1);
	else
		net_warn_ratelimited("%s: NEIGH_REPLY: status %x\n",
				     netdev_name(priv->ndev), status);
}

/*
 * EVT_NEIGH_QUERY (spec "Neighbor reachability"): cookie = the neighbor's
 * host_handle (its next hop), info = NRD.  The device's forward progress
 * confirms the kernel's entry (as dst_confirm_neigh() does for the
 * kernel's own traffic); the answer is the entry's HRD, 0 when it is not
 * confirmed, and then the kernel's unreachability detection starts.
 */
void chimney_ofl_on_neigh_query(void *ctx, u64 host_handle, u64 handle,
				u32 nrd)
{
	struct chimney_priv *priv = ctx;
	struct neighbour *n;
	unsigned long seen;
	u32 hrd = 0;

	rcu_read_lock_bh();
	n = __ipv4_neigh_lookup_noref(priv->ndev, (u32)host_handle);
	if (n) {
		/* forward progress the device saw confirms the entry */
		seen = jiffies - msecs_to_jiffies(nrd);
		if (time_after(seen, READ_ONCE(n->confirmed)))
			WRITE_ONCE(n->confirmed, seen);
		hrd = chimney_neigh_hrd(n);
		if (!(READ_ONCE(n->nud_state) & (NUD_REACHABLE | NUD_PERMANENT |
						 NUD_NOARP)))
			neigh_event_send(n, NULL);
	}
	rcu_read_unlock_bh();
	chimney_evlog_neigh(priv, (__force __be32)(u32)host_handle, nrd, hrd);
	chimney_drv_neigh_reply(&priv->drv, handle, hrd,
				chimney_neigh_reply_done, priv);
}

void chimney_ofl_on_status(struct chimney_priv *priv, u16 code)
{
	chimney_evlog_status(priv, code);
	if (code == CHIMNEY_STATUS_IND_UPLOAD_ALL) {
		chimney_ofl_count(priv, CHIMNEY_OFL_UPLOAD_REQS, 1);
		queue_work(chimney_wq, &chimney_upload_all_work);
	}
}

/* ---- Receive steering for frames the device hands up -------------------- */

bool chimney_ofl_rx_steal(struct chimney_priv *priv, struct sk_buff *skb)
{
	const struct iphdr *iph;
	const struct tcphdr *th;
	struct chimney_conn *c;
	bool stolen = false;
	u32 ihl;

	if (skb->protocol != htons(ETH_P_IP) || skb->len < sizeof(*iph))
		return false;
	iph = (const struct iphdr *)skb->data;
	ihl = iph->ihl * 4;
	if (iph->version != 4 || iph->protocol != IPPROTO_TCP || ihl < 20 ||
	    skb->len < ihl + sizeof(*th) || ip_is_fragment(iph))
		return false;
	th = (const struct tcphdr *)(skb->data + ihl);

	rcu_read_lock();
	hash_for_each_possible_rcu(chimney_hash, c, hnode,
				   chimney_hash_key(iph->daddr, iph->saddr,
						    th->dest, th->source)) {
		if (c->saddr != iph->daddr || c->daddr != iph->saddr ||
		    c->sport != th->dest || c->dport != th->source)
			continue;
		spin_lock_bh(&c->lock);
		if (c->held_closed) {
			spin_unlock_bh(&c->lock);
			break;
		}
		stolen = true;
		if (c->state == CHIMNEY_CONN_UPLOADING || c->retrieve ||
		    c->aborted) {
			/* the host stack handles it after the upload */
			if (skb_queue_len(&c->held) < CHIMNEY_HELD_MAX) {
				__skb_queue_tail(&c->held, skb);
				skb = NULL;
			}
		}
		spin_unlock_bh(&c->lock);
		/* else: a frame from before the device took over */
		kfree_skb(skb);
		break;
	}
	rcu_read_unlock();
	return stolen;
}

/* ---- Device open/close -------------------------------------------------- */

static int chimney_submit_params(struct chimney_priv *priv,
				 chimney_drv_cmd_done_fn done, void *ctx,
				 void *arg)
{
	return chimney_drv_set_params(&priv->drv, arg, done, ctx);
}

/* Interface up (RTNL, NAPI running): enable offload. */
int chimney_ofl_dev_open(struct chimney_priv *priv)
{
	ChimneyOffloadParams p = { 0 };
	u32 status = 0;
	int err;

	if (!priv->ind_up)
		return -EOPNOTSUPP;
	chimney_state_hdr(&p.hdr, sizeof(p));
	p.ticks_per_second = CHIMNEY_TICKS;
	p.ack_frequency = 2;
	p.delayed_ack_ticks = 40;
	p.max_retransmissions = 8;
	p.sws_prevention_ticks = 200;
	p.dup_ack_threshold = 3;
	/*
	 * The push timer (spec "Delivery algorithm"): a direct read's
	 * request (chimney_ofl_direct.c) partly filled by a sender that
	 * stopped without PSH (TCP_CORK released, say) ends 10 ms after the
	 * data stopped, as read() returns what has come; with PSH it ends at
	 * once.  Only partly filled push-mode requests have a push timer.
	 */
	p.push_ticks = 10;
	p.nce_stale_ticks = nce_stale_ms;
	priv->fin_wait2_ms = chimney_fin_wait2_ms();
	p.fin_wait2_ticks = priv->fin_wait2_ms;
	err = chimney_cmd_sync(priv, chimney_submit_params, &p, &status);
	if (err || status != CHIMNEY_ST_SUCCESS) {
		netdev_warn(priv->ndev, "SET_PARAMS: %d status %x: no TCP offload\n",
			    err, status);
		return err ? err : -EIO;
	}
	WRITE_ONCE(priv->ofl_ready, true);
	mutex_lock(&chimney_mutex);
	list_add(&priv->ofl_node, &chimney_devs);
	mutex_unlock(&chimney_mutex);
	netdev_info(priv->ndev, "TCP offload ready (ULP \"%s\")\n",
		    CHIMNEY_ULP_NAME);
	return 0;
}

/* Interface going down (RTNL, NAPI running): every connection goes back. */
void chimney_ofl_dev_close(struct chimney_priv *priv)
{
	WRITE_ONCE(priv->ofl_ready, false);
	chimney_upload_all(priv);
	mutex_lock(&chimney_mutex);
	list_del_init(&priv->ofl_node);
	mutex_unlock(&chimney_mutex);
}
