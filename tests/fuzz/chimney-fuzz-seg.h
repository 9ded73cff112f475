/*
 * Segment fuzzer of the offload engine's TCP data path: one engine
 * driven through chimney_engine.h alone (tests/unit/chimney-fake-engine.h,
 * no device core), one or two connections offloaded with fixed state,
 * then the input is a sequence of operations:
 *
 *   data     a segment from the peer: at RcvNxt, out of order, overlapping,
 *            or anywhere; any flags, window, timestamps (current, old or
 *            random), sometimes a corrupted checksum (its payload is junk)
 *   ack      the peer acknowledges what the engine sent (all, part, a
 *            duplicate, or a blind value)
 *   ctrl     RST / SYN / FIN / URG at RcvNxt, in the window or far away
 *   send, recv, disc, ind_done, forward
 *            the data I/O requests, small buffers
 *   clock    time passes; the engine timer fires when due
 *   ind      IND buffer space appears (indications are on when the first
 *            byte says so)
 *
 * Input: byte 0 = configuration (FZS_CFG_*), byte 1 = window and MTU,
 * then operations: an opcode byte and its argument bytes (missing bytes
 * read as 0).  The peer sends data where the byte at sequence number s is
 * peer_byte(conn, s), and fills SEND buffers so that the byte at s is
 * own_byte(conn, s), so every byte the engine delivers or sends can be
 * checked against its sequence number.
 *
 * Oracles (besides ASan/UBSan), reported as "SPEC VIOLATION" + abort():
 *   - every frame the engine sends parses with correct IP and TCP
 *     checksums, is addressed to the peer, and carries only queued send
 *     data, byte for byte;
 *   - every accepted request gets exactly one completion (at the end the
 *     connections are terminated, which completes everything left), never
 *     before its CMD_DONE, completions of one kind in submission order;
 *     SEND_DONE info <= the request length, = it on success, success
 *     only once the peer acknowledged its last byte; DISC_DONE info <=
 *     the final data; RECV_DONE info <= the buffer;
 *   - data delivered (RECV_POST buffers, indications) is exactly the
 *     peer's stream from the offload point on, in order: junk (bad
 *     checksums) never gets in; at most one indication per connection
 *     outstanding; IND_DONE succeeds exactly when the model says it must;
 *   - an RST or SYN whose sequence number is not RcvNxt never aborts the
 *     connection nor makes it ask for an upload (RFC 5961);
 *   - EVT_TCP_ABORT says DATA_AFTER_CLOSE only after a DISCONNECT with
 *     DISC_RCV_CLOSED was accepted.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FUZZ_SEG_H
#define CHIMNEY_FUZZ_SEG_H

#include <stdarg.h>
#include <stdlib.h>

#include "chimney-fake-engine.h"
#include "chimney-test-seg.h"
#include "chimney_io.h"
#include "chimney_offload.h"

/* byte 0 */
#define FZS_CFG_TS          0x01    /* timestamps negotiated */
#define FZS_CFG_WSCALE      0x02    /* window scaling, shift from bits 2-3 */
#define FZS_CFG_TWO         0x10    /* a second connection */
#define FZS_CFG_IND         0x20    /* IND ring on */
#define FZS_CFG_NAGLE       0x40
#define FZS_CFG_WRAP        0x80    /* sequence numbers near 2^32 */

/* operations (opcode byte % FZS_OP_COUNT) */
enum {
    FZS_OP_DATA,        /* conn|mode, flags, delta, len, ts, csum, win */
    FZS_OP_ACK,         /* conn|mode, frac, win */
    FZS_OP_CTRL,        /* conn|mode, flags, delta(4) */
    FZS_OP_SEND,        /* conn|push, len(2) */
    FZS_OP_RECV,        /* conn|nopush|list|flush, len(2) */
    FZS_OP_DISC,        /* conn|flags, len */
    FZS_OP_IND_DONE,    /* conn, n */
    FZS_OP_FORWARD,     /* conn|mode, delta, len, flags */
    FZS_OP_CLOCK,       /* ticks */
    FZS_OP_IND,         /* bytes(2) */
    FZS_OP_COUNT
};

#define FZS_MAX_CONN        2
#define FZS_RAM             (2u << 20)
#define FZS_MAX_BUF         4096u
#define FZS_MAX_REQS        256u
#define FZS_PEER_MAC        ((const uint8_t[6]){ 2, 0, 0, 0, 0, 2 })
#define FZS_OWN_MAC         ((const uint8_t[6]){ 0x52, 0x54, 0, 0x12, 0x34, \
                                                 0x56 })

typedef struct FzsReq {
    uint64_t cookie;
    uint64_t addr;              /* RECV_POST with a list: the list */
    uint32_t len;
    uint32_t end;               /* SEND: sequence after its last byte */
    uint32_t nsge;              /* RECV_POST: list entries (0: no list) */
} FzsReq;

typedef struct FzsFifo {
    FzsReq r[FZS_MAX_REQS];
    unsigned head, len;
} FzsFifo;

