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
  PUMP <name> <n>    -> a gated transfer both ways at once (the offload
                        test): the guest sends n bytes after the line
                        while the server sends n deterministic bytes
                        (DOWNLOAD n's) back; each direction stops at its
                        gate (initially 256 KiB) until raised with GATE.
                        After its n bytes the server shuts down its send
                        side and waits for the guest's FIN (clean close)
                        or a reset; logged as "EVENT pump ...".
  GATE <name> <s> <r> [f]
                     -> "OK": let the server send up to s and read up
                        to r bytes of pump <name> (-1: everything); f 0
                        holds the server's FIN after its n bytes (a FIN
                        on an idle connection), f 1 lets it go (default)
  PSTAT <name>       -> "sent S rcvd R done 0|1 end fin|rst|- sha256 H"
                        (H: SHA-256 of the bytes received so far)
  ECHO <n>           -> echoes the n bytes that follow, then waits for
                        the guest's FIN (clean) or a reset (many
                        connections at once: the 1,000-connection test)
  ECHOSTAT           -> "echo started S done D fin F rst R"

Every request is logged on stdout ("EVENT ...").  The server exits after BYE,
or after --timeout seconds whatever happens.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import select
import socket
import socketserver
import sys
import threading
import time

MAX_BYTES = 80 << 20
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


class Pump:
    """State of one PUMP transfer, shared with GATE/PSTAT requests."""

    def __init__(self, n):
        self.n = n
        self.sent = 0
        self.rcvd = 0
        self.send_gate = 256 << 10
        self.recv_gate = 256 << 10
        self.sha = hashlib.sha256()
        self.end = "-"
        self.done = False
        self.cut = False        # the connection ended early: stop sending
        self.send_reset = False  # the sender saw the reset first
        self.fin_held = False   # GATE ... 0: no FIN until GATE ... 1
        self.cond = threading.Condition()


PUMPS = {}


def pump_get(name):
    with LOCK:
        return PUMPS.get(name)


def _pump_do(self, peer, args):
    name, n = args[0], self.size(args[1:])
    p = Pump(n)
    with LOCK:
        PUMPS[name] = p
    log(f"EVENT pump-start name={name} n={n} peer={peer}")
    data = payload(n)
    conn = self.connection
    # Small buffers: the gates stop the guest's program mid-stream with
    # data still queued in its socket.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)

    def sender():
        try:
            while p.sent < n:
                with p.cond:
                    while p.sent >= p.send_gate and not p.cut:
                        p.cond.wait()
                    if p.cut:
                        return
                    k = min(16384, p.send_gate - p.sent, n - p.sent)
                conn.sendall(data[p.sent:p.sent + k])
                with p.cond:
                    p.sent += k
            with p.cond:
                while p.fin_held and not p.cut:
                    p.cond.wait()
            conn.shutdown(socket.SHUT_WR)
        except OSError as e:
            # EPIPE without our shutdown: the reset (its error, which
            # the receiver would see, is consumed by this send)
            p.send_reset = e.errno in (errno.ECONNRESET, errno.EPIPE)
            log(f"EVENT pump-send-error name={name} err={e!r}")

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    conn.settimeout(240)
    try:
        while p.rcvd < n:
            with p.cond:
                while p.rcvd >= p.recv_gate:
                    p.cond.wait()
                k = min(65536, p.recv_gate - p.rcvd, n - p.rcvd)
            chunk = self.rfile.read1(k)
            if not chunk:
                break
            with p.cond:
                p.sha.update(chunk)
                p.rcvd += len(chunk)
        if p.rcvd < n:
            with p.cond:
                p.cut = True
                p.cond.notify_all()
        # While the sender runs (gated), a reset from the guest ends the
        # pump; its FIN (a half-close) does not.
        deadline = time.monotonic() + 240
        fin = False
        while t.is_alive() and time.monotonic() < deadline:
            t.join(0.2)
            if fin:
                # a reset after the FIN: EPIPE in CLOSE_WAIT (tcp_reset)
                err = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err in (errno.ECONNRESET, errno.EPIPE):
                    raise ConnectionResetError(err, "reset after FIN")
            elif select.select([conn], [], [], 0)[0]:
                fin = not conn.recv(1, socket.MSG_PEEK)
        if p.send_reset:
            raise ConnectionResetError(errno.ECONNRESET, "reset (send)")
        # After the n bytes the guest closes: FIN (clean) or RST.
        extra = self.rfile.read1(4096)
        p.end = "fin" if not extra else "data"
    except ConnectionResetError:
        p.end = "rst"
    except OSError as e:
        p.end = f"error:{e!r}"
    with p.cond:
        p.cut = True            # the sender stops waiting at its gate
        p.done = True
        p.cond.notify_all()
    log(f"EVENT pump name={name} n={n} sent={p.sent} rcvd={p.rcvd} "
        f"sha256={p.sha.hexdigest()} "
        f"sent_sha256={hashlib.sha256(data).hexdigest()} end={p.end} "
        f"peer={peer}")


def _gate_do(self, peer, args):
    p = pump_get(args[0])
    if not p:
        self.reply("ERR no such pump")
        return
    s, r = int(args[1]), int(args[2])
    with p.cond:
        p.send_gate = p.n if s < 0 else max(p.send_gate, s)
        p.recv_gate = p.n if r < 0 else max(p.recv_gate, r)
        if len(args) > 3:
            p.fin_held = args[3] == "0"
        p.cond.notify_all()
    log(f"EVENT gate name={args[0]} send={p.send_gate} recv={p.recv_gate} "
        f"fin_held={int(p.fin_held)}")
    self.reply("OK")


def _pstat_do(self, peer, args):
    p = pump_get(args[0])
    if not p:
        self.reply("ERR no such pump")
        return
    with p.cond:
        self.reply(f"sent {p.sent} rcvd {p.rcvd} done {int(p.done)} "
                   f"end {p.end} sha256 {p.sha.copy().hexdigest()}")


ECHO = {"started": 0, "done": 0, "fin": 0, "rst": 0}


def _echo_do(self, peer, args):
    n = self.size(args)
    with LOCK:
        ECHO["started"] += 1
    moved, end = 0, "-"
    try:
        while moved < n:
            chunk = self.rfile.read1(min(65536, n - moved))
            if not chunk:
                break
            self.wfile.write(chunk)
            self.wfile.flush()
            moved += len(chunk)
        end = "fin" if moved == n and not self.rfile.read1(1) else "data"
    except ConnectionResetError:
        end = "rst"
    with LOCK:
        ECHO["done"] += 1
        if end in ("fin", "rst"):
            ECHO[end] += 1
    if end != "fin":
        log(f"EVENT echo n={n} moved={moved} end={end} peer={peer}")


def _echostat_do(self, peer, args):
    with LOCK:
        text = " ".join(f"{k} {v}" for k, v in ECHO.items())
    self.reply("echo " + text)


Handler.do_ECHO = _echo_do
Handler.do_ECHOSTAT = _echostat_do
Handler.do_PUMP = _pump_do
Handler.do_GATE = _gate_do
Handler.do_PSTAT = _pstat_do


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024       # the 1,000-connection test


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
