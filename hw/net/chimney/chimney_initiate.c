/*
 * chimney-nic offload engine: INITIATE (spec "Initiate offload").
 * C + GLib only.
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
 * Initiate offload
 */

static bool vlan_allowed(ChimneyEngine *ofl, uint16_t vid)
{
    uint32_t i;

    bool any_nonzero = false;

    /* rule 032: interface VLAN 0, or neighbor VLAN 0, never fails */
    if (vid == 0) {
        return true;
    }
    for (i = 0; i < ofl->nvlans; i++) {
        if (ofl->vlans[i] == vid) {
            return true;
        }
        any_nonzero |= ofl->vlans[i] != 0;
    }
    return !any_nonzero;
}

/*
 * The CONST, CACHED and DELEGATED structures after a new-offload block,
 * each at least its ABI size, filling the block exactly.
 */
static uint32_t take_new_state(Tree *t, TreeNode *n, size_t csize,
                               size_t ksize, size_t dsize, const void **c,
                               const void **k, const void **d)
{
    uint32_t off = 0;

    *c = chimney_tree_take(t, n, &off, csize);
    *k = *c ? chimney_tree_take(t, n, &off, ksize) : NULL;
    *d = *k ? chimney_tree_take(t, n, &off, dsize) : NULL;
    if (!*d) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: new-offload block 0x%"
                                 G_GINT64_MODIFIER "x: state lengths "
                                 "disagree", n->addr);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    return chimney_tree_check_end(t, n, off);
}

static uint32_t initiate_neigh(Tree *t, TreeNode *n)
{
    static const uint8_t zero_mac[6];
    const ChimneyNeighConst *c;
    const ChimneyNeighCached *k;
    const ChimneyNeighDelegated *d;
    ChimneyNeighObj *o;
    uint32_t idx;

    if (take_new_state(t, n, sizeof(*c), sizeof(*k), sizeof(*d),
                       (const void **)&c, (const void **)&k,
                       (const void **)&d) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (t->ofl->neigh.used >= t->ofl->neigh.capacity) {
        return CHIMNEY_ST_OFFLOAD_NEIGHBOR_ENTRIES;
    }
    /* rule 029: no software-settable source MAC on this device */
    if (memcmp(c->dl_src_addr, zero_mac, 6)) {
        return CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES;
    }
    if (!vlan_allowed(t->ofl, GUINT16_FROM_LE(c->vlan_id) & 0xfff)) {
        return CHIMNEY_ST_OFFLOAD_VLAN_MISMATCH;   /* rule 032 */
    }
    idx = chimney_table_alloc(&t->ofl->neigh);
    o = chimney_neigh_at(t->ofl, idx);
    chimney_conv_neigh_const(o, c);
    chimney_conv_neigh_cached(o, k);
    o->host_handle = n->host_handle;
    chimney_tcp_neigh_offloaded(t->ofl, o,
                                GUINT32_FROM_LE(d->nic_reachability_delta));
    n->obj = idx;
    n->created = true;
    n->out_handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_NEIGH, idx);
    return CHIMNEY_ST_SUCCESS;
}

static uint32_t initiate_path(Tree *t, TreeNode *n, uint32_t neigh)
{
    const ChimneyPathConst *c;
    const ChimneyPathCached *k;
    const void *d;
    ChimneyPathObj *o;
    uint32_t idx, mtu;
    bool ipv6 = n->type == CHIMNEY_TYPE_IP6;

    if (take_new_state(t, n, sizeof(*c), sizeof(*k),
                       sizeof(ChimneyPathDelegated), (const void **)&c,
                       (const void **)&k, &d) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (t->ofl->path.used >= t->ofl->path.capacity) {
        return CHIMNEY_ST_OFFLOAD_PATH_ENTRIES;
    }
    mtu = GUINT32_FROM_LE(k->path_mtu);
    if (mtu > CHIMNEY_MAX_PATH_MTU) {
        return CHIMNEY_ST_OFFLOAD_PATH_MTU;            /* rule 031 */
    }
    if (mtu < (ipv6 ? 1280u : 68u)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: path block 0x%"
                                 G_GINT64_MODIFIER "x: PathMtu %u below "
                                 "the IP minimum", n->addr, mtu);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    idx = chimney_table_alloc(&t->ofl->path);
    o = chimney_path_at(t->ofl, idx);
    o->ipv6 = ipv6;
    memcpy(o->src, c->src_addr, ipv6 ? 16 : 4);    /* rule 018: copied */
    memcpy(o->dst, c->dst_addr, ipv6 ? 16 : 4);
    o->path_mtu = mtu;
    o->host_handle = n->host_handle;
    chimney_path_link(t->ofl, idx, neigh);
    n->obj = idx;
    n->created = true;
    n->out_handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_PATH, idx);
    return CHIMNEY_ST_SUCCESS;
}

