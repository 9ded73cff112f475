// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: TCP Chimney offload of live kernel TCP connections.
 *
 * A TCP upper-layer protocol ("chimney", tcp_register_ulp()) takes an
 * established IPv4 connection routed through a chimney-nic away from the
 * kernel's TCP: setsockopt(fd, SOL_TCP, TCP_ULP, "chimney") on the
 * application's own socket (chimneyctl gets it with pidfd_getfd()).  The
 * ULP's init runs under the socket lock: it stops the kernel's timers,
 * builds the neighbor -> path -> TCP state tree from the kernel's own
 * state (neighbour table, route, tcp_sock), copies the unacknowledged and
 * unsent data into DMA buffers (the send list), moves the unread receive
 * queue into a queue of its own and submits CMD_INITIATE.  On success the
 * socket's sk_prot and proto_ops are swapped (as kTLS does) so that
 * sendmsg, recvmsg, poll, ioctl, shutdown and close of the unchanged
 * application go to the device: SEND requests, receive indications (the
 * always-indicate model: every indication is copied into the socket's
 * queue, bounded by the receive buffer), events.
 *
 * Upload (CMD_TERMINATE with a delegated structure: /dev/chimney ioctl,
 * close(), shutdown(), EVT_TCP_RETRIEVE/ABORT, interface down) rebuilds
 * the kernel socket: sequence numbers, windows, RTT, timestamps from the
 * returned state; the returned send list back into the write queue (the
 * sent part with the TCP_REPAIR machinery, the rest as ordinary data);
 * unread and returned receive data into the receive queue; then the
 * original protocol, timers and keepalive come back.
 *
 * Neighbor and path objects are shared between connections (refcounted)
 * and terminated when their last user goes.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/idr.h>
#include <linux/jhash.h>
#include <linux/rculist.h>
#include <linux/dma-mapping.h>
#include <linux/uio.h>
#include <linux/file.h>
#include <linux/net.h>
#include <linux/sockios.h>
#include <asm/ioctls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/inet_common.h>
#include <net/route.h>
#include <net/arp.h>
#include <net/neighbour.h>

#include "chimney_nic.h"
#include "chimney_uapi.h"

#ifndef __LITTLE_ENDIAN
#error "the device's state structures are little-endian; so is this code"
#endif

#define CHIMNEY_SREQ_MAX	32768u	/* bytes of one SEND request */
#define CHIMNEY_SND_MIN_BUDGET	(512u * 1024u)	/* in-flight SEND bytes */
#define CHIMNEY_RQ_MIN		(256u * 1024u)	/* unread bytes kept */
#define CHIMNEY_HELD_MAX	1024u	/* frames held during an upload */
#define CHIMNEY_TREE_TIMEOUT	(10 * HZ)
#define CHIMNEY_HASH_BITS	8
#define CHIMNEY_TICKS		1000u	/* ticks per second: ms, like TCP_TS_HZ */

/* ---- Objects ------------------------------------------------------------ */

struct chimney_neigh {
	struct list_head node;		/* chimney_neighs */
	struct chimney_priv *priv;
	__be32 nexthop;
	u8 mac[ETH_ALEN];
	u64 handle;
	unsigned int refs;		/* paths */
};

struct chimney_path {
	struct list_head node;		/* chimney_paths */
	struct chimney_neigh *neigh;
	__be32 saddr;
	__be32 daddr;
	u32 mtu;
	u64 handle;
	unsigned int refs;		/* connections */
};

enum {
	CHIMNEY_SREQ_NEW,		/* not accepted: goes back at upload */
	CHIMNEY_SREQ_SUBMITTED,
	CHIMNEY_SREQ_ACCEPTED,		/* the device's until SEND_DONE */
};

struct chimney_conn;

/* One SEND request (also an entry of the send list given at INITIATE). */
struct chimney_sreq {
	struct list_head node;
	struct chimney_conn *conn;
	void *buf;
	dma_addr_t dma;
	u32 len;
	u32 cap;			/* bytes allocated at buf */
	u8 state;			/* CHIMNEY_SREQ_* */
	u64 cookie;
};

enum {
	CHIMNEY_CONN_OFFLOADING = 1,
	CHIMNEY_CONN_OFFLOADED,
	CHIMNEY_CONN_UPLOADING,
	CHIMNEY_CONN_UPLOADED,
};

/* Receive queue entries: the unread part of an skb starts at off. */
struct chimney_rxcb {
	u32 off;
};

#define CHIMNEY_RXCB(skb) ((struct chimney_rxcb *)(skb)->cb)

