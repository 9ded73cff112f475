/*
 * chimney-nic offload engine: UPDATE, QUERY and INVALIDATE (spec "State
 * operations").  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_tree.h"
#include "chimney_tcp.h"

/*
 * Update, query, invalidate
 */

static uint32_t update_one(Tree *t, TreeNode *n, uint32_t parent_neigh)
{
    uint32_t idx, st, off = 0;
    const void *k = NULL;
    static const size_t cached_size[] = {
        [LAYER_NEIGH] = sizeof(ChimneyNeighCached),
        [LAYER_PATH] = sizeof(ChimneyPathCached),
        [LAYER_TCP] = sizeof(ChimneyTcpCached),
    };

    st = chimney_tree_resolve(t, n, "update");
    if (st != CHIMNEY_ST_SUCCESS) {
        return st;
    }
    idx = n->obj;
    if (chimney_tree_obj_invalid(t, n->layer, idx)) {
        return CHIMNEY_ST_INVALID_STATE;    /* host never updates these */
    }
    if (n->state_len) {
        k = chimney_tree_take(t, n, &off, cached_size[n->layer]);
        if (!k || chimney_tree_check_end(t, n, off) != CHIMNEY_ST_SUCCESS) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: update block 0x%"
                                     G_GINT64_MODIFIER "x: the cached "
                                     "structure is too short", n->addr);
            return CHIMNEY_ST_BAD_LENGTH;
        }
    }

    if (n->layer == LAYER_NEIGH) {
        ChimneyNeighObj *o = chimney_neigh_at(t->ofl, idx);

        if (k) {
            /* a MAC change of the same next hop (seed "Linking Path...") */
            chimney_conv_neigh_cached(o, k);
            chimney_tcp_neigh_hrd_updated(t->ofl, o);
        }
    } else if (n->layer == LAYER_PATH) {
        ChimneyPathObj *o = chimney_path_at(t->ofl, idx);

        if (k) {
            uint32_t mtu =
                GUINT32_FROM_LE(((const ChimneyPathCached *)k)->path_mtu);

            if (mtu > CHIMNEY_MAX_PATH_MTU) {
                return CHIMNEY_ST_OFFLOAD_PATH_MTU;
            }
            if (mtu < (o->ipv6 ? 1280u : 68u)) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                        "chimney-nic: update block 0x%"
                                        G_GINT64_MODIFIER "x: PathMtu %u "
                                        "below the IP minimum", n->addr, mtu);
                return CHIMNEY_ST_INVALID_PARAMETER;
            }
            o->path_mtu = mtu;
        }
        /* rule 054: an update tree rooted at a neighbor relinks its paths */
        if (parent_neigh != CHIMNEY_NO_INDEX && parent_neigh != o->neigh) {
            chimney_path_unlink(t->ofl, idx);
            chimney_path_link(t->ofl, idx, parent_neigh);
        }
    } else {
        ChimneyTcpCachedState ks;

        if (k) {
            chimney_conv_tcp_cached(&ks, k);
            if (ks.initial_rcv_wnd > CHIMNEY_MAX_RCV_WND) {
                /* rule 059: the block fails, the connection keeps going */
                return CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW;
            }
            chimney_tcp_cached_update(t->ofl, idx, &ks);    /* rule 053 */
        }
    }
    return CHIMNEY_ST_SUCCESS;
}

void chimney_tree_update(Tree *t, uint32_t first, uint32_t parent_neigh)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = chimney_tree_node(t, i)->next) {
        TreeNode *n = chimney_tree_node(t, i);
        uint32_t relink = CHIMNEY_NO_INDEX;

        if (n->role == CHIMNEY_ROLE_PLACEHOLDER) {
            n->status = CHIMNEY_ST_SUCCESS;
        } else {
            n->status = update_one(t, n, n->layer == LAYER_PATH ?
                                   parent_neigh : CHIMNEY_NO_INDEX);
            if (n->layer == LAYER_NEIGH && n->status == CHIMNEY_ST_SUCCESS) {
                relink = n->obj;
            }
        }
        if (n->first_dep != NODE_NONE) {
            if (!status_ok(n->status)) {
                chimney_tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
            } else {
                chimney_tree_update(t, n->first_dep, relink);
            }
        }
    }
}

