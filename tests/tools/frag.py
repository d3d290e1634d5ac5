# IPv4 fragments crafted with scapy, sent from the peer host to Joyride's UDP echo (port 7).
# Runs on the peer host with Debian's python3 (scapy). Prints one JSON line:
#   {"cases": {name: "echoed" | "no reply" | "wrong reply"}, "timeExceeded": bool, ...}
# Usage: frag.py IFACE SRC DST DSTMAC SRCMAC
# Joyride's echo answers an 8000-byte datagram with 8000 bytes, which it fragments itself; the
# kernel here reassembles the answer for the UDP socket bound to the case's source port.
import random
import socket
import sys
import time

from scapy.all import IP, UDP, Ether, conf, raw  # noqa: E402

sys.dont_write_bytecode = True  # importing _frag leaves no __pycache__ in the checkout
from _frag import Cases, report, shuffled_dups, split, wait_icmp  # noqa: E402

iface, src, dst, dstmac, srcmac = sys.argv[1:6]
conf.verb = 0
rnd = random.Random(7)
l2 = conf.L2socket(iface=iface)


def frames(ip_id, sport, payload, pieces):
    """pieces: list of (offset_bytes, length, more) over the UDP datagram (header + payload)."""
    # UDP header and checksum computed by scapy over the pseudo-header, then cut in pieces
    udp = raw(IP(src=src, dst=dst) / UDP(sport=sport, dport=7) / payload)[20:]
    out = []
    for off, length, more in pieces:
        chunk = udp[off:off + length]
        out.append(Ether(src=srcmac, dst=dstmac) /
                   IP(src=src, dst=dst, id=ip_id, proto=17, flags="MF" if more else 0,
                      frag=off // 8) / chunk)
    return out


def udp_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, port))
    return s


cases = Cases(l2, frames, udp_socket, 1480)
results = cases.results
# Raw ICMP socket first: the lone fragment's "time exceeded" comes ~30 s later.
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)

# 1. 1000 non-first fragments of distinct datagrams: more than the 256 the engine keeps
#    (oldest evicted, no ICMP since no first fragment arrived).
flood = [Ether(src=srcmac, dst=dstmac) /
         IP(src=src, dst=dst, id=10000 + i, proto=17, flags="MF", frag=185) / (b"x" * 1480)
         for i in range(1000)]
for f in flood:
    l2.send(f)

# 2. A lone first fragment (id 4242): reassembly must time out and say so (ICMP 11/1).
lone_at = time.monotonic()
lone_sock = udp_socket(40100)
for f in frames(4242, 40100, b"L" * 3000, split(3008, 1480)[:1]):
    l2.send(f)

payload = bytes(rnd.getrandbits(8) for _ in range(8000))
total = 8008


cases.case("in order", 40001, lambda fs: fs, 1, payload)
cases.case("reverse order", 40002, lambda fs: fs[::-1], 2, payload)
cases.case("shuffled, every fragment twice", 40003, shuffled_dups(rnd), 3, payload)

# overlapping with the same bytes: fragments of 1480 plus fragments of 1000 over the same data
s = udp_socket(40004)
fs = frames(4, 40004, payload, split(total, 1480))
extra = frames(4, 40004, payload, [(1000, 1000, True), (3000, 1400, True)])
cases.send("overlapping, same bytes", s, [fs[0], extra[0], fs[1], extra[1]] + fs[2:], payload)

# overlapping with different bytes arriving later: the first bytes win (RFC 791), or the
# datagram is dropped; the conflicting bytes must never come back
s = udp_socket(40005)
fs = frames(5, 40005, payload, split(total, 1480))
evil_payload = bytearray(payload)
for i in range(1472, 2992):
    evil_payload[i] ^= 0xFF
evil = frames(5, 40005, bytes(evil_payload), [(1480, 1480, True)])
for f in [fs[0], fs[1], evil[0]] + fs[2:]:
    l2.send(f)
s.settimeout(3)
try:
    got, _ = s.recvfrom(65536)
    results["overlapping, different bytes later"] = (
        "echoed" if got == payload else "conflicting bytes" if got == bytes(evil_payload)
        else "wrong reply")
except socket.timeout:
    results["overlapping, different bytes later"] = "no reply"
s.close()

# too many fragments: 208-byte datagram in 8-byte fragments (26 > maxfragsperpacket 16)
small = bytes(range(200))
cases.send("26 fragments of 8 bytes", udp_socket(40006), frames(6, 40006, small, split(208, 8)),
           small)

# a plain 8000-byte datagram from the kernel's own UDP socket (the kernel fragments it)
cases.kernel("kernel-fragmented 8000 B", 40007, payload, (dst, 7))


def lone_time_exceeded(pkt, addr):
    """ICMP time exceeded (11/1) from Joyride quoting the lone fragment (id 4242)."""
    ihl = (pkt[0] & 15) * 4
    t, code = pkt[ihl], pkt[ihl + 1]
    if addr[0] != dst or t != 11 or code != 1:
        return False
    inner = pkt[ihl + 8:]
    return len(inner) >= 20 and int.from_bytes(inner[4:6], "big") == 4242


# wait for the lone fragment's ICMP time exceeded (fragttl 30 s)
report(results, wait_icmp(icmp, lone_at + 40, lone_time_exceeded), lone_at)
