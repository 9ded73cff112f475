#!/usr/bin/env bash
# chimney-nic offload policy and event log guest test.
#
# Boots the guest of run-offload.sh (chimney.mode=offload-ctl) with two
# host servers (the second on a port no rule names) and checks, with
# guest-driver/tools/chimneyctl and tests/guest/ctlbad:
#   1. malformed requests on /dev/chimney (command sizes, bad rules, too
#      many rules, unknown ids, monitor limits) get their defined errors;
#   2. a monitor that reads nothing while 10 events happen (queue of 4)
#      gets a "lost" record, then the 4 newest events;
#   3. a policy rule "dev IF dport P after 768k": an unchanged program's
#      connection (xfer pump) stays on the kernel stack until 768 KiB have
#      moved (two complete policy scans below it), then the module offloads
#      it by itself; a connection to the other port is never offloaded;
#      ss-style list filters; upload by filter; the policy leaves the
#      uploaded connection alone; offload by 4-tuple; the host's FIN while
#      offloaded; both streams intact (SHA-256 both ends, FIN);
#      policy list/del/flush;
#   4. chimneyctl monitor, running through all of it, printed the
#      connection's events in order: policy-add, offload, policy-offload,
#      upload (user), offload, disconnect, upload (socket), policy-del;
# then: no TCP reset from the guest, rmmod, no kernel warnings, no guest
# errors logged by QEMU.
#
# Output: TAP on stdout, the serial console as "# " lines on stderr
# (unless --quiet).  Exit status: 0 all passed, 1 a check failed, 77 QEMU
# has no chimney-nic.
#
# Usage: run-offload-ctl.sh [--quiet]
# Environment: see lib.sh; CHIMNEY_GUEST_LOGDIR sets the log directory.
set -euo pipefail

# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quiet=0
while [ $# -gt 0 ]; do
    a=$1
    shift
    case $a in
    --quiet) quiet=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) cg_die "unknown argument $a" ;;
    esac
done

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/offload-ctl-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"
serial="$logdir/serial.log"

cg_qemu_setup
if ! cg_have_chimney_device; then
    echo "1..0 # SKIP $CG_QEMU has no chimney-nic device"
    exit 77
fi
cg_prepare

server2=
cleanup() {
    cg_server_stop
    if [ -n "$server2" ]; then
        kill "$server2" 2>/dev/null || true
        wait "$server2" 2>/dev/null || true
        server2=
    fi
}
trap cleanup EXIT

# the second server (port 2), then the main one (CG_PORT, CG_SERVER_PID)
cg_server_start "$logdir/server2.log"
server2=$CG_SERVER_PID port2=$CG_PORT
cg_server_start "$logdir/server.log"
CG_GUEST_APPEND="chimney.port2=$port2"
CG_NICS=1
CG_HUB=0
CG_SERIAL_PREFIX="# "
qemu_extra=(-d guest_errors -D "$logdir/qemu-guest-errors.log")
if [ $quiet = 1 ]; then
    cg_timed boot cg_boot offload-ctl "$serial" "${qemu_extra[@]}" >/dev/null
else
    cg_timed boot cg_boot offload-ctl "$serial" "${qemu_extra[@]}" >&2
fi
cleanup

# ---- TAP ------------------------------------------------------------------
cg_tap_guest "$serial" "$logdir/qemu-guest-errors.log"
for p in pol:server other:server2; do
    srv="$logdir/${p#*:}.log"
    if grep -Eq "EVENT pump name=${p%%:*} n=1048576 sent=1048576 rcvd=1048576 .* end=fin " "$srv"; then
        tap ok "host: pump ${p%%:*} moved 1 MiB each way and ended with FIN"
    else
        tap fail "host: pump ${p%%:*} moved 1 MiB each way and ended with FIN"
        grep "name=${p%%:*}" "$srv" | tail -n 3 | sed 's/^/# /'
    fi
done
echo "1..$n"

cg_log "timings: ${CG_TIMINGS[*]} total=$(cg_elapsed "$t_start")s"
cg_log "logs: $logdir"
[ $failed -eq 0 ] || { cg_log "$failed check(s) failed"; exit 1; }
