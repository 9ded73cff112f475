#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of tests/bench/guest-bench.sh: one guest->host and one
host->guest transfer of BYTES each, both opened by the guest (gbench).

  benchsrv.py --bind ADDR --bytes N --pidfile QEMU_PIDFILE --out JSONL
              --port-file FILE [--timeout S]

Two listeners on ADDR, ports chosen by the kernel and written to
--port-file as "SINKPORT SRCPORT".
  sink (guest->host): receive into memory until EOF; host MB/s is the
      bytes over (time of the last byte - time of the first byte); then
      close (the guest waits for that) and take the SHA-256.
  source (host->guest): wait for the guest's one-byte "G", send BYTES of
      random data, shutdown(WR), wait for the guest to close after EOF;
      host MB/s is BYTES over (guest close - "G").
With --deadline S a transfer still running S seconds after its start is
aborted with a RST and reported as an error with the rate it had.
The QEMU process's CPU time (utime + stime of all threads, /proc/PID/stat)
is sampled at the start and the end of each transfer.  One JSON line per
transfer goes to --out; anything that goes wrong is a JSON line with
"error".
"""
import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

TCK = os.sysconf('SC_CLK_TCK')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bind', required=True)
    ap.add_argument('--bytes', type=int, required=True)
    ap.add_argument('--pidfile', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--port-file', required=True)
    ap.add_argument('--timeout', type=float, default=300)
    ap.add_argument('--deadline', type=float, default=0,
                    help='abort (RST) a transfer still running after S seconds')
    a = ap.parse_args()
    lock = threading.Lock()

    def emit(rec):
        with lock:
            with open(a.out, 'a') as f:
                f.write(json.dumps(rec) + '\n')

    def qemu_pid():
        for _ in range(200):
            try:
                return int(open(a.pidfile).read().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        return None

    def qemu_cpu(pid):
        """utime + stime of the QEMU process in seconds, or None."""
        try:
            st = open('/proc/%d/stat' % pid).read()
        except (OSError, TypeError):
            return None
        f = st[st.rindex(')') + 2:].split()
        return (int(f[11]) + int(f[12])) / TCK

    def delta(c0, c1):
        return None if c0 is None or c1 is None else c1 - c0

    def listener():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.bind, 0))
        s.listen(1)
        s.settimeout(a.timeout)
        return s

    n = a.bytes

    def check_deadline(c, t0, got):
        """Abort the connection (RST) once the deadline has passed."""
        if a.deadline and t0 is not None and time.monotonic() - t0 > a.deadline:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack('ii', 1, 0))
            c.close()
            raise RuntimeError('deadline: only %d of %d bytes in %.0f s (%.2f MB/s), aborted'
                               % (got, n, a.deadline, got / a.deadline / 1e6))

    def sink(ls):
        try:
            c, _ = ls.accept()
            t_acc = time.monotonic()
            c.settimeout(min(a.timeout, 1.0) if a.deadline else a.timeout)
            pid = qemu_pid()
            buf = bytearray(n + (1 << 20))
            mv = memoryview(buf)
            got = 0
            t_first = t_last = c0 = None
            while True:
                check_deadline(c, t_first, got)
                if t_first is None and time.monotonic() - t_acc > a.timeout:
                    raise RuntimeError('no data from the guest')
                try:
                    r = c.recv_into(mv[min(got, n):])
                except socket.timeout:
                    if a.deadline:
                        continue
                    raise
                if r == 0:
                    break
                t_last = time.monotonic()
                if t_first is None:
                    t_first, c0 = t_last, qemu_cpu(pid)
                got += r
            c1 = qemu_cpu(pid)
            c.close()
            rec = dict(dir='g2h', bytes=got,
                       sha256=hashlib.sha256(mv[:min(got, n)]).hexdigest())
            if t_first is not None and t_last > t_first:
                rec.update(host_s=t_last - t_first,
                           MBps=got / (t_last - t_first) / 1e6,
                           qemu_cpu_s=delta(c0, c1),
                           mono=[t_first, t_last])
            emit(rec)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            emit(dict(dir='g2h', error=repr(e)))
        finally:
            ls.close()

    def source(ls):
        try:
            data = os.urandom(n)
            want = hashlib.sha256(data).hexdigest()
            c, _ = ls.accept()
            c.settimeout(a.timeout)
            pid = qemu_pid()
            if c.recv(1) != b'G':
                raise RuntimeError('no start byte from the guest')
            t0, c0 = time.monotonic(), qemu_cpu(pid)
            if a.deadline:
                c.settimeout(1.0)
            mv, sent = memoryview(data), 0
            while sent < n:
                check_deadline(c, t0, sent)
                try:
                    sent += c.send(mv[sent:sent + (1 << 20)])
                except socket.timeout:
                    pass
            c.shutdown(socket.SHUT_WR)
            t_sent = time.monotonic()
            extra = 0
            while True:
                check_deadline(c, t0, sent)
                try:
                    r = c.recv(65536)
                except socket.timeout:
                    continue
                if not r:
                    break
                extra += len(r)
            t1, c1 = time.monotonic(), qemu_cpu(pid)
            c.close()
            emit(dict(dir='h2g', bytes=n, sha256=want, host_s=t1 - t0,
                      MBps=n / (t1 - t0) / 1e6, sendall_s=t_sent - t0,
                      unexpected_bytes=extra, qemu_cpu_s=delta(c0, c1),
                      mono=[t0, t1]))
        except Exception as e:  # noqa: BLE001 - reported, not raised
            emit(dict(dir='h2g', error=repr(e)))
        finally:
            ls.close()

    ls_sink, ls_src = listener(), listener()
    tmp = a.port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write('%d %d\n' % (ls_sink.getsockname()[1], ls_src.getsockname()[1]))
    os.rename(tmp, a.port_file)
    ts = [threading.Thread(target=sink, args=(ls_sink,)),
          threading.Thread(target=source, args=(ls_src,))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return 0


if __name__ == '__main__':
    sys.exit(main())
