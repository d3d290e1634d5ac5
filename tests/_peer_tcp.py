# Runs on the peer host (the Linux kernel's stack) for the whole-system tests.
#   tcp-echo HOST PORT BYTES SEED : sends BYTES seeded bytes, reads the echo; prints
#                                   "sent SHA256 got SHA256 BYTES"
#   discard HOST PORT BYTES       : sends BYTES, half-closes, expects EOF with nothing back
#   udp-echo HOST PORT COUNT      : COUNT datagrams of various sizes, each must come back
import hashlib
import random
import socket
import sys
import threading


def tcp_echo(host, port, n, seed):
    rnd = random.Random(seed)
    data = rnd.randbytes(n)
    s = socket.create_connection((host, port), timeout=30)
    got = bytearray()

    def reader():
        while True:
            b = s.recv(65536)
            if not b:
                return
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    s.close()
    print("sent", hashlib.sha256(data).hexdigest(), "got", hashlib.sha256(bytes(got)).hexdigest(), len(got))


def discard(host, port, n):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"x" * n)
    s.shutdown(socket.SHUT_WR)
    back = 0
    while True:
        b = s.recv(65536)
        if not b:
            break
        back += len(b)
    s.close()
    print("discarded", n, "back", back)


def udp_echo(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    ok = 0
    for i in range(count):
        msg = bytes([i % 256]) * (1 + (i * 97) % 1400)
        for _attempt in range(3):
            s.sendto(msg, (host, port))
            try:
                back, _ = s.recvfrom(2048)
            except socket.timeout:
                continue
            if back == msg:
                ok += 1
            break
        else:
            break  # no answer after 3 tries: stop here
    print("udp ok", ok, "of", count)


cmd = sys.argv[1]
if cmd == "tcp-echo":
    tcp_echo(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
elif cmd == "discard":
    discard(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "udp-echo":
    udp_echo(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
