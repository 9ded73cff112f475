// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: changes of the network pushed to the offloaded neighbor and
 * path objects (CMD_UPDATE).
 *
 * The device keeps a copy of what the host stack knows about a next hop
 * (its MAC, ChimneyNeighCached) and a path (its MTU, ChimneyPathCached),
 * and which neighbor a path sends through.  When the kernel's view changes
 * the driver pushes the change:
 *
 * - a neighbour entry's new MAC (NETEVENT_NEIGH_UPDATE): UPDATE of the
 *   neighbor's cached state (dl_dst_addr, HRD);
 * - a route change (FIB notifier, NETEVENT_REDIRECT, an interface MTU
 *   change): every path's route is looked up again; a new MTU is an UPDATE
 *   of the path's cached state, a new next hop relinks the path under the
 *   neighbor object of that next hop (spec "UPDATE", "Relink": a path REF
 *   block under a neighbor REF block), created first if needed; a route
 *   that no longer leaves through the path's chimney-nic uploads the
 *   path's connections (a path cannot move to another device);
 * - ICMP "fragmentation needed" for an offloaded connection: the kernel's
 *   own handling (tcp_v4_err) does not reach the device (it checks the
 *   quoted sequence number against the socket's snd_una..snd_nxt, which
 *   stay at their values of the offload, and tcp_v4_mtu_reduced only
 *   works on the kernel's queues, which the device owns), so a netfilter
 *   hook notes the MTU and the quoted sequence number; the work checks
 *   the number against the device's snd_una..snd_max (CMD_QUERY), as the
 *   kernel would against its own, and applies the MTU to the socket's
 *   route (inet_csk_update_pmtu, tcp_sync_mss) before the path check
 *   pushes it.
 *
 * Notifiers run in atomic context: they only queue the work, which does
 * everything under chimney_mutex, in the order the kernel's state has at
 * that time (several events make one pass).
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/icmp.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <net/netevent.h>
#include <net/fib_notifier.h>
#include <net/ip_fib.h>

#include "chimney_ofl.h"

static void chimney_net_workfn(struct work_struct *w);
static DECLARE_WORK(chimney_net_work, chimney_net_workfn);

static void chimney_net_kick(void)
{
	queue_work(chimney_wq, &chimney_net_work);
}

/*
 * The HostReachabilityDelta of the kernel's entry @ne (spec "Neighbor
 * reachability"): ticks since the host last confirmed it; 0 for an entry
 * that is always reachable (permanent, no ARP) and, as the spec asks, 0
 * for one that is not confirmed (stale, delay, probe) - the kernel's own
 * unreachability detection then verifies it (the caller starts it).
 */
u32 chimney_neigh_hrd(struct neighbour *ne)
{
	u8 st = READ_ONCE(ne->nud_state);

	if (!(st & NUD_REACHABLE))
		return 0;
	return chimney_jiffies_to_ticks(jiffies - READ_ONCE(ne->confirmed));
}

/* ---- UPDATE operations (chimney_mutex held) ----------------------------- */

static int chimney_update_neigh(struct chimney_neigh *n, const u8 *mac,
				u32 hrd)
{
	struct chimney_tree_op *op = chimney_tree_op_alloc();
	int err;

	if (!op)
		return -ENOMEM;
	chimney_state_hdr(&op->nst.ca.hdr, sizeof(op->nst.ca));
	ether_addr_copy(op->nst.ca.dl_dst_addr, mac);
	op->nst.ca.host_reachability_delta = hrd;
	op->nslot = n->handle;
	op->nb.type = CHIMNEY_TYPE_NEIGH;
	op->nb.miniport_offload_context = &op->nslot;
	op->nb.state = &op->nst.ca;
	op->nb.state_len = sizeof(op->nst.ca);
	err = chimney_tree_sync(n->priv, chimney_drv_update_offload, op,
				&op->nb);
	if (!err && (op->status != CHIMNEY_ST_SUCCESS ||
		     op->nb.status != CHIMNEY_ST_SUCCESS))
		err = -EIO;
	if (err)
		netdev_warn(n->priv->ndev, "UPDATE of neighbor %pI4 (MAC %pM): %d, status %x/%x\n",
			    &n->nexthop, mac, err, op->status, op->nb.status);
	else
		chimney_ofl_count(n->priv, CHIMNEY_OFL_UPDATES, 1);
	chimney_tree_op_put(op);
	return err;
}

/*
 * UPDATE of path @p: relinked under @to (if not NULL) and/or its MTU set
 * to @mtu (if not 0).  Returns the status of the path's block, or -errno.
 */
static int chimney_update_path(struct chimney_path *p,
			       struct chimney_neigh *to, u32 mtu, u32 *status)
{
	struct chimney_priv *priv = p->neigh->priv;
	struct chimney_offload_block *root;
	struct chimney_tree_op *op = chimney_tree_op_alloc();
	int err;

	if (!op)
		return -ENOMEM;
	op->pslot = p->handle;
	op->pb.type = CHIMNEY_TYPE_IP4;
	op->pb.miniport_offload_context = &op->pslot;
	if (mtu) {
		chimney_state_hdr(&op->pst.ca.hdr, sizeof(op->pst.ca));
		op->pst.ca.path_mtu = mtu;
		op->pb.state = &op->pst.ca;
		op->pb.state_len = sizeof(op->pst.ca);
	}
	root = &op->pb;
	if (to) {
		/* a neighbor REF block without state, the path under it */
		op->nslot = to->handle;
		op->nb.type = CHIMNEY_TYPE_NEIGH;
		op->nb.miniport_offload_context = &op->nslot;
		op->nb.dependent_block_list = &op->pb;
		root = &op->nb;
	}
	err = chimney_tree_sync(priv, chimney_drv_update_offload, op, root);
	if (!err && op->status != CHIMNEY_ST_SUCCESS)
		err = -EIO;
	if (!err) {
		*status = op->pb.status;
		if (to && op->nb.status != CHIMNEY_ST_SUCCESS)
			*status = op->nb.status;
	}
	if (err || *status != CHIMNEY_ST_SUCCESS)
		netdev_warn(priv->ndev, "UPDATE of path %pI4 -> %pI4 (neighbor %pI4, MTU %u): %d, status %x\n",
			    &p->saddr, &p->daddr, to ? &to->nexthop :
			    &p->neigh->nexthop, mtu, err, err ? 0 : *status);
	else
		chimney_ofl_count(priv, CHIMNEY_OFL_UPDATES, 1);
	chimney_tree_op_put(op);
	return err;
}

/* The kernel's MAC and HRD for @nexthop on @dev; else start resolving. */
static bool chimney_kernel_neigh(struct net_device *dev, __be32 nexthop,
				 u8 *mac, u32 *hrd)
{
	struct neighbour *ne;
	bool valid = false;

	rcu_read_lock_bh();
	ne = __ipv4_neigh_lookup_noref(dev, (__force u32)nexthop);
	if (ne && (READ_ONCE(ne->nud_state) & NUD_VALID)) {
		neigh_ha_snapshot((char *)mac, ne, dev);
		*hrd = chimney_neigh_hrd(ne);
		valid = true;
	}
	rcu_read_unlock_bh();
	if (valid)
		return true;
	/* the NEIGH_UPDATE of the resolution brings the work back */
	ne = neigh_lookup(&arp_tbl, &nexthop, dev);
	if (!ne)
		ne = neigh_create(&arp_tbl, &nexthop, dev);
	if (!IS_ERR_OR_NULL(ne)) {
		neigh_event_send(ne, NULL);
		neigh_release(ne);
	}
	return false;
}

/* The neighbor object for @nexthop on @priv, created if needed. */
static struct chimney_neigh *chimney_neigh_get(struct chimney_priv *priv,
					       __be32 nexthop)
{
	struct chimney_tree_op *op;
	struct chimney_neigh *n;
	u8 mac[ETH_ALEN];
	u32 hrd = 0;
	int err;

	if (!chimney_kernel_neigh(priv->ndev, nexthop, mac, &hrd))
		return NULL;
	list_for_each_entry(n, &chimney_neighs, node)
		if (n->priv == priv && n->nexthop == nexthop && n->handle &&
		    ether_addr_equal(n->mac, mac))
			return n;

	n = kzalloc(sizeof(*n), GFP_KERNEL);
	op = chimney_tree_op_alloc();
	if (!n || !op) {
		kfree(n);
		if (op)
			chimney_tree_op_put(op);
		return NULL;
	}
	n->priv = priv;
	n->nexthop = nexthop;
	ether_addr_copy(n->mac, mac);
	chimney_state_hdr(&op->nst.c.hdr, sizeof(op->nst.c));
	chimney_state_hdr(&op->nst.ca.hdr, sizeof(op->nst.ca));
	ether_addr_copy(op->nst.ca.dl_dst_addr, mac);
	op->nst.ca.host_reachability_delta = hrd;
	chimney_state_hdr(&op->nst.d.hdr, sizeof(op->nst.d));
	op->nb.type = CHIMNEY_TYPE_NEIGH;
	op->nb.miniport_offload_context = &n->handle;
	op->nb.ndis_offload_handle = (__force u32)nexthop;
	op->nb.state = &op->nst;
	op->nb.state_len = sizeof(op->nst);
	err = chimney_tree_sync(priv, chimney_drv_initiate_offload, op,
				&op->nb);
	if (err == -ETIMEDOUT) {
		/* the device may still write the handle into n: leave it */
		chimney_tree_op_put(op);
		return NULL;
	}
	if (err || op->status != CHIMNEY_ST_SUCCESS ||
	    op->nb.status != CHIMNEY_ST_SUCCESS || !n->handle) {
		netdev_warn(priv->ndev, "INITIATE of neighbor %pI4: %d, status %x/%x\n",
			    &nexthop, err, op->status, op->nb.status);
		if (!err && n->handle) {
			/* created after all: chimney_gc terminates it */
			list_add(&n->node, &chimney_neighs);
			n = NULL;
		}
		kfree(n);
		chimney_tree_op_put(op);
		return NULL;
	}
	chimney_tree_op_put(op);
	list_add(&n->node, &chimney_neighs);
	return n;
}

/* Upload every connection on @p (the device cannot follow the change). */
static void chimney_path_upload(struct chimney_path *p, const char *why)
{
	struct chimney_conn *c;

	netdev_info(p->neigh->priv->ndev, "path %pI4 -> %pI4: %s: uploading its connections\n",
		    &p->saddr, &p->daddr, why);
	list_for_each_entry(c, &chimney_conns, node)
		if (c->path == p)
			chimney_queue_upload(c);
}

static void chimney_neigh_check(struct chimney_neigh *n)
{
	u8 mac[ETH_ALEN];
	bool valid = false;
	struct neighbour *ne;
	u32 hrd = 0;

	rcu_read_lock_bh();
	ne = __ipv4_neigh_lookup_noref(n->priv->ndev, (__force u32)n->nexthop);
	if (ne && (READ_ONCE(ne->nud_state) & NUD_VALID)) {
		neigh_ha_snapshot((char *)mac, ne, n->priv->ndev);
		hrd = chimney_neigh_hrd(ne);
		valid = true;
	}
	rcu_read_unlock_bh();
	/* no valid entry: nothing to push (the kernel is resolving it) */
	if (!valid || ether_addr_equal(mac, n->mac))
		return;
	if (!chimney_update_neigh(n, mac, hrd)) {
		netdev_info(n->priv->ndev, "neighbor %pI4: MAC %pM -> %pM (UPDATE)\n",
			    &n->nexthop, n->mac, mac);
		ether_addr_copy(n->mac, mac);
	}
}

static void chimney_path_check(struct chimney_path *p)
{
	struct chimney_neigh *n = p->neigh, *to = NULL;
	struct chimney_priv *priv = n->priv;
	struct flowi4 fl4 = {
		.daddr = p->daddr,
		.saddr = p->saddr,
		.flowi4_proto = IPPROTO_TCP,
	};
	struct rtable *rt;
	struct net_device *dev;
	__be32 nexthop;
	u32 mtu, status = 0;
	int err;

	rt = ip_route_output_key(dev_net(priv->ndev), &fl4);
	if (IS_ERR(rt))
		return;		/* no route: the connections retransmit */
	dev = rt->dst.dev;
	nexthop = rt_nexthop(rt, p->daddr);
	mtu = min_t(u32, dst_mtu(&rt->dst), priv->cap_max_path_mtu);
	ip_rt_put(rt);
	if (dev != priv->ndev) {
		chimney_path_upload(p, "the route leaves through another interface");
		return;
	}
	if (nexthop != n->nexthop) {
		to = chimney_neigh_get(priv, nexthop);
		if (!to)
			return;	/* next hop not resolved yet */
	}
	if (!to && mtu == p->mtu)
		return;
	err = chimney_update_path(p, to, mtu != p->mtu ? mtu : 0, &status);
	if (err)
		return;
	if (status == CHIMNEY_ST_OFFLOAD_PATH_MTU ||
	    status == CHIMNEY_ST_INVALID_PARAMETER) {
		chimney_path_upload(p, "the device cannot use the new MTU");
		return;
	}
	if (status != CHIMNEY_ST_SUCCESS)
		return;
	if (to) {
		netdev_info(priv->ndev, "path %pI4 -> %pI4: next hop %pI4 -> %pI4 (relinked)\n",
			    &p->saddr, &p->daddr, &n->nexthop, &to->nexthop);
		n->refs--;
		to->refs++;
		p->neigh = to;
		chimney_ofl_count(priv, CHIMNEY_OFL_RELINKS, 1);
	}
	if (mtu != p->mtu) {
		netdev_info(priv->ndev, "path %pI4 -> %pI4: MTU %u -> %u (UPDATE)\n",
			    &p->saddr, &p->daddr, p->mtu, mtu);
		p->mtu = mtu;
	}
}

/*
 * Is @seq, quoted by an ICMP error, a sequence number the device has sent
 * and not had acknowledged (snd_una..snd_max, the kernel's own test with
 * the device's live values)?  Socket lock held, @c offloaded.
 */
static bool chimney_seq_in_flight(struct chimney_conn *c, u32 seq)
{
	struct chimney_tree_op *op = chimney_tree_op_alloc();
	ChimneyTcpDelegated *d;
	bool ok = false;
	int err;

	if (!op)
		return false;
	d = &op->tst.d;
	chimney_state_hdr(&d->hdr, sizeof(*d));
	op->tslot = c->handle;
	op->tb.type = CHIMNEY_TYPE_TCP_DELEGATED;
	op->tb.miniport_offload_context = &op->tslot;
	op->tb.state = d;
	op->tb.state_len = sizeof(*d);
	err = chimney_tree_sync(c->priv, chimney_drv_query_offload, op,
				&op->tb);
	if (!err && op->status == CHIMNEY_ST_SUCCESS &&
	    op->tb.status == CHIMNEY_ST_SUCCESS)
		ok = between(seq, d->snd_una, d->snd_max);
	if (!err && !ok)
		netdev_info(c->priv->ndev, "conn %u: ICMP frag-needed ignored: sequence %u outside %u..%u\n",
			    c->id, seq, d->snd_una, d->snd_max);
	chimney_tree_op_put(op);
	return ok;
}

/* ICMP frag-needed noted by the hook: the socket's route learns the MTU. */
static void chimney_pmtu_apply(void)
{
	struct chimney_conn *c, **v;
	struct dst_entry *dst;
	unsigned int n = 0, i;
	u32 mtu, seq;

	mutex_lock(&chimney_mutex);
	list_for_each_entry(c, &chimney_conns, node)
		if (READ_ONCE(c->pmtu_info))
			n++;
	v = n ? kcalloc(n, sizeof(*v), GFP_KERNEL) : NULL;
	n = 0;
	if (v) {
		list_for_each_entry(c, &chimney_conns, node) {
			if (!READ_ONCE(c->pmtu_info))
				continue;
			refcount_inc(&c->ref);
			v[n++] = c;
		}
	}
	mutex_unlock(&chimney_mutex);
	for (i = 0; i < n; i++) {
		c = v[i];
		lock_sock(c->sk);
		spin_lock_bh(&c->lock);
		mtu = c->pmtu_info;
		seq = c->pmtu_seq;
		c->pmtu_info = 0;
		spin_unlock_bh(&c->lock);
		if (mtu && chimney_sk_conn(c->sk) == c &&
		    chimney_seq_in_flight(c, seq)) {
			dst = inet_csk_update_pmtu(c->sk, mtu);
			if (dst)
				tcp_sync_mss(c->sk, dst_mtu(dst));
		}
		release_sock(c->sk);
		chimney_conn_put(c);
	}
	kfree(v);
}

static void chimney_net_workfn(struct work_struct *w)
{
	struct chimney_neigh *n;
	struct chimney_path *p, *pn;

	chimney_pmtu_apply();
	mutex_lock(&chimney_mutex);
	list_for_each_entry(n, &chimney_neighs, node)
		if (n->handle && READ_ONCE(n->priv->ofl_ready))
			chimney_neigh_check(n);
	list_for_each_entry_safe(p, pn, &chimney_paths, node)
		if (p->handle && p->refs &&
		    READ_ONCE(p->neigh->priv->ofl_ready))
			chimney_path_check(p);
	chimney_gc();
	mutex_unlock(&chimney_mutex);
}

/* ---- Notifiers (atomic context) ------------------------------------------ */

static int chimney_netevent(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	struct neighbour *ne = ptr;

	switch (event) {
	case NETEVENT_NEIGH_UPDATE:
		if (ne->tbl != &arp_tbl || !chimney_priv_from_netdev(ne->dev))
			return NOTIFY_DONE;
		break;
	case NETEVENT_REDIRECT:
		break;
	default:
		return NOTIFY_DONE;
	}
	chimney_net_kick();
	return NOTIFY_DONE;
}

static struct notifier_block chimney_netevent_nb = {
	.notifier_call = chimney_netevent,
};

static int chimney_fib_event(struct notifier_block *nb, unsigned long event,
			     void *ptr)
{
	struct fib_notifier_info *info = ptr;

	if (info->family != AF_INET)
		return NOTIFY_DONE;
	switch (event) {
	case FIB_EVENT_ENTRY_REPLACE:
	case FIB_EVENT_ENTRY_APPEND:
	case FIB_EVENT_ENTRY_ADD:
	case FIB_EVENT_ENTRY_DEL:
	case FIB_EVENT_RULE_ADD:
	case FIB_EVENT_RULE_DEL:
	case FIB_EVENT_NH_ADD:
	case FIB_EVENT_NH_DEL:
		chimney_net_kick();
		break;
	default:
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block chimney_fib_nb = {
	.notifier_call = chimney_fib_event,
};

static int chimney_netdev_event(struct notifier_block *nb,
				unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (event == NETDEV_CHANGEMTU && chimney_priv_from_netdev(dev))
		chimney_net_kick();
	return NOTIFY_DONE;
}

static struct notifier_block chimney_netdev_nb = {
	.notifier_call = chimney_netdev_event,
};

/*
 * ICMP "fragmentation needed" quoting a segment of an offloaded
 * connection: note its MTU for the work.  The message goes on to the
 * kernel unchanged.
 */
static unsigned int chimney_icmp_hook(void *arg, struct sk_buff *skb,
				      const struct nf_hook_state *state)
{
	const struct iphdr *iph = ip_hdr(skb);
	struct icmphdr _ih;
	const struct icmphdr *ih;
	struct iphdr _in;
	const struct iphdr *in;
	struct {
		__be16 sport, dport;
		__be32 seq;
	} _th;
	const typeof(_th) *th;
	struct chimney_conn *c;
	u32 off = skb_network_offset(skb) + iph->ihl * 4, mtu;
	bool hit = false;

	if (iph->protocol != IPPROTO_ICMP || ip_is_fragment(iph))
		return NF_ACCEPT;
	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || ih->type != ICMP_DEST_UNREACH ||
	    ih->code != ICMP_FRAG_NEEDED)
		return NF_ACCEPT;
	in = skb_header_pointer(skb, off + sizeof(_ih), sizeof(_in), &_in);
	if (!in || in->version != 4 || in->ihl < 5 ||
	    in->protocol != IPPROTO_TCP)
		return NF_ACCEPT;
	th = skb_header_pointer(skb, off + sizeof(_ih) + in->ihl * 4,
				sizeof(_th), &_th);
	mtu = ntohs(ih->un.frag.mtu);
	if (!th || !mtu)
		return NF_ACCEPT;

	/* the quoted segment is ours: saddr/sport are the local end */
	rcu_read_lock();
	hash_for_each_possible_rcu(chimney_hash, c, hnode,
				   chimney_hash_key(in->saddr, in->daddr,
						    th->sport, th->dport)) {
		if (c->saddr != in->saddr || c->daddr != in->daddr ||
		    c->sport != th->sport || c->dport != th->dport)
			continue;
		/* checked against the device's snd_una..snd_max by the work */
		spin_lock_bh(&c->lock);
		c->pmtu_info = mtu;
		c->pmtu_seq = ntohl(th->seq);
		spin_unlock_bh(&c->lock);
		hit = true;
		break;
	}
	rcu_read_unlock();
	if (hit)
		chimney_net_kick();
	return NF_ACCEPT;
}

static const struct nf_hook_ops chimney_icmp_ops = {
	.hook		= chimney_icmp_hook,
	.pf		= NFPROTO_IPV4,
	.hooknum	= NF_INET_LOCAL_IN,
	.priority	= NF_IP_PRI_FIRST,
};

/* Module init (after chimney_wq exists): network changes reach the work. */
int chimney_ofl_net_init(void)
{
	int err;

	err = register_netevent_notifier(&chimney_netevent_nb);
	if (err)
		return err;
	err = register_netdevice_notifier(&chimney_netdev_nb);
	if (err)
		goto err_netevent;
	/* the initial dump of the routes only queues the (idle) work */
	err = register_fib_notifier(&init_net, &chimney_fib_nb, NULL, NULL);
	if (err)
		goto err_netdev;
	err = nf_register_net_hook(&init_net, &chimney_icmp_ops);
	if (err)
		goto err_fib;
	return 0;

err_fib:
	unregister_fib_notifier(&init_net, &chimney_fib_nb);
err_netdev:
	unregister_netdevice_notifier(&chimney_netdev_nb);
err_netevent:
	unregister_netevent_notifier(&chimney_netevent_nb);
	cancel_work_sync(&chimney_net_work);
	return err;
}

void chimney_ofl_net_exit(void)
{
	nf_unregister_net_hook(&init_net, &chimney_icmp_ops);
	unregister_fib_notifier(&init_net, &chimney_fib_nb);
	unregister_netdevice_notifier(&chimney_netdev_nb);
	unregister_netevent_notifier(&chimney_netevent_nb);
	cancel_work_sync(&chimney_net_work);
}
