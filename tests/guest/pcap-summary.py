#!/usr/bin/python3
"""pcap-summary.py FILE PORT: what a classic pcap (Ethernet, as written by
QEMU's filter-dump) holds of the IPv4 TCP connections to/from PORT: frames,
segments and payload bytes each way, SYN/FIN/RST counts."""

import struct
import sys


def main():
    data = open(sys.argv[1], 'rb').read()
    port = int(sys.argv[2])
    if data[:4] == b'\xd4\xc3\xb2\xa1':
        e = '<'
    elif data[:4] == b'\xa1\xb2\xc3\xd4':
        e = '>'
    else:
        sys.exit(f'{sys.argv[1]}: not a classic pcap file')
    off, frames = 24, 0
    seg, pay, flags = [0, 0], [0, 0], {'SYN': 0, 'FIN': 0, 'RST': 0}
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
        sp, dp = struct.unpack('>HH', f[t:t + 4])
        if port not in (sp, dp):
            continue
        d = 0 if dp == port else 1
        seg[d] += 1
        pay[d] += tot - ihl - (f[t + 12] >> 4) * 4
        fl = f[t + 13]
        for name, bit in (('SYN', 2), ('FIN', 1), ('RST', 4)):
            if fl & bit:
                flags[name] += 1
    print(f'  {frames} frames on the wire; TCP with port {port}:')
    print(f'    guest -> host: {seg[0]} segments, {pay[0]} payload bytes')
    print(f'    host -> guest: {seg[1]} segments, {pay[1]} payload bytes')
    print('    ' + ', '.join(f'{k} {v}' for k, v in flags.items()))


if __name__ == '__main__':
    main()
