// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: the offload path's objects (connections, paths,
 * neighbors), synchronous tree operations and SEND request buffers.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

/* state operations; the lists of connections, paths, neighbors, devices */
DEFINE_MUTEX(chimney_mutex);
LIST_HEAD(chimney_conns);
LIST_HEAD(chimney_paths);
LIST_HEAD(chimney_neighs);
LIST_HEAD(chimney_devs);

DEFINE_IDR(chimney_idr);		/* id -> conn (RCU lookups) */
DEFINE_SPINLOCK(chimney_idr_lock);
DEFINE_HASHTABLE(chimney_hash, CHIMNEY_HASH_BITS);
static DEFINE_SPINLOCK(chimney_hash_lock);

struct workqueue_struct *chimney_wq;

static void chimney_sbuf_drain(struct chimney_conn *c);

void chimney_conn_put(struct chimney_conn *c)
{
	if (refcount_dec_and_test(&c->ref)) {
		skb_queue_purge(&c->rq);
		skb_queue_purge(&c->held);
		chimney_sbuf_drain(c);
		sock_put(c->sk);
		kfree_rcu(c, rcu);
	}
}

/* NAPI context: the connection of an event, with a reference. */
struct chimney_conn *chimney_conn_lookup(u32 id)
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
struct chimney_conn *chimney_sk_conn(struct sock *sk)
{
	if (READ_ONCE(sk->sk_prot) != &chimney_prot)
		return NULL;
	return rcu_dereference_check(inet_csk(sk)->icsk_ulp_data,
				     lockdep_sock_is_held(sk));
}

u32 chimney_hash_key(__be32 saddr, __be32 daddr, __be16 sport,
		     __be16 dport)
{
	return jhash_3words((__force u32)saddr, (__force u32)daddr,
			    (__force u32)sport << 16 | (__force u32)dport, 0);
}

/* ---- Synchronous tree operations --------------------------------------- */

void chimney_tree_op_put(struct chimney_tree_op *op)
{
	if (refcount_dec_and_test(&op->ref))
		kfree(op);
}

struct chimney_tree_op *chimney_tree_op_alloc(void)
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

/*
 * Submit a tree and wait.  0: the command completed (op->status and the
 * blocks' statuses say how); else the command did not run or timed out
 * (then the op stays allocated until its completion).
 */
int chimney_tree_sync(struct chimney_priv *priv, chimney_tree_fn fn,
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

void chimney_state_hdr(ChimneyStateHdr *h, u32 len)
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
void chimney_gc(void)
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

/* A kept send buffer of CHIMNEY_SREQ_MAX bytes for @len, or NULL. */
static struct chimney_sreq *chimney_sbuf_reuse(struct chimney_conn *c,
					       u32 len)
{
	struct chimney_sreq *r;

	spin_lock_bh(&c->sbuf_lock);
	r = list_first_entry_or_null(&c->sbuf_cache, struct chimney_sreq,
				     node);
	if (r) {
		list_del(&r->node);
		c->sbuf_cached--;
	}
	spin_unlock_bh(&c->sbuf_lock);
	if (r) {
		r->len = len;
		r->dma = 0;
		r->state = 0;
		r->cookie = 0;
		chimney_ofl_count(c->priv, CHIMNEY_OFL_SBUF_REUSED, 1);
	}
	return r;
}

/* Keep a finished request's buffer for the next one (any context). */
static bool chimney_sbuf_keep(struct chimney_sreq *r)
{
	struct chimney_conn *c = r->conn;
	bool kept = false;

	if (r->page || r->cap != CHIMNEY_SREQ_MAX ||
	    READ_ONCE(c->state) != CHIMNEY_CONN_OFFLOADED)
		return false;
	spin_lock_bh(&c->sbuf_lock);
	if (c->sbuf_cached < CHIMNEY_SBUF_CACHE) {
		list_add(&r->node, &c->sbuf_cache);
		c->sbuf_cached++;
		kept = true;
	}
	spin_unlock_bh(&c->sbuf_lock);
	return kept;
}

/* The last reference is gone: nobody else can reach the cache. */
static void chimney_sbuf_drain(struct chimney_conn *c)
{
	struct chimney_sreq *r, *rn;

	list_for_each_entry_safe(r, rn, &c->sbuf_cache, node) {
		list_del(&r->node);
		kfree(r->buf);
		kfree(r);
	}
	c->sbuf_cached = 0;
}

static struct chimney_sreq *chimney_sreq_alloc(struct chimney_conn *c,
					       u32 len)
{
	struct chimney_sreq *r = chimney_sbuf_reuse(c, len);

	if (r)
		return r;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return NULL;
	/* above the costly order: no compaction, smaller ones instead */
	r->buf = kmalloc(len, GFP_KERNEL | __GFP_NOWARN |
			 (get_order(len) > PAGE_ALLOC_COSTLY_ORDER ?
			  __GFP_NORETRY : 0));
	if (!r->buf) {
		kfree(r);
		return NULL;
	}
	r->conn = c;
	r->len = len;
	r->cap = len;
	return r;
}

int chimney_sreq_map(struct chimney_sreq *r)
{
	struct device *dev = r->conn->priv->dev;

	r->dma = dma_map_single(dev, r->buf, r->len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, r->dma)) {
		r->dma = 0;
		return -ENOMEM;
	}
	return 0;
}

