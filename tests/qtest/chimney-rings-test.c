/*
 * QTest testcases for the chimney-nic PCI NIC (the plain L2 NIC):
 * the TX and RX rings (transmit and receive processing, back-pressure)
 * and their error handling (ring configuration, DMA faults, bad tails,
 * bad descriptors, bus mastering off).
 *
 * Helpers, context and conventions: chimney-nic-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-nic-qtest.h"

#ifndef _WIN32

/*
 * 5. TX
 */

static void test_tx(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static uint8_t f[CHIMNEY_MAX_FRAME], g[CHIMNEY_MAX_FRAME];
    static uint8_t wire[CHIMNEY_MAX_FRAME + 64];
    static const uint16_t odd_frags[16] = {
        1, 13, 1, 100, 7, 1, 1, 64, 255, 2, 3, 500, 1, 1, 9, 44,
    };
    uint32_t frames = 0, bytes = 0, descs = 0, first, i, odd_len = 0;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_TX, 64);

    /* 60 bytes, one descriptor */
    make_frame(f, 60, peer_mac, 0x0800, 1);
    tx_frame_ok(&c, f, 60, 1, NULL);
    frames++, bytes += 60, descs += 1;
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, 60);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);

    /* 1514 bytes, one descriptor */
    make_frame(f, 1514, peer_mac, 0x86dd, 2);
    tx_frame_ok(&c, f, 1514, 1, NULL);
    frames++, bytes += 1514, descs += 1;

    /* scatter-gather: 16 even fragments, then 16 odd-sized ones */
    make_frame(f, 1514, peer_mac, 0x0800, 3);
    tx_frame_ok(&c, f, 1514, 16, NULL);
    frames++, bytes += 1514, descs += 16;
    for (i = 0; i < 16; i++) {
        odd_len += odd_frags[i];
    }
    make_frame(f, odd_len, peer_mac, 0x0800, 4);
    tx_frame_ok(&c, f, odd_len, 16, odd_frags);
    frames++, bytes += odd_len, descs += 16;

    /* 9018-byte jumbo frame: one descriptor, then three */
    make_frame(f, CHIMNEY_MAX_FRAME, peer_mac, 0x8100, 5);
    tx_frame_ok(&c, f, CHIMNEY_MAX_FRAME, 1, NULL);
    frames++, bytes += CHIMNEY_MAX_FRAME, descs += 1;
    make_frame(f, CHIMNEY_MAX_FRAME, peer_mac, 0x0800, 6);
    tx_frame_ok(&c, f, CHIMNEY_MAX_FRAME, 3, NULL);
    frames++, bytes += CHIMNEY_MAX_FRAME, descs += 3;

    /* 20 bytes: padded with zeros to 60 on the wire */
    make_frame(f, 20, peer_mac, 0x0800, 7);
    tx_frame_ok(&c, f, 20, 2, NULL);
    frames++, bytes += ETH_MIN_WIRE, descs += 2;
    /* 14 bytes (a bare header) is the smallest frame */
    make_frame(f, 14, peer_mac, 0x0800, 8);
    tx_frame_ok(&c, f, 14, 1, NULL);
    frames++, bytes += ETH_MIN_WIRE, descs += 1;

    /*
     * TX_BYTES counts bytes put on the wire (padding included); the notes
     * only say "TX_FRAMES/TX_BYTES updated", this is the device's reading.
     */
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, frames);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, bytes);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, descs);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_COUNT_REG), ==,
                     descs);

    /*
     * An incomplete frame (no EOP yet) waits; several frames behind one
     * doorbell all go, in order, and the ring wraps around.
     */
    make_frame(f, 300, peer_mac, 0x0800, 9);
    make_frame(g, 100, peer_mac, 0x0800, 10);
    first = d->ring[CHIMNEY_RING_TX].tail;
    {
        uint64_t a = chimney_alloc(d, 300);

        qtest_memwrite(c.qts, a, f, 300);
        chimney_tx_post(d, a, 300, 0);                  /* no EOP */
    }
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    wire_expect_nothing(&c);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, first);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==, 0);
    {
        uint64_t a = chimney_alloc(d, 60);
        uint8_t tail[60];

        make_frame(tail, 60, peer_mac, 0, 11);
        qtest_memwrite(c.qts, a, tail, 60);
        chimney_tx_post(d, a, 60, CHIMNEY_TXF_EOP);     /* frame 1 done */
        memcpy(f + 300, tail, 60);
    }
    chimney_tx_post_frame(d, g, 100, 1, NULL);          /* frame 2 */
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, 360);
    g_assert_cmpmem(wire, 360, f, 360);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, 100);
    g_assert_cmpmem(wire, 100, g, 100);
    descs += 3;
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, descs % 64);
    for (i = 0; i < 64 - descs % 64 + 2; i++) {
        tx_small_ok(&c, 100 + i);       /* wraps past index 63 */
    }
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);
}

