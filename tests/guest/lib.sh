# shellcheck shell=bash
# CG_* variables are for the sourcing scripts; QEMU arguments contain commas.
# shellcheck disable=SC2034,SC2054
# Common code of the chimney-nic guest scripts (run-l2-boot.sh, boot-demo.sh).
#
# Source it from bash; it defines functions and a few variables and runs
# nothing by itself.  The pipeline is:
#
#   cg_fetch            Debian bookworm kernel image + headers + kbuild +
#                       busybox-static: `apt-get download` into the cache,
#                       `dpkg -x`/`dpkg-deb --fsys-tarfile` there (never
#                       installed on the host), vmlinux from vmlinuz.
#   cg_build_module     guest-driver/linux built out of tree against them.
#   cg_build_initramfs  busybox + module + qexit + ethstats +
#                       tests/guest/guest-init.sh as /init.
#   cg_qemu_setup       picks the QEMU binary, firmware path and accelerator.
#   cg_server_start     the host TCP server (host-server.py) on 127.0.0.1
#                       (CG_NET=tap: on the tap's address in the namespace).
#   cg_boot             boots the guest under `timeout`.
#
# Everything downloaded or built lives in $CG_CACHE (default
# ~/.cache/chimney-nic/guest), never in the repository.
#
# Environment knobs:
#   CHIMNEY_GUEST_CACHE   cache directory (default $CHIMNEY_CACHE/guest)
#   CHIMNEY_GUEST_KV      kernel ABI to use (e.g. 6.1.0-56-amd64); default: the
#                         one already in the cache, else linux-image-amd64's
#   CHIMNEY_QEMU          qemu-system-x86_64 to use (also set by
#                         scripts/qemu-env.sh when it exists)
#   CHIMNEY_QEMU_FW_ARGS  firmware search arguments (-L ...)
#   CHIMNEY_ACCEL         tcg or kvm (default: kvm only with vmx/svm and no
#                         kvm_pvm, else tcg)
#   CHIMNEY_GUEST_SMP     guest vCPUs (default 2)
#   CHIMNEY_GUEST_TIMEOUT seconds before QEMU is killed (default 300)
#   CHIMNEY_GUEST_MODPARAMS module parameters for the first insmod, e.g.
#                         "irq_throttle_us=50 rx_ring=64"
#
# CG_NET (set by the sourcing script, default user) picks the first NIC's
# network: user = -netdev user (libslirp, the host server on the host's
# loopback, reached as 10.0.2.2); tap = a tap device in a private network
# namespace (cg_tap_setup), the peer being that namespace's Linux TCP stack.

CG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CG_DIR="$CG_REPO/tests/guest"
CG_CACHE=${CHIMNEY_GUEST_CACHE:-${CHIMNEY_CACHE:-$HOME/.cache/chimney-nic}/guest}
CG_PY=/usr/bin/python3

cg_log() { printf '[guest] %s\n' "$*" >&2; }
cg_die() { printf '[guest] ERROR: %s\n' "$*" >&2; exit 1; }

cg_now() { date +%s.%N; }
# cg_elapsed START -> seconds since START with one decimal
cg_elapsed() { awk -v a="$1" -v b="$(cg_now)" 'BEGIN { printf "%.1f", b - a }'; }

# cg_timed NAME CMD...: run CMD, log how long it took; keeps CMD's status.
CG_TIMINGS=()
cg_timed() {
    local name=$1 t rc=0
    shift
    t=$(cg_now)
    "$@" || rc=$?
    CG_TIMINGS+=("$name=$(cg_elapsed "$t")s")
    cg_log "$name: $(cg_elapsed "$t") s (rc=$rc)"
    return $rc
}

# Serialise the preparation steps between concurrent runs.
cg_lock() {
    mkdir -p "$CG_CACHE"
    exec 9>"$CG_CACHE/.lock"
    flock 9
}
cg_unlock() { flock -u 9; }

# ---------------------------------------------------------------------------
# Step 1: Debian kernel, headers, kbuild and busybox, without installing them
# ---------------------------------------------------------------------------

# cg_resolve_kv [fresh]: the kernel ABI to use; "fresh" ignores the cache.
cg_resolve_kv() {
    local kv
    if [ -n "${CHIMNEY_GUEST_KV:-}" ]; then
        echo "$CHIMNEY_GUEST_KV"
        return
    fi
    if [ "${1:-}" != fresh ] && [ -s "$CG_CACHE/kv" ]; then
        kv=$(cat "$CG_CACHE/kv")
        if [ -f "$CG_CACHE/k/$kv/.complete" ]; then
            echo "$kv"
            return
        fi
    fi
    kv=$(apt-cache depends linux-image-amd64 2>/dev/null |
         sed -n 's/.*Depends: linux-image-//p' | head -n1)
    if [ -z "$kv" ]; then
        cg_log "apt-cache knows no linux-image-amd64; running apt-get update"
        apt-get update -qq >&2 || true
        kv=$(apt-cache depends linux-image-amd64 2>/dev/null |
             sed -n 's/.*Depends: linux-image-//p' | head -n1)
    fi
    [ -n "$kv" ] || cg_die "cannot resolve the bookworm kernel version"
    echo "$kv"
}