uint32_t chimney_tree_query_one(Tree *t, TreeNode *n)
{
    union {
        struct {
            ChimneyNeighConst c;
            ChimneyNeighCached k;
            ChimneyNeighDelegated d;
        } neigh;
        struct {
            ChimneyPathConst c;
            ChimneyPathCached k;
            ChimneyPathDelegated d;
        } path;
        struct {
            ChimneyTcpConst c;
            ChimneyTcpCached k;
            ChimneyTcpDelegated d;
        } tcp;
    } st;
    const void *part[3];        /* CONST, CACHED, DELEGATED of the layer */
    size_t size[3];
    uint32_t idx, host_off = 0, slot_off[3], r;
    unsigned base, i;
    bool combined;

    r = chimney_tree_resolve(t, n, "query");
    if (r != CHIMNEY_ST_SUCCESS) {
        return r;
    }
    idx = n->obj;
    base = n->layer == LAYER_NEIGH ? CHIMNEY_TYPE_NEIGH_CONST :
           n->layer == LAYER_TCP ? CHIMNEY_TYPE_TCP_CONST :
           (n->type >= CHIMNEY_TYPE_IP6_CONST ? CHIMNEY_TYPE_IP6_CONST :
            CHIMNEY_TYPE_IP4_CONST);
    /* the combined type is base + 3, or 17 for TCP (16 is reserved) */
    combined = n->type == (n->layer == LAYER_TCP ? CHIMNEY_TYPE_TCP :
                           base + 3);

    if (n->layer == LAYER_NEIGH) {
        ChimneyNeighObj o = *chimney_neigh_at(t->ofl, idx);

        /* the host's view as the device tracks it: HRD = now - HRT */
        o.hrd = chimney_nic_ticks(t->ofl) - o.hrt;
        chimney_conv_neigh_store(&o, &st.neigh.c, &st.neigh.k, &st.neigh.d,
                    chimney_tcp_neigh_nrd(t->ofl, &o));
        part[0] = &st.neigh.c;
        part[1] = &st.neigh.k;
        part[2] = &st.neigh.d;
        size[0] = sizeof(st.neigh.c);
        size[1] = sizeof(st.neigh.k);
        size[2] = sizeof(st.neigh.d);
    } else if (n->layer == LAYER_PATH) {
        ChimneyPathObj *o = chimney_path_at(t->ofl, idx);

        chimney_conv_path_store(o, &st.path.c, &st.path.k, &st.path.d);
        part[0] = &st.path.c;
        part[1] = &st.path.k;
        part[2] = &st.path.d;
        size[0] = sizeof(st.path.c);
        size[1] = sizeof(st.path.k);
        size[2] = sizeof(st.path.d);
    } else {
        ChimneyTcpObj *o = chimney_tcp_at(t->ofl, idx);

        memset(&st.tcp.d, 0, sizeof(st.tcp.d));
        chimney_conv_tcp_store(o, &st.tcp.c, &st.tcp.k);
        chimney_conv_tcp_delegated_store(t->ofl, o, &st.tcp.d, true);
        chimney_conv_hdr(&st.tcp.d.hdr, sizeof(st.tcp.d));
        part[0] = &st.tcp.c;
        part[1] = &st.tcp.k;
        part[2] = &st.tcp.d;
        size[0] = sizeof(st.tcp.c);
        size[1] = sizeof(st.tcp.k);
        size[2] = sizeof(st.tcp.d);
    }

    /*
     * The type names the structures that follow (rule 060); pair ours with
     * the host's, in order.  Each host structure must be at least the ABI
     * size (a longer one keeps its tail).
     */
    for (i = 0; i < 3; i++) {
        slot_off[i] = host_off;
        if (!combined && n->type != base + i) {
            continue;
        }
        if (!chimney_tree_take(t, n, &host_off, size[i])) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: query block 0x%"
                                     G_GINT64_MODIFIER "x: no room for the "
                                     "state its type names", n->addr);
            return CHIMNEY_ST_BAD_LENGTH;
        }
    }
    if (chimney_tree_check_end(t, n, host_off) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    /* Write everything but the headers, which stay as the host wrote them. */
    for (i = 0; i < 3; i++) {
        if (!combined && n->type != base + i) {
            continue;
        }
        if (chimney_eng_dma_write(t->ofl, n->addr + sizeof(ChimneyBlock) +
                                   slot_off[i] + sizeof(ChimneyStateHdr),
                                   (const uint8_t *)part[i] +
                                   sizeof(ChimneyStateHdr),
                                   size[i] - sizeof(ChimneyStateHdr)) < 0) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                     "chimney-nic: query block 0x%"
                                     G_GINT64_MODIFIER "x: state not "
                                     "writable", n->addr);
            return CHIMNEY_ST_DMA_ERROR;
        }
    }
    return CHIMNEY_ST_SUCCESS;
}