struct chimney_conn {
	struct hlist_node hnode;	/* chimney_hash (RCU) */
	struct list_head node;		/* chimney_conns (chimney_mutex) */
	struct rcu_head rcu;
	refcount_t ref;
	u32 id;				/* IDR id: host handle, cookies */
	struct chimney_priv *priv;
	struct sock *sk;
	struct chimney_path *path;
	u64 handle;			/* device handle */
	__be32 saddr, daddr;
	__be16 sport, dport;
	struct work_struct upload_work;

	spinlock_t lock;		/* the fields below (NAPI vs process) */
	int state;			/* CHIMNEY_CONN_* */
	bool rx_eof;			/* peer FIN: EOF after rq */
	bool aborted;			/* RST: ECONNRESET */
	bool retrieve;			/* device asked for an upload */
	bool rx_suppressed;		/* an indication was taken in part */
	bool held_closed;		/* upload done: frames go up again */
	bool keepopen;			/* SO_KEEPALIVE while offloaded */
	int err;
	struct sk_buff_head rq;		/* received, unread */
	u32 rq_bytes;
	struct list_head sreqs;		/* SEND requests, in order */
	u32 inflight;			/* bytes in sreqs */
	u32 send_seq;
	struct sk_buff_head held;	/* frames seen during the upload */
	u64 bytes_sent;
	u64 bytes_rcvd;

	/* saved at offload, restored at upload */
	struct proto *orig_prot;
	const struct proto_ops *orig_ops;
	int (*orig_backlog_rcv)(struct sock *sk, struct sk_buff *skb);
};

static DEFINE_MUTEX(chimney_mutex);	/* state operations, lists below */
static LIST_HEAD(chimney_conns);
static LIST_HEAD(chimney_paths);
static LIST_HEAD(chimney_neighs);
static LIST_HEAD(chimney_devs);

static DEFINE_IDR(chimney_idr);		/* id -> conn (RCU lookups) */
static DEFINE_SPINLOCK(chimney_idr_lock);
static DEFINE_HASHTABLE(chimney_hash, CHIMNEY_HASH_BITS);
static DEFINE_SPINLOCK(chimney_hash_lock);

static struct workqueue_struct *chimney_wq;
static struct proto chimney_prot;
static struct proto_ops chimney_stream_ops;
static struct tcp_ulp_ops chimney_ulp_ops;

static void chimney_conn_put(struct chimney_conn *c)
{
	if (refcount_dec_and_test(&c->ref)) {
		skb_queue_purge(&c->rq);
		skb_queue_purge(&c->held);
		sock_put(c->sk);
		kfree_rcu(c, rcu);
	}
}

/* NAPI context: the connection of an event, with a reference. */
static struct chimney_conn *chimney_conn_lookup(u32 id)
{
	struct chimney_conn *c;

	rcu_read_lock();
	c = idr_find(&chimney_idr, id);
	if (c && !refcount_inc_not_zero(&c->ref))
		c = NULL;
	rcu_read_unlock();
	return c;
}

/* The connection of an offloaded socket (socket lock or RCU held). */
static struct chimney_conn *chimney_sk_conn(struct sock *sk)
{
	if (READ_ONCE(sk->sk_prot) != &chimney_prot)
		return NULL;
	return rcu_dereference_check(inet_csk(sk)->icsk_ulp_data,
				     lockdep_sock_is_held(sk));
}

static u32 chimney_hash_key(__be32 saddr, __be32 daddr, __be16 sport,
			    __be16 dport)
{
	return jhash_3words((__force u32)saddr, (__force u32)daddr,
			    (__force u32)sport << 16 | (__force u32)dport, 0);
}

/* ---- Synchronous tree operations --------------------------------------- */

struct chimney_tree_op {
	struct completion done;
	refcount_t ref;
	u32 status;
	struct chimney_offload_block nb, pb, tb;
	u64 nslot, pslot, tslot;
	struct {
		ChimneyNeighConst c;
		ChimneyNeighCached ca;
		ChimneyNeighDelegated d;
	} nst;
	struct {
		ChimneyPathConst c;
		ChimneyPathCached ca;
		ChimneyPathDelegated d;
	} pst;
	struct {
		ChimneyTcpConst c;
		ChimneyTcpCached ca;
		ChimneyTcpDelegated d;
	} tst;
};

static void chimney_tree_op_put(struct chimney_tree_op *op)
{
	if (refcount_dec_and_test(&op->ref))
		kfree(op);
}

static struct chimney_tree_op *chimney_tree_op_alloc(void)
{
	struct chimney_tree_op *op = kzalloc(sizeof(*op), GFP_KERNEL);

