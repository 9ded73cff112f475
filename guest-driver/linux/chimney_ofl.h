/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic Linux driver: the TCP offload path's shared state (the
 * connection, path and neighbor objects, synchronous tree operations,
 * SEND request buffers), used by the chimney_ofl_*.c files.
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
 * always-indicate model: every indication goes into the socket's queue,
 * bounded by the receive buffer, its pages taken over rather than copied
 * where they are full enough: chimney_ofl_rx.c), events.
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

#ifndef CHIMNEY_OFL_H
#define CHIMNEY_OFL_H

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

/*
 * Bytes of one SEND request at most: a 64 KiB write() is one request,
 * one CMD_DONE and one SEND_DONE (events per MiB are what the guest pays
 * for, more than the allocation).
 */
#define CHIMNEY_SREQ_MAX	65536u
/*
 * Send buffers of CHIMNEY_SREQ_MAX bytes a connection keeps for its next
 * requests: the Debian kernel zeroes every page it hands out
 * (init_on_alloc), so a fresh buffer per write() is a second pass over
 * the data, as costly as the copy.
 */
#define CHIMNEY_SBUF_CACHE	16u
#define CHIMNEY_SND_MIN_BUDGET	(2048u * 1024u)	/* in-flight SEND bytes */
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
	struct page *page;		/* sendpage: buf is in it (a reference) */
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
	struct delayed_work fw2_work;	/* half-closed and held: upload */

	spinlock_t lock;		/* the fields below (NAPI vs process) */
	int state;			/* CHIMNEY_CONN_* */
	bool rx_eof;			/* peer FIN: EOF after rq */
	bool aborted;			/* RST: ECONNRESET */
	bool retrieve;			/* device asked for an upload */
	bool rx_suppressed;		/* an indication was taken in part */
	bool direct;			/* a direct read's RECV_POST is posted */
	bool direct_recent;		/* a direct reader: data waits in the device */
	bool held_closed;		/* upload done: frames go up again */
	bool keepopen;			/* SO_KEEPALIVE while offloaded */
	/* close (spec DISCONNECT): shutdown(SHUT_WR), close() */
	bool disc_sent;			/* graceful DISCONNECT submitted */
	bool disc_done;			/* its DISC_DONE came */
	u32 disc_status;		/* ... with this status */
	bool closed;			/* close(): orphaned while offloaded */
	bool close_pending;		/* tcp_close() owed after the upload */
	bool want_abort;		/* data after close(): reset */
	int err;
	struct sk_buff_head rq;		/* received, unread */
	u32 rq_bytes;
	struct list_head sreqs;		/* SEND requests, in order */
	u32 inflight;			/* bytes in sreqs */
	u32 send_seq;
	struct sk_buff_head held;	/* frames seen during the upload */
	u64 bytes_sent;
	u64 bytes_rcvd;
	u32 pmtu_info;			/* ICMP frag-needed MTU, not yet applied */
	u32 pmtu_seq;			/* the sequence number it quoted */
	u8 upload_why;			/* CHIMNEY_UPR_* when the caller knows */
	u16 retrieve_why;		/* EVT_TCP_RETRIEVE reason (CHIMNEY_UPLOAD_*) */

	spinlock_t sbuf_lock;		/* the send buffers kept for reuse */
	struct list_head sbuf_cache;	/* struct chimney_sreq, buf kept */
	u32 sbuf_cached;

	/* saved at offload, restored at upload */
	struct proto *orig_prot;
	const struct proto_ops *orig_ops;
	int (*orig_backlog_rcv)(struct sock *sk, struct sk_buff *skb);
};

typedef int (*chimney_tree_fn)(struct chimney_drv *drv,
			       struct chimney_offload_block *root,
			       chimney_drv_tree_done_fn done, void *ctx);

extern struct mutex chimney_mutex;	/* state operations, lists below */
extern struct list_head chimney_conns;
extern struct list_head chimney_paths;
extern struct list_head chimney_neighs;
extern struct list_head chimney_devs;
extern struct hlist_head chimney_hash[1 << CHIMNEY_HASH_BITS];
extern struct idr chimney_idr;		/* id -> conn (RCU lookups) */
extern spinlock_t chimney_idr_lock;
extern struct workqueue_struct *chimney_wq;
extern struct proto chimney_prot;
extern struct proto_ops chimney_stream_ops;
extern struct tcp_ulp_ops chimney_ulp_ops;

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

/* chimney_ofl_state.c */
void chimney_conn_put(struct chimney_conn *c);
struct chimney_conn *chimney_conn_lookup(u32 id);
struct chimney_conn *chimney_sk_conn(struct sock *sk);
u32 chimney_hash_key(__be32 saddr, __be32 daddr, __be16 sport,
		     __be16 dport);
