/*
 * chimney-nic TCP engine: the data I/O commands SEND, RECV_POST,
 * DISCONNECT, FORWARD, IND_DONE and RECV_FLUSH (spec "Data I/O", "Common
 * rules").
 * C + GLib only.
 *
 * chimney_io_command() checks a request in the order of the spec's table
 * and queues it; its CMD_DONE reports acceptance.  Everything the request
 * then causes (segments, completions, indications) happens in
 * chimney_io_after_command(), after the core queued that CMD_DONE, so a
 * request's completion always follows its CMD_DONE.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_hdr.h"
#include "chimney_io.h"
#include "chimney_parse.h"
#include "chimney_tcp.h"

/* Largest FORWARD segment: a TCP segment in one IPv4 datagram. */
#define FORWARD_MAX_LEN     (65535u - CHIMNEY_IPV4_HLEN)

bool chimney_io_handles_opcode(uint16_t opcode)
{
    switch (opcode) {
    case CHIMNEY_CMD_SEND:
    case CHIMNEY_CMD_RECV_POST:
    case CHIMNEY_CMD_DISCONNECT:
    case CHIMNEY_CMD_FORWARD:
    case CHIMNEY_CMD_IND_DONE:
    case CHIMNEY_CMD_RECV_FLUSH:
        return true;
    default:
        return false;
    }
}

static const char *opname(uint16_t op)
{
    switch (op) {
    case CHIMNEY_CMD_SEND:
        return "SEND";
    case CHIMNEY_CMD_RECV_POST:
        return "RECV_POST";
    case CHIMNEY_CMD_DISCONNECT:
        return "DISCONNECT";
    case CHIMNEY_CMD_FORWARD:
        return "FORWARD";
    case CHIMNEY_CMD_RECV_FLUSH:
        return "RECV_FLUSH";
    default:
        return "IND_DONE";
    }
}

/* Opcode-specific length and flag checks (second row of the table). */
static uint32_t check_args(ChimneyEngine *eng, uint16_t op, uint16_t flags,
                           uint32_t len)
{
    const char *why = NULL;
    uint32_t st = CHIMNEY_ST_SUCCESS;

    switch (op) {
    case CHIMNEY_CMD_SEND:
        if (!len) {
            why = "len 0";
            st = CHIMNEY_ST_BAD_LENGTH;
        } else if (flags & ~CHIMNEY_SENDF_PUSH) {
            why = "unknown flags";
            st = CHIMNEY_ST_INVALID_PARAMETER;
        }
        break;
    case CHIMNEY_CMD_RECV_POST:
        if (flags & ~(CHIMNEY_RECVF_NO_PUSH | CHIMNEY_RECVF_SGL |
                      CHIMNEY_RECVF_HOLD)) {
            why = "unknown flags";
            st = CHIMNEY_ST_INVALID_PARAMETER;
        } else if ((flags & CHIMNEY_RECVF_SGL) &&
                   (!len || len > CHIMNEY_RECV_SGL_MAX)) {
            why = "list entries not 1..64";
            st = CHIMNEY_ST_BAD_LENGTH;
        }
        break;
    case CHIMNEY_CMD_RECV_FLUSH:
        if (flags || len) {
            why = "flags or len not 0";
            st = CHIMNEY_ST_INVALID_PARAMETER;
        }
        break;
    case CHIMNEY_CMD_DISCONNECT:
        if (flags != CHIMNEY_DISC_GRACEFUL && flags != CHIMNEY_DISC_ABORTIVE &&
            flags != (CHIMNEY_DISC_GRACEFUL | CHIMNEY_DISC_RCV_CLOSED) &&
            flags != CHIMNEY_DISC_RCV_CLOSED) {
            why = "flags not GRACEFUL [| RCV_CLOSED], RCV_CLOSED or ABORTIVE";
            st = CHIMNEY_ST_INVALID_PARAMETER;
        }
        break;
    case CHIMNEY_CMD_FORWARD:
        if (len < CHIMNEY_TCP_HLEN || len > FORWARD_MAX_LEN) {
            why = "segment length not 20..65515";
            st = CHIMNEY_ST_BAD_LENGTH;
        }
        break;
    default:
        break;
    }
    if (why) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: %s: %s",
                                opname(op), why);
    }
    return st;
}

/*
 * FORWARD: the host hands over a segment it received (TCP header on).
 * It is put in a frame as the peer would have sent it and processed like
 * one from the wire; its checksum is not verified (spec).
 */
