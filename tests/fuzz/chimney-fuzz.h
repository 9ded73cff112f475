/*
 * One fuzz input = a little program run against the standalone device
 * core: register writes, guest-memory contents (including trees, ring
 * entries and buffers at addresses the device will be pointed at),
 * command-processing and timer steps, and frames from the wire.  Used by
 * the libFuzzer target (tests/fuzz/fuzz-chimney.c) and by the
 * deterministic smoke run in the unit tests.
 *
 * The device must survive every program: no crash, no sanitizer report,
 * no unbounded loop, no leak (the fake host is torn down at the end).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FUZZ_H
#define CHIMNEY_FUZZ_H

#define FAKE_RAM_SIZE   (1u << 20)
#include "chimney-fake-host.h"

enum {
    FZ_WRITE_REG,       /* u16 offset, u32 value */
    FZ_READ_REG,        /* u16 offset */
    FZ_POKE,            /* u32 ram offset, u8 len, bytes */
    FZ_BLOCK,           /* u32 ram offset, 64-byte block + 8-byte state hdr */
    FZ_CMD,             /* run command processing */
    FZ_FRAME,           /* u8 len (x8), bytes: a frame from the wire */
    FZ_CLOCK,           /* u16 microseconds */
    FZ_PCI,             /* u8: bit0 bus master, bit1 MSI-X */
    FZ_LINK,            /* u8: up */
    FZ_OPS,
};

static inline uint32_t fz_take(const uint8_t **p, const uint8_t *end,
                               unsigned n)
{
    uint32_t v = 0;
    unsigned i;

    for (i = 0; i < n && *p < end; i++) {
        v |= (uint32_t)*(*p)++ << (8 * i);
    }
    return v;
}

/* Run one program; at most 256 operations so each input stays quick. */
static inline void chimney_fuzz_one(const uint8_t *data, size_t size)
{
    FakeHost *h = fake_host_new();
    const uint8_t *p = data, *end = data + size;
    unsigned ops = 0;

    while (p < end && ops++ < 256) {
        uint8_t op = *p++ % FZ_OPS;

        switch (op) {
        case FZ_WRITE_REG: {
            uint32_t off = fz_take(&p, end, 2) & 0xfff;
            uint32_t val = fz_take(&p, end, 4);

            /* ring bases land in guest RAM most of the time */
            if ((off & 0x1f) == CHIMNEY_RING_ADDR_LO && off >= 0x100 &&
                off < 0x200 && (val & 1)) {
                val = (uint32_t)FAKE_RAM_BASE + (val & 0xfffc0);
            }
            chimney_core_write(&h->core, off, val, 4);
            break;
        }
        case FZ_READ_REG:
            chimney_core_read(&h->core, fz_take(&p, end, 2) & 0xfff,
                              1u << (fz_take(&p, end, 1) & 3));
            break;
        case FZ_POKE: {
            uint32_t off = fz_take(&p, end, 4) % FAKE_RAM_SIZE;
            uint32_t len = fz_take(&p, end, 1);

            while (len-- && p < end) {
                h->ram[off] = *p++;
                off = (off + 1) % FAKE_RAM_SIZE;
            }
            break;
        }
        case FZ_BLOCK: {
            /* a plausible block: valid type/role most of the time */
            uint32_t off = (fz_take(&p, end, 4) % (FAKE_RAM_SIZE - 4096)) &
                           ~7u;
            ChimneyBlock *b = (ChimneyBlock *)(h->ram + off);
            uint32_t r = fz_take(&p, end, 4);

            memset(b, 0, sizeof(*b));
            b->type = GUINT16_TO_LE(1 + r % 18);
            b->role = GUINT16_TO_LE((r >> 8) % 4);
            b->size = GUINT32_TO_LE(64 + ((r >> 12) % 5) * 8 * 8);
            b->next = GUINT64_TO_LE((r & (1u << 20)) ?
                                    FAKE_RAM_BASE + (fz_take(&p, end, 3) &
                                                     0xffff8) : 0);
            b->dependent = GUINT64_TO_LE((r & (1u << 21)) ?
                                         FAKE_RAM_BASE + (fz_take(&p, end, 3) &
                                                          0xffff8) : 0);
            b->handle = GUINT64_TO_LE(CHIMNEY_HANDLE_MAKE(1 + (r >> 22) % 3,
                                                          (r >> 24) & 3, 1));
            break;
        }
        case FZ_CMD:
            chimney_core_cmd_process(&h->core);
            break;
        case FZ_FRAME: {
            uint32_t len = fz_take(&p, end, 1) * 8;
            uint8_t frame[2048];

            len = MIN(len, (uint32_t)(end - p));
            memcpy(frame, p, len);
            p += len;
            chimney_core_receive(&h->core, frame, len);
            break;
        }
        case FZ_CLOCK:
            fake_clock_step(h, (int64_t)fz_take(&p, end, 2) * 1000);
            break;
        case FZ_PCI: {
            uint32_t v = fz_take(&p, end, 1);

            h->bus_master = v & 1;
            h->msix = v & 2;
            chimney_core_pci_changed(&h->core);
            break;
        }
        case FZ_LINK:
            chimney_core_set_link(&h->core, fz_take(&p, end, 1) & 1);
            break;
        }
    }
    fake_host_free(h);
}

#endif /* CHIMNEY_FUZZ_H */
