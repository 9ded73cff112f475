#!/usr/bin/python3
"""pcap-summary.py FILE PORT [SPORT SND0 SND1 RCV0 RCV1]

What a classic pcap (Ethernet, as QEMU's filter-dump writes it) holds of
the IPv4 TCP traffic with server port PORT: segments and payload bytes each
way, SYN/FIN/RST.  With SPORT (the guest's port of one connection) only
that connection counts, and its data segments are split by sequence
number: guest->host data in [SND0, SND1) and host->guest data in
[RCV0, RCV1) (the ranges the NIC's engine was responsible for, from
`chimneyctl list` at offload and before upload) against the rest (the
kernel stack before offload and after upload)."""

import struct
import sys


def rel(a, b):
    """a - b as a signed 32-bit sequence difference"""
    d = (a - b) & 0xffffffff
    return d - (1 << 32) if d >= 1 << 31 else d


def main():
    data = open(sys.argv[1], 'rb').read()
    port = int(sys.argv[2])
    conn = [int(x) for x in sys.argv[3:8]] if len(sys.argv) >= 8 else None
    if conn and conn[0] == 0:
        conn = None
    if data[:4] == b'\xd4\xc3\xb2\xa1':
        e = '<'
    elif data[:4] == b'\xa1\xb2\xc3\xd4':
        e = '>'
    else:
        sys.exit(f'{sys.argv[1]}: not a classic pcap file')
    off, frames = 24, 0
    seg, pay, flags = [0, 0], [0, 0], {'SYN': 0, 'FIN': 0, 'RST': 0}
    # [direction][before, engine, after] payload bytes and segments
    part = [[[0, 0] for _ in range(3)] for _ in range(2)]
    while off + 16 <= len(data):
        caplen = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
        f = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        frames += 1
        if len(f) < 34 or f[12:14] != b'\x08\x00' or f[23] != 6:
            continue
        ihl = (f[14] & 15) * 4
        tot = struct.unpack('>H', f[16:18])[0]
        t = 14 + ihl
        if len(f) < t + 14:
            continue
        sp, dp, seq = struct.unpack('>HHI', f[t:t + 8])
        if port not in (sp, dp):
            continue
        d = 0 if dp == port else 1
        if conn and conn[0] not in (sp, dp):
            continue
        n = tot - ihl - (f[t + 12] >> 4) * 4
        seg[d] += 1
        pay[d] += n
        fl = f[t + 13]
        for name, bit in (('SYN', 2), ('FIN', 1), ('RST', 4)):
            if fl & bit:
                flags[name] += 1
        if conn and n > 0:
            lo, hi = (conn[1], conn[2]) if d == 0 else (conn[3], conn[4])
            i = 0 if rel(seq, lo) < 0 else 1 if rel(seq, hi) < 0 else 2
            part[d][i][0] += 1
            part[d][i][1] += n
    what = f'connection guest:{conn[0]} <-> host:{port}' if conn \
        else f'TCP with port {port}'
    print(f'  {frames} frames on the wire; {what}:')
    for d, name in ((0, 'guest -> host'), (1, 'host -> guest')):
        print(f'    {name}: {seg[d]} segments, {pay[d]} payload bytes')
        if conn:
            for i, ph in enumerate(('kernel stack, before offload',
                                    'NIC engine, while offloaded',
                                    'kernel stack, after upload')):
                print(f'      {ph + ":":31s} {part[d][i][0]:5d} data segments,'
                      f' {part[d][i][1]:7d} bytes')
    print('    ' + ', '.join(f'{k} {v}' for k, v in flags.items()))


if __name__ == '__main__':
    main()