	BUILD_BUG_ON(sizeof(op->nst) != sizeof(ChimneyNeighConst) +
		     sizeof(ChimneyNeighCached) + sizeof(ChimneyNeighDelegated));
	BUILD_BUG_ON(sizeof(op->pst) != sizeof(ChimneyPathConst) +
		     sizeof(ChimneyPathCached) + sizeof(ChimneyPathDelegated));
	BUILD_BUG_ON(sizeof(op->tst) != sizeof(ChimneyTcpConst) +
		     sizeof(ChimneyTcpCached) + sizeof(ChimneyTcpDelegated));
	if (!op)
		return NULL;
	init_completion(&op->done);
	refcount_set(&op->ref, 1);
	return op;
}

static void chimney_tree_done(void *ctx, struct chimney_offload_block *root,
			      u32 status)
{
	struct chimney_tree_op *op = ctx;

	op->status = status;
	complete(&op->done);
	chimney_tree_op_put(op);
}

typedef int (*chimney_tree_fn)(struct chimney_drv *drv,
			       struct chimney_offload_block *root,
			       chimney_drv_tree_done_fn done, void *ctx);

/*
 * Submit a tree and wait.  0: the command completed (op->status and the
 * blocks' statuses say how); else the command did not run or timed out
 * (then the op stays allocated until its completion).
 */
static int chimney_tree_sync(struct chimney_priv *priv, chimney_tree_fn fn,
			     struct chimney_tree_op *op,
			     struct chimney_offload_block *root)
{
	int err, tries = 0;

	refcount_inc(&op->ref);
	for (;;) {
		err = priv->drv_up ? fn(&priv->drv, root, chimney_tree_done, op)
				   : -ENETDOWN;
		if (err != -EBUSY || ++tries > 2000)
			break;
		usleep_range(200, 500);
	}
	if (err) {
		refcount_dec(&op->ref);
		return err;
	}
	if (!wait_for_completion_timeout(&op->done, CHIMNEY_TREE_TIMEOUT)) {
		netdev_err(priv->ndev, "state operation timed out\n");
		return -ETIMEDOUT;
	}
	return 0;
}

static void chimney_state_hdr(ChimneyStateHdr *h, u32 len)
{
	h->length = len;
	h->recognized_options = 0;
}

/* Terminate a path or neighbor object (no delegated state wanted). */
static int chimney_terminate_obj(struct chimney_priv *priv, u16 type,
				 u64 *slot)
{
	struct chimney_tree_op *op = chimney_tree_op_alloc();
	int err;

	if (!op)
		return -ENOMEM;
	op->nb.type = type;
	op->nb.miniport_offload_context = slot;
	err = chimney_tree_sync(priv, chimney_drv_terminate_offload, op,
				&op->nb);
	if (!err && op->nb.status != CHIMNEY_ST_SUCCESS)
		err = -EIO;
	if (err)
		netdev_warn(priv->ndev, "TERMINATE of object %llx: %d status %x\n",
			    *slot, err, op->nb.status);
	chimney_tree_op_put(op);
	return err;
}

/* Under chimney_mutex: terminate paths and neighbors nobody uses. */
static void chimney_gc(void)
{
	struct chimney_path *p, *pn;
	struct chimney_neigh *n, *nn;

	list_for_each_entry_safe(p, pn, &chimney_paths, node) {
		if (p->refs)
			continue;
		if (p->handle)
			chimney_terminate_obj(p->neigh->priv, CHIMNEY_TYPE_IP4,
					      &p->handle);
		p->neigh->refs--;
		list_del(&p->node);
		kfree(p);
	}
	list_for_each_entry_safe(n, nn, &chimney_neighs, node) {
		if (n->refs)
			continue;
		if (n->handle)
			chimney_terminate_obj(n->priv, CHIMNEY_TYPE_NEIGH,
					      &n->handle);
		list_del(&n->node);
		kfree(n);
	}
}

/* ---- Send requests ------------------------------------------------------ */

static struct chimney_sreq *chimney_sreq_alloc(struct chimney_conn *c,
					       u32 len)
{
	struct chimney_sreq *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	r->buf = kmalloc(len, GFP_KERNEL | __GFP_NOWARN);
	if (!r->buf) {
		kfree(r);
		return NULL;
	}
	r->conn = c;
	r->len = len;
	r->cap = len;
	return r;
}

static int chimney_sreq_map(struct chimney_sreq *r)
{
	struct device *dev = r->conn->priv->dev;

	r->dma = dma_map_single(dev, r->buf, r->len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, r->dma)) {
		r->dma = 0;
		return -ENOMEM;
	}
	return 0;
}

