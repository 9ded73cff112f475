// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic: the event log of /dev/chimney (chimneyctl monitor).
 *
 * An open file of /dev/chimney that issued CHIMNEY_IOC_MONITOR gets a
 * ring of fixed-size struct chimney_event records, allocated once at that
 * ioctl (CHIMNEY_EVLOG_MIN..MAX records, at most CHIMNEY_EVLOG_READERS
 * such files).  Producers (offload, upload, device events in NAPI
 * context, the policy) call chimney_evlog*(): under one spinlock the
 * record is copied into every reader's ring; nothing is allocated there.
 * A full ring drops its oldest record and counts it; read() then returns
 * a CHIMNEY_EV_LOST record with that count before the records kept, so a
 * slow reader costs a bounded ring and never more memory.  read() returns
 * whole records (blocking unless O_NONBLOCK), poll() says EPOLLIN when
 * there is something to read.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/poll.h>
#include <linux/slab.h>
#include "chimney_ofl.h"

struct chimney_evq {
	struct list_head node;		/* chimney_evqs */
	wait_queue_head_t wait;
	struct chimney_event *ring;
	u32 size;			/* records at ring */
	u32 head;			/* the oldest record */
	u32 count;			/* records queued */
	u64 lost;			/* dropped since the last read */
	u64 lost_time;			/* time of the last record dropped */
};

static DEFINE_SPINLOCK(chimney_evlog_lock);	/* the list and the rings */
static LIST_HEAD(chimney_evqs);
static unsigned int chimney_evq_count;
static u64 chimney_ev_seq;

/* Queue @ev (its seq and time are set here) for every reader. */
void chimney_evlog_put(struct chimney_event *ev)
{
	struct chimney_evq *q;
	unsigned long flags;

	if (!READ_ONCE(chimney_evq_count))
		return;
	ev->time_ns = ktime_get_ns();
	spin_lock_irqsave(&chimney_evlog_lock, flags);
	ev->seq = ++chimney_ev_seq;
	list_for_each_entry(q, &chimney_evqs, node) {
		if (q->count == q->size) {
			/* drop the oldest */
			q->head = (q->head + 1) % q->size;
			q->count--;
			q->lost++;
			q->lost_time = ev->time_ns;
		}
		q->ring[(q->head + q->count) % q->size] = *ev;
		q->count++;
		wake_up_interruptible(&q->wait);
	}
	spin_unlock_irqrestore(&chimney_evlog_lock, flags);
}

static void chimney_ev_conn(struct chimney_event *ev, u16 type,
			    struct chimney_conn *c)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	if (!c)
		return;
	ev->conn = c->id;
	ev->saddr = c->saddr;
	ev->daddr = c->daddr;
	ev->sport = c->sport;
	ev->dport = c->dport;
	ev->ifindex = c->priv->ndev->ifindex;
}

/* A connection event (offload, ...): @info as CHIMNEY_EV_* says. */
void chimney_evlog(u16 type, struct chimney_conn *c, u32 info)
{
	struct chimney_event ev;

	if (!READ_ONCE(chimney_evq_count))
		return;
	chimney_ev_conn(&ev, type, c);
	ev.info = info;
	chimney_evlog_put(&ev);
}

/* @c was uploaded (socket lock held): why, and the policy remembers it. */
void chimney_evlog_upload(struct chimney_conn *c)
{
	struct chimney_event ev;

	chimney_policy_note_upload(c);
	chimney_ev_conn(&ev, CHIMNEY_EV_UPLOAD, c);
	if (c->upload_why)
		ev.reason = c->upload_why;
	else if (c->aborted)
		ev.reason = CHIMNEY_UPR_ABORT;
	else if (c->retrieve)
		ev.reason = CHIMNEY_UPR_RETRIEVE;
	else
		ev.reason = CHIMNEY_UPR_SOCKET;
	if (c->retrieve)
		ev.info = c->retrieve_why;
	ev.info64 = c->bytes_sent + c->bytes_rcvd;
	chimney_evlog_put(&ev);
}

/* A TCP object event of the device (NAPI context). */
void chimney_evlog_tcp(struct chimney_conn *c, u16 dev_type, u32 info)
{
	struct chimney_event ev;
	u16 type;

	switch (dev_type) {
	case CHIMNEY_EVT_TCP_DISCONNECT:
		type = CHIMNEY_EV_DISCONNECT;
		break;
	case CHIMNEY_EVT_TCP_ABORT:
		type = CHIMNEY_EV_ABORT;
		break;
	case CHIMNEY_EVT_TCP_RETRIEVE:
		type = CHIMNEY_EV_RETRIEVE;
		break;
	case CHIMNEY_EVT_TCP_BACKLOG:
		type = CHIMNEY_EV_BACKLOG;
		break;
	default:
		return;
	}
	if (!READ_ONCE(chimney_evq_count))
		return;
	chimney_ev_conn(&ev, type, c);
	if (type == CHIMNEY_EV_RETRIEVE)
		ev.reason = info;
	else
		ev.info = info;
	chimney_evlog_put(&ev);
}

