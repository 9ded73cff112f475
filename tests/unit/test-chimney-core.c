/*
 * Standalone unit tests of the chimney-nic core (registers, interrupts,
 * rings, L2 path, command/event flow control), without QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-fake-host.h"
#include "chimney-test-hdr.h"

static void put_tx(FakeHost *h, uint64_t ring, uint32_t idx, uint64_t addr,
                   uint16_t len, uint16_t flags)
{
    ChimneyTxDesc *d = (ChimneyTxDesc *)fake_ptr(h, ring) + idx;

    d->addr = GUINT64_TO_LE(addr);
    d->len = GUINT16_TO_LE(len);
    d->flags = GUINT16_TO_LE(flags);
    d->status = 0;
}

static void put_rx(FakeHost *h, uint64_t ring, uint32_t idx, uint64_t addr,
                   uint16_t buf_len)
{
    ChimneyRxDesc *d = (ChimneyRxDesc *)fake_ptr(h, ring) + idx;

    memset(d, 0, sizeof(*d));
    d->addr = GUINT64_TO_LE(addr);
    d->buf_len = GUINT16_TO_LE(buf_len);
}

static void fill_frame(uint8_t *buf, size_t len, const uint8_t *dst,
                       uint8_t seed)
{
    size_t i;

    memcpy(buf, dst, 6);
    memcpy(buf + 6, "\x02\x00\x00\x00\x00\x01", 6);
    buf[12] = 0x08;
    buf[13] = 0x00;
    for (i = 14; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7);
    }
}

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void test_reset_values(void)
{
    FakeHost *h = fake_host_new();

    g_assert_cmphex(rd(h, CHIMNEY_REG_ID), ==, CHIMNEY_ID_MAGIC);
    g_assert_cmphex(rd(h, CHIMNEY_REG_VERSION), ==, 0x00010003);
    g_assert_cmphex(rd(h, CHIMNEY_REG_MAC_LO), ==, 0x12005452);
    g_assert_cmphex(rd(h, CHIMNEY_REG_MAC_HI), ==, 0x5634);
    g_assert_cmphex(rd(h, CHIMNEY_REG_RX_FILTER), ==,
                    CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST);
    g_assert_cmphex(rd(h, CHIMNEY_REG_STATUS), ==, CHIMNEY_STATUS_LINK_UP |
                    CHIMNEY_STATUS_BUS_MASTER | CHIMNEY_STATUS_MSIX);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_CAP_MAX_CONN), ==, 65536);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_CAP_MSIX_VECTORS), ==, 5);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX,
                                            CHIMNEY_RING_SIZE)), ==, 0);
    g_assert_cmpuint(h->guest_errors, ==, 0);
    fake_host_free(h);
}

static void test_bad_register_access(void)
{
    FakeHost *h = fake_host_new();

    g_assert_cmpuint(chimney_core_read(&h->core, CHIMNEY_REG_ID, 2), ==, 0);
    chimney_core_write(&h->core, CHIMNEY_REG_INT_MASK + 1, 0xff, 4);
    wr(h, CHIMNEY_REG_ID, 0);
    g_assert_cmpuint(rd(h, 0xffc), ==, 0);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_ERR_COUNT), ==, 4);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_REG);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_INT_MASK), ==, 0);
    g_assert_cmphex(rd(h, CHIMNEY_REG_ID), ==, CHIMNEY_ID_MAGIC);
    fake_host_free(h);
}

static void test_ring_enable_validation(void)
{
    FakeHost *h = fake_host_new();
    uint32_t st;

    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO),
       FAKE_RAM_BASE);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), 12);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_CTRL), 1);
    st = rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_STATUS));
    g_assert_cmphex(st, ==, CHIMNEY_RING_ST_ERROR |
                    (CHIMNEY_ERR_BAD_SIZE << CHIMNEY_RING_ST_ERR_SHIFT));
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_MISC], ==, 0); /* masked */

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ERR);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_MISC], ==, 1);

    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), 16);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO),
       FAKE_RAM_BASE + 8);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_CTRL), 1);
    st = rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_STATUS));
    g_assert_cmpuint(st >> CHIMNEY_RING_ST_ERR_SHIFT, ==,
                     CHIMNEY_ERR_BAD_ALIGN);

    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO),
       FAKE_RAM_BASE);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_CTRL), 1);
    st = rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_STATUS));
    g_assert_cmphex(st, ==, CHIMNEY_RING_ST_ENABLED);

    /* reconfiguring while enabled is refused */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), 64);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX,
                                            CHIMNEY_RING_SIZE)), ==, 16);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BUSY);

    /* TAIL out of range is ignored */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 16);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX,
                                            CHIMNEY_RING_TAIL)), ==, 0);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_TAIL);
    fake_host_free(h);
}