/*
 * 6. RX
 */

static void test_rx(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static uint8_t f[CHIMNEY_MAX_FRAME + 1];
    static const uint8_t new_mac[6] = { 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
    uint32_t idx = 0, filtered = 0, bytes = 0;
    ChimneyRxDesc desc;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_RX, 32);
    rx_post_bufs(&c, 16, 2048);

    /* unicast to our MAC, 60 and 1514 bytes */
    make_frame(f, 60, our_mac, 0x0800, 1);
    rx_frame_ok(&c, f, 60, idx++, 0);
    bytes += 60;
    chimney_wait_vec(d, CHIMNEY_VEC_RX);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_BYTES), ==, 60);
    make_frame(f, 1514, our_mac, 0x86dd, 2);
    rx_frame_ok(&c, f, 1514, idx++, 0);
    bytes += 1514;
    /* the smallest frame: a bare 14-byte header */
    make_frame(f, 14, our_mac, 0x0800, 3);
    rx_frame_ok(&c, f, 14, idx++, 0);
    bytes += 14;

    /* a 3000-byte frame spans two 2048-byte buffers, EOP on the last */
    make_frame(f, 3000, our_mac, 0x0800, 4);
    wire_send(&c, f, 3000);
    wait_done(&c, CHIMNEY_RING_RX, idx + 1);
    rx_check(&c, idx, f, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 1, f + 2048, 3000 - 2048,
             CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    idx += 2;
    bytes += 3000;
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, idx);

    /*
     * Filter.  A dropped frame uses no buffer: the next accepted frame
     * lands in the descriptor the dropped one would have taken.
     */
    make_frame(f, 64, other_mac, 0x0800, 5);        /* other unicast */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 64, mcast_mac, 0x0800, 6);        /* multicast */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 13, our_mac, 0x0800, 60);         /* runt: < 14 bytes */
    wire_send(&c, f, 13);
    filtered++;
    make_frame(f, 70, bcast_mac, 0x0806, 7);        /* broadcast: accepted */
    rx_frame_ok(&c, f, 70, idx++, 0);
    bytes += 70;
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);

    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST |
       CHIMNEY_RXF_ALLMULTI);
    make_frame(f, 64, mcast_mac, 0x0800, 8);        /* now accepted */
    rx_frame_ok(&c, f, 64, idx++, 0);
    bytes += 64;
    make_frame(f, 64, other_mac, 0x0800, 9);        /* still dropped */
    wire_send(&c, f, 64);
    filtered++;
    wait_stat(&c, CHIMNEY_STAT_RX_FILTERED, filtered);

    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_UNICAST);
    make_frame(f, 64, bcast_mac, 0x0800, 10);       /* no BROADCAST */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 64, mcast_mac, 0x0800, 11);       /* no ALLMULTI */
    wire_send(&c, f, 64);
    filtered++;
    wait_stat(&c, CHIMNEY_STAT_RX_FILTERED, filtered);

    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);
    make_frame(f, 64, other_mac, 0x0800, 12);       /* PROMISC: all */
    rx_frame_ok(&c, f, 64, idx++, 0);
    bytes += 64;
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);

    /* filtering uses the current MAC_LO/HI */
    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_RESET_VALUE);
    wr(&c, CHIMNEY_REG_MAC_LO, mac_lo(new_mac));
    wr(&c, CHIMNEY_REG_MAC_HI, mac_hi(new_mac));
    make_frame(f, 64, our_mac, 0x0800, 13);         /* old MAC: dropped */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 64, new_mac, 0x0800, 14);
    rx_frame_ok(&c, f, 64, idx++, 0);
    bytes += 64;
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);

    /* 802.1Q: RXF_VLAN, frame delivered unmodified (tag included) */
    make_frame(f, 64, new_mac, 0x8100, 15);
    f[14] = 0x20;                                   /* PCP 1, VID 5 */
    f[15] = 0x05;
    f[16] = 0x08;
    f[17] = 0x00;
    rx_frame_ok(&c, f, 64, idx++, CHIMNEY_RXF_VLAN);
    bytes += 64;

    /* longer than CAP_MAX_FRAME: dropped, RX_OVERSIZE, no buffer used */
    make_frame(f, CHIMNEY_MAX_FRAME + 1, new_mac, 0x0800, 17);
    wire_send(&c, f, CHIMNEY_MAX_FRAME + 1);

    /* a 9018-byte jumbo frame across five 2048-byte buffers */
    make_frame(f, CHIMNEY_MAX_FRAME, new_mac, 0x0800, 16);
    wire_send(&c, f, CHIMNEY_MAX_FRAME);
    wait_done(&c, CHIMNEY_RING_RX, idx + 4);
    rx_check(&c, idx, f, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 1, f + 2048, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 2, f + 4096, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 3, f + 6144, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 4, f + 8192, CHIMNEY_MAX_FRAME - 8192,
             CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    idx += 5;
    bytes += CHIMNEY_MAX_FRAME;

    g_assert_cmpuint(idx, ==, 15);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, idx);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_RX, CHIMNEY_RING_COUNT_REG), ==,
                     idx);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 10);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_BYTES), ==, bytes);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_ERRORS), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_OVERSIZE), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);
    /* the buffer after the last frame is untouched */
    quiet(&c);
    chimney_rx_read(d, idx, &desc);
    g_assert_cmphex(desc.status, ==, 0);
    g_assert_cmpuint(desc.len, ==, 0);
}

