/*
 * QTest: the offload engine against real TCP stacks (interoperability).
 *
 * Each test opens one TCP connection from the "guest" to a server in this
 * process, moves data both ways, and checks that every byte arrived intact
 * at both ends (SHA-256 of each direction, computed by the sender and by the
 * receiver) and that no RST crossed the wire.  The guest is this test: it
 * drives the device's L2 TX/RX rings with raw frames and runs a minimal TCP
 * of its own (ARP, three-way handshake with MSS, window scale, timestamps
 * and SACK-permitted when the device has CAP_SACK, in-order receive
 * without SACK blocks, go-back-N retransmission, FIN), and the
 * portable driver core (libqos/chimney-drv-qtest.c) for everything else.
 *
 * The flow, the same in every variant:
 *
 *  1. ARP for the server's address, SYN / SYN-ACK / ACK on the L2 path.
 *  2. On the L2 path: the guest sends IOP_HELLO bytes, the server
 *     IOP_GREETING bytes.  The server sends nothing more until it has
 *     received the first byte after the hello, so no data of the server
 *     can arrive on the L2 path once the connection is offloaded.
 *  3. INITIATE of a neighbor/path/TCP tree built from the handshake's
 *     state (MACs, addresses, ports, sequence numbers, windows, MSS, window
 *     scale, SACK, timestamps: TsTime continues the guest's timestamp
 *     clock).
 *  4. IOP_BULK (16 MiB) each way on the offloaded connection: SEND
 *     requests of IOP_SEND_CHUNK bytes and RECV_POST requests (no-push, at
 *     most a quarter of the receive window each, so a request always fills)
 *     with several of each outstanding, completed through the driver
 *     core's event processing.  Data goes into and out of guest memory
 *     with qtest b64 transfers in 32 KiB pieces.
 *  5. The server then sends IOP_RX_TAIL more bytes, for which no request is
 *     posted: they stay buffered in the device (QUERY shows them as
 *     rcv_backlog_size).  The guest takes the NIC's link down (QMP
 *     set_link), submits one more SEND of IOP_TX_TAIL bytes (the device
 *     sends what the windows allow of it into the dead link), then a
 *     TERMINATE of the whole tree with a delegated structure, and brings
 *     the link up again: the device hands back the TCP state
 *     (snd_una < snd_nxt), the send list (the tail, nothing of it
 *     acknowledged) and the buffered receive data.  The lost segments make
 *     the returned state the same whatever the peer's speed.
 *  6. The guest's own TCP takes over from the returned state: it sends the
 *     returned, unacknowledged data, then a FIN; the server reads to EOF,
 *     checks what it got and closes; the guest acknowledges its FIN.
 *
 * Variants (each its own qos test under chimney-nic, so each runs in its
 * own QEMU and within run-tests.sh's per-path timeout):
 *
 *  interop-slirp      -netdev user: the peer is libslirp's TCP.  The
 *                     server listens on 127.0.0.1 in a thread of this
 *                     process; the guest (10.0.2.15) connects to 10.0.2.2,
 *                     which slirp maps to the host's loopback.
 *
 *  interop-tap        -netdev tap,fd=N: the peer is the Linux kernel's
 *                     TCP.  The test opens a tap device itself, moves it
 *                     into a network namespace of its own
 *                     ("ip netns add", "ip link set TAP netns"), gives it
 *                     10.77.0.2/24 there, and passes the open fd to QEMU;
 *                     the guest is 10.77.0.1 on the other side of the tap.
 *                     The server is a thread of this process whose
 *                     listening socket was created inside the namespace
 *                     (setns()), so the host's own network is untouched.
 *                     Skipped (with the reason) when not root or when the
 *                     namespace or tap cannot be made.
 *
 *  interop-tap-lossy  The same peer, with 1 % loss and some reordering on
 *                     the emulated wire.  The host has no netem and QEMU
 *                     no loss filter, so this process sits on the wire:
 *                     QEMU gets "-netdev socket,fd=" (one end of a
 *                     socketpair), and a forwarder thread moves frames
 *                     between the socketpair and the tap fd, dropping 1 %
 *                     of them in each direction and holding back about 2 %
 *                     until the next frame has passed (a swap of adjacent
 *                     frames; a held frame is released after 1 ms without
 *                     traffic).  Both TCPs (the device's and the kernel's)
 *                     recover by fast retransmit and timeouts.
 *
 * Knobs for experiments (not used by run-tests.sh):
 * CHIMNEY_INTEROP_LOSS (the lossy variant's drop rate, e.g. 0.04),
 * CHIMNEY_INTEROP_QEMU_ARGS (appended to QEMU's command line, e.g.
 * "-trace chimney_engine_rto"), CHIMNEY_INTEROP_KEEP_PCAP (keep the
 * recorded wire and print its name).
 *
 * Every variant records the wire next to the device with QEMU's
 * filter-dump (headers only) and checks that no segment of the connection
 * carried RST.  Throughput of the offloaded phase is printed as a TAP
 * comment, never asserted.
 *
 * Time: the device's and slirp's timers run on QEMU's virtual clock, which
 * only qtest_clock_step() advances.  The loops here step it by the wall
 * time that passed since the previous step (clamped to 10 us..20 ms), so
 * that the device's retransmission timeouts keep the same scale as the
 * round trips to a peer running in real time.  No assertion depends on
 * wall-clock time: every wait is bounded by a number of loop iterations
 * without progress.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "libqos/qgraph.h"
#include "libqos/pci.h"
#include "libqos/chimney-nic.h"
#include "libqos/chimney-env-qtest.h"
#include "tests/support/chimney-test-hdr.h"

#ifdef __linux__
#include <sys/ioctl.h>
#include <sched.h>
#include <poll.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_tun.h>

#define IOP_BULK            (16u * 1024 * 1024)
#define IOP_HELLO           1000u
#define IOP_GREETING        3000u
#define IOP_RX_TAIL         40000u
#define IOP_TX_TAIL         (256u * 1024)
#define IOP_SEND_CHUNK      (64u * 1024)
#define IOP_NSEND           8
#define IOP_NRECV           8

#define IOP_GUEST_SEED      0x6775u     /* the guest's byte stream */
#define IOP_SERVER_SEED     0x5e7fu     /* the server's */

/* Virtual time per loop iteration: the wall time since the last one. */
#define IOP_STEP_MIN_NS     10000
#define IOP_STEP_MAX_NS     20000000
/* A wait fails after this many loop iterations without progress. */
#define IOP_STALL_ITERS     400000
/* The guest TCP's retransmission timeout (virtual), initial and limit. */
#define IOP_RTO_NS          (300 * 1000 * 1000ll)
#define IOP_RTO_MAX_NS      (3000 * 1000 * 1000ll)

#define IOP_MTU             1500u
#define IOP_TS_BASE         100000u     /* the guest's first TSval, ms */
#define IOP_TAP_PORT        5001

#define IOP_LOSS            0.01        /* per frame, each direction */
#define IOP_HOLD            0.02        /* frames held for a swap */

#define IOP_COOKIE_SEND     0x5e0000000000ull
#define IOP_COOKIE_RECV     0x7e0000000000ull
#define IOP_COOKIE_TAIL     0x7a0000000000ull

typedef enum IopKind {
    IOP_SLIRP,
    IOP_TAP,
    IOP_TAP_LOSSY,
} IopKind;

static const char *const iop_kind_name[] = {
    [IOP_SLIRP] = "libslirp",
    [IOP_TAP] = "Linux TCP over tap",
    [IOP_TAP_LOSSY] = "Linux TCP over tap, 1% loss + reordering",
};

/*
 * The byte streams: byte @off of stream @seed.  Both ends generate them,
 * so a receiver can tell where a stream went wrong, not only that it did.
 */
static inline uint64_t iop_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void iop_stream_fill(uint32_t seed, uint64_t off, uint8_t *buf,
                            size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint64_t pos = off + i;
        uint64_t w = iop_mix(((uint64_t)seed << 48) ^ (pos >> 3));
        unsigned b = pos & 7;

        for (; b < 8 && i < len; b++, i++) {
            buf[i] = w >> (8 * b);
        }
    }
}

/* Offset of the first byte of @buf that differs from the stream, or -1. */
static int64_t iop_stream_check(uint32_t seed, uint64_t off,
                                const uint8_t *buf, size_t len)
{
    g_autofree uint8_t *exp = g_malloc(len);
    size_t i;

    iop_stream_fill(seed, off, exp, len);
    if (!memcmp(exp, buf, len)) {
        return -1;
    }
    for (i = 0; exp[i] == buf[i]; i++) {
        /* find it */
    }
    return off + i;
}

/*
 * Where in stream @seed (of @total bytes) the @len bytes at @buf come
 * from, -1 if nowhere (a diagnostic for corrupted data).
 */
static int64_t iop_stream_find(uint32_t seed, uint64_t total,
                               const uint8_t *buf, size_t len)
{
    uint8_t exp[64];
    uint64_t off;

    len = MIN(len, sizeof(exp));
    for (off = 0; off + len <= total; off++) {
        iop_stream_fill(seed, off, exp, 1);
        if (exp[0] != buf[0]) {
            continue;
        }
        iop_stream_fill(seed, off, exp, len);
        if (!memcmp(exp, buf, len)) {
            return off;
        }
    }
    return -1;
}

/*
 * The server: one connection on a listening socket made by the variant.
 * It sends IOP_GREETING bytes of its stream, the rest (bulk and tail) once
 * it received more than IOP_HELLO bytes, reads until EOF, then closes.
 * Runs in its own thread; the test reads the results after it finished.
 */
typedef struct IopServer {
    int lfd;
    uint64_t tx_total;
    GThread *th;
    int stop;                   /* atomic */
    int done;                   /* atomic: results valid */
    /* results */
    uint64_t rx_bytes, tx_bytes;
    int64_t rx_bad_at;          /* first byte not the guest's stream */
    uint8_t rx_bad[4096];       /* what came there (and after) */
    size_t rx_bad_len;
    bool eof;
    char *err;
    char rx_sha[65], tx_sha[65];
} IopServer;

