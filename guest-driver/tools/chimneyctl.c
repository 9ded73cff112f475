// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimneyctl: move live TCP connections of running programs onto a
 * chimney-nic (TCP Chimney offload) and back.
 *
 *   chimneyctl offload PID FD
 *   chimneyctl offload PID [--sport N] [--dport N]
 *   chimneyctl upload  PID FD | PID [--sport N] [--dport N] | --all
 *   chimneyctl list
 *   chimneyctl show [--sport N] [--dport N] [--dot]
 *
 * The socket stays the program's: chimneyctl takes a second descriptor of
 * it with pidfd_getfd() (Linux 5.6; needs ptrace rights over PID, i.e.
 * root), then "offload" attaches the "chimney" TCP ULP with
 * setsockopt(SOL_TCP, TCP_ULP) and "upload" asks chimney_nic.ko through
 * /dev/chimney.  "list" shows the offloaded connections with the state
 * the device reports (CMD_QUERY); "show" prints the inverted state tree
 * of the matching connections (TCP -> path -> neighbor, as the device
 * holds it), as text or as Graphviz DOT.  Exit status: 0 ok, 1 the
 * operation failed, 2 usage.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/tcp.h>

#include "../linux/chimney_uapi.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static const char *const tcp_states[] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK",
	"TIME_WAIT",
};

static void print_usage(void)
{
	fprintf(stderr,
		"Usage: chimneyctl offload PID FD\n"
		"       chimneyctl offload PID [--sport N] [--dport N]\n"
		"       chimneyctl upload PID FD | PID [--sport N] [--dport N] | --all\n"
		"       chimneyctl list\n"
		"       chimneyctl show [--sport N] [--dport N] [--dot]\n");
	exit(2);
}

/*
 * Whether @inode is a connected TCP socket with these ports (0: any) in
 * @pid's network namespace (/proc/PID/net/tcp lists the whole namespace).
 */
static int inode_matches(int pid, unsigned long want, int sport, int dport)
{
	char path[64], line[512];
	unsigned long inode;
	int found = 0;
	unsigned int lport, rport, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/tcp", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*d: %*x:%x %*x:%x %x %*x:%*x %*x:%*x %*x %*d %*d %lu",
			   &lport, &rport, &st, &inode) != 4)
			continue;
		if (st != 1 && st != 8)	/* ESTABLISHED, CLOSE_WAIT */
			continue;
		if ((sport && (int)lport != sport) ||
		    (dport && (int)rport != dport) || inode != want)
			continue;
		found = 1;
		break;
	}
	fclose(f);
	return found;
}

/* The descriptor of @pid for a TCP socket with these ports, or -1. */
static int find_fd(int pid, int sport, int dport)
{
	char path[64], link[64];
	unsigned long inode;
	struct dirent *de;
	ssize_t n;
	DIR *d;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char p[384];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (sscanf(link, "socket:[%lu]", &inode) == 1 &&
		    inode_matches(pid, inode, sport, dport)) {
			fd = atoi(de->d_name);
			break;
		}
	}
	closedir(d);
	return fd;
}

/* argv after the command: PID FD | PID [--sport N] [--dport N] */
static int target_fd(int argc, char **argv, int *pid_out, int *fd_out)
{
	int pid, fd = -1, sport = 0, dport = 0, i, pidfd, local;

	if (argc < 1)
		print_usage();
	pid = atoi(argv[0]);
	if (pid <= 0)
		print_usage();
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sport") && i + 1 < argc)
			sport = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dport") && i + 1 < argc)
			dport = atoi(argv[++i]);
		else if (fd < 0 && argv[i][0] >= '0' && argv[i][0] <= '9')
			fd = atoi(argv[i]);
		else
			print_usage();
	}
	if (fd < 0) {
		if (!sport && !dport)
			print_usage();
		fd = find_fd(pid, sport, dport);
		if (fd < 0) {
			fprintf(stderr,
				"chimneyctl: pid %d: no connected TCP socket with those ports\n",
				pid);
			return -1;
		}
	}
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		fprintf(stderr, "chimneyctl: pidfd_open(%d): %s\n", pid,
			strerror(errno));
		return -1;
	}
	local = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (local < 0) {
		fprintf(stderr, "chimneyctl: pidfd_getfd(%d, %d): %s\n", pid, fd,
			strerror(errno));
		close(pidfd);
		return -1;
	}
	close(pidfd);
	*pid_out = pid;
	*fd_out = fd;
	return local;
}