void chimney_tree_op_put(struct chimney_tree_op *op);
struct chimney_tree_op *chimney_tree_op_alloc(void);
int chimney_tree_sync(struct chimney_priv *priv, chimney_tree_fn fn,
		      struct chimney_tree_op *op,
		      struct chimney_offload_block *root);
void chimney_state_hdr(ChimneyStateHdr *h, u32 len);
void chimney_gc(void);
int chimney_sreq_map(struct chimney_sreq *r);
void chimney_sreq_free(struct chimney_sreq *r);
struct chimney_sreq *chimney_sreq_get(struct chimney_conn *c, u32 want);
void chimney_wake(struct sock *sk);
void chimney_write_space(struct sock *sk);
u32 chimney_jiffies_to_ticks(long j);
void chimney_hash_add(struct chimney_conn *c);
void chimney_hash_del(struct chimney_conn *c);
void chimney_idr_del(struct chimney_conn *c);

/* chimney_ofl_offload.c */
int chimney_offload(struct sock *sk);

/* chimney_ofl_upload.c */
int chimney_upload_locked(struct chimney_conn *c, bool detach);
void chimney_upload_workfn(struct work_struct *w);
void chimney_fw2_arm(struct chimney_conn *c);
void chimney_fw2_cancel(struct chimney_conn *c);
void chimney_fw2_workfn(struct work_struct *w);
u32 chimney_fin_wait2_ms(void);
void chimney_queue_upload(struct chimney_conn *c);
void chimney_upload_all(struct chimney_priv *priv);
void chimney_upload_sock(struct chimney_conn *c, bool detach);

/* chimney_ofl_neigh.c */
int chimney_ofl_net_init(void);
void chimney_ofl_net_exit(void);
u32 chimney_neigh_hrd(struct neighbour *ne);

/* chimney_ofl_rx.c: indicated data into the receive queue */
u32 chimney_rx_build(struct chimney_priv *priv,
		     const struct chimney_drv_ind_frag *frags, u32 nfrags,
		     u32 take, struct sk_buff_head *q);
int chimney_rx_pull(struct sk_buff *skb, u32 off);

/* chimney_ofl_direct.c: reads the device places in the program's pages */
bool chimney_direct_reader(struct chimney_conn *c, struct msghdr *msg,
			   size_t len, int flags, long timeo);
bool chimney_direct_wanted(struct chimney_conn *c, struct msghdr *msg,
			   size_t len, int flags, long timeo);
void chimney_direct_drain(struct chimney_conn *c);
int chimney_direct_read(struct chimney_conn *c, struct sock *sk,
			struct msghdr *msg, size_t len, long *timeo);
void chimney_direct_done(u64 cookie, u32 status, u32 info);
void chimney_direct_leave(struct chimney_conn *c, struct sock *sk);
void chimney_direct_exit(void);

/* chimney_ofl_tx.c: SEND requests, sendpage */
int chimney_send_room(struct chimney_conn *c, struct sock *sk, long *timeo,
		      u32 *space);
void chimney_send_submit(struct chimney_conn *c, struct chimney_sreq *r,
			 bool push);
int chimney_sendpage(struct sock *sk, struct page *page, int offset,
		     size_t size, int flags);

/* chimney_ofl_sock.c */
u32 chimney_snd_budget(struct sock *sk);
u32 chimney_rq_limit(struct sock *sk);
void chimney_rx_resume(struct chimney_conn *c, struct sock *sk);
int chimney_disconnect(struct chimney_conn *c, u16 flags);
extern struct work_struct chimney_upload_all_work;
void chimney_ofl_sock_init(void);

/* chimney_ofl_evlog.c: the event log of /dev/chimney (any context) */
void chimney_evlog(u16 type, struct chimney_conn *c, u32 info);
void chimney_evlog_upload(struct chimney_conn *c);
void chimney_evlog_tcp(struct chimney_conn *c, u16 dev_type, u32 info);
void chimney_evlog_neigh(struct chimney_priv *priv, __be32 ip, u32 nrd,
			 u32 hrd);
void chimney_evlog_status(struct chimney_priv *priv, u16 code);
void chimney_evlog_put(struct chimney_event *ev);
int chimney_evlog_monitor(struct file *f, u32 __user *arg);
ssize_t chimney_evlog_read(struct file *f, char __user *buf, size_t len,
			   loff_t *ppos);
__poll_t chimney_evlog_poll(struct file *f, poll_table *wait);
void chimney_evlog_release(struct file *f);

/* chimney_ofl_policy.c: the offload policy */
int chimney_policy_ioctl(unsigned int cmd, unsigned long arg);
void chimney_policy_note_upload(struct chimney_conn *c);
int chimney_policy_init(void);
void chimney_policy_exit(void);

#endif /* CHIMNEY_OFL_H */
