// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctlbad: malformed requests on /dev/chimney for the guest test
 * (run-offload-ctl.sh): each must get its defined error and change
 * nothing.  Run while no policy rule exists; flushes the rules at the end.
 * Prints "CTLBAD ok|fail - NAME" per case; exit status = cases failed.
 *
 *   ctlbad IFNAME      IFNAME: the chimney-nic (rules on it are valid)
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "../../guest-driver/linux/chimney_uapi.h"

static int fails;

static void expect(const char *name, int ret, int want_errno)
{
	int ok = want_errno ? ret < 0 && errno == want_errno : ret == 0;

	printf("CTLBAD %s - %s", ok ? "ok" : "fail", name);
	if (!ok)
		printf(" (ret %d errno %s, wanted %s)", ret, strerror(errno),
		       want_errno ? strerror(want_errno) : "success");
	printf("\n");
	fails += !ok;
}

static int rule_count(int fd)
{
	struct chimney_policy_list l = { 0 };

	if (ioctl(fd, CHIMNEY_IOC_POLICY_LIST, &l) < 0)
		return -1;
	return l.count;
}

static void base_rule(struct chimney_policy_rule *r, const char *ifname)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	r->dport_min = 9;	/* discard: nothing of the test uses it */
	r->dport_max = 9;
}