static bool tcp_state_offloadable(uint32_t state)
{
    /* rule 033 */
    switch (state) {
    case CHIMNEY_TCPS_ESTABLISHED:
    case CHIMNEY_TCPS_FIN_WAIT_1:
    case CHIMNEY_TCPS_FIN_WAIT_2:
    case CHIMNEY_TCPS_CLOSE_WAIT:
    case CHIMNEY_TCPS_CLOSING:
    case CHIMNEY_TCPS_LAST_ACK:
        return true;
    default:
        return false;
    }
}

/* Read and check the send list handed over at offload (rules 025-028). */
static uint32_t initiate_tcp_send_list(Tree *t, TreeNode *n,
                                       const ChimneyTcpDelegated *d,
                                       const ChimneyTcpDelegatedState *ds,
                                       ChimneySendReq **out, uint32_t *count)
{
    uint32_t nsend = GUINT32_FROM_LE(d->send_list_count), i;
    ChimneySendBuf *wire;
    ChimneySendReq *q;
    uint64_t total = 0;

    *out = NULL;
    *count = 0;
    if (nsend > MAX_SEND_LIST) {
        return CHIMNEY_ST_OFFLOAD_TCP_XMIT_BUFFER;
    }
    if (!nsend) {
        q = NULL;
    } else {
        wire = g_new(ChimneySendBuf, nsend);
        if (chimney_eng_dma_read(t->ofl, GUINT64_FROM_LE(d->send_list_addr),
                                  wire, nsend * sizeof(*wire)) < 0) {
            g_free(wire);
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                     "chimney-nic: TCP block 0x%"
                                     G_GINT64_MODIFIER "x: send list not "
                                     "readable", n->addr);
            return CHIMNEY_ST_DMA_ERROR;
        }
        q = g_new(ChimneySendReq, nsend);
        for (i = 0; i < nsend; i++) {
            q[i].addr = GUINT64_FROM_LE(wire[i].addr);
            q[i].len = GUINT32_FROM_LE(wire[i].len);
            q[i].acked = GUINT32_FROM_LE(wire[i].acked);
            q[i].cookie = GUINT64_FROM_LE(wire[i].cookie);
            total += q[i].len;
            if (!q[i].len || q[i].acked) {
                g_free(wire);
                g_free(q);
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: TCP block 0x%"
                                         G_GINT64_MODIFIER "x: send entry %u "
                                         "has len 0 or acked != 0", n->addr,
                                         i);
                return CHIMNEY_ST_INVALID_PARAMETER;
            }
        }
        g_free(wire);
    }
    /* [SndUna, SndNxt) and [SndNxt, SndMax) must lie inside that data. */
    if ((uint32_t)(ds->snd_nxt - ds->snd_una) >
        (uint32_t)(ds->snd_max - ds->snd_una) ||
        (uint64_t)(uint32_t)(ds->snd_max - ds->snd_una) > total) {
        g_free(q);
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: TCP block 0x%"
                                 G_GINT64_MODIFIER "x: SndUna/SndNxt/SndMax "
                                 "disagree with %" G_GUINT64_FORMAT
                                 " bytes of send data", n->addr, total);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    *out = q;
    *count = nsend;
    return CHIMNEY_ST_SUCCESS;
}

/* Queue the handed-over send requests (rules 026-028). */
static bool initiate_tcp_queue(ChimneyEngine *eng, ChimneyTcpObj *o,
                               ChimneySendReq *q, uint32_t nsend)
{
    ChimneyTcpIo *io = o->io;
    uint64_t total = 0;
    uint32_t i;

    for (i = 0; i < nsend; i++) {
        total += q[i].len;
    }
    /* sequence offsets must stay unambiguous (half the space) */
    if (total > 0x7fffffffu) {
        return false;
    }
    for (i = 0; i < nsend; i++) {
        q[i].start = io->snd_end;
        q[i].flags = 0;
        if (!chimney_io_sq_push(eng, io, &q[i])) {
            return false;
        }
        io->snd_end += q[i].len;
        io->nsend++;
    }
    return true;
}