# cg_download DIR PKG...: apt-get download into DIR the packages it lacks
cg_download() {
    local dir=$1 missing=() p
    shift
    mkdir -p "$dir"
    for p in "$@"; do
        compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    cg_log "apt-get download ${missing[*]}"
    (cd "$dir" && apt-get download -q "${missing[@]}" >&2)
}

# cg_deb DIR PKG -> path of the (newest) .deb of PKG in DIR
cg_deb() {
    # shellcheck disable=SC2012
    ls -1 "$1/${2}_"*.deb 2>/dev/null | sort -V | tail -n1
}

# cg_extract_vmlinux VMLINUZ OUT: the uncompressed ELF kernel, for PVH boot
cg_extract_vmlinux() {
    "$CG_PY" - "$1" "$2" <<'EOF'
import lzma, sys, zlib
data = open(sys.argv[1], 'rb').read()
out = None
for magic, kind in ((b'\xfd7zXZ\x00', 'xz'), (b'\x1f\x8b\x08', 'gzip')):
    pos = data.find(magic)
    while pos >= 0 and out is None:
        try:
            if kind == 'xz':
                d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            else:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            blob = d.decompress(data[pos:])
            if blob[:4] == b'\x7fELF':
                out = blob
        except (lzma.LZMAError, zlib.error):
            pass
        pos = data.find(magic, pos + 1)
    if out is not None:
        break
if out is None:
    sys.exit('no xz/gzip compressed ELF kernel found in ' + sys.argv[1])
open(sys.argv[2], 'wb').write(out)
EOF
}

# cg_fetch: sets CG_KV, CG_ROOT (extracted tree), CG_VMLINUX, CG_KHDR_COMMON,
# CG_KHDR_ARCH, CG_BUSYBOX.
cg_fetch() {
    local kv root tmp kbuild_pkg common debs p
    kv=$(cg_resolve_kv)
    root="$CG_CACHE/k/$kv"
    if [ ! -f "$root/.complete" ]; then
        # The debs of one kernel ABI stay together (kbuild, headers and
        # image come from the same source version).
        if ! cg_download "$CG_CACHE/debs/$kv" "linux-image-$kv" \
                "linux-headers-$kv" "linux-headers-${kv%-amd64}-common" \
                "linux-kbuild-$(echo "$kv" | cut -d. -f1,2)" busybox-static; then
            # Stale package lists: the archive moved on.
            cg_log "download failed; apt-get update, then trying again"
            apt-get update -qq >&2 || true
            kv=$(cg_resolve_kv fresh)
            root="$CG_CACHE/k/$kv"
            cg_download "$CG_CACHE/debs/$kv" "linux-image-$kv" \
                "linux-headers-$kv" "linux-headers-${kv%-amd64}-common" \
                "linux-kbuild-$(echo "$kv" | cut -d. -f1,2)" busybox-static ||
                cg_die "apt-get download failed for kernel $kv"
        fi
    fi
    common="linux-headers-${kv%-amd64}-common"
    kbuild_pkg="linux-kbuild-$(echo "$kv" | cut -d. -f1,2)"
    debs="$CG_CACHE/debs/$kv"
    if [ ! -f "$root/.complete" ]; then
        mkdir -p "$CG_CACHE/k"
        tmp=$(mktemp -d "$CG_CACHE/k/.tmp.XXXXXX")
        cg_log "extracting into $root"
        dpkg-deb --fsys-tarfile "$(cg_deb "$debs" "linux-image-$kv")" |
            tar -x -C "$tmp" "./boot/vmlinuz-$kv" "./boot/config-$kv" ||
            cg_die "cannot extract the kernel image"
        for p in "linux-headers-$kv" "$common" "$kbuild_pkg" busybox-static; do
            dpkg -x "$(cg_deb "$debs" "$p")" "$tmp" || cg_die "dpkg -x $p failed"
        done
        cg_extract_vmlinux "$tmp/boot/vmlinuz-$kv" "$tmp/vmlinux" ||
            cg_die "cannot extract vmlinux"
        touch "$tmp/.complete"
        rm -rf "$root"
        mv "$tmp" "$root"
        echo "$kv" >"$CG_CACHE/kv"
    fi
    # Modules from the image the initramfs loads (in this order): 802.1Q.
    CG_EXTRA_MODULES=()
    for p in net/llc/llc.ko net/802/stp.ko net/802/garp.ko net/802/mrp.ko \
             net/8021q/8021q.ko; do
        CG_EXTRA_MODULES+=("$root/lib/modules/$kv/kernel/$p")
    done
    if [ ! -f "${CG_EXTRA_MODULES[-1]}" ]; then
        cg_log "extracting ${#CG_EXTRA_MODULES[@]} modules from linux-image-$kv"
        local rel=()
        for p in "${CG_EXTRA_MODULES[@]}"; do rel+=(".${p#"$root"}"); done
        dpkg-deb --fsys-tarfile "$(cg_deb "$CG_CACHE/debs/$kv" "linux-image-$kv")" |
            tar -x -C "$root" "${rel[@]}" || cg_die "cannot extract modules"
    fi
    CG_KV=$kv
    CG_ROOT=$root
    CG_VMLINUX="$root/vmlinux"
    CG_KHDR_COMMON="$root/usr/src/$common"
    CG_KHDR_ARCH="$root/usr/src/linux-headers-$kv"
    CG_BUSYBOX="$root/bin/busybox"
    [ -x "$CG_BUSYBOX" ] || cg_die "busybox missing in $root"
}

