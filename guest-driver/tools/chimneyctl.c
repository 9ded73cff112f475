// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimneyctl: move live TCP connections of running programs onto a
 * chimney-nic (TCP Chimney offload) and back.
 *
 *   chimneyctl offload PID FD
 *   chimneyctl offload PID [--sport N] [--dport N]
 *   chimneyctl offload FILTER | LOCAL REMOTE
 *   chimneyctl upload  PID FD | PID [--sport N] [--dport N] | --all
 *   chimneyctl upload  FILTER | LOCAL REMOTE
 *   chimneyctl list [FILTER]
 *   chimneyctl show [FILTER] [--dot]
 *   chimneyctl policy add [dev IF] [sport P[-Q]] [dport P[-Q]] [dst A[/N]]
 *                         [after BYTES]
 *   chimneyctl policy del ID | list | flush
 *   chimneyctl monitor [--count N] [--timeout S] [--queue N] [--hold]
 *
 * FILTER is a subset of ss(8)'s: "sport|dport OP [:]PORT" (OP = == eq !=
 * ne < lt > gt <= le >= ge), "src|dst ADDR[/N][:PORT]", joined by "and"
 * or nothing; LOCAL REMOTE is a 4-tuple ADDR:PORT ADDR:PORT.
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
#include <net/if.h>
#include <poll.h>
#include <time.h>
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
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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
		"       chimneyctl offload FILTER | LOCAL REMOTE\n"
		"       chimneyctl upload PID FD | PID [--sport N] [--dport N] | --all\n"
		"       chimneyctl upload FILTER | LOCAL REMOTE\n"
		"       chimneyctl list [FILTER]\n"
		"       chimneyctl show [FILTER] [--dot]\n"
		"       chimneyctl policy add [dev IF] [sport P[-Q]] [dport P[-Q]] [dst A[/N]]\n"
		"                             [after BYTES[k|m|g]]\n"
		"       chimneyctl policy del ID | list | flush\n"
		"       chimneyctl monitor [--count N] [--timeout S] [--queue N] [--hold]\n"
		"FILTER (ss-style): sport|dport OP [:]PORT, src|dst ADDR[/N][:PORT],\n"
		"  OP one of = == eq != ne < lt > gt <= le >= ge, joined by 'and';\n"
		"  LOCAL REMOTE: ADDR:PORT ADDR:PORT.  --sport N / --dport N as before.\n");
	exit(2);
}

/* A descriptor of our own for descriptor @fd of @pid, or -1 (quiet). */
static int take_fd(int pid, int fd)
{
	int pidfd, local;

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -1;
	local = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	return local;
}

/*
 * Whether @s is a connected IPv4 TCP socket (ESTABLISHED or CLOSE_WAIT)
 * with these ports (0: any).  Asked of the socket itself: a walk of
 * /proc/PID/net/tcp can miss an entry when a socket goes away between
 * two of its pages (a TIME-WAIT one expiring).
 */
static int sock_matches(int s, int sport, int dport)
{
	struct sockaddr_in l, r;
	socklen_t len = sizeof(int);
	struct tcp_info ti;
	int v;

	if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &len) || v != IPPROTO_TCP)
		return 0;
	len = sizeof(ti);
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    (ti.tcpi_state != 1 && ti.tcpi_state != 8))	/* ESTABLISHED, CLOSE_WAIT */
		return 0;
	len = sizeof(l);
	if (getsockname(s, (struct sockaddr *)&l, &len) || l.sin_family != AF_INET)
		return 0;
	len = sizeof(r);
	if (getpeername(s, (struct sockaddr *)&r, &len))
		return 0;
	return (!sport || ntohs(l.sin_port) == sport) &&
	       (!dport || ntohs(r.sin_port) == dport);
}

/* The descriptor of @pid for a TCP socket with these ports, or -1. */
static int find_fd(int pid, int sport, int dport)
{
	char path[64], link[64];
	struct dirent *de;
	ssize_t n;
	DIR *d;
	int fd = -1, s;

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
		if (strncmp(link, "socket:[", 8))
			continue;
		s = take_fd(pid, atoi(de->d_name));
		if (s < 0)
			continue;
		if (sock_matches(s, sport, dport))
			fd = atoi(de->d_name);
		close(s);
		if (fd >= 0)
			break;
	}
	closedir(d);
	return fd;
}

