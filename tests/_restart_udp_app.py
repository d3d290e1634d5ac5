# Issue 8 regression app (tests/restart_udp_test.ts), run under the shim. argv: peer address,
# server port, dual-stack port, peer echo port, reuseport port, directory for handshakes.
#  - A: a bound, unconnected IPv4 UDP server on 0.0.0.0:SPORT (recvfrom/sendto echo, "A:" prefix).
#  - B: AF_INET6 on [::]:DPORT without IPV6_V6ONLY, connected to the IPv4 peer's echo through
#    an IPv4-mapped address; pinged before and after the restart.
#  - R: three SO_REUSEPORT sockets on 0.0.0.0:RPORT, each answering "R<i>:" + the datagram;
#    R2 closes when DIR/close2 appears.
#  - T: three SO_REUSEPORT TCP listeners on 0.0.0.0:RPORT, each answering a connection with
#    "T<i>:" + what it reads, then closing it.
#  - S, U: two dual-stack SO_REUSEPORT UDP sockets ("S<i>:") and TCP listeners ("U<i>:") on
#    [::]:RPORT+2, which IPv4 peers reach through their twins.
import json, os, socket, sys, threading, time

peer, sport, dport, eport, rport, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]


def echo(s, tag, stop=None):
    s.settimeout(0.2)
    while stop is None or not os.path.exists(stop):
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(tag + data, addr)
    s.close()


a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("0.0.0.0", sport))
threading.Thread(target=echo, args=(a, b"A:"), daemon=True).start()

rs = []
for i in range(3):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    r.bind(("0.0.0.0", rport))
    rs.append(r)
for i, r in enumerate(rs):
    stop = d + "/close2" if i == 2 else None
    threading.Thread(target=echo, args=(r, b"R%d:" % i, stop), daemon=True).start()



def serve(ls, tag):
    while True:
        c, _ = ls.accept()
        c.settimeout(5)
        try:
            c.sendall(tag + c.recv(100))
        except OSError:
            pass
        c.close()


for i in range(3):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    t.bind(("0.0.0.0", rport))
    t.listen(16)
    threading.Thread(target=serve, args=(t, b"T%d:" % i), daemon=True).start()

for i in range(2):
    v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    v.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    v.bind(("::", rport + 2))
    threading.Thread(target=echo, args=(v, b"S%d:" % i), daemon=True).start()
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    t.bind(("::", rport + 2))
    t.listen(16)
    threading.Thread(target=serve, args=(t, b"U%d:" % i), daemon=True).start()

b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
b.bind(("::", dport))
b.connect(("::ffff:" + peer, eport))
b.settimeout(1)


def ping(tag):
    try:
        for _ in range(10):
            b.send(tag.encode())
            try:
                return b.recv(100).decode()
            except socket.timeout:
                pass
        return "timeout"
    except OSError as e:
        return "errno %d" % e.errno


def peername():
    try:
        return list(b.getpeername()[:2])
    except OSError as e:
        return "errno %d" % e.errno


res = {"b1": ping("one"), "bpeer1": peername()}
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
res["b2"] = ping("two")
res["bpeer2"] = peername()
print(json.dumps(res), flush=True)
