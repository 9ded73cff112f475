#!/usr/bin/env bash
# The main job: build QEMU with the chimney-nic device, build the guest
# driver, boot a Linux VM with -device chimney-nic and run the demo in it.
#
# Usage: scripts/run-demo.sh [arguments for tests/guest/boot-demo.sh]
#
#   1. scripts/setup-host.sh    Debian build dependencies (idempotent)
#   2. scripts/build-qemu.sh    QEMU 10 + chimney-nic (cached, incremental)
#   3. meson setup/compile      the project's QEMU-free parts in build/
#                               (device core, guest-driver user-space parts)
#   4. tests/guest/boot-demo.sh the guest side: fetches a Debian kernel,
#                               builds the guest driver module against it,
#                               boots the VM with chimney-nic (TCG, or KVM
#                               when usable) and runs the demo
#
# Environment: see scripts/qemu-env.sh (CHIMNEY_CACHE, CHIMNEY_ACCEL, ...)
# and tests/guest/lib.sh (CHIMNEY_GUEST_* knobs).
#
# Copyright (c) 2026 chimney-nic authors
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf '\n=== %s\n' "$*"; }

demo=tests/guest/boot-demo.sh
if [ ! -f "$demo" ]; then
    echo "run-demo: $demo does not exist in this checkout, so there is no guest" >&2
    echo "run-demo: side of the demo to run (QEMU itself builds with scripts/build-qemu.sh)." >&2
    exit 1
fi

say "host setup (scripts/setup-host.sh)"
scripts/setup-host.sh

say "QEMU with chimney-nic (scripts/build-qemu.sh)"
scripts/build-qemu.sh >/dev/null
# shellcheck source=scripts/qemu-env.sh
. scripts/qemu-env.sh
echo "QEMU: $CHIMNEY_QEMU (accel: $CHIMNEY_ACCEL)"

say "project build (meson, build/)"
if [ -f build/build.ninja ]; then
    meson setup --reconfigure build >/dev/null || meson setup --wipe build >/dev/null
else
    meson setup build >/dev/null
fi
meson compile -C build

say "guest driver + VM boot + demo ($demo)"
if [ -x "$demo" ]; then
    exec "$demo" "$@"
else
    exec bash "$demo" "$@"
fi
