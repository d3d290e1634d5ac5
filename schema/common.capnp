@0xacdf780e86c65bf7;
# Common types of the Joyride control plane. This schema set is the contract between the libc
# shim (C, native/gen/joyride_capnp.h) and the servers (TypeScript, schema/gen/*.ts): change a
# field only by adding a new one with the next ordinal, never by renumbering.
#
# Conventions used everywhere:
# - `errno` fields hold a Linux errno number (EINVAL = 22, …); 0 means success.
# - Ports, lengths and counts are host-order integers; address bytes are in network order.
# - Every request carries a RequestHeader and every reply a ReplyHeader, so a reply can be
#   matched to its request and a reply from a dead server incarnation can be told apart.

enum AddressFamily {
  unspec @0;
  inet @1;   # IPv4 (AF_INET)
  inet6 @2;  # IPv6 (AF_INET6)
}

struct SockAddr {
  # A socket address (sockaddr_in / sockaddr_in6).
  family @0 :AddressFamily;
  port @1 :UInt16;       # host byte order
  addr @2 :Data;         # 4 bytes (inet) or 16 bytes (inet6), network byte order
  flowInfo @3 :UInt32;   # inet6 only
  scopeId @4 :UInt32;    # inet6 only
}

struct RequestHeader {
  requestId @0 :UInt64;   # chosen by the sender, unique per sender; echoed in the reply
  generation @1 :UInt32;  # server generation the sender talks to (0: whichever is current)
  appId @2 :UInt32;       # issued by the naming server at registration (0: not registered yet)
  token @3 :Data;         # capability token issued with appId (16 random bytes)
}

struct ReplyHeader {
  requestId @0 :UInt64;   # the request this answers
  generation @1 :UInt32;  # generation of the server incarnation that answers
}
