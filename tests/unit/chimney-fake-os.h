/*
 * A driver-core OS shim (struct chimney_os_ops) over the fake host: the
 * registers are the core's, DMA buffers come from the fake RAM (checked
 * for bounds and use after free), the lock is checked never to recurse.
 * Used by the driver-core unit tests and the unit-test scenario
 * environment (chimney-fake-env.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FAKE_OS_H
#define CHIMNEY_FAKE_OS_H

#include <stdarg.h>

#include "chimney-fake-host.h"
#include "chimney_drv.h"

typedef struct TAlloc {
    uint64_t dma;
    uint32_t len;
    bool freed;
} TAlloc;

#define MAX_OVERRIDES 4

typedef struct TestOs {
    FakeHost *h;
    GPtrArray *allocs;          /* TAlloc * */
    unsigned nalloc;
    unsigned nfree;
    int lock_depth;
    unsigned nlocks;
    bool fail_alloc;
    bool misalign;
    bool dirty_alloc;           /* break the "zero-filled" promise */
    GPtrArray *logs;            /* char * */
    struct {
        uint32_t off;
        uint32_t val;
    } ovr[MAX_OVERRIDES];       /* reg_read overrides */
    unsigned novr;
} TestOs;

static inline void os_override(TestOs *t, uint32_t off, uint32_t val)
{
    g_assert_cmpuint(t->novr, <, MAX_OVERRIDES);
    t->ovr[t->novr].off = off;
    t->ovr[t->novr].val = val;
    t->novr++;
}

static uint32_t t_reg_read(void *os, uint32_t off)
{
    TestOs *t = os;
    unsigned i;

    for (i = 0; i < t->novr; i++) {
        if (t->ovr[i].off == off) {
            return t->ovr[i].val;
        }
    }
    return chimney_core_read(&t->h->core, off, 4);
}

static void t_reg_write(void *os, uint32_t off, uint32_t val)
{
    TestOs *t = os;

    chimney_core_write(&t->h->core, off, val, 4);
}

static int t_dma_alloc(void *os, uint32_t len, struct chimney_dma_buf *buf)
{
    TestOs *t = os;
    TAlloc *a;

    g_assert_cmpint(t->lock_depth, ==, 0);
    g_assert_cmpuint(len, >, 0);
    if (t->fail_alloc) {
        return -1;
    }
    a = g_new0(TAlloc, 1);
    a->len = len;
    a->dma = fake_alloc(t->h, len + 64);
    memset(fake_ptr(t->h, a->dma), t->dirty_alloc ? 0xff : 0, len + 64);
    if (t->misalign) {
        a->dma += 8;
    }
    g_ptr_array_add(t->allocs, a);
    t->nalloc++;
    buf->dma = a->dma;
    buf->handle = a;
    buf->len = len;
    return 0;
}

static void t_dma_free(void *os, struct chimney_dma_buf *buf)
{
    TestOs *t = os;
    TAlloc *a = buf->handle;

    g_assert_cmpint(t->lock_depth, ==, 0);
    g_assert_nonnull(a);
    g_assert_false(a->freed);
    g_assert_cmphex(a->dma, ==, buf->dma);
    a->freed = true;
    /* poison: a use after free shows up as garbage */
    memset(fake_ptr(t->h, a->dma), 0xa5, a->len);
    t->nfree++;
}

static void t_check_access(const struct chimney_dma_buf *buf, uint32_t off,
                           uint32_t len)
{
    TAlloc *a = buf->handle;

    g_assert_nonnull(a);
    g_assert_false(a->freed);
    g_assert_cmphex(a->dma, ==, buf->dma);
    g_assert_cmpuint((uint64_t)off + len, <=, a->len);
}

static void t_dma_read(void *os, const struct chimney_dma_buf *buf,
                       uint32_t off, void *dst, uint32_t len)
{
    TestOs *t = os;

    t_check_access(buf, off, len);
    memcpy(dst, fake_ptr(t->h, buf->dma + off), len);
}

static void t_dma_write(void *os, const struct chimney_dma_buf *buf,
                        uint32_t off, const void *src, uint32_t len)
{
    TestOs *t = os;

    t_check_access(buf, off, len);
    memcpy(fake_ptr(t->h, buf->dma + off), src, len);
}

static void G_GNUC_PRINTF(3, 4) t_log(void *os, int level, const char *fmt,
                                      ...)
{
    TestOs *t = os;
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (g_getenv("CHIMNEY_TEST_VERBOSE")) {
        g_printerr("drv log %d: %s\n", level, msg);
    }
    g_ptr_array_add(t->logs, msg);
}

static void t_lock(void *os)
{
    TestOs *t = os;

    g_assert_cmpint(t->lock_depth, ==, 0);      /* never recursive */
    t->lock_depth++;
    t->nlocks++;
}

static void t_unlock(void *os)
{
    TestOs *t = os;

    g_assert_cmpint(t->lock_depth, ==, 1);
    t->lock_depth--;
}

static const struct chimney_os_ops test_os_ops = {
    .reg_read = t_reg_read,
    .reg_write = t_reg_write,
    .dma_alloc = t_dma_alloc,
    .dma_free = t_dma_free,
    .dma_read = t_dma_read,
    .dma_write = t_dma_write,
    .log = t_log,
    .lock = t_lock,
    .unlock = t_unlock,
};

static inline bool log_contains(TestOs *t, const char *needle)
{
    unsigned i;

    for (i = 0; i < t->logs->len; i++) {
        if (strstr(g_ptr_array_index(t->logs, i), needle)) {
            return true;
        }
    }
    return false;
}

#endif /* CHIMNEY_FAKE_OS_H */