/*
 * 7. RX back-pressure: nothing is lost
 */

static void test_rx_backpressure(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[10][100];
    uint32_t i, idx;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 4, 256);
    for (i = 0; i < 10; i++) {
        make_frame(f[i], 64 + i, our_mac, 0x0800, 100 + i);
        wire_send(&c, f[i], 64 + i);
    }
    wait_done(&c, CHIMNEY_RING_RX, 3);
    quiet(&c);
    for (i = 0; i < 4; i++) {
        rx_check(&c, i, f[i], 64 + i, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP,
                 0);
    }
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, 0);
    /*
     * The ring owns no descriptor now: the device does not take frames at
     * all, they wait in QEMU's queue, and that is no RX_NOBUF stall
     * (docs/specs/chimney-nic.rst "Receive processing"; l2-semantics.md
     * only says "not enough free descriptors").
     */
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_NOBUF), ==, 0);
    expect_no_other_vec(&c, 1u << CHIMNEY_VEC_RX);

    /*
     * One 64-byte buffer cannot hold frame 5 (68 bytes): a stall for lack
     * of buffers.  Not consumed, RX_NOBUF++, INT_RX_NOBUF on vector 0.
     */
    chimney_rx_post(d, chimney_alloc(d, 64), 64);
    chimney_ring_kick(d, CHIMNEY_RING_RX);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    quiet(&c);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_NOBUF), ==, 1);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_RX, 4), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 4);
    /* once per stall */
    chimney_expect_no_vec(d, CHIMNEY_VEC_MISC, CHIMNEY_QOS_QUIET_ITERS,
                          CHIMNEY_QOS_STEP_NS);

    /*
     * Six more buffers (indices 5..7, 0..2, the ring is then full): the
     * other six frames arrive in order, frame 5 across the small buffer
     * and the next one.
     */
    rx_post_bufs(&c, 6, 256);
    wait_done(&c, CHIMNEY_RING_RX, 5);
    rx_check(&c, 4, f[4], 64, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, 5, f[4] + 64, 4, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    idx = 6;
    for (i = 5; i < 10; i++, idx = (idx + 1) % 8) {
        wait_done(&c, CHIMNEY_RING_RX, idx);
        rx_check(&c, idx, f[i], 64 + i, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP,
                 0);
    }
    quiet(&c);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 10);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_NOBUF), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_ERRORS), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, 0);
}

