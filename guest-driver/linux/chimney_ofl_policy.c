// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: the offload policy.  Rules (CHIMNEY_IOC_POLICY_*, at most
 * CHIMNEY_POLICY_MAX_RULES) name established IPv4 connections by
 * interface, port ranges, remote prefix and bytes moved; the module
 * applies them itself, so they work with unchanged programs and outlive
 * chimneyctl.
 *
 * A delayed work scans the established sockets of the namespaces that
 * have rules (their ehash, CHIMNEY_POLICY_BUCKETS buckets and at most
 * CHIMNEY_POLICY_BATCH candidates per pass, every CHIMNEY_POLICY_PERIOD):
 * a candidate is a user-space socket (one with a file) on the kernel's own
 * TCP (no ULP, not offloaded) whose route leaves through a chimney-nic that
 * is ready, matching a rule.  It is offloaded the way
 * setsockopt(TCP_ULP, "chimney") does it, with tcp_setsockopt() in the
 * work (process context), holding a reference to the socket's file so a
 * concurrent close() cannot run tcp_close() under the swapped protocol.
 *
 * Connections the policy must leave alone are remembered (at most
 * CHIMNEY_POLICY_RECS, keyed by namespace, 4-tuple and socket inode):
 * uploaded ones (by anybody, for any reason: never offloaded again by the
 * policy; chimneyctl offload still can), permanent failures (another ULP,
 * closing, ...), and transient failures (-EBUSY with out-of-order data,
 * no neighbour yet, device full, ...) with their retry time (1, 2, 4, 8 s;
 * permanent after CHIMNEY_POLICY_TRIES).  Records of sockets a complete
 * scan did not meet again are dropped; when the table is full the oldest
 * record goes.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/inet_hashtables.h>
#include "chimney_ofl.h"

#define CHIMNEY_POLICY_BUCKETS	1024	/* ehash buckets per pass */
#define CHIMNEY_POLICY_BATCH	16	/* offload attempts per pass */
#define CHIMNEY_POLICY_PERIOD	(HZ / 20)
#define CHIMNEY_POLICY_RECS	4096
#define CHIMNEY_POLICY_TRIES	5

struct chimney_prule {
	struct chimney_policy_rule r;	/* id, selectors, counters */
	struct net *net;		/* the namespace of the ioctl's caller */
};

enum { CHIMNEY_PREC_UPLOADED = 1, CHIMNEY_PREC_FAILED, CHIMNEY_PREC_RETRY };

struct chimney_prec {
	struct hlist_node hnode;
	struct list_head lru;
	const struct net *net;		/* compared only, never dereferenced */
	__be32 saddr, daddr;
	__be16 sport, dport;
	unsigned long ino;
	unsigned long when;		/* RETRY: not before */
	u32 gen;			/* the scan that last met the socket */
	u8 kind;			/* CHIMNEY_PREC_* */
	u8 tries;
};

struct chimney_pcand {
	struct sock *sk;
	u32 rule;
	u64 bytes;
};

static DEFINE_MUTEX(chimney_policy_mutex);	/* rules, cursor */
static struct chimney_prule *chimney_rules[CHIMNEY_POLICY_MAX_RULES];
static unsigned int chimney_nrules;
static u32 chimney_rule_next_id = 1;
static bool chimney_policy_stopping;
static struct inet_hashinfo *chimney_cur_hi;	/* scan cursor */
static unsigned int chimney_cur_bucket;
static u64 chimney_scans;

static DEFINE_SPINLOCK(chimney_prec_lock);	/* the records */
static DEFINE_HASHTABLE(chimney_prec_hash, 8);
static LIST_HEAD(chimney_prec_lru);
static unsigned int chimney_nrecs;
static u32 chimney_prec_gen;

static void chimney_policy_workfn(struct work_struct *w);
static DECLARE_DELAYED_WORK(chimney_policy_work, chimney_policy_workfn);

/* ---- Records ---------------------------------------------------------------- */

static u32 chimney_prec_key(__be32 saddr, __be32 daddr, __be16 sport,
			    __be16 dport, unsigned long ino)
{
	return chimney_hash_key(saddr, daddr, sport, dport) ^ (u32)ino;
}

