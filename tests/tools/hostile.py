# Hostile frames from the peer host at Joyride's MAC: random and malformed Ethernet, ARP,
# IPv4, IPv6, TCP, UDP and ICMP (truncated headers, bad lengths and checksums, bogus options,
# 2,000 EtherTypes spread over the 16-bit space), built by hand from a seeded generator
# (reproducible), sent through an AF_PACKET socket, paced so the receive ring keeps up. Prints {"sent": n, "kinds": {...}}.
# Usage: hostile.py IFACE SRCMAC DSTMAC SRC DST COUNT SEED
import json
import random
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # importing _inet leaves no __pycache__ in the checkout
from _inet import csum  # noqa: E402

iface, srcmac, dstmac, src, dst, count, seed = sys.argv[1:8]
count = int(count)
R = random.Random(int(seed))
smac = bytes.fromhex(srcmac.replace(":", ""))
dmac = bytes.fromhex(dstmac.replace(":", ""))
sip = socket.inet_aton(src)
dip = socket.inet_aton(dst)
sip6 = bytes.fromhex("fd000198001800000000000000000001")
dip6 = bytes.fromhex("fd000198001800000000000000000002")


def rbytes(n):
    return bytes(R.getrandbits(8) for _ in range(n))


def eth(etype, payload, dst=None):
    return (dst or dmac) + smac + struct.pack("!H", etype) + payload


def ipv4(payload, proto, good_csum=True, ihl=5, tot=None, opts=b"", flags_frag=0, ttl=64,
         ver=4, s=None, d=None):
    hl = 20 + len(opts)
    tot = hl + len(payload) if tot is None else tot
    h = struct.pack("!BBHHHBBH4s4s", (ver << 4) | ihl, 0, tot & 0xFFFF, R.getrandbits(16),
                    flags_frag, ttl, proto, 0, s or sip, d or dip) + opts
    c = csum(h) if good_csum else R.getrandbits(16)
    h = h[:10] + struct.pack("!H", c) + h[12:]
    return h + payload


def l4csum(proto, seg, s=None, d=None):
    ph = (s or sip) + (d or dip) + struct.pack("!BBH", 0, proto, len(seg))
    return csum(ph + seg)


def tcp(sport, dport, flags, opts=b"", data=b"", doff=None, good_csum=True):
    if len(opts) % 4:
        opts += b"\0" * (4 - len(opts) % 4)
    doff = (20 + len(opts)) // 4 if doff is None else doff
    h = struct.pack("!HHIIBBHHH", sport, dport, R.getrandbits(32), R.getrandbits(32),
                    (doff & 15) << 4, flags, R.getrandbits(16), 0, 0) + opts
    seg = h + data
    c = l4csum(6, seg) if good_csum else R.getrandbits(16)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(sport, dport, data, length=None, good_csum=True):
    length = 8 + len(data) if length is None else length
    seg = struct.pack("!HHHH", sport, dport, length & 0xFFFF, 0) + data
    c = l4csum(17, seg) if good_csum else R.getrandbits(16) or 1
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def bogus_tcp_opts():
    kinds = [
        b"\x02\x04\x05",                      # MSS with a short length
        b"\x02\x00",                          # length 0
        b"\x02\x01",                          # length 1
        b"\x03\x03\x63",                      # window scale 99
        b"\x05\x0b" + rbytes(9),              # SACK with a block of 9 bytes
        b"\x05\x02",                          # empty SACK
        b"\x08\x0a" + rbytes(4),              # timestamps cut short
        b"\x04\x02\x04\x02\x04\x02",          # SACK-permitted three times
        b"\x13\x12" + rbytes(16),             # MD5 signature
        b"\xfe\x28" + rbytes(4),              # length past the header
        rbytes(R.randrange(1, 40)),           # anything
    ]
    o = b"".join(R.choice(kinds) for _ in range(R.randrange(1, 4)))
    return o[:40]


def bogus_ip_opts():
    kinds = [b"\x07\x03\x04", b"\x83\x27" + rbytes(3), b"\x44\x00", b"\x01\x01\x01\x00",
             b"\x94\x04\x00\x00", b"\x89\xff", rbytes(R.randrange(1, 40))]
    o = b"".join(R.choice(kinds) for _ in range(R.randrange(1, 3)))[:40]
    if len(o) % 4:
        o += b"\0" * (4 - len(o) % 4)
    return o


def k_random():
    return eth(R.getrandbits(16), rbytes(R.randrange(0, 1500)))


def k_every_ethertype(i):
    # walks the EtherType space: 802.3 lengths, IPv4/ARP/IPv6 with garbage, VLAN, MPLS, ...
    et = (i * 7919) & 0xFFFF
    return eth(et, rbytes(R.randrange(0, 200)))


def k_short():
    return (dmac + smac + rbytes(2))[:R.randrange(1, 15)]


def k_arp():
    hl, pl = R.choice([(6, 4), (6, 16), (0, 0), (255, 255), (6, 4)])
    op = R.choice([1, 2, 3, 0, 0xFFFF])
    s_ip = bytes([198, 18, 1, R.randrange(1, 255)])  # never the peer's address
    body = struct.pack("!HHBBH", R.choice([1, 6, 0xFFFF]), R.choice([0x0800, 0x86DD, 0]), hl,
                       pl, op) + rbytes(6) + s_ip + rbytes(6) + dip
    return eth(0x0806, body[:R.randrange(0, len(body) + 1)])