/*
 * 10. Malformed input
 */

/* Enable @ring with the given base/size; it must fail with @err + INT_ERR. */
static void ring_enable_fails(Ctx *c, int ring, uint64_t base, uint32_t size,
                              uint32_t err)
{
    uint32_t errs = rd(c, CHIMNEY_REG_ERR_COUNT);

    chimney_ring_writel(c->d, ring, CHIMNEY_RING_ADDR_LO, (uint32_t)base);
    chimney_ring_writel(c->d, ring, CHIMNEY_RING_ADDR_HI, base >> 32);
    chimney_ring_writel(c->d, ring, CHIMNEY_RING_SIZE, size);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, errs);
    chimney_ring_writel(c->d, ring, CHIMNEY_RING_CTRL,
                        CHIMNEY_RING_CTRL_ENABLE);
    check_ring_status(c, ring, ring_err_status(err));
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, err);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, errs + 1);
    /* INT_ERR is masked here: it stays in INT_CAUSE */
    g_assert_cmphex(rd(c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_ERR);
    wr(c, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_ERR);
    /* the values are kept as written */
    g_assert_cmphex(ring_rd(c, ring, CHIMNEY_RING_ADDR_LO), ==,
                    (uint32_t)base);
    g_assert_cmphex(ring_rd(c, ring, CHIMNEY_RING_ADDR_HI), ==, base >> 32);
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_SIZE), ==, size);
}

/* After a failed enable, a good configuration enables and clears the error */
static void ring_enable_recovers(Ctx *c, int ring, uint32_t size)
{
    chimney_ring_alloc(c->d, ring, size);
    chimney_ring_program(c->d, ring);
    g_assert_cmphex(chimney_ring_enable(c->d, ring), ==,
                    CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_HEAD), ==, 0);
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_TAIL), ==, 0);
    chimney_ring_disable(c->d, ring);
    check_ring_status(c, ring, 0);
}

static void test_bad_ring_size(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint32_t sizes[] = { 0, 4, 6, 12, 100, 65536, 0x80000000u };
    uint64_t base = chimney_alloc(c.d, 4096);   /* page aligned */
    int ring;
    size_t i;

    for (ring = 0; ring < CHIMNEY_RING_COUNT; ring++) {
        for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
            ring_enable_fails(&c, ring, base, sizes[i], CHIMNEY_ERR_BAD_SIZE);
        }
        ring_enable_recovers(&c, ring, ring == CHIMNEY_RING_TX ? 32768 : 8);
    }
    /* with INT_ERR enabled the error is signalled on vector 0 */
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ERR);
    chimney_ring_writel(c.d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 7);
    chimney_ring_writel(c.d, CHIMNEY_RING_TX, CHIMNEY_RING_CTRL, 1);
    chimney_wait_vec(c.d, CHIMNEY_VEC_MISC);
    check_ring_status(&c, CHIMNEY_RING_TX,
                      ring_err_status(CHIMNEY_ERR_BAD_SIZE));
}

static void test_bad_ring_align(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint32_t offs[] = { 1, 4, 8, 16, 32, 48, 63 };
    uint64_t base = chimney_alloc(c.d, 8192);
    int ring;
    size_t i;

    for (ring = 0; ring < CHIMNEY_RING_COUNT; ring++) {
        for (i = 0; i < G_N_ELEMENTS(offs); i++) {
            ring_enable_fails(&c, ring, base + offs[i], 8,
                              CHIMNEY_ERR_BAD_ALIGN);
        }
        ring_enable_fails(&c, ring, 0x100000020ull, 8, CHIMNEY_ERR_BAD_ALIGN);
        ring_enable_recovers(&c, ring, 8);
    }
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ERR);
    chimney_ring_writel(c.d, CHIMNEY_RING_RX, CHIMNEY_RING_ADDR_LO,
                        (uint32_t)base + 32);
    chimney_ring_writel(c.d, CHIMNEY_RING_RX, CHIMNEY_RING_CTRL, 1);
    chimney_wait_vec(c.d, CHIMNEY_VEC_MISC);
    check_ring_status(&c, CHIMNEY_RING_RX,
                      ring_err_status(CHIMNEY_ERR_BAD_ALIGN));
}

