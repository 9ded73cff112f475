# shellcheck shell=sh
# Source this file (". scripts/qemu-env.sh") to get the paths of the QEMU
# build that scripts/build-qemu.sh produces and the arguments needed to run
# it on this host.  It only sets variables; it builds nothing and never
# exits the calling shell.
#
#   CHIMNEY_QEMU_VERSION   QEMU release the project builds against
#   CHIMNEY_CACHE          cache root (default ~/.cache/chimney-nic)
#   CHIMNEY_QEMU_TREE      patched QEMU source tree (one per QEMU version)
#   CHIMNEY_QEMU_BUILD     its build directory
#   CHIMNEY_QEMU           qemu-system-x86_64 in that build directory
#   CHIMNEY_QOS_TEST       tests/qtest/qos-test in that build directory
#   CHIMNEY_QTEST_QEMU_BINARY
#                          wrapper named qemu-system-x86_64 that runs
#                          $CHIMNEY_QEMU with $CHIMNEY_QEMU_FW_ARGS; use it as
#                          QTEST_QEMU_BINARY (libqtest derives the target
#                          arch from the binary name, so extra arguments
#                          cannot be appended to QTEST_QEMU_BINARY itself)
#   CHIMNEY_QEMU_FW_ARGS   -L options for Debian's firmware (SeaBIOS, iPXE,
#                          option ROMs): the Debian QEMU tarball ships no
#                          firmware blobs, so QEMU must be pointed at them
#   CHIMNEY_ACCEL          kvm when usable here, else tcg
#
# Copyright (c) 2026 chimney-nic authors
# SPDX-License-Identifier: GPL-2.0-or-later

CHIMNEY_QEMU_VERSION=${CHIMNEY_QEMU_VERSION:-10.0.2}
CHIMNEY_CACHE=${CHIMNEY_CACHE:-${HOME}/.cache/chimney-nic}
CHIMNEY_QEMU_TREE=$CHIMNEY_CACHE/qemu-$CHIMNEY_QEMU_VERSION
CHIMNEY_QEMU_BUILD=$CHIMNEY_QEMU_TREE/build
CHIMNEY_QEMU=$CHIMNEY_QEMU_BUILD/qemu-system-x86_64
CHIMNEY_QOS_TEST=$CHIMNEY_QEMU_BUILD/tests/qtest/qos-test
CHIMNEY_QTEST_QEMU_BINARY=$CHIMNEY_QEMU_TREE/.chimney/bin/qemu-system-x86_64

CHIMNEY_QEMU_FW_ARGS=
for _chimney_d in /usr/share/seabios /usr/lib/ipxe/qemu /usr/share/qemu; do
    if [ -d "$_chimney_d" ]; then
        CHIMNEY_QEMU_FW_ARGS="${CHIMNEY_QEMU_FW_ARGS:+$CHIMNEY_QEMU_FW_ARGS }-L $_chimney_d"
    fi
done
unset _chimney_d

# KVM only on a host CPU with VT-x/AMD-V, a usable /dev/kvm and not inside a
# PVM guest (kvm_pvm exposes /dev/kvm but cannot run our guests); else TCG.
if grep -Eqw 'vmx|svm' /proc/cpuinfo 2>/dev/null &&
   [ ! -e /sys/module/kvm_pvm ] &&
   [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    CHIMNEY_ACCEL=kvm
else
    CHIMNEY_ACCEL=tcg
fi

export CHIMNEY_QEMU_VERSION CHIMNEY_CACHE CHIMNEY_QEMU_TREE CHIMNEY_QEMU_BUILD \
       CHIMNEY_QEMU CHIMNEY_QOS_TEST CHIMNEY_QTEST_QEMU_BINARY \
       CHIMNEY_QEMU_FW_ARGS CHIMNEY_ACCEL
