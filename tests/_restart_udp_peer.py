# The peer side of tests/restart_udp_test.ts (the kernel's stack). argv: joyride address, port,
# first source port, count. Sends "p<i>" from source ports first..first+count-1, one datagram
# each (retried on a timeout), prints the answers, one JSON list.
import json, socket, sys

addr, port, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = []
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