/* Point @ring at BAD_GPA and enable it (that alone is fine). */
static void ring_start_bad_base(Ctx *c, int ring)
{
    QChimneyRing *r = &c->d->ring[ring];

    chimney_ring_disable(c->d, ring);
    r->base = BAD_GPA;
    r->size = 8;
    r->entry_size = chimney_ring_entry_size(ring);
    r->tail = 0;
    chimney_ring_program(c->d, ring);
    g_assert_cmphex(chimney_ring_enable(c->d, ring), ==,
                    CHIMNEY_RING_ST_ENABLED);
}

/* @ring hit a DMA error: stopped with ERROR|DMA, INT_ERR on vector 0. */
static void expect_ring_dma_stop(Ctx *c, int ring)
{
    uint32_t errs;

    chimney_wait_vec(c->d, CHIMNEY_VEC_MISC);
    check_ring_status(c, ring, ring_err_status(CHIMNEY_ERR_DMA));
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_HEAD), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_DMA);
    /* stopped: nothing more happens on it until it is enabled again */
    errs = rd(c, CHIMNEY_REG_ERR_COUNT);
    quiet(c);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, errs);
    check_ring_status(c, ring, ring_err_status(CHIMNEY_ERR_DMA));
}

static void test_ring_dma_error(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[80];

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);

    /* TX: the doorbell makes the device read descriptor 0 */
    ring_start_bad_base(&c, CHIMNEY_RING_TX);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL, 1);
    expect_ring_dma_stop(&c, CHIMNEY_RING_TX);
    wire_expect_nothing(&c);
    chimney_ring_start(d, CHIMNEY_RING_TX, 8);          /* recovers */
    tx_small_ok(&c, 1);

    /* RX: touched when a frame arrives; the frame is kept, not lost */
    ring_start_bad_base(&c, CHIMNEY_RING_RX);
    chimney_ring_writel(d, CHIMNEY_RING_RX, CHIMNEY_RING_TAIL, 1);
    make_frame(f, sizeof(f), our_mac, 0x0800, 2);
    wire_send(&c, f, sizeof(f));
    expect_ring_dma_stop(&c, CHIMNEY_RING_RX);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 0);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 1, 256);
    wait_done(&c, CHIMNEY_RING_RX, 0);
    rx_check(&c, 0, f, sizeof(f), CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);

    /* CMD: touched by the command bottom half */
    chimney_ring_start(d, CHIMNEY_RING_EVT, 8);
    chimney_evt_give(d, 7);
    ring_start_bad_base(&c, CHIMNEY_RING_CMD);
    chimney_ring_writel(d, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL, 1);
    expect_ring_dma_stop(&c, CHIMNEY_RING_CMD);
    g_assert_false(evt_valid_now(&c, 0));

    /* EVT: touched when the first event is written */
    chimney_ring_start(d, CHIMNEY_RING_CMD, 8);
    ring_start_bad_base(&c, CHIMNEY_RING_EVT);
    chimney_evt_give(d, 7);
    chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 5);
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    expect_ring_dma_stop(&c, CHIMNEY_RING_EVT);
}

static void test_bad_tail(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static const uint32_t tails[] = { 8, 9, 0x100, 0xffffffffu };
    uint32_t errs = 0;
    size_t i;

    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    tx_small_ok(&c, 1);
    for (i = 0; i < G_N_ELEMENTS(tails); i++) {
        chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL, tails[i]);
        errs++;
        g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), ==,
                         1);
        g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
        g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==,
                        CHIMNEY_ERR_BAD_TAIL);
        check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    }
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_TX);
    wire_expect_nothing(&c);
    /* the ring keeps running */
    tx_small_ok(&c, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 2);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
}

static void test_tx_zero_len(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint16_t one[] = { 0 };
    static const uint16_t three[] = { 30, 0, 30 };

    chimney_ring_start(c.d, CHIMNEY_RING_TX, 16);
    tx_frame_err(&c, one, 1, CHIMNEY_ERR_ZERO_LEN);
    tx_frame_err(&c, three, 3, CHIMNEY_ERR_ZERO_LEN);
    /* TX_ERRORS counts descriptors; one guest error per frame */
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, 0);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    tx_small_ok(&c, 1);
}