static gpointer iop_server_thread(gpointer opaque)
{
    IopServer *s = opaque;
    g_autoptr(GChecksum) rx = g_checksum_new(G_CHECKSUM_SHA256);
    g_autoptr(GChecksum) tx = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(256 * 1024);
    g_autofree uint8_t *out = g_malloc(IOP_SEND_CHUNK);
    size_t out_len = 0, out_off = 0;
    int fd = -1;

    s->rx_bad_at = -1;
    while (!g_atomic_int_get(&s->stop)) {
        struct pollfd p = { .fd = s->lfd, .events = POLLIN };

        if (poll(&p, 1, 100) > 0) {
            fd = accept(s->lfd, NULL, NULL);
            if (fd < 0) {
                s->err = g_strdup_printf("accept: %s", strerror(errno));
            }
            break;
        }
    }
    if (fd < 0) {
        if (!s->err) {
            s->err = g_strdup("no connection came");
        }
        goto out;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (!g_atomic_int_get(&s->stop)) {
        uint64_t allowed = s->rx_bytes > IOP_HELLO ? s->tx_total :
                           IOP_GREETING;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (s->eof && s->tx_bytes == s->tx_total) {
            break;
        }
        if (s->eof) {
            s->err = g_strdup_printf("EOF after %" PRIu64 " of %" PRIu64
                                     " bytes sent", s->tx_bytes,
                                     s->tx_total);
            break;
        }
        if (s->tx_bytes < allowed) {
            p.events |= POLLOUT;
        }
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            n = read(fd, buf, 256 * 1024);
            if (n > 0) {
                int64_t bad = iop_stream_check(IOP_GUEST_SEED, s->rx_bytes,
                                               buf, n);

                if (bad >= 0 && s->rx_bad_at < 0) {
                    s->rx_bad_at = bad;
                    s->rx_bad_len = MIN(sizeof(s->rx_bad),
                                        s->rx_bytes + n - bad);
                    memcpy(s->rx_bad, buf + (bad - s->rx_bytes),
                           s->rx_bad_len);
                }
                g_checksum_update(rx, buf, n);
                s->rx_bytes += n;
            } else if (n == 0) {
                s->eof = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                s->err = g_strdup_printf("read after %" PRIu64 " bytes: %s",
                                         s->rx_bytes, strerror(errno));
                break;
            }
        }
        if ((p.revents & POLLOUT) && s->tx_bytes < allowed) {
            if (out_off == out_len) {
                out_len = MIN(IOP_SEND_CHUNK, allowed - s->tx_bytes);
                out_off = 0;
                iop_stream_fill(IOP_SERVER_SEED, s->tx_bytes, out, out_len);
            }
            n = write(fd, out + out_off, out_len - out_off);
            if (n > 0) {
                g_checksum_update(tx, out + out_off, n);
                out_off += n;
                s->tx_bytes += n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                s->err = g_strdup_printf("write after %" PRIu64 " bytes: %s",
                                         s->tx_bytes, strerror(errno));
                break;
            }
        }
    }
    if (!s->err && !s->eof) {
        s->err = g_strdup("stopped before EOF");
    }
    close(fd);
out:
    g_strlcpy(s->rx_sha, g_checksum_get_string(rx), sizeof(s->rx_sha));
    g_strlcpy(s->tx_sha, g_checksum_get_string(tx), sizeof(s->tx_sha));
    g_atomic_int_set(&s->done, 1);
    return NULL;
}

static void iop_server_start(IopServer *s)
{
    s->tx_total = (uint64_t)IOP_GREETING + IOP_BULK + IOP_RX_TAIL;
    s->th = g_thread_new("iop-server", iop_server_thread, s);
}

static void iop_server_stop(IopServer *s)
{
    if (s->th) {
        g_atomic_int_set(&s->stop, 1);
        g_thread_join(s->th);
        s->th = NULL;
    }
    if (s->lfd >= 0) {
        close(s->lfd);
        s->lfd = -1;
    }
    g_free(s->err);
    s->err = NULL;
}

static int iop_listen(uint32_t addr, uint16_t port, char **err)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(addr),
        .sin_port = htons(port),
    };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0) {
        *err = g_strdup_printf("socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1) < 0) {
        *err = g_strdup_printf("bind/listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * The lossy wire: frames between QEMU's socket netdev (4-byte big-endian
 * length + frame) and the tap fd.
 */
typedef struct IopHeld {
    uint8_t f[CHIMNEY_MAX_FRAME + 64];
    size_t len;
    bool on;
} IopHeld;

typedef struct IopFwd {
    int qfd;                    /* our end of QEMU's socketpair */
    int tfd;                    /* the tap */
    GThread *th;
    int stop;                   /* atomic */
    GRand *rng;
    double loss, hold;
    IopHeld held[2];            /* [0] towards the tap, [1] towards QEMU */
    uint64_t frames[2], dropped[2], swapped[2];
    uint8_t acc[2 * (CHIMNEY_MAX_FRAME + 4)];
    size_t acc_len;
    char *err;
} IopFwd;

static void iop_fwd_write(IopFwd *f, int dir, const uint8_t *frame,
                          size_t len)
{
    if (dir == 0) {
        if (write(f->tfd, frame, len) < 0 && !f->err && errno != EAGAIN) {
            f->err = g_strdup_printf("tap write: %s", strerror(errno));
        }
    } else {
        uint8_t hdr[4];
        struct iovec iov[2] = {
            { .iov_base = hdr, .iov_len = 4 },
            { .iov_base = (void *)frame, .iov_len = len },
        };
        size_t want = 4 + len, done = 0;

        stl_be_p(hdr, len);
        while (done < want) {
            ssize_t n = writev(f->qfd, iov, 2);

            if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
                struct pollfd p = { .fd = f->qfd, .events = POLLOUT };

                if (g_atomic_int_get(&f->stop)) {
                    return;
                }
                poll(&p, 1, 100);
                continue;
            }
            if (n <= 0) {
                if (!f->err) {
                    f->err = g_strdup_printf("socket write: %s",
                                             strerror(errno));
                }
                return;
            }
            done += n;
            /* a short write: move the iovecs on */
            while (n > 0) {
                struct iovec *v = iov[0].iov_len ? &iov[0] : &iov[1];
                size_t k = MIN((size_t)n, v->iov_len);

                v->iov_base = (uint8_t *)v->iov_base + k;
                v->iov_len -= k;
                n -= k;
            }
        }
    }
}

static void iop_fwd_flush(IopFwd *f, int dir)
{
    if (f->held[dir].on) {
        f->held[dir].on = false;
        iop_fwd_write(f, dir, f->held[dir].f, f->held[dir].len);
    }
}

static void iop_fwd_frame(IopFwd *f, int dir, const uint8_t *frame,
                          size_t len)
{
    double r = g_rand_double(f->rng);
    IopHeld *h = &f->held[dir];

    f->frames[dir]++;
    if (r < f->loss) {
        f->dropped[dir]++;
        return;
    }
    if (h->on) {
        /* the held frame goes after this one: two frames swapped */
        iop_fwd_write(f, dir, frame, len);
        iop_fwd_flush(f, dir);
        f->swapped[dir]++;
        return;
    }
    if (r < f->loss + f->hold && len <= sizeof(h->f)) {
        memcpy(h->f, frame, len);
        h->len = len;
        h->on = true;
        return;
    }
    iop_fwd_write(f, dir, frame, len);
}

static gpointer iop_fwd_thread(gpointer opaque)
{
    IopFwd *f = opaque;
    g_autofree uint8_t *buf = g_malloc(65536);

    while (!g_atomic_int_get(&f->stop)) {
        struct pollfd p[2] = {
            { .fd = f->tfd, .events = POLLIN },
            { .fd = f->qfd, .events = POLLIN },
        };
        bool held = f->held[0].on || f->held[1].on;
        int r = poll(p, 2, held ? 1 : 20);

        if (r == 0) {
            iop_fwd_flush(f, 0);
            iop_fwd_flush(f, 1);
            continue;
        }
        if (r < 0) {
            continue;
        }
        if (p[0].revents & POLLIN) {
            ssize_t n = read(f->tfd, buf, 65536);

            if (n > 0) {
                iop_fwd_frame(f, 1, buf, n);
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = recv(f->qfd, f->acc + f->acc_len,
                             sizeof(f->acc) - f->acc_len, MSG_DONTWAIT);

            if (n == 0) {
                break;              /* QEMU went away */
            }
            if (n > 0) {
                size_t off = 0;

                f->acc_len += n;
                while (f->acc_len - off >= 4) {
                    uint32_t len = ldl_be_p(f->acc + off);

                    if (len > CHIMNEY_MAX_FRAME + 4) {
                        f->err = g_strdup_printf("bad frame length %u", len);
                        return NULL;
                    }
                    if (f->acc_len - off < 4 + len) {
                        break;
                    }
                    iop_fwd_frame(f, 0, f->acc + off + 4, len);
                    off += 4 + len;
                }
                memmove(f->acc, f->acc + off, f->acc_len - off);
                f->acc_len -= off;
            }
        }
    }
    return NULL;
}

/*
 * One test's setup: made in the qos .before callback (QEMU's command line
 * needs the netdev), torn down after the test.
 */
typedef struct IopCtx {
    IopKind kind;
    char *skip;                 /* the reason to skip, or NULL */
    IopServer srv;
    uint8_t lip[4], rip[4];
    uint16_t rport;
    int sp[2];                  /* socketpair (lossy, or fallback) */
    int tap_fd;
    char tap_name[IFNAMSIZ];
    char *netns;
    IopFwd fwd;
    char *pcap;
} IopCtx;

static bool iop_run_cmd(char **err, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static bool iop_run_cmd(char **err, const char *fmt, ...)
{
    g_autofree char *cmd = NULL, *out = NULL, *errout = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    argv = g_strsplit(cmd, " ", -1);
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                      &out, &errout, &status, &gerr)) {
        *err = g_strdup_printf("%s: %s", cmd, gerr->message);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        *err = g_strdup_printf("%s: %s", cmd, g_strstrip(errout));
        return false;
    }
    return true;
}

/* Namespaces left behind by runs that aborted (their process is gone). */
static void iop_netns_sweep(void)
{
    g_autoptr(GDir) dir = g_dir_open("/run/netns", 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        char *err = NULL;
        long pid;

        if (!g_str_has_prefix(name, "chimney-iop-")) {
            continue;
        }
        pid = strtol(name + strlen("chimney-iop-"), NULL, 10);
        if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH &&
            !iop_run_cmd(&err, "ip netns del %s", name)) {
            g_printerr("# %s\n", err);
            g_free(err);
        }
    }
}

