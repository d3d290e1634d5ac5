# Shared by frag.py (IPv4) and frag6.py (IPv6), which run on the peer host with Debian's
# python3 and send fragments crafted with scapy to a UDP echo under Joyride: the fragment
# plans, what the echo answered for each case, the wait for ICMP time exceeded, and the JSON
# line both print.
import json
import socket
import time


def split(total, size):
    """(offset, length, more) pieces of `size` bytes over `total` bytes."""
    p = []
    off = 0
    while off < total:
        n = min(size, total - off)
        p.append((off, n, off + n < total))
        off += n
    return p


def answer(sock, want, timeout=3.0):
    """'echoed' if the next datagram on `sock` is `want`, else 'wrong reply' or 'no reply'."""
    sock.settimeout(timeout)
    try:
        got, _ = sock.recvfrom(65536)
    except socket.timeout:
        return "no reply"
    return "echoed" if got == want else "wrong reply"


def shuffled_dups(rnd):
    """An order of the fragments: every one twice, shuffled with `rnd`."""
    def order(fs):
        d = fs + fs
        rnd.shuffle(d)
        return d
    return order


class Cases:
    """Sends each case's frames on `l2` and records, by name, what the echo answered.

    frames(ident, sport, data, pieces) crafts the fragments of a UDP datagram from `sport`;
    sock(port) binds a UDP socket to the source address; `size` is the fragments' size.
    """

    def __init__(self, l2, frames, sock, size):
        self.l2, self.frames, self.sock, self.size = l2, frames, sock, size
        self.results = {}

    def send(self, name, s, fs, want):
        """Sends `fs`, records whether `want` came back on `s`, closes `s`."""
        for f in fs:
            self.l2.send(f)
        self.results[name] = answer(s, want)
        s.close()

    def case(self, name, port, order, ident, data):
        """`data` from `port` in fragments of `size`, sent in order(fragments)."""
        s = self.sock(port)
        self.send(name, s, order(self.frames(ident, port, data, split(len(data) + 8, self.size))),
                  data)

    def kernel(self, name, port, data, to):
        """`data` from the kernel's own socket on `port` to `to` (the kernel fragments it)."""
        s = self.sock(port)
        s.sendto(data, to)
        self.results[name] = answer(s, data)
        s.close()


def wait_icmp(icmp, deadline, match):
    """Whether a message on the raw socket `icmp` satisfies match(pkt, addr) before `deadline`."""
    icmp.settimeout(1)
    while time.monotonic() < deadline:
        try:
            pkt, addr = icmp.recvfrom(65536)
        except socket.timeout:
            continue
        if match(pkt, addr):
            return True
    return False


def report(results, time_exceeded, lone_at):
    print(json.dumps({
        "cases": results,
        "timeExceeded": time_exceeded,
        "timeExceededAfter": round(time.monotonic() - lone_at, 1),
    }))
