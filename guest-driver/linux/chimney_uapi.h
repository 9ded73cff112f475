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
 *   CHIMNEY_IOC_UPLOAD_ALL upload every offloaded connection.
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

#endif /* CHIMNEY_UAPI_H */