static uint32_t initiate_tcp(Tree *t, TreeNode *n, uint32_t path)
{
    const ChimneyTcpConst *c;
    const ChimneyTcpCached *k;
    const ChimneyTcpDelegated *d;
    ChimneyTcpConstState cs;
    ChimneyTcpCachedState ks;
    ChimneyTcpDelegatedState ds;
    ChimneyTcpHandover ho;
    ChimneyPathObj *p = chimney_path_at(t->ofl, path);
    ChimneySendReq *sendq = NULL;
    uint32_t idx, nsend, rcv_len, st;
    bool send_dma_error;
    ChimneyTcpObj *o;

    if (take_new_state(t, n, sizeof(*c), sizeof(*k), sizeof(*d),
                       (const void **)&c, (const void **)&k,
                       (const void **)&d) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    chimney_conv_tcp_const(&cs, c);
    chimney_conv_tcp_cached(&ks, k);
    chimney_conv_tcp_delegated(&ds, &ho, d);

    /* Checked in the order of the spec's table. */
    if (t->ofl->tcp.used >= t->ofl->tcp.capacity) {
        return CHIMNEY_ST_OFFLOAD_TCP_ENTRIES;
    }
    if (!tcp_state_offloadable(ds.state) || cs.snd_wind_scale > 14 ||
        cs.rcv_wind_scale > 14 || cs.remote_mss == 0) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: TCP block 0x%"
                                 G_GINT64_MODIFIER "x: state %u, window "
                                 "scales %u/%u, MSS %u not acceptable",
                                 n->addr, ds.state, cs.snd_wind_scale,
                                 cs.rcv_wind_scale, cs.remote_mss);
        return CHIMNEY_ST_INVALID_PARAMETER;            /* rule 033 */
    }
    st = initiate_tcp_send_list(t, n, d, &ds, &sendq, &nsend);
    /* an unreadable send list ranks last in the spec's table */
    send_dma_error = st == CHIMNEY_ST_DMA_ERROR;
    if (st != CHIMNEY_ST_SUCCESS && !send_dma_error) {
        return st;
    }
    st = CHIMNEY_ST_SUCCESS;
    if (ks.initial_rcv_wnd > CHIMNEY_MAX_RCV_WND) {
        st = CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW;         /* rule 030 */
    } else if (GUINT32_FROM_LE(d->rcv_data_len) > CHIMNEY_RCV_BUF) {
        st = CHIMNEY_ST_OFFLOAD_TCP_RCV_BUFFER;         /* rule 023 */
    } else if (chimney_demux_lookup(t->ofl, p->ipv6, p->src, p->dst,
                                    cs.local_port, cs.remote_port) !=
               CHIMNEY_NO_INDEX) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: TCP block 0x%"
                                 G_GINT64_MODIFIER "x: 4-tuple already "
                                 "offloaded", n->addr);
        st = CHIMNEY_ST_DUPLICATE;
    } else if (send_dma_error) {
        st = CHIMNEY_ST_DMA_ERROR;
    }
    if (st != CHIMNEY_ST_SUCCESS) {
        g_free(sendq);      /* rule 025: the host keeps its send data */
        return st;
    }

    idx = chimney_table_alloc(&t->ofl->tcp);
    o = chimney_tcp_at(t->ofl, idx);
    o->idx = idx;
    o->hash_next = CHIMNEY_NO_INDEX;
    o->demux_bucket = CHIMNEY_NO_INDEX;
    o->evt_next = CHIMNEY_NO_INDEX;
    o->evt_prev = CHIMNEY_NO_INDEX;
    o->host_handle = n->host_handle;
    o->c = cs;
    o->k = ks;
    o->d = ds;
    o->path = path;
    o->ip_id = 0x8000;

    /*
     * The send list and buffered receive data go into the connection's
     * I/O state, from the data-buffer budget (rule 023, spec "Memory
     * budget"); only the list is copied, not the data (spec "Send list").
     */
    rcv_len = GUINT32_FROM_LE(d->rcv_data_len);
    st = CHIMNEY_ST_SUCCESS;
    if ((nsend || rcv_len) && !chimney_io_get(t->ofl, o)) {
        st = CHIMNEY_ST_RESOURCES;
    } else if (nsend && !initiate_tcp_queue(t->ofl, o, sendq, nsend)) {
        st = CHIMNEY_ST_RESOURCES;
    } else if (!chimney_rcvbuf_init(t->ofl, o, rcv_len)) {
        st = CHIMNEY_ST_RESOURCES;
    } else if (rcv_len &&
               chimney_eng_dma_read(t->ofl,
                                    GUINT64_FROM_LE(d->rcv_data_addr),
                                    chimney_rcvbuf_init_data(o),
                                    rcv_len) < 0) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                "chimney-nic: TCP block 0x%"
                                G_GINT64_MODIFIER "x: buffered data "
                                "not readable", n->addr);
        st = CHIMNEY_ST_DMA_ERROR;
    }
    g_free(sendq);
    if (st != CHIMNEY_ST_SUCCESS) {
        chimney_io_free(t->ofl, idx);
        chimney_table_release(&t->ofl->tcp, idx);
        return st;
    }
    chimney_rcvbuf_init_done(o, rcv_len);
    chimney_tcp_link(t->ofl, idx, path);
    chimney_demux_insert(t->ofl, idx);
    chimney_tcp_offloaded(t->ofl, idx, &ho);
    n->obj = idx;
    n->created = true;
    n->out_handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_TCP, idx);
    return CHIMNEY_ST_SUCCESS;
}

