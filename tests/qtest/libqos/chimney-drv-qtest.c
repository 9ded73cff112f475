/*
 * qtest OS shim for the portable chimney-nic driver core: see
 * chimney-drv-qtest.h for the model (shadow buffers, dirty ranges,
 * epochs, event tap, raw commands).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/bswap.h"
#include "pci.h"
#include "libqos-malloc.h"
#include "chimney-nic.h"
#include "chimney-drv-qtest.h"

/*
 * Guest memory transfers in pieces (see the header for why).
 */

void qchimney_mem_write(QTestState *qts, uint64_t addr, const void *data,
                        size_t len)
{
    size_t off, n;

    for (off = 0; off < len; off += n) {
        n = MIN(len - off, (size_t)QCHIMNEY_XFER_CHUNK);
        qtest_bufwrite(qts, addr + off, (const uint8_t *)data + off, n);
    }
}

void qchimney_mem_read(QTestState *qts, uint64_t addr, void *data,
                       size_t len)
{
    size_t off, n;

    for (off = 0; off < len; off += n) {
        n = MIN(len - off, (size_t)QCHIMNEY_XFER_CHUNK);
        qtest_bufread(qts, addr + off, (uint8_t *)data + off, n);
    }
}

/*
 * Shadow buffers
 */

static QChimneyDmaBuf *buf_of(const ChimneyDmaBuf *buf)
{
    QChimneyDmaBuf *b = buf->handle;

    g_assert_nonnull(b);
    g_assert_false(b->freed);
    g_assert_cmphex(b->dma, ==, buf->dma);
    return b;
}

static void buf_check(const QChimneyDmaBuf *b, uint32_t off, uint32_t len)
{
    /* chimney_os.h: off + len never exceeds buf->len */
    g_assert_cmpuint((uint64_t)off + len, <=, b->len);
}

/* Record [off, off + len) as dirty; ranges stay sorted and disjoint. */
static void buf_mark_dirty(QChimneyOs *os, QChimneyDmaBuf *b, uint32_t off,
                           uint32_t len)
{
    GArray *r = b->dirty;
    QChimneyRange nr = { off, len };
    uint32_t i, end = off + len;

    if (!len) {
        return;
    }
    if (!b->on_dirty_list) {
        g_ptr_array_add(os->dirty_bufs, b);
        b->on_dirty_list = true;
    }
    /* the common case: appending right after (or inside) the last range */
    if (r->len) {
        QChimneyRange *last = &g_array_index(r, QChimneyRange, r->len - 1);

        if (off >= last->off && off <= last->off + last->len) {
            last->len = MAX(last->off + last->len, end) - last->off;
            return;
        }
    }
    /* general case: insert, then merge overlapping or touching ranges */
    for (i = 0; i < r->len; i++) {
        if (g_array_index(r, QChimneyRange, i).off > off) {
            break;
        }
    }
    g_array_insert_val(r, i, nr);
    i = i ? i - 1 : 0;
    while (i + 1 < r->len) {
        QChimneyRange *a = &g_array_index(r, QChimneyRange, i);
        QChimneyRange *c = &g_array_index(r, QChimneyRange, i + 1);

        if (c->off <= a->off + a->len) {
            a->len = MAX(a->off + a->len, c->off + c->len) - a->off;
            g_array_remove_index(r, i + 1);
        } else if (c->off > end) {
            break;
        } else {
            i++;
        }
    }
}

static void buf_flush(QChimneyOs *os, QChimneyDmaBuf *b)
{
    GArray *r = b->dirty;
    uint32_t i;

    if (!r->len) {
        return;
    }
    if (b->pristine) {
        /*
         * The device has never been told about this buffer: bytes between
         * the dirty ranges are the zeroes of dma_alloc on both sides, so
         * the whole span goes in one transfer.
         */
        QChimneyRange *first = &g_array_index(r, QChimneyRange, 0);
        QChimneyRange *last = &g_array_index(r, QChimneyRange, r->len - 1);
        uint32_t len = last->off + last->len - first->off;

        qchimney_mem_write(os->qts, b->dma + first->off,
                           b->shadow + first->off, len);
        os->flush_bytes += len;
        if (os->capture) {
            b->submitted = g_memdup2(b->shadow, b->len);
        }
        b->pristine = false;
    } else {
        for (i = 0; i < r->len; i++) {
            QChimneyRange *rg = &g_array_index(r, QChimneyRange, i);

            qchimney_mem_write(os->qts, b->dma + rg->off,
                               b->shadow + rg->off, rg->len);
            os->flush_bytes += rg->len;
        }
    }
    os->flush_calls++;
    g_array_set_size(r, 0);
}

