// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xfer: an ordinary TCP program for the offload guest test.  It knows
 * nothing about chimney-nic: it moves a file to a host and the host's
 * data into another file over one connection, both ways at once, with a
 * non-blocking socket and poll() (the way event-driven programs work).
 *
 *   xfer pump HOST PORT NAME N TXFILE RXFILE [RATE [END]]
 *       connect, send "PUMP NAME N\n" and then N bytes of TXFILE (read
 *       again from its start when it is shorter; at most RATE bytes per
 *       second, like a media stream, 0: no limit) while writing what
 *       arrives into RXFILE.  END says how the program ends:
 *         shut     (default) after the last byte shutdown(SHUT_WR); read
 *                  until the host closes; close;
 *         close    no shutdown: close once N bytes went each way;
 *         eof      no shutdown: read until the host closes; close;
 *         abort@B  once B bytes went each way: SO_LINGER 0 and close
 *                  (a reset);
 *         unread@B once B bytes went each way: stop reading, wait until
 *                  more data has arrived, close with it unread (a reset);
 *         lingerS@B once B bytes went each way: SO_LINGER on with S
 *                  seconds and close (graceful: the FIN; close() waits
 *                  up to S s for its acknowledgment); prints
 *                  "XFER-LINGER secs=S ms=T rc=R errno=E", T: how long
 *                  close() took (CLOCK_MONOTONIC), R and E its result.
 *       With XFER_SENDFILE=1 in the environment, every other chunk of
 *       TXFILE goes out with sendfile(2) from the file (the socket's
 *       sendpage) instead of write(2) from a buffer: the same bytes.
 *       Prints "XFER name=NAME sent=S rcvd=R eof=0|1 err=E".  Exit 0 when
 *       S = N, R = N and EOF was seen (shut, eof), S = R = N (close), S
 *       and R reached B (abort, unread, linger; linger: and close()
 *       returned 0).
 *   xfer bpump HOST PORT NAME N TXFILE RXFILE RATE GOFILE
 *       the same transfer (host side: PUMP) with a blocking socket, the
 *       way threaded programs work: a thread writes N bytes of TXFILE (at
 *       most RATE bytes/s, 0: no limit) and then shuts down (SHUT_WR);
 *       the main thread read()s until EOF.  After connecting it prints
 *       "READY" and waits for GOFILE to exist (the caller offloads the
 *       connection meanwhile: no thread is inside the kernel's own
 *       tcp_recvmsg() at the offload).  Environment:
 *         XFER_RXBUF=B     bytes per read (default 65536);
 *         XFER_WAITALL=1   recv(MSG_WAITALL); a read that returns less
 *                          than B with more data after it is "short";
 *         XFER_RCVTIMEO=MS SO_RCVTIMEO; each EAGAIN prints
 *                          "XFER-EAGAIN rcvd=R ms=0" and the read is
 *                          retried;
 *         XFER_SARESTART=1 the SIGUSR2 handler has SA_RESTART (default
 *                          not: the read fails with EINTR, prints
 *                          "XFER-EINTR rcvd=R ms=T", T: ms since the
 *                          signal, and is retried);
 *         XFER_RCVBUF=B    SO_RCVBUF B right after connect();
 *         XFER_SNDBUF=B    SO_SNDBUF B right after connect();
 *         XFER_UNREADAT=B  once B bytes arrived, no more reads: after
 *                          the writer is done, prints "XFER-STOPPED
 *                          rcvd=R", waits for GOFILE.close to exist
 *                          (the caller lets more data come meanwhile)
 *                          and closes with it unread (a reset); exit 0
 *                          when S = N and R >= B.
 *         XFER_INQAT=B     once B bytes arrived, no read for a while:
 *                          prints "XFER-INQWAIT rcvd=R", waits for
 *                          GOFILE.inq to exist (the caller lets more data
 *                          come meanwhile), then ioctl(FIONREAD) every
 *                          50 ms, at most 200 times, until it reports
 *                          bytes; then poll(POLLIN) with no timeout
 *                          (readable now?); then non-blocking reads, with
 *                          poll() between them, until nothing came for
 *                          1 s; prints "XFER-INQ first=X tries=T pollin=P
 *                          rest=Q" (X: the first non-zero FIONREAD, 0 if
 *                          none; T: FIONREAD calls; P: 1 if that poll()
 *                          said POLLIN; Q: bytes those reads got) and
 *                          goes on with blocking reads.
 *       SIGUSR2 is counted (only the reading thread takes it).  Prints
 *       "XFER name=NAME sent=S rcvd=R eof=0|1 err=E reads=K short=H
 *       eintr=I eagain=A signals=G"; exit 0 when S = R = N, EOF was seen
 *       and no read was short.
 *   xfer many HOST PORT COUNT BYTES GOFILE
 *       COUNT connections at once, each sending "ECHO BYTES\n"; once
 *       all are connected prints "READY" and waits for GOFILE to exist;
 *       then BYTES bytes each way on each (the host echoes), every
 *       byte checked; then each is shut down and closed after the
 *       host's EOF.  Prints "MANY count=C ok=K bad=B"; exit 0 when every
 *       connection moved its bytes intact.
 *   xfer ctl HOST PORT LINE
 *       one request line on a new connection, prints the reply line.
 *   xfer icmpfrag LOCAL LPORT PEER PPORT MTU [SEQ]
 *       sends LOCAL an ICMP "fragmentation needed" (MTU) quoting a
 *       segment LOCAL:LPORT -> PEER:PPORT with sequence number SEQ
 *       (default 0), as a router on the path would (raw socket, root;
 *       through the loopback).
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int dial(const char *host, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons(atoi(port));
	if (s < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("xfer: connect");
		exit(1);
	}
	return s;
}