/* chimney_prec_lock held */
static struct chimney_prec *chimney_prec_find(const struct net *net,
					      __be32 saddr, __be32 daddr,
					      __be16 sport, __be16 dport,
					      unsigned long ino)
{
	struct chimney_prec *r;

	hash_for_each_possible(chimney_prec_hash, r, hnode,
			       chimney_prec_key(saddr, daddr, sport, dport,
						ino))
		if (r->net == net && r->saddr == saddr && r->daddr == daddr &&
		    r->sport == sport && r->dport == dport && r->ino == ino)
			return r;
	return NULL;
}

static void chimney_prec_free(struct chimney_prec *r)
{
	hash_del(&r->hnode);
	list_del(&r->lru);
	chimney_nrecs--;
	kfree(r);
}

/* chimney_prec_lock held: the record of a socket, created if need be. */
static struct chimney_prec *chimney_prec_get(const struct net *net,
					     __be32 saddr, __be32 daddr,
					     __be16 sport, __be16 dport,
					     unsigned long ino)
{
	struct chimney_prec *r;

	r = chimney_prec_find(net, saddr, daddr, sport, dport, ino);
	if (r)
		return r;
	if (chimney_nrecs >= CHIMNEY_POLICY_RECS)
		chimney_prec_free(list_first_entry(&chimney_prec_lru,
						   struct chimney_prec, lru));
	r = kzalloc(sizeof(*r), GFP_ATOMIC);
	if (!r)
		return NULL;
	r->net = net;
	r->saddr = saddr;
	r->daddr = daddr;
	r->sport = sport;
	r->dport = dport;
	r->ino = ino;
	r->gen = chimney_prec_gen;
	hash_add(chimney_prec_hash, &r->hnode,
		 chimney_prec_key(saddr, daddr, sport, dport, ino));
	list_add_tail(&r->lru, &chimney_prec_lru);
	chimney_nrecs++;
	return r;
}

/* Upload of @c (socket lock held): the policy leaves it alone from now. */
void chimney_policy_note_upload(struct chimney_conn *c)
{
	struct chimney_prec *r;
	unsigned long ino = sock_i_ino(c->sk);

	spin_lock_bh(&chimney_prec_lock);
	r = chimney_prec_get(sock_net(c->sk), c->saddr, c->daddr, c->sport,
			     c->dport, ino);
	if (r)
		r->kind = CHIMNEY_PREC_UPLOADED;
	spin_unlock_bh(&chimney_prec_lock);
}

/* A complete scan: forget the sockets it did not meet. */
static void chimney_prec_sweep(void)
{
	struct chimney_prec *r, *rn;

	spin_lock_bh(&chimney_prec_lock);
	list_for_each_entry_safe(r, rn, &chimney_prec_lru, lru)
		if (r->gen != chimney_prec_gen)
			chimney_prec_free(r);
	chimney_prec_gen++;
	spin_unlock_bh(&chimney_prec_lock);
}

static void chimney_prec_drop_net(const struct net *net)
{
	struct chimney_prec *r, *rn;

	spin_lock_bh(&chimney_prec_lock);
	list_for_each_entry_safe(r, rn, &chimney_prec_lru, lru)
		if (!net || r->net == net)
			chimney_prec_free(r);
	spin_unlock_bh(&chimney_prec_lock);
}

/* ---- Matching --------------------------------------------------------------- */

static bool chimney_rule_match(const struct chimney_prule *pr,
			       const struct sock *sk, u16 sport, u16 dport,
			       __be32 daddr)
{
	const struct chimney_policy_rule *r = &pr->r;
	u32 mask;

	if (!net_eq(sock_net(sk), pr->net))
		return false;
	if (r->sport_max && (sport < r->sport_min || sport > r->sport_max))
		return false;
	if (r->dport_max && (dport < r->dport_min || dport > r->dport_max))
		return false;
	if (r->dst_plen) {
		mask = ~0u << (32 - r->dst_plen);
		if ((ntohl(daddr) & mask) != ntohl(r->daddr))
			return false;
	}
	return true;
}

/*
 * Under the bucket lock: whether @sk is worth an offload attempt now, by
 * which rule (0: no).
 */
