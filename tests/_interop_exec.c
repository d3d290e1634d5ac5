/* execl carries Joyride sockets into the new image; recvmmsg's timeout is applied
 * (tests/interop_shim_test.ts). argv ADDR PORT (ADDR: Joyride's own address); the new image
 * runs with argv "child" CFD SFD. Prints "execl ok" and "recvmmsg-timeout ok". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int child(int c, int s)
{
	char b[16] = { 0 };
	if (write(c, "over execl", 10) != 10 || recv(s, b, 10, MSG_WAITALL) != 10 ||
	    memcmp(b, "over execl", 10) != 0) {
		printf("FAIL execl: %s\n", strerror(errno));
		return 1;
	}
	printf("execl ok\n");
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	bind(u, (void *)&a, sizeof a);
	struct mmsghdr m[4];
	struct iovec v[4];
	char bufs[4][64];
	memset(m, 0, sizeof m);
	for (int i = 0; i < 4; i++) {
		v[i].iov_base = bufs[i];
		v[i].iov_len = sizeof bufs[i];
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	struct timespec t0, t1, tmo = { 0, 300000000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int n = recvmmsg(u, m, 4, 0, &tmo);
	int e = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (n != -1 || e != EAGAIN || took < 0.25) {
		printf("FAIL recvmmsg timeout: n %d errno %d took %.3f\n", n, e, took);
		return 1;
	}
	printf("recvmmsg-timeout ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 4 && strcmp(argv[1], "child") == 0)
		return child(atoi(argv[2]), atoi(argv[3]));
	if (argc != 3)
		return 2;
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (bind(l, (void *)&a, sizeof a) || listen(l, 4))
		return printf("FAIL listen\n"), 1;
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (void *)&a, sizeof a))
		return printf("FAIL connect\n"), 1;
	int s = accept(l, NULL, NULL);
	char cs[16], ss[16];
	snprintf(cs, sizeof cs, "%d", c);
	snprintf(ss, sizeof ss, "%d", s);
	execl("/proc/self/exe", argv[0], "child", cs, ss, (char *)NULL);
	printf("FAIL execl: %s\n", strerror(errno));
	return 1;
}