static int do_ctl(int argc, char **argv)
{
	char buf[512];
	size_t n = 0;
	ssize_t r;
	int s;

	if (argc != 5)
		return 2;
	s = dial(argv[2], argv[3]);
	snprintf(buf, sizeof(buf), "%s\n", argv[4]);
	if (write(s, buf, strlen(buf)) < 0)
		return 1;
	while (n < sizeof(buf) - 1) {
		r = read(s, buf + n, 1);
		if (r <= 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	printf("%s\n", buf);
	close(s);
	return 0;
}

static int do_pump(int argc, char **argv)
{
	static char tx[65536], rx[65536];
	long long want, sent = 0, rcvd = 0;
	size_t txlen = 0, txoff = 0;
	int s, fin, fout, eof = 0, err = 0, shut = 0;
	struct pollfd p;
	char hdr[128];
	ssize_t r;

	long long rate = 0, t0 = now_ms(), allowed, at = 0, nchunk = 0;
	const char *end = "shut", *sf = getenv("XFER_SENDFILE");
	int use_sf = 0;
	off_t chunk_at = 0, o;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int tmo, linger = -1, crc, cerr = 0;
	long long c0;

	if (argc < 8 || argc > 10)
		return 2;
	want = atoll(argv[5]);
	if (argc >= 9)
		rate = atoll(argv[8]);
	if (argc == 10) {
		end = argv[9];
		if (strchr(end, '@'))
			at = atoll(strchr(end, '@') + 1);
		if (!strncmp(end, "linger", 6))
			linger = atoi(end + 6);
	}
	fin = open(argv[6], O_RDONLY);
	fout = open(argv[7], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fin < 0 || fout < 0) {
		perror("xfer: open");
		return 1;
	}
	s = dial(argv[2], argv[3]);
	snprintf(hdr, sizeof(hdr), "PUMP %s %lld\n", argv[4], want);
	if (write(s, hdr, strlen(hdr)) != (ssize_t)strlen(hdr)) {
		perror("xfer: write");
		return 1;
	}
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);

	while (!eof || sent < want) {
		if (txoff == txlen && sent < want) {
			r = read(fin, tx, (long long)sizeof(tx) < want - sent ? sizeof(tx) :
				 (size_t)(want - sent));
			if (r == 0 && lseek(fin, 0, SEEK_SET) == 0)
				r = read(fin, tx, (long long)sizeof(tx) < want - sent ?
					 sizeof(tx) : (size_t)(want - sent));
			if (r <= 0) {
				fprintf(stderr, "xfer: %s is empty\n", argv[6]);
				return 1;
			}
			txlen = r;
			txoff = 0;
			/* where the chunk is in the file, for sendfile */
			chunk_at = lseek(fin, 0, SEEK_CUR) - r;
			use_sf = sf && !strcmp(sf, "1") && (nchunk++ & 1);
		}
		if (!strcmp(end, "close") && sent == want && rcvd == want)
			break;
		if (at && sent >= at && rcvd >= at) {
			if (!strncmp(end, "abort", 5)) {
				setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			} else if (linger >= 0) {
				lg.l_linger = linger;
				if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg,
					       sizeof(lg)))
					err = errno;
			} else {
				/* more data arrives, left unread */
				p.fd = s;
				p.events = POLLIN;
				poll(&p, 1, 10000);
				usleep(200000);
			}
			break;
		}
		if (sent == want && !shut && !strcmp(end, "shut")) {
			shutdown(s, SHUT_WR);
			shut = 1;
		}
		allowed = want;
		tmo = 120000;
		if (rate) {
			allowed = 16384 + rate * (now_ms() - t0) / 1000;
			if (sent >= allowed && sent < want)
				tmo = 10;
		}
		p.fd = s;
		p.events = (eof ? 0 : POLLIN) |
			   (sent < want && sent < allowed ? POLLOUT : 0);
		r = poll(&p, 1, tmo);
		if (r == 0 && tmo == 10)
			continue;
		if (r <= 0) {
			fprintf(stderr, "xfer: stalled (sent %lld rcvd %lld)\n",
				sent, rcvd);
			err = ETIMEDOUT;
			break;
		}
		if (!eof && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			r = read(s, rx, sizeof(rx));
			if (r > 0) {
				if (write(fout, rx, r) != r) {
					perror("xfer: write file");
					return 1;
				}
				rcvd += r;
			} else if (r == 0) {
				eof = 1;
			} else if (errno != EAGAIN && errno != EINTR) {
				err = errno;
				break;
			}
		}
		if ((p.revents & POLLOUT) && txoff < txlen) {
			size_t k = txlen - txoff;

			if (rate && (long long)k > allowed - sent)
				k = allowed - sent;
			if (use_sf) {
				o = chunk_at + txoff;
				r = sendfile(s, fin, &o, k);
			} else {
				r = write(s, tx + txoff, k);
			}
			if (r > 0) {
				txoff += r;
				sent += r;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				err = errno;
				break;
			}
		}
	}
	c0 = now_ms();
	crc = close(s);
	if (crc)
		cerr = errno;
	if (linger >= 0)
		printf("XFER-LINGER secs=%d ms=%lld rc=%d errno=%d\n", linger,
		       now_ms() - c0, crc, cerr);
	close(fout);
	printf("XFER name=%s sent=%lld rcvd=%lld eof=%d err=%d\n", argv[4],
	       sent, rcvd, eof, err);
	if (at)
		return !(sent >= at && rcvd >= at && !err && !crc);
	if (!strcmp(end, "close"))
		return !(sent == want && rcvd == want && !err);
	return !(sent == want && rcvd == want && eof && !err);
}

