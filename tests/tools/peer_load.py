# Peer-side traffic for the fault, hostile-network and load tests (runs on the peer host, the
# Linux kernel's stack). Every mode prints one JSON line.
#   echo HOST PORT BYTES SEED TIMEOUT   : BYTES seeded bytes to the TCP echo, reads the echo back
#                                         {"sent":sha256,"got":sha256,"len":n,"secs":t}
#   discard HOST PORT BYTES TIMEOUT     : BYTES to discard, half-close, EOF with nothing back
#                                         {"sent":n,"back":n,"secs":t}
#   concurrent HOST PORT N TIMEOUT      : N connections open at once, each echoes 64 bytes
#                                         {"ok":n,"errors":[..],"secs":t}
#   sequential HOST PORT N TIMEOUT      : N short connections in a row (connect, 32 B echo, close)
#                                         {"ok":n,"errors":[..],"secs":t}
#   udp HOST PORT SIZE COUNT            : COUNT datagrams of SIZE bytes to the UDP echo
#                                         {"ok":n,"secs":t}
import hashlib
import json
import random
import resource
import selectors
import socket
import sys
import threading
import time


def echo(host, port, n, seed, timeout):
    data = random.Random(seed).randbytes(n)
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    got = hashlib.sha256()
    count = [0]
    err = []

    def reader():
        try:
            while True:
                b = s.recv(1 << 16)
                if not b:
                    return
                got.update(b)
                count[0] += len(b)
        except OSError as e:
            err.append(str(e))

    t = threading.Thread(target=reader)
    t.start()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err.append(str(e))
    t.join(timeout)
    s.close()
    print(json.dumps({"sent": hashlib.sha256(data).hexdigest(), "got": got.hexdigest(),
                      "len": count[0], "secs": time.monotonic() - t0, "errors": err}))


def discard(host, port, n, timeout):
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    chunk = bytes(range(256)) * 256
    left = n
    while left > 0:
        k = min(left, len(chunk))
        s.sendall(chunk[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    back = 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        back += len(b)
    s.close()
    print(json.dumps({"sent": n, "back": back, "secs": time.monotonic() - t0}))


def concurrent(host, port, n, timeout):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    conns = {}
    errors = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        msg = (b"%08d" % i) * 8
        conns[s] = {"msg": msg, "sent": False, "got": b""}
        sel.register(s, selectors.EVENT_WRITE)
    ok = 0
    deadline = t0 + timeout
    while conns and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            s = key.fileobj
            c = conns[s]
            if ev & selectors.EVENT_WRITE and not c["sent"]:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    errors.append("connect: errno %d" % e)
                    sel.unregister(s)
                    s.close()
                    del conns[s]
                    continue
                s.send(c["msg"])
                c["sent"] = True
                sel.modify(s, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                try:
                    b = s.recv(4096)
                except OSError as e:
                    errors.append(str(e))
                    b = b""
                c["got"] += b
                if len(c["got"]) >= len(c["msg"]) or not b:
                    if c["got"] == c["msg"]:
                        ok += 1
                    else:
                        errors.append("bad echo")
                    sel.unregister(s)
                    s.close()
                    del conns[s]
    for s in conns:
        s.close()
    if conns:
        errors.append("%d timed out" % len(conns))
    print(json.dumps({"ok": ok, "errors": errors[:10], "secs": time.monotonic() - t0}))


def sequential(host, port, n, timeout):
    t0 = time.monotonic()
    ok = 0
    errors = []
    for i in range(n):
        msg = b"%016d%016d" % (i, n)
        try:
            s = socket.create_connection((host, port), timeout=timeout)
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(64)
                if not b:
                    break
                got += b
            s.close()
            if got == msg:
                ok += 1
            else:
                errors.append("bad echo at %d" % i)
        except OSError as e:
            errors.append("%d: %s" % (i, e))
        if len(errors) > 10:
            break
    print(json.dumps({"ok": ok, "errors": errors, "secs": time.monotonic() - t0}))


def udp(host, port, size, count):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    ok = 0
    for i in range(count):
        msg = random.Random(i).randbytes(size)
        for _ in range(3):
            s.sendto(msg, (host, port))
            try:
                back, _ = s.recvfrom(65536)
            except socket.timeout:
                continue
            if back == msg:
                ok += 1
            break
    print(json.dumps({"ok": ok, "secs": time.monotonic() - t0}))


a = sys.argv
if a[1] == "echo":
    echo(a[2], int(a[3]), int(a[4]), int(a[5]), float(a[6]))
elif a[1] == "discard":
    discard(a[2], int(a[3]), int(a[4]), float(a[5]))
elif a[1] == "concurrent":
    concurrent(a[2], int(a[3]), int(a[4]), float(a[5]))
elif a[1] == "sequential":
    sequential(a[2], int(a[3]), int(a[4]), float(a[5]))
elif a[1] == "udp":
    udp(a[2], int(a[3]), int(a[4]), int(a[5]))
else:
    sys.exit("unknown mode " + a[1])
