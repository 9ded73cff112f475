// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: /dev/chimney (the control interface of chimneyctl) and the offload
 * path's module init/exit.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "chimney_ofl.h"

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
		if (c && inet_csk(sk)->icsk_ulp_ops == &chimney_ulp_ops) {
			c->upload_why = CHIMNEY_UPR_USER;
			err = chimney_upload_locked(c, true);
		}
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

/* CHIMNEY_IOC_UPLOAD_CONN: the connection with driver id *@uid. */
static int chimney_ioc_upload_conn(u32 __user *uid)
{
	struct chimney_conn *c;
	u32 id;
	int err = -ENOENT;

	if (get_user(id, uid))
		return -EFAULT;
	c = chimney_conn_lookup(id);
	if (!c)
		return -ENOENT;
	lock_sock(c->sk);
	if (chimney_sk_conn(c->sk) == c) {
		c->upload_why = CHIMNEY_UPR_USER;
		err = chimney_upload_locked(c, true);
	}
	release_sock(c->sk);
	chimney_conn_put(c);
	return err;
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
	case CHIMNEY_IOC_UPLOAD_CONN:
		return chimney_ioc_upload_conn((u32 __user *)arg);
	case CHIMNEY_IOC_POLICY_ADD:
	case CHIMNEY_IOC_POLICY_DEL:
	case CHIMNEY_IOC_POLICY_LIST:
	case CHIMNEY_IOC_POLICY_FLUSH:
		return chimney_policy_ioctl(cmd, arg);
	case CHIMNEY_IOC_MONITOR:
		return chimney_evlog_monitor(f, (u32 __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int chimney_misc_open(struct inode *inode, struct file *f)
{
	f->private_data = NULL;		/* the event queue (CHIMNEY_IOC_MONITOR) */
	return nonseekable_open(inode, f);
}

static int chimney_misc_release(struct inode *inode, struct file *f)
{
	chimney_evlog_release(f);
	return 0;
}

static const struct file_operations chimney_misc_fops = {
	.owner		= THIS_MODULE,
	.open		= chimney_misc_open,
	.release	= chimney_misc_release,
	.read		= chimney_evlog_read,
	.poll		= chimney_evlog_poll,
	.llseek		= no_llseek,
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

	chimney_ofl_sock_init();
	chimney_wq = alloc_workqueue("chimney_ofl", WQ_UNBOUND, 0);
	if (!chimney_wq)
		return -ENOMEM;
	err = misc_register(&chimney_misc);
	if (err)
		goto err_wq;
	err = chimney_ofl_net_init();
	if (err)
		goto err_misc;
	err = tcp_register_ulp(&chimney_ulp_ops);
	if (err)
		goto err_net;
	err = chimney_policy_init();
	if (err)
		goto err_ulp;
	return 0;

err_ulp:
	tcp_unregister_ulp(&chimney_ulp_ops);
err_net:
	chimney_ofl_net_exit();
err_misc:
	misc_deregister(&chimney_misc);
err_wq:
	destroy_workqueue(chimney_wq);
	return err;
}

void chimney_ofl_exit(void)
{
	chimney_policy_exit();
	tcp_unregister_ulp(&chimney_ulp_ops);
	misc_deregister(&chimney_misc);
	chimney_ofl_net_exit();
	flush_work(&chimney_upload_all_work);
	destroy_workqueue(chimney_wq);
	/* conn memory is freed with kfree_rcu */
	rcu_barrier();
	idr_destroy(&chimney_idr);
	chimney_direct_exit();
}

MODULE_ALIAS_TCP_ULP(CHIMNEY_ULP_NAME);