# cg_fetch_nic_modules (after cg_fetch): sets CG_NIC_MODULES to the other
# NICs' drivers from the image deb, in load order: virtio-net-pci
# (virtio_net with its dependencies) and e1000e.  Only the benchmark's
# initramfs carries them (CG_INITRD_VARIANT, below).
cg_fetch_nic_modules() {
    local p rel=()
    CG_NIC_MODULES=()
    for p in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko \
             drivers/virtio/virtio_pci_modern_dev.ko \
             drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko \
             net/core/failover.ko drivers/net/net_failover.ko \
             drivers/net/virtio_net.ko drivers/net/ethernet/intel/e1000e/e1000e.ko; do
        CG_NIC_MODULES+=("$CG_ROOT/lib/modules/$CG_KV/kernel/$p")
        [ -f "${CG_NIC_MODULES[-1]}" ] || rel+=("./lib/modules/$CG_KV/kernel/$p")
    done
    [ ${#rel[@]} -eq 0 ] && return 0
    cg_log "extracting ${#rel[@]} NIC modules from linux-image-$CG_KV"
    dpkg-deb --fsys-tarfile "$(cg_deb "$CG_CACHE/debs/$CG_KV" "linux-image-$CG_KV")" |
        tar -x -C "$CG_ROOT" "${rel[@]}"
}

# ---------------------------------------------------------------------------
# Step 2: the kernel module
# ---------------------------------------------------------------------------

# cg_build_module: sets CG_MODULE.  Builds a copy of guest-driver/ under the
# cache so the source tree stays clean; mtimes are kept so warm runs only
# rebuild what changed.  Warnings are errors.
cg_build_module() {
    local b="$CG_CACHE/build/$CG_KV/guest-driver"
    mkdir -p "$b"
    if command -v rsync >/dev/null; then
        rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
            --exclude='*.mod*' --exclude=Module.symvers --exclude=modules.order \
            "$CG_REPO/guest-driver/" "$b/"
    else
        cp -rp "$CG_REPO/guest-driver/." "$b/"
    fi
    CG_MODULE="$b/linux/chimney_nic.ko"
    # Skip make (4 s of kbuild even for nothing) when no input changed.
    local sum
    sum=$( (cd "$CG_REPO" && find guest-driver include/hw/net/chimney_hw.h \
                -type f ! -path '*/.git*' -print0 | LC_ALL=C sort -z |
                xargs -0 sha256sum; echo "$CG_KV") | sha256sum | cut -c1-16)
    if [ -f "$CG_MODULE" ] && [ "$(cat "$b/.build-sum" 2>/dev/null)" = "$sum" ]; then
        return 0
    fi
    rm -f "$b/.build-sum"
    make -s -C "$CG_KHDR_COMMON" O="$CG_KHDR_ARCH" M="$b/linux" \
        CHIMNEY_INC_DIR="$CG_REPO/include" KCFLAGS=-Werror \
        -j"$(nproc)" modules 2>&1 | grep -v '^Skipping BTF generation' >&2
    [ "${PIPESTATUS[0]}" = 0 ] && [ -f "$CG_MODULE" ] || return 1
    echo "$sum" >"$b/.build-sum"
}

# ---------------------------------------------------------------------------
# Step 3: initramfs
# ---------------------------------------------------------------------------

# cg_build_initramfs: sets CG_INITRD.  Uncompressed newc cpio (nothing to
# decompress under TCG).  Rebuilt only when an input changed.
# A variant (CG_INITRD_VARIANT=NAME, initramfs-NAME.cpio; the default one
# stays as it is) also carries the programs CG_INITRD_BINS in /bin and
# the modules CG_NIC_MODULES as /lib/modules/nic/NN-name.ko.
cg_build_initramfs() {
    local b="$CG_CACHE/build/$CG_KV" s sum
    local var=${CG_INITRD_VARIANT:+-$CG_INITRD_VARIANT} vbins=() vmods=()
    if [ -n "$var" ]; then
        vbins=("${CG_INITRD_BINS[@]}")
        vmods=("${CG_NIC_MODULES[@]}")
    fi
    mkdir -p "$b"
    local t src ssum
    for t in qexit ethstats xfer chimneyctl ctlbad; do
        src="$CG_DIR/$t.c"
        [ "$t" = chimneyctl ] && src="$CG_REPO/guest-driver/tools/$t.c"
        # keyed by content: worktrees share this cache, mtimes mislead
        ssum=$(cat "$src" "$CG_REPO/guest-driver/linux/chimney_uapi.h" |
               sha256sum | cut -c1-16)
        if [ ! -x "$b/$t" ] || [ "$(cat "$b/$t.src-sum" 2>/dev/null)" != "$ssum" ]; then
            gcc -static -O2 -Wall -o "$b/$t" "$src" || return 1
            echo "$ssum" >"$b/$t.src-sum"
        fi
    done
    sum=$(cat "$CG_BUSYBOX" "$CG_MODULE" "$b/qexit" "$b/ethstats" "$b/xfer" \
              "$b/chimneyctl" "$b/ctlbad" "$CG_DIR/guest-init.sh" "${CG_EXTRA_MODULES[@]}" \
              "${vbins[@]}" "${vmods[@]}" |
          sha256sum | cut -c1-16)
    CG_INITRD="$b/initramfs$var.cpio"
    if [ -f "$CG_INITRD" ] && [ "$(cat "$b/initramfs$var.sum" 2>/dev/null)" = "$sum" ]; then
        return 0
    fi
    s=$(mktemp -d "$b/.initramfs.XXXXXX")
    mkdir -p "$s"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules,root}
    cp "$CG_BUSYBOX" "$s/bin/busybox"
    ln -s busybox "$s/bin/sh"
    cp "$b/qexit" "$b/ethstats" "$b/xfer" "$b/chimneyctl" "$b/ctlbad" "$s/bin/"
    cp "$CG_MODULE" "$s/lib/modules/chimney_nic.ko"
    mkdir -p "$s/lib/modules/extra"
    local i=0 m
    for m in "${CG_EXTRA_MODULES[@]}"; do
        i=$((i + 1))
        cp "$m" "$s/lib/modules/extra/$(printf %02d $i)-${m##*/}"
    done
    if [ -n "$var" ]; then
        [ ${#vbins[@]} -gt 0 ] && cp "${vbins[@]}" "$s/bin/"
        mkdir -p "$s/lib/modules/nic"
        i=0
        for m in "${vmods[@]}"; do
            i=$((i + 1))
            cp "$m" "$s/lib/modules/nic/$(printf %02d $i)-${m##*/}"
        done
    fi
    install -m 755 "$CG_DIR/guest-init.sh" "$s/init"
    (cd "$s" && find . -mindepth 1 | LC_ALL=C sort |
        "$CG_BUSYBOX" cpio -o -H newc 2>/dev/null) >"$CG_INITRD.tmp" || return 1
    mv "$CG_INITRD.tmp" "$CG_INITRD"
    echo "$sum" >"$b/initramfs$var.sum"
    rm -rf "$s"
}

# cg_prepare: steps 1-3 under the cache lock, timed.
cg_prepare() {
    cg_lock
    cg_timed fetch cg_fetch || cg_die "fetch failed"
    cg_timed build-module cg_build_module || cg_die "module build failed"
    cg_timed initramfs cg_build_initramfs || cg_die "initramfs build failed"
    cg_unlock
}

# ---------------------------------------------------------------------------
# Step 4: QEMU
# ---------------------------------------------------------------------------

cg_qemu_setup() {
    # Values set by the caller win over scripts/qemu-env.sh's.
    local v saved=()
    for v in CHIMNEY_QEMU CHIMNEY_QEMU_FW_ARGS CHIMNEY_ACCEL; do
        [ -n "${!v+x}" ] && saved+=("$v=${!v}")
    done
    if [ -f "$CG_REPO/scripts/qemu-env.sh" ]; then
        # shellcheck disable=SC1091
        source "$CG_REPO/scripts/qemu-env.sh"
    fi
    for v in "${saved[@]}"; do
        printf -v "${v%%=*}" '%s' "${v#*=}"
    done
    CG_QEMU=${CHIMNEY_QEMU:-}
    if [ -z "$CG_QEMU" ] || [ ! -x "$CG_QEMU" ]; then
        CG_QEMU=
        local d
        for d in "$HOME"/.cache/chimney-nic/*/build; do
            if [ -x "$d/qemu-system-x86_64" ]; then
                CG_QEMU="$d/qemu-system-x86_64"
                break
            fi
        done
    fi
    if [ -z "$CG_QEMU" ] || [ ! -x "$CG_QEMU" ]; then
        cg_die "no qemu-system-x86_64 (set CHIMNEY_QEMU or build QEMU)"
    fi
    if [ -n "${CHIMNEY_QEMU_FW_ARGS+x}" ]; then
        # shellcheck disable=SC2206
        CG_QEMU_FW=($CHIMNEY_QEMU_FW_ARGS)
    else
        CG_QEMU_FW=()
        local f
        for f in /usr/share/seabios /usr/share/qemu; do
            [ -d "$f" ] && CG_QEMU_FW+=(-L "$f")
        done
    fi
    if [ -n "${CHIMNEY_ACCEL:-}" ]; then
        CG_ACCEL=$CHIMNEY_ACCEL
    elif grep -Eqw 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ] &&
         [ -w /dev/kvm ]; then
        CG_ACCEL=kvm
    else
        CG_ACCEL=tcg
    fi
}

cg_have_chimney_device() {
    "$CG_QEMU" "${CG_QEMU_FW[@]}" -device help 2>/dev/null | grep -q '"chimney-nic"'
}

# ---------------------------------------------------------------------------
# Host TCP server
# ---------------------------------------------------------------------------

# cg_server_start LOGFILE [QMP_SOCKET]: sets CG_SERVER_PID, CG_PORT
cg_server_start() {
    local log=$1 qmp=${2:-} portfile
    portfile=$(mktemp "$CG_CACHE/.port.XXXXXX")
    rm -f "$portfile"
    local nsx=() bind=()
    [ "${CG_NET:-user}" = tap ] &&
        nsx=(ip netns exec "$CG_NETNS") bind=(--bind "$CG_TAP_PEER")
    "${nsx[@]}" "$CG_PY" "$CG_DIR/host-server.py" --port-file "$portfile" \
        --timeout "${CHIMNEY_GUEST_TIMEOUT:-300}" ${qmp:+--qmp "$qmp"} \
        "${bind[@]}" >"$log" 2>&1 &
    CG_SERVER_PID=$!
    local i
    for i in $(seq 100); do
        [ -s "$portfile" ] && break
        kill -0 "$CG_SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    CG_PORT=$(cat "$portfile" 2>/dev/null)
    rm -f "$portfile"
    [ -n "$CG_PORT" ] || { cat "$log" >&2; cg_die "host server did not start"; }
}

cg_server_stop() {
    if [ -n "${CG_SERVER_PID:-}" ]; then
        kill "$CG_SERVER_PID" 2>/dev/null || true
        wait "$CG_SERVER_PID" 2>/dev/null || true
        CG_SERVER_PID=
    fi
}

# cg_boot MODE LOG [extra QEMU args...]: boots the guest with one chimney-nic
# on -netdev user (id n0; CG_NET=tap: on the tap CG_TAP_IF in the
# namespace CG_NETNS, QEMU running there, the guest told its address, the
# peer's and the peer's MAC with chimney.ip/host/peermac), a second one on
# its own slirp network 10.0.3.0/24 (id n1) when CG_NICS=2, two more joined by a QEMU hub (MACs
# 52:54:00:12:34:58 and :59) when CG_HUB=1, or no NIC at all when
# CG_NODEV=1.  The serial
# console goes to stdout (each line prefixed with CG_SERIAL_PREFIX) and LOG.
# CG_GUEST_APPEND adds kernel parameters.
# Sets CG_QEMU_RC (isa-debug-exit: 1 = guest PASS, 3 = FAIL; 124 = timeout).
cg_boot() {
    local mode=$1 log=$2
    shift 2
    local append="console=ttyS0 quiet panic=-1 chimney.mode=$mode"
    append+=" chimney.port=${CG_PORT:-0}"
    [ -n "${CG_GUEST_APPEND:-}" ] && append+=" $CG_GUEST_APPEND"
    [ -n "${CHIMNEY_GUEST_MODPARAMS:-}" ] &&
        append+=" chimney.modparams=$(echo "$CHIMNEY_GUEST_MODPARAMS" | tr ' ' ',')"
    local nic=(-netdev user,id=n0 -device chimney-nic,netdev=n0,id=nic0) nsx=()
    if [ "${CG_NET:-user}" = tap ]; then
        nic[1]=tap,id=n0,ifname=$CG_TAP_IF,script=no,downscript=no
        nic[3]=chimney-nic,netdev=n0,id=nic0,mac=$CG_TAP_GUEST_MAC
        nsx=(ip netns exec "$CG_NETNS")
        append+=" chimney.host=$CG_TAP_PEER chimney.ip=$CG_TAP_GUEST"
        append+=" chimney.peermac=$CG_TAP_MAC"
    fi
    [ "${CG_NICS:-1}" = 2 ] && nic+=(-netdev user,id=n1,net=10.0.3.0/24
        -device chimney-nic,netdev=n1,id=nic1,mac=52:54:00:12:34:57)
    [ "${CG_HUB:-0}" = 1 ] && nic+=(
        -netdev hubport,id=h1,hubid=7
        -device chimney-nic,netdev=h1,id=nic2,mac=52:54:00:12:34:58
        -netdev hubport,id=h2,hubid=7
        -device chimney-nic,netdev=h2,id=nic3,mac=52:54:00:12:34:59)
    [ "${CG_NODEV:-0}" = 1 ] && nic=()
    local cmd=(timeout --kill-after=5 "${CHIMNEY_GUEST_TIMEOUT:-300}"
        "${nsx[@]}" "$CG_QEMU" "${CG_QEMU_FW[@]}" -machine q35 -accel "$CG_ACCEL"
        -m "${CG_MEM:-256}" -smp "${CHIMNEY_GUEST_SMP:-2}"
        -display none -monitor none -serial stdio -no-reboot -nic none
        -kernel "$CG_VMLINUX" -initrd "$CG_INITRD" -append "$append"
        "${nic[@]}" -device isa-debug-exit,iobase=0xf4,iosize=4 "$@")
    cg_log "QEMU: ${cmd[*]}"
    rm -f "$log.rc"
    touch "$log.start"
    # in the background: a trapped HUP/INT/TERM ends the wait at once and
    # the caller's EXIT trap runs (CG_NET=tap: it ends QEMU).  Core files
    # on: a QEMU that dies of a signal leaves its backtrace (cg_core_report)
    { (ulimit -c unlimited 2>/dev/null; exec "${cmd[@]}") </dev/null 2>&1
        echo $? >"$log.rc"; } | tee "$log" |
        sed -u "s/^/${CG_SERIAL_PREFIX:-}/" &
    wait $! || true
    CG_QEMU_RC=$(cat "$log.rc" 2>/dev/null || echo 255)
    rm -f "$log.rc"
    cg_core_report "$log" "$CG_QEMU_RC"
    rm -f "$log.start"
}

# cg_core_report LOG RC: when QEMU died of a signal other than timeout's
# (RC 128+N, N <= 64; 124 and 137 are timeout's, 255 no status), says so
# and, with a core file (kernel.core_pattern "core": written in the
# current directory) and gdb, writes every thread's backtrace to LOG.bt
# and prints the crashing thread's.  The core itself is deleted (it holds the guest's RAM) unless
# CHIMNEY_KEEP_CORE=1, which moves it to LOG.core.
cg_core_report() {
    local log=$1 rc=$2 core=
    [ "$rc" -gt 128 ] && [ "$rc" -le 192 ] && [ "$rc" != 137 ] || return 0
    cg_log "QEMU died of signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
    for f in core core.*; do
        [ -f "$f" ] && [ "$f" -nt "$log.start" ] && core=$f && break
    done
    if [ -z "$core" ]; then
        cg_log "no core file in $PWD (core_pattern: $(cat /proc/sys/kernel/core_pattern))"
        return 0
    fi
    if command -v gdb >/dev/null; then
        # the program the core is of (CHIMNEY_QEMU may be a wrapper script)
        local exe
        exe=$(file -b "$core" | sed -n "s/.*execfn: '\([^']*\)'.*/\1/p")
        [ -x "$exe" ] || exe=$CG_QEMU
        gdb -batch -nx -ex 'bt' -ex 'thread apply all bt' "$exe" "$core" \
            >"$log.bt" 2>&1 || true
        cg_log "backtrace of the crashing thread (all threads in $log.bt):"
        # (the first #0 is gdb's note of where it stopped, then the bt)
        local bt
        bt=$(awk '/^#0 /{n++} n == 2 && NF {print} n == 2 && !NF {exit}' \
                 "$log.bt")
        printf '%s\n' "$bt" | head -n 40 >&2
        # scripts/run-tests.sh runs such a test once more (its note says so)
        if [ -n "$bt" ] && ! printf '%s\n' "$bt" | grep -q chimney; then
            cg_log "QEMU crashed outside chimney-nic (no chimney frame in the crashing thread)"
        fi
    fi
    if [ "${CHIMNEY_KEEP_CORE:-0}" = 1 ]; then
        mv "$core" "$log.core"
    else
        rm -f "$core"
    fi
}

# ---------------------------------------------------------------------------
# CG_NET=tap: a Linux TCP peer in a private network namespace
# ---------------------------------------------------------------------------
#
# The namespace cgtap-$$ holds a tap device (cgtap0) at CG_TAP_PEER/24;
# QEMU (-netdev tap) and the host server run inside it (cg_boot,
# cg_server_start), the guest is CG_TAP_GUEST.  The root namespace's
# interfaces and routes are never touched.  cg_tap_cleanup (call it from
# the EXIT trap) ends what still runs in the namespace and deletes it.

CG_TAP_PEER=192.168.77.1
CG_TAP_GUEST=192.168.77.2/24
CG_TAP_GUEST_MAC=52:54:00:12:34:56
CG_TAP_IF=cgtap0
CG_NETNS=

# cg_tap_setup: 0 = ready (sets CG_NETNS, CG_TAP_MAC); 77 = this machine
# cannot run it (CG_TAP_SKIP says why); any other failure is fatal.
cg_tap_setup() {
    local ns n
    CG_TAP_SKIP=
    if [ "$(id -u)" != 0 ]; then
        CG_TAP_SKIP="tap peer needs root (network namespaces, /dev/net/tun)"
    elif ! command -v ip >/dev/null; then
        CG_TAP_SKIP="no ip (iproute2)"
    elif [ ! -c /dev/net/tun ]; then
        CG_TAP_SKIP="no /dev/net/tun"
    elif ! "$CG_QEMU" -netdev help 2>/dev/null | grep -qx tap; then
        CG_TAP_SKIP="$CG_QEMU has no -netdev tap"
    fi
    [ -z "$CG_TAP_SKIP" ] || return 77
    # namespaces of earlier runs that were killed (SIGKILL: no trap ran)
    for n in $(ip netns list 2>/dev/null | awk '$1 ~ /^cgtap-[0-9]+$/ { print $1 }'); do
        kill -0 "${n#cgtap-}" 2>/dev/null && continue
        cg_log "deleting the stale namespace $n"
        ip netns del "$n" 2>/dev/null || true
    done
    ns=cgtap-$$
    if ! ip netns add "$ns" 2>/dev/null; then
        CG_TAP_SKIP="cannot create a network namespace"
        return 77
    fi
    CG_NETNS=$ns
    if ! ip -n "$ns" tuntap add dev "$CG_TAP_IF" mode tap 2>/dev/null; then
        CG_TAP_SKIP="cannot create a tap device (tun driver)"
        return 77
    fi
    if ! { ip -n "$ns" link set lo up &&
           ip -n "$ns" addr add "$CG_TAP_PEER/24" dev "$CG_TAP_IF" &&
           ip -n "$ns" link set "$CG_TAP_IF" up; }; then
        cg_die "cannot configure $CG_TAP_IF in $ns"
    fi
    CG_TAP_MAC=$(ip -n "$ns" -o link show dev "$CG_TAP_IF" |
                 sed -n 's/.*link\/ether \([0-9a-f:]*\) .*/\1/p')
    [ -n "$CG_TAP_MAC" ] || cg_die "no MAC address on $CG_TAP_IF"
    cg_log "tap peer: namespace $ns, $CG_TAP_IF $CG_TAP_MAC $CG_TAP_PEER/24, guest $CG_TAP_GUEST"
}

# cg_tap_cleanup: ends the processes left in the namespace (only this run's
# QEMU and host server can be there) and deletes the tap and the namespace.
cg_tap_cleanup() {
    local ns=$CG_NETNS pids i
    [ -n "$ns" ] || return 0
    CG_NETNS=
    pids=$(ip netns pids "$ns" 2>/dev/null)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill $pids 2>/dev/null || true
        for i in $(seq 50); do
            [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
            sleep 0.1
        done
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    fi
    ip -n "$ns" link del "$CG_TAP_IF" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
}

# cg_tap_tcp_counters -> "Name=value ..." of the namespace's Tcp line in
# /proc/net/snmp (the peer's TCP stack), e.g. OutRsts=0 EstabResets=0
cg_tap_tcp_counters() {
    ip netns exec "$CG_NETNS" cat /proc/net/snmp |
        awk '/^Tcp:/ { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 }
                       else for (i = 2; i <= NF; i++) printf "%s=%s ", k[i], $i }'
}

# cg_tap_field NAME "Name=value ..." -> value
cg_tap_field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# cg_tap_checks PCAP SERVER_LOG PORT "COUNTERS_BEFORE" "COUNTERS_AFTER"
#               ["CLOSED_PUMPS"]:
# "ok - ..." / "not ok - ..." lines (and "# ..." notes) of the tap peer:
# the namespace's TCP stack (cg_tap_tcp_counters before the boot and
# after it, before the server stops) accepted the pumps' connections,
# counted no error, and reset no established connection (but at most
# those the server logged with end=rst: resets the test provokes on
# purpose); the pcap shows the data really went over the tap
# (pcap-check.py), at least the bytes the host server counted for its
# pumps, one RST from the guest on each of those connections and no other
# RST but the peer's answers to the guest's TIME-WAIT ACK of a
# retransmitted FIN (as many as the peer's OutRsts grew); on the
# connections of the pumps named in CLOSED_PUMPS (their program closed the
# socket before the server sent more) that RST came after the guest's FIN
# without a byte of the later data acknowledged.
cg_tap_checks() {
    local pcap=$1 srv=$2 port=$3 c0=$4 c1=$5 k d pumps bytes rports nrst orst
    local name cports=
    echo "# peer Tcp counters before: $c0"
    echo "# peer Tcp counters after:  $c1"
    pumps=$(grep -c 'EVENT pump name=' "$srv" || true)
    # the smaller direction of what the server sent and received in pumps
    bytes=$(sed -n 's/.*EVENT pump name=.* sent=\([0-9]*\) rcvd=\([0-9]*\) .*/\1 \2/p' \
                "$srv" | awk '{ s += $1; r += $2 } END { print (s < r ? s : r) + 0 }')
    d=$(($(cg_tap_field PassiveOpens "$c1") - $(cg_tap_field PassiveOpens "$c0")))
    if [ "$pumps" -gt 0 ] && [ "$d" -ge "$pumps" ]; then
        echo "ok - tap peer: the namespace's TCP stack accepted the connections ($d, $pumps pumps)"
    else
        echo "not ok - tap peer: the namespace's TCP stack accepted the connections ($d, $pumps pumps)"
    fi
    # the guest ports of the connections the server saw reset, a port
    # once per connection (a reset connection leaves no TIME-WAIT: its
    # port can be the next connection's)
    rports=$(sed -n 's/.*EVENT .* end=rst .*peer=[0-9.]*:\([0-9]*\).*/\1/p' "$srv" |
             sort -n | paste -sd, -)
    nrst=$(echo "$rports" | tr ',' '\n' | grep -c . || true)
    # the peer's resets: pcap-check.py matches them with the wire
    orst=$(($(cg_tap_field OutRsts "$c1") - $(cg_tap_field OutRsts "$c0")))
    for k in EstabResets AttemptFails InErrs InCsumErrors; do
        d=$(($(cg_tap_field "$k" "$c1") - $(cg_tap_field "$k" "$c0")))
        if [ "$k" = EstabResets ] && [ "$nrst" -gt 0 ]; then
            # a reset in FIN_WAIT is not counted: at most those connections
            # (pcap-check.py matches the RSTs with them one by one)
            if [ "$d" -le "$nrst" ]; then
                echo "ok - tap peer: EstabResets +$d, at most the $nrst connections the server saw reset"
            else
                echo "not ok - tap peer: EstabResets +$d, at most the $nrst connections the server saw reset"
            fi
        elif [ "$d" = 0 ]; then
            echo "ok - tap peer: $k unchanged in the namespace's /proc/net/snmp"
        else
            echo "not ok - tap peer: $k unchanged in the namespace's /proc/net/snmp (+$d)"
        fi
    done
    if [ ! -s "$pcap" ]; then
        echo "not ok - pcap of the tap link recorded ($pcap)"
        return 0
    fi
    for name in ${6:-}; do
        cports="$cports${cports:+,}$(sed -n "s/.*EVENT pump-start name=$name .*peer=[0-9.]*:\([0-9]*\).*/\1/p" "$srv" |
                                     paste -sd, -)"
    done
    "$CG_PY" "$CG_DIR/pcap-check.py" "$pcap" "$port" "$CG_TAP_GUEST_MAC" \
        "$CG_TAP_MAC" "$CG_TAP_GUEST" "$CG_TAP_PEER" "$bytes" "$rports" \
        "$orst" "$cports" || true
}

# ---------------------------------------------------------------------------
# TAP report of a guest run (the run-*.sh scripts)
# ---------------------------------------------------------------------------

# tap ok|fail NAME: one TAP line; counts in n and failed
n=0 failed=0
tap() {
    n=$((n + 1))
    if [ "$1" = ok ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
    fi
}

# cg_tap_guest SERIAL_LOG GUEST_ERRORS_LOG: the guest's CHECK lines, then
# the checks every guest run shares (GUEST-RESULT, the QEMU exit status,
# a clean console, no guest errors logged by QEMU)
cg_tap_guest() {
    while IFS= read -r line; do
        case $line in
        "CHECK: ok - "*) tap ok "${line#CHECK: ok - }" ;;
        "CHECK: not ok - "*) tap fail "${line#CHECK: not ok - }" ;;
        esac
    done < <(tr -d '\r' <"$1")

    if grep -aq '^GUEST-RESULT: PASS' <(tr -d '\r' <"$1"); then
        tap ok "guest finished: GUEST-RESULT: PASS"
    else
        tap fail "guest finished: GUEST-RESULT: PASS (QEMU status $CG_QEMU_RC$([ "$CG_QEMU_RC" = 124 ] && echo ', timed out'))"
    fi
    if [ "$CG_QEMU_RC" = 1 ]; then
        tap ok "QEMU exit status 1 (isa-debug-exit: guest PASS)"
    else
        tap fail "QEMU exit status 1 (isa-debug-exit: guest PASS), got $CG_QEMU_RC"
    fi
    if grep -aEq 'Kernel panic|BUG:|Oops|WARNING:|Call Trace' "$1"; then
        tap fail "no kernel panic/oops/warning on the console"
        grep -aE 'Kernel panic|BUG:|Oops|WARNING:|Call Trace' "$1" | head -n 5 | sed 's/^/# /'
    else
        tap ok "no kernel panic/oops/warning on the console"
    fi
    if [ -s "$2" ]; then
        tap fail "QEMU logged no guest errors (-d guest_errors)"
        head -n 10 "$2" | sed 's/^/# /'
    else
        tap ok "QEMU logged no guest errors (-d guest_errors)"
    fi
}