/* A descriptor of our own for descriptor @fd of @pid, or -1. */
static int grab_fd(int pid, int fd)
{
	int local = take_fd(pid, fd);

	if (local < 0)
		fprintf(stderr, "chimneyctl: descriptor %d of pid %d: %s\n", fd,
			pid, strerror(errno));
	return local;
}

/* argv after the command: PID FD | PID [--sport N] [--dport N] */
static int target_fd(int argc, char **argv, int *pid_out, int *fd_out)
{
	int pid, fd = -1, sport = 0, dport = 0, i, local;

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
	local = grab_fd(pid, fd);
	*pid_out = pid;
	*fd_out = fd;
	return local;
}

/* ---- ss-style filters --------------------------------------------------- */

enum { F_SPORT, F_DPORT, F_SRC, F_DST };
enum { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE };

struct term {
	int field;
	int op;
	uint32_t addr, mask;	/* network order; mask 0: any address */
	int port;		/* -1: any */
};

struct filter {
	int n;
	struct term t[32];
};

static int parse_op(const char *s)
{
	static const char *const ops[][3] = {
		{ "=", "==", "eq" }, { "!=", "ne", "ne" }, { "<", "lt", "lt" },
		{ ">", "gt", "gt" }, { "<=", "le", "le" }, { ">=", "ge", "ge" },
	};
	int i, j;

	for (i = 0; i < 6; i++)
		for (j = 0; j < 3; j++)
			if (!strcmp(s, ops[i][j]))
				return i;
	return -1;
}

static int parse_port(const char *s)
{
	char *end;
	long v;

	if (*s == ':')
		s++;
	if (!strcmp(s, "*"))
		return -1;
	v = strtol(s, &end, 10);
	if (end == s || *end || v < 0 || v > 65535)
		return -2;
	return v;
}

/* ADDR[/N][:PORT], ADDR may be "*" or empty (":PORT"); 0 ok, -1 bad */
static int parse_hostport(const char *arg, struct term *t)
{
	char buf[64], *colon, *slash;
	struct in_addr a;
	long plen = 32;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	t->port = -1;
	t->op = OP_EQ;
	colon = strrchr(buf, ':');
	if (colon) {
		*colon = 0;
		t->port = parse_port(colon + 1);
		if (t->port == -2)
			return -1;
	}
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		*slash = 0;
		plen = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || plen < 0 || plen > 32)
			return -1;
	}
	if (!buf[0] || !strcmp(buf, "*")) {
		t->addr = 0;
		t->mask = 0;
		return 0;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	t->mask = plen ? htonl(~0u << (32 - plen)) : 0;
	t->addr = a.s_addr & t->mask;
	return 0;
}

static int is_hostport(const char *s)
{
	return strchr(s, '.') && strchr(s, ':');
}

/* argv[*i..]: one filter expression; returns 0, or -1 when not one */
static int parse_filter(int argc, char **argv, struct filter *f)
{
	int i, op;
	struct term *t;

	f->n = 0;
	if (argc == 2 && is_hostport(argv[0]) && is_hostport(argv[1])) {
		f->t[0].field = F_SRC;
		f->t[1].field = F_DST;
		if (parse_hostport(argv[0], &f->t[0]) ||
		    parse_hostport(argv[1], &f->t[1]))
			return -1;
		f->n = 2;
		return 0;
	}
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "and") || !strcmp(argv[i], "&&"))
			continue;
		if (f->n == 32)
			return -1;
		t = &f->t[f->n];
		memset(t, 0, sizeof(*t));
		if (!strcmp(argv[i], "sport") || !strcmp(argv[i], "dport") ||
		    !strcmp(argv[i], "--sport") || !strcmp(argv[i], "--dport")) {
			t->field = strstr(argv[i], "sport") ? F_SPORT : F_DPORT;
			op = OP_EQ;
			if (argv[i][0] != '-') {
				if (i + 1 >= argc)
					return -1;
				op = parse_op(argv[++i]);
				if (op < 0)
					return -1;
			}
			if (i + 1 >= argc)
				return -1;
			t->op = op;
			t->port = parse_port(argv[++i]);
			if (t->port < 0)
				return -1;
		} else if (!strcmp(argv[i], "src") || !strcmp(argv[i], "dst")) {
			t->field = argv[i][0] == 's' ? F_SRC : F_DST;
			if (i + 1 < argc && parse_op(argv[i + 1]) == OP_EQ)
				i++;
			if (i + 1 >= argc || parse_hostport(argv[++i], t))
				return -1;
		} else {
			return -1;
		}
		f->n++;
	}
	return 0;
}

