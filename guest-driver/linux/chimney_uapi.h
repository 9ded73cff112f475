/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * chimney-nic TCP offload: the user-space interface of chimney_nic.ko.
 *
 * Offload: setsockopt(fd, SOL_TCP, TCP_ULP, "chimney", 7) on an
 * established IPv4 TCP socket routed through a chimney-nic interface
 * (chimneyctl gets the application's socket with pidfd_getfd()).
 *
 * Everything else goes through ioctls on the misc device /dev/chimney
 * (CAP_NET_ADMIN):
 *   CHIMNEY_IOC_UPLOAD   upload the connection of socket fd *arg (an fd
 *                        of the caller) back to the host stack;
 *   CHIMNEY_IOC_LIST     the offloaded connections, their device state
 *                        from CMD_QUERY;
 *   CHIMNEY_IOC_UPLOAD_ALL upload every offloaded connection;
 *   CHIMNEY_IOC_UPLOAD_CONN upload the connection with driver id *arg;
 *   CHIMNEY_IOC_POLICY_*  the offload policy: rules the module applies by
 *                        itself to established connections (add, del,
 *                        list, flush; chimney_ofl_policy.c);
 *   CHIMNEY_IOC_MONITOR  this open file receives the event log: read()
 *                        returns struct chimney_event records, poll()
 *                        says when there are some (chimney_ofl_evlog.c).
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#ifndef CHIMNEY_UAPI_H
#define CHIMNEY_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define CHIMNEY_ULP_NAME	"chimney"
#define CHIMNEY_MISC_NAME	"chimney"

/* One offloaded connection (addresses and ports in network byte order). */
struct chimney_conn_info {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u32 id;		/* the driver's connection id */
	__u32 flags;		/* CHIMNEY_CONNF_* */
	__u32 query_status;	/* CHIMNEY_ST_* of the QUERY */
	/* device state (ChimneyTcpDelegated) */
	__u32 state;		/* enum ChimneyTcpState */
	__u32 rcv_nxt;
	__u32 rcv_wnd;
	__u32 snd_una;
	__u32 snd_nxt;
	__u32 snd_max;
	__u32 snd_wnd;
	__u32 cwnd;
	__u32 srtt;		/* ms x 8 */
	__u32 rcv_backlog;	/* bytes buffered in the device */
	/* driver state */
	__u64 bytes_sent;	/* SEND bytes completed */
	__u64 bytes_rcvd;	/* bytes indicated */
	__u32 send_inflight;	/* bytes in SEND requests not completed */
	__u32 rq_bytes;		/* received bytes not read yet */
	__u32 rsvd[2];
	/* the inverted state tree: TCP -> path -> neighbor (device handles) */
	__u64 tcp_handle;
	__u64 path_handle;
	__u64 neigh_handle;
	__be32 nexthop;		/* the neighbor's IP address */
	__u32 path_mtu;
	__u8 neigh_mac[6];
	__u16 path_conns;	/* connections on the path */
	__u16 neigh_paths;	/* paths on the neighbor */
	__u16 rsvd2;
	__u32 rsvd3;
};

#define CHIMNEY_CONNF_RX_EOF	0x1u	/* peer FIN delivered */
#define CHIMNEY_CONNF_ABORTED	0x2u	/* RST received */
#define CHIMNEY_CONNF_RETRIEVE	0x4u	/* device asked for upload */

struct chimney_list_req {
	__u32 max;		/* in: entries at conns */
	__u32 count;		/* out: offloaded connections (may be > max) */
	__u64 conns;		/* in: user pointer to struct chimney_conn_info[] */
};

#define CHIMNEY_IOC_MAGIC	'C'
#define CHIMNEY_IOC_UPLOAD	_IOW(CHIMNEY_IOC_MAGIC, 1, int)
#define CHIMNEY_IOC_LIST	_IOWR(CHIMNEY_IOC_MAGIC, 2, struct chimney_list_req)
#define CHIMNEY_IOC_UPLOAD_ALL	_IO(CHIMNEY_IOC_MAGIC, 3)

/* ---- Offload policy ------------------------------------------------------ */

/*
 * One rule: an established IPv4 connection routed through a chimney-nic
 * (named by ifname, or any when empty) whose ports are in the ranges (0,0:
 * any), whose remote address is in daddr/dst_plen (plen 0: any) and which
 * has moved at least min_bytes (bytes_acked + bytes_received of tcp_info)
 * is offloaded by the module.  Ports in host byte order.
 */
struct chimney_policy_rule {
	__u32 id;		/* ADD: out; LIST: the rule's id */
	__u32 rsvd;		/* must be 0 */
	char ifname[16];	/* IFNAMSIZ, NUL-terminated; "" any */
	__u16 sport_min;	/* local port range */
	__u16 sport_max;
	__u16 dport_min;	/* remote port range */
	__u16 dport_max;
	__be32 daddr;		/* remote address prefix */
	__u8 dst_plen;		/* 0..32 */
	__u8 rsvd2[3];		/* must be 0 */
	__u64 min_bytes;
	/* LIST only */
	__u64 offloaded;	/* connections this rule offloaded */
	__u64 failed;		/* offload attempts that failed */
};

#define CHIMNEY_POLICY_MAX_RULES 64

struct chimney_policy_list {
	__u32 max;		/* in: entries at rules */
	__u32 count;		/* out: rules (may be > max) */
	__u64 rules;		/* in: user pointer to chimney_policy_rule[] */
	__u64 scans;		/* out: complete scans of the connections */
	__u32 records;		/* out: connections remembered (not retried) */
	__u32 rsvd;
};

/* ---- Event log ----------------------------------------------------------- */

enum {
	CHIMNEY_EV_LOST = 1,		/* info = events dropped (slow reader) */
	CHIMNEY_EV_OFFLOAD,		/* a connection went to the device */
	CHIMNEY_EV_UPLOAD,		/* reason = CHIMNEY_UPR_*, info = device reason */
	CHIMNEY_EV_DISCONNECT,		/* EVT_TCP_DISCONNECT: the peer's FIN */
	CHIMNEY_EV_ABORT,		/* EVT_TCP_ABORT: RST */
	CHIMNEY_EV_RETRIEVE,		/* EVT_TCP_RETRIEVE, reason = its code */
	CHIMNEY_EV_BACKLOG,		/* EVT_TCP_BACKLOG, info = bytes */
	CHIMNEY_EV_NEIGH_QUERY,		/* daddr = neighbor, info = NRD, info64 = HRD (ticks) */
	CHIMNEY_EV_STATUS,		/* reason = CHIMNEY_STATUS_IND_* */
	CHIMNEY_EV_POLICY_OFFLOAD,	/* info = rule id, info64 = bytes moved */
	CHIMNEY_EV_POLICY_FAIL,		/* info = rule id, reason = errno, info64 = tries */
	CHIMNEY_EV_POLICY_ADD,		/* info = rule id */
	CHIMNEY_EV_POLICY_DEL,		/* info = rule id (0: flush) */
};

/* CHIMNEY_EV_UPLOAD reasons */
enum {
	CHIMNEY_UPR_SOCKET = 1,		/* close, shutdown, urgent data, refused SEND */
	CHIMNEY_UPR_USER,		/* CHIMNEY_IOC_UPLOAD*, chimneyctl upload */
	CHIMNEY_UPR_RETRIEVE,		/* the device asked (EVT_TCP_RETRIEVE; info = its reason) */
	CHIMNEY_UPR_ABORT,		/* RST received */
	CHIMNEY_UPR_IFDOWN,		/* interface down or device reset */
	CHIMNEY_UPR_UPLOAD_ALL,		/* the device's STATUS_IND_UPLOAD_ALL */
	CHIMNEY_UPR_FIN_WAIT2,		/* half-closed and held: the device's timeout nears */
};

#define CHIMNEY_EVF_FINAL	0x1u	/* POLICY_FAIL: not retried */

/* One event record; addresses and ports in network byte order. */
struct chimney_event {
	__u64 seq;		/* global event number */
	__u64 time_ns;		/* CLOCK_MONOTONIC */
	__u16 type;		/* CHIMNEY_EV_* */
	__u16 reason;
	__u32 conn;		/* the driver's connection id, 0 none */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u32 ifindex;
	__u32 info;
	__u32 flags;		/* CHIMNEY_EVF_* */
	__u64 info64;
};

#define CHIMNEY_EVLOG_DEFAULT	256	/* records per reader */
#define CHIMNEY_EVLOG_MIN	4
#define CHIMNEY_EVLOG_MAX	4096
#define CHIMNEY_EVLOG_READERS	16

#define CHIMNEY_IOC_UPLOAD_CONN	_IOW(CHIMNEY_IOC_MAGIC, 4, __u32)
#define CHIMNEY_IOC_POLICY_ADD	_IOWR(CHIMNEY_IOC_MAGIC, 5, struct chimney_policy_rule)
#define CHIMNEY_IOC_POLICY_DEL	_IOW(CHIMNEY_IOC_MAGIC, 6, __u32)
#define CHIMNEY_IOC_POLICY_LIST	_IOWR(CHIMNEY_IOC_MAGIC, 7, struct chimney_policy_list)
#define CHIMNEY_IOC_POLICY_FLUSH _IO(CHIMNEY_IOC_MAGIC, 8)
/* *arg: records to queue (0: CHIMNEY_EVLOG_DEFAULT) */
#define CHIMNEY_IOC_MONITOR	_IOW(CHIMNEY_IOC_MAGIC, 9, __u32)

#endif /* CHIMNEY_UAPI_H */