static void test_tx_frames(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_TX, 16,
                                    sizeof(ChimneyTxDesc));
    uint64_t buf = fake_alloc(h, 4096);
    uint8_t *p = fake_ptr(h, buf);
    ChimneyTxDesc *d = fake_ptr(h, ring);
    GByteArray *f;

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    fill_frame(p, 1514, own_mac, 1);
    /* one frame in three fragments, then a 20-byte frame (padded) */
    put_tx(h, ring, 0, buf, 100, 0);
    put_tx(h, ring, 1, buf + 100, 1000, 0);
    put_tx(h, ring, 2, buf + 1100, 414, CHIMNEY_TXF_EOP);
    put_tx(h, ring, 3, buf, 20, CHIMNEY_TXF_EOP);
    /* incomplete frame: no EOP yet */
    put_tx(h, ring, 4, buf, 60, 0);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 5);

    g_assert_cmpuint(h->frames->len, ==, 2);
    f = g_ptr_array_index(h->frames, 0);
    g_assert_cmpuint(f->len, ==, 1514);
    g_assert_cmpmem(f->data, 1514, p, 1514);
    f = g_ptr_array_index(h->frames, 1);
    g_assert_cmpuint(f->len, ==, 60);
    g_assert_cmpmem(f->data, 20, p, 20);
    g_assert_cmpuint(f->data[59], ==, 0);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX,
                                            CHIMNEY_RING_HEAD)), ==, 4);
    g_assert_cmphex(GUINT16_FROM_LE(d[2].status), ==, CHIMNEY_DESC_DONE);
    g_assert_cmphex(GUINT16_FROM_LE(d[4].status), ==, 0);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_STAT(CHIMNEY_STAT_TX_FRAMES)), ==, 2);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_STAT(CHIMNEY_STAT_TX_BYTES)), ==,
                     1514 + 60);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_TX], ==, 1);

    /* complete the pending frame */
    put_tx(h, ring, 5, buf, 60, CHIMNEY_TXF_EOP);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 6);
    g_assert_cmpuint(h->frames->len, ==, 3);
    g_assert_cmpuint(((GByteArray *)g_ptr_array_index(h->frames, 2))->len,
                     ==, 120);
    fake_host_free(h);
}

static void test_tx_errors(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_TX, 64,
                                    sizeof(ChimneyTxDesc));
    uint64_t buf = fake_alloc(h, 16384);
    ChimneyTxDesc *d = fake_ptr(h, ring);
    uint32_t i, idx = 0;

    put_tx(h, ring, idx++, buf, 0, CHIMNEY_TXF_EOP);              /* zero */
    put_tx(h, ring, idx++, buf, 10, CHIMNEY_TXF_EOP);             /* runt */
    put_tx(h, ring, idx++, buf, 9000, 0);                         /* over */
    put_tx(h, ring, idx++, buf, 100, CHIMNEY_TXF_EOP);
    put_tx(h, ring, idx++, 0xdead0000ull, 100, CHIMNEY_TXF_EOP);  /* DMA */
    for (i = 0; i < 17; i++) {                                    /* frags */
        put_tx(h, ring, idx++, buf, 64, i == 16 ? CHIMNEY_TXF_EOP : 0);
    }
    put_tx(h, ring, idx++, buf, 64, CHIMNEY_TXF_EOP);             /* good */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), idx);

