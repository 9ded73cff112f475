/*
 * chimney-nic: checks of device state that arrives in a migration stream.
 *
 * A migration stream is not trusted: it may be corrupt or crafted.  The
 * QEMU glue (chimney_nic.c, post_load) asks chimney_core_migrated_state_valid()
 * about every field of the VMState it loaded before the core touches any of
 * them, and refuses the migration if one is out of range.  C + GLib only,
 * like the rest of the core, so the checks are unit tested standalone
 * (tests/unit/test-chimney-migrate.c).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_MIGRATE_H
#define CHIMNEY_MIGRATE_H

#include <stdbool.h>

#include "chimney_core.h"

/*
 * Bounds of the moderation timestamps (ChimneyCore.vec_last_ns): the core's
 * "never sent" value is INT64_MIN / 2, and clock values are non-negative;
 * anything outside [CHIMNEY_MIGRATE_NS_MIN, CHIMNEY_MIGRATE_NS_MAX] would
 * make the core's interval arithmetic overflow.
 */
#define CHIMNEY_MIGRATE_NS_MIN      (INT64_MIN / 2)
#define CHIMNEY_MIGRATE_NS_MAX      (INT64_MAX / 2)
/* Longest moderation gap: INT_THROTTLE is 16 bits of microseconds. */
#define CHIMNEY_MIGRATE_MAX_GAP_NS  ((int64_t)0xffff * 1000)

/*
 * True if every migrated field of @core (see chimney_nic_vmstate in
 * chimney_nic.c) holds a value the device itself can produce, so that the
 * core can run on it without out-of-bounds accesses, huge allocations,
 * overflows or endless loops.  Otherwise false, and *@why (if @why is not
 * NULL) is set to a newly allocated message that names the field and its
 * value (free it with g_free()).
 *
 * Only fields that are in the migration stream are looked at; link_up,
 * irq_hold, the offload state and the other host-side fields are not.
 */
bool chimney_core_migrated_state_valid(const ChimneyCore *core, char **why);

#endif /* CHIMNEY_MIGRATE_H */