int main(int argc, char **argv)
{
	struct chimney_policy_rule r, many[80];
	struct chimney_policy_list l;
	struct chimney_event ev;
	char big[80];
	int fd, fd2, mons[CHIMNEY_EVLOG_READERS + 1], i, n;
	__u32 v;

	if (argc != 2)
		return 2;
	fd = open("/dev/chimney", O_RDWR);
	if (fd < 0) {
		perror("/dev/chimney");
		return 2;
	}

	/* sizes: the size is part of the command number */
	memset(big, 0, sizeof(big));
	expect("POLICY_ADD with a larger size: ENOTTY",
	       ioctl(fd, _IOWR(CHIMNEY_IOC_MAGIC, 5, char[80]), big), ENOTTY);
	expect("POLICY_ADD with a smaller size: ENOTTY",
	       ioctl(fd, _IOWR(CHIMNEY_IOC_MAGIC, 5, char[8]), big), ENOTTY);
	expect("POLICY_LIST with another size: ENOTTY",
	       ioctl(fd, _IOWR(CHIMNEY_IOC_MAGIC, 7, char[16]), big), ENOTTY);
	expect("unknown command: ENOTTY",
	       ioctl(fd, _IO(CHIMNEY_IOC_MAGIC, 99)), ENOTTY);
	expect("POLICY_ADD from an unmapped address: EFAULT",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, (void *)16), EFAULT);

	/* rules */
	base_rule(&r, argv[1]);
	r.rsvd = 1;
	expect("rule with reserved bits: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), EINVAL);
	base_rule(&r, argv[1]);
	memset(r.ifname, 'x', sizeof(r.ifname));
	expect("interface name without NUL: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), EINVAL);
	base_rule(&r, "nosuch0");
	expect("unknown interface: ENODEV",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), ENODEV);
	base_rule(&r, "lo");
	expect("interface that is no chimney-nic: EOPNOTSUPP",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), EOPNOTSUPP);
	base_rule(&r, argv[1]);
	r.dport_min = 10;
	r.dport_max = 5;
	expect("port range upside down: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), EINVAL);
	base_rule(&r, argv[1]);
	r.dst_plen = 33;
	expect("prefix length 33: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), EINVAL);
	base_rule(&r, argv[1]);
	r.daddr = inet_addr("10.0.2.2");
	r.dst_plen = 24;
	expect("prefix with host bits: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), EINVAL);
	expect("no rule was added by the bad requests",
	       rule_count(fd) == 0 ? 0 : -1, 0);

	/* too many rules */
	for (i = 0, n = 0; i < CHIMNEY_POLICY_MAX_RULES; i++) {
		base_rule(&r, argv[1]);
		n += ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r) == 0;
	}
	expect("64 rules accepted", n == CHIMNEY_POLICY_MAX_RULES ? 0 : -1, 0);
	base_rule(&r, argv[1]);
	expect("rule 65: ENOSPC", ioctl(fd, CHIMNEY_IOC_POLICY_ADD, &r), ENOSPC);
	memset(&l, 0, sizeof(l));
	l.max = 80;
	l.rules = (uintptr_t)many;
	i = ioctl(fd, CHIMNEY_IOC_POLICY_LIST, &l);
	expect("list: 64 rules", i == 0 && l.count == 64 ? 0 : -1, 0);
	l.max = 4;
	l.rules = 16;
	expect("list into an unmapped buffer: EFAULT",
	       ioctl(fd, CHIMNEY_IOC_POLICY_LIST, &l), EFAULT);
	l.max = 0;
	expect("list with max 0 counts only",
	       ioctl(fd, CHIMNEY_IOC_POLICY_LIST, &l) == 0 && l.count == 64 ?
	       0 : -1, 0);
	l.rsvd = 7;
	expect("list with reserved bits: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_POLICY_LIST, &l), EINVAL);
	v = 0x7fffffff;
	expect("delete an unknown id: ENOENT",
	       ioctl(fd, CHIMNEY_IOC_POLICY_DEL, &v), ENOENT);
	v = many[10].id;
	expect("delete a rule by id", ioctl(fd, CHIMNEY_IOC_POLICY_DEL, &v), 0);
	expect("delete it again: ENOENT",
	       ioctl(fd, CHIMNEY_IOC_POLICY_DEL, &v), ENOENT);
	expect("63 rules left", rule_count(fd) == 63 ? 0 : -1, 0);
	expect("flush", ioctl(fd, CHIMNEY_IOC_POLICY_FLUSH), 0);
	expect("no rule left", rule_count(fd) == 0 ? 0 : -1, 0);

	/* connections */
	v = 0x7fffffff;
	expect("upload an unknown connection id: ENOENT",
	       ioctl(fd, CHIMNEY_IOC_UPLOAD_CONN, &v), ENOENT);

	/* event log */
	expect("read before CHIMNEY_IOC_MONITOR: EINVAL",
	       read(fd, &ev, sizeof(ev)) < 0 ? -1 : 0, EINVAL);
	v = CHIMNEY_EVLOG_MIN - 1;
	expect("monitor queue below the minimum: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_MONITOR, &v), EINVAL);
	v = CHIMNEY_EVLOG_MAX + 1;
	expect("monitor queue above the maximum: EINVAL",
	       ioctl(fd, CHIMNEY_IOC_MONITOR, &v), EINVAL);
	v = 0;
	expect("monitor", ioctl(fd, CHIMNEY_IOC_MONITOR, &v), 0);
	expect("monitor twice on one file: EBUSY",
	       ioctl(fd, CHIMNEY_IOC_MONITOR, &v), EBUSY);
	expect("read into less than one record: EINVAL",
	       read(fd, &ev, sizeof(ev) - 1) < 0 ? -1 : 0, EINVAL);
	fd2 = open("/dev/chimney", O_RDWR | O_NONBLOCK);
	v = 0;
	ioctl(fd2, CHIMNEY_IOC_MONITOR, &v);
	expect("non-blocking read of an empty queue: EAGAIN",
	       read(fd2, &ev, sizeof(ev)) < 0 ? -1 : 0, EAGAIN);
	close(fd2);
	/* fd monitors already: CHIMNEY_EVLOG_READERS - 1 more, then EMFILE */
	for (i = 0, n = 0; i < CHIMNEY_EVLOG_READERS; i++) {
		mons[i] = open("/dev/chimney", O_RDWR);
		v = 4;
		if (ioctl(mons[i], CHIMNEY_IOC_MONITOR, &v) == 0)
			n++;
		else if (errno != EMFILE)
			n = -100;
	}
	expect("16 monitors at most (the 17th: EMFILE)",
	       n == CHIMNEY_EVLOG_READERS - 1 ? 0 : -1, 0);
	for (i = 0; i < CHIMNEY_EVLOG_READERS; i++)
		close(mons[i]);
	mons[0] = open("/dev/chimney", O_RDWR);
	v = 4;
	expect("closing monitors frees their places",
	       ioctl(mons[0], CHIMNEY_IOC_MONITOR, &v), 0);
	close(mons[0]);
	close(fd);
	return fails;
}