static void test_tx_oversize(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint16_t one[] = { CHIMNEY_MAX_FRAME + 1 };
    static const uint16_t two[] = { 5000, 4019 };
    static const uint16_t huge[] = { 60000, 100 };

    chimney_ring_start(c.d, CHIMNEY_RING_TX, 16);
    tx_frame_err(&c, one, 1, CHIMNEY_ERR_OVERSIZE);
    tx_frame_err(&c, two, 2, CHIMNEY_ERR_OVERSIZE);
    tx_frame_err(&c, huge, 2, CHIMNEY_ERR_OVERSIZE);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 2 + 2);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 0);
    tx_small_ok(&c, 1);
}

static void test_tx_runt(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint16_t one[] = { 13 };
    static const uint16_t three[] = { 1, 1, 1 };

    chimney_ring_start(c.d, CHIMNEY_RING_TX, 16);
    tx_frame_err(&c, one, 1, CHIMNEY_ERR_RUNT);
    tx_frame_err(&c, three, 3, CHIMNEY_ERR_RUNT);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 3);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 0);
    tx_small_ok(&c, 1);
}

static void test_tx_too_many_frags(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[17 * 10 + 60], wire[256];
    uint64_t a;
    uint32_t i;

    chimney_ring_start(d, CHIMNEY_RING_TX, 32);
    make_frame(f, sizeof(f), peer_mac, 0x0800, 1);
    /* 17 fragments of 10 bytes, none with EOP */
    for (i = 0; i < 17; i++) {
        a = chimney_alloc(d, 10);
        qtest_memwrite(c.qts, a, f + 10 * i, 10);
        chimney_tx_post(d, a, 10, 0);
    }
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    /* the first 16 are dropped as one frame; the 17th waits for its EOP */
    for (i = 0; i < 16; i++) {
        g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, i), ==,
                        desc_err(CHIMNEY_ERR_TOO_MANY_FRAGS));
    }
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 16), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 16);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==,
                    CHIMNEY_ERR_TOO_MANY_FRAGS);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 16);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 1);
    wire_expect_nothing(&c);

    /* processing continues after them: descriptor 16 + an EOP one */
    a = chimney_alloc(d, 60);
    qtest_memwrite(c.qts, a, f + 170, 60);
    chimney_tx_post(d, a, 60, CHIMNEY_TXF_EOP);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, 70);
    g_assert_cmpmem(wire, 70, f + 160, 70);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 16), ==,
                    CHIMNEY_DESC_DONE);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 17), ==,
                    CHIMNEY_DESC_DONE);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 18);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 1);

    /* exactly 16 fragments with EOP on the last is fine */
    make_frame(f, 16 * 10, peer_mac, 0x0800, 2);
    tx_frame_ok(&c, f, 160, 16, NULL);
}

static void test_tx_buffer_dma_error(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[60];
    uint64_t a;
    uint32_t i;

    chimney_ring_start(d, CHIMNEY_RING_TX, 16);
    /* one fragment outside RAM */
    chimney_tx_post(d, BAD_GPA, 60, CHIMNEY_TXF_EOP);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 0), ==,
                    desc_err(CHIMNEY_ERR_DMA));
    /* the second of three fragments outside RAM: the whole frame fails */
    make_frame(f, sizeof(f), peer_mac, 0x0800, 1);
    a = chimney_alloc(d, 60);
    qtest_memwrite(c.qts, a, f, 60);
    chimney_tx_post(d, a, 20, 0);
    chimney_tx_post(d, BAD_GPA + 0x1000, 20, 0);
    chimney_tx_post(d, a + 40, 20, CHIMNEY_TXF_EOP);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    for (i = 1; i < 4; i++) {
        g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, i), ==,
                        desc_err(CHIMNEY_ERR_DMA));
    }
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 4);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_DMA);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 3);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    wire_expect_nothing(&c);
    /* a data-buffer fault is not a ring fault: the ring keeps running */
    check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    tx_small_ok(&c, 2);
}

