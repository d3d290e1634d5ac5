# Socket API edge cases, both ends (tests/interop_more_test.ts): one end under the shim, the
# other on the peer host (the kernel's stack), in either direction.
#   server PORT      : TCP on 0.0.0.0:PORT and [::]:PORT+1 (v6 only), UDP echo on 0.0.0.0:PORT;
#                      each TCP connection's first line is a command (see serve_one)
#   client HOST PORT : every check against such a server; one "ok NAME" line per check held,
#                      "FAIL NAME: why" otherwise
#   local HOST       : checks that need no peer (options, ioctls, rebinding, dual stack, fds)
#   dual PORT        : a dual-stack listener on [::]:PORT answering "hello ADDR" to each client
#   probe H4 H6 PORT : from the peer: the dual listener over IPv4 and IPv6, the built-in TCP and
#                      UDP echo (7) and discard (9) over both; one line each
#   orphan PORT      : a listener and a connection to the peer's PORT; on SIGTERM closes both
#                      and prints how long the closes took (the instance is gone by then)
#   udp-multi PORT N : UDP server: N datagrams from any peers, answers each with "from ADDR PORT"
#   udp-send HOST PORT TAG : one datagram from a fresh socket, prints the answer
import errno
import fcntl
import hashlib
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

SIOCOUTQ = 0x5411
FIONREAD = 0x541B
POLLRDHUP = 0x2000


def data_of(n, seed):
    # Deterministic bytes (sha256 counter mode), byte-exact checks on both ends.
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


# Multicast checks use an IPv6 group of link scope: it stays on the namespaces' link (the
# tests use no address outside the project's own), on the first interface that is not lo.
MCAST_GROUP = "ff12::18:7"


def mcast_socket(port):
    """A UDP socket on [::]:port in MCAST_GROUP, sending out of the same interface."""
    idx = next(i for i, n in socket.if_nameindex() if n != "lo")
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    u.bind(("::", port))
    mreq = socket.inet_pton(socket.AF_INET6, MCAST_GROUP) + struct.pack("@I", idx)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    return u


def read_line(s):
    b = b""
    while not b.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        b += c
    return b.decode().strip()


def serve_one(c):
    cmd = read_line(c).split()
    if not cmd:
        c.close()
        return
    op = cmd[0]
    if op in ("echo", "echo-nodelay"):  # echo until EOF, then close
        if op == "echo-nodelay":
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    elif op == "send":  # send N bytes of seed S, then close
        c.sendall(data_of(int(cmd[1]), int(cmd[2])))
    elif op == "slow":  # N pieces of data_of(K*N, S), 50 ms apart, then close
        n, k, seed = int(cmd[1]), int(cmd[2]), int(cmd[3])
        d = data_of(n * k, seed)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(n):
            c.sendall(d[i * k:(i + 1) * k])
            time.sleep(0.05)
    elif op == "sink":  # read to EOF, answer "COUNT SHA256", close
        h = hashlib.sha256()
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            h.update(d)
            n += len(d)
        c.sendall(b"%d %s\n" % (n, h.hexdigest().encode()))
    elif op == "rst":  # after "bye" is sent, abort (SO_LINGER 0: RST)
        c.sendall(b"bye\n")
        time.sleep(0.2)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif op == "close":  # close at once (FIN); what comes after it is answered with a RST
        pass
    elif op == "afterfin":  # read to EOF, then send N bytes of seed S and close
        while c.recv(65536):
            pass
        c.sendall(data_of(int(cmd[1]), int(cmd[2])))
    elif op == "forkexit":  # a forked child answers and exits without close(); we close ours
        pid = os.fork()
        if pid == 0:
            c.sendall(b"child\n")
            os._exit(0)
        c.close()
        os.waitpid(pid, 0)
        return
    elif op == "mcast":  # PORT: join MCAST_GROUP on PORT+1, "ready", after "go" send
        # "to-client" to the group's PORT three times, then "got DATA" (one to PORT+1) or "none"
        p = int(cmd[1])
        u = mcast_socket(p + 1)
        c.sendall(b"ready\n")
        if read_line(c) != "go":
            c.close()
            return
        for _ in range(3):
            u.sendto(b"to-client", (MCAST_GROUP, p))
            time.sleep(0.05)
        u.settimeout(3)
        try:
            d = u.recv(100)
            c.sendall(b"got " + d + b"\n")
        except socket.timeout:
            c.sendall(b"none\n")
        u.close()
    elif op == "unread":  # close after 0.3 s, leaving what came after the command unread
        time.sleep(0.3)
    elif op == "names":  # "LOCALIP LOCALPORT PEERIP PEERPORT"
        a, b = c.getsockname(), c.getpeername()
        c.sendall(b"%s %d %s %d\n" % (a[0].encode(), a[1], b[0].encode(), b[1]))
        c.recv(1)
    elif op == "halfclose":  # send "first", shut down writing, then echo what comes until EOF
        c.sendall(b"first")
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        # the answer cannot go back (writing is shut): print it for the test to see
        print("halfclose got", got.decode(), flush=True)
    c.close()


