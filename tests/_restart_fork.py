"""A connection a forked child serves while its parent has closed its copy (PostgreSQL's
postmaster hands each connection to a backend so), across restarts of the TCP/IP server.

  server PORT           under the shim: accept, fork, the child echoes waiting in epoll
  client HOST PORT SECS on the peer: a byte every 0.3 s for SECS seconds, each echoed within 10 s

The client exits 0 when every byte came back, 1 (saying which) otherwise. After a restart, the
placeholder of such a connection was taken from the parent, which no longer held it: the child's
epoll_wait never woke again (a helper's finding with PostgreSQL).
"""
import os
import select
import socket
import sys
import time


def server(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    while True:
        c, _ = ls.accept()
        if os.fork() == 0:
            ls.close()
            c.setblocking(False)
            ep = select.epoll()
            ep.register(c.fileno(), select.EPOLLIN)
            while True:
                if not ep.poll(60):
                    os._exit(1)
                try:
                    d = c.recv(100)
                except BlockingIOError:
                    continue
                if not d:
                    os._exit(0)
                c.send(d)
        c.close()
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            pass


def client(host, port, secs):
    s = socket.create_connection((host, port), timeout=10)
    end, n = time.time() + secs, 0
    while time.time() < end:
        s.send(b"x")
        try:
            if s.recv(10) != b"x":
                print("echo %d: wrong reply" % n, flush=True)
                sys.exit(1)
        except socket.timeout:
            print("echo %d: no reply in 10 s" % n, flush=True)
            sys.exit(1)
        n += 1
        time.sleep(0.3)
    print("%d echoes" % n, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