void qchimney_os_flush(QChimneyOs *os)
{
    guint i;

    for (i = 0; i < os->dirty_bufs->len; i++) {
        QChimneyDmaBuf *b = g_ptr_array_index(os->dirty_bufs, i);

        buf_flush(os, b);
        b->on_dirty_list = false;
    }
    g_ptr_array_set_size(os->dirty_bufs, 0);
}

void qchimney_os_touch(QChimneyOs *os)
{
    os->epoch++;
}

/* Make the shadow current if QEMU may have run since it was read. */
static void buf_refresh(QChimneyOs *os, QChimneyDmaBuf *b)
{
    if (b->snap_epoch == os->epoch) {
        return;
    }
    /* our pending writes first, so the snapshot cannot undo them */
    buf_flush(os, b);
    qchimney_mem_read(os->qts, b->dma, b->shadow, b->len);
    b->snap_epoch = os->epoch;
    os->refresh_calls++;
    os->refresh_bytes += b->len;
}

static void buf_remove_dirty(QChimneyOs *os, QChimneyDmaBuf *b)
{
    if (b->on_dirty_list) {
        g_ptr_array_remove_fast(os->dirty_bufs, b);
        b->on_dirty_list = false;
    }
    g_array_set_size(b->dirty, 0);
}

/*
 * struct chimney_os_ops
 */

static uint32_t q_reg_read(void *opaque, uint32_t off)
{
    QChimneyOs *os = opaque;

    os->reg_reads++;
    os->epoch++;
    return qpci_io_readl(&os->d->pci_dev, os->d->bar0, off);
}

static void q_reg_write(void *opaque, uint32_t off, uint32_t val)
{
    QChimneyOs *os = opaque;

    /* chimney_os.h: earlier dma_writes are visible before the write */
    qchimney_os_flush(os);
    os->reg_writes++;
    os->epoch++;
    qpci_io_writel(&os->d->pci_dev, os->d->bar0, off, val);
}

static int q_dma_alloc(void *opaque, uint32_t len, ChimneyDmaBuf *buf)
{
    QChimneyOs *os = opaque;
    QChimneyDmaBuf *b;

    g_assert_cmpint(os->lock_depth, ==, 0);
    g_assert_cmpuint(len, >, 0);
    b = g_new0(QChimneyDmaBuf, 1);
    b->len = len;
    b->alloc = guest_alloc(os->alloc, (size_t)len + CHIMNEY_RING_ALIGN);
    if (!b->alloc) {
        g_free(b);
        return -1;
    }
    b->dma = QEMU_ALIGN_UP(b->alloc, CHIMNEY_RING_ALIGN);
    /* zero-filled (chimney_os.h): one command, no data transfer */
    qtest_memset(os->qts, b->dma, 0, len);
    b->shadow = g_malloc0(len);
    b->dirty = g_array_new(FALSE, FALSE, sizeof(QChimneyRange));
    b->pristine = true;
    b->snap_epoch = os->epoch;      /* shadow == memory right now */
    g_ptr_array_add(os->live, b);
    os->nalloc++;
    buf->dma = b->dma;
    buf->handle = b;
    buf->len = len;
    return 0;
}

static void q_dma_free(void *opaque, ChimneyDmaBuf *buf)
{
    QChimneyOs *os = opaque;
    QChimneyDmaBuf *b = buf_of(buf);

    g_assert_cmpint(os->lock_depth, ==, 0);
    if (os->capture) {
        QChimneyCapture *c = g_new0(QChimneyCapture, 1);

        buf_flush(os, b);
        c->dma = b->dma;
        c->len = b->len;
        c->alloc = b->alloc;
        c->submitted = b->submitted ? b->submitted : g_memdup2(b->shadow,
                                                               b->len);
        b->submitted = NULL;
        c->final = g_malloc(b->len);
        qchimney_mem_read(os->qts, b->dma, c->final, b->len);
        g_ptr_array_add(os->captures, c);
    } else {
        guest_free(os->alloc, b->alloc);
    }
    buf_remove_dirty(os, b);
    g_ptr_array_remove_fast(os->live, b);
    b->freed = true;
    g_free(b->shadow);
    g_free(b->submitted);
    g_array_free(b->dirty, TRUE);
    g_free(b);
    buf->handle = NULL;
    os->nfree++;
}

