#!/usr/bin/env bash
# Install what building QEMU 10 with chimney-nic and the guest tests need on
# Debian 12.  Idempotent: installs only what is missing.  The apt entry for
# bookworm-backports (binaries and sources) is derived from the mirror URI the
# machine already uses, so no mirror host is written into the repository.
set -euo pipefail

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

src_list=/etc/apt/sources.list.d/chimney-backports.sources
if [ ! -f "$src_list" ]; then
    uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then
        echo "setup-host: cannot find a Debian mirror URI in the apt sources" >&2
        exit 1
    fi
    $SUDO tee "$src_list" >/dev/null <<EOT
Types: deb deb-src
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
    $SUDO apt-get update -qq
fi

stamp=/var/lib/apt/periodic/chimney-updated
if [ ! -f "$stamp" ]; then
    $SUDO apt-get update -qq
    $SUDO mkdir -p "$(dirname "$stamp")"
    $SUDO touch "$stamp"
fi

want=(build-essential pkg-config ninja-build libglib2.0-dev libpixman-1-dev
      libslirp-dev libfdt-dev zlib1g-dev flex bison python3-venv
      python3-setuptools python3-wheel python3-tomli dpkg-dev
      seabios ipxe-qemu qemu-system-data
      busybox-static cpio gzip xz-utils zstd kmod file
      python3-pycotap meson gdb)
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# meson >= 1.5 and python3-pycotap are required by QEMU 10 and only come
# from backports on bookworm.
if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson 2>/dev/null || echo 0)" ge 1.5; then
    missing+=(meson/bookworm-backports)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -t bookworm-backports "${missing[@]}" >/dev/null
fi
