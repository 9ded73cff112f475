// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gbench: the guest side of tests/bench/guest-bench.sh, one bulk TCP
 * transfer per call with 64 KiB write()s / read()s (busybox nc moves
 * 1 KiB at a time and would measure itself, not the NIC).  The guest
 * always opens the connection.
 *
 *   gbench send HOST PORT BYTES [HOLDFIFO|ulp]
 *       fill BYTES of pseudo-random data and take their SHA-256 (before
 *       the measured part), connect, [hold], write them, shutdown(SHUT_WR),
 *       read until the host closes (it has counted every byte), close.
 *   gbench recv HOST PORT BYTES [HOLDFIFO|ulp]
 *       connect, [hold], write one byte "G" (the host starts sending
 *       when it arrives), read until EOF into a buffer, close; then the
 *       SHA-256 of what arrived (after the measured part).  The buffer
 *       is written (memset) before connect(): its first-touch page
 *       faults are the program's cost, not the network's, and would
 *       otherwise land in the measured part for some NICs and not for
 *       others (a NIC whose device writes into the buffer, such as the
 *       offload's direct reads, pins the pages, faulting them in inside
 *       read(); a copying NIC faults them in during its copy).
 *
 * Hold: with HOLDFIFO, after connect() the program writes
 * "ready PID SPORT\n" into the fifo and waits (at most 60 s) for SIGUSR1;
 * meanwhile the caller moves the connection onto the NIC with
 * "chimneyctl offload PID --dport PORT".  The data then starts at once.
 * With "ulp" instead of a fifo the program waits (at most 10 s, asleep
 * between looks every 2 ms) until the socket's TCP_ULP is "chimney": an
 * offload policy (chimneyctl policy add ...) took it, with no process
 * started for it.
 *
 * Output, one line on stdout:
 *   GBENCH dir=g2h|h2g bytes=N sha256=HEX wall_s=.. busy_j=.. total_j=..
 *          setup_busy_j=.. data_busy_j=.. data_wall_s=..
 * busy_j and total_j are the /proc/stat "cpu" line's busy (total - idle -
 * iowait) and total jiffies (USER_HZ) from right before connect() to right
 * after close(); setup_* covers connect() up to the first data byte (the
 * hold and the offload, if any), data_* from there to close().
 * Exit status: 0 when BYTES moved, 1 on any error, 2 usage.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

/* ---- SHA-256 (FIPS 180-4) ---------------------------------------------- */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	unsigned int n;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		       (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		     ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_hex(const uint8_t *p, size_t len, char out[65])
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	struct sha256 s;
	uint8_t tail[128] = { 0 };
	size_t rest = len % 64, tl;
	int i;

	memcpy(s.h, h0, sizeof(h0));
	for (size_t off = 0; off + 64 <= len; off += 64)
		sha256_block(&s, p + off);
	memcpy(tail, p + len - rest, rest);
	tail[rest] = 0x80;
	tl = rest < 56 ? 64 : 128;
	for (i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(((uint64_t)len * 8) >> (8 * i));
	sha256_block(&s, tail);
	if (tl == 128)
		sha256_block(&s, tail + 64);
	for (i = 0; i < 8; i++)
		sprintf(out + 8 * i, "%08x", s.h[i]);
}

/* ---- measurement -------------------------------------------------------- */

struct cpu {
	unsigned long long busy, total;
};

static int cpu_sample(struct cpu *c)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n, i;

	if (!f)
		return -1;
	/* user nice system idle iowait irq softirq steal (guest* are in user) */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8)
		return -1;
	c->total = 0;
	for (i = 0; i < 8; i++)
		c->total += v[i];
	c->busy = c->total - v[3] - v[4];
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "gbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* until the socket is on the chimney ULP (an offload policy's work) */
static void wait_ulp(int s)
{
	struct timespec step = { .tv_nsec = 2000000 };
	char ulp[16];
	socklen_t len;
	int i;

	for (i = 0; i < 5000; i++) {
		len = sizeof(ulp);
		memset(ulp, 0, sizeof(ulp));
		if (getsockopt(s, IPPROTO_TCP, TCP_ULP, ulp, &len) < 0)
			die("getsockopt TCP_ULP");
		if (!strcmp(ulp, "chimney"))
			return;
		nanosleep(&step, NULL);
	}
	errno = ETIMEDOUT;
	die("waiting for the offload policy");
}

