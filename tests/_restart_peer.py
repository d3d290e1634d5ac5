# Runs on the peer host (the Linux kernel's stack) for the restart chaos test and bench.
#   echo HOST PORT BYTES SEED RATE   : sends BYTES seeded bytes at RATE bytes/s to the echo
#                                      service while reading the echo back
#   discard HOST PORT BYTES SEED RATE: sends BYTES at RATE bytes/s to discard, half-closes,
#                                      expects EOF with nothing back
#   probe HOST PORT TIMEOUT          : one small echo round trip, retried until it works or
#                                      TIMEOUT seconds pass; prints the seconds it took
#   ticker HOST PORT SECONDS INTERVAL: one echo connection, a 64-byte message every INTERVAL
#                                      seconds for SECONDS; prints {"ok", "error", "arrivals"
#                                      (wall-clock ms of each echoed message), "exact"}
# Prints one JSON line: {"ok", "sent", "got", "sha_sent", "sha_got", "error", "maxGapMs",
# "gaps"} (gaps: inter-arrival gaps of the echo over 100 ms, in ms).
import hashlib
import json
import random
import socket
import sys
import threading
import time


def paced_send(s, data, rate):
    start = time.monotonic()
    off = 0
    chunk = 4096
    while off < len(data):
        n = min(chunk, len(data) - off)
        s.sendall(data[off:off + n])
        off += n
        ahead = off / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)


def transfer(kind, host, port, n, seed, rate):
    rnd = random.Random(seed)
    data = rnd.randbytes(n)
    res = {"ok": False, "sent": 0, "got": 0, "error": None, "maxGapMs": 0, "gaps": []}
    try:
        s = socket.create_connection((host, port), timeout=120)
    except OSError as e:
        res["error"] = "connect: %s" % e
        print(json.dumps(res))
        return
    got = bytearray()
    gaps = []
    err = []

    def reader():
        last = time.monotonic()
        try:
            while True:
                b = s.recv(65536)
                now = time.monotonic()
                if not b:
                    return
                if now - last > 0.1:
                    gaps.append(round((now - last) * 1000, 1))
                last = now
                got.extend(b)
        except OSError as e:
            err.append("recv: %s" % e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        paced_send(s, data, rate)
        res["sent"] = len(data)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err.append("send: %s" % e)
    t.join(300)
    s.close()
    res["got"] = len(got)
    res["sha_sent"] = hashlib.sha256(data).hexdigest()
    res["sha_got"] = hashlib.sha256(bytes(got)).hexdigest()
    res["gaps"] = gaps
    res["maxGapMs"] = max(gaps) if gaps else 0
    if err:
        res["error"] = "; ".join(err)
    if kind == "echo":
        res["ok"] = not err and bytes(got) == data
    else:
        res["ok"] = not err and len(got) == 0 and res["sent"] == n
    print(json.dumps(res))


def probe(host, port, timeout):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            s = socket.create_connection((host, port), timeout=0.5)
            s.settimeout(0.5)
            s.sendall(b"x")
            if s.recv(1) == b"x":
                s.close()
                print(json.dumps({"ok": True, "seconds": time.monotonic() - start}))
                return
            s.close()
        except OSError:
            pass
        time.sleep(0.01)
    print(json.dumps({"ok": False, "seconds": time.monotonic() - start}))


def ticker(host, port, seconds, interval):
    res = {"ok": False, "error": None, "arrivals": [], "exact": False}
    s = socket.create_connection((host, port), timeout=60)
    sent = bytearray()
    got = bytearray()
    arrivals = []
    err = []

    def reader():
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    return
                now = time.time() * 1000
                for _ in range((len(got) % 64 + len(b)) // 64):
                    arrivals.append(now)
                got.extend(b)
        except OSError as e:
            err.append("recv: %s" % e)

    t = threading.Thread(target=reader)
    t.start()
    start = time.monotonic()
    i = 0
    try:
        while time.monotonic() - start < seconds:
            msg = (("%063d" % i) + "\n").encode()
            s.sendall(msg)
            sent.extend(msg)
            i += 1
            time.sleep(interval)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err.append("send: %s" % e)
    t.join(120)
    s.close()
    res["arrivals"] = arrivals
    res["exact"] = bytes(got) == bytes(sent)
    res["error"] = "; ".join(err) if err else None
    res["ok"] = res["exact"] and not err
    print(json.dumps(res))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] in ("echo", "discard"):
        transfer(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), float(a[5]))
    elif a[0] == "ticker":
        ticker(a[1], int(a[2]), float(a[3]), float(a[4]))
    elif a[0] == "probe":
        probe(a[1], int(a[2]), float(a[3]))