#define ERR_OF(i) (GUINT16_FROM_LE(d[i].status) >> CHIMNEY_DESC_ERR_SHIFT)
    g_assert_cmpuint(ERR_OF(0), ==, CHIMNEY_ERR_ZERO_LEN);
    g_assert_cmpuint(ERR_OF(1), ==, CHIMNEY_ERR_RUNT);
    g_assert_cmpuint(ERR_OF(2), ==, CHIMNEY_ERR_OVERSIZE);
    g_assert_cmpuint(ERR_OF(3), ==, CHIMNEY_ERR_OVERSIZE);
    g_assert_cmpuint(ERR_OF(4), ==, CHIMNEY_ERR_DMA);
    for (i = 5; i < 21; i++) {
        g_assert_cmpuint(ERR_OF(i), ==, CHIMNEY_ERR_TOO_MANY_FRAGS);
    }
    /* the 17th fragment (with EOP) is a frame of its own: 64 bytes, good */
    g_assert_cmpuint(ERR_OF(21), ==, 0);
    g_assert_cmpuint(ERR_OF(22), ==, 0);
#undef ERR_OF
    g_assert_cmpuint(h->frames->len, ==, 2);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX,
                                            CHIMNEY_RING_HEAD)), ==, idx);
    /* counted per descriptor: 1 + 1 + 2 + 1 + 16 */
    g_assert_cmpuint(rd(h, CHIMNEY_REG_STAT(CHIMNEY_STAT_TX_ERRORS)), ==, 21);
    fake_host_free(h);
}

static void test_tx_ring_dma_fault(void)
{
    FakeHost *h = fake_host_new();
    uint32_t st;

    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_HI), 0xff);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), 8);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_CTRL), 1);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 1);
    st = rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_STATUS));
    g_assert_cmphex(st, ==, CHIMNEY_RING_ST_ERROR |
                    (CHIMNEY_ERR_DMA << CHIMNEY_RING_ST_ERR_SHIFT));
    g_assert_cmpuint(h->frames->len, ==, 0);
    fake_host_free(h);
}

static void test_rx_delivery_and_spanning(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_RX, 8,
                                    sizeof(ChimneyRxDesc));
    uint64_t bufs = fake_alloc(h, 8 * 1024);
    ChimneyRxDesc *d = fake_ptr(h, ring);
    uint8_t frame[2500];
    uint32_t i;

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    for (i = 0; i < 7; i++) {
        put_rx(h, ring, i, bufs + i * 1024, 1024);
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 7);
    g_assert_true(chimney_core_can_receive(&h->core));

    fill_frame(frame, sizeof(frame), own_mac, 3);
    g_assert_cmpint(chimney_core_receive(&h->core, frame, sizeof(frame)), ==,
                    sizeof(frame));
    g_assert_cmpuint(GUINT16_FROM_LE(d[0].len), ==, 1024);
    g_assert_cmpuint(GUINT16_FROM_LE(d[1].len), ==, 1024);
    g_assert_cmpuint(GUINT16_FROM_LE(d[2].len), ==, 452);
    g_assert_cmphex(GUINT16_FROM_LE(d[0].status), ==, CHIMNEY_DESC_DONE);
    g_assert_cmphex(GUINT16_FROM_LE(d[2].status), ==,
                    CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    g_assert_cmpmem(fake_ptr(h, bufs), sizeof(frame), frame, sizeof(frame));
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 3);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_RX], ==, 1);

    /* filtered: unicast to someone else; accepted in promiscuous mode */
    frame[0] = 0x02;
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 100), ==, 100);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_STAT(CHIMNEY_STAT_RX_FILTERED)), ==, 1);
    wr(h, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 100), ==, 100);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 4);
    /* oversize is dropped and counted */
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 9019), ==, 9019);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_STAT(CHIMNEY_STAT_RX_OVERSIZE)), ==,
                     1);
    fake_host_free(h);
}

static void test_rx_backpressure_no_loss(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_RX, 8,
                                    sizeof(ChimneyRxDesc));
    uint64_t bufs = fake_alloc(h, 8 * 2048);
    uint8_t frame[1000];

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    put_rx(h, ring, 0, bufs, 2048);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 1);
    fill_frame(frame, sizeof(frame), own_mac, 5);
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 1000), ==, 1000);
    g_assert_false(chimney_core_can_receive(&h->core));
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 1000), ==, 0);

    /* a buffer too small for the frame: the frame must wait, not drop */
    put_rx(h, ring, 1, bufs + 2048, 500);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 2);
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 1000), ==, 0);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_MISC], ==, 1);   /* NOBUF */
    g_assert_cmpuint(rd(h, CHIMNEY_REG_STAT(CHIMNEY_STAT_RX_NOBUF)), ==, 1);
    /* repeated attempts do not raise another interrupt */
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 1000), ==, 0);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_MISC], ==, 1);

    put_rx(h, ring, 2, bufs + 4096, 500);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 3);
    g_assert_cmpuint(h->rx_flushes, >, 0);
    g_assert_cmpint(chimney_core_receive(&h->core, frame, 1000), ==, 1000);
    g_assert_cmpmem(fake_ptr(h, bufs + 2048), 500, frame, 500);
    g_assert_cmpmem(fake_ptr(h, bufs + 4096), 500, frame + 500, 500);
    fake_host_free(h);
}

