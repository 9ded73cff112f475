/*
 * chimney-nic offload engine: TERMINATE, the upload (spec "Terminate
 * offload").  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_tree.h"
#include "chimney_io.h"
#include "chimney_tcp.h"

/*
 * Terminate offload (upload)
 */

static uint32_t terminate_dma_error(Tree *t, TreeNode *n, const char *what)
{
    chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                             "chimney-nic: terminate block 0x%"
                             G_GINT64_MODIFIER "x: %s not writable; the "
                             "connection stays offloaded", n->addr, what);
    return CHIMNEY_ST_DMA_ERROR;
}

/* Buffered bytes the posted RECV_POST requests will take (step 4). */
static uint32_t terminate_fits_posted(ChimneyTcpObj *o)
{
    ChimneyTcpIo *io = o->io;
    uint64_t room = 0;
    uint32_t i;

    if (!io) {
        return 0;
    }
    for (i = 0; i < io->rq_len && room < io->rcv_len; i++) {
        ChimneyRecvReq *r = chimney_io_rq_at(io, i);

        room += r->len - r->filled;
    }
    return (uint32_t)MIN(room, io->rcv_len);
}

/*
 * Step 4's placement: buffered bytes into the posted requests, in order,
 * before step 3 returns the rest, so that a request whose buffer cannot
 * be written passes its bytes on to the next request or to the returned
 * data rather than losing them.  Such a request completes with DMA_ERROR
 * in terminate_tcp_complete_rest().
 */
static void terminate_place_posted(Tree *t, ChimneyTcpObj *o)
{
    ChimneyTcpIo *io = o->io;
    uint32_t i;

    for (i = 0; io && i < io->rq_len && io->rcv_len; i++) {
        ChimneyRecvReq *r = chimney_io_rq_at(io, i);
        bool dma_err;

        if (r->flags & CHIMNEY_RREQ_DMA_FAILED) {
            continue;
        }
        chimney_rcvbuf_consume(o, chimney_io_rq_place(t->ofl, r,
                                                      chimney_rcvbuf_head(o),
                                                      io->rcv_len,
                                                      &dma_err));
        if (dma_err) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA, "chimney-nic: "
                                    "connection %u: RECV_POST buffer not "
                                    "writable", o->idx);
            r->flags |= CHIMNEY_RREQ_DMA_FAILED;
        }
    }
}

static uint32_t terminate_tcp_data(Tree *t, TreeNode *n, ChimneyTcpObj *o,
                                   uint32_t off)
{
    ChimneyTcpIo *io = o->io;
    ChimneyTcpDelegated d;
    uint64_t list, rcv_addr;
    uint32_t cap, rcv_cap, i, nsq = io ? io->sq_len : 0;
    uint32_t rem = chimney_rcvbuf_len(o) - terminate_fits_posted(o);

    memcpy(&d, chimney_tree_state(t, n) + off, sizeof(d));
    list = GUINT64_FROM_LE(d.send_list_addr);
    cap = GUINT32_FROM_LE(d.send_list_cap);
    rcv_addr = GUINT64_FROM_LE(d.rcv_data_addr);
    rcv_cap = GUINT32_FROM_LE(d.rcv_data_cap);

    /* step 1: nothing is given back unless everything fits */
    if (cap < nsq || rcv_cap < rem) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: terminate block 0x%"
                                 G_GINT64_MODIFIER "x: return space for %u "
                                 "sends / %u bytes, need %u / %u", n->addr,
                                 cap, rcv_cap, nsq, rem);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    /* rule 043: the original requests, in their original order */
    for (i = 0; i < nsq; i++) {
        ChimneySendReq *r = chimney_io_sq_at(io, i);
        ChimneySendBuf b = {
            .addr = GUINT64_TO_LE(r->addr),
            .len = GUINT32_TO_LE(r->len),
            .acked = GUINT32_TO_LE(r->acked),
            .cookie = GUINT64_TO_LE((r->flags & CHIMNEY_SREQ_DISC) ?
                                    io->disc_cookie : r->cookie),
        };

        if (chimney_eng_dma_write(t->ofl, list + i * sizeof(b), &b,
                                   sizeof(b)) < 0) {
            return terminate_dma_error(t, n, "send list");
        }
    }
    /* rule 045: undelivered data the posted requests do not take */
    terminate_place_posted(t, o);
    rem = chimney_rcvbuf_len(o);
    if (rem > rcv_cap) {
        /* more came back than was counted: a request could not be written */
        return terminate_dma_error(t, n, "RECV_POST buffer");
    }
    if (rem &&
        chimney_eng_dma_write(t->ofl, rcv_addr, chimney_rcvbuf_head(o),
                              rem) < 0) {
        return terminate_dma_error(t, n, "receive data buffer");
    }
    chimney_conv_tcp_delegated_store(t->ofl, o, &d, false);
    d.send_list_addr = GUINT64_TO_LE(list);
    d.send_list_count = GUINT32_TO_LE(nsq);
    d.send_list_cap = GUINT32_TO_LE(cap);
    d.rcv_data_addr = GUINT64_TO_LE(rcv_addr);
    d.rcv_data_len = GUINT32_TO_LE(rem);
    d.rcv_data_cap = GUINT32_TO_LE(rcv_cap);
    /* the header stays as the host wrote it */
    if (chimney_eng_dma_write(t->ofl, n->addr + sizeof(ChimneyBlock) + off +
                               sizeof(ChimneyStateHdr),
                               (uint8_t *)&d + sizeof(ChimneyStateHdr),
                               sizeof(d) - sizeof(ChimneyStateHdr)) < 0) {
        return terminate_dma_error(t, n, "delegated state");
    }
    /* the returned requests belong to the host again: no SEND_DONE */
    while (io && io->sq_len) {
        chimney_io_sq_pop(t->ofl, io);
    }
    return CHIMNEY_ST_SUCCESS;
}

