# IPv6 fragments crafted with scapy, sent from the peer host to a UDP echo under Joyride
# (tools/echo6.py). Prints one JSON line:
#   {"cases": {name: "echoed" | "no reply" | "wrong reply"}, "timeExceeded": bool, ...}
# Usage: frag6.py IFACE SRC DST DSTMAC SRCMAC PORT
# RFC 8200 §4.5 with RFC 5722: overlapping fragments discard the whole datagram; an exact
# duplicate is dropped alone; an incomplete datagram whose first fragment arrived is answered
# with ICMPv6 time exceeded (3/1) after 60 s.
import random
import socket
import sys
import time

from scapy.all import UDP, Ether, IPv6, IPv6ExtHdrFragment, Raw, conf, raw  # noqa: E402

sys.dont_write_bytecode = True  # importing _frag leaves no __pycache__ in the checkout
from _frag import Cases, report, shuffled_dups, split, wait_icmp  # noqa: E402

iface, src, dst, dstmac, srcmac = sys.argv[1:6]
port = int(sys.argv[6])
conf.verb = 0
rnd = random.Random(11)
l2 = conf.L2socket(iface=iface)


def frames(ident, sport, payload, pieces):
    """pieces: (offset, length, more) over the UDP datagram (header + payload)."""
    udp = raw(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=port) / payload)[40:]
    return [Ether(src=srcmac, dst=dstmac) / IPv6(src=src, dst=dst, nh=44) /
            IPv6ExtHdrFragment(nh=17, id=ident, offset=off // 8, m=1 if more else 0) /
            Raw(udp[off:off + length]) for off, length, more in pieces]


def sock(p):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((src, p))
    return s


icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
cases = Cases(l2, frames, sock, 1232)
payload = bytes(rnd.getrandbits(8) for _ in range(8000))
total = 8008

# A lone first fragment (id 4242): reassembly times out (60 s) with ICMPv6 3/1.
lone_at = time.monotonic()
lone = sock(41100)
for f in frames(4242, 41100, b"L" * 3000, split(3008, 1232)[:1]):
    l2.send(f)


cases.case("in order", 41001, lambda fs: fs, 1, payload)
cases.case("reverse order", 41002, lambda fs: fs[::-1], 2, payload)
cases.case("shuffled, every fragment twice", 41003, shuffled_dups(rnd), 3, payload)

# Overlapping with the same bytes: RFC 5722 drops the whole datagram all the same.
s = sock(41004)
fs = frames(4, 41004, payload, split(total, 1232))
extra = frames(4, 41004, payload, [(1000, 1000, True)])
cases.send("overlapping, same bytes", s, [fs[0], extra[0]] + fs[1:], payload)

# Overlapping with different bytes: dropped; the conflicting bytes never come back.
s = sock(41005)
fs = frames(5, 41005, payload, split(total, 1232))
evil = bytearray(payload)
for i in range(1224, 2456):
    evil[i] ^= 0xFF
bad = frames(5, 41005, bytes(evil), [(1232, 1232, True)])
cases.send("overlapping, different bytes later", s, [fs[0], fs[1], bad[0]] + fs[2:], payload)

# The same datagram again, whole, under a new id: reassembly still works after the drops.
cases.case("in order after the overlaps", 41006, lambda fs: fs, 6, payload)

# An 8000-byte datagram from the kernel's own socket (the kernel fragments it).
cases.kernel("kernel-fragmented 8000 B", 41007, payload, (dst, port))


def lone_time_exceeded(pkt, addr):
    """ICMPv6 time exceeded (3/1) from Joyride quoting the lone fragment (id 4242)."""
    # Raw ICMPv6 sockets return the ICMPv6 message without the IPv6 header.
    if addr[0] != dst or pkt[0] != 3 or pkt[1] != 1:
        return False
    inner = pkt[8:]
    # quoted: IPv6 header (40) + fragment header (id at bytes 4..8)
    return len(inner) >= 48 and inner[6] == 44 and int.from_bytes(inner[44:48], "big") == 4242


report(cases.results, wait_icmp(icmp, lone_at + 75, lone_time_exceeded), lone_at)