static void chimney_sreq_free(struct chimney_sreq *r)
{
	if (r->dma)
		dma_unmap_single(r->conn->priv->dev, r->dma, r->len,
				 DMA_TO_DEVICE);
	kfree(r->buf);
	kfree(r);
}

/* Allocate a request buffer, smaller ones when memory is fragmented. */
static struct chimney_sreq *chimney_sreq_get(struct chimney_conn *c, u32 want)
{
	struct chimney_sreq *r;
	u32 len = min(want, CHIMNEY_SREQ_MAX);

	for (;;) {
		r = chimney_sreq_alloc(c, len);
		if (r || len <= PAGE_SIZE)
			return r;
		len /= 2;
	}
}

/* ---- Wake-ups ----------------------------------------------------------- */

static void chimney_wake(struct sock *sk)
{
	sk->sk_data_ready(sk);
	sk->sk_write_space(sk);
}

/* ---- Offload ------------------------------------------------------------ */

static u32 chimney_jiffies_to_ticks(long j)
{
	if (j <= 0)
		return 0;
	return jiffies_to_msecs(j);
}

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
	ca->initial_rcv_wnd = min_t(u32, max_t(u32, tcp_full_space(sk),
					       tcp_receive_window(tp)),
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
	d->rcv_wnd = tcp_receive_window(tp);
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

static void chimney_hash_add(struct chimney_conn *c)
{
	spin_lock_bh(&chimney_hash_lock);
	hash_add_rcu(chimney_hash, &c->hnode,
		     chimney_hash_key(c->saddr, c->daddr, c->sport, c->dport));
	spin_unlock_bh(&chimney_hash_lock);
	atomic_inc(&c->priv->ofl_conns);
}

static void chimney_hash_del(struct chimney_conn *c)
{
	spin_lock_bh(&chimney_hash_lock);
	hash_del_rcu(&c->hnode);
	spin_unlock_bh(&chimney_hash_lock);
	atomic_dec(&c->priv->ofl_conns);
}

static void chimney_idr_del(struct chimney_conn *c)
{
	spin_lock_bh(&chimney_idr_lock);
	idr_remove(&chimney_idr, c->id);
	spin_unlock_bh(&chimney_idr_lock);
}

static void chimney_upload_workfn(struct work_struct *w);

/* TCP_ULP init: offload @sk (socket lock held). */
static int chimney_offload(struct sock *sk)
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
	u32 hrd = 0, nsl = 0, i;
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
	INIT_LIST_HEAD(&c->node);
	INIT_WORK(&c->upload_work, chimney_upload_workfn);
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

	err = chimney_tree_sync(priv, chimney_drv_initiate_offload, op, root);
	if (err == -ETIMEDOUT) {
		/* the tree may still complete: leave everything it names */
		op = NULL;
		sbl = NULL;
		new_n = NULL;
		new_p = NULL;
		INIT_LIST_HEAD(&sl);
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

	/* The device owns the connection. */
	c->handle = op->tslot;
	c->path = p;
	p->refs++;
	list_splice_tail_init(&sl, &c->sreqs);
	list_for_each_entry(r, &c->sreqs, node)
		c->inflight += r->len;
	chimney_purge_sendq(sk);
	chimney_take_rcvq(c, sk);
	c->rx_eof = !!(sk->sk_shutdown & RCV_SHUTDOWN);
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
	list_add_tail(&c->node, &chimney_conns);
	mutex_unlock(&chimney_mutex);
	if (sbl)
		dma_free_coherent(priv->dev, sbl_len, sbl, sbl_dma);
	chimney_tree_op_put(op);
	netdev_dbg(priv->ndev, "offloaded %pI4:%u -> %pI4:%u (conn %u, %s neighbor, %s path): send list %u bytes in %u entries, %u unread bytes\n",
		   &c->saddr, ntohs(c->sport), &c->daddr, ntohs(c->dport),
		   c->id, shared_n ? "shared" : "new", shared_p ? "shared" : "new",
		   c->inflight, nsl, c->rq_bytes);
	chimney_wake(sk);
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
	return err;
}

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
	bool fin = st == CHIMNEY_TCPS_CLOSE_WAIT || st == CHIMNEY_TCPS_CLOSING ||
		   st == CHIMNEY_TCPS_LAST_ACK || st == CHIMNEY_TCPS_TIME_WAIT;
	bool alive = st == CHIMNEY_TCPS_ESTABLISHED ||
		     st == CHIMNEY_TCPS_CLOSE_WAIT;
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

		if (off && !pskb_pull(skb, off)) {
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

	if (!alive) {
		/* RST or a close the host stack must finish: reset */
		spin_lock_bh(&c->lock);
		sk->sk_err = c->aborted ? ECONNRESET : EPIPE;
		spin_unlock_bh(&c->lock);
		sk_error_report(sk);
		tcp_done(sk);
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
static int chimney_upload_locked(struct chimney_conn *c, bool detach)
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

static void chimney_upload_workfn(struct work_struct *w)
{
	struct chimney_conn *c = container_of(w, struct chimney_conn,
					      upload_work);
	struct sock *sk = c->sk;

	lock_sock(sk);
	chimney_upload_locked(c, true);
	release_sock(sk);
	chimney_conn_put(c);
}

/* Any context: upload @c from the workqueue. */
static void chimney_queue_upload(struct chimney_conn *c)
{
	refcount_inc(&c->ref);
	if (!queue_work(chimney_wq, &c->upload_work))
		chimney_conn_put(c);
}

/* Upload every connection (of @priv, or all when NULL). */
static void chimney_upload_all(struct chimney_priv *priv)
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
		lock_sock(v[i]->sk);
		chimney_upload_locked(v[i], true);
		release_sock(v[i]->sk);
		chimney_conn_put(v[i]);
	}
	kfree(v);
}

static void chimney_upload_all_workfn(struct work_struct *w)
{
	chimney_upload_all(NULL);
}

static DECLARE_WORK(chimney_upload_all_work, chimney_upload_all_workfn);

/* ---- The offloaded socket's protocol ------------------------------------ */

static u32 chimney_snd_budget(struct sock *sk)
{
	u32 sndbuf = READ_ONCE(sk->sk_sndbuf);

	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK)
		return sndbuf;
	return max(sndbuf, CHIMNEY_SND_MIN_BUDGET);
}

