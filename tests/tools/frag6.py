# IPv6 fragments crafted with scapy, sent from the peer host to a UDP echo under Joyride
# (tools/echo6.py). Prints one JSON line:
#   {"cases": {name: "echoed" | "no reply" | "wrong reply"}, "timeExceeded": bool, ...}
# Usage: frag6.py IFACE SRC DST DSTMAC SRCMAC PORT
# RFC 8200 §4.5 with RFC 5722: overlapping fragments discard the whole datagram; an exact
# duplicate is dropped alone; an incomplete datagram whose first fragment arrived is answered
# with ICMPv6 time exceeded (3/1) after 60 s.
import json
import random
import socket
import sys
import time

from scapy.all import UDP, Ether, IPv6, IPv6ExtHdrFragment, Raw, conf, raw  # noqa: E402

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


def split(total, size):
    p, off = [], 0
    while off < total:
        n = min(size, total - off)
        p.append((off, n, off + n < total))
        off += n
    return p


def sock(p):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((src, p))
    return s


def answer(s, want, timeout=3.0):
    s.settimeout(timeout)
    try:
        got, _ = s.recvfrom(65536)
    except socket.timeout:
        return "no reply"
    return "echoed" if got == want else "wrong reply"


icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
results = {}
payload = bytes(rnd.getrandbits(8) for _ in range(8000))
total = 8008

# A lone first fragment (id 4242): reassembly times out (60 s) with ICMPv6 3/1.
lone_at = time.monotonic()
lone = sock(41100)
for f in frames(4242, 41100, b"L" * 3000, split(3008, 1232)[:1]):
    l2.send(f)


def case(name, p, order, ident, data=payload):
    s = sock(p)
    for f in order(frames(ident, p, data, split(len(data) + 8, 1232))):
        l2.send(f)
    results[name] = answer(s, data)
    s.close()


def shuffled_dups(fs):
    d = fs + fs
    rnd.shuffle(d)
    return d


case("in order", 41001, lambda fs: fs, 1)
case("reverse order", 41002, lambda fs: fs[::-1], 2)
case("shuffled, every fragment twice", 41003, shuffled_dups, 3)

# Overlapping with the same bytes: RFC 5722 drops the whole datagram all the same.
s = sock(41004)
fs = frames(4, 41004, payload, split(total, 1232))
extra = frames(4, 41004, payload, [(1000, 1000, True)])
for f in [fs[0], extra[0]] + fs[1:]:
    l2.send(f)
results["overlapping, same bytes"] = answer(s, payload)
s.close()

# Overlapping with different bytes: dropped; the conflicting bytes never come back.
s = sock(41005)
fs = frames(5, 41005, payload, split(total, 1232))
evil = bytearray(payload)
for i in range(1224, 2456):
    evil[i] ^= 0xFF
bad = frames(5, 41005, bytes(evil), [(1232, 1232, True)])
for f in [fs[0], fs[1], bad[0]] + fs[2:]:
    l2.send(f)
results["overlapping, different bytes later"] = answer(s, payload)
s.close()

# The same datagram again, whole, under a new id: reassembly still works after the drops.
case("in order after the overlaps", 41006, lambda fs: fs, 6)

# An 8000-byte datagram from the kernel's own socket (the kernel fragments it).
s = sock(41007)
s.sendto(payload, (dst, port))
results["kernel-fragmented 8000 B"] = answer(s, payload)
s.close()

time_exceeded = False
icmp.settimeout(1)
while time.monotonic() < lone_at + 75 and not time_exceeded:
    try:
        pkt, addr = icmp.recvfrom(65536)
    except socket.timeout:
        continue
    # Raw ICMPv6 sockets return the ICMPv6 message without the IPv6 header.
    if addr[0] == dst and pkt[0] == 3 and pkt[1] == 1:
        inner = pkt[8:]
        # quoted: IPv6 header (40) + fragment header (id at bytes 4..8)
        if len(inner) >= 48 and inner[6] == 44 and int.from_bytes(inner[44:48], "big") == 4242:
            time_exceeded = True
print(json.dumps({
    "cases": results,
    "timeExceeded": time_exceeded,
    "timeExceededAfter": round(time.monotonic() - lone_at, 1),
}))