void chimney_sreq_free(struct chimney_sreq *r)
{
	if (r->page) {			/* sendpage (chimney_ofl_tx.c) */
		dma_unmap_page(r->conn->priv->dev, r->dma, r->len,
			       DMA_TO_DEVICE);
		put_page(r->page);
		kfree(r);
		return;
	}
	if (r->dma)
		dma_unmap_single(r->conn->priv->dev, r->dma, r->len,
				 DMA_TO_DEVICE);
	if (chimney_sbuf_keep(r))
		return;
	kfree(r->buf);
	kfree(r);
}

/* Allocate a request buffer, smaller ones when memory is fragmented. */
struct chimney_sreq *chimney_sreq_get(struct chimney_conn *c, u32 want)
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

u32 chimney_jiffies_to_ticks(long j)
{
	if (j <= 0)
		return 0;
	return jiffies_to_msecs(j);
}

void chimney_hash_add(struct chimney_conn *c)
{
	spin_lock_bh(&chimney_hash_lock);
	hash_add_rcu(chimney_hash, &c->hnode,
		     chimney_hash_key(c->saddr, c->daddr, c->sport, c->dport));
	spin_unlock_bh(&chimney_hash_lock);
	atomic_inc(&c->priv->ofl_conns);
}

void chimney_hash_del(struct chimney_conn *c)
{
	spin_lock_bh(&chimney_hash_lock);
	hash_del_rcu(&c->hnode);
	spin_unlock_bh(&chimney_hash_lock);
	atomic_dec(&c->priv->ofl_conns);
}

void chimney_idr_del(struct chimney_conn *c)
{
	spin_lock_bh(&chimney_idr_lock);
	idr_remove(&chimney_idr, c->id);
	spin_unlock_bh(&chimney_idr_lock);
}

/* ---- Wake-ups ----------------------------------------------------------- */

/*
 * Room to write again.  Not sk_write_space (sk_stream_write_space): it
 * wakes only when sk_stream_memory_free() says so, and the offloaded
 * socket's stream_memory_free is false on purpose (see chimney_ofl_sock.c),
 * so a writer blocked in chimney_sendmsg() or poll() for EPOLLOUT would
 * sleep until something else (received data) woke the socket.
 */
void chimney_write_space(struct sock *sk)
{
	struct socket_wq *wq;

	if (sk->sk_socket)
		clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_poll(&wq->wait, EPOLLOUT | EPOLLWRNORM |
					   EPOLLWRBAND);
	if (wq && wq->fasync_list && !(sk->sk_shutdown & SEND_SHUTDOWN))
		sock_wake_async(wq, SOCK_WAKE_SPACE, POLL_OUT);
	rcu_read_unlock();
}

void chimney_wake(struct sock *sk)
{
	sk->sk_data_ready(sk);
	chimney_write_space(sk);
}
