#!/usr/bin/env bash
# chimney-nic L2 guest boot test.
#
# Boots Debian bookworm's kernel (uncompressed vmlinux, PVH) with a busybox
# initramfs and the guest-driver/linux module under QEMU with
#   -netdev user,id=n0 -device chimney-nic,netdev=n0
# The guest loads the module, configures 10.0.2.15/24 via 10.0.2.2 and talks
# to host-server.py on 127.0.0.1:<free port> (slirp maps 10.0.2.2 to the
# host loopback): line exchange, 1 MiB each way with checksums, ping, a link
# flap through QMP set_link, MAC change, promiscuous mode, device/driver
# counters, then again with small rings (queue stop/wake, exhausted RX
# ring) and with the INTx fallback.
#
# Output: TAP on stdout (one line per check, plan line last); the serial
# console goes to stderr as "# " comment lines (unless --quiet) and to the
# log directory.
# Exit status: 0 all passed, 1 a check failed, 77 QEMU has no chimney-nic.
#
# Usage: run-l2-boot.sh [--quiet] [--nodev] [--no-flap] [--no-intx] [--no-small]
#                       [--one-nic] [--no-hub] [--stress MIB]
#   --nodev    boot without the device: module load/unload smoke test of
#              the pipeline (for QEMU builds without chimney-nic)
#   --no-flap  skip the link flap
#   --no-intx  skip the INTx (msix=0) pass
#   --no-small skip the small-ring pass (tx_ring=32 rx_ring=8)
#   --one-nic  no second chimney-nic (default: a second one on its own
#              slirp network 10.0.3.0/24, checked with an exchange)
#   --no-hub   no hub pair (default: two more chimney-nics on a QEMU hub,
#              one in a guest netns: MTU 9000, VLAN, RX filter, promisc)
#   --stress N also move 4 uploads + 4 downloads of N MiB concurrently
#              (with the default rings, and again with the small ones)
# Environment: see lib.sh; CHIMNEY_GUEST_LOGDIR sets the log directory.
set -euo pipefail

# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quiet=0 nodev=0 flap=1 intx=1 small=1 stress=0 nics=2 hub=1
while [ $# -gt 0 ]; do
    a=$1
    shift
    case $a in
    --quiet) quiet=1 ;;
    --nodev) nodev=1 ;;
    --no-flap) flap=0 ;;
    --no-intx) intx=0 ;;
    --no-small) small=0 ;;
    --one-nic) nics=1 ;;
    --no-hub) hub=0 ;;
    --stress) stress=${1:?--stress needs a size in MiB}; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) cg_die "unknown argument $a" ;;
    esac
done

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/l2-boot-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"
serial="$logdir/serial.log"

cg_qemu_setup
if [ $nodev = 0 ] && ! cg_have_chimney_device; then
    echo "1..0 # SKIP $CG_QEMU has no chimney-nic device (use --nodev for the pipeline smoke test)"
    exit 77
fi
cg_prepare

cleanup() { cg_server_stop; rm -f "$logdir/qmp.sock"; }
trap cleanup EXIT

qmp="$logdir/qmp.sock"
cg_server_start "$logdir/server.log" "$qmp"
CG_NODEV=$nodev
CG_GUEST_APPEND="chimney.flap=$flap chimney.intx=$intx chimney.small=$small chimney.stress=$stress chimney.nics=$nics chimney.hub=$hub"
CG_NICS=$nics
CG_HUB=$hub
mode="test"
# The console echo becomes TAP comments: nothing in it can pass for a result.
CG_SERIAL_PREFIX="# "
[ $nodev = 1 ] && mode=nodev
if [ $quiet = 1 ]; then
    cg_timed boot cg_boot "$mode" "$serial" -qmp "unix:$qmp,server=on,wait=off" \
        -d guest_errors -D "$logdir/qemu-guest-errors.log" >/dev/null
else
    cg_timed boot cg_boot "$mode" "$serial" -qmp "unix:$qmp,server=on,wait=off" \
        -d guest_errors -D "$logdir/qemu-guest-errors.log" >&2
fi
cg_server_stop

# ---- TAP ------------------------------------------------------------------
cg_tap_guest "$serial" "$logdir/qemu-guest-errors.log"
if [ $nodev = 0 ]; then
    srv="$logdir/server.log"
    if grep -q 'EVENT hello token=msix-' "$srv" &&
       grep -Eq 'EVENT upload want=1048576 got=1048576 ' "$srv" &&
       grep -Eq 'EVENT download n=1048576 ' "$srv"; then
        tap ok "host server saw the hello, the 1 MiB upload and the 1 MiB download"
    else
        tap fail "host server saw the hello, the 1 MiB upload and the 1 MiB download"
    fi
    if [ $flap = 1 ]; then
        if grep -q "EVENT link-down qmp=\[{'return': {}}\]" "$srv" &&
           grep -q "EVENT link-up qmp=\[{'return': {}}\]" "$srv"; then
            tap ok "host flapped the link through QMP set_link"
        else
            tap fail "host flapped the link through QMP set_link"
        fi
    fi
fi
echo "1..$n"

cg_log "timings: ${CG_TIMINGS[*]} total=$(cg_elapsed "$t_start")s"
cg_log "logs: $logdir"
[ $failed -eq 0 ] || { cg_log "$failed check(s) failed"; exit 1; }