static bool forward_segment(ChimneyEngine *eng, uint32_t idx,
                            const uint8_t *seg, uint32_t len)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyPathObj *p = chimney_path_at(eng, o->path);
    size_t ihl = p->ipv6 ? CHIMNEY_IPV6_HLEN : CHIMNEY_IPV4_HLEN;
    size_t flen = CHIMNEY_ETH_HLEN + ihl + len;
    uint8_t *f = g_malloc0(flen), *ip = f + CHIMNEY_ETH_HLEN, *th = ip + ihl;
    ChimneyRxParsed r;
    uint16_t csum;
    bool consumed = true;

    memcpy(f, eng->mac, 6);
    if (p->ipv6) {
        f[12] = 0x86;
        f[13] = 0xdd;
        ip[0] = 0x60;
        ip[4] = len >> 8;
        ip[5] = len;
        ip[6] = CHIMNEY_IPPROTO_TCP;
        ip[7] = 64;
        memcpy(ip + 8, p->dst, 16);
        memcpy(ip + 24, p->src, 16);
    } else {
        f[12] = 0x08;
        ip[0] = 0x45;
        ip[2] = (ihl + len) >> 8;
        ip[3] = ihl + len;
        ip[8] = 64;
        ip[9] = CHIMNEY_IPPROTO_TCP;
        memcpy(ip + 12, p->dst, 4);
        memcpy(ip + 16, p->src, 4);
        csum = chimney_ip_checksum(ip, ihl);
        ip[10] = csum >> 8;
        ip[11] = csum;
    }
    memcpy(th, seg, len);
    th[16] = th[17] = 0;
    csum = chimney_tcp_checksum(p->ipv6, p->dst, p->src, th, len);
    th[16] = csum >> 8;
    th[17] = csum;
    if (chimney_parse_frame(f, flen, &r) && r.is_tcp && r.tcp_header_ok &&
        r.tcp_options_ok) {
        consumed = chimney_tcp_segment(eng, idx, &r, f + r.payload_off);
    } else {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                "FORWARD: malformed TCP header; dropped");
    }
    g_free(f);
    return consumed;
}

typedef ChimneyIoAfter IoAfter;

static IoAfter *io_after(ChimneyEngine *eng)
{
    return &eng->io_after;
}

/*
 * RECVF_SGL: read the list once to check it and size the request (spec
 * "RECV_POST"); the pieces are read again as data reaches them.
 */
static uint32_t recv_sgl_check(ChimneyEngine *eng, ChimneyRecvReq *r)
{
    uint64_t total = 0, addr;
    uint32_t i, len;
    int rc;

    for (i = 0; i < r->nsge; i++) {        /* nsge <= RECV_SGL_MAX */
        rc = chimney_io_sge_read(eng, r->addr, i, &addr, &len);
        if (rc < 0) {
            chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA, "chimney-nic: "
                                    "RECV_POST: list not readable");
            return CHIMNEY_ST_DMA_ERROR;
        }
        if (rc) {
            chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                    "RECV_POST: list entry %u: length 0 "
                                    "or reserved field set", i);
            return CHIMNEY_ST_INVALID_PARAMETER;
        }
        total += len;
    }
    if (total > 0x7fffffffu) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                "RECV_POST: list of more than 2^31 - 1 "
                                "bytes");
        return CHIMNEY_ST_BAD_LENGTH;
    }
    r->len = (uint32_t)total;
    return CHIMNEY_ST_SUCCESS;
}

static uint32_t queue_send(ChimneyEngine *eng, ChimneyTcpObj *o,
                           ChimneyTcpIo *io, const ChimneyCmdDesc *cmd,
                           uint32_t flags)
{
    ChimneySendReq r = {
        .addr = GUINT64_FROM_LE(cmd->addr),
        .cookie = GUINT64_FROM_LE(cmd->cookie),
        .len = GUINT32_FROM_LE(cmd->len),
        .start = io->snd_end,
        .flags = flags,
    };

    /* at most 2^31 bytes queued, so sequence offsets stay unambiguous */
    if ((uint64_t)(io->snd_end - o->d.snd_una) + r.len > 0x7fffffffu ||
        !chimney_io_sq_push(eng, io, &r)) {
        return CHIMNEY_ST_RESOURCES;
    }
    io->snd_end += r.len;
    return CHIMNEY_ST_SUCCESS;
}

/* A request the device has no room for (spec "Common rules"). */
static uint32_t no_room(ChimneyEngine *eng, uint16_t op, uint32_t idx)
{
    chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: %s on "
                            "connection %u: no room (request limits or "
                            "memory budget): RESOURCES", opname(op), idx);
    return CHIMNEY_ST_RESOURCES;
}