/* Ones' complement sum of pseudo header + segment is 0: checksum valid. */
static bool tcp4_csum_ok(const uint8_t *ip, const uint8_t *th, size_t tlen)
{
    uint32_t sum = 6 + tlen;
    size_t i;

    for (i = 12; i < 20; i += 2) {
        sum += ip[i] << 8 | ip[i + 1];
    }
    for (i = 0; i < tlen; i += 2) {
        sum += th[i] << 8 | (i + 1 < tlen ? th[i + 1] : 0);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum == 0xffff;
}

static uint16_t rd16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

/*
 * A TCP super-segment as the host kernel leaves it to a tap with
 * receive offloads: IPv4 total length of the whole, the folded
 * pseudo-header sum in the TCP checksum field, PSH|FIN on it.
 */
static size_t build_super(uint8_t *f, uint32_t payload)
{
    uint32_t sum, i;

    memset(f, 0, 54);
    memcpy(f, own_mac, 6);
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
    f[12] = 0x08;
    f[14] = 0x45;
    f[16] = (40 + payload) >> 8;
    f[17] = 40 + payload;
    f[18] = 0x12;
    f[19] = 0x34;                       /* IP id 0x1234 */
    f[20] = 0x40;                       /* DF */
    f[22] = 64;
    f[23] = 6;
    memcpy(f + 26, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
    f[34] = 0x00; f[35] = 80;           /* sport 80, dport 1000 */
    f[36] = 0x03; f[37] = 0xe8;
    f[38] = 0x00; f[39] = 0x01; f[40] = 0x00; f[41] = 0x00;  /* seq 65536 */
    f[46] = 5 << 4;
    f[47] = 0x10 | 0x08 | 0x01;         /* ACK PSH FIN */
    f[48] = 0xff; f[49] = 0xff;
    for (i = 0; i < payload; i++) {
        f[54 + i] = (uint8_t)(i * 13 + i / 256);
    }
    sum = 0x0a00 + 0x0002 + 0x0a00 + 0x0001 + 6 + 20 + payload;
    sum = (sum & 0xffff) + (sum >> 16);
    f[50] = sum >> 8;
    f[51] = sum;
    return 54 + payload;
}

/*
 * Spec "Segmentation offload": a super-segment the backend hands over
 * reaches the host path as the segments the sender's stack would have
 * sent (each complete and valid, consecutive sequence numbers and IP
 * ids, PSH and FIN on the last); the first finding no room waits (0),
 * a later one is a loss; a frame whose checksum was left to the wire
 * arrives with it completed.
 */
static void test_rx_offload_host_path(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_RX, 8,
                                    sizeof(ChimneyRxDesc));
    uint64_t bufs = fake_alloc(h, 8 * 2048);
    ChimneyRxDesc *d = fake_ptr(h, ring);
    ChimneyRxOffload ro = {
        .needs_csum = true, .csum_start = 34, .csum_offset = 16,
        .gso = true, .gso_size = 1000,
    };
    static uint8_t f[54 + 2500];
    size_t len = build_super(f, 2500);
    uint32_t i;

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    /* no buffer: nothing delivered, the frame waits */
    g_assert_cmpint(chimney_core_receive_offloaded(&h->core, f, len, &ro),
                    ==, 0);
    for (i = 0; i < 7; i++) {
        put_rx(h, ring, i, bufs + i * 2048, 2048);
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 7);
    g_assert_cmpint(chimney_core_receive_offloaded(&h->core, f, len, &ro),
                    ==, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 3);
    for (i = 0; i < 3; i++) {
        uint8_t *s = fake_ptr(h, bufs + i * 2048);
        uint32_t n = i < 2 ? 1000 : 500;

        g_assert_cmpuint(GUINT16_FROM_LE(d[i].len), ==, 54 + n);
        g_assert_cmpuint(rd16(s + 16), ==, 40 + n);         /* IP length */
        g_assert_cmphex(rd16(s + 18), ==, 0x1234 + i);      /* IP id */
        g_assert_cmphex(chimney_ip_checksum(s + 14, 20), ==, 0);
        g_assert_cmphex(rd16(s + 38) << 16 | rd16(s + 40), ==,
                        65536 + i * 1000);
        g_assert_cmphex(s[47], ==, i < 2 ? 0x10 : 0x19);    /* PSH FIN */
        g_assert_true(tcp4_csum_ok(s + 14, s + 34, 20 + n));
        g_assert_cmpmem(s + 54, n, f + 54 + i * 1000, n);
    }

    g_assert_cmpint(chimney_core_receive_offloaded(&h->core, f, len, &ro),
                    ==, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 6);
    /* room for one segment only: the rest is lost, not queued again */
    g_assert_cmpint(chimney_core_receive_offloaded(&h->core, f, len, &ro),
                    ==, len);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                            CHIMNEY_RING_HEAD)), ==, 7);
    g_assert_cmpint(chimney_core_receive_offloaded(&h->core, f, len, &ro),
                    ==, 0);
    fake_host_free(h);

    /* one segment whose checksum the host left to the wire */
    h = fake_host_new();
    ring = fake_ring_setup(h, CHIMNEY_RING_RX, 8, sizeof(ChimneyRxDesc));
    bufs = fake_alloc(h, 2048);
    put_rx(h, ring, 0, bufs, 2048);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 1);
    len = build_super(f, 700);
    ro.gso = false;
    g_assert_false(tcp4_csum_ok(f + 14, f + 34, 720));
    g_assert_cmpint(chimney_core_receive_offloaded(&h->core, f, len, &ro),
                    ==, len);
    g_assert_true(tcp4_csum_ok(fake_ptr(h, bufs) + 14,
                               (uint8_t *)fake_ptr(h, bufs) + 34, 720));
    g_assert_cmpmem((uint8_t *)fake_ptr(h, bufs) + 54, 700, f + 54, 700);
    fake_host_free(h);
}