/* rule 064: every connection behind an invalidated object must go. */
static void invalidate_tcp(Tree *t, uint32_t tcp)
{
    chimney_tcp_at(t->ofl, tcp)->invalid = true;
    chimney_offload_request_upload(t->ofl, tcp, CHIMNEY_UPLOAD_INVALID_STATE);
    t->work++;
}

static void invalidate_path_tcps(Tree *t, uint32_t path)
{
    ChimneyPathObj *p = chimney_path_at(t->ofl, path);
    uint32_t i, guard = p->ntcp;

    /* the dependents lists: only the objects concerned, bounded by count */
    for (i = p->first_tcp; i != CHIMNEY_NO_INDEX && guard--;
         i = chimney_tcp_at(t->ofl, i)->path_next) {
        invalidate_tcp(t, i);
    }
}

static void invalidate_cascade(Tree *t, unsigned layer, uint32_t obj)
{
    if (layer == LAYER_TCP) {
        invalidate_tcp(t, obj);
    } else if (layer == LAYER_PATH) {
        invalidate_path_tcps(t, obj);
    } else {
        ChimneyNeighObj *n = chimney_neigh_at(t->ofl, obj);
        uint32_t i, guard = n->npaths;

        for (i = n->first_path; i != CHIMNEY_NO_INDEX && guard--;
             i = chimney_path_at(t->ofl, i)->neigh_next) {
            invalidate_path_tcps(t, i);
        }
    }
}

uint32_t chimney_tree_invalidate_one(Tree *t, TreeNode *n)
{
    uint32_t idx, st;

    if (n->state_len) {
        /* rule 063: invalidate trees carry block lists only */
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: invalidate block 0x%"
                                 G_GINT64_MODIFIER "x carries %u bytes of "
                                 "state", n->addr, n->state_len);
        return CHIMNEY_ST_BAD_LENGTH;
    }

    st = chimney_tree_resolve(t, n, "invalidate");
    if (st != CHIMNEY_ST_SUCCESS) {
        return st;
    }
    idx = n->obj;
    if (n->layer == LAYER_NEIGH) {
        chimney_neigh_at(t->ofl, idx)->invalid = true;
    } else if (n->layer == LAYER_PATH) {
        chimney_path_at(t->ofl, idx)->invalid = true;
    }
    /* rule 065: nothing is freed; the host terminates it later */
    invalidate_cascade(t, n->layer, idx);
    return CHIMNEY_ST_SUCCESS;
}

void chimney_tree_each_ref(Tree *t, uint32_t first, uint32_t (*one)(Tree *,
                                                              TreeNode *))
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = chimney_tree_node(t, i)->next) {
        TreeNode *n = chimney_tree_node(t, i);

        n->status = n->role == CHIMNEY_ROLE_PLACEHOLDER ?
                    CHIMNEY_ST_SUCCESS : one(t, n);
        if (!status_ok(n->status)) {
            chimney_tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
        } else {
            chimney_tree_each_ref(t, n->first_dep, one);
        }
    }
}