def server(port):
    def loop(ls):
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve_one, args=(c,), daemon=True).start()

    l4 = socket.socket()
    l4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l4.bind(("0.0.0.0", port))
    l4.listen(64)
    l6 = socket.socket(socket.AF_INET6)
    l6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    l6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l6.bind(("::", port + 1))
    l6.listen(64)
    # dual stack: IPv4 clients arrive IPv4-mapped, answered through the same socket
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::", port))
    for ls in (l4, l6):
        threading.Thread(target=loop, args=(ls,), daemon=True).start()

    def ttls():  # UDP on PORT+60: answers each datagram with "DATA ttl N" (the TTL it came with)
        t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL (not in Python's module)
        t.bind(("0.0.0.0", port + 60))
        while True:
            d, anc, _, a = t.recvmsg(2048, 64)
            ttl = [struct.unpack("i", x[2][:4])[0] for x in anc if x[1] == socket.IP_TTL]
            t.sendto(d + b" ttl %d" % (ttl[0] if ttl else -1), a)

    threading.Thread(target=ttls, daemon=True).start()
    print("listening", flush=True)
    while True:
        d, a = u.recvfrom(65535)
        u.sendto(d, a)


RESULTS = []


def check(name):
    def wrap(f):
        def run(*a):
            try:
                why = f(*a)
            except Exception as e:  # noqa: BLE001 - any failure is reported by name
                why = "%s: %s" % (type(e).__name__, e)
            print(("ok %s" % name) if why is None else ("FAIL %s: %s" % (name, why)), flush=True)
        RESULTS.append(run)
        return run
    return wrap


def conn(host, port, line, timeout=20):
    # blocking, with SO_RCVTIMEO/SO_SNDTIMEO bounding each call (MSG_WAITALL needs blocking)
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(None)
    tv = struct.pack("ll", timeout, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    s.sendall(line.encode() + b"\n")
    return s


def recv_all(s):
    out = bytearray()
    while True:
        d = s.recv(1 << 20)
        if not d:
            return bytes(out)
        out += d


def fails_with(code, f):
    """None when f() fails with errno `code`, else why not (for a check to return)."""
    try:
        f()
        return "worked"
    except OSError as x:
        if x.errno != code:
            return "errno %s" % errno.errorcode.get(x.errno, x.errno)
    return None


def nb_connect(addr):
    """A non-blocking socket whose connect to addr has finished (or failed): writable."""
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(addr)
    select.select([], [s], [], 10)
    return s


def client(host, port):
    closed = 1  # tcpmux: nothing listens there on either end

    @check("nonblocking-connect")
    def _():
        s = socket.socket()
        s.setblocking(False)
        e = s.connect_ex((host, port))
        if e not in (errno.EINPROGRESS, 0):
            return "connect_ex %d" % e
        _, w, _ = select.select([], [s], [], 10)
        if not w:
            return "not writable in 10 s"
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            return "SO_ERROR %d" % err
        s.close()

    @check("nonblocking-connect-refused")
    def _():
        s = socket.socket()
        s.setblocking(False)
        e = s.connect_ex((host, closed))
        if e not in (errno.EINPROGRESS, errno.ECONNREFUSED):
            return "connect_ex %d" % e
        if e == errno.EINPROGRESS:
            _, w, _ = select.select([], [s], [], 10)
            if not w:
                return "not writable in 10 s"
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != errno.ECONNREFUSED:
                return "SO_ERROR %d" % err
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                return "SO_ERROR not cleared: %d" % err
        s.close()

    @check("nonblocking-connect-retry")
    def _():
        # connect() again after a refused non-blocking connect reports the refusal (Perl's
        # IO::Socket and Ruby's Socket.tcp learn the outcome so; EISCONN reads as success)
        s = nb_connect((host, closed))
        e = s.connect_ex((host, closed))
        if e != errno.ECONNREFUSED:
            return "connect again: %s" % errno.errorcode.get(e, e)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
            return "SO_ERROR still set"
        s.close()

    @check("connect-when-connected")
    def _():
        # Linux: connect() on a connected socket is EISCONN, to its own peer too; after a
        # non-blocking connect completed, the first connect() says 0 (how a program learns it
        # completed) and the next EISCONN. Joyride said 0 to a blocking socket's own peer.
        s = socket.socket()
        s.settimeout(None)
        s.connect((host, port))
        why = fails_with(errno.EISCONN, lambda: s.connect((host, port)))
        s.close()
        if why:
            return "blocking, again: " + why
        n = nb_connect((host, port))
        got = [n.connect_ex((host, port)), n.connect_ex((host, port))]
        n.close()
        if got != [0, errno.EISCONN]:
            return "non-blocking: %r" % [errno.errorcode.get(x, x) for x in got]

    @check("blocking-connect-refused")
    def _():
        s = socket.socket()
        s.settimeout(None)
        try:
            s.connect((host, closed))
            return "connected"
        except ConnectionRefusedError:
            pass
        s.close()

    @check("sendall-4MB-echo")
    def _():
        d = data_of(4 << 20, 7)
        s = conn(host, port, "echo")
        got = []
        t = threading.Thread(target=lambda: got.append(recv_all(s)))
        t.start()
        s.sendall(d)
        s.shutdown(socket.SHUT_WR)
        t.join(60)
        if not got or got[0] != d:
            return "echo differs (%d bytes)" % (len(got[0]) if got else -1)
        s.close()

    @check("writes-just-past-mss")
    def _():
        # A write 1-4 bytes past one segment is two segments at once (the NIC server took
        # the 1515-1518-byte frame for one that fits, the port dropped it: ~235 ms each)
        s = conn(host, port, "echo-nodelay")
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        slow = []
        for n in range(mss - 1, mss + 6):
            t = time.monotonic()
            s.sendall(b"m" * n)
            got = 0
            while got < n:
                got += len(s.recv(65536))
            ms = (time.monotonic() - t) * 1000
            if ms > 100:
                slow.append("%d bytes %.0f ms" % (n, ms))
        s.close()
        if slow:
            return "MSS %d, slow: %s" % (mss, ", ".join(slow))

    @check("select-time-left")
    def _():
        # select() writes back the time left, as Linux (0 before: chronyd takes its wait from
        # it and saw a backward clock jump at every early wake-up)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)

        class TimeVal(ctypes.Structure):
            _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]

        s = conn(host, port, "slow 2 1 5")  # a byte now, one 50 ms later
        s.recv(1)
        fds = (ctypes.c_ulong * 16)()
        fds[s.fileno() // 64] |= 1 << (s.fileno() % 64)
        tv = TimeVal(5, 0)
        rc = libc.select(s.fileno() + 1, ctypes.byref(fds), None, None, ctypes.byref(tv))
        s.close()
        left = tv.sec + tv.usec / 1e6
        if rc != 1 or not 4.0 < left < 5.0:
            return "select %d, %.6f s left of 5" % (rc, left)

    @check("msg-waitall")
    def _():
        s = conn(host, port, "slow 8 1000 3")
        b = s.recv(8000, socket.MSG_WAITALL)
        if b != data_of(8000, 3):
            return "got %d bytes" % len(b)
        if s.recv(10) != b"":
            return "no EOF"
        s.close()

    @check("recv-into")
    def _():
        s = conn(host, port, "send 300000 4")
        buf = bytearray(300000)
        mv = memoryview(buf)
        n = 0
        while n < len(buf):
            k = s.recv_into(mv[n:], min(65536, len(buf) - n))
            if k == 0:
                break
            n += k
        if n != 300000 or bytes(buf) != data_of(300000, 4):
            return "got %d bytes" % n
        s.close()

    @check("makefile")
    def _():
        s = conn(host, port, "echo")
        f = s.makefile("rwb")
        for i in range(50):
            f.write(b"line %d\n" % i)
        f.flush()
        for i in range(50):
            if f.readline() != b"line %d\n" % i:
                return "line %d" % i
        f.close()
        s.close()

    @check("msg-peek")
    def _():
        s = conn(host, port, "send 1000 5")
        d = data_of(1000, 5)
        time.sleep(0.2)
        p = s.recv(100, socket.MSG_PEEK)
        if p != d[:len(p)] or not p:
            return "peek %r" % p[:20]
        p2 = s.recv(len(p), socket.MSG_PEEK | socket.MSG_WAITALL)
        if p2 != p:
            return "second peek differs"
        r = recv_all(s)
        if r != d:
            return "read after peek differs (%d)" % len(r)
        s.close()

    @check("shutdown-half-close")
    def _():
        d = data_of(200000, 6)
        s = conn(host, port, "sink")
        s.sendall(d)
        s.shutdown(socket.SHUT_WR)
        ans = recv_all(s).decode().strip()
        want = "%d %s" % (len(d), hashlib.sha256(d).hexdigest())
        if ans != want:
            return "answer %r" % ans
        s.close()

    @check("peer-half-close")
    def _():
        s = conn(host, port, "halfclose")
        first = s.recv(5, socket.MSG_WAITALL)
        if first != b"first":
            return "got %r" % first
        if s.recv(10) != b"":
            return "no EOF after the peer's SHUT_WR"
        p = select.poll()
        p.register(s, select.POLLIN | POLLRDHUP)
        ev = dict(p.poll(2000)).get(s.fileno(), 0)
        if not ev & POLLRDHUP or not ev & select.POLLIN:
            return "poll events %#x, want POLLIN|POLLRDHUP" % ev
        if ev & select.POLLHUP:
            return "POLLHUP while we can still send: %#x" % ev
        s.sendall(b"still-writable")  # our direction is still open
        s.shutdown(socket.SHUT_WR)
        s.close()

    @check("rst-econnreset")
    def _():
        s = conn(host, port, "rst")
        if s.recv(4, socket.MSG_WAITALL) != b"bye\n":
            return "no bye"
        time.sleep(0.8)
        try:
            d = s.recv(10)
            return "recv after RST returned %r" % d
        except ConnectionResetError:
            pass
        # after the reset was reported: EOF on recv, EPIPE on send (Linux)
        if s.recv(10) != b"":
            return "second recv not EOF"
        try:
            s.send(b"x")
            return "send after RST succeeded"
        except BrokenPipeError:
            pass
        s.close()

    @check("rst-sigpipe")
    def _():
        # a child with SIGPIPE at its default dies from send() after the peer's RST; with
        # MSG_NOSIGNAL it gets EPIPE instead
        code = (
            "import socket,signal,time,sys\n"
            "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
            "s=socket.create_connection((%r,%d),timeout=10)\n"
            "s.sendall(b'rst\\n'); s.recv(4,socket.MSG_WAITALL); time.sleep(0.8)\n"
            "try: s.send(b'x', socket.MSG_NOSIGNAL)\n"
            "except OSError as e: print('first', e.errno, flush=True)\n"
            "for i in range(3):\n"
            "  try: s.send(b'x', socket.MSG_NOSIGNAL)\n"
            "  except OSError as e: print('nosignal', e.errno, flush=True)\n"
            "s.send(b'x')\n"
            "print('survived', flush=True)\n" % (host, port)
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
        lines = r.stdout.decode().split("\n")
        if r.returncode != -signal.SIGPIPE:
            return "exit %d, out %r err %r" % (r.returncode, lines, r.stderr[-300:])
        if lines[0] not in ("first %d" % errno.ECONNRESET, "first %d" % errno.EPIPE):
            return "first send: %r" % lines[0]
        if lines[1:4] != ["nosignal %d" % errno.EPIPE] * 3:
            return "lines %r" % lines

    @check("rst-after-fin")
    def _():
        # the peer closed (FIN), then resets what we send after it: Linux makes every later
        # send fail with EPIPE (the reset of a CLOSE_WAIT connection), and reads see end of file
        s = conn(host, port, "close")
        if s.recv(10) != b"":
            return "no end of file"
        s.send(b"x" * 10, socket.MSG_NOSIGNAL)  # taken, answered with a RST
        time.sleep(0.8)
        got = []
        for _ in range(3):
            try:
                got.append(s.send(b"x" * 10, socket.MSG_NOSIGNAL))
            except OSError as e:
                got.append(errno.errorcode.get(e.errno, e.errno))
        if got != ["EPIPE"] * 3:
            return "sends after the reset: %r" % got
        if s.recv(10) != b"":
            return "read after the reset is not end of file"
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            return "SO_ERROR %d after the sends took it" % err
        s.close()

    @check("epollhup-after-data")
    def _():
        # half-closed, then the peer sends 3 MB and closes: EPOLLHUP may come only with all the
        # data readable, as libuv (node) takes a short read under EPOLLHUP for the end
        n = 3 << 20
        for it in range(10):
            s = conn(host, port, "afterfin %d 7" % n)
            s.shutdown(socket.SHUT_WR)
            s.setblocking(False)
            ep = select.epoll()
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            got = 0
            hup_at = None
            eof = False
            deadline = time.time() + 20
            while not eof and time.time() < deadline:
                for _, ev in ep.poll(5):
                    while True:
                        try:
                            d = s.recv(65536)
                        except BlockingIOError:
                            if ev & select.EPOLLHUP and hup_at is None:
                                hup_at = got
                            break
                        if not d:
                            eof = True
                            break
                        got += len(d)
            ep.close()
            s.close()
            if got != n:
                return "run %d: got %d of %d" % (it, got, n)
            if hup_at is not None and hup_at < n:
                return "run %d: EPOLLHUP with %d of %d bytes read, no more readable" % (it, hup_at, n)

    @check("send-after-shut-wr")
    def _():
        # after shutdown(SHUT_WR) the socket polls writable and a send fails with EPIPE at
        # once (it went into the ring and was lost)
        s = conn(host, port, "echo")
        s.shutdown(socket.SHUT_WR)
        p = select.poll()
        p.register(s, select.POLLOUT)
        if not p.poll(2000):
            return "not writable after SHUT_WR"
        try:
            s.send(b"z", socket.MSG_NOSIGNAL)
            return "send after SHUT_WR worked"
        except BrokenPipeError:
            pass
        if s.recv(10) != b"":
            return "the echo sent something back"
        s.close()

    @check("fork-exit-closes")
    def _():
        # the server's forked child exits without close(): its exit ends the connection, as
        # the kernel closes a dying process's descriptors (PostgreSQL's backends do this)
        s = conn(host, port, "forkexit", timeout=5)
        if read_line(s) != "child":
            return "no line from the child"
        try:
            rest = s.recv(10)
        except OSError as e:  # SO_RCVTIMEO: EAGAIN
            return "no end of file 5 s after the child exited (%s)" % e
        if rest != b"":
            return "got %r" % rest
        s.close()

    @check("close-unread-rst")
    def _():
        # the server closes with our data unread: Linux resets (RFC 2525), so we learn the
        # data was not taken: recv ECONNRESET, then send EPIPE
        s = conn(host, port, "unread")
        s.sendall(b"u" * 600)
        time.sleep(0.8)
        try:
            got = s.recv(10)
            return "recv gave %r, not ECONNRESET" % got
        except ConnectionResetError:
            pass
        try:
            s.send(b"x", socket.MSG_NOSIGNAL)
            return "send after the reset worked"
        except BrokenPipeError:
            pass
        s.close()

    @check("getsockname-getpeername")
    def _():
        s = conn(host, port, "names")
        ans = read_line(s).split()
        me, peer = s.getsockname(), s.getpeername()
        if peer != (host, port):
            return "getpeername %r" % (peer,)
        if ans != [host, str(port), me[0], str(me[1])]:
            return "server saw %r, we are %r" % (ans, me)
        s.close()

    @check("ipv6-connect")
    def _():
        h6 = "fd00:198:18::2" if host.endswith(".2") else "fd00:198:18::1"
        s = socket.create_connection((h6, port + 1), timeout=20)
        s.sendall(b"names\n")
        ans = read_line(s).split()
        me = s.getsockname()
        if ans != [h6, str(port + 1), me[0], str(me[1])]:
            return "server saw %r, we are %r" % (ans, me[:2])
        s.close()

    @check("udp-connect-send")
    def _():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        u.connect((host, port))
        for n in (0, 1, 1472, 1473, 8000, 20000):
            d = data_of(n, n)
            u.send(d)
            if u.recv(65535) != d:
                return "size %d differs" % n
        if u.getpeername() != (host, port):
            return "getpeername %r" % (u.getpeername(),)
        u.close()

    @check("udp-large")
    def _():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        for n in (30000, 60000, 65507):
            d = data_of(n, n)
            u.sendto(d, (host, port))
            try:
                got, a = u.recvfrom(65535)
            except socket.timeout:
                return "size %d: no answer" % n
            if got != d or a != (host, port):
                return "size %d differs (%d from %r)" % (n, len(got), a)
        u.close()

    @check("udp-v6-socket-v4-peer")
    def _():
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.settimeout(5)
        m = "::ffff:" + host
        u.sendto(b"mapped", (m, port))
        d, a = u.recvfrom(100)
        if d != b"mapped" or a[:2] != (m, port):
            return "got %r from %r" % (d, a)
        u.connect((m, port))
        u.send(b"connected")
        if u.recv(100) != b"connected" or u.getpeername()[:2] != (m, port):
            return "connected: peer %r" % (u.getpeername(),)
        u.close()

    @check("udp-connected-refused")
    def _():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        u.connect((host, closed))
        u.send(b"x")
        try:
            u.recv(10)
            return "answered"
        except ConnectionRefusedError:
            pass  # the ICMP port unreachable, reported on a connected socket (Linux)
        except socket.timeout:
            return "timeout, no ECONNREFUSED"
        u.close()

    @check("udp-pktinfo-recvttl")
    def _():
        # recvmsg's control messages: where the datagram was sent to (IP_PKTINFO, as DNS
        # servers reply from it) and its TTL (IP_RECVTTL)
        ip_pktinfo, ip_recvttl = 8, 12  # Linux's numbers (Python names neither)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        u.setsockopt(socket.IPPROTO_IP, ip_pktinfo, 1)
        u.setsockopt(socket.IPPROTO_IP, ip_recvttl, 1)
        u.connect((host, port))
        me = u.getsockname()[0]
        u.send(b"pktinfo")
        data, anc, flags, _ = u.recvmsg(100, 256)
        if data != b"pktinfo" or flags != 0:
            return "got %r flags %d" % (data, flags)
        got = {(lvl, typ): d for lvl, typ, d in anc}
        p = got.get((socket.IPPROTO_IP, ip_pktinfo))
        if p is None or len(p) < 12:
            return "no IP_PKTINFO in %r" % anc
        ifindex = struct.unpack("i", p[:4])[0]
        if ifindex <= 0 or socket.inet_ntoa(p[8:12]) != me:
            return "IP_PKTINFO ifindex %d addr %s, want %s" % (ifindex, socket.inet_ntoa(p[8:12]), me)
        t = got.get((socket.IPPROTO_IP, socket.IP_TTL))
        if t is None or not 1 <= struct.unpack("i", t[:4])[0] <= 255:
            return "IP_TTL %r" % t
        u.close()

    @check("udp-shutdown-write")
    def _():
        # a connected UDP socket shut down for writing: sends fail with EPIPE (no SIGPIPE)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect((host, port))
        u.send(b"x")
        u.shutdown(socket.SHUT_WR)
        try:
            u.send(b"y")
            return "send after SHUT_WR worked"
        except BrokenPipeError:
            pass
        u.close()

    @check("fionread-siocoutq")
    def _():
        s = conn(host, port, "send 5000 9")
        end = time.time() + 5
        n = 0
        while time.time() < end:
            n = struct.unpack("i", fcntl.ioctl(s, FIONREAD, b"\0" * 4))[0]
            if n == 5000:
                break
            time.sleep(0.05)
        if n != 5000:
            return "FIONREAD %d" % n
        q = struct.unpack("i", fcntl.ioctl(s, SIOCOUTQ, b"\0" * 4))[0]
        if q != 0:
            return "SIOCOUTQ %d" % q
        s.close()

    @check("tcp-info")
    def _():
        s = conn(host, port, "echo")
        ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        if len(ti) < 104 or ti[0] != 1:  # tcpi_state TCP_ESTABLISHED
            return "TCP_INFO len %d state %d" % (len(ti), ti[0] if ti else -1)
        s.close()

    @check("dup2-over-socket")
    def _():
        s = conn(host, port, "echo")
        t = conn(host, port, "echo")
        os.dup2(s.fileno(), t.fileno())  # t's fd now names s's connection
        os.write(t.fileno(), b"via-dup2")
        if s.recv(8, socket.MSG_WAITALL) != b"via-dup2":
            return "no echo"
        s.close()
        os.write(t.fileno(), b"still")  # t's fd keeps the connection open
        if os.read(t.fileno(), 5) != b"still":
            return "no echo after closing the original"
        t.close()

    @check("sendto-msg-fastopen")
    def _():
        s = socket.socket()  # blocking: connects, then sends (non-blocking: EINPROGRESS)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        n = s.sendto(b"names\n", socket.MSG_FASTOPEN, (host, port))
        ans = read_line(s).split()
        if n != 6 or ans[:2] != [host, str(port)]:
            return "sent %d, answer %r" % (n, ans)
        s.close()

    @check("sendmsg-msg-fastopen")
    def _():
        # unbound opens TCP so: sendmsg with a destination and MSG_FASTOPEN, non-blocking
        s = socket.socket()
        s.setblocking(False)
        try:
            s.sendmsg([b"names\n"], [], socket.MSG_FASTOPEN, (host, port))
            return "sendmsg returned"
        except BlockingIOError:
            pass  # EINPROGRESS: connecting, the data not sent (no cookie)
        _, w, _ = select.select([], [s], [], 10)
        if not w or s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
            return "not connected"
        s.setblocking(True)
        s.sendall(b"names\n")
        if read_line(s).split()[:2] != [host, str(port)]:
            return "bad answer"
        s.close()

    @check("fstat-is-socket")
    def _():
        # inetd-style programs check S_ISSOCK on the descriptor (vsftpd refused to serve)
        t = socket.socket()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        modes = [os.fstat(x.fileno()).st_mode for x in (t, u)]
        inos = {os.fstat(x.fileno()).st_ino for x in (t, u)}
        t.close()
        u.close()
        if not all(stat.S_ISSOCK(m) for m in modes):
            return "modes %r" % [oct(m) for m in modes]
        if len(inos) != 2:
            return "one inode for two sockets"

    @check("raw-clone-fork")
    def _():
        # fork through syscall(SYS_clone, SIGCHLD) (vsftpd): the child keeps the socket, after
        # the parent closed its copy too
        import ctypes
        if os.uname().machine != "x86_64":
            return None
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        s = conn(host, port, "echo")
        pid = libc.syscall(ctypes.c_long(56), ctypes.c_long(signal.SIGCHLD), ctypes.c_long(0),
                           ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
        if pid == 0:
            time.sleep(0.3)
            try:
                os.dup2(s.fileno(), 100)
                os.write(100, b"from the child")
                got = s.recv(100)
                os._exit(0 if got == b"from the child" else 1)
            except Exception:  # noqa: BLE001
                os._exit(2)
        s.close()
        _, st = os.waitpid(pid, 0)
        if st != 0:
            return "child status %d" % st

    @check("rlimit-as-beside-region")
    def _():
        # a program's address-space limit leaves room for what it maps itself (vsftpd: 200 MB)
        import resource
        s = socket.socket()
        used = 0  # the program's own address space: all but the shim's region
        with open("/proc/self/maps") as f:
            for line in f:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                used += 0 if "/memfd:joyride-app" in line else hi - lo
        old = resource.getrlimit(resource.RLIMIT_AS)
        pid = os.fork()
        if pid == 0:
            try:
                lim = used + (64 << 20)
                resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
                ok = resource.getrlimit(resource.RLIMIT_AS) == (lim, lim)
                import mmap
                m = mmap.mmap(-1, 32 << 20)
                m[0] = 1
                os._exit(0 if ok else 3)
            except Exception:  # noqa: BLE001
                os._exit(2)
        s.close()
        _, st = os.waitpid(pid, 0)
        if st != 0:
            return "child status %d (limit %r)" % (st, old)

    @check("unknown-sockopt")
    def _():
        # an option number the level does not have is ENOPROTOOPT (programs probe so); one it
        # has, even if Joyride does not model it (TCP_QUICKACK), is taken
        t = socket.socket()
        for lvl, name in ((socket.SOL_SOCKET, 9999), (socket.IPPROTO_TCP, 200),
                          (socket.IPPROTO_IP, 500)):
            why = fails_with(errno.ENOPROTOOPT, lambda: t.setsockopt(lvl, name, 1))
            if why:
                return "level %d option %d: %s" % (lvl, name, why)
        t.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        t.close()

    @check("raw-syscall-socket")
    def _():
        # libc's syscall() on a socket (Debian's libuv sends UDP so: dig, host, nslookup)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        nr = {"x86_64": (44, 45), "aarch64": (206, 207)}.get(os.uname().machine)
        if nr is None:
            return None
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        sa = struct.pack("!HH4s8x", socket.AF_INET, port, socket.inet_aton(host))
        sa = struct.pack("=H", socket.AF_INET) + sa[2:]  # sa_family in host order
        msg = b"raw syscall"
        n = libc.syscall(ctypes.c_long(nr[0]), ctypes.c_long(u.fileno()), ctypes.c_char_p(msg),
                         ctypes.c_long(len(msg)), ctypes.c_long(0), ctypes.c_char_p(sa),
                         ctypes.c_long(len(sa)))
        if n != len(msg):
            return "syscall(SYS_sendto) = %d errno %d" % (n, ctypes.get_errno())
        select.select([u], [], [], 5)
        buf = ctypes.create_string_buffer(64)
        n = libc.syscall(ctypes.c_long(nr[1]), ctypes.c_long(u.fileno()), buf, ctypes.c_long(64),
                         ctypes.c_long(socket.MSG_DONTWAIT), None, None)
        if n != len(msg) or buf.raw[:n] != msg:
            return "syscall(SYS_recvfrom) = %d errno %d" % (n, ctypes.get_errno())
        u.close()

    @check("udp-implicit-bind-name")
    def _():
        # the first send binds a port: getsockname right after it shows it (Linux)
        for _ in range(50):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b"x", (host, closed))
            if u.getsockname()[1] == 0:
                return "port 0 after the first sendto"
            u.close()

    @check("udp6-max-payload")
    def _():
        # IPv6 carries up to 65,527 bytes of UDP payload (IPv4: 65,507)
        h6 = "fd00:198:18::2" if host.endswith(".2") else "fd00:198:18::1"
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.settimeout(5)
        d = data_of(65527, 7)
        u.sendto(d, (h6, port))
        if u.recv(65535) != d:
            return "65527 bytes: echo differs"
        why = fails_with(errno.EMSGSIZE, lambda: u.sendto(d + b"x", (h6, port)))
        if why:
            return "65528 bytes: %s" % why
        u.close()

    @check("v6only-mapped")
    def _():
        # an IPv6-only socket reaches no IPv4-mapped address (Linux: ENETUNREACH at once)
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET6, kind)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.settimeout(5)
            to = ("::ffff:" + host, port)
            why = fails_with(errno.ENETUNREACH, (lambda: s.sendto(b"x", to))
                             if kind == socket.SOCK_DGRAM else (lambda: s.connect(to)))
            if why:
                return "%s to a mapped address: %s" % (kind, why)
            s.close()

    @check("udp-sendto-port-0")
    def _():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        why = fails_with(errno.EINVAL, lambda: u.sendto(b"x", (host, 0)))
        if why:
            return "sendto port 0: %s" % why
        u.close()

    @check("udp-shutdown-unconnected")
    def _():
        # shutdown of an unconnected UDP socket: ENOTCONN, yet a blocked reader wakes (Linux)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 0))
        got = []
        t = threading.Thread(target=lambda: got.append(u.recv(10)), daemon=True)
        t.start()
        time.sleep(0.3)
        why = fails_with(errno.ENOTCONN, lambda: u.shutdown(socket.SHUT_RDWR))
        if why:
            return "shutdown: %s" % why
        t.join(5)
        if got != [b""]:
            return "reader: %r" % (got,)
        p = select.poll()
        p.register(u, select.POLLIN)
        ev = p.poll(1000)
        if ev != [(u.fileno(), select.POLLIN | select.POLLHUP)]:
            return "poll %r" % (ev,)
        u.close()

    @check("fresh-socket-poll")
    def _():
        # a new TCP socket polls writable and hung up (Linux); connecting, neither
        s = socket.socket()
        p = select.poll()
        p.register(s, select.POLLIN | select.POLLOUT)
        ev = p.poll(1000)
        if ev != [(s.fileno(), select.POLLOUT | select.POLLHUP)]:
            return "fresh: %r" % (ev,)
        s.setblocking(False)
        s.connect_ex((host, port))
        ev = p.poll(5000)
        if ev != [(s.fileno(), select.POLLOUT)]:
            return "connected: %r" % (ev,)
        s.close()

    @check("bindtodevice-keepcnt")
    def _():
        # read back as Linux: no device bound (sshd asks), 9 keepalive probes
        s = socket.socket()
        dev = s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
        cnt = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        if dev != b"" or cnt != 9:
            return "SO_BINDTODEVICE %r, TCP_KEEPCNT %d" % (dev, cnt)
        s.close()

    @check("ifreq-ioctls")
    def _():
        # interface requests on a socket (dnsmasq lists interfaces so)
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            u = socket.socket(socket.AF_INET, kind)
            r = fcntl.ioctl(u, 0x8933, struct.pack("16si20x", b"lo", 0))  # SIOCGIFINDEX
            if struct.unpack("16si20x", r)[1] != 1:
                return "SIOCGIFINDEX lo %r" % (r,)
            u.close()

    @check("owner-async-ioctls")
    def _():
        # FIOASYNC and the owner requests answer as fcntl's F_SETOWN/O_ASYNC do (they said
        # ENOTTY: older daemons exit on it); O_ASYNC reads back
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        me = struct.pack("i", os.getpid())
        fcntl.ioctl(u, 0x5452, struct.pack("i", 1))  # FIOASYNC
        fcntl.ioctl(u, 0x8902, me)  # SIOCSPGRP
        got = [struct.unpack("i", fcntl.ioctl(u, 0x8904, bytes(4)))[0],  # SIOCGPGRP
               struct.unpack("i", fcntl.ioctl(u, 0x8903, bytes(4)))[0],  # FIOGETOWN
               fcntl.fcntl(u, fcntl.F_GETOWN), bool(fcntl.fcntl(u, fcntl.F_GETFL) & os.O_ASYNC)]
        u.close()
        if got != [os.getpid(), os.getpid(), os.getpid(), True]:
            return "owner and O_ASYNC read %r" % (got,)

    @check("errno-table")
    def _():
        # what Linux says to calls in the wrong state (each was a hang or a success before)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)

        def e(f):
            try:
                f()
                return "ok"
            except OSError as x:
                return errno.errorcode.get(x.errno, str(x.errno))

        got = []
        s = socket.socket()
        got.append(e(lambda: s.getpeername()))
        got.append(e(lambda: s.recv(1)))
        got.append(e(lambda: s.send(b"x", socket.MSG_NOSIGNAL)))
        got.append(e(lambda: s.shutdown(socket.SHUT_RDWR)))
        got.append(e(lambda: s.accept()))
        s.bind(("0.0.0.0", 0))
        got.append(e(lambda: s.bind(("0.0.0.0", 0))))
        s.listen(1)
        got.append(e(lambda: s.recv(1)))
        got.append(e(lambda: s.connect((host, port))))
        s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        got.append(e(lambda: u.send(b"x")))
        u.connect((host, port))
        got.append(e(lambda: u.send(b"x")))

        def unspec():
            if libc.connect(u.fileno(), ctypes.create_string_buffer(16), 16) != 0:
                raise OSError(ctypes.get_errno(), "connect")
        got.append(e(unspec))
        got.append(e(lambda: u.getpeername()))
        got.append(e(lambda: u.send(b"x")))
        u.close()
        want = ["ENOTCONN", "ENOTCONN", "EPIPE", "ENOTCONN", "EINVAL", "EINVAL", "ENOTCONN",
                "EISCONN", "EDESTADDRREQ", "ok", "ok", "ENOTCONN", "EDESTADDRREQ"]
        if got != want:
            return "got %r" % got

    @check("udp-ttl-per-datagram")
    def _():
        # Each datagram leaves with the IP_TTL in force when it was sent (traceroute's probes):
        # they waited in the ring and left with a later TTL.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        for i in range(5):
            u.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 10 + i)
            u.sendto(b"p%d" % i, (host, port + 60))
        got = sorted(u.recv(100).decode() for _ in range(5))
        u.close()
        want = ["p%d ttl %d" % (i, 10 + i) for i in range(5)]
        if got != want:
            return "got %r" % got

    @check("raw-close-range-dprintf-readv")
    def _():
        # close_range through libc's syscall() keeps the shim's own descriptors (it closed
        # them: the app was revoked, its port stayed taken, new sockets were refused);
        # dprintf writes through the shim (its internal write hit the placeholder: lost or
        # EINVAL); readv fills more than 64 iovecs (it stopped at 64)
        child = subprocess.run([sys.executable, "-c", """
import ctypes, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
keep = socket.socket()
if libc.syscall(436, 3, 0xffffffff, 0) != 0:
    sys.exit("close_range %d" % ctypes.get_errno())
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"echo\\n")
if libc.dprintf(s.fileno(), b"%s-%d", b"dp", 42) != 5:
    sys.exit("dprintf %d" % ctypes.get_errno())
s.shutdown(socket.SHUT_WR)
got = b""
while len(got) < 5:
    d = s.recv(100)
    if not d:
        break
    got += d
sys.exit(None if got == b"dp-42" else "echo %r" % got)
""", host, str(port)], capture_output=True, text=True, timeout=60)
        if child.returncode != 0:
            return "child: %s %s" % (child.returncode, child.stderr.strip()[-300:])
        s = conn(host, port, "send 102400 9")
        want = data_of(102400, 9)
        deadline = time.monotonic() + 10
        while struct.unpack("i", fcntl.ioctl(s, 0x541B, b"\0" * 4))[0] < len(want):
            if time.monotonic() > deadline:
                return "the data did not arrive"
            time.sleep(0.05)
        bufs = [bytearray(100) for _ in range(1024)]
        n = os.readv(s.fileno(), bufs)
        s.close()
        if n != len(want) or b"".join(bufs) != want:
            return "readv of 1024 x 100 bytes read %d" % n

    @check("shutdown-while-connecting")
    def _():
        # Linux: shutdown() aborts a connect in progress with ECONNRESET and the socket may
        # connect again (a thread blocked in connect() returned 0 when another closed the
        # socket: the JVM's close shuts it down first). Nobody has this address: no answer.
        import threading
        nobody = ("fd00:198:18::9" if ":" in host else "198.18.0.9", 9)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam)
        s.setblocking(False)
        if s.connect_ex(nobody) != errno.EINPROGRESS:
            return "no connect in progress"
        s.shutdown(socket.SHUT_WR)
        p = select.poll()
        p.register(s, select.POLLOUT)
        ev = p.poll(2000)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if not ev or not ev[0][1] & select.POLLERR or err != errno.ECONNRESET:
            return "non-blocking: poll %r, SO_ERROR %d" % (ev, err)
        again = s.connect_ex(nobody)
        s.close()
        if again != errno.EINPROGRESS:
            return "connect again: %s" % errno.errorcode.get(again, again)
        b = socket.socket(fam)
        t = threading.Timer(0.3, lambda: b.shutdown(socket.SHUT_RDWR))
        t.start()
        try:
            b.connect(nobody)
            return "a blocked connect() returned 0"
        except OSError as e:
            if e.errno != errno.ECONNRESET:
                return "blocked connect(): %s" % e
        finally:
            t.join()
            b.close()

    @check("udp-multicast")
    def _():
        # A group joined under Joyride gets the peer's datagrams, and the peer (a member)
        # gets ours (IPV6_JOIN_GROUP was EINVAL, sends to a group went nowhere).
        p = port + 40
        s = conn(host, port, "mcast %d" % p)
        u = mcast_socket(p)
        if u.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS) != 1:
            return "default hop limit not 1"
        if read_line(s) != "ready":
            return "server not ready"
        s.sendall(b"go\n")
        u.settimeout(3)
        d = u.recv(100)
        if d != b"to-client":
            return "got %r" % d
        for _ in range(3):
            u.sendto(b"to-server", (MCAST_GROUP, p + 1))
            time.sleep(0.05)
        answer = read_line(s)
        s.close()
        u.close()
        if answer != "got to-server":
            return "the peer: %r" % answer

    for f in RESULTS:
        f()