typedef struct FzsConn {
    uint64_t handle;
    uint16_t lport;
    uint32_t iss, irs;
    /* the send stream: [iss, snd_end) is queued data own_byte() */
    uint32_t snd_end;
    bool disc_graceful;         /* a graceful DISCONNECT was accepted */
    bool rcv_closed;            /* ... with DISC_RCV_CLOSED */
    uint32_t sent_hi;           /* after the highest byte (FIN) sent */
    uint32_t acked_hi;          /* highest ACK the peer sent */
    uint32_t eng_ts;            /* last TSval the engine sent */
    /* the receive stream: bytes before deliv were delivered */
    uint32_t deliv;
    uint32_t peer_hi;           /* after the highest byte the peer sent */
    uint32_t peer_ts;
    uint16_t peer_win;          /* window field the peer sent last */
    bool ind_out;               /* an indication is outstanding */
    uint32_t ind_bytes;
    FzsFifo sendq, recvq, fwdq, discq;
} FzsConn;

/* The request being submitted, entered in the model at its CMD_DONE. */
typedef struct FzsPend {
    uint16_t opcode;            /* 0: none */
    FzsConn *c;
    FzsReq r;
    uint16_t flags;
} FzsPend;

typedef struct Fzs {
    const uint8_t *in;
    size_t len, pos;
    int64_t clock;
    FeHost h;
    uint8_t cfg;
    unsigned nconn;
    FzsConn c[FZS_MAX_CONN];
    uint32_t mss;
    int wscale;
    uint32_t ind_room;          /* IND buffer bytes the "driver" posted */
    uint64_t last_cmd_done;     /* cookie of the latest CMD_DONE seen */
    FzsPend pend;
    GPtrArray *frames;
} Fzs;

