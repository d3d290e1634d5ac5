@0xa8c6f929a49731b0;
# Socket calls from the shim to a TCP/IP server and their replies, plus readiness events.
# These are the hot control messages: schema/gen/hot.ts has fixed-offset accessors for them.
# socketId is the server's id for a socket (never reused within a generation); the shim maps
# its placeholder fd to it. Option levels/names and event bits use the Linux values
# (SOL_SOCKET = 1, SO_REUSEADDR = 2, EPOLLIN = 0x1, …).

using Common = import "common.capnp";

enum SocketType {
  stream @0;  # SOCK_STREAM (TCP)
  dgram @1;   # SOCK_DGRAM (UDP)
}

enum ShutdownHow {
  read @0;   # SHUT_RD
  write @1;  # SHUT_WR
  both @2;   # SHUT_RDWR
}

struct SocketRings {
  # Where the data rings of a new socket live in the app's region (byte offsets).
  sendRing @0 :UInt64;
  recvRing @1 :UInt64;
  size @2 :UInt32;         # bytes of each ring
}

struct SocketCall {
  header @0 :Common.RequestHeader;
  socketId @1 :UInt32;     # the socket the call is about (0 for `socket`)
  call :union {
    socket :group {
      family @2 :Common.AddressFamily;
      type @3 :SocketType;
      protocol @4 :Int32;
      nonBlocking @5 :Bool;
    }
    bind @6 :Common.SockAddr;
    listen @7 :Int32;      # backlog
    accept @8 :Bool;       # nonBlocking for the accepted socket (accept4 SOCK_NONBLOCK)
    connect @9 :Common.SockAddr;
    shutdown @10 :ShutdownHow;
    close @11 :Void;
    setsockopt :group {
      level @12 :Int32;
      name @13 :Int32;
      value :union {
        int @14 :Int32;
        bytes @15 :Data;
      }
    }
    getsockopt :group {
      level @16 :Int32;
      name @17 :Int32;
      maxLen @18 :UInt32;  # optlen given by the caller
    }
    getsockname @19 :Void;
    getpeername @20 :Void;
    fionread @21 :Void;    # ioctl(FIONREAD)
  }
  pid @22 :UInt32;         # socket, accept: the calling process (forked children differ)
  placeholderFd @23 :Int32;  # socket, accept: the shim's placeholder eventfd in `pid`; the
                           # server signals readiness changes on it (issue 5; -1: none)
}

struct SocketReply {
  header @0 :Common.ReplyHeader;
  socketId @1 :UInt32;
  errno @2 :Int32;         # 0: success; otherwise `result` is `none`
  result :union {
    none @3 :Void;         # bind, listen, shutdown, close, setsockopt, errors
    socket :group {
      socketId @4 :UInt32;
      rings @5 :SocketRings;
    }
    accept :group {
      socketId @6 :UInt32;
      rings @7 :SocketRings;
      peer @8 :Common.SockAddr;
    }
    connect :group {
      inProgress @9 :Bool; # non-blocking connect: EINPROGRESS, completion comes as an event
    }
    sockopt :union {       # getsockopt
      int @10 :Int32;
      bytes @11 :Data;
    }
    addr @12 :Common.SockAddr;  # getsockname, getpeername
    fionread @13 :UInt32;       # bytes readable
  }
}

struct ReadinessEvent {
  # Server → shim: the readiness of a socket changed (edge), e.g. data arrived, connect done.
  socketId @0 :UInt32;
  generation @1 :UInt32;   # server generation
  events @2 :UInt32;       # EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP bits
  soError @3 :Int32;       # pending SO_ERROR (errno), 0 if none
  seq @4 :UInt64;          # per-socket event sequence number
}

struct ReadinessBatch {
  events @0 :List(ReadinessEvent);
}
