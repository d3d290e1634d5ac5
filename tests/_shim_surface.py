"""Socket-API semantics under the shim (tests/shim_surface_test.ts runs this with LD_PRELOAD).

argv: PEER_ADDR ECHO_PORT CLOSED_PORT. The peer runs a TCP echo server on ECHO_PORT; nothing
listens on CLOSED_PORT. Prints one "name ok" line per check, or "name FAIL detail", and exits
non-zero if any check failed.
"""
import errno
import os
import select
import signal
import socket
import sys
import threading
import time

PEER, ECHO, CLOSED = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
failed = False


def check(name, cond, detail=""):
    global failed
    print(name, "ok" if cond else f"FAIL {detail}", flush=True)
    if not cond:
        failed = True


def echo_conn():
    s = socket.create_connection((PEER, ECHO), timeout=10)
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            break
        out += d
    return out


# Non-blocking connect: EINPROGRESS, then POLLOUT, then SO_ERROR 0.
s = socket.socket()
s.setblocking(False)
rc = s.connect_ex((PEER, ECHO))
check("nonblocking-connect-einprogress", rc == errno.EINPROGRESS, rc)
p = select.poll()
p.register(s, select.POLLOUT)
ev = p.poll(10000)
check("nonblocking-connect-pollout", ev and ev[0][1] & select.POLLOUT, ev)
check("nonblocking-connect-so-error", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
# EAGAIN on an empty receive ring.
try:
    s.recv(10)
    check("recv-eagain", False, "no exception")
except BlockingIOError:
    check("recv-eagain", True)
s.close()

# Refused connect: blocking → ECONNREFUSED; non-blocking → SO_ERROR ECONNREFUSED.
try:
    socket.create_connection((PEER, CLOSED), timeout=10)
    check("connect-refused", False, "connected")
except ConnectionRefusedError:
    check("connect-refused", True)
s = socket.socket()
s.setblocking(False)
s.connect_ex((PEER, CLOSED))
select.select([], [s], [], 10)
check("nonblocking-refused-so-error",
      s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED)
s.close()

# Names, options, FIONREAD, MSG_PEEK, readv/writev (sendmsg/recvmsg with several buffers).
s = echo_conn()
check("getpeername", s.getpeername() == (PEER, ECHO), s.getpeername())
check("getsockname", s.getsockname()[1] > 0, s.getsockname())
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
check("tcp-nodelay", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
check("so-keepalive", s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0)
check("so-type", s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM)
s.sendmsg([b"abc", b"def", b"ghi"])
time.sleep(0.3)
import fcntl, termios, struct  # noqa: E401
n = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
check("fionread", n == 9, n)
check("msg-peek", s.recv(3, socket.MSG_PEEK) == b"abc")
b1, b2 = bytearray(4), bytearray(5)
got = s.recvmsg_into([b1, b2])[0]
check("recvmsg-scatter", got == 9 and bytes(b1) + bytes(b2) == b"abcdefghi", (got, b1, b2))
# readv/writev through os.
os.writev(s.fileno(), [b"12", b"345"])
check("writev-readv", recv_exact(s, 5) == b"12345")
# dup: both fds work; closing one keeps the other.
d = os.dup(s.fileno())
os.write(d, b"dup!")
check("dup-write", recv_exact(s, 4) == b"dup!")
os.close(d)
s.sendall(b"after")
check("dup-close-keeps", recv_exact(s, 5) == b"after")
# dup2 onto a chosen number.
os.dup2(s.fileno(), 200)
os.write(200, b"two")
check("dup2", recv_exact(s, 3) == b"two")
os.close(200)
# O_NONBLOCK through fcntl.
fl = fcntl.fcntl(s.fileno(), fcntl.F_GETFL)
fcntl.fcntl(s.fileno(), fcntl.F_SETFL, fl | os.O_NONBLOCK)
check("fcntl-nonblock", fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK != 0)
try:
    os.read(s.fileno(), 10)
    check("fcntl-nonblock-eagain", False, "read returned")
except BlockingIOError:
    check("fcntl-nonblock-eagain", True)
fcntl.fcntl(s.fileno(), fcntl.F_SETFL, fl)

# epoll: level-triggered repeats, edge-triggered once per arrival, ONESHOT once, mixed with a
# kernel pipe.
ep = select.epoll()
r, w = os.pipe()
ep.register(s.fileno(), select.EPOLLIN)
ep.register(r, select.EPOLLIN)
s.sendall(b"x")
time.sleep(0.3)
e1 = ep.poll(5)
e2 = ep.poll(1)
check("epoll-level", any(fd == s.fileno() for fd, _ in e1) and any(fd == s.fileno() for fd, _ in e2),
      (e1, e2))
os.write(w, b"k")
e3 = dict(ep.poll(5))
check("epoll-mixed-kernel-fd", r in e3 and s.fileno() in e3, e3)
os.read(r, 1)
s.recv(1)
ep.modify(s.fileno(), select.EPOLLIN | select.EPOLLET)
s.sendall(b"y")
time.sleep(0.3)
e4 = [fd for fd, _ in ep.poll(5)]
e5 = [fd for fd, _ in ep.poll(0.5)]
check("epoll-edge", s.fileno() in e4 and s.fileno() not in e5, (e4, e5))
s.sendall(b"z")
time.sleep(0.3)
e6 = [fd for fd, _ in ep.poll(5)]
check("epoll-edge-new-data", s.fileno() in e6, e6)
check("epoll-edge-read", recv_exact(s, 2) == b"yz")
ep.modify(s.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
s.sendall(b"q")
time.sleep(0.3)
e7 = [fd for fd, _ in ep.poll(5)]
e8 = [fd for fd, _ in ep.poll(0.5)]
check("epoll-oneshot", s.fileno() in e7 and s.fileno() not in e8, (e7, e8))
s.recv(1)
ep.close()

# select with a Joyride fd and a kernel fd; poll timeout with nothing ready.
s.sendall(b"sel")
rl, _, _ = select.select([s, r], [], [], 5)
check("select-readable", s in rl)
check("select-read", recv_exact(s, 3) == b"sel")
t0 = time.monotonic()
rl, _, _ = select.select([s], [], [], 0.3)
check("select-timeout", rl == [] and time.monotonic() - t0 >= 0.25, rl)

# Threads: two threads talk over two sockets at once.
def talk(i, out):
    c = echo_conn()
    msg = (b"thread%d-" % i) * 5000
    c.sendall(msg)
    out[i] = recv_exact(c, len(msg)) == msg
    c.close()

res = {}
ts = [threading.Thread(target=talk, args=(i, res)) for i in range(3)]
[t.start() for t in ts]
[t.join(30) for t in ts]
check("threads", res == {0: True, 1: True, 2: True}, res)

# fork: the child uses the parent's socket, then the parent still can.
pid = os.fork()
if pid == 0:
    s.sendall(b"child")
    os._exit(0 if recv_exact(s, 5) == b"child" else 1)
_, status = os.waitpid(pid, 0)
check("fork-child-uses-socket", os.WEXITSTATUS(status) == 0, status)
s.sendall(b"parent")
check("fork-parent-still", recv_exact(s, 6) == b"parent")

# exec: an inherited socket keeps working in the new image; a close-on-exec one is released.
s.settimeout(None)
s.set_inheritable(True)
cloexec = echo_conn()  # Python's sockets are close-on-exec by default
child = ("import socket,sys\n"
         "c=socket.socket(fileno=int(sys.argv[1]))\n"
         "c.sendall(b'exec!')\n"
         "d=b''\n"
         "while len(d)<5: d+=c.recv(5-len(d))\n"
         "sys.exit(0 if d==b'exec!' else 3)")
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-c", child, str(s.fileno())])
_, status = os.waitpid(pid, 0)
check("exec-inherited-socket", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status)
s.sendall(b"post-exec")
check("exec-parent-still", recv_exact(s, 9) == b"post-exec")
cloexec.sendall(b"ce")
check("exec-cloexec-socket-in-parent", recv_exact(cloexec, 2) == b"ce")
cloexec.close()

# Shutdown(SHUT_WR): the echo server sees EOF and closes: recv returns b"".
s.sendall(b"bye")
s.shutdown(socket.SHUT_WR)
check("shutdown-wr-then-eof", recv_exact(s, 10) == b"bye")
s.close()

# EPIPE / SIGPIPE after the peer closed: send with MSG_NOSIGNAL raises EPIPE; without it,
# SIGPIPE is raised (caught here).
got = []
signal.signal(signal.SIGPIPE, lambda *_: got.append(1))
s = echo_conn()
s.shutdown(socket.SHUT_WR)
recv_exact(s, 1)  # the server closes after EOF
time.sleep(0.5)
err = None
for _ in range(20):
    try:
        s.send(b"x" * 1000, socket.MSG_NOSIGNAL)
        time.sleep(0.1)
    except OSError as e:
        err = e.errno
        break
check("epipe-msg-nosignal", err in (errno.EPIPE, errno.ECONNRESET) and not got, (err, got))
try:
    for _ in range(20):
        s.send(b"x")
        time.sleep(0.05)
except OSError:
    pass
check("sigpipe", got, got)
s.close()

sys.exit(1 if failed else 0)