static u32 chimney_policy_candidate(struct sock *sk, u64 *bytes)
{
	const struct tcp_sock *tp;
	struct chimney_prule *pr = NULL;
	struct chimney_priv *priv;
	struct chimney_prec *rec;
	struct dst_entry *dst;
	unsigned long ino;
	bool ok = false;
	u16 sport, dport;
	unsigned int i;

	if (sk->sk_state != TCP_ESTABLISHED || sk->sk_family != AF_INET ||
	    !sk->sk_net_refcnt || READ_ONCE(sk->sk_prot) != &tcp_prot)
		return 0;
	sport = sk->sk_num;
	dport = ntohs(sk->sk_dport);
	for (i = 0; i < chimney_nrules; i++) {
		if (chimney_rule_match(chimney_rules[i], sk, sport, dport,
				       sk->sk_daddr)) {
			pr = chimney_rules[i];
			break;
		}
	}
	if (!pr)
		return 0;
	rcu_read_lock();
	dst = rcu_dereference(sk->sk_dst_cache);
	priv = dst ? chimney_priv_from_netdev(dst->dev) : NULL;
	if (priv && READ_ONCE(priv->ofl_ready) &&
	    (!pr->r.ifname[0] ||
	     !strncmp(dst->dev->name, pr->r.ifname, IFNAMSIZ)))
		ok = true;
	rcu_read_unlock();
	if (!ok)
		return 0;

	ino = sock_i_ino(sk);
	spin_lock_bh(&chimney_prec_lock);
	rec = chimney_prec_find(sock_net(sk), sk->sk_rcv_saddr, sk->sk_daddr,
				htons(sport), sk->sk_dport, ino);
	if (rec) {
		rec->gen = chimney_prec_gen;
		if (rec->kind != CHIMNEY_PREC_RETRY ||
		    time_before(jiffies, rec->when))
			ok = false;
	}
	spin_unlock_bh(&chimney_prec_lock);
	if (!ok)
		return 0;

	tp = tcp_sk(sk);
	*bytes = READ_ONCE(tp->bytes_acked) + READ_ONCE(tp->bytes_received);
	if (*bytes < pr->r.min_bytes)
		return 0;
	return pr->r.id;
}

/* ---- Offload ---------------------------------------------------------------- */

static bool chimney_policy_permanent(int err)
{
	switch (err) {
	case -EEXIST:		/* another ULP (or offloaded meanwhile) */
	case -EOPNOTSUPP:	/* another layer owns the socket */
	case -EAFNOSUPPORT:
	case -ENOTCONN:		/* no longer established */
	case -EPIPE:		/* send side shut down */
	case -EBADF:		/* no file: closing, or a kernel socket */
	case -EPERM:
	case -ENODEV:		/* routed elsewhere now */
	case -ENOENT:
		return true;
	default:
		return false;
	}
}

/* Offload @sk as setsockopt(TCP_ULP, "chimney") does; 0 or -errno. */
static int chimney_policy_offload_sk(struct sock *sk, u32 *conn)
{
	struct chimney_conn *c;
	struct socket *sock;
	struct file *file = NULL;
	int err;

	lock_sock(sk);
	sock = sk->sk_socket;
	/* the socket cannot be released while its lock is ours */
	if (sock && sock->file && get_file_rcu(sock->file))
		file = sock->file;
	release_sock(sk);
	if (!file)
		return -EBADF;
	/*
	 * The rule was set by a CAP_NET_ADMIN caller of /dev/chimney: that is
	 * the authorisation; chimney_offload()'s capable() is the check of
	 * the setsockopt path and always true in this work.
	 */
	err = tcp_setsockopt(sk, SOL_TCP, TCP_ULP,
			     KERNEL_SOCKPTR(CHIMNEY_ULP_NAME),
			     sizeof(CHIMNEY_ULP_NAME) - 1);
	if (!err) {
		lock_sock(sk);
		c = chimney_sk_conn(sk);
		*conn = c ? c->id : 0;
		release_sock(sk);
	}
	fput(file);
	return err;
}

static struct chimney_prule *chimney_rule_by_id(u32 id)
{
	unsigned int i;

	for (i = 0; i < chimney_nrules; i++)
		if (chimney_rules[i]->r.id == id)
			return chimney_rules[i];
	return NULL;
}