/*
 * TERMINATE without a delegated structure: the send requests are not handed
 * back, so each completes with SEND_DONE(UPLOAD_IN_PROGRESS) (the host stack
 * resends the data itself); undelivered receive data is discarded.
 */
static void terminate_tcp_complete_sends(Tree *t, ChimneyTcpObj *o,
                                         uint32_t idx)
{
    ChimneyTcpIo *io = o->io;

    while (io && io->sq_len) {
        ChimneySendReq *r = chimney_io_sq_at(io, 0);

        if (!(r->flags & CHIMNEY_SREQ_DISC)) {
            chimney_io_complete(t->ofl, idx, CHIMNEY_EVT_SEND_DONE,
                                r->cookie, CHIMNEY_ST_UPLOAD_IN_PROGRESS,
                                r->acked);
        }
        chimney_io_sq_pop(t->ofl, io);
    }
}

/* Steps 4 and 5: posted receives and an outstanding DISCONNECT. */
static void terminate_tcp_complete_rest(Tree *t, ChimneyTcpObj *o,
                                        uint32_t idx)
{
    ChimneyTcpIo *io = o->io;

    if (!io) {
        return;
    }
    /* with a delegated structure step 3 placed the data already */
    terminate_place_posted(t, o);
    while (io->rq_len) {
        ChimneyRecvReq *r = chimney_io_rq_at(io, 0);
        uint32_t st = (r->flags & CHIMNEY_RREQ_DMA_FAILED) ?
                      CHIMNEY_ST_DMA_ERROR :
                      r->filled ? CHIMNEY_ST_SUCCESS :
                      CHIMNEY_ST_UPLOAD_IN_PROGRESS;

        chimney_io_complete(t->ofl, idx, CHIMNEY_EVT_RECV_DONE, r->cookie,
                            st, r->filled);
        chimney_io_rq_pop(io);
        t->ofl->io_reqs--;
    }
    if (io->disc_pending) {
        io->disc_pending = false;
        t->ofl->io_reqs--;
        chimney_io_complete(t->ofl, idx, CHIMNEY_EVT_DISC_DONE,
                            io->disc_cookie, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0);
    }
}

/* Resolve a terminate block when the walk reaches it (pre-order). */
static uint32_t terminate_resolve(Tree *t, TreeNode *n)
{
    uint32_t st, off = 0;

    st = chimney_tree_resolve(t, n, "terminate");
    if (st != CHIMNEY_ST_SUCCESS) {
        return st;
    }
    if (n->state_len) {
        size_t need = n->layer == LAYER_NEIGH ? sizeof(ChimneyNeighDelegated) :
                      n->layer == LAYER_PATH ? sizeof(ChimneyPathDelegated) :
                      sizeof(ChimneyTcpDelegated);

        if (!chimney_tree_take(t, n, &off, need)) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: terminate block 0x%"
                                     G_GINT64_MODIFIER "x: delegated "
                                     "structure too short", n->addr);
            return CHIMNEY_ST_BAD_LENGTH;
        }
    }
    return chimney_tree_check_end(t, n, off);
}