static void q_dma_read(void *opaque, const ChimneyDmaBuf *buf, uint32_t off,
                       void *dst, uint32_t len)
{
    QChimneyOs *os = opaque;
    QChimneyDmaBuf *b = buf_of(buf);

    buf_check(b, off, len);
    buf_refresh(os, b);
    memcpy(dst, b->shadow + off, len);
    /* event tap: the core reads each event entry whole, once */
    if (os->drv_up && b == os->drv.evt_ring.handle &&
        len == sizeof(ChimneyEvent) && off % sizeof(ChimneyEvent) == 0) {
        ChimneyEvent ev;

        memcpy(&ev, b->shadow + off, sizeof(ev));
        ev.type = le16_to_cpu(ev.type);
        ev.code = le16_to_cpu(ev.code);
        ev.status = le32_to_cpu(ev.status);
        ev.cookie = le64_to_cpu(ev.cookie);
        ev.handle = le64_to_cpu(ev.handle);
        ev.info = le32_to_cpu(ev.info);
        ev.flags = le32_to_cpu(ev.flags);
        g_array_append_val(os->evlog, ev);
    }
}

static void q_dma_write(void *opaque, const ChimneyDmaBuf *buf, uint32_t off,
                        const void *src, uint32_t len)
{
    QChimneyOs *os = opaque;
    QChimneyDmaBuf *b = buf_of(buf);

    buf_check(b, off, len);
    memcpy(b->shadow + off, src, len);
    buf_mark_dirty(os, b, off, len);
}

static void G_GNUC_PRINTF(3, 4) q_log(void *opaque, int level,
                                      const char *fmt, ...)
{
    QChimneyOs *os = opaque;
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (g_getenv("CHIMNEY_TEST_VERBOSE")) {
        g_test_message("drv log %d: %s", level, msg);
    }
    g_ptr_array_add(os->logs, msg);
}

static void q_lock(void *opaque)
{
    QChimneyOs *os = opaque;

    g_assert_cmpint(os->lock_depth, ==, 0);     /* never recursive */
    os->lock_depth++;
}

static void q_unlock(void *opaque)
{
    QChimneyOs *os = opaque;

    g_assert_cmpint(os->lock_depth, ==, 1);
    os->lock_depth--;
}

const ChimneyOsOps qchimney_os_ops = {
    .reg_read = q_reg_read,
    .reg_write = q_reg_write,
    .dma_alloc = q_dma_alloc,
    .dma_free = q_dma_free,
    .dma_read = q_dma_read,
    .dma_write = q_dma_write,
    .log = q_log,
    .lock = q_lock,
    .unlock = q_unlock,
};

/*
 * Set-up and teardown
 */

void qchimney_os_init(QChimneyOs *os, QChimneyNic *d, QGuestAllocator *alloc)
{
    memset(os, 0, sizeof(*os));
    os->d = d;
    os->qts = chimney_qts(d);
    os->alloc = alloc;
    os->epoch = 1;
    os->live = g_ptr_array_new();
    os->dirty_bufs = g_ptr_array_new();
    os->evlog = g_array_new(FALSE, TRUE, sizeof(ChimneyEvent));
    os->captures = g_ptr_array_new();
    os->logs = g_ptr_array_new_with_free_func(g_free);
    os->poll_step_ns = QCHIMNEY_POLL_STEP_NS;
}

int qchimney_drv_start(QChimneyOs *os, uint32_t cmd_ring, uint32_t evt_ring)
{
    int ret = chimney_drv_init(&os->drv, &qchimney_os_ops, os, cmd_ring,
                               evt_ring);

    os->drv_up = ret == 0;
    return ret;
}

void qchimney_release_captures(QChimneyOs *os)
{
    guint i;

    for (i = 0; i < os->captures->len; i++) {
        QChimneyCapture *c = g_ptr_array_index(os->captures, i);

        guest_free(os->alloc, c->alloc);
        g_free(c->submitted);
        g_free(c->final);
        g_free(c);
    }
    g_ptr_array_set_size(os->captures, 0);
}

void qchimney_os_cleanup(QChimneyOs *os)
{
    if (os->drv_up) {
        chimney_drv_fini(&os->drv);
        os->drv_up = false;
    }
    g_assert_cmpint(os->lock_depth, ==, 0);
    qchimney_release_captures(os);
    /* every DMA buffer was given back */
    g_assert_cmpuint(os->live->len, ==, 0);
    g_assert_cmpuint(os->nfree, ==, os->nalloc);
    g_ptr_array_unref(os->live);
    g_ptr_array_unref(os->dirty_bufs);
    g_array_free(os->evlog, TRUE);
    g_ptr_array_unref(os->captures);
    g_ptr_array_unref(os->logs);
}

void qchimney_capture(QChimneyOs *os, bool on)
{
    os->capture = on;
}

QChimneyCapture *qchimney_last_capture(QChimneyOs *os)
{
    if (!os->captures->len) {
        return NULL;
    }
    return g_ptr_array_index(os->captures, os->captures->len - 1);
}