static void chimney_policy_try(struct chimney_pcand *cand)
{
	struct sock *sk = cand->sk;
	struct chimney_event ev = { 0 };
	struct chimney_prule *pr;
	struct chimney_prec *rec;
	unsigned long ino;
	u32 conn = 0;
	int err, tries = 0;
	bool final = false;

	ino = sock_i_ino(sk);
	ev.saddr = sk->sk_rcv_saddr;
	ev.daddr = sk->sk_daddr;
	ev.sport = htons(sk->sk_num);
	ev.dport = sk->sk_dport;
	ev.info = cand->rule;
	err = chimney_policy_offload_sk(sk, &conn);
	if (err) {
		spin_lock_bh(&chimney_prec_lock);
		rec = chimney_prec_get(sock_net(sk), ev.saddr, ev.daddr,
				       ev.sport, ev.dport, ino);
		if (rec) {
			tries = ++rec->tries;
			final = chimney_policy_permanent(err) ||
				tries >= CHIMNEY_POLICY_TRIES;
			rec->kind = final ? CHIMNEY_PREC_FAILED :
					    CHIMNEY_PREC_RETRY;
			rec->when = jiffies + (HZ << (tries - 1));
		}
		spin_unlock_bh(&chimney_prec_lock);
		ev.type = CHIMNEY_EV_POLICY_FAIL;
		ev.reason = -err;
		ev.info64 = tries;
		ev.flags = final ? CHIMNEY_EVF_FINAL : 0;
	} else {
		ev.type = CHIMNEY_EV_POLICY_OFFLOAD;
		ev.conn = conn;
		ev.info64 = cand->bytes;
	}
	mutex_lock(&chimney_policy_mutex);
	pr = chimney_rule_by_id(cand->rule);
	if (pr && err)
		pr->r.failed++;
	else if (pr)
		pr->r.offloaded++;
	mutex_unlock(&chimney_policy_mutex);
	rcu_read_lock();
	{
		struct dst_entry *dst = rcu_dereference(sk->sk_dst_cache);

		ev.ifindex = dst && dst->dev ? dst->dev->ifindex : 0;
	}
	rcu_read_unlock();
	chimney_evlog_put(&ev);
}

/* ---- The scan --------------------------------------------------------------- */

static struct inet_hashinfo *chimney_net_hi(const struct net *net)
{
	return net->ipv4.tcp_death_row.hashinfo;
}

/* chimney_policy_mutex held: the hash table after @hi among the rules'. */
static struct inet_hashinfo *
chimney_next_hi(struct inet_hashinfo *hi, bool *wrapped)
{
	struct inet_hashinfo *first = NULL, *next = NULL, *h;
	bool seen = !hi;
	unsigned int i, j;

	*wrapped = false;
	for (i = 0; i < chimney_nrules; i++) {
		h = chimney_net_hi(chimney_rules[i]->net);
		for (j = 0; j < i; j++)
			if (chimney_net_hi(chimney_rules[j]->net) == h)
				break;
		if (j < i)
			continue;	/* a table named before */
		if (!first)
			first = h;
		if (seen && !next && h != hi)
			next = h;
		if (h == hi)
			seen = true;
	}
	if (!next) {
		*wrapped = true;
		next = first;
	}
	return next;
}

/* chimney_policy_mutex held: whether @hi is a table of a rule's namespace */
static bool chimney_hi_known(struct inet_hashinfo *hi)
{
	unsigned int i;

	for (i = 0; i < chimney_nrules; i++)
		if (chimney_net_hi(chimney_rules[i]->net) == hi)
			return true;
	return false;
}

static void chimney_policy_workfn(struct work_struct *w)
{
	struct chimney_pcand cand[CHIMNEY_POLICY_BATCH];
	struct inet_hashinfo *hi;
	struct inet_ehash_bucket *head;
	struct hlist_nulls_node *node;
	unsigned int budget = CHIMNEY_POLICY_BUCKETS, n = 0, i;
	struct sock *sk;
	spinlock_t *lock;		/* the bucket's */
	bool wrapped, swept = false;
	u64 bytes;
	u32 rule;

	mutex_lock(&chimney_policy_mutex);
	if (!chimney_nrules || chimney_policy_stopping) {
		chimney_cur_hi = NULL;
		mutex_unlock(&chimney_policy_mutex);
		return;
	}
	hi = chimney_cur_hi;
	if (!hi || !chimney_hi_known(hi)) {
		hi = chimney_next_hi(NULL, &wrapped);
		chimney_cur_bucket = 0;
	}
	while (budget && n < CHIMNEY_POLICY_BATCH) {
		if (chimney_cur_bucket > hi->ehash_mask) {
			hi = chimney_next_hi(hi, &wrapped);
			chimney_cur_bucket = 0;
			if (wrapped) {
				/* every table scanned once */
				chimney_scans++;
				if (!swept)
					chimney_prec_sweep();
				swept = true;
			}
			continue;
		}
		head = &hi->ehash[chimney_cur_bucket];
		budget--;
		if (hlist_nulls_empty(&head->chain)) {
			chimney_cur_bucket++;
			continue;
		}
		lock = inet_ehash_lockp(hi, chimney_cur_bucket);
		spin_lock_bh(lock);
		sk_nulls_for_each(sk, node, &head->chain) {
			if (n >= CHIMNEY_POLICY_BATCH)
				break;
			rule = chimney_policy_candidate(sk, &bytes);
			if (!rule || !refcount_inc_not_zero(&sk->sk_refcnt))
				continue;
			cand[n].sk = sk;
			cand[n].rule = rule;
			cand[n].bytes = bytes;
			n++;
		}
		spin_unlock_bh(lock);
		/* a full batch sees this bucket again next time */
		if (n < CHIMNEY_POLICY_BATCH)
			chimney_cur_bucket++;
	}
	chimney_cur_hi = hi;
	mutex_unlock(&chimney_policy_mutex);

	for (i = 0; i < n; i++) {
		chimney_policy_try(&cand[i]);
		sock_put(cand[i].sk);
	}

	mutex_lock(&chimney_policy_mutex);
	if (chimney_nrules && !chimney_policy_stopping)
		queue_delayed_work(chimney_wq, &chimney_policy_work,
				   CHIMNEY_POLICY_PERIOD);
	mutex_unlock(&chimney_policy_mutex);
}