static int open_ctl(void)
{
	int fd = open("/dev/" CHIMNEY_MISC_NAME, O_RDWR);

	if (fd < 0)
		fprintf(stderr, "chimneyctl: /dev/%s: %s (is chimney_nic loaded?)\n",
			CHIMNEY_MISC_NAME, strerror(errno));
	return fd;
}

static int cmd_offload(int argc, char **argv)
{
	int pid, fd, s;

	s = target_fd(argc, argv, &pid, &fd);
	if (s < 0)
		return 1;
	if (setsockopt(s, IPPROTO_TCP, TCP_ULP, CHIMNEY_ULP_NAME,
		       strlen(CHIMNEY_ULP_NAME)) < 0) {
		fprintf(stderr, "chimneyctl: offload pid %d fd %d: %s\n", pid, fd,
			strerror(errno));
		close(s);
		return 1;
	}
	printf("offloaded pid %d fd %d\n", pid, fd);
	close(s);
	return 0;
}

static int cmd_upload(int argc, char **argv)
{
	int pid, fd, s, ctl, err;

	ctl = open_ctl();
	if (ctl < 0)
		return 1;
	if (argc == 1 && !strcmp(argv[0], "--all")) {
		err = ioctl(ctl, CHIMNEY_IOC_UPLOAD_ALL);
		if (err < 0)
			fprintf(stderr, "chimneyctl: upload --all: %s\n",
				strerror(errno));
		close(ctl);
		return err < 0;
	}
	s = target_fd(argc, argv, &pid, &fd);
	if (s < 0) {
		close(ctl);
		return 1;
	}
	err = ioctl(ctl, CHIMNEY_IOC_UPLOAD, &s);
	if (err < 0)
		fprintf(stderr, "chimneyctl: upload pid %d fd %d: %s\n", pid, fd,
			strerror(errno));
	else
		printf("uploaded pid %d fd %d\n", pid, fd);
	close(s);
	close(ctl);
	return err < 0;
}

static struct chimney_conn_info conns[256];

/* The offloaded connections (at most 256 shown), or -1. */
static int get_list(struct chimney_list_req *req)
{
	int ctl = open_ctl();

	if (ctl < 0)
		return -1;
	req->max = 256;
	req->conns = (uintptr_t)conns;
	if (ioctl(ctl, CHIMNEY_IOC_LIST, req) < 0) {
		fprintf(stderr, "chimneyctl: list: %s\n", strerror(errno));
		close(ctl);
		return -1;
	}
	close(ctl);
	return 0;
}

static int cmd_list(void)
{
	struct chimney_conn_info *ci = conns;
	struct chimney_list_req req;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	unsigned int i;

	if (get_list(&req) < 0)
		return 1;
	printf("%u offloaded connection%s\n", req.count,
	       req.count == 1 ? "" : "s");
	for (i = 0; i < req.count && i < req.max; i++) {
		struct chimney_conn_info *c = &ci[i];

		inet_ntop(AF_INET, &c->saddr, a, sizeof(a));
		inet_ntop(AF_INET, &c->daddr, b, sizeof(b));
		printf("conn %u %s:%u -> %s:%u state %s%s%s%s\n", c->id, a,
		       ntohs(c->sport), b, ntohs(c->dport),
		       c->state < 11 ? tcp_states[c->state] : "?",
		       c->flags & CHIMNEY_CONNF_RX_EOF ? " rx-eof" : "",
		       c->flags & CHIMNEY_CONNF_ABORTED ? " aborted" : "",
		       c->flags & CHIMNEY_CONNF_RETRIEVE ? " retrieve" : "");
		if (c->query_status)
			printf("    query status 0x%08x\n", c->query_status);
		printf("    snd_una %u snd_nxt %u snd_max %u snd_wnd %u cwnd %u srtt %u\n",
		       c->snd_una, c->snd_nxt, c->snd_max, c->snd_wnd, c->cwnd,
		       c->srtt);
		printf("    rcv_nxt %u rcv_wnd %u rcv_backlog %u\n", c->rcv_nxt,
		       c->rcv_wnd, c->rcv_backlog);
		printf("    sent %llu rcvd %llu inflight %u unread %u\n",
		       (unsigned long long)c->bytes_sent,
		       (unsigned long long)c->bytes_rcvd, c->send_inflight,
		       c->rq_bytes);
	}
	return 0;
}