/*
 * Offload one chain depth-first, dependents before next (rule 007).
 * `parent` is the object the chain's new blocks attach to
 * (CHIMNEY_NO_INDEX under a placeholder or at the root).
 */
void chimney_tree_initiate(Tree *t, uint32_t first, uint32_t parent,
                           bool is_root)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = chimney_tree_node(t, i)->next) {
        TreeNode *n = chimney_tree_node(t, i);
        uint32_t st, j, ndeps = 0, nok = 0;
        uint32_t obj = CHIMNEY_NO_INDEX;

        switch (n->role) {
        case CHIMNEY_ROLE_NEW:
            if (n->type != CHIMNEY_TYPE_NEIGH && n->type != CHIMNEY_TYPE_IP4 &&
                n->type != CHIMNEY_TYPE_IP6 && n->type != CHIMNEY_TYPE_TCP) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: new-offload block 0x%"
                                         G_GINT64_MODIFIER "x must carry a "
                                         "combined state type, not %u",
                                         n->addr, n->type);
                st = CHIMNEY_ST_BAD_TYPE;
            } else if (n->layer != LAYER_NEIGH && parent == CHIMNEY_NO_INDEX) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: new-offload block 0x%"
                                         G_GINT64_MODIFIER "x has no offloaded "
                                         "parent to link to", n->addr);
                st = CHIMNEY_ST_BAD_TREE;
            } else if (n->layer == LAYER_NEIGH) {
                st = initiate_neigh(t, n);
            } else if (n->layer == LAYER_PATH) {
                st = initiate_path(t, n, parent);
            } else {
                st = initiate_tcp(t, n, parent);
            }
            obj = n->obj;
            break;
        case CHIMNEY_ROLE_LINKER:
            st = chimney_tree_resolve(t, n, "linker");
            if (st == CHIMNEY_ST_SUCCESS &&
                chimney_tree_obj_invalid(t, n->layer, n->obj)) {
                st = CHIMNEY_ST_INVALID_STATE;
            }
            if (st == CHIMNEY_ST_SUCCESS) {
                obj = n->obj;
            } else {
                n->obj = CHIMNEY_NO_INDEX;
            }
            break;
        case CHIMNEY_ROLE_PLACEHOLDER:
            st = CHIMNEY_ST_SUCCESS;                    /* rule 009 */
            break;
        default:
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: block 0x%" G_GINT64_MODIFIER
                                     "x: role %u not allowed in an initiate "
                                     "tree", n->addr, n->role);
            st = CHIMNEY_ST_BAD_TREE;
            break;
        }

        if (!status_ok(st)) {
            /* rule 014: dependents of a failed block are not attempted */
            n->status = st;
            chimney_tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
            if (is_root && i == first) {
                /* rule 015: a failed root ends the traversal */
                chimney_tree_mark_subtree(t, n->next, CHIMNEY_ST_NOT_ATTEMPTED);
                return;
            }
            continue;
        }

        chimney_tree_initiate(t, n->first_dep, obj, false);
        for (j = n->first_dep; j != NODE_NONE;
             j = chimney_tree_node(t, j)->next) {
            ndeps++;
            nok += status_ok(chimney_tree_node(t, j)->status);
        }
        if (n->role == CHIMNEY_ROLE_PLACEHOLDER) {
            n->status = CHIMNEY_ST_SUCCESS;
        } else if (n->role == CHIMNEY_ROLE_LINKER && ndeps && !nok) {
            n->status = CHIMNEY_ST_FAILURE;             /* rule 010 */
        } else {
            /* rules 010, 013: one level of dependents decides */
            n->status = nok == ndeps ? CHIMNEY_ST_SUCCESS :
                        CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
        }
    }
}