def k_ipv4():
    proto = R.choice([6, 17, 1, 0, 2, 41, 47, 50, 132, 255])
    payload = rbytes(R.randrange(0, 100))
    v = R.randrange(9)
    if v == 0:
        p = ipv4(payload, proto)[:R.randrange(0, 20)]          # truncated header
    elif v == 1:
        p = ipv4(payload, proto, ihl=R.randrange(0, 5))         # IHL < 5
    elif v == 2:
        p = ipv4(payload, proto, ihl=15)                        # IHL past the data
    elif v == 3:
        p = ipv4(payload, proto, tot=R.randrange(0, 65536))     # total length wrong
    elif v == 4:
        p = ipv4(payload, proto, good_csum=False)               # header checksum
    elif v == 5:
        o = bogus_ip_opts()
        p = ipv4(payload, proto, ihl=5 + len(o) // 4, opts=o)   # bogus options
    elif v == 6:
        p = ipv4(payload, proto, ver=R.choice([0, 5, 6, 7, 15]))  # version
    elif v == 7:
        p = ipv4(payload, proto, flags_frag=R.getrandbits(16))  # fragment bits
    else:
        bad = R.choice([b"\xff\xff\xff\xff", b"\x7f\x00\x00\x01", b"\xe0\x00\x00\x01",
                        b"\x00\x00\x00\x00"])
        p = ipv4(payload, proto, s=bad, ttl=R.choice([0, 1, 64]))  # martian sources
    return eth(0x0800, p)


def k_tcp():
    dport = R.choice([7, 9, 7, 9, R.randrange(65536)])
    sport = R.randrange(1024, 65536)
    flags = R.getrandbits(8)
    v = R.randrange(5)
    if v == 0:
        seg = tcp(sport, dport, flags, opts=bogus_tcp_opts())
    elif v == 1:
        seg = tcp(sport, dport, flags, doff=R.choice([0, 1, 4, 15]))
    elif v == 2:
        seg = tcp(sport, dport, flags, data=rbytes(R.randrange(0, 200)), good_csum=False)
    elif v == 3:
        seg = tcp(sport, dport, flags)[:R.randrange(0, 20)]
    else:
        seg = tcp(sport, dport, R.choice([0, 0x03, 0x29, 0xFF, 0x06, 0x05]),
                  data=rbytes(R.randrange(0, 50)))
    return eth(0x0800, ipv4(seg, 6))


def k_udp():
    dport = R.choice([7, 9, R.randrange(65536)])
    data = rbytes(R.randrange(0, 200))
    v = R.randrange(4)
    if v == 0:
        seg = udp(40000, dport, data, length=R.choice([0, 7, len(data) + 100, 65535]))
    elif v == 1:
        seg = udp(40000, dport, data, good_csum=False)
    elif v == 2:
        seg = udp(40000, dport, data)[:R.randrange(0, 8)]
    else:
        seg = udp(R.randrange(65536), dport, data)
    return eth(0x0800, ipv4(seg, 17))


def k_icmp():
    t = R.choice([0, 3, 4, 5, 8, 11, 12, 13, 17, R.randrange(256)])
    body = struct.pack("!BBH", t, R.randrange(16), 0) + rbytes(R.randrange(0, 100))
    if R.random() < 0.5:
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    if R.random() < 0.3:
        body = body[:R.randrange(0, 8)]
    return eth(0x0800, ipv4(body, 1))


def k_ipv6():
    nh = R.choice([6, 17, 58, 0, 43, 44, 60, 59, 135, R.randrange(256)])
    payload = rbytes(R.randrange(0, 200))
    plen = R.choice([len(payload), 0, 65535, R.randrange(65536)])
    h = struct.pack("!IHBB", (6 << 28) | R.getrandbits(20), plen, nh, 64) + sip6 + dip6
    p = h + payload
    if R.random() < 0.2:
        p = p[:R.randrange(0, 40)]
    return eth(0x86DD, p)


def k_vlan():
    inner = R.choice([k_ipv4, k_tcp, k_arp])()[14:]
    return eth(R.choice([0x8100, 0x88A8]), struct.pack("!HH", R.getrandbits(16),
                                                      R.choice([0x0800, 0x0806, 0x86DD])) + inner)


kinds = [("random", k_random), ("ethertype", None), ("short", k_short), ("arp", k_arp),
         ("ipv4", k_ipv4), ("tcp", k_tcp), ("udp", k_udp), ("icmp", k_icmp), ("ipv6", k_ipv6),
         ("vlan", k_vlan)]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
sent = {}
for i in range(count):
    name, f = kinds[i % len(kinds)]
    frame = k_every_ethertype(i) if f is None else f()
    if len(frame) < 14:
        frame = frame + b"\0" * (14 - len(frame))  # AF_PACKET needs a link header
    frame = frame[:1514]
    s.send(frame)
    sent[name] = sent.get(name, 0) + 1
    if i % 100 == 99:
        time.sleep(0.004)  # paced: ~25k frames/s at most, the NIC server's ring keeps up
print(json.dumps({"sent": count, "kinds": sent}))