def local(host):
    def lcheck(name, f):
        try:
            why = f()
        except Exception as e:  # noqa: BLE001
            why = "%s: %s" % (type(e).__name__, e)
        print(("ok %s" % name) if why is None else ("FAIL %s: %s" % (name, why)), flush=True)

    def linux_option_values():
        # Values as Linux reads them, and its refusals (each differed before)
        got = []
        t = socket.socket()
        t.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno")
        got.append(t.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16))
        t.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, struct.pack("q", 1))
        got.append(t.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
        t.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, b"\x20")
        got.append(t.getsockopt(socket.IPPROTO_IP, socket.IP_TOS))
        t.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 6)
        got.append(t.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY))
        got.append(fails_with(errno.EINVAL, lambda: t.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 0)))
        got.append(fails_with(errno.ENOPROTOOPT,
                              lambda: t.setsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN, 1)))
        got.append(fails_with(errno.ENODEV, lambda: t.setsockopt(
            socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"nosuch0")))
        t.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        got.append(fails_with(errno.ENOPROTOOPT,
                              lambda: u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)))
        u.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5))
        got.append(struct.unpack("ii", u.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)))
        u.close()
        want = [b"reno" + bytes(12), 1, 0x20, 6, None, None, None, None, (1, 5)]
        if got != want:
            return "got %r" % (got,)

    lcheck("linux-option-values", linux_option_values)

    def accept_inherits_options():
        # An accepted socket starts with its listener's options (Linux copies the listening
        # socket): the engine's (SO_REUSEADDR, TCP_SYNCNT) and the service's (TCP_LINGER2,
        # SO_SNDBUF's doubled read-back) read back as the defaults before; TCP_DEFER_ACCEPT
        # is not copied. A fresh socket's TCP_NOTSENT_LOWAT reads 0 (it failed).
        S, T = socket.SOL_SOCKET, socket.IPPROTO_TCP
        opts = [(S, socket.SO_REUSEADDR, 1), (S, socket.SO_SNDBUF, 65536),
                (T, socket.TCP_LINGER2, 7), (T, socket.TCP_SYNCNT, 3),
                (T, socket.TCP_DEFER_ACCEPT, 3)]
        ls = socket.socket()
        for level, name, v in opts:
            ls.setsockopt(level, name, v)
        ls.bind((host, 0))
        ls.listen(1)
        c = socket.create_connection(ls.getsockname()[:2], timeout=5)
        a, _ = ls.accept()
        got = [a.getsockopt(level, name) for level, name, _ in opts]
        got.append(c.getsockopt(T, 25))  # TCP_NOTSENT_LOWAT
        want = [1, ls.getsockopt(S, socket.SO_SNDBUF), 7, 3, 0, 0]
        for x in (a, c, ls):
            x.close()
        if got != want:
            return "read %r, Linux reads %r" % (got, want)

    lcheck("accept-inherits-options", accept_inherits_options)

    def udp_errqueue_and_loop():
        # MSG_ERRQUEUE finds an empty queue at once and leaves datagrams alone (it waited for
        # one and ate it); a group's datagram comes back to this host's own member
        # (IPV6_MULTICAST_LOOP, with the NIC's checksum offload: the copy was dropped as bad).
        r = mcast_socket(0)
        port = r.getsockname()[1]
        s = mcast_socket(0)
        s.sendto(b"loop", (MCAST_GROUP, port))
        time.sleep(0.2)
        flags = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
        if (why := fails_with(errno.EAGAIN, lambda: r.recvmsg(100, 0, flags))):
            return "MSG_ERRQUEUE: " + why
        r.settimeout(3)
        d = r.recv(100)
        r.close()
        s.close()
        if d != b"loop":
            return "got %r" % d

    lcheck("udp-errqueue-and-loop", udp_errqueue_and_loop)

    def reuseaddr():
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind((host, 0))
        port = a.getsockname()[1]
        a.listen(1)
        b = socket.socket()
        try:
            b.bind((host, port))
            return "second bind while listening worked"
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                return "errno %d" % e.errno
        a.close()
        b.close()
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind((host, port))
        c.listen(1)
        if c.getsockname() != (host, port):
            return "getsockname %r" % (c.getsockname(),)
        c.close()

    def options():
        s = socket.socket()
        out = []
        for lvl, opt, val in (
            (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
            (socket.IPPROTO_TCP, socket.TCP_CORK, 1),
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1),
        ):
            if s.getsockopt(lvl, opt) != 0:
                out.append("opt %d default %d" % (opt, s.getsockopt(lvl, opt)))
            s.setsockopt(lvl, opt, val)
            if s.getsockopt(lvl, opt) != val:
                out.append("opt %d reads %d" % (opt, s.getsockopt(lvl, opt)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sb = s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        rb = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if sb != 131072 or rb != 131072:  # Linux doubles what was set
            out.append("SNDBUF %d RCVBUF %d" % (sb, rb))
        # capped first at the host's net.core.rmem_max (read back 425984 for any host)
        with open("/proc/sys/net/core/rmem_max") as f:
            cap = int(f.read())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 262144)
        rb = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if rb != 2 * min(262144, cap):
            out.append("RCVBUF 262144 reads %d (rmem_max %d)" % (rb, cap))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5))
        lg = struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        if lg != (1, 5):
            out.append("SO_LINGER %r" % (lg,))
        for opt, want in ((socket.SO_TYPE, socket.SOCK_STREAM), (socket.SO_DOMAIN, 2),
                          (socket.SO_PROTOCOL, 6)):
            if s.getsockopt(socket.SOL_SOCKET, opt) != want:
                out.append("opt %d = %d" % (opt, s.getsockopt(socket.SOL_SOCKET, opt)))
        s.close()
        return "; ".join(out) or None

    def dual_stack():
        l6 = socket.socket(socket.AF_INET6)
        l6.bind(("::", 0))
        port = l6.getsockname()[1]
        l6.listen(4)
        return port, l6

    def cloexec():
        s = socket.socket()
        s.bind((host, 0))
        s.listen(1)
        port = s.getsockname()[1]
        s.set_inheritable(True)
        t = socket.socket()
        t.bind((host, 0))  # close-on-exec (Python's default)
        code = ("import socket,os\n"
                "s=socket.socket(fileno=%d); print(s.getsockname()[1])\n"
                "try:\n  os.fstat(%d); print('open')\nexcept OSError: print('closed')\n"
                % (s.fileno(), t.fileno()))
        # fork + execv (the shim's exec wrappers carry the inheritable socket)
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(wr, 1)
            os.execv(sys.executable, [sys.executable, "-c", code])
        os.close(wr)
        out = b""
        while True:
            d = os.read(rd, 1000)
            if not d:
                break
            out += d
        os.waitpid(pid, 0)
        got = out.decode().split()
        if got != [str(port), "closed"]:
            return "child saw %r" % (got,)
        # the parent's sockets still work after the child exited
        c = socket.create_connection((host, port), timeout=5)
        a, _ = s.accept()
        c.sendall(b"after-exec")
        if a.recv(10, socket.MSG_WAITALL) != b"after-exec":
            return "no data after the child's exit"
        for x in (a, c, s, t):
            x.close()

    def children():
        # subprocess (vfork + close_fds: the shim's own fds are closed in the child and taken
        # back from the parent), stdin=socket (dup2 to fd 0 in the child), os.posix_spawn
        ls = socket.socket()
        ls.bind((host, 0))
        ls.listen(4)
        c = socket.create_connection(ls.getsockname(), timeout=5)
        a, _ = ls.accept()
        a.settimeout(5)
        code = ("import socket,sys\n"
                "s=socket.socket(fileno=int(sys.argv[1])); s.sendall(sys.argv[2].encode())\n"
                "s.detach()\n")
        runs = [
            ("pass_fds", lambda fd, m: subprocess.run([sys.executable, "-c", code, str(fd), m],
                                                      pass_fds=[fd], timeout=20)),
            ("stdin", lambda fd, m: subprocess.run([sys.executable, "-c", code, "0", m],
                                                   stdin=fd, timeout=20)),
        ]
        out = []
        for name, f in runs:
            f(c.fileno(), "via-" + name)
            want = ("via-" + name).encode()
            got = a.recv(len(want), socket.MSG_WAITALL)
            if got != want:
                out.append("%s: got %r" % (name, got))
        c.set_inheritable(True)
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code, str(c.fileno()),
                                              "via-spawn"], os.environ)
        os.waitpid(pid, 0)
        if a.recv(9, socket.MSG_WAITALL) != b"via-spawn":
            out.append("posix_spawn")
        c.sendall(b"parent")
        if a.recv(6, socket.MSG_WAITALL) != b"parent":
            out.append("parent's socket after the children")
        for x in (a, c, ls):
            x.close()
        return "; ".join(out) or None

    def connect_any():
        # Linux takes a connect() to the any address for the loopback (curl http://0.0.0.0:P):
        # it reaches a listener on the any address of this host
        ls = socket.socket()
        ls.bind(("0.0.0.0", 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        c = socket.create_connection(("0.0.0.0", port), timeout=10)
        a, _ = ls.accept()
        c.sendall(b"ping")
        got = a.recv(4)
        for x in (c, a, ls):
            x.close()
        if got != b"ping":
            return "got %r" % got

    def listener_shutdown():
        # shutdown() on a listener stops it (Linux): a thread blocked in accept() wakes with
        # EINVAL and connects are refused
        ls = socket.socket()
        ls.bind((host, 0))
        ls.listen(4)
        name = ls.getsockname()
        got = []

        def acc():
            try:
                got.append(ls.accept())
            except OSError as e:
                got.append(e.errno)

        t = threading.Thread(target=acc, daemon=True)
        t.start()
        time.sleep(0.3)
        ls.shutdown(socket.SHUT_RDWR)
        t.join(5)
        if t.is_alive() or got != [errno.EINVAL]:
            return "blocked accept: %r" % (got or "still blocked")
        c = socket.socket()
        c.settimeout(5)
        e = c.connect_ex(name)
        c.close()
        if e != errno.ECONNREFUSED:
            return "connect to the shut listener: %d" % e
        ls.close()

    def v6only():
        s = socket.socket(socket.AF_INET6)
        a = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        b = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        s.close()
        if (a, b) != (0, 1):
            return "IPV6_V6ONLY read %d, then %d after setting 1" % (a, b)
        # bound to a specific IPv6 address, a socket is IPv6-only (Linux); it read 0
        own6 = {"198.18.0.2": "fd00:198:18::2", "198.18.0.1": "fd00:198:18::1"}.get(host, "::1")
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET6, kind)
            s.bind((own6, 0))
            c = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            s.close()
            if c != 1:
                return "IPV6_V6ONLY read %d after a bind to a specific address (%s)" % (c, kind)

    lcheck("reuseaddr-rebind", reuseaddr)
    lcheck("options", options)
    lcheck("cloexec", cloexec)
    lcheck("subprocess-children", children)
    lcheck("connect-any-address", connect_any)
    lcheck("listener-shutdown", listener_shutdown)
    lcheck("v6only-readback", v6only)

    def pktinfo_local():
        # a datagram between two sockets of this host comes with IP_PKTINFO too (through lo:
        # ifindex 1, as Linux); before, none
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("0.0.0.0", 0))
        r.setsockopt(socket.IPPROTO_IP, 8, 1)  # IP_PKTINFO (not in Python 3.11's socket)
        r.settimeout(5)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"q", (host, r.getsockname()[1]))
        _, anc, _, _ = r.recvmsg(100, 1024)
        info = [x for lvl, t, x in anc if lvl == socket.IPPROTO_IP and t == 8]
        r.close()
        s.close()
        if not info:
            return "no IP_PKTINFO"
        ifindex, dst = struct.unpack("=i4x4s", info[0][:12])
        if (ifindex, socket.inet_ntoa(dst)) != (1, host):
            return "pktinfo %r" % ((ifindex, socket.inet_ntoa(dst)),)

    lcheck("udp-pktinfo-local", pktinfo_local)

    def oob_inline():
        # Joyride delivers urgent data inline (as SO_OOBINLINE, shim/README.md): recv(MSG_OOB)
        # finds none (EINVAL) and takes no in-band byte; before, it read one
        ls = socket.socket()
        ls.bind((host, 0))
        ls.listen(1)
        c = socket.create_connection(ls.getsockname())
        s, _ = ls.accept()
        c.send(b"ab")
        c.send(b"!", socket.MSG_OOB)
        time.sleep(0.2)
        why = fails_with(errno.EINVAL, lambda: s.recv(1, socket.MSG_OOB))
        s.settimeout(5)
        got = b""
        while len(got) < 3:
            got += s.recv(10)
        for x in (s, c, ls):
            x.close()
        if why or got != b"ab!":
            return "recv(MSG_OOB): %s, data %r" % (why or "EINVAL", got)

    lcheck("oob-inline", oob_inline)

    def rst_wakes_recv():
        # a recv blocked when the peer resets raises ECONNRESET, never an end of file (the
        # closed ring woke it before the error was in its slot: 14 of 30 read b"")
        import threading
        got = []
        for _ in range(10):
            ls = socket.socket()
            ls.bind((host, 0))
            ls.listen(1)
            c = socket.create_connection(ls.getsockname())
            s, _ = ls.accept()
            ls.close()
            res = []

            def rd():
                try:
                    res.append(repr(s.recv(10)))
                except OSError as e:
                    res.append(errno.errorcode.get(e.errno, str(e.errno)))
            th = threading.Thread(target=rd)
            th.start()
            time.sleep(0.05)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            th.join(5)
            got.append(res[0] if res else "hung")
            s.close()
        if set(got) != {"ECONNRESET"}:
            return "blocked recvs: %r" % got

    lcheck("rst-wakes-blocked-recv", rst_wakes_recv)

    def listener(backlog=1, addr=None, opts=()):
        # a listener on addr (default: this host's) and port 0, `opts` (level, name, value)
        # set before it binds
        ls = socket.socket()
        for o in opts:
            ls.setsockopt(*o)
        ls.bind((addr or host, 0))
        ls.listen(backlog)
        return ls

    def read_all(c):
        # what c reads until end of file, " (no end of file in N s)" after its timeout
        got = b""
        try:
            while True:
                d = c.recv(100)
                if not d:
                    return got
                got += d
        except socket.timeout:
            return got + b" (no end of file in %d s)" % c.gettimeout()

    def pair():
        # a connected pair (client with an 8 s timeout, accepted end), its listener closed
        ls = listener()
        c = socket.create_connection(ls.getsockname())
        c.settimeout(8)
        s, _ = ls.accept()
        ls.close()
        return c, s

    def killed_child_lets_go():
        # a forked child holding a connection dies by a signal after the parent closed its
        # copy: the connection closes (the kernel closes a dead process's descriptors); it
        # stayed open until the whole app ended (no exit hook runs in a killed process)
        c, s = pair()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(w)
                os.read(r, 1)  # until the parent has let go
                os.kill(os.getpid(), signal.SIGKILL)
            finally:
                os._exit(1)
        os.close(r)
        s.close()
        os.write(w, b"x")
        os.close(w)
        os.waitpid(pid, 0)
        try:
            got = c.recv(10)
        except socket.timeout:
            got = "no end of file in 8 s"
        except OSError as e:
            got = errno.errorcode.get(e.errno, str(e.errno))
        c.close()
        if got != b"":
            return "the client read %r" % (got,)

    lcheck("killed-child-lets-go", killed_child_lets_go)

    def hand_over(text, in_child=lambda: None):
        # a connection handed to a forked child over a UNIX socket (SCM_RIGHTS); the child,
        # after in_child(), sends text(its socket) on it and closes it. What the client read
        # (to the end: the connection ends when both have closed it) and the child's status.
        c, s = pair()
        a, b = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                a.close()
                in_child()
                _, fds, _, _ = socket.recv_fds(b, 16, 1)
                t = socket.socket(fileno=fds[0])
                t.sendall(text(t))
                t.close()
                code = 0
            finally:
                os._exit(code)
        b.close()
        socket.send_fds(a, [b"x"], [s.fileno()])
        s.close()
        a.close()
        _, st = os.waitpid(pid, 0)
        got = read_all(c)
        c.close()
        return got, st

    def fd_handover():
        # vsftpd's privilege separation: the child's copy is a socket that works
        got, _ = hand_over(lambda t: b"from child %d" % t.type)
        if got != b"from child %d" % socket.SOCK_STREAM:
            return "the client read %r" % (got,)

    lcheck("fd-handover", fd_handover)

    def handover_without_proc():
        # as fd-handover, to a child chrooted where there is no /proc (vsftpd's and pure-ftpd's
        # unprivileged process gets the active-mode data connection so): the socket was a
        # bare eventfd there (ENOTSOCK), its id unreadable without /proc
        import tempfile
        empty = tempfile.mkdtemp()

        def chroot():
            os.chroot(empty)
            os.chdir("/")
        got, st = hand_over(lambda t: b"from the chroot", chroot)
        os.rmdir(empty)
        if got != b"from the chroot" or st != 0:
            return "the client read %r, child status %d" % (got, st)

    lcheck("handover-without-proc", handover_without_proc)

    def epoll_from_thread():
        # a thread asleep in epoll_wait wakes for a socket another thread adds, and for one it
        # re-arms (EPOLLONESHOT + EPOLL_CTL_MOD) while already ready: Java's asynchronous
        # channels work so (the sleeper never woke)
        import threading
        ls = listener(2)
        ep = select.epoll()
        r, w = os.pipe()
        ep.register(r, select.EPOLLIN)
        got = []

        def sleeper():
            t = time.time()
            evs = ep.poll(5)
            got.append((round(time.time() - t, 1), evs))
        th = threading.Thread(target=sleeper)
        th.start()
        time.sleep(0.3)
        c = socket.create_connection(ls.getsockname())
        ep.register(c.fileno(), select.EPOLLOUT)
        th.join()
        if not got or got[0][1] != [(c.fileno(), select.EPOLLOUT)] or got[0][0] > 2:
            return "added from a thread: %r" % (got,)
        ep.modify(c.fileno(), select.EPOLLOUT | select.EPOLLONESHOT)
        if ep.poll(1) != [(c.fileno(), select.EPOLLOUT)]:
            return "oneshot not reported"
        got.clear()
        th = threading.Thread(target=sleeper)
        th.start()
        time.sleep(0.3)
        ep.modify(c.fileno(), select.EPOLLOUT | select.EPOLLONESHOT)
        th.join()
        cfd = c.fileno()
        c.close()
        ls.close()
        ep.close()
        os.close(r)
        os.close(w)
        if not got or got[0][1] != [(cfd, select.EPOLLOUT)] or got[0][0] > 2:
            return "re-armed from a thread: %r" % (got,)

    lcheck("epoll-from-thread", epoll_from_thread)

    def deepbind_library():
        # a socket made by a library loaded with RTLD_DEEPBIND (PHP's extensions) is the same
        # kind as the program's own: it was a kernel socket under the shim (libcrypto's
        # BIO_socket stands for such a library)
        code = (
            "import ctypes, os, socket\n"
            "try:\n"
            "    l = ctypes.CDLL('libcrypto.so.3', mode=os.RTLD_NOW | os.RTLD_DEEPBIND)\n"
            "except OSError:\n"
            "    print('none'); raise SystemExit\n"
            "fd = l.BIO_socket(2, 1, 0, 0)\n"
            "s = socket.socket()\n"
            "k = lambda f: os.readlink('/proc/self/fd/%d' % f).split(':')[0]\n"
            "print(k(fd), k(s.fileno()))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=20).stdout.split()
        if out == ["none"]:
            return None  # no libcrypto here: nothing to try
        if len(out) != 2 or out[0] != out[1]:
            return "deep-bound library's socket vs the program's: %r" % (out,)

    lcheck("deepbind-library", deepbind_library)

    def recv_zero_length():
        # recv(fd, buf, 0, 0) waits for what a read would and takes nothing: EAGAIN without
        # data (non-blocking), 0 with data (still there after), the error of a refused connect
        # (luasocket learns a connect's outcome so; it always said 0)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(8)

        def r0(sock):
            n = libc.recv(sock.fileno(), buf, 0, 0)
            return n if n >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
        ls = listener()
        c = socket.create_connection(ls.getsockname())
        s, _ = ls.accept()
        c.setblocking(False)
        got = [r0(c)]
        s.sendall(b"data")
        time.sleep(0.2)
        got.append(r0(c))
        c.setblocking(True)
        got.append(c.recv(10))
        port = ls.getsockname()[1]
        for x in (c, s, ls):
            x.close()
        n = socket.socket()
        n.setblocking(False)
        n.connect_ex((host, port))
        select.select([n], [n], [], 3)
        got.append(r0(n))
        n.close()
        if got != ["EAGAIN", 0, b"data", "ECONNREFUSED"]:
            return "%r" % (got,)

    lcheck("recv-zero-length", recv_zero_length)

    def connect_again():
        # connect() again on the socket whose connect was refused, until a listener is there
        # (a program waiting for its server): refused each time, then connected, and data flows
        # both ways (it said EISCONN from the third attempt on)
        probe = socket.socket()
        probe.bind((host, 0))
        port = probe.getsockname()[1]
        probe.close()
        s = socket.socket()  # blocking (a timeout makes Python's connect non-blocking)
        got = []
        for _ in range(3):
            try:
                s.connect((host, port))
                got.append("connected")
            except OSError as e:
                got.append(errno.errorcode.get(e.errno, str(e.errno)))
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(1)
        s.connect((host, port))
        a, _ = ls.accept()
        s.sendall(b"ping")
        got.append(a.recv(10))
        a.sendall(b"pong")
        got.append(s.recv(10))
        for x in (s, a, ls):
            x.close()
        if got != ["ECONNREFUSED"] * 3 + [b"ping", b"pong"]:
            return "%r" % (got,)

    lcheck("connect-again", connect_again)

    def keepalive_range():
        # TCP_KEEPIDLE/KEEPINTVL take 1..32767 s and TCP_KEEPCNT 1..127, as Linux (varnish sets
        # 7200 and panicked on EINVAL past 2147)
        t = socket.socket()
        got = []
        for opt, v in ((socket.TCP_KEEPIDLE, 7200), (socket.TCP_KEEPINTVL, 32767),
                       (socket.TCP_KEEPIDLE, 32768), (socket.TCP_KEEPCNT, 127),
                       (socket.TCP_KEEPCNT, 128)):
            try:
                t.setsockopt(socket.IPPROTO_TCP, opt, v)
                got.append(t.getsockopt(socket.IPPROTO_TCP, opt))
            except OSError as e:
                got.append(errno.errorcode.get(e.errno, str(e.errno)))
        t.close()
        if got != [7200, 32767, "EINVAL", 127, "EINVAL"]:
            return "%r" % (got,)

    lcheck("keepalive-range", keepalive_range)

    def poll_norm_bits():
        # POLLRDNORM/POLLWRNORM come with POLLIN/POLLOUT (varnish waits for POLLWRNORM after a
        # non-blocking connect; it never came)
        ls = listener()
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(ls.getsockname())
        p = select.poll()
        p.register(c, select.POLLWRNORM)
        w = p.poll(3000)
        a, _ = ls.accept()
        a.sendall(b"x")
        p.modify(c, select.POLLRDNORM)
        r = p.poll(3000)
        ep = select.epoll()
        ep.register(c.fileno(), select.EPOLLRDNORM | select.EPOLLWRNORM)
        e = ep.poll(3)
        ep.close()
        for x in (c, a, ls):
            x.close()
        want = select.EPOLLRDNORM | select.EPOLLWRNORM
        if [w[0][1] if w else 0, r[0][1] if r else 0, e[0][1] if e else 0] != [
                select.POLLWRNORM, select.POLLRDNORM, want]:
            return "poll %r %r, epoll %r" % (w, r, e)

    lcheck("poll-norm-bits", poll_norm_bits)

    def udp_close_drains():
        # datagrams sent right before close() all leave (logger's lines to a syslog server:
        # 0 of 50 arrived)
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind((host, 0))
        r.settimeout(3)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(50):
            s.sendto(b"m%d" % i, r.getsockname())
        s.close()
        n = 0
        try:
            while n < 50:
                r.recv(100)
                n += 1
        except socket.timeout:
            pass
        r.close()
        if n != 50:
            return "%d of 50 arrived" % n

    lcheck("udp-close-drains", udp_close_drains)

    def rebind_after_killed_child():
        # a listener shared with a child killed by a signal: once the parent closed it too,
        # its port binds again at once (varnish reopens its listener so; EADDRINUSE for ~1 s)
        ls = listener()
        port = ls.getsockname()[1]
        pid = os.fork()
        if pid == 0:
            try:
                time.sleep(30)
            finally:
                os._exit(0)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        ls.close()
        b = socket.socket()
        try:
            b.bind((host, port))
        except OSError as e:
            return "bind: %s" % errno.errorcode.get(e.errno, str(e.errno))
        finally:
            b.close()

    lcheck("rebind-after-killed-child", rebind_after_killed_child)

    def exec_without_preload():
        # inetd style, the child's environment scrubbed of LD_* (Debian's inetd): the service
        # exec'd on the accepted socket still works (it spun on the placeholders, no reply)
        c, a = pair()
        pid = os.fork()
        if pid == 0:
            try:
                for fd in (0, 1):
                    os.dup2(a.fileno(), fd)
                env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
                os.execve("/bin/cat", ["cat"], env)
            finally:
                os._exit(1)
        a.close()
        c.sendall(b"hello\n")
        c.shutdown(socket.SHUT_WR)
        got = read_all(c)
        c.close()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        if got != b"hello\n":
            return "read back %r" % (got,)

    lcheck("exec-without-preload", exec_without_preload)

    def epoll_after_child_close():
        # a forked child closing its copy of a socket in the parent's epoll set leaves the
        # parent's wake-ups alone (the shared kernel set lost the socket: dovecot's master
        # never woke for a connection); a dup's registration outlives close of the original
        c, s = pair()
        ep = select.epoll()
        ep.register(s.fileno(), select.EPOLLIN)
        pid = os.fork()
        if pid == 0:
            s.close()
            os._exit(0)
        os.waitpid(pid, 0)
        c.sendall(b"x")
        got = [ep.poll(3)]
        d = os.dup(s.fileno())
        sfd = s.fileno()
        s.detach()
        os.close(sfd)
        got.append(ep.poll(3))
        os.close(d)
        c.close()
        ep.close()
        if got != [[(sfd, select.EPOLLIN)], [(sfd, select.EPOLLIN)]]:
            return "%r" % (got,)

    lcheck("epoll-after-child-close", epoll_after_child_close)

    def epoll_fairness():
        # more ready descriptors than maxevents: every one is reported in turn, a pipe among
        # sockets too (the same two sockets came every time, the pipe never)
        ls = listener(8)
        ep = select.epoll()
        keep = []
        for _ in range(6):
            c = socket.create_connection(ls.getsockname())
            a, _ = ls.accept()
            c.sendall(b"x")
            keep += [c, a]
            ep.register(a.fileno(), select.EPOLLIN)
        r, w = os.pipe()
        os.write(w, b"x")
        ep.register(r, select.EPOLLIN)
        time.sleep(0.2)
        seen = set()
        for _ in range(12):
            seen.update(fd for fd, _ in ep.poll(1, 2))
        for x in keep + [ls]:
            x.close()
        ep.close()
        os.close(r)
        os.close(w)
        if len(seen) != 7 or r not in seen:
            return "%d of 7 reported, pipe %s" % (len(seen), r in seen)

    lcheck("epoll-fairness", epoll_fairness)

    def accept_sees_queued_data():
        # what the peer sent before accept() is readable right after it (poll(0) said
        # nothing and recv EAGAIN for about a millisecond)
        ls = listener()
        c = socket.create_connection(ls.getsockname())
        c.sendall(b"data")
        time.sleep(0.3)
        a, _ = ls.accept()
        p = select.poll()
        p.register(a, select.POLLIN | select.POLLOUT)
        afd = a.fileno()
        ev = p.poll(0)
        try:
            got = a.recv(10, socket.MSG_DONTWAIT)
        except BlockingIOError:
            got = "EAGAIN"
        for x in (a, c, ls):
            x.close()
        if ev != [(afd, select.POLLIN | select.POLLOUT)] or got != b"data":
            return "poll %r, recv %r" % (ev, got)

    lcheck("accept-sees-queued-data", accept_sees_queued_data)

    def env_cleared_first():
        # a program that clears its environment before its first socket (exim) still reaches
        # its instance (its sockets were refused: the runtime directory was read then)
        ls = listener()
        code = ("import os, socket, sys\n"
                "os.environ.clear()\n"
                "c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
                "c.sendall(b'hi')\n")
        # fork and exec (not a spawn, which carries the registration): the new image
        # registers on its own, its environment cleared by then
        pid = os.fork()
        if pid == 0:
            try:
                os.execv(sys.executable, [sys.executable, "-c", code, host,
                                          str(ls.getsockname()[1])])
            finally:
                os._exit(1)
        ls.settimeout(5)
        try:
            a, _ = ls.accept()
            got = a.recv(10)
            a.close()
        except OSError as e:
            got = str(e)
        os.waitpid(pid, 0)
        ls.close()
        if got != b"hi":
            return "%r" % (got,)

    lcheck("env-cleared-first", env_cleared_first)

    def socket_seek():
        # A socket does not seek (ESPIPE), and bash, which asks, then reads a line byte by
        # byte: `read` on /dev/tcp took the placeholder for seekable and handed back all but
        # the first line with an lseek that did nothing (3 lines sent, 1 read)
        import threading
        ls = listener()
        c = socket.create_connection(ls.getsockname())
        s, _ = ls.accept()
        got = []
        try:
            os.lseek(c.fileno(), 0, os.SEEK_CUR)
            got.append("lseek worked")
        except OSError as e:
            got.append(errno.errorcode.get(e.errno, "?"))
        c.close()
        s.close()

        def serve():
            a, _ = ls.accept()
            a.sendall(b"one\ntwo\nthree\n")
            a.close()
        t = threading.Thread(target=serve)
        t.start()
        port = ls.getsockname()[1]
        script = ("exec 3<>/dev/tcp/%s/%d; n=0; while read -r l <&3; do n=$((n+1)); done; echo $n"
                  % (host, port))
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10)
        t.join()
        ls.close()
        got.append(out.stdout.strip())
        if got != ["ESPIPE", "3"]:
            return "%r %s" % (got, out.stderr.strip())

    lcheck("socket-seek", socket_seek)

    def exec_keeps_loopback_twin():
        # A listener on the any address inherited across exec still answers on 127.0.0.1
        # after the process that exec'd... and the one that forked it have let go (gunicorn's
        # USR2: the old master forks the new one, then ends): the loopback twin was
        # close-on-exec and was not there in the new image (refused)
        ls = listener(8, "0.0.0.0", [(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)])
        port = ls.getsockname()[1]
        r, w = os.pipe()
        prog = ("import os, socket, sys\n"
                "ls = socket.socket(fileno=int(sys.argv[1]))\n"
                "os.read(int(sys.argv[2]), 1)\n"
                "c = socket.create_connection(('127.0.0.1', int(sys.argv[3])), timeout=3)\n"
                "ls.settimeout(3)\n"
                "a, _ = ls.accept()\n"
                "c.sendall(b'x')\n"
                "sys.exit(0 if a.recv(1) == b'x' else 3)\n")
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.set_inheritable(ls.fileno(), True)
            os.set_inheritable(r, True)
            try:
                os.execv(sys.executable,
                         [sys.executable, "-c", prog, str(ls.fileno()), str(r), str(port)])
            finally:
                os._exit(2)
        os.close(r)
        ls.close()
        time.sleep(0.5)
        os.write(w, b"g")
        os.close(w)
        _, st = os.waitpid(pid, 0)
        if not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
            return "new image: status %d" % st

    lcheck("exec-keeps-loopback-twin", exec_keeps_loopback_twin)

    def killed_with_unread_resets():
        # A program killed by a signal with data it never read on a connection: the peer gets
        # a reset, as for a close (Linux); Joyride ended it with a FIN when the killed
        # program was a whole app (the peer read an end of file, then EPIPE)
        prog = ("import socket, sys, time\n"
                "ls = socket.socket()\n"
                "ls.bind((sys.argv[1], 0))\n"
                "ls.listen(1)\n"
                "print(ls.getsockname()[1], flush=True)\n"
                "a, _ = ls.accept()\n"
                "time.sleep(60)\n")
        p = subprocess.Popen([sys.executable, "-c", prog, host], stdout=subprocess.PIPE)
        try:
            port = int(p.stdout.readline())
            c = socket.create_connection((host, port), timeout=10)
            c.sendall(b"never read")
            time.sleep(0.5)
            p.kill()
            p.wait()
            try:
                got = c.recv(10)
                return "recv %r, not a reset" % (got,)
            except ConnectionResetError:
                pass
            finally:
                c.close()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    lcheck("killed-with-unread-resets", killed_with_unread_resets)

    def loopback_reach():
        # listeners on the any address take loopback connections as Linux's do: a dual-stack
        # [::] one from 127.0.0.1 (php-fpm's pool behind nginx was refused: its twin was on
        # ::1 only), a 0.0.0.0 one from all of 127/8
        got = []
        # (::1 too: the namespace keeps IPv6 on its loopback, which gRPC and Java probe)
        for fam, any_, dst in ((socket.AF_INET6, "::", "127.0.0.1"),
                               (socket.AF_INET6, "::", "::1"),
                               (socket.AF_INET, "0.0.0.0", "127.0.0.2")):
            ls = socket.socket(fam)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((any_, 0))
            ls.listen(2)
            c = socket.create_connection((dst, ls.getsockname()[1]), timeout=3)
            ls.settimeout(3)
            a, _ = ls.accept()
            c.sendall(b"l")
            got.append(a.recv(1))
            for x in (a, c, ls):
                x.close()
        if got != [b"l", b"l", b"l"]:
            return "%r" % (got,)

    lcheck("loopback-reach", loopback_reach)

    def reset_after_queued_data():
        # the peer resets while data it sent waits unread: the reader gets the data, then
        # ECONNRESET, and a later send EPIPE (Linux); the reset read as a clean end of file
        # (curl took a download cut by a reset for complete)
        import struct as st
        c, s = pair()
        s.sendall(b"q" * 1000000)
        time.sleep(0.5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, st.pack("ii", 1, 0))
        s.close()
        time.sleep(0.5)
        n, end = 0, None
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    end = "EOF"
                    break
                n += len(d)
        except OSError as e:
            end = errno.errorcode.get(e.errno, "?")
        try:
            c.send(b"x")
            after = "sent"
        except OSError as e:
            after = errno.errorcode.get(e.errno, "?")
        c.close()
        # (how much arrives before the reset is the receive buffer's: 128000 on Linux here)
        if n == 0 or (end, after) != ("ECONNRESET", "EPIPE"):
            return "%d bytes, then %s; send after: %s" % (n, end, after)

    lcheck("reset-after-queued-data", reset_after_queued_data)

    def udp_loopback():
        # datagrams to the same host go over the loopback, as Linux's: a server on the any
        # address answers 127.0.0.1, and 0.0.0.0 (Linux's loopback), an IPv4-mapped 127.0.0.1
        # and a [::] server's ::1 arrive; select sees them (they failed with ENETUNREACH, and
        # 0.0.0.0 went out of the NIC and made the next send fail)
        got = []
        for fam, any_, dst in ((socket.AF_INET, "0.0.0.0", "127.0.0.1"),
                               (socket.AF_INET, "0.0.0.0", "0.0.0.0"),
                               (socket.AF_INET6, "::", "::ffff:127.0.0.1"),
                               (socket.AF_INET6, "::", "::1")):
            srv = socket.socket(fam, socket.SOCK_DGRAM)
            srv.bind((any_, 0))
            port = srv.getsockname()[1]
            c = socket.socket(fam, socket.SOCK_DGRAM)
            c.settimeout(3)
            c.sendto(b"ping", (dst, port))
            r, _, _ = select.select([srv], [], [], 3)
            if not r:
                return "%s: nothing for select" % dst
            d, a = srv.recvfrom(100)
            srv.sendto(d.upper(), a)
            got.append(c.recvfrom(100)[0])
            c.sendto(b"again", ("198.18.0.1" if fam == socket.AF_INET else "::ffff:198.18.0.1", 9))
            for x in (srv, c):
                x.close()
        if got != [b"PING"] * 4:
            return "%r" % (got,)

    lcheck("udp-loopback", udp_loopback)

    def euid_first_socket():
        # a process whose first socket comes while its effective uid is another (danted's
        # seteuid(nobody)): registered as SO_PEERCRED sees it (it was refused for good)
        code = ("import os, socket\n"
                "os.setegid(65534); os.seteuid(65534)\n"
                "s = socket.socket(); s.bind(('0.0.0.0', 0))\n"
                "os.seteuid(0); os.setegid(0)\n"
                "t = socket.socket(); t.bind(('0.0.0.0', 0))\n"
                "print('ok', s.getsockname()[1] > 0, t.getsockname()[1] > 0)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=20)
        if r.stdout.strip() != "ok True True":
            return "%r %r" % (r.stdout, r.stderr[-300:])

    if os.geteuid() == 0:
        lcheck("euid-first-socket", euid_first_socket)

    def addrconfig():
        # AI_ADDRCONFIG counts Joyride's addresses: an AF_INET lookup of a numeric address
        # (memaslap's) failed with EAI_NONAME, the kernel's interfaces having none
        got = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM, 0,
                                 socket.AI_ADDRCONFIG)
        if [a[4][0] for a in got] != [host]:
            return "%r" % (got,)

    lcheck("addrconfig", addrconfig)

    def udp6_mapped_name():
        # a dual-stack datagram socket connected to an IPv4 peer names itself as Linux does,
        # IPv4-mapped with its port (it said [::]:0; node's udp6 address(), Java's
        # getLocalAddress)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.connect(("::ffff:" + host, 9))
        name = s.getsockname()[:2]
        s.close()
        if name[0] != "::ffff:" + host or name[1] == 0:
            return "%r" % (name,)

    lcheck("udp6-mapped-name", udp6_mapped_name)

    def mapped_v6only():
        # an IPv4 client of a dual-stack listener: its accepted AF_INET6 socket is not
        # IPv6-only (getsockopt said ENOPROTOOPT)
        ls = socket.socket(socket.AF_INET6)
        ls.bind(("::", 0))
        ls.listen(1)
        c = socket.create_connection((host, ls.getsockname()[1]), timeout=3)
        ls.settimeout(3)
        a, _ = ls.accept()
        v = a.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        for x in (a, c, ls):
            x.close()
        if v != 0:
            return "IPV6_V6ONLY %r" % v

    lcheck("mapped-v6only", mapped_v6only)

    def loopback_keeps_options():
        # a socket that goes to the kernel for 127.0.0.1 keeps what was set on it and the
        # port it bound (TCP_NODELAY was lost: pika to a local RabbitMQ, 44 ms a request), and
        # a loopback connection to an any-address listener inherits the listener's options
        ls = listener(2, "0.0.0.0", [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        port = ls.getsockname()[1]
        c = socket.socket()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        c.bind(("0.0.0.0", 0))
        mine = c.getsockname()[1]
        c.connect(("127.0.0.1", port))
        got = (c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
               c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), c.getsockname()[1] == mine)
        ls.settimeout(3)
        a, _ = ls.accept()
        inherited = a.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        for x in (a, c, ls):
            x.close()
        if got != (1, 1, True) or inherited != 1:
            return "client %r, accepted NODELAY %r" % (got, inherited)

    lcheck("loopback-keeps-options", loopback_keeps_options)

    def udp_timestamps():
        # SO_TIMESTAMPNS / SO_TIMESTAMP give each datagram its time (ntpd exits without)
        out = []
        for opt in (35, 29):  # SO_TIMESTAMPNS, SO_TIMESTAMP
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            s.setsockopt(socket.SOL_SOCKET, opt, 1)
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.sendto(b"t", s.getsockname())
            s.settimeout(3)
            _, anc, _, _ = s.recvmsg(10, 256)
            ts = [(l, t, len(d)) for l, t, d in anc if l == socket.SOL_SOCKET]
            if ts:
                sec = struct.unpack("q", ts and [d for l, t, d in anc if t == opt][0][:8])[0]
                out.append(ts[0] + (abs(sec - time.time()) < 5,))
            else:
                out.append(None)
            for x in (s, c):
                x.close()
        if out != [(1, 35, 16, True), (1, 29, 16, True)]:
            return "%r" % (out,)

    lcheck("udp-timestamps", udp_timestamps)

    def dup2_over_high_fds():
        # the program's dup2 onto a number the shim uses (its descriptors at 960+, a loopback
        # twin at 900+): the shim's moves away, the program's is its own to use and close,
        # and the listener still takes loopback connections
        ls = listener(4, "0.0.0.0")
        port = ls.getsockname()[1]
        r, w = os.pipe()
        for n in range(900, 905):
            os.dup2(r, n)
            os.write(w, b"x")
            if os.read(n, 1) != b"x":
                return "fd %d is not the program's" % n
            os.close(n)
        c = socket.create_connection(("127.0.0.1", port), timeout=3)
        ls.settimeout(3)
        a, _ = ls.accept()
        for x in (a, c, ls):
            x.close()
        os.close(r)
        os.close(w)

    lcheck("dup2-over-high-fds", dup2_over_high_fds)


def dual(port):
    ls = socket.socket(socket.AF_INET6)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", port))
    ls.listen(8)
    print("listening", flush=True)
    while True:
        c, a = ls.accept()
        c.sendall(b"hello %s\n" % a[0].encode())
        c.close()


def probe(h4, h6, port):
    for h in (h4, h6):
        try:
            s = socket.create_connection((h, port), timeout=5)
            print("dual", h, recv_all(s).decode().strip())
        except OSError as e:
            print("dual", h, "error", e.errno)
        try:
            s = socket.create_connection((h, 7), timeout=5)
            s.sendall(b"tcp-echo")
            print("tcp-echo", h, s.recv(8, socket.MSG_WAITALL).decode())
            s.close()
        except OSError as e:
            print("tcp-echo", h, "error", e.errno)
        try:
            s = socket.create_connection((h, 9), timeout=5)
            s.sendall(b"x" * 3000)
            s.shutdown(socket.SHUT_WR)
            print("discard", h, "eof" if recv_all(s) == b"" else "data")
        except OSError as e:
            print("discard", h, "error", e.errno)
        u = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        try:
            u.sendto(b"udp-echo", (h, 7))
            print("udp-echo", h, u.recvfrom(100)[0].decode())
        except OSError as e:
            print("udp-echo", h, "error", e.errno)


def orphan(port):
    ls = socket.socket()
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    c = socket.socket()
    print("ready", flush=True)

    def bye(*_):
        t = time.time()
        ls.close()
        c.close()
        print("closed in %.1f s" % (time.time() - t), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, bye)
    while True:
        time.sleep(1)


def udp_multi(port, n):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    print("listening", flush=True)
    for _ in range(n):
        d, a = u.recvfrom(2048)
        u.sendto(b"%s from %s %d" % (d, a[0].encode(), a[1]), a)


def udp_send(host, port, tag):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.bind(("0.0.0.0", 0))
    u.sendto(tag.encode(), (host, port))
    d, _ = u.recvfrom(2048)
    print(d.decode(), u.getsockname()[1])


if __name__ == "__main__":
    m = sys.argv[1]
    if m == "server":
        server(int(sys.argv[2]))
    elif m == "client":
        client(sys.argv[2], int(sys.argv[3]))
    elif m == "local":
        local(sys.argv[2])
    elif m == "dual":
        dual(int(sys.argv[2]))
    elif m == "probe":
        probe(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif m == "orphan":
        orphan(int(sys.argv[2]))
    elif m == "udp-multi":
        udp_multi(int(sys.argv[2]), int(sys.argv[3]))
    elif m == "udp-send":
        udp_send(sys.argv[2], int(sys.argv[3]), sys.argv[4])
