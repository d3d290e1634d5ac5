/* sendmmsg/recvmmsg through the shim (tests/shim_basic_test.ts): argv ADDR PORT of a UDP echo
 * server that upper-cases; prints "sent N got K" and the K replies. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	connect(s, (void *)&a, sizeof a);
	struct mmsghdr m[3]; struct iovec v[3]; char *msg[3] = {"one", "two", "three"};
	memset(m, 0, sizeof m);
	for (int i = 0; i < 3; i++) { v[i].iov_base = msg[i]; v[i].iov_len = strlen(msg[i]); m[i].msg_hdr.msg_iov = &v[i]; m[i].msg_hdr.msg_iovlen = 1; }
	int n = sendmmsg(s, m, 3, 0);
	usleep(300000);
	char b[3][32]; struct iovec rv[3]; struct mmsghdr r[3]; memset(r, 0, sizeof r);
	for (int i = 0; i < 3; i++) { rv[i].iov_base = b[i]; rv[i].iov_len = 31; r[i].msg_hdr.msg_iov = &rv[i]; r[i].msg_hdr.msg_iovlen = 1; }
	int k = recvmmsg(s, r, 3, 0, NULL);
	printf("sent %d got %d", n, k);
	for (int i = 0; i < k; i++) printf(" %.*s", (int)r[i].msg_len, b[i]);
	printf("\n");
	return 0;
}
