/*
 * chimney-nic TCP engine: selective acknowledgments (RFC 2018) on
 * connections that negotiated them (TCP_CONST_SACK).  As receiver the
 * device reports the data it holds out of order in every pure ACK; as
 * sender it keeps a scoreboard of what the peer reported and, in fast
 * recovery, resends the holes one per duplicate ACK instead of waiting
 * for each partial acknowledgment (the loss recovery of RFC 6675 in its
 * simplest form: one retransmission per departing segment).  The
 * scoreboard is dropped on a retransmission timeout (RFC 2018 8:
 * the receiver may renege).  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

bool chimney_seq_ranges_add(ChimneySeqRange *r, uint32_t *n, uint32_t max,
                            uint32_t s, uint32_t e)
{
    uint32_t i, j;

    for (i = 0; i < *n; i++) {
        if (chimney_seq_lt(e, r[i].start)) {
            break;                      /* goes before range i */
        }
        if (chimney_seq_le(s, r[i].end)) {
            /* overlaps or touches range i: merge, then absorb followers */
            if (chimney_seq_lt(s, r[i].start)) {
                r[i].start = s;
            }
            if (chimney_seq_lt(r[i].end, e)) {
                r[i].end = e;
            }
            while (i + 1 < *n && chimney_seq_le(r[i + 1].start, r[i].end)) {
                if (chimney_seq_lt(r[i].end, r[i + 1].end)) {
                    r[i].end = r[i + 1].end;
                }
                for (j = i + 1; j + 1 < *n; j++) {
                    r[j] = r[j + 1];
                }
                (*n)--;
            }
            return true;
        }
    }
    if (*n == max) {
        return false;
    }
    for (j = *n; j > i; j--) {
        r[j] = r[j - 1];
    }
    r[i].start = s;
    r[i].end = e;
    (*n)++;
    return true;
}

uint8_t chimney_sack_blocks(const ChimneyTcpObj *o, uint32_t blocks[][2],
                            uint8_t max)
{
    const ChimneyTcpIo *io = o->io;
    uint32_t i, first = 0;
    uint8_t nb = 0;

    if (!io || !io->nooo || !(o->c.flags & CHIMNEY_TCP_CONST_SACK)) {
        return 0;
    }
    /* RFC 2018 4: the block holding the latest segment comes first */
    for (i = 0; i < io->nooo; i++) {
        if (chimney_seq_le(io->ooo[i].start, io->ooo_recent) &&
            chimney_seq_lt(io->ooo_recent, io->ooo[i].end)) {
            first = i;
        }
    }
    blocks[nb][0] = io->ooo[first].start;
    blocks[nb][1] = io->ooo[first].end;
    nb++;
    for (i = 0; i < io->nooo && nb < max; i++) {
        if (i != first) {
            blocks[nb][0] = io->ooo[i].start;
            blocks[nb][1] = io->ooo[i].end;
            nb++;
        }
    }
    return nb;
}

/* Bytes of the scoreboard (for telling whether a block added any). */
static uint64_t sacked_bytes(const ChimneyTcpIo *io)
{
    uint64_t n = 0;
    uint32_t i;

    for (i = 0; i < io->nsacked; i++) {
        n += io->sacked[i].end - io->sacked[i].start;
    }
    return n;
}

bool chimney_sack_update(ChimneyTcpObj *o, const uint8_t nsack,
                         const uint32_t sack[][2])
{
    ChimneyTcpIo *io = o->io;
    uint32_t una = o->d.snd_una, i, k;
    uint64_t before;

    if (!io || !(o->c.flags & CHIMNEY_TCP_CONST_SACK)) {
        return false;
    }
    /* what SndUna passed is no longer selective */
    for (i = 0, k = 0; i < io->nsacked; i++) {
        if (chimney_seq_lt(una, io->sacked[i].end)) {
            io->sacked[k] = io->sacked[i];
            if (chimney_seq_lt(io->sacked[k].start, una)) {
                io->sacked[k].start = una;
            }
            k++;
        }
    }
    io->nsacked = k;
    before = sacked_bytes(io);
    for (i = 0; i < nsack; i++) {
        /* only blocks inside (SndUna, SndMax] count (RFC 2018 / 5961) */
        if (!chimney_seq_lt(una, sack[i][0]) ||
            !chimney_seq_lt(sack[i][0], sack[i][1]) ||
            chimney_seq_lt(o->d.snd_max, sack[i][1])) {
            continue;
        }
        chimney_seq_ranges_add(io->sacked, &io->nsacked, CHIMNEY_IO_OOO_MAX,
                               sack[i][0], sack[i][1]);
    }
    return sacked_bytes(io) > before;
}

bool chimney_sack_retransmit_next(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t seq, end, i;

    if (!io || !io->nsacked) {
        return false;
    }
    seq = chimney_seq_lt(io->rexmit_hint, o->d.snd_una) ? o->d.snd_una :
          io->rexmit_hint;
    /* the first byte at or after the hint that the peer does not hold */
    for (i = 0; i < io->nsacked; i++) {
        if (chimney_seq_le(io->sacked[i].start, seq) &&
            chimney_seq_lt(seq, io->sacked[i].end)) {
            seq = io->sacked[i].end;
        }
    }
    /* holes lie below the highest SACKed byte only */
    for (i = 0; i < io->nsacked; i++) {
        if (chimney_seq_lt(seq, io->sacked[i].start)) {
            break;
        }
    }
    if (i == io->nsacked) {
        return false;
    }
    end = io->sacked[i].start;
    if (!chimney_tcp_resend_range(eng, idx, seq, end - seq)) {
        return false;
    }
    io->rexmit_hint = seq + MIN(end - seq, chimney_tcp_eff_mss(eng, o));
    return true;
}
