/*
 * An operation-level mutator for the programs of chimney-fuzz.h, used by
 * the libFuzzer target next to libFuzzer's byte-level one: it duplicates,
 * deletes, swaps and inserts whole operations and mutates the operands of
 * one operation, so programs keep their structure while they grow into
 * longer driver-like sequences (offload, trees over what exists, more
 * offloads, segments).
 *
 * fz_op_len() must follow chimney_fuzz_one() exactly; the smoke test
 * checks it on every program it runs (see chimney_fuzz_check_lengths()).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FUZZ_MUTATOR_H
#define CHIMNEY_FUZZ_MUTATOR_H

#include "chimney-fuzz.h"

/* Operation templates the mutator inserts (and then mutates). */
static const struct {
    uint8_t len;
    uint8_t b[16];
} fz_templates[] = {
    { 2, { FZ_BRINGUP, 0 } },
    { 8, { FZ_OFFLOAD, 0, 0, 1, 0x41, 0, 0x10, 0 } },
    { 8, { FZ_OFFLOAD, 0x20, 0x08, 1, 0x02, 0, 0, 0 } },
    { 4, { FZ_OFFLOAD, 0x20, 0x00, 0 } },
    { 8, { FZ_OFFLOAD, 0, 0x80, 1, 0x03, 0, 0, 0 } },
    { 7, { FZ_TREE, FZ_T_TERMINATE, 0, FZ_K_TCP, 1, 0, 0 } },
    { 11, { FZ_TREE, FZ_T_TERMINATE, 1, FZ_K_PATH, 1, 0, 0, FZ_K_TCP, 0,
            0, 0 } },
    { 7, { FZ_TREE, FZ_T_TERMINATE, 0, FZ_K_PATH, 1, 0, 0 } },
    { 7, { FZ_TREE, FZ_T_UPDATE, 0, FZ_K_TCP | FZ_R_STATE, 1, 0x11, 0 } },
    { 7, { FZ_TREE, FZ_T_QUERY, 0, FZ_K_TCP | FZ_R_STATE, 1, 0, 0 } },
    { 7, { FZ_TREE, FZ_T_INVALIDATE, 0, FZ_K_PATH, 1, 0, 0 } },
    { 12, { FZ_SEGMENT, 0, 0, 0, 0, 10, 0, 0, 0x10, 0, 0, 0 } },
    { 12, { FZ_SEGMENT, 1, 1, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 } },
    { 3, { FZ_ADVANCE, 10, 0 } },
    { 1, { FZ_FLUSH } },
};

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static inline size_t chimney_fuzz_mutate(uint8_t *data, size_t size,
                                         size_t max_size, unsigned seed)
{
    enum { MAX_OPS = 512 };
    size_t off[MAX_OPS + 1], len[MAX_OPS], n = 0, pos, i, j, out = 0;
    GRand *r;
    uint8_t *tmp;
    unsigned what;

    if (size == 0 || seed % 4 == 0) {
        return LLVMFuzzerMutate(data, size, max_size);
    }
    for (pos = 0; pos < size && n < MAX_OPS; pos += len[n++]) {
        off[n] = pos;
        len[n] = fz_op_len(data, size, pos);
    }
    if (pos < size) {
        return LLVMFuzzerMutate(data, size, max_size);
    }
    r = g_rand_new_with_seed(seed);
    tmp = g_malloc(max_size + 64);
    i = g_rand_int_range(r, 0, n);
    j = g_rand_int_range(r, 0, n + 1);
    what = g_rand_int_range(r, 0, 5);

#define PUT(src, l) do { \
        size_t l_ = MIN((size_t)(l), max_size - out); \
        memcpy(tmp + out, (src), l_); \
        out += l_; \
    } while (0)

    switch (what) {
    case 0:         /* duplicate op i before op j */
    case 1: {       /* insert a template before op j, operands mutated */
        uint8_t op[64 + 2048];
        size_t ol;

        if (what == 0) {
            ol = MIN(len[i], sizeof(op));
            memcpy(op, data + off[i], ol);
        } else {
            unsigned t = g_rand_int_range(r, 0, G_N_ELEMENTS(fz_templates));

            ol = fz_templates[t].len;
            memcpy(op, fz_templates[t].b, ol);
        }
        if (ol > 1 && g_rand_boolean(r)) {
            /* mutate the operands, keep the length */
            size_t nl = LLVMFuzzerMutate(op + 1, ol - 1, ol - 1);

            memset(op + 1 + nl, 0, ol - 1 - nl);
        }
        for (pos = 0; pos < n; pos++) {
            if (pos == j) {
                PUT(op, ol);
            }
            PUT(data + off[pos], len[pos]);
        }
        if (j == n) {
            PUT(op, ol);
        }
        break;
    }
    case 2:         /* delete op i */
        for (pos = 0; pos < n; pos++) {
            if (pos != i || n == 1) {
                PUT(data + off[pos], len[pos]);
            }
        }
        break;
    case 3:         /* swap ops i and j */
        j = MIN(j, n - 1);
        for (pos = 0; pos < n; pos++) {
            size_t k = pos == i ? j : pos == j ? i : pos;

            PUT(data + off[k], len[k]);
        }
        break;
    default: {      /* mutate the operands of op i in place */
        memcpy(tmp, data, size);
        out = size;
        if (len[i] > 1) {
            size_t nl = LLVMFuzzerMutate(tmp + off[i] + 1, len[i] - 1,
                                         len[i] - 1);

            memset(tmp + off[i] + 1 + nl, 0, len[i] - 1 - nl);
        } else {
            tmp[off[i]] = g_rand_int(r);
        }
        break;
    }
    }
#undef PUT
    memcpy(data, tmp, out);
    g_free(tmp);
    g_rand_free(r);
    return out ? out : LLVMFuzzerMutate(data, size, max_size);
}

#endif /* CHIMNEY_FUZZ_MUTATOR_H */