/* ---- Rules (ioctls) ------------------------------------------------------------ */

static int chimney_rule_check(struct chimney_policy_rule *r, struct net *net)
{
	struct net_device *dev;
	int err = 0;

	if (r->rsvd || r->rsvd2[0] || r->rsvd2[1] || r->rsvd2[2])
		return -EINVAL;
	if (strnlen(r->ifname, sizeof(r->ifname)) >= sizeof(r->ifname))
		return -EINVAL;
	if (r->sport_min > r->sport_max || r->dport_min > r->dport_max ||
	    (r->sport_max && !r->sport_min) || (r->dport_max && !r->dport_min))
		return -EINVAL;
	if (r->dst_plen > 32)
		return -EINVAL;
	if ((!r->dst_plen && r->daddr) ||
	    (r->dst_plen && (ntohl(r->daddr) & ~(~0u << (32 - r->dst_plen)))))
		return -EINVAL;		/* host bits set */
	if (!r->ifname[0])
		return 0;
	rcu_read_lock();
	dev = dev_get_by_name_rcu(net, r->ifname);
	if (!dev)
		err = -ENODEV;
	else if (!chimney_priv_from_netdev(dev))
		err = -EOPNOTSUPP;
	rcu_read_unlock();
	return err;
}

static void chimney_policy_event(u16 type, u32 id)
{
	struct chimney_event ev = { .type = type, .info = id };

	chimney_evlog_put(&ev);
}

static int chimney_policy_add(struct chimney_policy_rule __user *ur)
{
	struct net *net = current->nsproxy->net_ns;
	struct chimney_prule *pr;
	int err;

	pr = kzalloc(sizeof(*pr), GFP_KERNEL);
	if (!pr)
		return -ENOMEM;
	if (copy_from_user(&pr->r, ur, sizeof(pr->r))) {
		kfree(pr);
		return -EFAULT;
	}
	err = chimney_rule_check(&pr->r, net);
	if (err) {
		kfree(pr);
		return err;
	}
	pr->net = net;
	pr->r.offloaded = 0;
	pr->r.failed = 0;
	mutex_lock(&chimney_policy_mutex);
	if (chimney_nrules >= CHIMNEY_POLICY_MAX_RULES) {
		mutex_unlock(&chimney_policy_mutex);
		kfree(pr);
		return -ENOSPC;
	}
	pr->r.id = chimney_rule_next_id++;
	if (!chimney_rule_next_id)
		chimney_rule_next_id = 1;
	chimney_rules[chimney_nrules++] = pr;
	if (!chimney_policy_stopping)
		mod_delayed_work(chimney_wq, &chimney_policy_work, 0);
	mutex_unlock(&chimney_policy_mutex);
	chimney_policy_event(CHIMNEY_EV_POLICY_ADD, pr->r.id);
	if (put_user(pr->r.id, &ur->id))
		return -EFAULT;		/* the rule stays: list shows it */
	return 0;
}

/* chimney_policy_mutex held */
static void chimney_rule_remove(unsigned int i)
{
	kfree(chimney_rules[i]);
	chimney_rules[i] = chimney_rules[--chimney_nrules];
	chimney_rules[chimney_nrules] = NULL;
	/* keep the id order: the first matching rule is the oldest */
	while (i + 1 < chimney_nrules &&
	       chimney_rules[i]->r.id > chimney_rules[i + 1]->r.id) {
		swap(chimney_rules[i], chimney_rules[i + 1]);
		i++;
	}
}

