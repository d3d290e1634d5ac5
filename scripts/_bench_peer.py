# Traffic programs of `./joyride bench perf` (scripts/bench_perf.ts). The same program runs
# on the Linux kernel's stack and, through the shim, on Joyride's; each prints one JSON line.
#   send HOST PORT SECS CHUNK MODE     : writes CHUNK-byte buffers for SECS (MODE "block" or
#                                        "nonblock": O_NONBLOCK + poll), half-closes, waits for
#                                        EOF; {"bytes","secs","gbps"}
#   echo HOST PORT SECS                : writes and reads back at once (two threads);
#                                        {"bytes" echoed,"secs","gbps"}
#   rtt HOST PORT N                    : N one-byte round trips (TCP_NODELAY);
#                                        {"n","p50_us","p99_us"}
#   hold HOST PORT N                   : opens N connections, prints {"open": N}, keeps them
#                                        until stdin closes
#   discard-server HOST PORT           : accepts any number of connections, reads to EOF
#   echo-server HOST PORT              : accepts any number of connections, echoes
#   hold-server HOST PORT              : accepts any number of connections and keeps them, no
#                                        thread per connection (the kernel's memory per
#                                        connection is then only the sockets')
import json
import os
import resource
import select
import socket
import sys
import threading
import time


def out(**kw):
    print(json.dumps(kw), flush=True)


def send(host, port, secs, chunk, mode):
    s = socket.create_connection((host, port))
    buf = b"x" * chunk
    n = 0
    t0 = time.monotonic()
    end = t0 + secs
    if mode == "nonblock":
        s.setblocking(False)
        p = select.poll()
        p.register(s, select.POLLOUT)
        while time.monotonic() < end:
            try:
                n += s.send(buf)
            except BlockingIOError:
                p.poll(100)
        s.setblocking(True)
    else:
        while time.monotonic() < end:
            n += s.send(buf)
    dt = time.monotonic() - t0
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    out(bytes=n, secs=dt, gbps=n * 8 / dt / 1e9)


def echo(host, port, secs):
    s = socket.create_connection((host, port))
    buf = b"x" * 65536
    got = [0]

    def reader():
        while True:
            b = s.recv(1 << 20)
            if not b:
                return
            got[0] += len(b)

    t = threading.Thread(target=reader)
    t.start()
    t0 = time.monotonic()
    end = t0 + secs
    while time.monotonic() < end:
        s.send(buf)
    dt = time.monotonic() - t0
    g = got[0]
    s.shutdown(socket.SHUT_WR)
    t.join(10)
    s.close()
    out(bytes=g, secs=dt, gbps=g * 8 / dt / 1e9)


def rtt(host, port, n):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    one = b"x"
    for _ in range(min(100, n)):  # warm up
        s.send(one)
        s.recv(1)
    ts = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        s.send(one)
        if not s.recv(1):
            break
        ts.append((clock() - t) / 1000)
    s.close()
    ts.sort()
    out(n=len(ts), p50_us=ts[len(ts) // 2], p99_us=ts[min(len(ts) - 1, len(ts) * 99 // 100)])


def hold(host, port, n):
    conns = []
    for _ in range(n):
        conns.append(socket.create_connection((host, port), timeout=30))
    out(open=len(conns))
    sys.stdin.read()
    for c in conns:
        c.close()


def hold_server(host, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4096)
    out(listening=port)
    conns = []
    while True:
        c, _ = ls.accept()
        conns.append(c)


def serve(host, port, echo_back):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4096)

    def conn(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            if echo_back:
                c.sendall(b)
        c.close()

    out(listening=port)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=conn, args=(c,), daemon=True).start()


def main():
    # 10,000 held connections need that many descriptors (the soft limit may be 1024).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    a = sys.argv[1:]
    cmd = a[0]
    if cmd == "send":
        send(a[1], int(a[2]), float(a[3]), int(a[4]), a[5])
    elif cmd == "echo":
        echo(a[1], int(a[2]), float(a[3]))
    elif cmd == "rtt":
        rtt(a[1], int(a[2]), int(a[3]))
    elif cmd == "hold":
        hold(a[1], int(a[2]), int(a[3]))
    elif cmd == "discard-server":
        serve(a[1], int(a[2]), False)
    elif cmd == "hold-server":
        hold_server(a[1], int(a[2]))
    elif cmd == "echo-server":
        serve(a[1], int(a[2]), True)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        os._exit(0)
