/*
 * chimney-nic offload engine: SET_PARAMS and SET_VLANS (spec "Offload
 * parameters").  C + GLib only.
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
 * Commands
 */

uint32_t chimney_cmd_set_params(ChimneyEngine *ofl, const ChimneyCmdDesc *cmd)
{
    ChimneyOffloadParams p;
    uint32_t len = GUINT32_FROM_LE(cmd->len);
    uint32_t tps, hlen;

    if (len < sizeof(p)) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_PARAMS length %u too short", len);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (chimney_eng_dma_read(ofl, GUINT64_FROM_LE(cmd->addr), &p,
                             sizeof(p)) < 0) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_DMA, "chimney-nic: "
                                "SET_PARAMS buffer not readable");
        return CHIMNEY_ST_DMA_ERROR;
    }
    hlen = GUINT32_FROM_LE(p.hdr.length);
    if (hlen < sizeof(p) || hlen > len) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_PARAMS header length %u", hlen);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    /* tick-valued state of live objects would change meaning */
    if (ofl->neigh.used || ofl->path.used || ofl->tcp.used) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_PARAMS while objects are offloaded");
        return CHIMNEY_ST_INVALID_STATE;
    }
    tps = GUINT32_FROM_LE(p.ticks_per_second);
    if (tps != 10 && tps != 100 && tps != 1000) {                /* rule 005 */
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "TicksPerSecond %u not 10/100/1000", tps);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    ofl->params.ticks_per_second = tps;
    ofl->params.ack_frequency = p.ack_frequency;
    ofl->params.delayed_ack_ticks = p.delayed_ack_ticks;
    ofl->params.max_retransmissions = p.max_retransmissions;
    ofl->params.doubt_reachability_retransmissions =
        p.doubt_reachability_retransmissions;
    ofl->params.sws_prevention_ticks = GUINT32_FROM_LE(p.sws_prevention_ticks);
    ofl->params.dup_ack_threshold = GUINT32_FROM_LE(p.dup_ack_threshold);
    ofl->params.push_ticks = GUINT32_FROM_LE(p.push_ticks);
    ofl->params.nce_stale_ticks = GUINT32_FROM_LE(p.nce_stale_ticks);
    ofl->params.fin_wait2_ticks = GUINT32_FROM_LE(p.fin_wait2_ticks);
    ofl->params_set = true;
    return CHIMNEY_ST_SUCCESS;
}

uint32_t chimney_cmd_set_vlans(ChimneyEngine *ofl, const ChimneyCmdDesc *cmd)
{
    uint32_t len = GUINT32_FROM_LE(cmd->len);
    uint16_t vids[CHIMNEY_MAX_IFACE_VLANS];
    uint32_t i, n = len / 2;

    if (len & 1) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_VLANS length %u is odd", len);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (n > CHIMNEY_MAX_IFACE_VLANS) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_VLANS with %u entries", n);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    if (n && chimney_eng_dma_read(ofl, GUINT64_FROM_LE(cmd->addr), vids,
                                  len) < 0) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_DMA, "chimney-nic: "
                                "SET_VLANS buffer not readable");
        return CHIMNEY_ST_DMA_ERROR;
    }
    for (i = 0; i < n; i++) {
        vids[i] = GUINT16_FROM_LE(vids[i]);
        if (vids[i] > 4095) {
            chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                    "SET_VLANS entry %u is VLAN %u (> 4095)",
                                    i, vids[i]);
            return CHIMNEY_ST_INVALID_PARAMETER;
        }
    }
    memcpy(ofl->vlans, vids, n * sizeof(vids[0]));
    ofl->nvlans = n;
    return CHIMNEY_ST_SUCCESS;
}