/* ---- bpump: blocking reads on one thread, writes on another ---------- */

struct bpump_tx {
	int s, fin;
	long long want, rate, sent;
	int err;
};

static volatile sig_atomic_t bp_signals;
static struct timespec bp_signal_at;

static void bp_on_signal(int sig)
{
	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &bp_signal_at);
	bp_signals++;
}

/* ms since the last signal arrived (how long the read took to end) */
static long long bp_since_signal(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec - bp_signal_at.tv_sec) * 1000LL +
	       (ts.tv_nsec - bp_signal_at.tv_nsec) / 1000000;
}

static void *bpump_send(void *arg)
{
	static char tx[65536];
	struct bpump_tx *t = arg;
	long long t0 = now_ms(), allowed = 0;
	size_t n;
	ssize_t r, w, k;

	while (t->sent < t->want) {
		n = (long long)sizeof(tx) < t->want - t->sent ? sizeof(tx) :
			(size_t)(t->want - t->sent);
		r = read(t->fin, tx, n);
		if (r == 0 && lseek(t->fin, 0, SEEK_SET) == 0)
			r = read(t->fin, tx, n);
		if (r <= 0) {
			t->err = EIO;
			break;
		}
		for (w = 0; w < r;) {
			if (t->rate) {
				allowed = 16384 + t->rate * (now_ms() - t0) / 1000;
				if (t->sent >= allowed) {
					usleep(10000);
					continue;
				}
			}
			n = r - w;
			if (t->rate && (long long)n > allowed - t->sent)
				n = allowed - t->sent;
			k = write(t->s, tx + w, n);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				t->err = errno;
				return NULL;
			}
			w += k;
			t->sent += k;
		}
	}
	if (!t->err)
		shutdown(t->s, SHUT_WR);
	return NULL;
}