static u32 chimney_rq_limit(struct sock *sk)
{
	return max_t(u32, READ_ONCE(sk->sk_rcvbuf), CHIMNEY_RQ_MIN);
}

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

static int chimney_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	struct chimney_conn *c;
	struct chimney_sreq *r;
	int flags = msg->msg_flags;
	size_t copied = 0;
	long timeo;
	int err = 0, ret, tries;
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
		if (READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED) {
			/* uploaded meanwhile: the kernel takes the rest */
			ret = tcp_sendmsg_locked(sk, msg, msg_data_left(msg));
			if (ret < 0 && !copied)
				err = ret;
			else if (ret > 0)
				copied += ret;
			goto out;
		}
		if (READ_ONCE(c->err)) {
			err = -READ_ONCE(c->err);
			goto out;
		}
		if (sk->sk_shutdown & SEND_SHUTDOWN) {
			err = -EPIPE;
			goto out;
		}
		space = chimney_snd_budget(sk);
		space = space > c->inflight ? space - c->inflight : 0;
		if (!space || READ_ONCE(c->retrieve)) {
			if (!timeo) {
				err = -EAGAIN;
				goto out;
			}
			if (signal_pending(current)) {
				err = sock_intr_errno(timeo);
				goto out;
			}
			set_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
			add_wait_queue(sk_sleep(sk), &wait);
			sk_wait_event(sk, &timeo, chimney_can_send(c, sk) &&
				      !READ_ONCE(c->retrieve), &wait);
			remove_wait_queue(sk_sleep(sk), &wait);
			continue;
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
		spin_lock_bh(&c->lock);
		r->cookie = (u64)c->id << 32 | c->send_seq++;
		r->state = CHIMNEY_SREQ_SUBMITTED;
		list_add_tail(&r->node, &c->sreqs);
		c->inflight += r->len;
		spin_unlock_bh(&c->lock);
		copied += r->len;
		/* accepted or not, the data is ours now (upload returns it) */
		tries = 0;
		do {
			ret = chimney_drv_send(&c->priv->drv, c->handle, r->dma,
					       r->len,
					       msg_data_left(msg) ||
					       (flags & MSG_MORE) ? 0 :
					       CHIMNEY_SENDF_PUSH,
					       r->cookie, chimney_send_accepted,
					       r);
			if (ret == -EBUSY)
				usleep_range(100, 300);
		} while (ret == -EBUSY && ++tries < 10000);
		if (ret) {
			spin_lock_bh(&c->lock);
			r->state = CHIMNEY_SREQ_NEW;
			spin_unlock_bh(&c->lock);
			chimney_upload_locked(c, false);
		}
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
static void chimney_rx_resume(struct chimney_conn *c, struct sock *sk)
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
		if (n && !(flags & MSG_PEEK))
			chimney_rx_resume(c, sk);
		if (copied >= target || (flags & MSG_PEEK && copied))
			break;
		if (READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED &&
		    skb_queue_empty_lockless(&c->rq)) {
			/* uploaded meanwhile: the kernel has the rest */
			if (!copied) {
				release_sock(sk);
				chimney_conn_put(c);
				return tcp_recvmsg(sk, msg, len, flags,
						   addr_len);
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
			if (!copied)
				copied = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			if (!copied)
				copied = sock_intr_errno(timeo);
			break;
		}
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
	if (READ_ONCE(c->rx_eof) || (sk->sk_shutdown & RCV_SHUTDOWN))
		mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
	if (!(sk->sk_shutdown & SEND_SHUTDOWN)) {
		if (READ_ONCE(c->inflight) < chimney_snd_budget(sk) &&
		    !READ_ONCE(c->retrieve))
			mask |= EPOLLOUT | EPOLLWRNORM;
		else
			set_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
	}
	if (READ_ONCE(c->err))
		mask |= EPOLLERR | EPOLLHUP | EPOLLIN | EPOLLRDNORM;
	rcu_read_unlock();
	return mask;
}

static void chimney_close(struct sock *sk, long timeout)
{
	struct chimney_conn *c;

	/* The host stack closes (FIN, TIME_WAIT or RST): upload first. */
	lock_sock(sk);
	c = chimney_sk_conn(sk);
	if (c && chimney_upload_locked(c, false)) {
		/* the device keeps it; its end comes with the device's */
		pr_err("close: upload failed, the connection stays offloaded\n");
		WRITE_ONCE(sk->sk_shutdown, SHUTDOWN_MASK);
		release_sock(sk);
		return;
	}
	release_sock(sk);
	tcp_close(sk, timeout);
}

/* inet_shutdown: socket lock held, sk_shutdown already updated. */
static void chimney_shutdown(struct sock *sk, int how)
{
	struct chimney_conn *c = chimney_sk_conn(sk);

	if (c)
		chimney_upload_locked(c, false);
	if (!chimney_sk_conn(sk))
		tcp_shutdown(sk, how);
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

static struct tcp_ulp_ops chimney_ulp_ops = {
	.name	= CHIMNEY_ULP_NAME,
	.owner	= THIS_MODULE,
	.init	= chimney_offload,
};

/* ---- Events (NAPI context) ---------------------------------------------- */

u32 chimney_ofl_on_indicate(void *ctx, u64 host_handle, u64 handle,
			    const struct chimney_drv_ind_frag *frags,
			    u32 nfrags, u32 total)
{
	struct chimney_priv *priv = ctx;
	struct chimney_conn *c = chimney_conn_lookup((u32)host_handle);
	struct sk_buff_head q;
	struct sk_buff *skb;
	u32 take, i, n, left;
	int err;

	if (!c)
		return 0;
	__skb_queue_head_init(&q);
	/* the room left in the receive queue, at most */
	take = chimney_rq_limit(c->sk);
	take = take > READ_ONCE(c->rq_bytes) ? take - READ_ONCE(c->rq_bytes) : 0;
	take = min(take, total);
	left = take;
	for (i = 0; i < nfrags && left; i++) {
		n = min(frags[i].len, left);
		skb = alloc_skb(n, GFP_ATOMIC);
		if (!skb)
			break;
		chimney_drv_ind_read(&priv->drv, &frags[i], 0, skb_put(skb, n),
				     n);
		CHIMNEY_RXCB(skb)->off = 0;
		__skb_queue_tail(&q, skb);
		left -= n;
	}
	take -= left;

	spin_lock_bh(&c->lock);
	if (c->state != CHIMNEY_CONN_OFFLOADED) {
		/* an upload is under way: TERMINATE returns the data */
		spin_unlock_bh(&c->lock);
		skb_queue_purge(&q);
		chimney_conn_put(c);
		return 0;
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
	if (take < total)
		c->rx_suppressed = true;
	spin_unlock_bh(&c->lock);
	c->sk->sk_data_ready(c->sk);
	chimney_conn_put(c);
	return err ? take : CHIMNEY_DRV_IND_DEFER;
}

void chimney_ofl_on_io_done(void *ctx, u64 cookie, u64 handle, u16 type,
			    u32 status, u32 info)
{
	struct chimney_conn *c;
	struct chimney_sreq *r;

	if (type != CHIMNEY_EVT_SEND_DONE)
		return;		/* RECV_DONE of the zero-length posts */
	c = chimney_conn_lookup(cookie >> 32);
	if (!c)
		return;
	spin_lock_bh(&c->lock);
	r = list_first_entry_or_null(&c->sreqs, struct chimney_sreq, node);
	if (!r || r->cookie != cookie) {
		spin_unlock_bh(&c->lock);
		netdev_warn(c->priv->ndev, "SEND_DONE %llx out of order\n",
			    cookie);
		chimney_conn_put(c);
		return;
	}
	list_del(&r->node);
	c->inflight -= r->len;
	c->bytes_sent += info;
	if (status != CHIMNEY_ST_SUCCESS && !c->err)
		c->err = status == CHIMNEY_ST_REQUEST_ABORTED ? ECONNRESET : EIO;
	spin_unlock_bh(&c->lock);
	chimney_sreq_free(r);
	c->sk->sk_write_space(c->sk);
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
		break;
	case CHIMNEY_EVT_TCP_RETRIEVE:
		c->retrieve = true;
		break;
	default:
		break;
	}
	spin_unlock_bh(&c->lock);
	if (type == CHIMNEY_EVT_TCP_ABORT || type == CHIMNEY_EVT_TCP_RETRIEVE) {
		netdev_dbg(c->priv->ndev, "conn %u: event %x (%u): upload\n",
			   c->id, type, info);
		chimney_queue_upload(c);
	}
	c->sk->sk_state_change(c->sk);
	chimney_wake(c->sk);
	chimney_conn_put(c);
}

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
		hrd = chimney_jiffies_to_ticks(jiffies - READ_ONCE(n->confirmed));
	}
	rcu_read_unlock_bh();
	chimney_drv_neigh_reply(&priv->drv, handle, hrd, NULL, NULL);
}

