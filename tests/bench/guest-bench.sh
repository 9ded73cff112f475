#!/usr/bin/env bash
# Guest-level throughput and CPU benchmark of chimney-nic (issue 8).
#
# Boots the guest of tests/guest (Debian bookworm kernel, busybox
# initramfs, guest-driver/linux; lib.sh) once per run and NIC, in
# chimney.mode=bench, and moves MIB MiB guest->host, then MIB MiB
# host->guest, with gbench (tests/bench/guest/gbench.c: 64 KiB write()s
# and read()s; the guest always opens the connection) against
# tests/bench/guest/benchsrv.py on the host.  NICs:
#   offload  chimney-nic, each connection moved onto the NIC's TCP engine
#            right after connect() (chimneyctl offload PID --dport P),
#            before the first data byte
#   policy   the same, moved by the module's offload policy (a rule for
#            the host's address set before the transfers; gbench waits
#            for the socket's TCP_ULP to become "chimney"): no process
#            started for the offload
#   l2       chimney-nic as a plain NIC (the kernel's TCP)
#   virtio   virtio-net-pci (virtio_net from the Debian image)
#   e1000e   e1000e (from the Debian image)
# over two netdevs:
#   tap      a tap device in a private network namespace (created here,
#            removed on exit); QEMU and the host server run inside it;
#            host 192.168.77.1, guest 192.168.77.2
#   user     -netdev user (slirp); the host server on 127.0.0.1
# Runs are interleaved (rep -> netdev -> NIC).  Per cell it prints the
# median and [min-max] of
#   host MB/s        10^6 bytes/s at the host: guest->host from the first
#                    to the last byte received, host->guest from the
#                    guest's start byte to its close after EOF
#   guest CPU ms/MiB the guest's /proc/stat "cpu" line, busy = total -
#                    idle - iowait, from right before connect() to right
#                    after close() (so the offload itself is included)
#   QEMU CPU ms/MiB  utime + stime of the QEMU process (/proc/PID/stat)
#                    at the start and end of the transfer, on the host
# plus the guest's busy %, its CPU spent between connect() and the first
# data byte ("setup ms": the offload, for the offloaded NIC), the NIC's
# interrupts and the frames on chimney-nic's L2 rings during the
# transfer; then the goal
# check (offloaded vs virtio-net-pci over tap: throughput >= 4x, guest
# CPU per MiB <= 1/5) as "goal met"/"goal missed" lines.  Every transfer
# is checked (bytes and SHA-256 at both ends, the guest's checks, QEMU's
# exit status); one that fails, or still runs 30 + MIB seconds after its
# start (the host then aborts it), is an ERROR line, not a figure.
# It is a benchmark: the exit status is 0 when it ran (even with errors
# or a missed goal), 77 when QEMU has no chimney-nic, 1 when it could not
# run at all.
#
# The guest has 1 vCPU (--smp) and 256 MiB; the QEMU boots are
# serialised with the other guest tests through /tmp/chimney-qemu.lock,
# which the script holds for its whole run (unless an ancestor process
# holds it already, e.g. `flock /tmp/chimney-qemu.lock guest-bench.sh`,
# or CHIMNEY_QEMU_LOCK_HELD=1).  tap needs root (network namespaces).
#
# Usage: guest-bench.sh [--runs N] [--mib N] [--nics offload,policy,l2,virtio,e1000e]
#                       [--netdevs tap,user] [--smp N] [--quick]
#   --runs N   runs per cell (default 6)
#   --mib N    MiB each way per run (default 64, at most 128)
#   --quick    1 run of 8 MiB in every cell: a smoke run of a few minutes
#   --deadline S  abort a transfer still running after S s (default
#              30 + MIB): it is an ERROR line with the rate it had
#   --netdevs  default tap,user; user only when not run as root
# Environment: see tests/guest/lib.sh; CHIMNEY_GUEST_LOGDIR sets the log
# directory (default ~/.cache/chimney-nic/guest/logs/bench-*);
# CHIMNEY_BENCH_PCAP=1 records each run's frames (QEMU filter-dump) in
# n0.pcap there (the recording costs QEMU CPU: not for the figures).
# CG_* variables are read by lib.sh; QEMU arguments contain commas.
# shellcheck disable=SC2034,SC2054
set -euo pipefail

# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
BENCH_DIR="$CG_REPO/tests/bench/guest"

runs=6 mib=64 nics=offload,policy,l2,virtio,e1000e netdevs='' smp=1 deadline=''
while [ $# -gt 0 ]; do
    a=$1
    shift
    case $a in
    --runs) runs=${1:?}; shift ;;
    --mib) mib=${1:?}; shift ;;
    --nics) nics=${1:?}; shift ;;
    --netdevs) netdevs=${1:?}; shift ;;
    --smp) smp=${1:?}; shift ;;
    --deadline) deadline=${1:?}; shift ;;
    --quick) runs=1 mib=8 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) cg_die "unknown argument $a (see --help)" ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || cg_die "--runs wants a positive number"
{ [[ $mib =~ ^[1-9][0-9]*$ ]] && [ "$mib" -le 128 ]; } ||
    cg_die "--mib wants 1..128 (the guest holds the data in its 256 MiB)"