/*
 * XFER_INQAT: the reader stopped; once GOFILE.inq exists, FIONREAD until
 * it reports bytes, poll() now, then non-blocking reads until nothing
 * came for 1 s.  Returns -1 (write error) or 0.
 */
static int bp_inq(int s, int fout, char *rx, long bufsz, long long *rcvd,
		  const char *gofile)
{
	int first = 0, tries = 0, pollin, avail;
	long long rest = 0;
	struct pollfd p = { .fd = s, .events = POLLIN };
	struct stat st;
	char name[256];
	ssize_t r;

	snprintf(name, sizeof(name), "%s.inq", gofile);
	printf("XFER-INQWAIT rcvd=%lld\n", *rcvd);
	fflush(stdout);
	while (stat(name, &st))
		usleep(100000);
	while (tries < 200) {
		tries++;
		if (ioctl(s, FIONREAD, &avail) < 0) {
			perror("xfer: FIONREAD");
			break;
		}
		if (avail > 0) {
			first = avail;
			break;
		}
		usleep(50000);
	}
	pollin = poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
	for (;;) {
		r = recv(s, rx, bufsz, MSG_DONTWAIT);
		if (r > 0) {
			if (write(fout, rx, r) != r) {
				perror("xfer: write file");
				return -1;
			}
			rest += r;
			*rcvd += r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			break;
		if (poll(&p, 1, 1000) != 1)
			break;
	}
	printf("XFER-INQ first=%d tries=%d pollin=%d rest=%lld\n", first,
	       tries, pollin, rest);
	fflush(stdout);
	return 0;
}

static long env_num(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? atol(v) : dflt;
}

static int do_bpump(int argc, char **argv)
{
	long bufsz = env_num("XFER_RXBUF", 65536);
	long tmo_ms = env_num("XFER_RCVTIMEO", 0);
	long long unread_at = env_num("XFER_UNREADAT", 0);
	long long inq_at = env_num("XFER_INQAT", 0);
	int rcvbuf = env_num("XFER_RCVBUF", 0);
	int sndbuf = env_num("XFER_SNDBUF", 0);
	int waitall = env_num("XFER_WAITALL", 0) ? MSG_WAITALL : 0;
	long long rcvd = 0, reads = 0, nshort = 0;
	int fout, eof = 0, err = 0, eintr = 0, eagain = 0, was_short = 0;
	struct sigaction sa = { .sa_handler = bp_on_signal };
	struct bpump_tx t = { 0 };
	struct stat st;
	sigset_t set;
	pthread_t th;
	char hdr[128], *rx;
	ssize_t r;

	if (argc != 10 || bufsz <= 0)
		return 2;
	t.want = atoll(argv[5]);
	t.rate = atoll(argv[8]);
	t.fin = open(argv[6], O_RDONLY);
	fout = open(argv[7], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rx = malloc(bufsz);
	if (t.fin < 0 || fout < 0 || !rx) {
		perror("xfer: open");
		return 1;
	}
	/* the pages of the buffer exist before the first read */
	memset(rx, 0, bufsz);
	if (env_num("XFER_SARESTART", 0))
		sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	t.s = dial(argv[2], argv[3]);
	if (rcvbuf)
		setsockopt(t.s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (sndbuf)
		setsockopt(t.s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (tmo_ms) {
		struct timeval tv = { .tv_sec = tmo_ms / 1000,
				      .tv_usec = tmo_ms % 1000 * 1000 };

		setsockopt(t.s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	snprintf(hdr, sizeof(hdr), "PUMP %s %lld\n", argv[4], t.want);
	if (write(t.s, hdr, strlen(hdr)) != (ssize_t)strlen(hdr)) {
		perror("xfer: write");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	while (stat(argv[9], &st))
		usleep(100000);

	/* SIGUSR2 for the reading thread only: the writer blocks it */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, bpump_send, &t)) {
		fprintf(stderr, "xfer: no thread\n");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		if (unread_at && rcvd >= unread_at)
			break;
		if (inq_at && rcvd >= inq_at) {
			inq_at = 0;
			if (bp_inq(t.s, fout, rx, bufsz, &rcvd, argv[9]))
				return 1;
			continue;
		}
		r = recv(t.s, rx, bufsz, waitall);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			if (errno == EINTR)
				eintr++;
			else
				eagain++;
			printf("XFER-%s rcvd=%lld ms=%lld\n",
			       errno == EINTR ? "EINTR" : "EAGAIN", rcvd,
			       errno == EINTR ? bp_since_signal() : 0);
			fflush(stdout);
			continue;
		}
		if (r < 0) {
			err = errno;
			break;
		}
		if (r == 0) {
			eof = 1;
			break;
		}
		reads++;
		/* MSG_WAITALL: only the last read before EOF may be short */
		nshort += was_short;
		was_short = waitall && r < bufsz;
		if (write(fout, rx, r) != r) {
			perror("xfer: write file");
			return 1;
		}
		rcvd += r;
	}
	pthread_join(th, NULL);
	if (!err)
		err = t.err;
	if (unread_at && rcvd >= unread_at) {
		snprintf(hdr, sizeof(hdr), "%s.close", argv[9]);
		printf("XFER-STOPPED rcvd=%lld\n", rcvd);
		fflush(stdout);
		while (stat(hdr, &st))
			usleep(100000);
	}
	close(t.s);
	close(fout);
	printf("XFER name=%s sent=%lld rcvd=%lld eof=%d err=%d reads=%lld short=%lld eintr=%d eagain=%d signals=%d\n",
	       argv[4], t.sent, rcvd, eof, err, reads, nshort, eintr, eagain,
	       (int)bp_signals);
	if (unread_at)
		return !(t.sent == t.want && rcvd >= unread_at && !err);
	return !(t.sent == t.want && rcvd == t.want && eof && !err && !nshort);
}

/* The bytes connection @i sends (the host echoes them). */
static unsigned char many_byte(int i, long long off)
{
	return (unsigned char)(i * 131 + off * 7 + (off >> 9));
}

struct many_conn {
	long long sent, rcvd;
	int bad, eof, shut;
};

static int do_many(int argc, char **argv)
{
	static unsigned char buf[16384];
	struct many_conn *m;
	struct pollfd *p;
	struct rlimit rl;
	struct stat st;
	long long bytes;
	unsigned int count, i, left, ok = 0, bad = 0;
	int k;
	char hdr[64];
	ssize_t r;

	if (argc != 7)
		return 2;
	count = strtoul(argv[4], NULL, 0);
	bytes = atoll(argv[5]);
	if (!count || count > 10000 || bytes <= 0)
		return 2;
	rl.rlim_cur = rl.rlim_max = count + 64;
	setrlimit(RLIMIT_NOFILE, &rl);
	m = calloc(count, sizeof(*m));
	p = calloc(count, sizeof(*p));
	if (!m || !p)
		return 1;
	snprintf(hdr, sizeof(hdr), "ECHO %lld\n", bytes);
	for (i = 0; i < count; i++) {
		p[i].fd = dial(argv[2], argv[3]);
		if (write(p[i].fd, hdr, strlen(hdr)) != (ssize_t)strlen(hdr)) {
			perror("xfer: write");
			return 1;
		}
		fcntl(p[i].fd, F_SETFL, fcntl(p[i].fd, F_GETFL) | O_NONBLOCK);
	}
	printf("READY\n");
	fflush(stdout);
	while (stat(argv[6], &st))
		usleep(100000);

	left = count;
	while (left) {
		for (i = 0; i < count; i++) {
			p[i].events = 0;
			if (p[i].fd < 0)
				continue;
			if (!m[i].eof)
				p[i].events |= POLLIN;
			if (m[i].sent < bytes)
				p[i].events |= POLLOUT;
		}
		if (poll(p, (nfds_t)count, 120000) <= 0) {
			fprintf(stderr, "xfer: many: stalled, %u left\n", left);
			break;
		}
		for (i = 0; i < count; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (p[i].revents & POLLOUT && m[i].sent < bytes) {
				k = bytes - m[i].sent < (long long)sizeof(buf) ?
				    (int)(bytes - m[i].sent) : (int)sizeof(buf);
				for (r = 0; r < k; r++)
					buf[r] = many_byte((int)i, m[i].sent + r);
				r = write(p[i].fd, buf, k);
				if (r > 0)
					m[i].sent += r;
			}
			if (m[i].sent == bytes && !m[i].shut) {
				shutdown(p[i].fd, SHUT_WR);
				m[i].shut = 1;
			}
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = read(p[i].fd, buf, sizeof(buf));
				for (k = 0; k < r; k++)
					if (buf[k] != many_byte((int)i, m[i].rcvd + k))
						m[i].bad = 1;
				if (r > 0)
					m[i].rcvd += r;
				if (r == 0 || (r < 0 && errno != EAGAIN &&
					       errno != EINTR))
					m[i].eof = 1 + (r < 0);
			}
			if (m[i].eof && m[i].sent == bytes) {
				close(p[i].fd);
				p[i].fd = -1;
				left--;
				if (m[i].eof == 1 && !m[i].bad &&
				    m[i].rcvd == bytes)
					ok++;
				else
					bad++;
			}
		}
	}
	printf("MANY count=%u ok=%u bad=%u\n", count, ok, bad);
	return ok != count;
}

static unsigned short csum16(const unsigned char *p, size_t n)
{
	unsigned long sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static int do_icmpfrag(int argc, char **argv)
{
	unsigned char m[8 + 20 + 8] = { 3, 4 };	/* dest unreach, frag needed */
	unsigned char *ip = m + 8, *th = m + 28;
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct in_addr local, peer;
	unsigned short mtu, c;
	unsigned long seq = argc == 8 ? strtoul(argv[7], NULL, 0) : 0;
	int s;

	if ((argc != 7 && argc != 8) || inet_pton(AF_INET, argv[2], &local) != 1 ||
	    inet_pton(AF_INET, argv[4], &peer) != 1)
		return 2;
	mtu = atoi(argv[6]);
	m[6] = mtu >> 8;
	m[7] = mtu & 0xff;
	/* the quoted IPv4 header of our segment, then 8 bytes of TCP */
	ip[0] = 0x45;
	ip[2] = 0x05;		/* total length 1400 */
	ip[3] = 0x78;
	ip[6] = 0x40;		/* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, &local, 4);
	memcpy(ip + 16, &peer, 4);
	c = csum16(ip, 20);
	ip[10] = c >> 8;
	ip[11] = c & 0xff;
	th[0] = atoi(argv[3]) >> 8;
	th[1] = atoi(argv[3]) & 0xff;
	th[2] = atoi(argv[5]) >> 8;
	th[3] = atoi(argv[5]) & 0xff;
	th[4] = seq >> 24;
	th[5] = seq >> 16;
	th[6] = seq >> 8;
	th[7] = seq;
	c = csum16(m, sizeof(m));
	m[2] = c >> 8;
	m[3] = c & 0xff;
	s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	to.sin_addr = local;
	if (s < 0 || sendto(s, m, sizeof(m), 0, (struct sockaddr *)&to,
			    sizeof(to)) != sizeof(m)) {
		perror("xfer: icmpfrag");
		return 1;
	}
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "icmpfrag"))
		return do_icmpfrag(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "pump"))
		return do_pump(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "bpump"))
		return do_bpump(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return do_ctl(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "many"))
		return do_many(argc, argv);
	fprintf(stderr, "usage: xfer pump HOST PORT NAME N TXFILE RXFILE [RATE [END]]\n"
			"       xfer bpump HOST PORT NAME N TXFILE RXFILE RATE GOFILE\n"
			"       xfer ctl HOST PORT LINE\n"
			"       xfer many HOST PORT COUNT BYTES GOFILE\n"
			"       xfer icmpfrag LOCAL LPORT PEER PPORT MTU [SEQ]\n");
	return 2;
}