static int cmp_op(int op, int a, int b)
{
	switch (op) {
	case OP_EQ:
		return a == b;
	case OP_NE:
		return a != b;
	case OP_LT:
		return a < b;
	case OP_GT:
		return a > b;
	case OP_LE:
		return a <= b;
	default:
		return a >= b;
	}
}

/* addresses in network order, ports in host order */
static int filter_match(const struct filter *f, uint32_t saddr, int sport,
			uint32_t daddr, int dport)
{
	const struct term *t;
	int i;

	for (i = 0; i < f->n; i++) {
		t = &f->t[i];
		switch (t->field) {
		case F_SPORT:
			if (!cmp_op(t->op, sport, t->port))
				return 0;
			break;
		case F_DPORT:
			if (!cmp_op(t->op, dport, t->port))
				return 0;
			break;
		case F_SRC:
			if ((saddr & t->mask) != t->addr ||
			    (t->port >= 0 && sport != t->port))
				return 0;
			break;
		default:
			if ((daddr & t->mask) != t->addr ||
			    (t->port >= 0 && dport != t->port))
				return 0;
			break;
		}
	}
	return 1;
}

static void fmt_tuple(char *out, size_t len, uint32_t saddr, int sport,
		      uint32_t daddr, int dport)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &saddr, a, sizeof(a));
	inet_ntop(AF_INET, &daddr, b, sizeof(b));
	snprintf(out, len, "%s:%d -> %s:%d", a, sport, b, dport);
}