[[ $smp =~ ^[1-9]$ ]] || cg_die "--smp wants 1..9"
# a transfer still running after $deadline s is aborted (an ERROR line
# with the rate it had), so that a stalling path cannot take hours
deadline=${deadline:-$((30 + mib))}
[[ $deadline =~ ^[1-9][0-9]*$ ]] || cg_die "--deadline wants seconds"
if [ -z "$netdevs" ]; then
    netdevs=tap,user
    if [ "$(id -u)" != 0 ]; then
        netdevs=user
        cg_log "not root: no tap (network namespaces need root); slirp only"
    fi
fi
IFS=, read -r -a NICS <<<"$nics"
IFS=, read -r -a NETDEVS <<<"$netdevs"
for n in "${NICS[@]}"; do
    case $n in offload|policy|l2|virtio|e1000e) ;; *) cg_die "unknown NIC $n" ;; esac
done
for n in "${NETDEVS[@]}"; do
    case $n in tap|user) ;; *) cg_die "unknown netdev $n" ;; esac
done
bytes=$((mib * 1048576))

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/bench-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"
: >"$logdir/runs.tsv"

cg_qemu_setup
if ! cg_have_chimney_device; then
    echo "guest-bench: $CG_QEMU has no chimney-nic device: nothing measured"
    exit 77
fi

# ---- the QEMU lock ----------------------------------------------------------
QEMU_LOCK=/tmp/chimney-qemu.lock

# true when an ancestor of this shell holds an flock on $QEMU_LOCK
lock_held_by_ancestor() {
    local ino holders p
    ino=$(stat -c %i "$QEMU_LOCK") || return 1
    holders=" $(awk -v i=":$ino" '$2 == "FLOCK" && substr($6, length($6) - length(i) + 1) == i { print $5 }' /proc/locks | tr '\n' ' ')"
    p=$$
    while [ "$p" -gt 1 ]; do
        case $holders in *" $p "*) return 0 ;; esac
        p=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null) || return 1
    done
    return 1
}

touch "$QEMU_LOCK"
if [ "${CHIMNEY_QEMU_LOCK_HELD:-0}" = 1 ] || lock_held_by_ancestor; then
    cg_log "the QEMU lock is held by the caller"
else
    exec 8>>"$QEMU_LOCK"
    if ! flock -n 8; then
        cg_log "waiting for $QEMU_LOCK"
        flock 8
    fi
fi

# ---- guest image: the tests/guest initramfs plus gbench and the NIC modules -
CG_INITRD_VARIANT=bench
bench_prepare() {
    cg_fetch || return 1
    cg_fetch_nic_modules || return 1
    cg_build_module || return 1
    local gb="$CG_CACHE/build/$CG_KV/gbench"
    if [ ! -x "$gb" ] || [ "$BENCH_DIR/gbench.c" -nt "$gb" ]; then
        gcc -static -O2 -Wall -Wextra -Werror -o "$gb" "$BENCH_DIR/gbench.c" || return 1
    fi
    CG_INITRD_BINS=("$gb")
    cg_build_initramfs
}
cg_lock
cg_timed prepare bench_prepare || cg_die "guest image preparation failed"
cg_unlock

# ---- tap in a private network namespace -------------------------------------
NS='' TAP=cbtap0 WRAP=''
cleanup() {
    if [ -n "${SRV_PID:-}" ]; then
        kill "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || true
    fi
    if [ -n "$NS" ]; then
        ip netns exec "$NS" ip link del "$TAP" 2>/dev/null || true
        ip netns del "$NS" 2>/dev/null || true
    fi
    [ -n "$WRAP" ] && rm -f "$WRAP"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case ",$netdevs," in
*,tap,*)
    [ "$(id -u)" = 0 ] || cg_die "tap needs root (network namespaces); use --netdevs user"
    NS=cgbench$$
    ip netns add "$NS"
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap
    ip netns exec "$NS" ip addr add 192.168.77.1/24 dev "$TAP"
    ip netns exec "$NS" ip link set "$TAP" up
    # cg_boot runs $CG_QEMU: for tap, QEMU inside the namespace
    WRAP=$(mktemp "$CG_CACHE/.qemu-in-ns.XXXXXX")
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$CG_QEMU" >"$WRAP"
    chmod 755 "$WRAP"
    ;;
esac
QEMU_BIN=$CG_QEMU

