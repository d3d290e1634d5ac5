# A TCP and UDP echo server for IPv6 tests, run under the shim (Joyride's built-in echo
# service listens on IPv4 only). Usage: echo6.py ADDR PORT. Prints "ready" once listening.
import socket
import sys
import threading

addr, port = sys.argv[1], int(sys.argv[2])


def udp_loop():
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind((addr, port))
    while True:
        data, peer = u.recvfrom(65536)
        u.sendto(data, peer)


def tcp_conn(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)


t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((addr, port))
t.listen(16)
threading.Thread(target=udp_loop, daemon=True).start()
print("ready", flush=True)
while True:
    c, _ = t.accept()
    threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()
