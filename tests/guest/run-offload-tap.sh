#!/usr/bin/env bash
# run-offload.sh against a Linux TCP peer: a tap device in a private network
# namespace instead of libslirp (run-offload.sh --net tap).  Exit status 77
# (TAP "1..0 # SKIP") only when the machine has no network namespaces or
# tap devices (or QEMU no chimney-nic).
#
# Usage: run-offload-tap.sh [--quiet]
exec "$(dirname "${BASH_SOURCE[0]}")/run-offload.sh" --net tap "$@"