/* A neighbor reachability query and the host reachability answered. */
void chimney_evlog_neigh(struct chimney_priv *priv, __be32 ip, u32 nrd,
			 u32 hrd)
{
	struct chimney_event ev;

	if (!READ_ONCE(chimney_evq_count))
		return;
	chimney_ev_conn(&ev, CHIMNEY_EV_NEIGH_QUERY, NULL);
	ev.daddr = ip;
	ev.ifindex = priv->ndev->ifindex;
	ev.info = nrd;
	ev.info64 = hrd;
	chimney_evlog_put(&ev);
}

/* EVT_STATUS (pause, resume, upload all). */
void chimney_evlog_status(struct chimney_priv *priv, u16 code)
{
	struct chimney_event ev;

	if (!READ_ONCE(chimney_evq_count))
		return;
	chimney_ev_conn(&ev, CHIMNEY_EV_STATUS, NULL);
	ev.reason = code;
	ev.ifindex = priv->ndev->ifindex;
	chimney_evlog_put(&ev);
}

/* ---- The reader's side ---------------------------------------------------- */

/* CHIMNEY_IOC_MONITOR: @f receives the events from now on. */
int chimney_evlog_monitor(struct file *f, u32 __user *arg)
{
	struct chimney_evq *q;
	u32 n;
	int err = 0;

	if (get_user(n, arg))
		return -EFAULT;
	if (!n)
		n = CHIMNEY_EVLOG_DEFAULT;
	if (n < CHIMNEY_EVLOG_MIN || n > CHIMNEY_EVLOG_MAX)
		return -EINVAL;
	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	q->ring = kvcalloc(n, sizeof(*q->ring), GFP_KERNEL);
	if (!q->ring) {
		kfree(q);
		return -ENOMEM;
	}
	q->size = n;
	init_waitqueue_head(&q->wait);
	spin_lock_irq(&chimney_evlog_lock);
	if (f->private_data)
		err = -EBUSY;		/* this file already monitors */
	else if (chimney_evq_count >= CHIMNEY_EVLOG_READERS)
		err = -EMFILE;
	if (!err) {
		list_add_tail(&q->node, &chimney_evqs);
		WRITE_ONCE(chimney_evq_count, chimney_evq_count + 1);
		f->private_data = q;
	}
	spin_unlock_irq(&chimney_evlog_lock);
	if (err) {
		kvfree(q->ring);
		kfree(q);
	}
	return err;
}

static struct chimney_evq *chimney_evq_of(struct file *f)
{
	return READ_ONCE(f->private_data);
}

static bool chimney_evq_ready(struct chimney_evq *q)
{
	return READ_ONCE(q->count) || READ_ONCE(q->lost);
}

ssize_t chimney_evlog_read(struct file *f, char __user *buf, size_t len,
			   loff_t *ppos)
{
	struct chimney_evq *q = chimney_evq_of(f);
	struct chimney_event *tmp;
	u32 max, n = 0;
	ssize_t ret;
	int err;

	if (!q)
		return -EINVAL;		/* CHIMNEY_IOC_MONITOR first */
	if (len < sizeof(*tmp))
		return -EINVAL;
	max = min_t(size_t, len / sizeof(*tmp), 64);
	tmp = kmalloc_array(max, sizeof(*tmp), GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	for (;;) {
		spin_lock_irq(&chimney_evlog_lock);
		if (q->lost) {
			memset(&tmp[n], 0, sizeof(*tmp));
			tmp[n].type = CHIMNEY_EV_LOST;
			tmp[n].time_ns = q->lost_time;
			tmp[n].info = min_t(u64, q->lost, U32_MAX);
			tmp[n].info64 = q->lost;
			q->lost = 0;
			n++;
		}
		while (n < max && q->count) {
			tmp[n++] = q->ring[q->head];
			q->head = (q->head + 1) % q->size;
			q->count--;
		}
		spin_unlock_irq(&chimney_evlog_lock);
		if (n)
			break;
		if (f->f_flags & O_NONBLOCK) {
			kfree(tmp);
			return -EAGAIN;
		}
		err = wait_event_interruptible(q->wait, chimney_evq_ready(q));
		if (err) {
			kfree(tmp);
			return err;
		}
	}
	ret = n * sizeof(*tmp);
	if (copy_to_user(buf, tmp, ret))
		ret = -EFAULT;		/* the records are gone: like a pipe */
	kfree(tmp);
	return ret;
}

__poll_t chimney_evlog_poll(struct file *f, poll_table *wait)
{
	struct chimney_evq *q = chimney_evq_of(f);
	__poll_t mask = EPOLLERR;	/* no CHIMNEY_IOC_MONITOR yet */

	if (!q)
		return mask;
	poll_wait(f, &q->wait, wait);
	return chimney_evq_ready(q) ? EPOLLIN | EPOLLRDNORM : 0;
}

void chimney_evlog_release(struct file *f)
{
	struct chimney_evq *q = chimney_evq_of(f);

	if (!q)
		return;
	spin_lock_irq(&chimney_evlog_lock);
	list_del(&q->node);
	WRITE_ONCE(chimney_evq_count, chimney_evq_count - 1);
	spin_unlock_irq(&chimney_evlog_lock);
	kvfree(q->ring);
	kfree(q);
}