uint32_t chimney_io_command(ChimneyEngine *eng, const ChimneyCmdDesc *cmd)
{
    uint16_t op = GUINT16_FROM_LE(cmd->opcode);
    uint16_t flags = GUINT16_FROM_LE(cmd->flags);
    uint32_t len = GUINT32_FROM_LE(cmd->len), idx, st;
    IoAfter *a = io_after(eng);
    ChimneyTcpObj *o;
    ChimneyTcpIo *io;

    memset(a, 0, sizeof(*a));
    o = chimney_offload_lookup(eng, GUINT64_FROM_LE(cmd->handle),
                               CHIMNEY_KIND_TCP, &idx);
    if (!o) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: %s for "
                                "bad handle 0x%" G_GINT64_MODIFIER "x",
                                opname(op),
                                (uint64_t)GUINT64_FROM_LE(cmd->handle));
        return CHIMNEY_ST_BAD_HANDLE;
    }
    st = check_args(eng, op, flags, len);
    if (st != CHIMNEY_ST_SUCCESS) {
        return st;
    }
    if (op == CHIMNEY_CMD_IND_DONE) {
        st = chimney_deliver_ind_done(eng, idx, len);
        if (st != CHIMNEY_ST_SUCCESS) {
            chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                    "IND_DONE(%u) on connection %u: %s", len,
                                    idx, st == CHIMNEY_ST_INVALID_STATE ?
                                    "no indication outstanding" :
                                    "more than was indicated");
            return st;
        }
        a->opcode = op;
        a->idx = idx;
        return st;
    }
    if (op == CHIMNEY_CMD_RECV_FLUSH) {
        /* gives buffers back: also when aborted or an upload is pending */
        a->opcode = op;
        a->idx = idx;
        return CHIMNEY_ST_SUCCESS;
    }
    if (o->io && o->io->aborted) {
        return CHIMNEY_ST_REQUEST_ABORTED;
    }
    /*
     * Upload pending: a mandatory upload request, invalidated state, or
     * offload disabled (UPLOAD_ALL was posted; rules 050, 122)
     */
    if (o->retrieve_pending || o->invalid || !eng->enabled) {
        return CHIMNEY_ST_UPLOAD_IN_PROGRESS;
    }
    io = chimney_io_get(eng, o);
    if (op == CHIMNEY_CMD_SEND || op == CHIMNEY_CMD_RECV_POST ||
        (op == CHIMNEY_CMD_DISCONNECT && (flags & CHIMNEY_DISC_GRACEFUL))) {
        bool closed = io && (op == CHIMNEY_CMD_RECV_POST ?
                             io->disc_indicated :
                             io->fin_queued || io->disc_pending ||
                             io->fin_sent);

        if (closed && op == CHIMNEY_CMD_RECV_POST) {
            /*
             * Not a guest error (spec "Error handling": INVALID_STATE is
             * not one): EVT_TCP_DISCONNECT may be in the EVT ring, not
             * yet seen, when the host posts its next receive buffer.
             */
            return CHIMNEY_ST_INVALID_STATE;
        }
        if (closed || (op != CHIMNEY_CMD_RECV_POST &&
                       o->d.state != CHIMNEY_TCPS_ESTABLISHED &&
                       o->d.state != CHIMNEY_TCPS_CLOSE_WAIT)) {
            chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: %s "
                                    "on connection %u: %s side closed",
                                    opname(op), idx,
                                    op == CHIMNEY_CMD_RECV_POST ?
                                    "receive" : "send");
            return CHIMNEY_ST_INVALID_STATE;
        }
    }
    if (!io) {
        return no_room(eng, op, idx);
    }
    switch (op) {
    case CHIMNEY_CMD_SEND:
        st = queue_send(eng, o, io, cmd, (flags & CHIMNEY_SENDF_PUSH) ?
                        CHIMNEY_SREQ_PUSH : 0);
        if (st == CHIMNEY_ST_SUCCESS) {
            io->nsend++;
        } else {
            no_room(eng, op, idx);
        }
        break;
    case CHIMNEY_CMD_RECV_POST: {
        ChimneyRecvReq r = {
            .addr = GUINT64_FROM_LE(cmd->addr),
            .cookie = GUINT64_FROM_LE(cmd->cookie),
            .len = len,
            .flags = flags,
        };

        if (flags & CHIMNEY_RECVF_SGL) {
            r.nsge = len;
            st = recv_sgl_check(eng, &r);
            if (st != CHIMNEY_ST_SUCCESS) {
                return st;
            }
        }
        st = chimney_io_rq_push(eng, io, &r) ? CHIMNEY_ST_SUCCESS :
             no_room(eng, op, idx);
        break;
    }
    case CHIMNEY_CMD_DISCONNECT:
        if (flags == CHIMNEY_DISC_RCV_CLOSED) {
            /* receive side only: complete at CMD_DONE (spec DISCONNECT) */
            io->rcv_closed = true;
        } else if (flags & CHIMNEY_DISC_GRACEFUL) {
            if (eng->io_reqs >= CHIMNEY_IO_MAX_TOTAL) {
                return no_room(eng, op, idx);
            }
            if (len) {
                st = queue_send(eng, o, io, cmd,
                                CHIMNEY_SREQ_DISC | CHIMNEY_SREQ_PUSH);
                if (st != CHIMNEY_ST_SUCCESS) {
                    return no_room(eng, op, idx);
                }
            }
            eng->io_reqs++;
            io->disc_pending = true;
            io->fin_queued = true;
            io->disc_cookie = GUINT64_FROM_LE(cmd->cookie);
            io->disc_len = len;
            /* spec DISCONNECT "Receive side closed": from now on */
            if (flags & CHIMNEY_DISC_RCV_CLOSED) {
                io->rcv_closed = true;
            }
        }
        break;
    case CHIMNEY_CMD_FORWARD:
        a->seg = g_try_malloc(len);
        if (!a->seg) {
            return no_room(eng, op, idx);
        }
        if (chimney_eng_dma_read(eng, GUINT64_FROM_LE(cmd->addr), a->seg,
                                 len) < 0) {
            g_free(a->seg);
            a->seg = NULL;
            chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA, "chimney-nic: "
                                    "FORWARD segment not readable");
            return CHIMNEY_ST_DMA_ERROR;
        }
        a->seg_len = len;
        break;
    }
    if (st == CHIMNEY_ST_SUCCESS) {
        a->opcode = op;
        a->flags = flags;
        a->idx = idx;
        a->cookie = GUINT64_FROM_LE(cmd->cookie);
    }
    return st;
}