G_GNUC_NORETURN G_GNUC_PRINTF(1, 2)
static inline void fzs_violation(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "chimney-fuzz-seg: SPEC VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static inline uint8_t peer_byte(unsigned k, uint32_t s)
{
    return (uint8_t)(s ^ (s >> 8) * 31u ^ (s >> 16) * 7u ^ k * 0x55u);
}

static inline uint8_t own_byte(unsigned k, uint32_t s)
{
    return (uint8_t)(s * 13u ^ (s >> 11) ^ 0xa5u ^ k);
}

static inline uint8_t fzs_u8(Fzs *f)
{
    return f->pos < f->len ? f->in[f->pos++] : 0;
}

static inline uint16_t fzs_u16(Fzs *f)
{
    return fzs_u8(f) | fzs_u8(f) << 8;
}

static inline uint32_t fzs_u32(Fzs *f)
{
    return fzs_u16(f) | (uint32_t)fzs_u16(f) << 16;
}

static inline bool fzs_seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline ChimneyTcpObj *fzs_obj(Fzs *f, FzsConn *c)
{
    return chimney_offload_lookup(f->h.eng, c->handle, CHIMNEY_KIND_TCP,
                                  NULL);
}

static inline void fzs_push(FzsFifo *q, const FzsReq *r)
{
    q->r[(q->head + q->len++) % FZS_MAX_REQS] = *r;
}

static inline FzsReq *fzs_head(FzsFifo *q)
{
    return q->len ? &q->r[q->head] : NULL;
}

static inline void fzs_pop(FzsFifo *q)
{
    q->head = (q->head + 1) % FZS_MAX_REQS;
    q->len--;
}

static inline FzsConn *fzs_conn_of(Fzs *f, uint64_t handle)
{
    unsigned k;

    for (k = 0; k < f->nconn; k++) {
        if (f->c[k].handle == handle) {
            return &f->c[k];
        }
    }
    fzs_violation("event for unknown handle 0x%" G_GINT64_MODIFIER "x",
                  handle);
}

/* Delivered bytes must continue the peer's stream. */
static inline void fzs_check_delivered(Fzs *f, FzsConn *c, uint32_t seq,
                                       const uint8_t *data, uint32_t n,
                                       const char *how)
{
    unsigned k = c - f->c;
    uint32_t i;

    if (seq != c->deliv) {
        fzs_violation("conn %u: %s of %u bytes at seq %u, expected %u", k,
                      how, n, seq, c->deliv);
    }
    if (n && fzs_seq_lt(c->peer_hi, seq + n)) {
        fzs_violation("conn %u: %s delivers up to seq %u, the peer sent "
                      "only up to %u", k, how, seq + n, c->peer_hi);
    }
    for (i = 0; i < n; i++) {
        if (data[i] != peer_byte(k, seq + i)) {
            fzs_violation("conn %u: %s: byte at seq %u is 0x%02x, the peer "
                          "sent 0x%02x", k, how, seq + i, data[i],
                          peer_byte(k, seq + i));
        }
    }
}

/* The IND ring as the driver would keep it: @ind_room bytes posted. */
static int64_t fzs_indicate(void *ctx, uint64_t handle, uint32_t seq,
                            const uint8_t *data, uint32_t len)
{
    Fzs *f = ctx;
    FzsConn *c = fzs_conn_of(f, handle);
    uint32_t n = MIN(len, f->ind_room);

    if (!n) {
        return 0;
    }
    if (c->ind_out) {
        fzs_violation("conn %u: a second indication while one is "
                      "outstanding", (unsigned)(c - f->c));
    }
    fzs_check_delivered(f, c, seq, data, n, "indication");
    f->ind_room -= n;
    c->ind_out = true;
    c->ind_bytes = n;
    return n;
}

static void fzs_emit(void *ctx, const uint8_t *frame, size_t len)
{
    Fzs *f = ctx;

    g_ptr_array_add(f->frames, g_byte_array_append(g_byte_array_new(),
                                                   frame, len));
}

/* Check what the engine put on the wire and learn from it. */
static void fzs_frames(Fzs *f)
{
    unsigned i, k;

    for (i = 0; i < f->frames->len; i++) {
        GByteArray *fr = g_ptr_array_index(f->frames, i);
        ChimneyTestRxSeg rs;
        FzsConn *c = NULL;
        uint32_t j, end;

        if (!seg_parse(fr->data, fr->len, &rs)) {
            fzs_violation("the engine sent a frame of %u bytes that does "
                          "not parse or has a bad checksum", fr->len);
        }
        if (memcmp(fr->data, FZS_PEER_MAC, 6) ||
            memcmp(fr->data + 6, FZS_OWN_MAC, 6)) {
            fzs_violation("frame with wrong MAC addresses");
        }
        for (k = 0; k < f->nconn; k++) {
            if (rs.sport == f->c[k].lport && rs.dport == 80) {
                c = &f->c[k];
            }
        }
        if (!c) {
            fzs_violation("frame from port %u to %u", rs.sport, rs.dport);
        }
        k = c - f->c;
        for (j = 0; j < rs.plen; j++) {
            uint32_t s = rs.seq + j;

            if (!fzs_seq_lt(s - c->iss, c->snd_end - c->iss) ||
                rs.payload[j] != own_byte(k, s)) {
                fzs_violation("conn %u: sent byte at seq %u is 0x%02x; "
                              "queued [%u, %u) own_byte 0x%02x", k, s,
                              rs.payload[j], c->iss, c->snd_end,
                              own_byte(k, s));
            }
        }
        end = rs.seq + rs.plen + ((rs.flags & CHIMNEY_TH_FIN) ? 1 : 0);
        if ((rs.plen || (rs.flags & CHIMNEY_TH_FIN)) &&
            fzs_seq_lt(c->sent_hi, end)) {
            c->sent_hi = end;
        }
        if (rs.ts) {
            c->eng_ts = rs.tsval;
        }
    }
    g_ptr_array_set_size(f->frames, 0);
}

/* Match one completion to the oldest request of its kind. */
static FzsReq *fzs_complete(Fzs *f, FzsFifo *q, const ChimneyEvent *ev,
                            const char *kind)
{
    FzsReq *r = fzs_head(q);

    if (ev->cookie > f->last_cmd_done) {
        fzs_violation("%s for cookie %" G_GUINT64_FORMAT " before its "
                      "CMD_DONE", kind, ev->cookie);
    }
    if (!r || r->cookie != ev->cookie) {
        fzs_violation("%s for cookie %" G_GUINT64_FORMAT ": expected %s%"
                      G_GUINT64_FORMAT " (a second completion, or out of "
                      "order)", kind, ev->cookie, r ? "" : "none, ",
                      r ? r->cookie : 0);
    }
    if (ev->info > r->len) {
        fzs_violation("%s info %u above the request's %u bytes", kind,
                      ev->info, r->len);
    }
    return r;
}

/* The first @n bytes a RECV_POST list request holds, in list order. */
static uint8_t *fzs_gather(Fzs *f, const FzsReq *r, uint32_t n)
{
    const ChimneyRecvSge *e = fe_ptr(&f->h, r->addr);
    uint8_t *out = g_malloc(MAX(n, 1u));
    uint32_t i, off = 0, k;

    for (i = 0; i < r->nsge && off < n; i++) {
        k = MIN(GUINT32_FROM_LE(e[i].len), n - off);
        memcpy(out + off, fe_ptr(&f->h, GUINT64_FROM_LE(e[i].addr)), k);
        off += k;
    }
    return out;
}

/* The request now accepted (or not) enters the model. */
static void fzs_cmd_done(Fzs *f, const ChimneyEvent *ev)
{
    FzsPend *p = &f->pend;
    FzsConn *c = p->c;
    bool ok = ev->status == CHIMNEY_ST_SUCCESS;

    f->last_cmd_done = ev->cookie;
    if (p->opcode != ev->code) {
        return;
    }
    p->opcode = 0;
    p->r.cookie = ev->cookie;
    switch (ev->code) {
    case CHIMNEY_CMD_SEND:
        if (ok && (!p->r.len || c->discq.len || c->disc_graceful)) {
            fzs_violation("SEND of %u bytes accepted%s", p->r.len,
                          p->r.len ? " after a graceful DISCONNECT" : "");
        }
        if (ok) {
            c->snd_end += p->r.len;
            p->r.end = c->snd_end;
            fzs_push(&c->sendq, &p->r);
        }
        break;
    case CHIMNEY_CMD_RECV_POST:
        if (ok) {
            fzs_push(&c->recvq, &p->r);
        }
        break;
    case CHIMNEY_CMD_FORWARD:
        if (ok) {
            p->r.len = 0;               /* FORWARD_DONE info is 0 */
            fzs_push(&c->fwdq, &p->r);
        }
        break;
    case CHIMNEY_CMD_DISCONNECT:
        if (ok && p->flags == CHIMNEY_DISC_RCV_CLOSED) {
            c->rcv_closed = true;       /* done at CMD_DONE: no DISC_DONE */
            break;
        }
        if (ok && (p->flags & CHIMNEY_DISC_GRACEFUL)) {
            if (c->disc_graceful) {
                fzs_violation("a second graceful DISCONNECT accepted");
            }
            c->snd_end += p->r.len;
            c->disc_graceful = true;
            c->rcv_closed |= !!(p->flags & CHIMNEY_DISC_RCV_CLOSED);
        }
        if (ok) {
            if (!(p->flags & CHIMNEY_DISC_GRACEFUL)) {
                p->r.len = 0;
            }
            fzs_push(&c->discq, &p->r);
        }
        break;
    case CHIMNEY_CMD_IND_DONE:
        if (ok != (c->ind_out && p->r.len <= c->ind_bytes)) {
            fzs_violation("conn %u: IND_DONE(%u) status 0x%x with %s "
                          "indication of %u bytes outstanding",
                          (unsigned)(c - f->c), p->r.len, ev->status,
                          c->ind_out ? "an" : "no", c->ind_bytes);
        }
        if (ok) {
            c->deliv += p->r.len;
            c->ind_out = false;
            c->ind_bytes = 0;
        }
        break;
    }
}

/* Every event, as the engine queues it (fake-engine on_event hook). */
static void fzs_on_event(void *ctx, const ChimneyEvent *ev)
{
    Fzs *f = ctx;
    FzsConn *c;
    FzsReq *r;

    switch (ev->type) {
    case CHIMNEY_EVT_CMD_DONE:
        fzs_cmd_done(f, ev);
        break;
    case CHIMNEY_EVT_SEND_DONE:
        c = fzs_conn_of(f, ev->handle);
        r = fzs_complete(f, &c->sendq, ev, "SEND_DONE");
        if (ev->status == CHIMNEY_ST_SUCCESS &&
            (ev->info != r->len || fzs_seq_lt(c->acked_hi, r->end) ||
             fzs_seq_lt(c->sent_hi, r->end))) {
            fzs_violation("SEND_DONE success, info %u of %u, request ends "
                          "at %u, peer acked %u, sent up to %u", ev->info,
                          r->len, r->end, c->acked_hi, c->sent_hi);
        }
        fzs_pop(&c->sendq);
        break;
    case CHIMNEY_EVT_RECV_DONE:
        c = fzs_conn_of(f, ev->handle);
        r = fzs_complete(f, &c->recvq, ev, "RECV_DONE");
        if (r->nsge) {
            g_autofree uint8_t *got = fzs_gather(f, r, ev->info);

            fzs_check_delivered(f, c, c->deliv, got, ev->info, "RECV_DONE");
        } else {
            fzs_check_delivered(f, c, c->deliv, fe_ptr(&f->h, r->addr),
                                ev->info, "RECV_DONE");
        }
        c->deliv += ev->info;
        fzs_pop(&c->recvq);
        break;
    case CHIMNEY_EVT_FORWARD_DONE:
        c = fzs_conn_of(f, ev->handle);
        fzs_complete(f, &c->fwdq, ev, "FORWARD_DONE");
        fzs_pop(&c->fwdq);
        break;
    case CHIMNEY_EVT_DISC_DONE:
        c = fzs_conn_of(f, ev->handle);
        fzs_complete(f, &c->discq, ev, "DISC_DONE");
        fzs_pop(&c->discq);
        break;
    case CHIMNEY_EVT_TCP_ABORT:
        c = fzs_conn_of(f, ev->handle);
        if (ev->info > CHIMNEY_ABORT_DATA_AFTER_CLOSE ||
            (ev->info == CHIMNEY_ABORT_DATA_AFTER_CLOSE && !c->rcv_closed)) {
            fzs_violation("TCP_ABORT info %u, receive side %s", ev->info,
                          c->rcv_closed ? "closed" : "open");
        }
        break;
    case CHIMNEY_EVT_RECV_INDICATE:
        c = fzs_conn_of(f, ev->handle);
        if (!c->ind_out || ev->info != c->ind_bytes) {
            fzs_violation("RECV_INDICATE of %u bytes, %u indicated",
                          ev->info, c->ind_out ? c->ind_bytes : 0);
        }
        break;
    default:
        break;
    }
}

/* Check the frames sent, then consume the events (as a driver would). */
static void fzs_events(Fzs *f)
{
    ChimneyEvent ev;
    unsigned guard;

    fzs_frames(f);
    for (guard = 0; guard < 100000 && fe_pop(&f->h, &ev); guard++) {
    }
    if (guard == 100000) {
        fzs_violation("event storm");
    }
    fzs_frames(f);
}

/* Submit a request; the model takes it in at its CMD_DONE. */
static uint32_t fzs_req(Fzs *f, FzsConn *c, uint16_t opcode, uint16_t flags,
                        const FzsReq *r)
{
    f->pend.opcode = opcode;
    f->pend.c = c;
    f->pend.r = *r;
    f->pend.flags = flags;
    return fe_cmd(&f->h, opcode, flags, r->addr,
                  r->nsge ? r->nsge : r->len, c->handle, NULL);
}

/* Time passes: fire the engine timer whenever it is due. */
static void fzs_clock(Fzs *f, int64_t ns)
{
    int64_t end = f->clock + ns;
    unsigned guard;

    for (guard = 0; guard < 10000 && f->h.deadline <= end; guard++) {
        f->clock = MAX(f->clock, f->h.deadline);
        fe_run_timer(&f->h);
        fzs_events(f);
    }
    f->clock = end;
}

/* A segment from the peer to connection c (the engine receives it). */
static void fzs_inject(Fzs *f, FzsConn *c, uint32_t seq, uint32_t ack,
                       uint8_t flags, uint16_t win, uint32_t plen,
                       uint8_t ts_mode, bool bad_csum, uint16_t dport)
{
    static const uint8_t lip[4] = { 10, 0, 0, 1 }, rip[4] = { 10, 0, 0, 2 };
    unsigned k = c - f->c;
    uint8_t payload[2048], frame[2200];
    ChimneyTestSeg s = {
        .dst_mac = FZS_OWN_MAC, .src_mac = FZS_PEER_MAC, .tci = -1,
        .ttl = 64, .sport = 80, .dport = dport, .seq = seq, .ack = ack,
        .flags = flags, .win = win, .payload = payload, .plen = plen,
        .bad_tcp_csum = bad_csum,
    };
    uint32_t i;

    memcpy(s.src_ip, rip, 4);
    memcpy(s.dst_ip, lip, 4);
    for (i = 0; i < plen; i++) {
        /* junk where the checksum is wrong: it must never get in */
        payload[i] = bad_csum ? (uint8_t)~peer_byte(k, seq + i) :
                     peer_byte(k, seq + i);
    }
    if ((f->cfg & FZS_CFG_TS) ? ts_mode != 3 : ts_mode == 3) {
        s.ts = true;
        switch (ts_mode) {
        case 1:
            s.tsval = c->peer_ts - 1000;            /* old: PAWS */
            break;
        case 2:
            s.tsval = c->peer_ts += 1u << 20;       /* the clock jumps */
            break;
        default:
            s.tsval = ++c->peer_ts;
            break;
        }
        s.tsecr = c->eng_ts;
    }
    if (!bad_csum && (flags & CHIMNEY_TH_ACK) &&
        !fzs_seq_lt(ack - c->iss, c->acked_hi - c->iss) &&
        !fzs_seq_lt(c->sent_hi - c->iss, ack - c->iss)) {
        c->acked_hi = ack;                  /* a real acknowledgment */
    }
    if (!bad_csum) {
        c->peer_win = win;
    }
    if (!bad_csum && plen && fzs_seq_lt(c->peer_hi, seq + plen) &&
        fzs_seq_lt(seq - c->irs, 0x40000000u)) {
        c->peer_hi = seq + plen;
    }
    chimney_engine_rx(f->h.eng, frame, seg_build(&s, frame));
}

/* Sequence number for a peer segment: mode 0 at RcvNxt, 1 ahead, 2 behind,
 * 3 anywhere. */
static uint32_t fzs_seq(Fzs *f, FzsConn *c, uint8_t mode, uint32_t delta)
{
    ChimneyTcpObj *o = fzs_obj(f, c);
    uint32_t nxt = o ? o->d.rcv_nxt : c->deliv;

    switch (mode & 3) {
    case 0:
        return nxt;
    case 1:
        return nxt + delta % 70000u;
    case 2:
        return nxt - delta % 3000u;
    default:
        return delta;
    }
}

static uint64_t fzs_buf(Fzs *f, uint32_t len)
{
    if (f->h.alloc_next + len + 64 > FE_RAM_BASE + FZS_RAM) {
        return 0;
    }
    return fe_alloc(&f->h, MAX(len, 1u));
}

/* A RECV_POST list of min(@len, @n) pieces holding @len bytes. */
static uint64_t fzs_sgl(Fzs *f, uint32_t len, uint32_t n)
{
    uint64_t list, piece;
    ChimneyRecvSge *e;
    uint32_t i, off = 0, k;

    n = MIN(n, len);
    list = fzs_buf(f, n * sizeof(*e));
    if (!list) {
        return 0;
    }
    e = fe_ptr(&f->h, list);
    for (i = 0; i < n; i++) {
        k = i + 1 < n ? len / n : len - off;
        piece = fzs_buf(f, k);
        if (!piece) {
            return 0;
        }
        e[i].addr = GUINT64_TO_LE(piece);
        e[i].len = GUINT32_TO_LE(k);
        e[i].reserved = 0;
        off += k;
    }
    return list;
}

static void fzs_op(Fzs *f, uint8_t op)
{
    uint8_t a = fzs_u8(f);
    FzsConn *c = &f->c[(a & 0x80) && f->nconn > 1 ? 1 : 0];
    unsigned k = c - f->c;
    ChimneyTcpObj *o = fzs_obj(f, c);
    FzsReq r = { 0 };
    uint32_t i;

    switch (op % FZS_OP_COUNT) {
    case FZS_OP_DATA: {
        uint8_t flags = fzs_u8(f), d = fzs_u8(f), l = fzs_u8(f);
        uint8_t ts = fzs_u8(f), cs = fzs_u8(f), w = fzs_u8(f);
        uint32_t seq = fzs_seq(f, c, a, d * 97u + (d >> 6) * 60000u);
        uint32_t plen = (l < 200 ? l * f->mss / 200 : l * 8) % 2000;

        /* data with ACK, maybe PSH or FIN, rarely URG; RST/SYN: ctrl */
        flags = CHIMNEY_TH_ACK | (flags & (CHIMNEY_TH_PSH | CHIMNEY_TH_FIN)) |
                ((flags & 0xc0) == 0xc0 ? CHIMNEY_TH_URG : 0);
        fzs_inject(f, c, seq, o ? o->d.snd_una : c->iss, flags,
                   w ? w << 8 | w : 0xffff, plen, ts & 3, cs == 0xa5,
                   c->lport);
        break;
    }
    case FZS_OP_ACK: {
        uint8_t frac = fzs_u8(f), w = fzs_u8(f);
        uint32_t una = o ? o->d.snd_una : c->iss, ack;

        switch (a & 3) {
        case 0:
            ack = c->sent_hi;
            break;
        case 1:
            ack = una + (uint32_t)((uint64_t)(c->sent_hi - una) * frac / 255);
            break;
        case 2:
            ack = una;
            break;
        default:
            ack = una + (int8_t)frac * 1000;    /* blind */
            break;
        }
        /* a duplicate ACK repeats the window too (RFC 5681) */
        fzs_inject(f, c, o ? o->d.rcv_nxt : c->deliv, ack,
                   CHIMNEY_TH_ACK, (a & 3) == 2 && w ? c->peer_win :
                   w == 0 ? 0 : w == 1 ? 0xffff : (uint16_t)(w << 8), 0, 0,
                   false, c->lport);
        break;
    }
    case FZS_OP_CTRL: {
        uint8_t flags = fzs_u8(f);
        uint32_t delta = fzs_u32(f), seq = fzs_seq(f, c, a, delta);
        uint32_t nxt = o ? o->d.rcv_nxt : 0;
        bool blind, ab0, up0;

        flags &= CHIMNEY_TH_RST | CHIMNEY_TH_SYN | CHIMNEY_TH_FIN |
                 CHIMNEY_TH_URG | CHIMNEY_TH_ACK;
        if (!(flags & (CHIMNEY_TH_RST | CHIMNEY_TH_SYN | CHIMNEY_TH_FIN |
                       CHIMNEY_TH_URG))) {
            flags |= CHIMNEY_TH_RST;
        }
        /* not at RcvNxt, or not even for this connection: no effect */
        blind = o && (flags & (CHIMNEY_TH_RST | CHIMNEY_TH_SYN)) &&
                (seq != nxt || (a & 0x60));
        ab0 = o && o->io && o->io->aborted;
        up0 = o && o->retrieve_pending;
        fzs_inject(f, c, seq, o ? o->d.snd_una : c->iss, flags, 0xffff, 0,
                   0, (a & 0x40) != 0, (a & 0x20) ? c->lport + 7 : c->lport);
        if (blind && !ab0 && o->io && o->io->aborted) {
            fzs_violation("conn %u: blind %s at seq %u (RcvNxt %u, mode "
                          "0x%x) aborted the connection", k,
                          (flags & CHIMNEY_TH_RST) ? "RST" : "SYN", seq, nxt,
                          a);
        }
        if (blind && !up0 && o->retrieve_pending) {
            fzs_violation("conn %u: blind %s at seq %u (RcvNxt %u, mode "
                          "0x%x) made it ask for an upload", k,
                          (flags & CHIMNEY_TH_RST) ? "RST" : "SYN", seq, nxt,
                          a);
        }
        break;
    }
    case FZS_OP_SEND: {
        uint32_t len = fzs_u16(f) % (FZS_MAX_BUF + 1);

        r.addr = fzs_buf(f, len);
        if (!r.addr || c->sendq.len == FZS_MAX_REQS) {
            break;
        }
        for (i = 0; i < len; i++) {
            ((uint8_t *)fe_ptr(&f->h, r.addr))[i] =
                own_byte(k, c->snd_end + i);
        }
        r.len = len;
        fzs_req(f, c, CHIMNEY_CMD_SEND, (a & 0x40) ? CHIMNEY_SENDF_PUSH : 0,
                &r);
        break;
    }
    case FZS_OP_RECV: {
        uint32_t len = fzs_u16(f) % (FZS_MAX_BUF + 1);
        uint16_t rf = ((a & 0x40) ? CHIMNEY_RECVF_NO_PUSH : 0) |
                      ((a & 0x08) ? CHIMNEY_RECVF_HOLD : 0);

        if ((a & 0x30) == 0x10) {
            /* RECV_FLUSH: the posted requests complete now (checked) */
            fzs_req(f, c, CHIMNEY_CMD_RECV_FLUSH, 0, &r);
            break;
        }
        if (c->recvq.len == FZS_MAX_REQS) {
            break;
        }
        if ((a & 0x20) && len) {
            r.addr = fzs_sgl(f, len, 1u + (a & 7));
            r.nsge = MIN(len, 1u + (a & 7));
            rf |= CHIMNEY_RECVF_SGL;
        } else {
            r.addr = fzs_buf(f, len);
        }
        if (!r.addr) {
            break;
        }
        r.len = len;
        fzs_req(f, c, CHIMNEY_CMD_RECV_POST, rf, &r);
        break;
    }
    case FZS_OP_DISC: {
        uint32_t len = fzs_u8(f) * 8u;

        r.addr = fzs_buf(f, len);
        if (!r.addr || c->discq.len == FZS_MAX_REQS) {
            break;
        }
        for (i = 0; i < len; i++) {
            ((uint8_t *)fe_ptr(&f->h, r.addr))[i] =
                own_byte(k, c->snd_end + i);
        }
        r.len = len;
        fzs_req(f, c, CHIMNEY_CMD_DISCONNECT, (a >> 4) & 7, &r);
        break;
    }
    case FZS_OP_IND_DONE: {
        uint8_t sel = fzs_u8(f);

        r.len = sel == 0xff ? c->ind_bytes + 1 :
                sel >= 0x80 ? c->ind_bytes :
                (uint32_t)((uint64_t)c->ind_bytes * sel / 0x80);
        fzs_req(f, c, CHIMNEY_CMD_IND_DONE, 0, &r);
        break;
    }
    case FZS_OP_FORWARD: {
        uint8_t d = fzs_u8(f), l = fzs_u8(f), flags = fzs_u8(f);
        uint32_t seq = fzs_seq(f, c, a, d * 331u);
        uint32_t plen = l * f->mss / 255;
        static const uint8_t lip[4] = { 10, 0, 0, 1 },
                             rip[4] = { 10, 0, 0, 2 };
        uint8_t payload[2048], frame[2200];
        ChimneyTestSeg s = {
            .dst_mac = FZS_OWN_MAC, .src_mac = FZS_PEER_MAC, .tci = -1,
            .ttl = 64, .sport = 80, .dport = c->lport, .seq = seq,
            .ack = o ? o->d.snd_una : c->iss,
            .flags = CHIMNEY_TH_ACK | (flags & CHIMNEY_TH_PSH),
            .win = 0xffff, .payload = payload, .plen = plen,
        };
        ChimneyTestRxSeg rs;
        size_t flen;

        memcpy(s.src_ip, rip, 4);
        memcpy(s.dst_ip, lip, 4);
        for (i = 0; i < plen; i++) {
            payload[i] = peer_byte(k, seq + i);
        }
        flen = seg_build(&s, frame);
        g_assert(seg_parse(frame, flen, &rs));
        r.len = flen - rs.l4_off;
        r.addr = fzs_buf(f, r.len);
        if (!r.addr || c->fwdq.len == FZS_MAX_REQS) {
            break;
        }
        memcpy(fe_ptr(&f->h, r.addr), frame + rs.l4_off, r.len);
        if (plen && fzs_seq_lt(c->peer_hi, seq + plen) &&
            fzs_seq_lt(seq - c->irs, 0x40000000u)) {
            c->peer_hi = seq + plen;
        }
        fzs_req(f, c, CHIMNEY_CMD_FORWARD, 0, &r);
        break;
    }
    case FZS_OP_CLOCK:
        /* a tick (1 ms) to minutes, on a log scale */
        fzs_clock(f, ((int64_t)(1 + (a & 0x1f)) << ((a >> 5) * 3)) *
                  1000000ll / 8);
        break;
    case FZS_OP_IND:
        f->ind_room += 1 + fzs_u8(f) * 16u + (a & 0x7f);
        chimney_engine_ind_posted(f->h.eng);
        break;
    }
    fzs_events(f);
}

static void fzs_setup(Fzs *f)
{
    uint8_t w = fzs_u8(f);
    uint32_t mtu = (w & 0x80) ? 576 : 1500;
    uint32_t wnd = 1024u * (1 + (w & 0x3f));
    ChimneyTestMem mem;
    ChimneyTestRaw r;
    uint64_t n, p, t[FZS_MAX_CONN];
    static uint8_t *ram;
    unsigned k;

    f->wscale = (f->cfg & FZS_CFG_WSCALE) ?
                (int[]){ 0, 1, 3, 7 }[(f->cfg >> 2) & 3] : -1;
    if (f->wscale > 0) {
        wnd <<= MIN(f->wscale, 2);
    }
    f->nconn = (f->cfg & FZS_CFG_TWO) ? 2 : 1;
    f->mss = mtu - 40 - ((f->cfg & FZS_CFG_TS) ? 12 : 0);
    if (!ram) {
        ram = g_malloc0(FZS_RAM);       /* kept zero between inputs */
    }
    fe_init_on_ram(&f->h, ram, FZS_OWN_MAC, &f->clock, FZS_RAM, 8,
                   4u << 20);
    f->h.emit = fzs_emit;
    f->h.emit_ctx = f;
    f->h.on_event = fzs_on_event;
    f->h.ev_ctx = f;
    if (f->cfg & FZS_CFG_IND) {
        f->h.indicate = fzs_indicate;
        f->h.ind_ctx = f;
    }
    if (fe_set_params(&f->h, 1000, 2, 200, 500) != CHIMNEY_ST_SUCCESS) {
        abort();
    }
    mem = fe_mem(&f->h);
    raw_init_at(&r, &mem, fe_alloc(&f->h, 4096), 4096);
    n = raw_neigh(&r, FZS_PEER_MAC, 0);
    p = raw_path4(&r, 1, 2, mtu);
    raw_dep(&r, n, p);
    for (k = 0; k < f->nconn; k++) {
        FzsConn *c = &f->c[k];
        ChimneyTestTcpState s;

        c->lport = 1000 + k;
        c->iss = (f->cfg & FZS_CFG_WRAP) ? 0xffffff00u - k * 5000 :
                 5000 + k * 100000;
        c->irs = (f->cfg & FZS_CFG_WRAP) ? 0xfffffc00u - k * 7000 :
                 1000 + k * 100000;
        c->peer_ts = 7000;
        fe_tcp_side(&s, c->lport, 80, c->iss, c->irs, 100, c->peer_ts, wnd,
                    f->cfg & FZS_CFG_TS, f->wscale);
        if (f->cfg & FZS_CFG_NAGLE) {
            s.k.flags = GUINT16_TO_LE(CHIMNEY_TCP_CACHED_NAGLE);
        }
        t[k] = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, &s,
                         sizeof(s));
        if (k) {
            raw_next(&r, t[k - 1], t[k]);
        }
        c->snd_end = c->iss;
        c->sent_hi = c->iss;
        c->acked_hi = c->iss;
        c->deliv = c->irs;
        c->peer_hi = c->irs;
        c->eng_ts = 100;
    }
    raw_dep(&r, p, t[0]);
    raw_put(&r);
    if (fe_cmd(&f->h, CHIMNEY_CMD_INITIATE, 0, n, 0, 0, NULL) !=
        CHIMNEY_ST_SUCCESS) {
        abort();
    }
    for (k = 0; k < f->nconn; k++) {
        if (raw_status(&r, t[k]) != CHIMNEY_ST_SUCCESS) {
            abort();
        }
        f->c[k].handle = raw_handle(&r, t[k]);
    }
    raw_free(&r);
    fzs_events(f);
}

