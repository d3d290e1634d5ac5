# The peer side of tests/restart_udp_test.ts (the kernel's stack). argv: joyride address, port,
# first source port, count[, "tcp"]. Sends "p<i>" from source ports first..first+count-1, one
# datagram each (retried on a timeout), or one TCP connection each, prints the answers, one
# JSON list.
import json, socket, sys

addr, port, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = []
if len(sys.argv) > 5 and sys.argv[5] == "tcp":
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", first + i))
        s.settimeout(10)
        s.connect((addr, port))
        s.sendall(b"p%d" % i)
        got = b""
        while True:
            b = s.recv(100)
            if not b:
                break
            got += b
        s.close()
        out.append(got.decode())
    print(json.dumps(out), flush=True)
    sys.exit(0)
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", first + i))
    s.settimeout(0.5)
    got = "timeout"
    for _ in range(10):
        s.sendto(b"p%d" % i, (addr, port))
        try:
            got = s.recv(100).decode()
            break
        except socket.timeout:
            pass
    s.close()
    out.append(got)
print(json.dumps(out), flush=True)
