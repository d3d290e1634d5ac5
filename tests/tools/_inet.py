# Shared by the peer-host scripts that build packets byte by byte (hostile.py, synflood.py).
import struct


def csum(b):
    """The Internet checksum (RFC 1071) of `b`, padded to an even length."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF
