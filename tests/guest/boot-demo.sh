#!/usr/bin/env bash
# chimney-nic demo: boot a Linux guest with -device chimney-nic and watch the
# L2 path work.
#
# Boots Debian bookworm's kernel with a busybox initramfs and the
# guest-driver/linux module under QEMU (-netdev user), then, in the guest:
# lists the PCI devices, loads the driver, shows its dmesg lines, `ip link`,
# brings the interface up at 10.0.2.15/24 via 10.0.2.2, shows the interrupt
# vectors, pings the host side of slirp and exchanges data over TCP with a
# server this script runs on the host at 127.0.0.1:<free port>.  The guest
# then powers off.
#
# Usage: boot-demo.sh
# Exit status: 0 when every step of the demo worked, 1 otherwise.
# Environment: see lib.sh; CHIMNEY_GUEST_LOGDIR sets the log directory.
set -euo pipefail

# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) cg_die "unknown argument $1" ;;
esac

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/demo-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"

cg_qemu_setup
cg_have_chimney_device ||
    cg_die "$CG_QEMU has no chimney-nic device (build it: scripts/build-qemu.sh)"
cg_log "QEMU: $CG_QEMU (accel $CG_ACCEL)"
cg_prepare
cg_log "kernel: $CG_KV, module: $CG_MODULE"

trap cg_server_stop EXIT
cg_server_start "$logdir/server.log"
cg_log "host TCP server: 127.0.0.1:$CG_PORT (the guest sees it as 10.0.2.2:$CG_PORT)"

echo
echo "===== guest console ====="
cg_timed boot cg_boot demo "$logdir/serial.log"
echo "===== end of guest console ====="
cg_server_stop

echo
echo "===== host server log ====="
sed 's/^/  /' "$logdir/server.log"

echo
cg_log "timings: ${CG_TIMINGS[*]} total=$(cg_elapsed "$t_start")s"
cg_log "logs: $logdir"
if [ "$CG_QEMU_RC" = 1 ] && grep -aq '^GUEST-RESULT: PASS' <(tr -d '\r' <"$logdir/serial.log"); then
    cg_log "demo: PASS"
    exit 0
fi
cg_log "demo: FAIL (QEMU exit status $CG_QEMU_RC)"
exit 1