void chimney_ofl_on_status(struct chimney_priv *priv, u16 code)
{
	if (code == CHIMNEY_STATUS_IND_UPLOAD_ALL)
		queue_work(chimney_wq, &chimney_upload_all_work);
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
	p.push_ticks = 0;
	p.nce_stale_ticks = 30000;
	p.fin_wait2_ticks = 60000;
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

/* ---- /dev/chimney --------------------------------------------------------- */

static int chimney_ioc_upload(int fd)
{
	struct chimney_conn *c;
	struct socket *sock;
	struct sock *sk;
	int err;

	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return err;
	sk = sock->sk;
	err = -ENOENT;
	if (sk) {
		lock_sock(sk);
		c = chimney_sk_conn(sk);
		if (c && inet_csk(sk)->icsk_ulp_ops == &chimney_ulp_ops)
			err = chimney_upload_locked(c, true);
		release_sock(sk);
	}
	sockfd_put(sock);
	return err;
}

static void chimney_query_conn(struct chimney_conn *c,
			       struct chimney_conn_info *ci)
{
	struct chimney_tree_op *op = chimney_tree_op_alloc();
	ChimneyTcpDelegated *d;
	int err;

	ci->saddr = c->saddr;
	ci->daddr = c->daddr;
	ci->sport = c->sport;
	ci->dport = c->dport;
	ci->id = c->id;
	/* paths and neighbors change only under chimney_mutex, held here */
	ci->tcp_handle = c->handle;
	if (c->path) {
		ci->path_handle = c->path->handle;
		ci->path_mtu = c->path->mtu;
		ci->path_conns = min_t(unsigned int, c->path->refs, U16_MAX);
		if (c->path->neigh) {
			struct chimney_neigh *n = c->path->neigh;

			ci->neigh_handle = n->handle;
			ci->nexthop = n->nexthop;
			memcpy(ci->neigh_mac, n->mac, ETH_ALEN);
			ci->neigh_paths = min_t(unsigned int, n->refs,
						U16_MAX);
		}
	}
	spin_lock_bh(&c->lock);
	ci->flags = (c->rx_eof ? CHIMNEY_CONNF_RX_EOF : 0) |
		    (c->aborted ? CHIMNEY_CONNF_ABORTED : 0) |
		    (c->retrieve ? CHIMNEY_CONNF_RETRIEVE : 0);
	ci->bytes_sent = c->bytes_sent;
	ci->bytes_rcvd = c->bytes_rcvd;
	ci->send_inflight = c->inflight;
	ci->rq_bytes = c->rq_bytes;
	spin_unlock_bh(&c->lock);
	if (!op) {
		ci->query_status = CHIMNEY_ST_RESOURCES;
		return;
	}
	d = &op->tst.d;
	chimney_state_hdr(&d->hdr, sizeof(*d));
	op->tslot = c->handle;
	op->tb.type = CHIMNEY_TYPE_TCP_DELEGATED;
	op->tb.miniport_offload_context = &op->tslot;
	op->tb.state = d;
	op->tb.state_len = sizeof(*d);
	err = chimney_tree_sync(c->priv, chimney_drv_query_offload, op,
				&op->tb);
	if (err == -ETIMEDOUT)
		return;		/* op stays with the command */
	ci->query_status = err ? CHIMNEY_ST_FAILURE : op->tb.status;
	if (!err && op->tb.status == CHIMNEY_ST_SUCCESS) {
		ci->state = d->state;
		ci->rcv_nxt = d->rcv_nxt;
		ci->rcv_wnd = d->rcv_wnd;
		ci->snd_una = d->snd_una;
		ci->snd_nxt = d->snd_nxt;
		ci->snd_max = d->snd_max;
		ci->snd_wnd = d->snd_wnd;
		ci->cwnd = d->cwnd;
		ci->srtt = d->srtt;
		ci->rcv_backlog = d->rcv_backlog_size;
	}
	chimney_tree_op_put(op);
}

static int chimney_ioc_list(struct chimney_list_req __user *ureq)
{
	struct chimney_list_req req;
	struct chimney_conn_info ci;
	struct chimney_conn *c;
	u32 n = 0;
	int err = 0;

	if (copy_from_user(&req, ureq, sizeof(req)))
		return -EFAULT;
	mutex_lock(&chimney_mutex);
	list_for_each_entry(c, &chimney_conns, node) {
		if (n < req.max) {
			memset(&ci, 0, sizeof(ci));
			chimney_query_conn(c, &ci);
			if (copy_to_user(u64_to_user_ptr(req.conns) +
					 n * sizeof(ci), &ci, sizeof(ci))) {
				err = -EFAULT;
				break;
			}
		}
		n++;
	}
	mutex_unlock(&chimney_mutex);
	if (err)
		return err;
	req.count = n;
	return copy_to_user(ureq, &req, sizeof(req)) ? -EFAULT : 0;
}

static long chimney_misc_ioctl(struct file *f, unsigned int cmd,
			       unsigned long arg)
{
	int fd;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	switch (cmd) {
	case CHIMNEY_IOC_UPLOAD:
		if (get_user(fd, (int __user *)arg))
			return -EFAULT;
		return chimney_ioc_upload(fd);
	case CHIMNEY_IOC_LIST:
		return chimney_ioc_list((struct chimney_list_req __user *)arg);
	case CHIMNEY_IOC_UPLOAD_ALL:
		chimney_upload_all(NULL);
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations chimney_misc_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= chimney_misc_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice chimney_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= CHIMNEY_MISC_NAME,
	.fops	= &chimney_misc_fops,
};

/* ---- Module --------------------------------------------------------------- */

int chimney_ofl_init(void)
{
	int err;

	chimney_prot = tcp_prot;
	chimney_prot.close = chimney_close;
	chimney_prot.shutdown = chimney_shutdown;
	chimney_prot.sendmsg = chimney_sendmsg;
	chimney_prot.recvmsg = chimney_recvmsg;
	chimney_prot.sendpage = NULL;	/* sock_no_sendpage -> sendmsg */
	chimney_prot.ioctl = chimney_ioctl;
	chimney_prot.keepalive = chimney_keepalive;
	chimney_prot.stream_memory_free = chimney_stream_memory_free;
	chimney_stream_ops = inet_stream_ops;
	chimney_stream_ops.poll = chimney_poll;
	chimney_stream_ops.splice_read = NULL;	/* generic: read_iter */
	chimney_stream_ops.read_sock = NULL;
	chimney_stream_ops.mmap = sock_no_mmap;

	chimney_wq = alloc_workqueue("chimney_ofl", WQ_UNBOUND, 0);
	if (!chimney_wq)
		return -ENOMEM;
	err = misc_register(&chimney_misc);
	if (err)
		goto err_wq;
	err = tcp_register_ulp(&chimney_ulp_ops);
	if (err)
		goto err_misc;
	return 0;

err_misc:
	misc_deregister(&chimney_misc);
err_wq:
	destroy_workqueue(chimney_wq);
	return err;
}

void chimney_ofl_exit(void)
{
	tcp_unregister_ulp(&chimney_ulp_ops);
	misc_deregister(&chimney_misc);
	flush_work(&chimney_upload_all_work);
	destroy_workqueue(chimney_wq);
	/* conn memory is freed with kfree_rcu */
	rcu_barrier();
	idr_destroy(&chimney_idr);
}

MODULE_ALIAS_TCP_ULP(CHIMNEY_ULP_NAME);