/* Terminate one object after its dependents in the tree (post-order). */
static uint32_t terminate_apply(Tree *t, TreeNode *n)
{
    uint32_t idx = n->obj;
    bool st = n->state_len != 0;

    if (n->layer == LAYER_NEIGH) {
        ChimneyNeighObj *o = chimney_neigh_at(t->ofl, idx);
        ChimneyNeighDelegated d;

        if (o->npaths) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: terminate of neighbor "
                                     "0x%" G_GINT64_MODIFIER "x with %u "
                                     "paths not listed", n->handle,
                                     o->npaths);
            return CHIMNEY_ST_HAS_DEPENDENTS;
        }
        if (st) {
            /* the header stays as the host wrote it */
            chimney_conv_neigh_store(o, NULL, NULL, &d,
                                     chimney_tcp_neigh_nrd(t->ofl, o));
            if (chimney_eng_dma_write(t->ofl, n->addr + sizeof(ChimneyBlock) +
                                       sizeof(ChimneyStateHdr),
                                       (uint8_t *)&d + sizeof(d.hdr),
                                       sizeof(d) - sizeof(d.hdr)) < 0) {
                return terminate_dma_error(t, n, "delegated state");
            }
        }
    } else if (n->layer == LAYER_PATH) {
        ChimneyPathObj *o = chimney_path_at(t->ofl, idx);

        if (o->ntcp) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: terminate of path 0x%"
                                     G_GINT64_MODIFIER "x with %u "
                                     "connections not listed", n->handle,
                                     o->ntcp);
            return CHIMNEY_ST_HAS_DEPENDENTS;
        }
        /* a path has no delegated variables: nothing is written */
        chimney_path_unlink(t->ofl, idx);
    } else {
        ChimneyTcpObj *o = chimney_tcp_at(t->ofl, idx);
        uint32_t r;

        /* rule 040: flush what a delayed ACK would have said */
        chimney_tcp_before_upload(t->ofl, o);
        if (st) {
            r = terminate_tcp_data(t, n, o, 0);
            if (r != CHIMNEY_ST_SUCCESS) {
                return r;
            }
        } else {
            terminate_tcp_complete_sends(t, o, idx);
        }
        terminate_tcp_complete_rest(t, o, idx);
        /* rule 048: from now on its frames go up the host path */
        chimney_demux_remove(t->ofl, idx);
        chimney_offload_cancel_retrieve(t->ofl, idx);
        chimney_tcp_unlink(t->ofl, idx);
    }
    n->done = true;
    return CHIMNEY_ST_SUCCESS;
}

void chimney_tree_terminate(Tree *t, uint32_t first)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = chimney_tree_node(t, i)->next) {
        TreeNode *n = chimney_tree_node(t, i);

        if (n->role == CHIMNEY_ROLE_PLACEHOLDER) {
            chimney_tree_terminate(t, n->first_dep);
            chimney_tree_node(t, i)->status = CHIMNEY_ST_SUCCESS;
            continue;
        }
        n->status = terminate_resolve(t, n);
        if (n->status != CHIMNEY_ST_SUCCESS) {
            chimney_tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
            continue;
        }
        /* dependents first so parents see their reference counts drop */
        chimney_tree_terminate(t, n->first_dep);
        n = chimney_tree_node(t, i);
        n->status = terminate_apply(t, n);
    }
}

/* rule 047: resources go only once the results are written back. */
void chimney_tree_release(Tree *t)
{
    uint32_t i;

    for (i = 0; i < t->nodes->len; i++) {
        TreeNode *n = chimney_tree_node(t, i);

        if (!n->done) {
            continue;
        }
        if (n->layer == LAYER_NEIGH) {
            chimney_table_release(&t->ofl->neigh, n->obj);
        } else if (n->layer == LAYER_PATH) {
            chimney_table_release(&t->ofl->path, n->obj);
        } else {
            chimney_tcp_release_data(t->ofl, n->obj);
            chimney_table_release(&t->ofl->tcp, n->obj);
        }
    }
}