/* Abortive DISCONNECT: RST, every send aborted, then DISC_DONE. */
static void disconnect_abortive(ChimneyEngine *eng, uint32_t idx,
                                uint64_t cookie)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;

    chimney_tcp_send_rst(eng, o);
    io->aborted = true;
    chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSED);
    /* a pending graceful DISCONNECT completes first (spec) */
    chimney_io_abort_requests(eng, idx, true);
    chimney_io_complete(eng, idx, CHIMNEY_EVT_DISC_DONE, cookie,
                        CHIMNEY_ST_SUCCESS, 0);
}

void chimney_io_after_command(ChimneyEngine *eng)
{
    IoAfter *a = io_after(eng);
    uint16_t op = a->opcode;
    ChimneyTcpObj *o;
    uint32_t st;

    a->opcode = 0;
    if (!op) {
        return;
    }
    o = chimney_tcp_at(eng, a->idx);
    switch (op) {
    case CHIMNEY_CMD_SEND:
        chimney_tcp_output(eng, a->idx);
        break;
    case CHIMNEY_CMD_RECV_POST:
        o->io->suppressed = false;              /* event A */
        chimney_deliver(eng, a->idx);
        break;
    case CHIMNEY_CMD_IND_DONE:
        chimney_deliver(eng, a->idx);
        break;
    case CHIMNEY_CMD_RECV_FLUSH:
        chimney_deliver_flush(eng, a->idx);
        break;
    case CHIMNEY_CMD_DISCONNECT:
        if (a->flags == CHIMNEY_DISC_ABORTIVE) {
            disconnect_abortive(eng, a->idx, a->cookie);
        } else {
            chimney_tcp_output(eng, a->idx);
        }
        break;
    case CHIMNEY_CMD_FORWARD:
        st = forward_segment(eng, a->idx, a->seg, a->seg_len) ?
             CHIMNEY_ST_SUCCESS : CHIMNEY_ST_UPLOAD_IN_PROGRESS;
        g_free(a->seg);
        a->seg = NULL;
        if (o->in_use) {
            if (o->io->aborted) {
                st = CHIMNEY_ST_REQUEST_ABORTED;
            }
            chimney_io_complete(eng, a->idx, CHIMNEY_EVT_FORWARD_DONE,
                                a->cookie, st, 0);
        }
        break;
    }
}