static void print_mac(const __u8 *m, char *out, size_t len)
{
	snprintf(out, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* One connection's tree, leaf first: the device's inverted tree. */
static void show_text(const struct chimney_conn_info *c)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], nh[INET_ADDRSTRLEN];
	char mac[24];

	inet_ntop(AF_INET, &c->saddr, a, sizeof(a));
	inet_ntop(AF_INET, &c->daddr, b, sizeof(b));
	inet_ntop(AF_INET, &c->nexthop, nh, sizeof(nh));
	print_mac(c->neigh_mac, mac, sizeof(mac));
	printf("TCP 0x%llx  %s:%u -> %s:%u  %s\n",
	       (unsigned long long)c->tcp_handle, a, ntohs(c->sport), b,
	       ntohs(c->dport), c->state < 11 ? tcp_states[c->state] : "?");
	printf("    snd_una %u snd_nxt %u snd_max %u snd_wnd %u cwnd %u\n",
	       c->snd_una, c->snd_nxt, c->snd_max, c->snd_wnd, c->cwnd);
	printf("    rcv_nxt %u rcv_wnd %u rcv_backlog %u srtt %u\n",
	       c->rcv_nxt, c->rcv_wnd, c->rcv_backlog, c->srtt);
	printf("  -> path 0x%llx  %s -> %s  mtu %u  (%u connection%s)\n",
	       (unsigned long long)c->path_handle, a, b, c->path_mtu,
	       c->path_conns, c->path_conns == 1 ? "" : "s");
	printf("    -> neighbor 0x%llx  %s  %s  (%u path%s)\n",
	       (unsigned long long)c->neigh_handle, nh, mac, c->neigh_paths,
	       c->neigh_paths == 1 ? "" : "s");
}

static void show_dot(const struct chimney_conn_info *all, unsigned int n)
{
	const struct chimney_conn_info *c = all;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], nh[INET_ADDRSTRLEN];
	char mac[24];
	unsigned int i, j;

	printf("digraph chimney {\n\trankdir=LR;\n\tnode [shape=box];\n");
	for (i = 0; i < n; i++, c++) {
		inet_ntop(AF_INET, &c->saddr, a, sizeof(a));
		inet_ntop(AF_INET, &c->daddr, b, sizeof(b));
		inet_ntop(AF_INET, &c->nexthop, nh, sizeof(nh));
		print_mac(c->neigh_mac, mac, sizeof(mac));
		/* shared paths and neighbors are one node each (by handle) */
		printf("\t\"t%llx\" [label=\"TCP %s:%u -> %s:%u\\n%s\"];\n",
		       (unsigned long long)c->tcp_handle, a, ntohs(c->sport), b,
		       ntohs(c->dport),
		       c->state < 11 ? tcp_states[c->state] : "?");
		printf("\t\"t%llx\" -> \"p%llx\";\n",
		       (unsigned long long)c->tcp_handle,
		       (unsigned long long)c->path_handle);
		for (j = 0; j < i; j++)
			if (all[j].path_handle == c->path_handle)
				break;
		if (j < i)
			continue;	/* a shared path: drawn once */
		printf("\t\"p%llx\" [label=\"path %s -> %s\\nmtu %u\"];\n",
		       (unsigned long long)c->path_handle, a, b, c->path_mtu);
		printf("\t\"n%llx\" [label=\"neighbor %s\\n%s\"];\n",
		       (unsigned long long)c->neigh_handle, nh, mac);
		printf("\t\"p%llx\" -> \"n%llx\";\n",
		       (unsigned long long)c->path_handle,
		       (unsigned long long)c->neigh_handle);
	}
	printf("}\n");
}

static int cmd_show(int argc, char **argv)
{
	static struct chimney_conn_info sel[256];
	struct chimney_list_req req;
	int sport = 0, dport = 0, dot = 0, i;
	unsigned int n = 0, k;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--sport") && i + 1 < argc)
			sport = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dport") && i + 1 < argc)
			dport = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dot"))
			dot = 1;
		else
			print_usage();
	}
	if (get_list(&req) < 0)
		return 1;
	for (k = 0; k < req.count && k < req.max; k++) {
		if ((sport && ntohs(conns[k].sport) != sport) ||
		    (dport && ntohs(conns[k].dport) != dport))
			continue;
		sel[n++] = conns[k];
	}
	if (!n) {
		fprintf(stderr, "chimneyctl: no offloaded connection matches\n");
		return 1;
	}
	if (dot) {
		show_dot(sel, n);
		return 0;
	}
	for (k = 0; k < n; k++)
		show_text(&sel[k]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		print_usage();
	if (!strcmp(argv[1], "offload"))
		return cmd_offload(argc - 2, argv + 2);
	if (!strcmp(argv[1], "upload"))
		return cmd_upload(argc - 2, argv + 2);
	if (!strcmp(argv[1], "list"))
		return cmd_list();
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	print_usage();
	return 2;
}