/* TERMINATE each connection without delegated state: what is left
 * completes now, so nothing may stay owed. */
static void fzs_finish(Fzs *f)
{
    ChimneyTestMem mem = fe_mem(&f->h);
    unsigned k;

    for (k = 0; k < f->nconn; k++) {
        FzsConn *c = &f->c[k];
        ChimneyTestRaw r;
        uint64_t t, a = fzs_buf(f, 256);

        if (!a) {
            f->h.alloc_next = FE_RAM_BASE + FZS_RAM - 4096;
            a = fe_alloc(&f->h, 256);
        }
        raw_init_at(&r, &mem, a, 256);
        t = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, c->handle,
                      NULL, 0);
        raw_put(&r);
        fe_cmd(&f->h, CHIMNEY_CMD_TERMINATE, 0, t, 0, 0, NULL);
        if (raw_status(&r, t) != CHIMNEY_ST_SUCCESS) {
            fzs_violation("conn %u: TERMINATE status 0x%x", k,
                          raw_status(&r, t));
        }
        raw_free(&r);
        fzs_events(f);
        if (c->sendq.len || c->recvq.len || c->fwdq.len || c->discq.len) {
            fzs_violation("conn %u: requests never completed: %u SEND, %u "
                          "RECV_POST, %u FORWARD, %u DISCONNECT", k,
                          c->sendq.len, c->recvq.len, c->fwdq.len,
                          c->discq.len);
        }
    }
}

static inline void chimney_fuzz_seg_one(const uint8_t *data, size_t size)
{
    Fzs *f = g_new0(Fzs, 1);
    unsigned guard;

    f->in = data;
    f->len = size;
    f->cfg = fzs_u8(f);
    f->frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    fzs_setup(f);
    for (guard = 0; guard < 2048 && f->pos < f->len; guard++) {
        fzs_op(f, fzs_u8(f));
    }
    fzs_finish(f);
    memset(f->h.ram, 0, f->h.alloc_next - FE_RAM_BASE);
    fe_fini(&f->h);
    g_ptr_array_unref(f->frames);
    g_free(f);
}

#endif /* CHIMNEY_FUZZ_SEG_H */