static void test_rx_zero_len_buffer(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[300];

    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    chimney_rx_post(d, chimney_alloc(d, 256), 0);
    chimney_rx_post(d, chimney_alloc(d, 256), 256);
    chimney_rx_post(d, chimney_alloc(d, 256), 0);
    chimney_rx_post(d, chimney_alloc(d, 256), 256);
    chimney_ring_kick(d, CHIMNEY_RING_RX);
    /* 300 bytes: skip 0, 256 into 1, skip 2, 44 into 3 */
    make_frame(f, sizeof(f), our_mac, 0x0800, 1);
    wire_send(&c, f, sizeof(f));
    wait_done(&c, CHIMNEY_RING_RX, 3);
    rx_check(&c, 0, NULL, 0, desc_err(CHIMNEY_ERR_ZERO_LEN), 0);
    rx_check(&c, 1, f, 256, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, 2, NULL, 0, desc_err(CHIMNEY_ERR_ZERO_LEN), 0);
    rx_check(&c, 3, f + 256, 44, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_ERRORS), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 1);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_ZERO_LEN);
    check_ring_status(&c, CHIMNEY_RING_RX, CHIMNEY_RING_ST_ENABLED);
}

static void test_ring_busy(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint64_t base;
    uint32_t errs = 0;

    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    base = d->ring[CHIMNEY_RING_TX].base;
    tx_small_ok(&c, 1);

    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO,
                        (uint32_t)base + 0x1000);
    errs++;
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BUSY);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_HI, 1);
    errs++;
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 16);
    errs++;
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BUSY);
    g_assert_cmphex(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO), ==,
                    (uint32_t)base);
    g_assert_cmphex(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_HI), ==,
                    base >> 32);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), ==, 8);
    /* ENABLE written again while enabled is no 0->1 edge: nothing resets */
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_CTRL,
                        CHIMNEY_RING_CTRL_ENABLE);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 1);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), ==, 1);
    check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    /* still the same ring */
    tx_small_ok(&c, 2);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);

    /* disabled: HEAD/TAIL keep their values, reconfiguration is allowed */
    chimney_ring_disable(d, CHIMNEY_RING_TX);
    check_ring_status(&c, CHIMNEY_RING_TX, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 2);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), ==, 2);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 16);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), ==, 16);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
}

static void test_bus_master_off(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static uint8_t wire[256];
    uint8_t f[60], g[90];
    uint32_t first;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 2, 256);

    chimney_set_bus_master(d, false);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_BUS_MASTER,
                    ==, 0);
    make_frame(f, sizeof(f), peer_mac, 0x0800, 1);
    first = chimney_tx_post_frame(d, f, sizeof(f), 1, NULL);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    make_frame(g, sizeof(g), our_mac, 0x0800, 2);
    wire_send(&c, g, sizeof(g));
    wire_expect_nothing(&c);
    /* nothing was done, and that is not an error */
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 0);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==, 0);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_RX, 0), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 0);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 0);
    check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    check_ring_status(&c, CHIMNEY_RING_RX, CHIMNEY_RING_ST_ENABLED);
    expect_no_other_vec(&c, 0);

    /* bus mastering on: both resume */
    chimney_set_bus_master(d, true);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, sizeof(f));
    g_assert_cmpmem(wire, sizeof(f), f, sizeof(f));
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==,
                    CHIMNEY_DESC_DONE);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);
    wait_done(&c, CHIMNEY_RING_RX, 0);
    rx_check(&c, 0, g, sizeof(g), CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_RX);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 0);
}

/*
 * Registration
 */

static void register_chimney_rings_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "tx", test_tx },
        { "rx", test_rx },
        { "rx-backpressure", test_rx_backpressure },
        { "bad-ring-size", test_bad_ring_size },
        { "bad-ring-align", test_bad_ring_align },
        { "ring-dma-error", test_ring_dma_error },
        { "bad-tail", test_bad_tail },
        { "tx-zero-len", test_tx_zero_len },
        { "tx-oversize", test_tx_oversize },
        { "tx-runt", test_tx_runt },
        { "tx-too-many-frags", test_tx_too_many_frags },
        { "tx-buffer-dma-error", test_tx_buffer_dma_error },
        { "rx-zero-len-buffer", test_rx_zero_len_buffer },
        { "ring-busy", test_ring_busy },
        { "bus-master-off", test_bus_master_off },
    };
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_rings_test);

#endif /* !_WIN32 */
