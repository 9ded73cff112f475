#!/usr/bin/python3
"""Host side of the chimney-nic guest tests: a small line-protocol TCP server.

The guest reaches it through slirp (-netdev user): the guest connects to
10.0.2.2:<port>, which slirp maps to 127.0.0.1:<port> on the host.  One
request per connection, a text line first:

  HELLO <token>      -> "HELLO-ACK <token>\\n"
  UPLOAD <n>         -> reads exactly n bytes, replies "<sha256 hex>\\n"
  DOWNLOAD <n>       -> sends n deterministic pseudo-random bytes, closes
  DLSUM <n>          -> "<sha256 hex of DOWNLOAD n>\\n"
  LINKFLAP [secs]    -> "OK\\n" (or "NOQMP\\n"); then, through QEMU's QMP
                        socket, sets the netdev link down, waits secs
                        (default 3), and sets it up again
  BYE                -> "BYE\\n", and the server exits

Every request is logged on stdout ("EVENT ...").  The server exits after BYE,
or after --timeout seconds whatever happens.
"""

import argparse
import hashlib
import json
import os
import random
import socket
import socketserver
import sys
import threading
import time

MAX_BYTES = 64 << 20
T0 = time.monotonic()
LOCK = threading.Lock()
DATA = {}


def log(msg):
    with LOCK:
        print(f"[{time.monotonic() - T0:7.2f}] {msg}", flush=True)


def payload(n):
    with LOCK:
        if n not in DATA:
            DATA[n] = random.Random(n).randbytes(n)
        return DATA[n]


def qmp(path, commands):
    """Run QMP commands on a fresh connection; returns the replies."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rwb")
    json.loads(f.readline())                      # greeting
    replies = []
    for cmd in [{"execute": "qmp_capabilities"}] + commands:
        f.write(json.dumps(cmd).encode() + b"\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "event" in msg:
                continue
            replies.append(msg)
            break
    s.close()
    return replies[1:]


class Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, text):
        self.wfile.write(text.encode() + b"\n")
        self.wfile.flush()

    def handle(self):
        peer = "%s:%d" % self.client_address
        line = self.rfile.readline(256).decode(errors="replace").strip()
        words = line.split()
        if not words:
            log(f"EVENT empty-request peer={peer}")
            return
        cmd, args = words[0].upper(), words[1:]
        try:
            getattr(self, "do_" + cmd, self.do_unknown)(peer, args)
        except (OSError, ValueError) as e:
            log(f"EVENT error cmd={cmd} peer={peer} err={e!r}")

    def do_unknown(self, peer, args):
        log(f"EVENT unknown peer={peer}")
        self.reply("ERR unknown request")

    def do_HELLO(self, peer, args):
        token = args[0] if args else ""
        log(f"EVENT hello token={token} peer={peer}")
        self.reply(f"HELLO-ACK {token}")

    @staticmethod
    def size(args):
        n = int(args[0])
        if not 0 < n <= MAX_BYTES:
            raise ValueError(f"size {n} out of range")
        return n

    def do_UPLOAD(self, peer, args):
        n = self.size(args)
        h = hashlib.sha256()
        got = 0
        t = time.monotonic()
        while got < n:
            chunk = self.rfile.read1(min(65536, n - got))
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
        dt = time.monotonic() - t
        log(f"EVENT upload want={n} got={got} sha256={h.hexdigest()} "
            f"secs={dt:.2f} peer={peer}")
        self.reply(h.hexdigest() if got == n else f"SHORT {got}")

    def do_DOWNLOAD(self, peer, args):
        n = self.size(args)
        t = time.monotonic()
        self.wfile.write(payload(n))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)
        # Let the guest read everything before the socket is closed.
        self.connection.settimeout(60)
        while self.connection.recv(4096):
            pass
        log(f"EVENT download n={n} sha256={hashlib.sha256(payload(n)).hexdigest()} "
            f"secs={time.monotonic() - t:.2f} peer={peer}")

    def do_DLSUM(self, peer, args):
        n = self.size(args)
        self.reply(hashlib.sha256(payload(n)).hexdigest())

    def do_LINKFLAP(self, peer, args):
        secs = float(args[0]) if args else 3.0
        path = self.server.qmp_path
        if not path:
            log("EVENT linkflap unavailable (no QMP socket)")
            self.reply("NOQMP")
            return
        self.reply("OK")

        def flap():
            try:
                time.sleep(0.5)
                r = qmp(path, [{"execute": "set_link",
                                "arguments": {"name": self.server.netdev,
                                              "up": False}}])
                log(f"EVENT link-down qmp={r}")
                time.sleep(secs)
                r = qmp(path, [{"execute": "set_link",
                                "arguments": {"name": self.server.netdev,
                                              "up": True}}])
                log(f"EVENT link-up qmp={r}")
            except (OSError, ValueError) as e:
                log(f"EVENT linkflap-error err={e!r}")

        threading.Thread(target=flap, daemon=True).start()

    def do_BYE(self, peer, args):
        log(f"EVENT bye peer={peer}")
        self.reply("BYE")
        threading.Thread(target=self.server.shutdown, daemon=True).start()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: pick a free one")
    ap.add_argument("--port-file", help="write the port number here")
    ap.add_argument("--timeout", type=float, default=300,
                    help="exit after this many seconds in any case")
    ap.add_argument("--qmp", help="QEMU QMP unix socket (for LINKFLAP)")
    ap.add_argument("--netdev", default="n0", help="netdev id for set_link")
    a = ap.parse_args()

    srv = Server((a.bind, a.port), Handler)
    srv.qmp_path = a.qmp
    srv.netdev = a.netdev
    port = srv.server_address[1]
    log(f"EVENT listening addr={a.bind}:{port}")
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, a.port_file)

    def deadline():
        time.sleep(a.timeout)
        log("EVENT timeout")
        os._exit(2)

    threading.Thread(target=deadline, daemon=True).start()
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    log("EVENT exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