# ---- one boot ------------------------------------------------------------------
# run1 REP NETDEV NIC: one boot, MIB each way; appends to runs.tsv
run1() {
    local rep=$1 nd=$2 card=$3 dir prefix=() netdev=() bind hostip guestip
    local dev gnic=chimney off=0 ports i t0
    dir="$logdir/r$rep-$nd-$card"
    mkdir -p "$dir"
    # a reused CHIMNEY_GUEST_LOGDIR: no stale port file or records
    rm -f "$dir/ports" "$dir/host.jsonl" "$dir/qemu.pid"
    case $nd in
    tap)
        prefix=(ip netns exec "$NS") bind=192.168.77.1 hostip=192.168.77.1
        guestip=192.168.77.2/24
        CG_QEMU=$WRAP
        netdev=(-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no")
        ;;
    user)
        bind=127.0.0.1 hostip=10.0.2.2 guestip=10.0.2.15/24
        CG_QEMU=$QEMU_BIN
        netdev=(-netdev user,id=n0)
        ;;
    esac
    case $card in
    offload) dev=chimney-nic off=1 ;;
    policy) dev=chimney-nic off=policy ;;
    l2) dev=chimney-nic ;;
    virtio) dev=virtio-net-pci gnic=virtio ;;
    e1000e) dev=e1000e gnic=e1000e ;;
    esac
    "${prefix[@]}" "$CG_PY" "$BENCH_DIR/benchsrv.py" --bind "$bind" \
        --bytes "$bytes" --pidfile "$dir/qemu.pid" --out "$dir/host.jsonl" \
        --port-file "$dir/ports" --timeout "$boot_timeout" --deadline "$deadline" \
        >"$dir/server.log" 2>&1 &
    SRV_PID=$!
    for i in $(seq 100); do
        [ -s "$dir/ports" ] && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    ports=$(cat "$dir/ports" 2>/dev/null) || ports=
    [ -n "$ports" ] || { cat "$dir/server.log" >&2; cg_die "benchsrv.py did not start"; }
    CG_GUEST_APPEND="chimney.nic=$gnic chimney.offload=$off"
    CG_GUEST_APPEND+=" chimney.bhost=$hostip chimney.bip=$guestip"
    CG_GUEST_APPEND+=" chimney.bports=${ports% *}:${ports#* } chimney.bbytes=$bytes"
    # CHIMNEY_BENCH_MODPARAMS=a=1,b=2: chimney_nic.ko parameters
    [ -n "${CHIMNEY_BENCH_MODPARAMS:-}" ] &&
        CG_GUEST_APPEND+=" chimney.modparams=$CHIMNEY_BENCH_MODPARAMS"
    # CHIMNEY_BENCH_APPEND: more kernel parameters (chimney.ksyms=1: the
    # guest prints its function symbols after the transfers, for a
    # profile of the QEMU process with -perfmap)
    [ -n "${CHIMNEY_BENCH_APPEND:-}" ] &&
        CG_GUEST_APPEND+=" $CHIMNEY_BENCH_APPEND"
    # CHIMNEY_BENCH_DEVPROPS=a=1,b=2: chimney-nic device properties
    devopts=$dev,netdev=n0,romfile=
    [ "$dev" = chimney-nic ] && [ -n "${CHIMNEY_BENCH_DEVPROPS:-}" ] &&
        devopts+=",$CHIMNEY_BENCH_DEVPROPS"
    t0=$(cg_now)
    # CHIMNEY_BENCH_PCAP=1: the NIC's frames into the run's n0.pcap
    [ "${CHIMNEY_BENCH_PCAP:-0}" = 1 ] &&
        netdev+=(-object "filter-dump,id=fd0,netdev=n0,file=$dir/n0.pcap")
    # (not under set -e: cg_boot takes QEMU's exit status itself)
    cg_boot bench "$dir/serial.log" "${netdev[@]}" \
        -device "$devopts" -pidfile "$dir/qemu.pid" \
        >/dev/null 2>"$dir/boot.log" || true
    # the server ends after both transfers; give it a moment, then stop it
    for i in $(seq 50); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
    printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$nd" "$card" "$dir" "$CG_QEMU_RC" \
        >>"$logdir/runs.tsv"
    cg_log "rep $rep/$runs $nd $card: QEMU status $CG_QEMU_RC, $(cg_elapsed "$t0") s; $(
        grep -ahE '^GBENCH|^CHECK: not ok' "$dir/serial.log" |
        sed -E 's/^GBENCH dir=([a-z2]*) .*wall_s=([0-9.]*).*/\1 \2 s/' | tr -d '\r' |
        tr '\n' ';')"
}

export CHIMNEY_GUEST_SMP=$smp
CG_NODEV=1      # cg_boot adds no NIC; run1 passes its own
boot_timeout=$((120 + 2 * deadline + 2 * mib))
export CHIMNEY_GUEST_TIMEOUT=$boot_timeout
cg_log "$runs run(s) x netdevs ${NETDEVS[*]} x NICs ${NICS[*]}, $mib MiB each way; logs $logdir"
for rep in $(seq "$runs"); do
    for nd in "${NETDEVS[@]}"; do
        for nic in "${NICS[@]}"; do
            run1 "$rep" "$nd" "$nic"
        done
    done
done

echo "guest-bench: chimney-nic and QEMU's NICs, $mib MiB each way per run, $runs run(s) per cell, interleaved;"
echo "guest: $CG_KV, $smp vCPU, accel $CG_ACCEL; host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "medians [min-max]; guest CPU from the guest's /proc/stat (10 ms jiffies), QEMU CPU = utime+stime of the QEMU process"
echo
"$CG_PY" "$BENCH_DIR/report.py" "$logdir" "$mib"
echo
echo "logs: $logdir ($(cg_elapsed "$t_start") s)"