/*
 * connect, then (with a fifo) announce ourselves and wait for SIGUSR1,
 * or ("ulp") wait for the policy's offload
 */
static int dial_and_hold(const char *host, const char *port, const char *fifo)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct timespec limit = { .tv_sec = 60 };
	sigset_t set;
	FILE *f;

	sa.sin_port = htons(atoi(port));
	if (s < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	if (!fifo)
		return s;
	if (!strcmp(fifo, "ulp")) {
		wait_ulp(s);
		return s;
	}
	if (getsockname(s, (struct sockaddr *)&sa, &sl) < 0)
		die("getsockname");
	f = fopen(fifo, "w");
	if (!f)
		die(fifo);
	fprintf(f, "ready %d %d\n", (int)getpid(), ntohs(sa.sin_port));
	fclose(f);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigtimedwait(&set, NULL, &limit) != SIGUSR1)
		die("waiting for SIGUSR1");
	return s;
}

int main(int argc, char **argv)
{
	struct cpu c0, c1, c2;
	double w0, w1, w2;
	long long want, done = 0;
	const char *fifo;
	char sum[65];
	uint8_t *buf;
	uint64_t x;
	ssize_t r;
	sigset_t set;
	int send_mode, s;

	if (argc < 5 || argc > 6 ||
	    (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
		fprintf(stderr, "usage: gbench send|recv HOST PORT BYTES [HOLDFIFO|ulp]\n");
		return 2;
	}
	send_mode = !strcmp(argv[1], "send");
	want = atoll(argv[4]);
	fifo = argc == 6 ? argv[5] : NULL;
	if (want <= 0 || want > (1LL << 30)) {
		fprintf(stderr, "gbench: BYTES must be 1..1 GiB\n");
		return 2;
	}
	/* SIGUSR1 is taken with sigtimedwait(), so it must stay blocked */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* one extra chunk: a peer sending too much is seen, not overrun */
	buf = malloc(want + CHUNK);
	if (!buf)
		die("malloc");
	if (send_mode) {
		x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
		for (long long i = 0; i + 8 <= want + CHUNK; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		sha256_hex(buf, want, sum);
	} else {
		/*
		 * Fault the pages in now.  Not with zeros: the compiler
		 * turns malloc() + memset(0) into calloc(), which leaves a
		 * fresh mapping untouched.
		 */
		memset(buf, 0xa5, want + CHUNK);
	}

	if (cpu_sample(&c0))
		die("/proc/stat");
	w0 = now_s();
	s = dial_and_hold(argv[2], argv[3], fifo);
	if (!send_mode && write(s, "G", 1) != 1)
		die("write");
	if (cpu_sample(&c1))
		die("/proc/stat");
	w1 = now_s();
	if (send_mode) {
		while (done < want) {
			long n = want - done < CHUNK ? want - done : CHUNK;

			r = write(s, buf + done, n);
			if (r <= 0)
				die("write");
			done += r;
		}
		if (shutdown(s, SHUT_WR) < 0)
			die("shutdown");
		/* the host closes once it has counted every byte */
		while ((r = read(s, buf + want, CHUNK)) > 0)
			;
		if (r < 0)
			die("read");
	} else {
		for (;;) {
			long long off = done < want ? done : want;

			r = read(s, buf + off, CHUNK);
			if (r <= 0)
				break;
			done += r;
		}
		if (r < 0)
			die("read");
	}
	if (close(s) < 0)
		die("close");
	w2 = now_s();
	if (cpu_sample(&c2))
		die("/proc/stat");
	if (!send_mode)
		sha256_hex(buf, done < want ? done : want, sum);

	printf("GBENCH dir=%s bytes=%lld sha256=%s wall_s=%.3f busy_j=%llu total_j=%llu setup_busy_j=%llu data_busy_j=%llu data_wall_s=%.3f\n",
	       send_mode ? "g2h" : "h2g", done, sum, w2 - w0,
	       c2.busy - c0.busy, c2.total - c0.total, c1.busy - c0.busy,
	       c2.busy - c1.busy, w2 - w1);
	fflush(stdout);
	free(buf);
	return done == want ? 0 : 1;
}