static int chimney_policy_del(u32 __user *uid)
{
	struct net *net = current->nsproxy->net_ns;
	unsigned int i;
	u32 id;

	if (get_user(id, uid))
		return -EFAULT;
	mutex_lock(&chimney_policy_mutex);
	for (i = 0; i < chimney_nrules; i++)
		if (chimney_rules[i]->r.id == id &&
		    net_eq(chimney_rules[i]->net, net))
			break;
	if (i == chimney_nrules) {
		mutex_unlock(&chimney_policy_mutex);
		return -ENOENT;
	}
	chimney_rule_remove(i);
	mutex_unlock(&chimney_policy_mutex);
	chimney_policy_event(CHIMNEY_EV_POLICY_DEL, id);
	return 0;
}

/* Remove every rule of @net; chimney_policy_mutex held. */
static void chimney_rules_remove_net(struct net *net)
{
	unsigned int i = 0;

	while (i < chimney_nrules) {
		if (net_eq(chimney_rules[i]->net, net))
			chimney_rule_remove(i);
		else
			i++;
	}
}

static int chimney_policy_flush(void)
{
	mutex_lock(&chimney_policy_mutex);
	chimney_rules_remove_net(current->nsproxy->net_ns);
	mutex_unlock(&chimney_policy_mutex);
	chimney_policy_event(CHIMNEY_EV_POLICY_DEL, 0);
	return 0;
}

static int chimney_policy_list(struct chimney_policy_list __user *ul)
{
	struct net *net = current->nsproxy->net_ns;
	struct chimney_policy_list l;
	struct chimney_policy_rule *v;
	unsigned int i, n = 0;
	int err = 0;

	if (copy_from_user(&l, ul, sizeof(l)))
		return -EFAULT;
	if (l.rsvd)
		return -EINVAL;
	v = kcalloc(CHIMNEY_POLICY_MAX_RULES, sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	mutex_lock(&chimney_policy_mutex);
	for (i = 0; i < chimney_nrules; i++)
		if (net_eq(chimney_rules[i]->net, net))
			v[n++] = chimney_rules[i]->r;
	l.scans = chimney_scans;
	mutex_unlock(&chimney_policy_mutex);
	spin_lock_bh(&chimney_prec_lock);
	l.records = chimney_nrecs;
	spin_unlock_bh(&chimney_prec_lock);
	l.count = n;
	if (min(n, l.max) && copy_to_user(u64_to_user_ptr(l.rules), v,
					  min(n, l.max) * sizeof(*v)))
		err = -EFAULT;
	kfree(v);
	if (!err && copy_to_user(ul, &l, sizeof(l)))
		err = -EFAULT;
	return err;
}

int chimney_policy_ioctl(unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case CHIMNEY_IOC_POLICY_ADD:
		return chimney_policy_add((void __user *)arg);
	case CHIMNEY_IOC_POLICY_DEL:
		return chimney_policy_del((u32 __user *)arg);
	case CHIMNEY_IOC_POLICY_LIST:
		return chimney_policy_list((void __user *)arg);
	case CHIMNEY_IOC_POLICY_FLUSH:
		return chimney_policy_flush();
	default:
		return -ENOTTY;
	}
}

/* ---- Namespaces, module ------------------------------------------------------ */

static void __net_exit chimney_policy_net_exit(struct net *net)
{
	mutex_lock(&chimney_policy_mutex);
	chimney_rules_remove_net(net);
	/* the scan cursor may name this namespace's table */
	chimney_cur_hi = NULL;
	mutex_unlock(&chimney_policy_mutex);
	chimney_prec_drop_net(net);
}

static struct pernet_operations chimney_policy_net_ops = {
	.exit = chimney_policy_net_exit,
};

int chimney_policy_init(void)
{
	return register_pernet_subsys(&chimney_policy_net_ops);
}

void chimney_policy_exit(void)
{
	unsigned int i;

	mutex_lock(&chimney_policy_mutex);
	chimney_policy_stopping = true;
	mutex_unlock(&chimney_policy_mutex);
	cancel_delayed_work_sync(&chimney_policy_work);
	unregister_pernet_subsys(&chimney_policy_net_ops);
	for (i = 0; i < chimney_nrules; i++)
		kfree(chimney_rules[i]);
	chimney_nrules = 0;
	chimney_prec_drop_net(NULL);
}
