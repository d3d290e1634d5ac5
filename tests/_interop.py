# Both ends of the interop tests (tests/interop_programs_test.ts), run under the shim or on the
# peer host (the kernel's stack). Clients print one line ("ok ...") only when every check held.
#   asyncio-server PORT                 : asyncio streams; answers each line upper-cased
#   asyncio-client HOST PORT LINES      : LINES lines, each answer checked
#   threads-server PORT                 : socketserver.ThreadingTCPServer; each line reversed
#   threads-client HOST PORT CONNS LINES: CONNS connections at once, each LINES lines checked
#   udp-upper PORT                      : UDP server answering each datagram upper-cased
#   memcache HOST PORT KEYS             : set/get KEYS keys of 0-20 KB values (text protocol)
#   fetch URL                           : urllib GET; prints "ok SHA256 LENGTH"
#   http11 PORT DIR                     : http.server speaking HTTP/1.1 (keep-alive)
#   udp-probe HOST PORT SIZE...         : one datagram of each SIZE, the same bytes back
import asyncio
import hashlib
import http.server
import random
import socket
import socketserver
import sys
import threading
import urllib.request


def line_of(i, n):
    return ("line %d of %d %s\n" % (i, n, "x" * (i % 97))).encode()


async def asyncio_server(port):
    async def serve(r, w):
        while True:
            line = await r.readline()
            if not line:
                break
            w.write(line.upper())
            await w.drain()
        w.close()

    srv = await asyncio.start_server(serve, "0.0.0.0", port)
    print("listening", flush=True)
    async with srv:
        await srv.serve_forever()


async def asyncio_client(host, port, n):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 20)
    for i in range(n):
        w.write(line_of(i, n))
    await w.drain()
    for i in range(n):
        got = await asyncio.wait_for(r.readline(), 20)
        if got != line_of(i, n).upper():
            print("bad answer", i, got[:40])
            return
    w.close()
    print("ok", n)


class Reverser(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.rstrip(b"\n")[::-1] + b"\n")


def threads_client(host, port, conns, n):
    bad = []

    def one(k):
        s = socket.create_connection((host, port), timeout=20)
        f = s.makefile("rwb")
        for i in range(n):
            f.write(b"conn %d line %d\n" % (k, i))
            f.flush()
            if f.readline() != (b"conn %d line %d" % (k, i))[::-1] + b"\n":
                bad.append((k, i))
                return
        s.close()

    ts = [threading.Thread(target=one, args=(k,)) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    print("ok", conns * n if not bad else "bad %s" % bad[:3])


def udp_upper(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    print("listening", flush=True)
    while True:
        b, a = s.recvfrom(65536)
        s.sendto(b.upper(), a)


def memcache(host, port, keys):
    rnd = random.Random(7)
    s = socket.create_connection((host, port), timeout=20)
    f = s.makefile("rwb")
    vals = {}
    for k in range(keys):
        v = bytes(rnd.randrange(97, 123) for _ in range(rnd.randrange(0, 20000)))
        vals[k] = v
        f.write(b"set key%d 0 0 %d\r\n%s\r\n" % (k, len(v), v))
        f.flush()
        if f.readline() != b"STORED\r\n":
            print("not stored", k)
            return
    for k in range(keys):
        f.write(b"get key%d\r\n" % k)
        f.flush()
        head = f.readline().split()
        if head[:2] != [b"VALUE", b"key%d" % k] or int(head[3]) != len(vals[k]):
            print("bad value header", k, head)
            return
        v = f.read(len(vals[k]) + 2)
        if v[:-2] != vals[k] or f.readline() != b"END\r\n":
            print("bad value", k)
            return
    print("ok", keys)


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        b = r.read()
    print("ok", hashlib.sha256(b).hexdigest(), len(b))


def http11(port, d):
    class H(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=d, **kw)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()


def udp_probe(host, port, sizes):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for n in sizes:
        data = bytes(48 + i % 10 for i in range(n))  # digits: the same upper-cased
        s.sendto(data, (host, port))
        b, a = s.recvfrom(65536)
        if b != data or a != (host, port):
            print("bad reply", n, len(b), a)
            return
    print("ok", len(sizes))


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "asyncio-server":
        asyncio.run(asyncio_server(int(a[0])))
    elif cmd == "asyncio-client":
        asyncio.run(asyncio_client(a[0], int(a[1]), int(a[2])))
    elif cmd == "threads-server":
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        srv = socketserver.ThreadingTCPServer(("0.0.0.0", int(a[0])), Reverser)
        print("listening", flush=True)
        srv.serve_forever()
    elif cmd == "threads-client":
        threads_client(a[0], int(a[1]), int(a[2]), int(a[3]))
    elif cmd == "udp-upper":
        udp_upper(int(a[0]))
    elif cmd == "memcache":
        memcache(a[0], int(a[1]), int(a[2]))
    elif cmd == "fetch":
        fetch(a[0])
    elif cmd == "udp-probe":
        udp_probe(a[0], int(a[1]), [int(x) for x in a[2:]])
    elif cmd == "http11":
        http11(int(a[0]), a[1])


main()