static void test_link_and_intx(void)
{
    FakeHost *h = fake_host_new();

    h->msix = false;
    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_LINK);
    chimney_core_set_link(&h->core, false);
    g_assert_true(h->intx);
    g_assert_cmphex(rd(h, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_LINK_UP, ==, 0);
    g_assert_cmphex(rd(h, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_LINK);
    wr(h, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_LINK);
    g_assert_false(h->intx);
    g_assert_cmphex(rd(h, CHIMNEY_REG_INT_CAUSE), ==, 0);
    chimney_core_set_link(&h->core, true);
    g_assert_true(h->intx);
    fake_host_free(h);
}

static void test_msix_moderation(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_TX, 16,
                                    sizeof(ChimneyTxDesc));
    uint64_t buf = fake_alloc(h, 64);

    h->now = 1000000;
    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    wr(h, CHIMNEY_REG_INT_THROTTLE, 100);       /* 100 us */
    put_tx(h, ring, 0, buf, 60, CHIMNEY_TXF_EOP);
    put_tx(h, ring, 1, buf, 60, CHIMNEY_TXF_EOP);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 1);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_TX], ==, 1);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 2);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_TX], ==, 1);
    fake_clock_step(h, 99999);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_TX], ==, 1);
    fake_clock_step(h, 1);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_TX], ==, 2);
    g_assert_cmphex(rd(h, CHIMNEY_REG_INT_CAUSE), ==, 0);   /* auto-clear */
    fake_host_free(h);
}