/*
 * Time and polling
 */

int64_t qchimney_os_clock_step(QChimneyOs *os, int64_t ns)
{
    qchimney_os_flush(os);
    os->epoch++;
    os->clock_steps++;
    return qtest_clock_step(os->qts, ns);
}

uint32_t qchimney_poll(QChimneyOs *os)
{
    os->epoch++;
    os->polls++;
    return chimney_drv_process_events(&os->drv);
}

bool qchimney_wait_count(QChimneyOs *os, const unsigned *counter,
                         unsigned want, int iters)
{
    int i;

    for (i = 0; i < iters; i++) {
        uint32_t n = qchimney_poll(os);

        if (*counter >= want) {
            return true;
        }
        if (!n) {
            qchimney_os_clock_step(os, os->poll_step_ns);
        }
    }
    return *counter >= want;
}

void qchimney_settle(QChimneyOs *os, int quiet)
{
    int idle = 0, i;

    for (i = 0; i < QCHIMNEY_WAIT_ITERS && idle < quiet; i++) {
        if (qchimney_poll(os)) {
            idle = 0;
        } else {
            idle++;
            qchimney_os_clock_step(os, os->poll_step_ns);
        }
    }
    g_assert_cmpint(idle, >=, quiet);
}

/*
 * Raw commands on the core's CMD ring
 */

uint64_t qchimney_raw_submit(QChimneyOs *os, uint16_t opcode, uint16_t flags,
                             uint64_t addr, uint32_t len, uint64_t handle)
{
    uint64_t cookie = 0;
    int ret;

    g_assert_true(os->drv_up);
    ret = chimney_drv_raw_cmd(&os->drv, opcode, flags, addr, len, handle,
                              NULL, NULL, &cookie);
    g_assert_cmpint(ret, ==, 0);
    os->raw_seq++;
    return cookie;
}

static const ChimneyEvent *find_cmd_done(QChimneyOs *os, uint64_t cookie)
{
    guint i;

    for (i = os->evlog->len; i > 0; i--) {
        const ChimneyEvent *e = &g_array_index(os->evlog, ChimneyEvent,
                                               i - 1);

        if (e->type == CHIMNEY_EVT_CMD_DONE && e->cookie == cookie) {
            return e;
        }
    }
    return NULL;
}

ChimneyEvent qchimney_raw_wait(QChimneyOs *os, uint64_t cookie)
{
    const ChimneyEvent *e = NULL;
    int i;

    for (i = 0; i < QCHIMNEY_WAIT_ITERS; i++) {
        uint32_t n = qchimney_poll(os);

        e = find_cmd_done(os, cookie);
        if (e) {
            return *e;
        }
        if (!n) {
            qchimney_os_clock_step(os, os->poll_step_ns);
        }
    }
    g_error("chimney-drv-qtest: no CMD_DONE for raw command 0x%" PRIx64,
            cookie);
}

uint32_t qchimney_raw_cmd(QChimneyOs *os, uint16_t opcode, uint64_t addr,
                          uint32_t len, uint64_t handle, uint32_t *info)
{
    ChimneyEvent e = qchimney_raw_wait(os, qchimney_raw_submit(os, opcode, 0,
                                                               addr, len,
                                                               handle));

    g_assert_cmpuint(e.code, ==, opcode);
    if (info) {
        *info = e.info;
    }
    return e.status;
}

const ChimneyEvent *qchimney_last_cmd_done(QChimneyOs *os, uint16_t opcode)
{
    guint i;

    for (i = os->evlog->len; i > 0; i--) {
        const ChimneyEvent *e = &g_array_index(os->evlog, ChimneyEvent,
                                               i - 1);

        if (e->type == CHIMNEY_EVT_CMD_DONE && e->code == opcode) {
            return e;
        }
    }
    return NULL;
}

/*
 * Shim buffers for the test itself (send lists, data, return space)
 */

int qchimney_dma_alloc(QChimneyOs *os, uint32_t len, ChimneyDmaBuf *buf)
{
    return q_dma_alloc(os, len, buf);
}

void qchimney_dma_free(QChimneyOs *os, ChimneyDmaBuf *buf)
{
    bool cap = os->capture;

    os->capture = false;
    q_dma_free(os, buf);
    os->capture = cap;
}

void qchimney_dma_read(QChimneyOs *os, const ChimneyDmaBuf *buf, uint32_t off,
                       void *dst, uint32_t len)
{
    q_dma_read(os, buf, off, dst, len);
}

void qchimney_dma_write(QChimneyOs *os, const ChimneyDmaBuf *buf,
                        uint32_t off, const void *src, uint32_t len)
{
    q_dma_write(os, buf, off, src, len);
}
