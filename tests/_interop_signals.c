/* Signals and socket timeouts through the shim (tests/interop_shim_test.ts): argv ADDR PORT,
 * ADDR being Joyride's own address. One process: a listener on 0.0.0.0:PORT, a client connected
 * to ADDR:PORT, the accepted end. A helper thread signals the main thread while it blocks in
 * recv, then sends a byte. Prints one line per check; exit status 1 on the first failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t caught;
static pthread_t main_thread;
static int srv_end;

static void on_sig(int s)
{
	(void)s;
	caught++;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Signals the main thread after 150 ms, sends one byte after 400 ms. */
static void *helper(void *a)
{
	(void)a;
	usleep(150000);
	pthread_kill(main_thread, SIGUSR1);
	usleep(250000);
	if (send(srv_end, "x", 1, 0) != 1)
		perror("helper send");
	return NULL;
}

static void handler(int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sa.sa_flags = flags;
	sigaction(SIGUSR1, &sa, NULL);
}

static int fail(const char *what)
{
	printf("FAIL %s (errno %d %s)\n", what, errno, strerror(errno));
	return 1;
}

/* recv on `c` while the helper signals then sends: returns recv's result, errno kept. */
static ssize_t recv_signalled(int c, char *b)
{
	pthread_t h;
	caught = 0;
	pthread_create(&h, NULL, helper, NULL);
	ssize_t n = recv(c, b, 1, 0);
	int e = errno;
	pthread_join(h, NULL);
	errno = e;
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	main_thread = pthread_self();
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (bind(l, (void *)&a, sizeof a) || listen(l, 4))
		return fail("bind/listen");
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (void *)&a, sizeof a))
		return fail("connect");
	srv_end = accept(l, NULL, NULL);
	if (srv_end < 0)
		return fail("accept");
	char b[4];

	/* SA_RESTART: the handler runs, recv goes on and returns the byte (Linux restarts). */
	handler(SA_RESTART);
	ssize_t n = recv_signalled(c, b);
	if (n != 1 || b[0] != 'x' || caught != 1)
		return fail("recv under SA_RESTART");
	printf("restart ok\n");

	/* No SA_RESTART: EINTR. */
	handler(0);
	n = recv_signalled(c, b);
	if (n != -1 || errno != EINTR || caught != 1)
		return fail("recv without SA_RESTART");
	if (recv(c, b, 1, 0) != 1 || b[0] != 'x')
		return fail("recv after EINTR");
	printf("eintr ok\n");

	/* SO_RCVTIMEO: EAGAIN after the timeout; readable back with getsockopt. */
	struct timeval tv = { 0, 300000 }, got;
	socklen_t gl = sizeof got;
	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
	    getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &got, &gl) || gl != sizeof got ||
	    got.tv_sec != 0 || got.tv_usec != 300000)
		return fail("SO_RCVTIMEO set/get");
	double t0 = now();
	n = recv(c, b, 1, 0);
	double took = now() - t0;
	if (n != -1 || errno != EAGAIN || took < 0.25)
		return fail("recv with SO_RCVTIMEO");
	printf("rcvtimeo ok\n");

	/* SO_RCVTIMEO set and SA_RESTART: Linux does not restart, EINTR. */
	tv.tv_sec = 5;
	tv.tv_usec = 0;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	handler(SA_RESTART);
	n = recv_signalled(c, b);
	if (n != -1 || errno != EINTR || caught != 1)
		return fail("recv with SO_RCVTIMEO under SA_RESTART");
	if (recv(c, b, 1, 0) != 1 || b[0] != 'x')
		return fail("recv after EINTR (timeout)");
	printf("timeo-eintr ok\n");

	/* accept with SO_RCVTIMEO: EAGAIN. */
	tv.tv_sec = 0;
	tv.tv_usec = 200000;
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (accept(l, NULL, NULL) != -1 || errno != EAGAIN)
		return fail("accept with SO_RCVTIMEO");
	printf("accept-timeo ok\n");
	close(c);
	close(srv_end);
	close(l);
	return 0;
}