/* A tap device in a namespace of its own, at 10.77.0.2/24; fd kept. */
static bool iop_tap_setup(IopCtx *c, char **err)
{
    struct ifreq ifr = { 0 };
    g_autofree char *nspath = NULL;
    int self = -1, ns = -1;

    if (geteuid() != 0) {
        *err = g_strdup("not root (network namespace and tap need it)");
        return false;
    }
    iop_netns_sweep();
    c->tap_fd = open("/dev/net/tun", O_RDWR);
    if (c->tap_fd < 0) {
        *err = g_strdup_printf("/dev/net/tun: %s", strerror(errno));
        return false;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "chiop%d", getpid());
    if (ioctl(c->tap_fd, TUNSETIFF, &ifr) < 0) {
        *err = g_strdup_printf("TUNSETIFF: %s", strerror(errno));
        return false;
    }
    g_strlcpy(c->tap_name, ifr.ifr_name, sizeof(c->tap_name));
    c->netns = g_strdup_printf("chimney-iop-%d", getpid());
    if (!iop_run_cmd(err, "ip netns add %s", c->netns)) {
        g_free(c->netns);
        c->netns = NULL;
        return false;
    }
    if (!iop_run_cmd(err, "ip link set %s netns %s", c->tap_name,
                     c->netns) ||
        !iop_run_cmd(err, "ip -n %s addr add 10.77.0.2/24 dev %s", c->netns,
                     c->tap_name) ||
        !iop_run_cmd(err, "ip -n %s link set %s up", c->netns,
                     c->tap_name) ||
        !iop_run_cmd(err, "ip -n %s link set lo up", c->netns)) {
        return false;
    }
    /* the listening socket is made inside the namespace */
    nspath = g_strdup_printf("/run/netns/%s", c->netns);
    self = open("/proc/self/ns/net", O_RDONLY);
    ns = open(nspath, O_RDONLY);
    if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        *err = g_strdup_printf("setns %s: %s", nspath, strerror(errno));
        goto fail;
    }
    c->srv.lfd = iop_listen(0x0a4d0002, IOP_TAP_PORT, err);
    if (setns(self, CLONE_NEWNET) < 0) {
        g_error("cannot return to the test's network namespace: %s",
                strerror(errno));
    }
    close(self);
    close(ns);
    if (c->srv.lfd < 0) {
        return false;
    }
    c->lip[0] = 10, c->lip[1] = 77, c->lip[2] = 0, c->lip[3] = 1;
    c->rip[0] = 10, c->rip[1] = 77, c->rip[2] = 0, c->rip[3] = 2;
    c->rport = IOP_TAP_PORT;
    return true;
fail:
    if (self >= 0) {
        close(self);
    }
    if (ns >= 0) {
        close(ns);
    }
    return false;
}

static void iop_ctx_free(void *opaque)
{
    IopCtx *c = opaque;
    char *err = NULL;

    if (c->fwd.th) {
        g_atomic_int_set(&c->fwd.stop, 1);
        g_thread_join(c->fwd.th);
    }
    if (c->fwd.rng) {
        g_rand_free(c->fwd.rng);
    }
    g_free(c->fwd.err);
    iop_server_stop(&c->srv);
    if (c->sp[0] >= 0) {
        close(c->sp[0]);
    }
    qos_invalidate_command_line();
    if (c->sp[1] >= 0) {
        close(c->sp[1]);
    }
    if (c->tap_fd >= 0) {
        close(c->tap_fd);
    }
    if (c->netns && !iop_run_cmd(&err, "ip netns del %s", c->netns)) {
        g_printerr("# %s\n", err);
        g_free(err);
    }
    g_free(c->netns);
    if (c->pcap) {
        if (g_getenv("CHIMNEY_INTEROP_KEEP_PCAP")) {
            g_printerr("# wire recorded in %s\n", c->pcap);
        } else {
            unlink(c->pcap);
        }
        g_free(c->pcap);
    }
    g_free(c->skip);
    g_free(c);
}

static void *iop_before(GString *cmd_line, void *arg)
{
    IopCtx *c = g_new0(IopCtx, 1);
    char *err = NULL;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);

    c->kind = (IopKind)(uintptr_t)arg;
    c->sp[0] = c->sp[1] = -1;
    c->tap_fd = -1;
    c->srv.lfd = -1;
    g_test_queue_destroy(iop_ctx_free, c);

    switch (c->kind) {
    case IOP_SLIRP:
        c->srv.lfd = iop_listen(INADDR_LOOPBACK, 0, &err);
        if (c->srv.lfd < 0 ||
            getsockname(c->srv.lfd, (struct sockaddr *)&sa, &salen) < 0) {
            g_error("server socket: %s", err ? err : strerror(errno));
        }
        c->rport = ntohs(sa.sin_port);
        c->lip[0] = 10, c->lip[1] = 0, c->lip[2] = 2, c->lip[3] = 15;
        c->rip[0] = 10, c->rip[1] = 0, c->rip[2] = 2, c->rip[3] = 2;
        g_string_append_printf(cmd_line, " -netdev user,id=%s,ipv6=off ",
                               CHIMNEY_QOS_NETDEV);
        break;
    case IOP_TAP:
    case IOP_TAP_LOSSY:
        if (!iop_tap_setup(c, &err)) {
            c->skip = err;
            break;
        }
        if (c->kind == IOP_TAP) {
            g_string_append_printf(cmd_line, " -netdev tap,fd=%d,id=%s ",
                                   c->tap_fd, CHIMNEY_QOS_NETDEV);
        }
        break;
    }
    if (c->kind == IOP_TAP_LOSSY || c->skip) {
        g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, c->sp), ==, 0);
        g_string_append_printf(cmd_line, " -netdev socket,fd=%d,id=%s ",
                               c->sp[1], CHIMNEY_QOS_NETDEV);
    }
    /* for experiments, e.g. CHIMNEY_INTEROP_QEMU_ARGS="-trace chimney_*" */
    if (g_getenv("CHIMNEY_INTEROP_QEMU_ARGS")) {
        g_string_append_printf(cmd_line, " %s ",
                               g_getenv("CHIMNEY_INTEROP_QEMU_ARGS"));
    }
    if (!c->skip) {
        int fd;

        c->pcap = g_strdup("/tmp/chimney-interop-XXXXXX.pcap");
        fd = g_mkstemp_full(c->pcap, O_RDWR, 0600);
        g_assert_cmpint(fd, >=, 0);
        close(fd);
        g_string_append_printf(cmd_line, " -object filter-dump,id=iopdump,"
                               "netdev=%s,file=%s,maxlen=128 ",
                               CHIMNEY_QOS_NETDEV, c->pcap);
    }
    return c;
}

/*
 * The guest: driver core, L2 rings and a minimal TCP.
 */
typedef struct IopSlot {
    uint64_t addr;
    uint32_t len;
    uint64_t cookie;
    bool busy;
} IopSlot;

typedef struct IopDone {
    uint64_t cookie;
    uint16_t type;
    uint32_t status;
    uint32_t info;
} IopDone;

typedef struct IopTcb {
    uint8_t rmac[6];
    uint16_t lport, rport;
    uint32_t iss, irs;
    uint32_t snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
    uint32_t rcv_nxt, rcv_wnd;
    uint16_t rmss;
    bool ts, ws;
    bool sack_offer, sack;      /* SACK-permitted: offered, agreed */
    uint8_t snd_shift, rcv_shift;
    uint32_t ts_recent;
    int64_t ts_recent_ns;       /* virtual clock when it was taken */
    int64_t ts_base;            /* TSval = virtual ms + ts_base */
    GByteArray *sndq;           /* bytes from snd_una on */
    bool fin_queued, fin_sent, fin_acked, fin_rcvd;
    int64_t rto_ns;
    int64_t rexmit_at;          /* virtual; 0: not armed */
    /* counters */
    unsigned rst, rexmits, ooo, segs_in, segs_out;
} IopTcb;

typedef struct IopGuest {
    IopCtx *c;
    QChimneyEnv *qe;
    ChimneyTestEnv *env;
    QChimneyNic *d;
    QTestState *qts;
    QGuestAllocator *alloc;
    uint64_t tx_buf;
    int64_t wall_last;          /* us */
    int64_t vclock;             /* ns */
    uint64_t progress;          /* moves whenever anything moved */
    bool arp_done;
    IopTcb t;
    bool offloaded;
    /* the streams as the guest sees them */
    GChecksum *tx_sha, *rx_sha;
    uint64_t tx_off, rx_off;
    int64_t rx_bad_at;
    uint8_t rx_bad[4096];
    size_t rx_bad_len;
    /* offload */
    ChimneyTestHBlk *n, *p, *tb;
    uint64_t h;
    IopSlot snd[IOP_NSEND], rcv[IOP_NRECV];
    uint32_t rcv_chunk;
    unsigned snd_head, rcv_head;        /* oldest request (FIFO) */
    unsigned snd_tail, rcv_tail;        /* next slot to use */
    uint64_t snd_submitted, snd_acked, rcv_posted, rcv_got;
    uint64_t seq_send, seq_recv;
    GArray *done;                       /* IopDone, not handled yet */
    unsigned bad_accept;
    uint32_t bad_accept_status;
    GString *tcp_events;
    unsigned backlog_events;
    uint32_t backlog;
    unsigned l2_other, l2_tcp_offloaded, arp_answered;
    uint64_t tail_cookie;
    bool tail_done;
    bool uploaded;
} IopGuest;

static void iop_step(IopGuest *g)
{
    int64_t now = g_get_monotonic_time();
    int64_t ns = (now - g->wall_last) * 1000;

    g->wall_last = now;
    ns = CLAMP(ns, IOP_STEP_MIN_NS, IOP_STEP_MAX_NS);
    g->vclock = qchimney_os_clock_step(&g->qe->os, ns);
}

static uint32_t iop_ts_now(IopGuest *g)
{
    return (uint32_t)(g->vclock / 1000000 + g->t.ts_base);
}

/* L2 transmit: one frame through the TX ring (processed synchronously). */
static void iop_l2_tx(IopGuest *g, const uint8_t *frame, size_t len)
{
    uint8_t pad[60] = { 0 };
    uint32_t idx;
    uint16_t st;

    if (len < 60) {
        memcpy(pad, frame, len);
        frame = pad;
        len = 60;
    }
    qtest_memwrite(g->qts, g->tx_buf, frame, len);
    idx = chimney_tx_post(g->d, g->tx_buf, len, CHIMNEY_TXF_EOP);
    chimney_ring_kick(g->d, CHIMNEY_RING_TX);
    st = chimney_desc_status(g->d, CHIMNEY_RING_TX, idx);
    g_assert_cmphex(st, ==, CHIMNEY_DESC_DONE);
}

