// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xfer: an ordinary TCP program for the offload guest test.  It knows
 * nothing about chimney-nic: it moves a file to a host and the host's
 * data into another file over one connection, both ways at once, with a
 * non-blocking socket and poll() (the way event-driven programs work).
 *
 *   xfer pump HOST PORT NAME N TXFILE RXFILE [RATE]
 *       connect, send "PUMP NAME N\n" and then N bytes of TXFILE (at
 *       most RATE bytes per second, like a media stream) while
 *       writing what arrives into RXFILE; after the last byte
 *       shutdown(SHUT_WR); read until the host closes; close.  Prints
 *       "XFER name=NAME sent=S rcvd=R eof=0|1 err=E".  Exit 0 when S = N,
 *       R = N and EOF was seen.
 *   xfer ctl HOST PORT LINE
 *       one request line on a new connection, prints the reply line.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

	long long rate = 0, t0 = now_ms(), allowed;
	int tmo;

	if (argc != 8 && argc != 9)
		return 2;
	want = atoll(argv[5]);
	if (argc == 9)
		rate = atoll(argv[8]);
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
			if (r <= 0) {
				fprintf(stderr, "xfer: %s ends early\n", argv[6]);
				return 1;
			}
			txlen = r;
			txoff = 0;
		}
		if (sent == want && !shut) {
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
			r = write(s, tx + txoff, k);
			if (r > 0) {
				txoff += r;
				sent += r;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				err = errno;
				break;
			}
		}
	}
	close(s);
	close(fout);
	printf("XFER name=%s sent=%lld rcvd=%lld eof=%d err=%d\n", argv[4],
	       sent, rcvd, eof, err);
	return !(sent == want && rcvd == want && eof && !err);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "pump"))
		return do_pump(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return do_ctl(argc, argv);
	fprintf(stderr, "usage: xfer pump HOST PORT NAME N TXFILE RXFILE\n"
			"       xfer ctl HOST PORT LINE\n");
	return 2;
}