static void test_cmd_nop_and_flow_control(void)
{
    FakeHost *h = fake_host_new();
    uint64_t cring = fake_ring_setup(h, CHIMNEY_RING_CMD, 8,
                                     sizeof(ChimneyCmdDesc));
    uint64_t ering = fake_ring_setup(h, CHIMNEY_RING_EVT, 8,
                                     sizeof(ChimneyEvent));
    ChimneyCmdDesc *c = fake_ptr(h, cring);
    ChimneyEvent *e = fake_ptr(h, ering);
    uint32_t i;

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    for (i = 0; i < 4; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].opcode = GUINT16_TO_LE(i == 3 ? 0x7777 : CHIMNEY_CMD_NOP);
        c[i].cookie = GUINT64_TO_LE(0x1000 + i);
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL), 4);
    g_assert_true(h->cmd_scheduled);
    /* no event slots given yet: nothing is consumed */
    chimney_core_cmd_process(&h->core);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_HEAD)), ==, 0);
    /* two slots: two commands */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL), 2);
    chimney_core_cmd_process(&h->core);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_HEAD)), ==, 2);
    g_assert_cmpuint(GUINT16_FROM_LE(e[0].type), ==, CHIMNEY_EVT_CMD_DONE);
    g_assert_cmpuint(GUINT64_FROM_LE(e[1].cookie), ==, 0x1001);
    g_assert_cmpuint(GUINT32_FROM_LE(e[1].flags), ==, CHIMNEY_EVTF_VALID);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_CMD], ==, 1);
    g_assert_cmpuint(h->msix_count[CHIMNEY_VEC_EVT], ==, 1);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL), 7);
    chimney_core_cmd_process(&h->core);
    g_assert_cmpuint(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_HEAD)), ==, 4);
    g_assert_cmphex(GUINT32_FROM_LE(e[3].status), ==,
                    CHIMNEY_ST_NOT_SUPPORTED);
    g_assert_cmpuint(rd(h, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_OPCODE);
    fake_host_free(h);
}

static void test_no_dma_without_bus_master(void)
{
    FakeHost *h = fake_host_new();
    uint64_t ring = fake_ring_setup(h, CHIMNEY_RING_TX, 8,
                                    sizeof(ChimneyTxDesc));
    uint64_t buf = fake_alloc(h, 64);

    h->bus_master = false;
    put_tx(h, ring, 0, buf, 60, CHIMNEY_TXF_EOP);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 1);
    g_assert_cmpuint(h->frames->len, ==, 0);
    h->bus_master = true;
    chimney_core_pci_changed(&h->core);
    g_assert_cmpuint(h->frames->len, ==, 1);
    fake_host_free(h);
}

static void test_ctrl_reset(void)
{
    FakeHost *h = fake_host_new();

    fake_ring_setup(h, CHIMNEY_RING_RX, 8, sizeof(ChimneyRxDesc));
    wr(h, CHIMNEY_REG_MAC_LO, 0x11223344);
    wr(h, CHIMNEY_REG_INT_MASK, 0x3);
    wr(h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    g_assert_cmphex(rd(h, CHIMNEY_REG_MAC_LO), ==, 0x12005452);
    g_assert_cmphex(rd(h, CHIMNEY_REG_INT_MASK), ==, 0);
    g_assert_cmphex(rd(h, CHIMNEY_REG_CTRL), ==, 0);
    g_assert_cmphex(rd(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                           CHIMNEY_RING_STATUS)), ==, 0);
    fake_host_free(h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/core/reset-values", test_reset_values);
    g_test_add_func("/chimney/core/bad-register-access",
                    test_bad_register_access);
    g_test_add_func("/chimney/core/ring-enable-validation",
                    test_ring_enable_validation);
    g_test_add_func("/chimney/core/tx-frames", test_tx_frames);
    g_test_add_func("/chimney/core/tx-errors", test_tx_errors);
    g_test_add_func("/chimney/core/tx-ring-dma-fault", test_tx_ring_dma_fault);
    g_test_add_func("/chimney/core/rx-delivery-spanning",
                    test_rx_delivery_and_spanning);
    g_test_add_func("/chimney/core/rx-backpressure-no-loss",
                    test_rx_backpressure_no_loss);
    g_test_add_func("/chimney/core/rx-offload-host-path",
                    test_rx_offload_host_path);
    g_test_add_func("/chimney/core/link-intx", test_link_and_intx);
    g_test_add_func("/chimney/core/msix-moderation", test_msix_moderation);
    g_test_add_func("/chimney/core/cmd-nop-flow-control",
                    test_cmd_nop_and_flow_control);
    g_test_add_func("/chimney/core/no-dma-without-bus-master",
                    test_no_dma_without_bus_master);
    g_test_add_func("/chimney/core/ctrl-reset", test_ctrl_reset);
    return g_test_run();
}