static void iop_arp_send(IopGuest *g, uint16_t op, const uint8_t *tmac,
                         const uint8_t *tip)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t f[42];

    memcpy(f, op == 1 ? bcast : tmac, 6);
    memcpy(f + 6, g->env->dev_mac, 6);
    stw_be_p(f + 12, CHIMNEY_ETHERTYPE_ARP);
    stw_be_p(f + 14, 1);                        /* Ethernet */
    stw_be_p(f + 16, CHIMNEY_ETHERTYPE_IPV4);
    f[18] = 6;
    f[19] = 4;
    stw_be_p(f + 20, op);
    memcpy(f + 22, g->env->dev_mac, 6);
    memcpy(f + 28, g->c->lip, 4);
    memset(f + 32, 0, 6);
    if (op == 2) {
        memcpy(f + 32, tmac, 6);
    }
    memcpy(f + 38, tip, 4);
    iop_l2_tx(g, f, sizeof(f));
}

/* A TCP segment of the connection on the L2 path (IPv4, no IP options). */
static void iop_tcp_tx(IopGuest *g, uint8_t flags, uint32_t seq,
                       const uint8_t *data, size_t plen, bool syn_opts)
{
    IopTcb *t = &g->t;
    uint8_t f[14 + 20 + 60 + 1500];
    uint8_t *ip = f + 14, *th = ip + 20, *o = th + 20;
    size_t optlen = 0, tcplen;
    uint32_t win;

    g_assert_cmpuint(plen, <=, 1460);
    memcpy(f, t->rmac, 6);
    memcpy(f + 6, g->env->dev_mac, 6);
    stw_be_p(f + 12, CHIMNEY_ETHERTYPE_IPV4);
    if (syn_opts) {
        o[0] = CHIMNEY_TCPOPT_MSS;
        o[1] = 4;
        stw_be_p(o + 2, IOP_MTU - 40);
        optlen = 4;
    }
    if (syn_opts || t->ts) {
        if (syn_opts && t->sack_offer) {
            o[optlen] = CHIMNEY_TCPOPT_SACK_PERM;
            o[optlen + 1] = 2;
        } else {
            o[optlen] = CHIMNEY_TCPOPT_NOP;
            o[optlen + 1] = CHIMNEY_TCPOPT_NOP;
        }
        o[optlen + 2] = CHIMNEY_TCPOPT_TIMESTAMP;
        o[optlen + 3] = 10;
        stl_be_p(o + optlen + 4, iop_ts_now(g));
        stl_be_p(o + optlen + 8, syn_opts ? 0 : t->ts_recent);
        optlen += 12;
    }
    if (syn_opts) {
        o[optlen] = CHIMNEY_TCPOPT_NOP;
        o[optlen + 1] = CHIMNEY_TCPOPT_WSCALE;
        o[optlen + 2] = 3;
        o[optlen + 3] = 7;
        optlen += 4;
    }
    tcplen = 20 + optlen + plen;
    /* IPv4 */
    ip[0] = 0x45;
    ip[1] = 0;
    stw_be_p(ip + 2, 20 + tcplen);
    stw_be_p(ip + 4, (uint16_t)(t->segs_out & 0x7fff));
    stw_be_p(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = CHIMNEY_IPPROTO_TCP;
    stw_be_p(ip + 10, 0);
    memcpy(ip + 12, g->c->lip, 4);
    memcpy(ip + 16, g->c->rip, 4);
    stw_be_p(ip + 10, chimney_ip_checksum(ip, 20));
    /* TCP */
    stw_be_p(th, t->lport);
    stw_be_p(th + 2, t->rport);
    stl_be_p(th + 4, seq);
    stl_be_p(th + 8, (flags & CHIMNEY_TH_ACK) ? t->rcv_nxt : 0);
    th[12] = (20 + optlen) / 4 << 4;
    th[13] = flags;
    win = (flags & CHIMNEY_TH_SYN) ? MIN(t->rcv_wnd, 65535u) :
          MIN(t->rcv_wnd >> t->rcv_shift, 65535u);
    stw_be_p(th + 14, win);
    stw_be_p(th + 16, 0);
    stw_be_p(th + 18, 0);
    if (plen) {
        memcpy(th + 20 + optlen, data, plen);
    }
    stw_be_p(th + 16, chimney_tcp_checksum(false, g->c->lip, g->c->rip, th,
                                           tcplen));
    t->segs_out++;
    iop_l2_tx(g, f, 14 + 20 + tcplen);
}

static void iop_tcp_ack(IopGuest *g)
{
    iop_tcp_tx(g, CHIMNEY_TH_ACK, g->t.snd_nxt, NULL, 0, false);
}

static bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static bool seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

static uint32_t iop_mss(IopGuest *g)
{
    return MIN(g->t.rmss, IOP_MTU - 40) - (g->t.ts ? 12 : 0);
}

/* In-order data of the server's stream reached the guest. */
static void iop_rx_data(IopGuest *g, const uint8_t *data, size_t len)
{
    int64_t bad = iop_stream_check(IOP_SERVER_SEED, g->rx_off, data, len);

    if (bad >= 0 && g->rx_bad_at < 0) {
        g->rx_bad_at = bad;
        g->rx_bad_len = MIN(sizeof(g->rx_bad), g->rx_off + len - bad);
        memcpy(g->rx_bad, data + (bad - g->rx_off), g->rx_bad_len);
    }
    g_checksum_update(g->rx_sha, data, len);
    g->rx_off += len;
    g->progress++;
}

/* Bytes of the guest's stream, in order (they are also hashed here). */
static void iop_tx_data(IopGuest *g, uint8_t *buf, size_t len)
{
    iop_stream_fill(IOP_GUEST_SEED, g->tx_off, buf, len);
    g_checksum_update(g->tx_sha, buf, len);
    g->tx_off += len;
}

static void iop_tcp_arm(IopGuest *g)
{
    g->t.rexmit_at = g->vclock + g->t.rto_ns;
}

/* Send what the windows allow; retransmit from snd_una on a timeout. */
static void iop_tcp_output(IopGuest *g)
{
    IopTcb *t = &g->t;
    uint32_t end = t->snd_una + t->sndq->len;
    uint32_t wnd_end = t->snd_una + MAX(t->snd_wnd, 1u);
    bool timeout = t->rexmit_at && g->vclock >= t->rexmit_at;

    if (timeout) {
        t->rexmits++;
        t->snd_nxt = t->snd_una;
        t->rto_ns = MIN(t->rto_ns * 2, IOP_RTO_MAX_NS);
        t->rexmit_at = 0;
        if (t->fin_sent && !t->fin_acked) {
            t->fin_sent = false;
        }
        /* one segment goes even into a closed window (a probe) */
        wnd_end = MAX(wnd_end, t->snd_una + iop_mss(g));
    }
    while (seq_lt(t->snd_nxt, end) && seq_lt(t->snd_nxt, wnd_end)) {
        uint32_t off = t->snd_nxt - t->snd_una;
        uint32_t n = MIN(MIN(iop_mss(g), end - t->snd_nxt),
                         wnd_end - t->snd_nxt);

        iop_tcp_tx(g, CHIMNEY_TH_ACK | CHIMNEY_TH_PSH, t->snd_nxt,
                   t->sndq->data + off, n, false);
        t->snd_nxt += n;
        if (seq_lt(t->snd_max, t->snd_nxt)) {
            t->snd_max = t->snd_nxt;
        }
        if (!t->rexmit_at) {
            iop_tcp_arm(g);
        }
    }
    if (t->fin_queued && !t->fin_sent && t->snd_nxt == end) {
        iop_tcp_tx(g, CHIMNEY_TH_ACK | CHIMNEY_TH_FIN, end, NULL, 0, false);
        t->fin_sent = true;
        t->snd_nxt = end + 1;
        if (seq_lt(t->snd_max, t->snd_nxt)) {
            t->snd_max = t->snd_nxt;
        }
        if (!t->rexmit_at) {
            iop_tcp_arm(g);
        }
    }
}

static void iop_tcp_input(IopGuest *g, const ChimneyTestRxSeg *rs)
{
    IopTcb *t = &g->t;
    bool ack_now = false;
    uint32_t seq = rs->seq;

    t->segs_in++;
    if (rs->flags & CHIMNEY_TH_RST) {
        t->rst++;
        return;
    }
    if (rs->flags & CHIMNEY_TH_SYN) {
        /* a retransmitted SYN-ACK: our ACK was lost */
        iop_tcp_ack(g);
        return;
    }
    if (!(rs->flags & CHIMNEY_TH_ACK)) {
        return;
    }
    if (rs->ts && seq_leq(seq, t->rcv_nxt)) {
        t->ts_recent = rs->tsval;
        t->ts_recent_ns = g->vclock;
    }
    /* acknowledgment */
    if (seq_lt(t->snd_una, rs->ack) && seq_leq(rs->ack, t->snd_max)) {
        uint32_t acked = rs->ack - t->snd_una;
        uint32_t data = MIN(acked, t->sndq->len);

        g_byte_array_remove_range(t->sndq, 0, data);
        if (t->fin_sent && acked > data) {
            t->fin_acked = true;
        }
        t->snd_una = rs->ack;
        if (seq_lt(t->snd_nxt, t->snd_una)) {
            t->snd_nxt = t->snd_una;
        }
        t->rto_ns = IOP_RTO_NS;
        t->rexmit_at = 0;
        if (t->snd_una != t->snd_max) {
            iop_tcp_arm(g);
        }
        g->progress++;
    }
    /* send window (RFC 9293 SND.WL1/WL2) */
    if (seq_lt(t->snd_wl1, seq) ||
        (t->snd_wl1 == seq && seq_leq(t->snd_wl2, rs->ack))) {
        t->snd_wnd = (uint32_t)rs->win << t->snd_shift;
        t->max_snd_wnd = MAX(t->max_snd_wnd, t->snd_wnd);
        t->snd_wl1 = seq;
        t->snd_wl2 = rs->ack;
    }
    /* data, in order only */
    if (rs->plen) {
        if (seq_leq(seq, t->rcv_nxt) &&
            seq_lt(t->rcv_nxt, seq + rs->plen)) {
            uint32_t skip = t->rcv_nxt - seq;

            iop_rx_data(g, rs->payload + skip, rs->plen - skip);
            t->rcv_nxt += rs->plen - skip;
        } else {
            t->ooo++;
        }
        ack_now = true;
    }
    if (rs->flags & CHIMNEY_TH_FIN) {
        if (!t->fin_rcvd && seq + rs->plen == t->rcv_nxt) {
            t->fin_rcvd = true;
            t->rcv_nxt++;
            g->progress++;
        }
        ack_now = true;
    }
    if (ack_now) {
        iop_tcp_ack(g);
    }
}

static void iop_l2_frame(IopGuest *g, const uint8_t *f, size_t len)
{
    ChimneyTestRxSeg rs;
    uint16_t et = len >= 14 ? lduw_be_p(f + 12) : 0;

    if (et == CHIMNEY_ETHERTYPE_ARP && len >= 42 &&
        lduw_be_p(f + 14) == 1 && lduw_be_p(f + 16) == 0x0800 &&
        !memcmp(f + 38, g->c->lip, 4)) {
        uint16_t op = lduw_be_p(f + 20);

        if (op == 1) {
            iop_arp_send(g, 2, f + 22, f + 28);
            g->arp_answered++;
        } else if (op == 2 && !memcmp(f + 28, g->c->rip, 4) &&
                   !g->arp_done) {
            memcpy(g->t.rmac, f + 22, 6);
            g->arp_done = true;
        }
        return;
    }
    if (seg_parse(f, len, &rs) && !rs.v6 &&
        !memcmp(rs.src_ip, g->c->rip, 4) &&
        !memcmp(rs.dst_ip, g->c->lip, 4) &&
        rs.sport == g->t.rport && rs.dport == g->t.lport) {
        if (g->offloaded) {
            /* the device should have taken it */
            g->l2_tcp_offloaded++;
            if (rs.flags & CHIMNEY_TH_RST) {
                g->t.rst++;
            }
            return;
        }
        if (g->t.irs || (rs.flags & CHIMNEY_TH_SYN)) {
            iop_tcp_input(g, &rs);
        }
        return;
    }
    g->l2_other++;
}

/* Frames that came up the L2 RX ring, answered or fed to the TCP. */
static void iop_l2_service(IopGuest *g)
{
    uint8_t f[QCHIMNEY_RX_BUF_LEN];
    int n;

    for (n = 0; n < QCHIMNEY_RX_RING_SIZE && qchimney_env_rx_ready(g->qe);
         n++) {
        size_t len = qchimney_env_rx_take(g->qe, f, sizeof(f));

        iop_l2_frame(g, f, len);
    }
}

/* Is the next event entry valid?  (one small read instead of a refresh) */
static bool iop_evt_pending(IopGuest *g)
{
    ChimneyDrv *drv = &g->qe->os.drv;
    uint64_t a = drv->evt_ring.dma +
                 (uint64_t)drv->evt_next * sizeof(ChimneyEvent) +
                 offsetof(ChimneyEvent, flags);

    return qtest_readl(g->qts, a) & CHIMNEY_EVTF_VALID;
}

/* One loop iteration: events, L2 frames, the guest TCP, virtual time. */
static void iop_poll(IopGuest *g)
{
    while (iop_evt_pending(g)) {
        qchimney_poll(&g->qe->os);
    }
    iop_l2_service(g);
    if (g->t.irs && !g->offloaded) {
        iop_tcp_output(g);
    }
    iop_step(g);
}

static void G_GNUC_NORETURN iop_stalled(IopGuest *g, const char *what)
{
    IopServer *s = &g->c->srv;

    g_error("%s: no progress in %d iterations (%s): guest sent %" PRIu64
            " acked %" PRIu64 " received %" PRIu64 "; server received %"
            PRIu64 " sent %" PRIu64 " eof %d err %s; tcb snd_una %u "
            "snd_nxt %u snd_max %u snd_wnd %u sndq %u rcv_nxt %u fin %d/%d/%d"
            " rexmits %u ooo %u", iop_kind_name[g->c->kind],
            IOP_STALL_ITERS, what, g->snd_submitted, g->snd_acked,
            g->rcv_got, s->rx_bytes, s->tx_bytes, s->eof,
            s->err ? s->err : "-", g->t.snd_una, g->t.snd_nxt, g->t.snd_max,
            g->t.snd_wnd, g->t.sndq->len, g->t.rcv_nxt, g->t.fin_sent,
            g->t.fin_acked, g->t.fin_rcvd, g->t.rexmits, g->t.ooo);
}

/* Poll until @cond holds; fails after IOP_STALL_ITERS without progress. */
#define IOP_WAIT(g, cond, what)                                     \
    do {                                                            \
        uint64_t last_ = (g)->progress;                             \
        long idle_ = 0;                                             \
        while (!(cond)) {                                           \
            iop_poll(g);                                            \
            if ((g)->progress != last_) {                           \
                last_ = (g)->progress;                              \
                idle_ = 0;                                          \
            } else if (++idle_ > IOP_STALL_ITERS) {                 \
                iop_stalled(g, what);                               \
            }                                                       \
        }                                                           \
    } while (0)

/* ARP for the server's address (answered by slirp or the kernel). */
static void iop_arp(IopGuest *g)
{
    int tries;

    for (tries = 0; tries < 20 && !g->arp_done; tries++) {
        int64_t until = g->vclock + 500 * 1000000ll;

        iop_arp_send(g, 1, NULL, g->c->rip);
        while (!g->arp_done && g->vclock < until) {
            iop_poll(g);
        }
    }
    g_assert_true(g->arp_done);
}

static void iop_connect(IopGuest *g)
{
    IopTcb *t = &g->t;
    int tries;

    t->iss = 0x1e000000u ^ (getpid() << 8);
    t->snd_una = t->iss;
    t->snd_nxt = t->iss + 1;
    t->snd_max = t->iss + 1;
    t->rcv_wnd = 256 * 1024;
    t->rto_ns = IOP_RTO_NS;
    /* SACK only if the device can do it on the offloaded connection */
    t->sack_offer = chimney_readl(g->d, CHIMNEY_REG_CAP_FLAGS) &
                    CHIMNEY_CAP_SACK;
    for (tries = 0; tries < 8 && !t->irs; tries++) {
        int64_t until;

        iop_tcp_tx(g, CHIMNEY_TH_SYN, t->iss, NULL, 0, true);
        until = g->vclock + (1000ll << tries) * 1000000;
        while (!t->irs && !t->rst && g->vclock < until) {
            ChimneyTestRxSeg rs;
            uint8_t f[QCHIMNEY_RX_BUF_LEN];

            iop_step(g);
            while (qchimney_env_rx_ready(g->qe)) {
                size_t len = qchimney_env_rx_take(g->qe, f, sizeof(f));
                const uint8_t *th, *o;
                size_t optlen, i;

                if (!seg_parse(f, len, &rs) || rs.v6 ||
                    rs.sport != t->rport || rs.dport != t->lport) {
                    iop_l2_frame(g, f, len);
                    continue;
                }
                if (rs.flags & CHIMNEY_TH_RST) {
                    t->rst++;
                    break;
                }
                if ((rs.flags & (CHIMNEY_TH_SYN | CHIMNEY_TH_ACK)) !=
                    (CHIMNEY_TH_SYN | CHIMNEY_TH_ACK) ||
                    rs.ack != t->iss + 1) {
                    continue;
                }
                /* the SYN-ACK: its options */
                th = f + rs.l4_off;
                optlen = (th[12] >> 4) * 4 - 20;
                o = th + 20;
                t->rmss = 536;
                for (i = 0; i < optlen && o[i] != CHIMNEY_TCPOPT_EOL;) {
                    if (o[i] == CHIMNEY_TCPOPT_NOP) {
                        i++;
                        continue;
                    }
                    if (o[i] == CHIMNEY_TCPOPT_MSS && o[i + 1] == 4) {
                        t->rmss = lduw_be_p(o + i + 2);
                    } else if (o[i] == CHIMNEY_TCPOPT_SACK_PERM &&
                               o[i + 1] == 2) {
                        t->sack = t->sack_offer;
                    } else if (o[i] == CHIMNEY_TCPOPT_WSCALE &&
                               o[i + 1] == 3) {
                        t->ws = true;
                        t->snd_shift = MIN(o[i + 2], 14);
                    }
                    i += MAX(o[i + 1], 2);
                }
                t->ts = rs.ts;
                t->ts_recent = rs.tsval;
                t->ts_recent_ns = g->vclock;
                t->irs = rs.seq;
                t->rcv_nxt = rs.seq + 1;
                t->snd_una = t->iss + 1;
                t->snd_wnd = rs.win;            /* never scaled in a SYN */
                t->max_snd_wnd = rs.win;
                t->snd_wl1 = rs.seq;
                t->snd_wl2 = rs.ack;
                break;
            }
        }
        g_assert_cmpuint(t->rst, ==, 0);
    }
    g_assert_cmpuint(t->irs, !=, 0);
    if (t->ws) {
        t->rcv_shift = 7;
    } else {
        t->snd_shift = 0;
        t->rcv_wnd = 65535;
    }
    iop_tcp_ack(g);
    g_test_message("%s: connected: peer MSS %u, window scale %s (peer %u, "
                   "ours %u), timestamps %s, SACK %s, peer window %u",
                   iop_kind_name[g->c->kind], t->rmss,
                   t->ws ? "on" : "off", t->snd_shift, t->rcv_shift,
                   t->ts ? "on" : "off", t->sack ? "on" : "off", t->snd_wnd);
}

/* The hello and the greeting on the L2 path. */
static void iop_l2_exchange(IopGuest *g)
{
    g_autofree uint8_t *hello = g_malloc(IOP_HELLO);

    iop_tx_data(g, hello, IOP_HELLO);
    g_byte_array_append(g->t.sndq, hello, IOP_HELLO);
    IOP_WAIT(g, g->t.sndq->len == 0 && g->rx_off == IOP_GREETING &&
             g->t.snd_una == g->t.snd_max, "L2 hello/greeting");
    g_assert_cmpuint(g->t.rst, ==, 0);
}

/*
 * Driver core callbacks.  Completions are queued and handled by the loop
 * (which reads and writes guest memory).
 */
static void iop_on_io_done(void *ctx, uint64_t cookie, uint64_t handle,
                           uint16_t type, uint32_t status, uint32_t info)
{
    IopGuest *g = ctx;
    IopDone d = { cookie, type, status, info };

    g_assert_cmphex(handle, ==, g->h);
    g_array_append_val(g->done, d);
    g->progress++;
}

static void iop_on_tcp_event(void *ctx, uint64_t ndis, uint64_t handle,
                             uint16_t type, uint32_t info)
{
    IopGuest *g = ctx;

    g_assert_cmphex(handle, ==, g->h);
    if (type == CHIMNEY_EVT_TCP_BACKLOG) {
        /* advice on how much to keep queued: noted, not needed here */
        g->backlog_events++;
        g->backlog = info;
        return;
    }
    g_string_append_printf(g->tcp_events, " type 0x%x info %u", type, info);
}

static const ChimneyDrvEventOps iop_evt_ops = {
    .on_tcp_event = iop_on_tcp_event,
    .on_io_done = iop_on_io_done,
};

static void iop_accept_done(void *ctx, uint32_t status)
{
    IopGuest *g = ctx;

    if (status != CHIMNEY_ST_SUCCESS) {
        g->bad_accept++;
        g->bad_accept_status = status;
    }
}

static void iop_offload(IopGuest *g)
{
    IopTcb *t = &g->t;
    ChimneyTestNeighState ns;
    ChimneyTestPathState ps;
    ChimneyTestTcpState ts;
    uint16_t cflags = 0;

    chimney_test_neigh_state(&ns, t->rmac, 0);
    chimney_test_path_state(&ps, false, g->c->lip, g->c->rip, IOP_MTU);
    memset(&ts, 0, sizeof(ts));
    ts.c.hdr.length = cpu_to_le32(sizeof(ts.c));
    cflags |= t->ts ? CHIMNEY_TCP_CONST_TIMESTAMP : 0;
    cflags |= t->ws ? CHIMNEY_TCP_CONST_WSCALE : 0;
    cflags |= t->sack ? CHIMNEY_TCP_CONST_SACK : 0;
    ts.c.flags = cpu_to_le16(cflags);
    ts.c.local_port = cpu_to_le16(t->lport);
    ts.c.remote_port = cpu_to_le16(t->rport);
    ts.c.snd_wind_scale = t->snd_shift;
    ts.c.rcv_wind_scale = t->rcv_shift;
    ts.c.remote_mss = cpu_to_le16(t->rmss);
    ts.k.hdr.length = cpu_to_le32(sizeof(ts.k));
    ts.k.initial_rcv_wnd = cpu_to_le32(t->rcv_wnd);
    ts.k.ttl_hop_limit = 64;
    ts.d.hdr.length = cpu_to_le32(sizeof(ts.d));
    ts.d.state = cpu_to_le32(CHIMNEY_TCPS_ESTABLISHED);
    ts.d.rcv_nxt = cpu_to_le32(t->rcv_nxt);
    ts.d.rcv_wnd = cpu_to_le32(t->rcv_wnd);
    ts.d.snd_una = cpu_to_le32(t->snd_una);
    ts.d.snd_nxt = cpu_to_le32(t->snd_nxt);
    ts.d.snd_max = cpu_to_le32(t->snd_max);
    ts.d.snd_wnd = cpu_to_le32(t->snd_wnd);
    ts.d.max_snd_wnd = cpu_to_le32(t->max_snd_wnd);
    ts.d.snd_wl1 = cpu_to_le32(t->snd_wl1);
    ts.d.cwnd = cpu_to_le32(10 * iop_mss(g));
    ts.d.ssthresh = cpu_to_le32(0x3fffffff);
    ts.d.ts_recent = cpu_to_le32(t->ts_recent);
    ts.d.ts_recent_age = cpu_to_le32((g->vclock - t->ts_recent_ns) /
                                     1000000);
    ts.d.ts_time = cpu_to_le32(iop_ts_now(g));
    ts.d.ka_timeout_delta = cpu_to_le32(CHIMNEY_TIMER_OFF);
    ts.d.rexmit_timeout_delta = cpu_to_le32(CHIMNEY_TIMER_OFF);

    g->n = hb_neigh_state(&g->env->hb, &ns);
    g->p = hb_path_state(&g->env->hb, false, &ps);
    g->tb = hb_tcp_state(&g->env->hb, &ts);
    hb_dep(g->n, g->p);
    hb_dep(g->p, g->tb);
    env_offload_ok(g->env, g->n);
    g->h = g->tb->slot;
    g_assert_cmphex(g->h, !=, 0);
    g->offloaded = true;
}

static void iop_submit(IopGuest *g)
{
    uint8_t *buf = NULL;

    while (g->snd_submitted < IOP_BULK && !g->snd[g->snd_tail].busy) {
        IopSlot *s = &g->snd[g->snd_tail];
        uint32_t len = MIN(IOP_SEND_CHUNK, IOP_BULK - g->snd_submitted);

        if (!buf) {
            buf = g_malloc(IOP_SEND_CHUNK);
        }
        iop_tx_data(g, buf, len);
        qchimney_mem_write(g->qts, s->addr, buf, len);
        s->len = len;
        s->cookie = IOP_COOKIE_SEND | g->seq_send++;
        s->busy = true;
        g_assert_cmpint(chimney_drv_send(&g->qe->os.drv, g->h, s->addr, len,
                                         CHIMNEY_SENDF_PUSH, s->cookie,
                                         iop_accept_done, g), ==, 0);
        g->snd_submitted += len;
        g->snd_tail = (g->snd_tail + 1) % IOP_NSEND;
    }
    g_free(buf);
    while (g->rcv_posted < IOP_BULK && !g->rcv[g->rcv_tail].busy) {
        IopSlot *s = &g->rcv[g->rcv_tail];
        uint32_t len = MIN(g->rcv_chunk, IOP_BULK - g->rcv_posted);

        s->len = len;
        s->cookie = IOP_COOKIE_RECV | g->seq_recv++;
        s->busy = true;
        g_assert_cmpint(chimney_drv_recv_post(&g->qe->os.drv, g->h, s->addr,
                                              len, CHIMNEY_RECVF_NO_PUSH,
                                              s->cookie, iop_accept_done, g),
                        ==, 0);
        g->rcv_posted += len;
        g->rcv_tail = (g->rcv_tail + 1) % IOP_NRECV;
    }
}

static void iop_complete(IopGuest *g)
{
    g_autofree uint8_t *buf = NULL;
    unsigned i;

    for (i = 0; i < g->done->len; i++) {
        IopDone *d = &g_array_index(g->done, IopDone, i);

        if (g->uploaded) {
            g_error("completion type 0x%x (cookie 0x%" PRIx64 ") after the "
                    "TERMINATE", d->type, d->cookie);
        }
        if (d->type == CHIMNEY_EVT_SEND_DONE && d->cookie == g->tail_cookie) {
            g_assert_cmphex(d->status, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(d->info, ==, IOP_TX_TAIL);
            g->tail_done = true;
        } else if (d->type == CHIMNEY_EVT_SEND_DONE) {
            IopSlot *s = &g->snd[g->snd_head];

            g_assert_true(s->busy);
            g_assert_cmphex(d->cookie, ==, s->cookie);
            g_assert_cmphex(d->status, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(d->info, ==, s->len);
            g->snd_acked += s->len;
            s->busy = false;
            g->snd_head = (g->snd_head + 1) % IOP_NSEND;
        } else if (d->type == CHIMNEY_EVT_RECV_DONE) {
            IopSlot *s = &g->rcv[g->rcv_head];

            g_assert_true(s->busy);
            g_assert_cmphex(d->cookie, ==, s->cookie);
            g_assert_cmphex(d->status, ==, CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(d->info, ==, s->len);
            if (!buf) {
                buf = g_malloc(g->rcv_chunk);
            }
            qchimney_mem_read(g->qts, s->addr, buf, d->info);
            iop_rx_data(g, buf, d->info);
            g->rcv_got += d->info;
            s->busy = false;
            g->rcv_head = (g->rcv_head + 1) % IOP_NRECV;
        } else {
            g_error("unexpected completion type 0x%x status 0x%x", d->type,
                    d->status);
        }
    }
    g_array_set_size(g->done, 0);
}

static void iop_check_events(IopGuest *g)
{
    if (g->tcp_events->len) {
        g_error("%s: unexpected TCP object events:%s",
                iop_kind_name[g->c->kind], g->tcp_events->str);
    }
    if (g->bad_accept) {
        g_error("%s: %u request(s) refused, status 0x%x",
                iop_kind_name[g->c->kind], g->bad_accept,
                g->bad_accept_status);
    }
}

static void iop_bulk(IopGuest *g)
{
    uint64_t last = g->progress;
    int64_t t0 = g_get_monotonic_time(), t_snd = 0, t_rcv = 0;
    long idle = 0;

    while (g->snd_acked < IOP_BULK || g->rcv_got < IOP_BULK) {
        iop_submit(g);
        iop_poll(g);
        iop_complete(g);
        iop_check_events(g);
        if (!t_snd && g->snd_acked == IOP_BULK) {
            t_snd = g_get_monotonic_time();
        }
        if (!t_rcv && g->rcv_got == IOP_BULK) {
            t_rcv = g_get_monotonic_time();
        }
        if (g->progress != last) {
            last = g->progress;
            idle = 0;
        } else if (++idle > IOP_STALL_ITERS) {
            iop_stalled(g, "offloaded bulk transfer");
        }
    }
    g_test_message("%s: offloaded: %u MiB guest->peer in %.2f s (%.1f MiB/s),"
                   " %u MiB peer->guest in %.2f s (%.1f MiB/s), virtual "
                   "time %.2f s; %u TCP_BACKLOG events (last: %u bytes)",
                   iop_kind_name[g->c->kind], IOP_BULK >> 20,
                   (t_snd - t0) / 1e6, (IOP_BULK >> 20) / ((t_snd - t0) / 1e6),
                   IOP_BULK >> 20, (t_rcv - t0) / 1e6,
                   (IOP_BULK >> 20) / ((t_rcv - t0) / 1e6), g->vclock / 1e9,
                   g->backlog_events, g->backlog);
}

/* The server's tail arrives with no request posted: buffered. */
static void iop_wait_rx_tail(IopGuest *g)
{
    ChimneyTestTcpState q;
    long i;

    for (i = 0; i < IOP_STALL_ITERS; i++) {
        iop_poll(g);
        iop_complete(g);
        iop_check_events(g);
        if (i % 100 == 0) {
            g_assert_cmphex(env_query_tcp(g->env, g->h, &q), ==,
                            CHIMNEY_ST_SUCCESS);
            if (le32_to_cpu(q.d.rcv_backlog_size) >= IOP_RX_TAIL) {
                break;
            }
        }
    }
    g_assert_cmpuint(le32_to_cpu(q.d.rcv_backlog_size), ==, IOP_RX_TAIL);
    g_assert_cmpuint(le32_to_cpu(q.d.rcv_nxt), ==,
                     g->t.irs + 1 + IOP_GREETING + IOP_BULK + IOP_RX_TAIL);
}

static void iop_stats(IopGuest *g, const char *when)
{
    ChimneyOffloadStats st;
    ChimneyTestDone d = { .env = g->env };

    g_assert_cmpint(chimney_drv_query_stats(&g->qe->os.drv, &st,
                                            env_cmd_done, &d), ==, 0);
    env_wait(g->env, &d.calls, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_test_message("%s: device TCPv4 counters %s: in %" PRIu64 " out %"
                   PRIu64 " segments, %u retransmitted, %u in errors, %u "
                   "resets sent", iop_kind_name[g->c->kind], when,
                   le64_to_cpu(st.tcp4.in_segments),
                   le64_to_cpu(st.tcp4.out_segments),
                   le32_to_cpu(st.tcp4.retransmitted_segments),
                   le32_to_cpu(st.tcp4.in_errors),
                   le32_to_cpu(st.tcp4.out_resets));
    g_assert_cmpuint(le32_to_cpu(st.tcp4.out_resets), ==, 0);
}

static void iop_set_link(IopGuest *g, bool up)
{
    qtest_qmp_assert_success(g->qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': %s, 'up': %i}}", CHIMNEY_QOS_DEV_ID,
                             up);
}

/*
 * Upload: one more SEND (the tail), then a TERMINATE of the tree returning
 * the TCP state, the send list and the buffered data.  The NIC's link is
 * down from before the SEND until after the TERMINATE (QMP set_link on
 * the device): the segments the device sends of the tail are lost on the
 * wire, so the TERMINATE always finds the tail sent but unacknowledged
 * (snd_una < snd_nxt), whatever the peer's speed, and the guest's TCP has
 * to retransmit it from the returned state.
 */
static void iop_upload(IopGuest *g)
{
    IopTcb *t = &g->t;
    g_autofree uint8_t *tail = g_malloc(IOP_TX_TAIL);
    g_autofree uint8_t *rd = NULL;
    struct chimney_dma_buf sl_buf, rd_buf;
    ChimneyTestHBlk *rn, *rp, *rt;
    ChimneyTcpDelegated *dl;
    uint64_t tail_addr = guest_alloc(g->alloc, IOP_TX_TAIL);
    uint64_t tail_seq0 = IOP_HELLO + IOP_BULK;      /* stream offset */
    uint32_t count, i, acked = 0, rd_len;
    ChimneyTestDone done = { .env = g->env }, acc = { .env = g->env };

    iop_tx_data(g, tail, IOP_TX_TAIL);
    qchimney_mem_write(g->qts, tail_addr, tail, IOP_TX_TAIL);
    g->tail_cookie = IOP_COOKIE_TAIL;
    iop_set_link(g, false);
    g_assert_cmpint(chimney_drv_send(&g->qe->os.drv, g->h, tail_addr,
                                     IOP_TX_TAIL, CHIMNEY_SENDF_PUSH,
                                     g->tail_cookie, env_cmd_done, &acc),
                    ==, 0);
    env_wait(g->env, &acc.calls, 1);
    g_assert_cmphex(acc.status, ==, CHIMNEY_ST_SUCCESS);

    g_assert_cmpint(env_dma_alloc(g->env, 16 * sizeof(ChimneySendBuf),
                                  &sl_buf), ==, 0);
    g_assert_cmpint(env_dma_alloc(g->env, CHIMNEY_RCV_BUF, &rd_buf), ==, 0);
    rn = hb_obj(&g->env->hb, CHIMNEY_TYPE_NEIGH, g->n->slot);
    rp = hb_obj(&g->env->hb, CHIMNEY_TYPE_IP4, g->p->slot);
    rt = hb_term_tcp(&g->env->hb, g->h, &sl_buf, 16, &rd_buf,
                     CHIMNEY_RCV_BUF);
    hb_dep(rn, rp);
    hb_dep(rp, rt);
    g_assert_cmpint(chimney_drv_terminate_offload(&g->qe->os.drv, &rn->b,
                                                  env_tree_done, &done),
                    ==, 0);
    env_wait(g->env, &done.calls, 1);
    iop_set_link(g, true);
    g_assert_cmphex(done.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g->offloaded = false;
    iop_complete(g);
    g->uploaded = true;
    iop_check_events(g);

    dl = hb_delegated(rt);
    count = le32_to_cpu(dl->send_list_count);
    g_assert_cmpuint(count, ==, 1);
    g_assert_false(g->tail_done);
    /* the returned send list: the tail, nothing of it acknowledged */
    for (i = 0; i < count; i++) {
        ChimneySendBuf sb;

        env_dma_read(g->env, &sl_buf, i * sizeof(sb), &sb, sizeof(sb));
        g_assert_cmphex(le64_to_cpu(sb.addr), ==, tail_addr);
        g_assert_cmpuint(le32_to_cpu(sb.len), ==, IOP_TX_TAIL);
        g_assert_cmphex(le64_to_cpu(sb.cookie), ==, g->tail_cookie);
        acked = le32_to_cpu(sb.acked);
        g_assert_cmpuint(acked, ==, 0);
    }
    g_test_message("%s: TERMINATE returned %u send request(s) (%u of %u "
                   "bytes acknowledged), %u bytes of received data; "
                   "snd_una %u snd_nxt %u snd_max %u cwnd %u srtt %u",
                   iop_kind_name[g->c->kind], count, acked, IOP_TX_TAIL,
                   le32_to_cpu(dl->rcv_data_len), le32_to_cpu(dl->snd_una),
                   le32_to_cpu(dl->snd_nxt), le32_to_cpu(dl->snd_max),
                   le32_to_cpu(dl->cwnd), le16_to_cpu(dl->srtt));
    g_assert_cmpuint(le32_to_cpu(dl->state), ==, CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmphex(le32_to_cpu(dl->snd_una), ==,
                    (uint32_t)(t->iss + 1 + tail_seq0 + acked));
    /* the device sent some of the tail (into the dead link) */
    g_assert_true(seq_lt(le32_to_cpu(dl->snd_una),
                         le32_to_cpu(dl->snd_max)));
    g_assert_true(seq_leq(le32_to_cpu(dl->snd_una),
                          le32_to_cpu(dl->snd_nxt)));
    g_assert_true(seq_leq(le32_to_cpu(dl->snd_nxt),
                          le32_to_cpu(dl->snd_max)));
    g_assert_true(seq_leq(le32_to_cpu(dl->snd_max),
                          (uint32_t)(t->iss + 1 + tail_seq0 + IOP_TX_TAIL)));

    /* the buffered data: the server's tail */
    rd_len = le32_to_cpu(dl->rcv_data_len);
    g_assert_cmpuint(rd_len, ==, IOP_RX_TAIL);
    rd = g_malloc(rd_len);
    env_dma_read(g->env, &rd_buf, 0, rd, rd_len);
    iop_rx_data(g, rd, rd_len);
    g_assert_cmphex(le32_to_cpu(dl->rcv_nxt), ==,
                    (uint32_t)(t->irs + 1 + g->rx_off));

    /* the guest's TCP continues from the returned state */
    t->snd_una = le32_to_cpu(dl->snd_una);
    t->snd_nxt = t->snd_una;
    t->snd_max = le32_to_cpu(dl->snd_max);
    t->snd_wnd = le32_to_cpu(dl->snd_wnd);
    t->max_snd_wnd = le32_to_cpu(dl->max_snd_wnd);
    t->snd_wl1 = le32_to_cpu(dl->snd_wl1);
    t->snd_wl2 = t->snd_una;
    t->rcv_nxt = le32_to_cpu(dl->rcv_nxt);
    t->ts_recent = le32_to_cpu(dl->ts_recent);
    t->ts_recent_ns = g->vclock - (int64_t)le32_to_cpu(dl->ts_recent_age) *
                      1000000;
    t->ts_base = (int64_t)le32_to_cpu(dl->ts_time) - g->vclock / 1000000;
    t->rto_ns = IOP_RTO_NS;
    t->rexmit_at = 0;
    g_byte_array_set_size(t->sndq, 0);
    if (count) {
        /* read back from guest memory what the device returned */
        uint32_t n = IOP_TX_TAIL - acked;
        g_autofree uint8_t *back = g_malloc(n);

        qchimney_mem_read(g->qts, tail_addr + acked, back, n);
        g_assert_cmpmem(back, n, tail + acked, n);
        g_byte_array_append(t->sndq, back, n);
        iop_tcp_arm(g);
    }
    /* the window opens again: the guest consumed the returned data */
    iop_tcp_ack(g);
    env_dma_free(g->env, &sl_buf);
    env_dma_free(g->env, &rd_buf);
}

/* The rest of the connection on the L2 path: data, FIN both ways. */
static void iop_finish(IopGuest *g)
{
    IopServer *s = &g->c->srv;

    g->t.fin_queued = true;
    IOP_WAIT(g, g->t.sndq->len == 0 && g->t.fin_acked && g->t.fin_rcvd,
             "L2 close");
    IOP_WAIT(g, g_atomic_int_get(&s->done), "server finishing");
    iop_complete(g);            /* fails on any completion after TERMINATE */
    g_assert_cmpuint(g->t.rst, ==, 0);
}

/* The recorded wire: no segment of the connection with RST. */
static void iop_check_pcap(IopGuest *g)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    size_t len, off = 24;
    unsigned frames = 0, conn = 0, rst = 0, fin = 0, syn = 0;

    g_assert_true(g_file_get_contents(g->c->pcap, &data, &len, &err));
    g_assert_cmpuint(len, >=, 24);
    g_assert_cmphex((uint32_t)ldl_le_p(data), ==, 0xa1b2c3d4);
    while (off + 16 <= len) {
        uint32_t caplen = (uint32_t)ldl_le_p(data + off + 8);
        const uint8_t *f = (const uint8_t *)data + off + 16;
        const uint8_t *ip = f + 14, *th;

        off += 16 + caplen;
        if (off > len) {
            break;
        }
        frames++;
        if (caplen < 14 + 20 + 20 ||
            lduw_be_p(f + 12) != CHIMNEY_ETHERTYPE_IPV4 ||
            ip[9] != CHIMNEY_IPPROTO_TCP ||
            caplen < 14 + (ip[0] & 15) * 4 + 20) {
            continue;
        }
        th = ip + (ip[0] & 15) * 4;
        if (!((!memcmp(ip + 12, g->c->lip, 4) &&
               lduw_be_p(th) == g->t.lport) ||
              (!memcmp(ip + 16, g->c->lip, 4) &&
               lduw_be_p(th + 2) == g->t.lport))) {
            continue;
        }
        conn++;
        rst += !!(th[13] & CHIMNEY_TH_RST);
        fin += !!(th[13] & CHIMNEY_TH_FIN);
        syn += !!(th[13] & CHIMNEY_TH_SYN);
    }
    g_test_message("%s: wire (filter-dump): %u frames, %u of the "
                   "connection: %u SYN, %u FIN, %u RST",
                   iop_kind_name[g->c->kind], frames, conn, syn, fin, rst);
    g_assert_cmpuint(conn, >, 2 * IOP_BULK / 1460);
    g_assert_cmpuint(rst, ==, 0);
    g_assert_cmpuint(syn, >=, 2);
    g_assert_cmpuint(fin, >=, 2);
}

/*
 * Describe corrupted data: @len bytes received at stream offset @at: how
 * long the wrong stretch is and where in the stream its pieces come from.
 */
static void G_GNUC_NORETURN iop_report_bad(IopGuest *g, const char *who,
                                           uint32_t seed, uint64_t total,
                                           uint64_t at, const uint8_t *buf,
                                           size_t len)
{
    g_autofree uint8_t *exp = g_malloc(len);
    GString *s = g_string_new(NULL);
    size_t i, bad_end = len;

    iop_stream_fill(seed, at, exp, len);
    /* the wrong stretch ends where 32 bytes in a row are right again */
    for (i = 0; i + 32 <= len; i++) {
        if (!memcmp(buf + i, exp + i, 32)) {
            bad_end = i;
            break;
        }
    }
    g_string_append_printf(s, "%s got wrong data at offset %" PRIu64
                           " of the stream (sequence offset from the SYN), "
                           "%zu bytes wrong%s; pieces:", who, at, bad_end,
                           bad_end == len ? " or more" : "");
    for (i = 0; i < bad_end && i < 4096; i += 256) {
        size_t n = MIN(16, bad_end - i);
        uint32_t other = seed == IOP_GUEST_SEED ? IOP_SERVER_SEED :
                         IOP_GUEST_SEED;
        int64_t src = n >= 8 ? iop_stream_find(seed, total, buf + i, n) : -1;
        int64_t osrc = n >= 8 && src < 0 ?
                       iop_stream_find(other, total, buf + i, n) : -1;

        g_string_append_printf(s, " [+%zu: %02x%02x%02x%02x%02x%02x%02x%02x "
                               "= offset %" PRId64 " of this stream, %" PRId64
                               " of the other]", i, buf[i], buf[i + 1],
                               buf[i + 2], buf[i + 3], buf[i + 4], buf[i + 5],
                               buf[i + 6], buf[i + 7], src, osrc);
    }
    g_error("%s: %s", iop_kind_name[g->c->kind], s->str);
}

static void iop_check(IopGuest *g)
{
    IopServer *s = &g->c->srv;
    uint64_t g_tx = IOP_HELLO + IOP_BULK + IOP_TX_TAIL;
    uint64_t s_tx = IOP_GREETING + IOP_BULK + IOP_RX_TAIL;
    const char *gtx = g_checksum_get_string(g->tx_sha);
    const char *grx = g_checksum_get_string(g->rx_sha);

    g_test_message("%s: guest->peer %" PRIu64 " bytes, SHA-256 guest %s "
                   "server %s", iop_kind_name[g->c->kind], s->rx_bytes, gtx,
                   s->rx_sha);
    g_test_message("%s: peer->guest %" PRIu64 " bytes, SHA-256 server %s "
                   "guest %s", iop_kind_name[g->c->kind], g->rx_off,
                   s->tx_sha, grx);
    if (s->err) {
        g_error("server: %s", s->err);
    }
    g_assert_true(s->eof);
    g_assert_cmpuint(g->tx_off, ==, g_tx);
    g_assert_cmpuint(s->rx_bytes, ==, g_tx);
    if (s->rx_bad_at >= 0) {
        iop_report_bad(g, "server", IOP_GUEST_SEED, g_tx, s->rx_bad_at,
                       s->rx_bad, s->rx_bad_len);
    }
    g_assert_cmpstr(s->rx_sha, ==, gtx);
    g_assert_cmpuint(s->tx_bytes, ==, s_tx);
    g_assert_cmpuint(g->rx_off, ==, s_tx);
    if (g->rx_bad_at >= 0) {
        iop_report_bad(g, "guest", IOP_SERVER_SEED, s_tx, g->rx_bad_at,
                       g->rx_bad, g->rx_bad_len);
    }
    g_assert_cmpstr(s->tx_sha, ==, grx);
    iop_check_pcap(g);
}

static void test_interop(void *obj, void *data, QGuestAllocator *alloc)
{
    IopCtx *c = data;
    QChimneyNic *d = obj;
    IopGuest *g;
    unsigned i;

    if (c->skip) {
        g_test_skip(c->skip);
        return;
    }
    g = g_new0(IopGuest, 1);
    g->c = c;
    g->d = d;
    g->qts = chimney_qts(d);
    g->alloc = alloc;
    g->qe = g_new0(QChimneyEnv, 1);
    qchimney_env_init(g->qe, d, alloc, -1);
    g->env = &g->qe->env;
    qchimney_env_rx_setup(g->qe);
    chimney_ring_start(d, CHIMNEY_RING_TX, 64);
    g->tx_buf = chimney_alloc(d, 2048);
    env_start(g->env);
    chimney_drv_set_event_ops(&g->qe->os.drv, &iop_evt_ops, g);
    g->wall_last = g_get_monotonic_time();
    g->tx_sha = g_checksum_new(G_CHECKSUM_SHA256);
    g->rx_sha = g_checksum_new(G_CHECKSUM_SHA256);
    g->rx_bad_at = -1;
    g->done = g_array_new(FALSE, FALSE, sizeof(IopDone));
    g->tcp_events = g_string_new(NULL);
    g->t.sndq = g_byte_array_new();
    g->t.lport = 40000 + getpid() % 20000;
    g->t.rport = c->rport;
    g->t.ts_base = IOP_TS_BASE;

    if (c->kind == IOP_TAP_LOSSY) {
        c->fwd.qfd = c->sp[0];
        c->fwd.tfd = c->tap_fd;
        c->fwd.rng = g_rand_new_with_seed(0xc41e);
        c->fwd.loss = IOP_LOSS;
        c->fwd.hold = IOP_HOLD;
        /* for experiments: CHIMNEY_INTEROP_LOSS=0.05 (5%) */
        if (g_getenv("CHIMNEY_INTEROP_LOSS")) {
            c->fwd.loss = g_ascii_strtod(g_getenv("CHIMNEY_INTEROP_LOSS"),
                                         NULL);
        }
        fcntl(c->tap_fd, F_SETFL, fcntl(c->tap_fd, F_GETFL) | O_NONBLOCK);
        fcntl(c->sp[0], F_SETFL, fcntl(c->sp[0], F_GETFL) | O_NONBLOCK);
        c->fwd.th = g_thread_new("iop-wire", iop_fwd_thread, &c->fwd);
    }
    iop_server_start(&c->srv);

    iop_arp(g);
    iop_connect(g);
    iop_l2_exchange(g);
    iop_offload(g);
    g->rcv_chunk = g->t.rcv_wnd / 4;
    for (i = 0; i < IOP_NSEND; i++) {
        g->snd[i].addr = guest_alloc(alloc, IOP_SEND_CHUNK);
    }
    for (i = 0; i < IOP_NRECV; i++) {
        g->rcv[i].addr = guest_alloc(alloc, g->rcv_chunk);
    }
    iop_bulk(g);
    iop_wait_rx_tail(g);
    iop_stats(g, "after the bulk transfer");
    iop_upload(g);
    iop_finish(g);
    iop_check(g);
    if (c->kind == IOP_TAP_LOSSY) {
        IopFwd *f = &c->fwd;

        g_test_message("%s: forwarder (loss %.1f%%): to the peer %" PRIu64 " frames, %"
                       PRIu64 " dropped, %" PRIu64 " swapped; to the "
                       "device %" PRIu64 " frames, %" PRIu64 " dropped, %"
                       PRIu64 " swapped", iop_kind_name[c->kind],
                       f->loss * 100,
                       f->frames[0], f->dropped[0], f->swapped[0],
                       f->frames[1], f->dropped[1], f->swapped[1]);
        g_assert_null(f->err);
        g_assert_cmpuint(f->dropped[0], >, 0);
        g_assert_cmpuint(f->dropped[1], >, 0);
    }
    g_test_message("%s: guest TCP on L2: %u segments out, %u in, %u "
                   "timeouts, %u out of order; %u ARP requests answered, "
                   "%u other frames, %u segments of the offloaded "
                   "connection on L2", iop_kind_name[c->kind], g->t.segs_out,
                   g->t.segs_in, g->t.rexmits, g->t.ooo, g->arp_answered,
                   g->l2_other, g->l2_tcp_offloaded);

    g_checksum_free(g->tx_sha);
    g_checksum_free(g->rx_sha);
    g_array_free(g->done, TRUE);
    g_string_free(g->tcp_events, TRUE);
    g_byte_array_free(g->t.sndq, TRUE);
    qchimney_env_fini(g->qe);
    g_free(g->qe);
    g_free(g);
}

static void register_chimney_interop_test(void)
{
    static const struct {
        const char *name;
        IopKind kind;
    } tests[] = {
        { "interop-slirp", IOP_SLIRP },
        { "interop-tap", IOP_TAP },
        { "interop-tap-lossy", IOP_TAP_LOSSY },
    };
    unsigned i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        QOSGraphTestOptions opts = {
            .before = iop_before,
            .arg = (void *)(uintptr_t)tests[i].kind,
        };

        qos_add_test(tests[i].name, "chimney-nic", test_interop, &opts);
    }
}

libqos_init(register_chimney_interop_test);

#endif /* __linux__ */