static int open_ctl(void)
{
	int fd = open("/dev/" CHIMNEY_MISC_NAME, O_RDWR);

	if (fd < 0)
		fprintf(stderr, "chimneyctl: /dev/%s: %s (is chimney_nic loaded?)\n",
			CHIMNEY_MISC_NAME, strerror(errno));
	return fd;
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
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

struct cand {
	uint32_t saddr, daddr;	/* network order */
	int sport, dport;
	unsigned long ino;
	int pid, fd;
};

/*
 * offload FILTER: every established connection of this namespace that
 * matches and is not offloaded yet, through the descriptor of the
 * process that owns it.
 */
static int offload_filter(const struct filter *f)
{
	static struct cand c[1024];
	struct chimney_list_req req;
	unsigned int n = 0, i, k;
	unsigned int lport, rport, st;
	uint32_t la, ra;
	unsigned long ino;
	char line[512], path[600], link[64], tuple[64];
	struct dirent *pd, *fdd;
	DIR *proc, *fds;
	int failed = 0, done = 0, s;
	FILE *fp;

	if (get_list(&req) < 0)
		return 1;
	fp = fopen("/proc/self/net/tcp", "r");
	if (!fp) {
		perror("chimneyctl: /proc/self/net/tcp");
		return 1;
	}
	while (fgets(line, sizeof(line), fp) && n < 1024) {
		if (sscanf(line, " %*d: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %*d %*d %lu",
			   &la, &lport, &ra, &rport, &st, &ino) != 6 || st != 1)
			continue;
		if (!filter_match(f, la, lport, ra, rport))
			continue;
		for (k = 0; k < req.count && k < req.max; k++)
			if (conns[k].saddr == la && conns[k].daddr == ra &&
			    ntohs(conns[k].sport) == lport &&
			    ntohs(conns[k].dport) == rport)
				break;
		if (k < req.count && k < req.max)
			continue;	/* offloaded already */
		c[n].saddr = la;
		c[n].daddr = ra;
		c[n].sport = lport;
		c[n].dport = rport;
		c[n].ino = ino;
		c[n].pid = 0;
		n++;
	}
	fclose(fp);
	if (!n) {
		fprintf(stderr,
			"chimneyctl: no established connection matches (not offloaded)\n");
		return 1;
	}
	proc = opendir("/proc");
	while (proc && (pd = readdir(proc))) {
		if (!is_number(pd->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pd->d_name);
		fds = opendir(path);
		while (fds && (fdd = readdir(fds))) {
			ssize_t len;

			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
				 pd->d_name, fdd->d_name);
			len = readlink(path, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = 0;
			if (sscanf(link, "socket:[%lu]", &ino) != 1)
				continue;
			for (i = 0; i < n; i++)
				if (c[i].ino == ino && !c[i].pid) {
					c[i].pid = atoi(pd->d_name);
					c[i].fd = atoi(fdd->d_name);
				}
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
	for (i = 0; i < n; i++) {
		fmt_tuple(tuple, sizeof(tuple), c[i].saddr, c[i].sport,
			  c[i].daddr, c[i].dport);
		if (!c[i].pid) {
			fprintf(stderr, "chimneyctl: %s: no process has the socket\n",
				tuple);
			failed++;
			continue;
		}
		s = grab_fd(c[i].pid, c[i].fd);
		if (s < 0) {
			failed++;
			continue;
		}
		if (setsockopt(s, IPPROTO_TCP, TCP_ULP, CHIMNEY_ULP_NAME,
			       strlen(CHIMNEY_ULP_NAME)) < 0) {
			fprintf(stderr, "chimneyctl: offload %s (pid %d fd %d): %s\n",
				tuple, c[i].pid, c[i].fd, strerror(errno));
			failed++;
		} else {
			printf("offloaded %s pid %d fd %d\n", tuple, c[i].pid,
			       c[i].fd);
			done++;
		}
		close(s);
	}
	return failed || !done;
}

/* upload FILTER: every offloaded connection that matches, by its id. */
static int upload_filter(const struct filter *f)
{
	struct chimney_list_req req;
	struct chimney_conn_info *c;
	char tuple[64];
	unsigned int k;
	int ctl, failed = 0, done = 0;

	if (get_list(&req) < 0)
		return 1;
	ctl = open_ctl();
	if (ctl < 0)
		return 1;
	for (k = 0; k < req.count && k < req.max; k++) {
		c = &conns[k];
		if (!filter_match(f, c->saddr, ntohs(c->sport), c->daddr,
				  ntohs(c->dport)))
			continue;
		fmt_tuple(tuple, sizeof(tuple), c->saddr, ntohs(c->sport),
			  c->daddr, ntohs(c->dport));
		if (ioctl(ctl, CHIMNEY_IOC_UPLOAD_CONN, &c->id) < 0) {
			fprintf(stderr, "chimneyctl: upload conn %u %s: %s\n",
				c->id, tuple, strerror(errno));
			failed++;
		} else {
			printf("uploaded conn %u %s\n", c->id, tuple);
			done++;
		}
	}
	close(ctl);
	if (!done && !failed)
		fprintf(stderr, "chimneyctl: no offloaded connection matches\n");
	return failed || !done;
}

static int cmd_offload(int argc, char **argv)
{
	struct filter f;
	int pid, fd, s;

	if (argc >= 1 && !is_number(argv[0])) {
		if (parse_filter(argc, argv, &f) < 0)
			print_usage();
		return offload_filter(&f);
	}

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
	struct filter f;
	int pid, fd, s, ctl, err;

	if (argc >= 1 && !is_number(argv[0]) && strcmp(argv[0], "--all")) {
		if (parse_filter(argc, argv, &f) < 0)
			print_usage();
		return upload_filter(&f);
	}
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

static int cmd_list(int argc, char **argv)
{
	struct chimney_conn_info *ci = conns;
	struct chimney_list_req req;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	struct filter f;
	unsigned int i, n = 0;

	if (parse_filter(argc, argv, &f) < 0)
		print_usage();
	if (get_list(&req) < 0)
		return 1;
	for (i = 0; i < req.count && i < req.max; i++)
		n += filter_match(&f, ci[i].saddr, ntohs(ci[i].sport),
				  ci[i].daddr, ntohs(ci[i].dport));
	/* unfiltered: the kernel's count (may exceed what is shown) */
	if (!f.n)
		n = req.count;
	printf("%u offloaded connection%s\n", n, n == 1 ? "" : "s");
	for (i = 0; i < req.count && i < req.max; i++) {
		struct chimney_conn_info *c = &ci[i];

		if (!filter_match(&f, c->saddr, ntohs(c->sport), c->daddr,
				  ntohs(c->dport)))
			continue;

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
	struct filter f;
	int dot = 0;
	unsigned int n = 0, k;

	int i, j;

	for (i = j = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dot"))
			dot = 1;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	if (parse_filter(argc, argv, &f) < 0)
		print_usage();
	if (get_list(&req) < 0)
		return 1;
	for (k = 0; k < req.count && k < req.max; k++) {
		if (!filter_match(&f, conns[k].saddr, ntohs(conns[k].sport),
				  conns[k].daddr, ntohs(conns[k].dport)))
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

/* ---- policy ------------------------------------------------------------- */

static int parse_range(const char *s, __u16 *lo, __u16 *hi)
{
	char *end;
	long a, b;

	a = strtol(s, &end, 10);
	b = a;
	if (end != s && *end == '-') {
		const char *t = end + 1;

		b = strtol(t, &end, 10);
		if (end == t)
			return -1;
	}
	if (end == s || *end || a < 1 || b > 65535 || a > b)
		return -1;
	*lo = a;
	*hi = b;
	return 0;
}

static int parse_bytes(const char *s, __u64 *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -1;
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	else if (*end == 'g' || *end == 'G')
		v <<= 30;
	else
		end--;
	end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void print_rule(const struct chimney_policy_rule *r)
{
	char a[INET_ADDRSTRLEN];

	printf("rule %u", r->id);
	if (r->ifname[0])
		printf(" dev %.16s", r->ifname);
	if (r->sport_max)
		r->sport_min == r->sport_max ? printf(" sport %u", r->sport_min) :
			printf(" sport %u-%u", r->sport_min, r->sport_max);
	if (r->dport_max)
		r->dport_min == r->dport_max ? printf(" dport %u", r->dport_min) :
			printf(" dport %u-%u", r->dport_min, r->dport_max);
	if (r->dst_plen) {
		inet_ntop(AF_INET, &r->daddr, a, sizeof(a));
		printf(" dst %s/%u", a, r->dst_plen);
	}
	if (r->min_bytes)
		printf(" after %llu", (unsigned long long)r->min_bytes);
	printf(" offloaded %llu failed %llu\n",
	       (unsigned long long)r->offloaded,
	       (unsigned long long)r->failed);
}

static int cmd_policy(int argc, char **argv)
{
	struct chimney_policy_rule r, rules[CHIMNEY_POLICY_MAX_RULES];
	struct chimney_policy_list l;
	int ctl, i, err;
	unsigned int k;
	__u32 id;

	if (argc < 1)
		print_usage();
	memset(&r, 0, sizeof(r));
	if (!strcmp(argv[0], "add")) {
		for (i = 1; i < argc; i++) {
			if (i + 1 >= argc)
				print_usage();
			if (!strcmp(argv[i], "dev")) {
				if (strlen(argv[++i]) >= sizeof(r.ifname))
					print_usage();
				strcpy(r.ifname, argv[i]);
			} else if (!strcmp(argv[i], "sport")) {
				if (parse_range(argv[++i], &r.sport_min, &r.sport_max))
					print_usage();
			} else if (!strcmp(argv[i], "dport")) {
				if (parse_range(argv[++i], &r.dport_min, &r.dport_max))
					print_usage();
			} else if (!strcmp(argv[i], "dst")) {
				struct term t;

				if (parse_hostport(argv[++i], &t) || t.port >= 0)
					print_usage();
				r.daddr = t.addr;
				r.dst_plen = __builtin_popcount(t.mask);
			} else if (!strcmp(argv[i], "after")) {
				if (parse_bytes(argv[++i], &r.min_bytes))
					print_usage();
			} else {
				print_usage();
			}
		}
	} else if (!strcmp(argv[0], "del")) {
		char *end;

		if (argc != 2)
			print_usage();
		id = strtoul(argv[1], &end, 10);
		if (end == argv[1] || *end)
			print_usage();
	} else if (strcmp(argv[0], "list") && strcmp(argv[0], "flush")) {
		print_usage();
	} else if (argc != 1) {
		print_usage();
	}
	ctl = open_ctl();
	if (ctl < 0)
		return 1;
	if (!strcmp(argv[0], "add")) {
		err = ioctl(ctl, CHIMNEY_IOC_POLICY_ADD, &r);
		if (!err)
			printf("rule %u added\n", r.id);
	} else if (!strcmp(argv[0], "del")) {
		err = ioctl(ctl, CHIMNEY_IOC_POLICY_DEL, &id);
	} else if (!strcmp(argv[0], "flush")) {
		err = ioctl(ctl, CHIMNEY_IOC_POLICY_FLUSH);
	} else {
		memset(&l, 0, sizeof(l));
		l.max = CHIMNEY_POLICY_MAX_RULES;
		l.rules = (uintptr_t)rules;
		err = ioctl(ctl, CHIMNEY_IOC_POLICY_LIST, &l);
		if (!err) {
			printf("%u rule%s, %llu scans, %u connections remembered\n",
			       l.count, l.count == 1 ? "" : "s",
			       (unsigned long long)l.scans, l.records);
			for (k = 0; k < l.count && k < l.max; k++)
				print_rule(&rules[k]);
		}
	}
	if (err < 0)
		fprintf(stderr, "chimneyctl: policy %s: %s\n", argv[0],
			strerror(errno));
	close(ctl);
	return err < 0;
}

/* ---- monitor ------------------------------------------------------------ */

static const char *upload_reason(unsigned int r)
{
	static const char *const n[] = {
		"?", "socket", "user", "retrieve", "abort", "ifdown",
		"upload-all", "fin-wait-2",
	};

	return r < ARRAY_SIZE(n) ? n[r] : "?";
}

static const char *retrieve_reason(unsigned int r)
{
	static const char *const n[] = {
		"-", "low-activity", "high-drop-rate", "small-io",
		"no-buffer-prepost", "urgent-data", "high-fragmentation",
		"high-out-of-order", "timeout", "invalid-state", "requested",
		"hardware-failure",
	};

	return r < ARRAY_SIZE(n) ? n[r] : "?";
}

static void print_event(const struct chimney_event *e)
{
	static const char *const status[] = { "?", "pause", "upload-all",
					      "resume" };
	char tuple[64], ifn[IF_NAMESIZE + 1] = "?", nb[INET_ADDRSTRLEN];

	fmt_tuple(tuple, sizeof(tuple), e->saddr, ntohs(e->sport), e->daddr,
		  ntohs(e->dport));
	if (e->ifindex && !if_indextoname(e->ifindex, ifn))
		snprintf(ifn, sizeof(ifn), "if%u", e->ifindex);
	printf("%llu.%06llu ", (unsigned long long)(e->time_ns / 1000000000),
	       (unsigned long long)(e->time_ns % 1000000000 / 1000));
	switch (e->type) {
	case CHIMNEY_EV_LOST:
		printf("lost %llu events\n", (unsigned long long)e->info64);
		break;
	case CHIMNEY_EV_OFFLOAD:
		printf("offload conn %u %s dev %s\n", e->conn, tuple, ifn);
		break;
	case CHIMNEY_EV_UPLOAD:
		printf("upload conn %u %s reason %s", e->conn, tuple,
		       upload_reason(e->reason));
		if (e->reason == CHIMNEY_UPR_RETRIEVE)
			printf(" (%s)", retrieve_reason(e->info));
		printf(" bytes %llu\n", (unsigned long long)e->info64);
		break;
	case CHIMNEY_EV_DISCONNECT:
		printf("disconnect conn %u %s\n", e->conn, tuple);
		break;
	case CHIMNEY_EV_ABORT:
		printf("abort conn %u %s\n", e->conn, tuple);
		break;
	case CHIMNEY_EV_RETRIEVE:
		printf("retrieve conn %u %s reason %s\n", e->conn, tuple,
		       retrieve_reason(e->reason));
		break;
	case CHIMNEY_EV_BACKLOG:
		printf("backlog conn %u %s bytes %u\n", e->conn, tuple, e->info);
		break;
	case CHIMNEY_EV_NEIGH_QUERY:
		inet_ntop(AF_INET, &e->daddr, nb, sizeof(nb));
		printf("neigh-query dev %s %s nrd %u hrd %llu\n", ifn, nb,
		       e->info, (unsigned long long)e->info64);
		break;
	case CHIMNEY_EV_STATUS:
		printf("status dev %s %s\n", ifn,
		       e->reason < 4 ? status[e->reason] : "?");
		break;
	case CHIMNEY_EV_POLICY_OFFLOAD:
		printf("policy-offload rule %u conn %u %s dev %s bytes %llu\n",
		       e->info, e->conn, tuple, ifn,
		       (unsigned long long)e->info64);
		break;
	case CHIMNEY_EV_POLICY_FAIL:
		printf("policy-fail rule %u %s dev %s error %s tries %llu%s\n",
		       e->info, tuple, ifn, strerror(e->reason),
		       (unsigned long long)e->info64,
		       e->flags & CHIMNEY_EVF_FINAL ? " final" : "");
		break;
	case CHIMNEY_EV_POLICY_ADD:
		printf("policy-add rule %u\n", e->info);
		break;
	case CHIMNEY_EV_POLICY_DEL:
		if (e->info)
			printf("policy-del rule %u\n", e->info);
		else
			printf("policy-flush\n");
		break;
	default:
		printf("event %u conn %u %s info %u\n", e->type, e->conn, tuple,
		       e->info);
		break;
	}
}

static int cmd_monitor(int argc, char **argv)
{
	struct chimney_event ev[64];
	long count = -1, timeout = -1, printed = 0;
	int ctl, i, hold = 0, tmo;
	__u32 queue = 0;
	struct timespec t0, t;
	struct pollfd p;
	ssize_t n;
	char *end;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--hold")) {
			hold = 1;
			continue;
		}
		if (i + 1 >= argc)
			print_usage();
		if (!strcmp(argv[i], "--count"))
			count = strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--timeout"))
			timeout = strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--queue"))
			queue = strtoul(argv[++i], &end, 10);
		else
			print_usage();
		if (*end || end == argv[i])
			print_usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl = open_ctl();
	if (ctl < 0)
		return 1;
	if (ioctl(ctl, CHIMNEY_IOC_MONITOR, &queue) < 0) {
		fprintf(stderr, "chimneyctl: monitor: %s\n", strerror(errno));
		close(ctl);
		return 1;
	}
	printf("monitoring /dev/%s\n", CHIMNEY_MISC_NAME);
	if (hold) {
		/* a slow reader: nothing read until stdin ends */
		char buf[64];

		while (read(0, buf, sizeof(buf)) > 0)
			;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (count < 0 || printed < count) {
		tmo = -1;
		if (timeout >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			tmo = timeout * 1000 - ((t.tv_sec - t0.tv_sec) * 1000 +
						(t.tv_nsec - t0.tv_nsec) / 1000000);
			if (tmo <= 0)
				break;
		}
		p.fd = ctl;
		p.events = POLLIN;
		if (poll(&p, 1, tmo) == 0)
			break;
		n = read(ctl, ev, sizeof(ev));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "chimneyctl: monitor: %s\n",
				strerror(errno));
			close(ctl);
			return 1;
		}
		for (i = 0; i < (int)(n / sizeof(ev[0])) &&
		     (count < 0 || printed < count); i++) {
			print_event(&ev[i]);
			printed++;
		}
	}
	close(ctl);
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
		return cmd_list(argc - 2, argv + 2);
	if (!strcmp(argv[1], "policy"))
		return cmd_policy(argc - 2, argv + 2);
	if (!strcmp(argv[1], "monitor"))
		return cmd_monitor(argc - 2, argv + 2);
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	print_usage();
	return 2;
}
