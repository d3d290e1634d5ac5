/* Socket calls through the shim that Python does not reach (tests/interop_more_test.ts):
 * accept4 flags, epoll EPOLLET|EPOLLONESHOT re-armed, EPOLLEXCLUSIVE, EPOLLRDHUP, a dup'd
 * epoll fd and a closed one's number reused, SO_LINGER 0, close_range and closefrom,
 * TCP_CORK, SIGPIPE, dup2 of a kernel fd over a Joyride socket, SOCK_CLOEXEC, O_NONBLOCK
 * accept. Both ends are this process (a listener on ADDR PORT and connections to it). Prints
 * "ok NAME" per check held, "FAIL NAME: why" otherwise.
 * usage: _interop_more ADDR PORT
 *        _interop_more ADDR PORT spawn : a connection carried into children made by system(),
 *                                        popen() and posix_spawn() (moved to fd 0 there)
 *        _interop_more child FD TEXT   : (such a child) sends TEXT on FD */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in sa;
static int lfd;

#define CHECK(name, cond, ...)                                      \
	do {                                                        \
		if (cond)                                           \
			printf("ok %s\n", name);                    \
		else {                                              \
			printf("FAIL %s: ", name);                  \
			printf(__VA_ARGS__);                        \
			printf(" (errno %d)\n", errno);             \
		}                                                   \
		fflush(stdout);                                     \
	} while (0)

/* A connected pair: c (client), *a (accepted, accept4 flags `fl`). */
static int pair(int *a, int fl)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -1;
	struct pollfd p = { lfd, POLLIN, 0 };
	poll(&p, 1, 5000);
	*a = accept4(lfd, NULL, NULL, fl);
	return *a < 0 ? -1 : c;
}

static int wait_in(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms);
}

extern char **environ;

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void exit_on_alarm(int sig)
{
	(void)sig;
	_exit(1);
}

/* A second thread's doings: after `ms`, close or shut down `fd`, and/or send on `peer`. */
struct later {
	int ms, fd, how, peer; /* how: -1 close, else shutdown's; fd -1: nothing */
	const char *text;
};

static void *do_later(void *arg)
{
	struct later *l = arg;
	usleep((useconds_t)l->ms * 1000);
	if (l->fd >= 0 && l->how < 0)
		close(l->fd);
	else if (l->fd >= 0)
		shutdown(l->fd, l->how);
	if (l->text) {
		usleep(300000);
		send(l->peer, l->text, strlen(l->text), 0);
	}
	return NULL;
}

/* Java's way to stop a thread blocked on a socket: dup2 of another fd over it, then a signal
 * without SA_RESTART (JDK's NET_Dup2 + its wakeup signal); `how`: 0 dup2, 1 close. */
struct unblock {
	pthread_t t;
	int fd, how;
};

static void on_usr1(int sig)
{
	(void)sig;
}

static void *unblock_later(void *arg)
{
	struct unblock *u = arg;
	usleep(500000);
	int p[2];
	if (u->how == 0 && pipe(p) == 0) {
		dup2(p[0], u->fd);
		close(p[0]);
		close(p[1]);
	} else {
		close(u->fd);
	}
	usleep(1000);
	pthread_kill(u->t, SIGUSR1);
	return NULL;
}

/* A call blocked on `fd` (accept or recvfrom), ended from another thread as Java does: -1 and
 * its errno, or 0 if it returned otherwise; the time it took in *ms. */
static int blocked_then_unblocked(int fd, int how, int use_accept, long long *ms)
{
	struct sigaction sa_usr = { 0 };
	sa_usr.sa_handler = on_usr1; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa_usr, NULL);
	struct unblock u = { pthread_self(), fd, how };
	pthread_t t;
	long long t0 = now_ms();
	pthread_create(&t, NULL, unblock_later, &u);
	char b[8];
	alarm(10);
	ssize_t r = use_accept ? accept(fd, NULL, NULL) : recvfrom(fd, b, sizeof b, 0, NULL, NULL);
	int e = errno;
	alarm(0);
	pthread_join(t, NULL);
	*ms = now_ms() - t0;
	if (r >= 0)
		close((int)r);
	return r < 0 ? e : 0;
}

static sigjmp_buf jump_back;

static void jump_out(int sig)
{
	(void)sig;
	siglongjmp(jump_back, 1);
}

static int handler_sock = -1;
static volatile int handler_runs;

static void call_in_handler(int sig)
{
	(void)sig;
	shutdown(handler_sock, SHUT_RDWR); /* a call to the server, from a handler */
	handler_runs++;
}

/* Signal handlers and the shim's locks (a helper's repros): alarm + siglongjmp out of a
 * blocked recv, then the socket used and closed; a handler's own call while the thread is in
 * one; the program's handler reported back by sigaction. */
static void handler_checks(void)
{
	char b[8];
	int a = -1, c = pair(&a, 0);
	struct sigaction sj = { 0 }, old = { 0 };
	sj.sa_handler = jump_out;
	sigaction(SIGALRM, &sj, &old);
	struct itimerval it = { { 0, 0 }, { 0, 200000 } };
	int jumped = 0;
	if (sigsetjmp(jump_back, 1) == 0) {
		setitimer(ITIMER_REAL, &it, NULL);
		recv(c, b, 1, 0); /* nothing comes: the handler jumps out of it */
	} else {
		jumped = 1;
	}
	struct sigaction back = { 0 };
	back.sa_handler = exit_on_alarm;
	sigaction(SIGALRM, &back, NULL);
	alarm(10);
	send(a, "j", 1, 0);
	ssize_t n = recv(c, b, 1, 0); /* the socket's receive lock was left held: it hung */
	long long t0 = now_ms();
	close(c);
	ssize_t e = wait_in(a, 3000) > 0 ? recv(a, b, 1, 0) : -2; /* 0: the FIN came */
	long long fin = now_ms() - t0;
	alarm(0);
	CHECK("siglongjmp-out-of-recv", jumped && n == 1 && b[0] == 'j' && e == 0 && fin < 2000,
	      "jumped %d recv %zd then %zd after %lld ms", jumped, n, e, fin);
	close(a);

	/* a handler's call while the thread is in one: 1 ms timer, shutdown() in the handler */
	handler_sock = socket(AF_INET, SOCK_DGRAM, 0);
	int q = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok = 1;
	struct sigaction sh = { 0 };
	sh.sa_handler = call_in_handler;
	sh.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sh, NULL);
	struct itimerval every = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &every, NULL);
	long long end = now_ms() + 1500;
	while (now_ms() < end && ok) {
		int v = 0;
		socklen_t vl = sizeof v;
		ok = setsockopt(q, IPPROTO_TCP, TCP_KEEPCNT, &one, sizeof one) == 0 &&
		     getsockopt(q, IPPROTO_TCP, TCP_KEEPCNT, &v, &vl) == 0 && v == 1;
	}
	struct itimerval stop = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &stop, NULL);
	/* the program's handler comes back from sigaction, with its flags */
	struct sigaction now = { 0 };
	sigaction(SIGALRM, &back, &now);
	CHECK("call-in-handler", ok && handler_runs > 50 && now.sa_handler == call_in_handler &&
					 (now.sa_flags & SA_RESTART) && !(now.sa_flags & SA_SIGINFO),
	      "calls ok %d, handler ran %d times, reported %p flags %#x", ok, handler_runs,
	      (void *)now.sa_handler, (unsigned)now.sa_flags);
	close(q);
	close(handler_sock);
	sigaction(SIGALRM, &old, NULL);
}

/* Calls made while another thread closes or shuts down the socket, flags recv takes that
 * others do not, select past descriptor 1023, ioctls (Linux's answers, a helper's probes). */
static void thread_and_flag_checks(void)
{
	char b[16];
	struct timeval tv = { 4, 0 };
	/* recv blocked while another thread closes the fd: the socket stays open until the recv
	 * returns, with the peer's later data (it waited forever) */
	{
		int x, y = pair(&x, 0);
		setsockopt(x, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		struct later l = { 200, x, -1, y, "late" };
		pthread_t t;
		pthread_create(&t, NULL, do_later, &l);
		ssize_t n = recv(x, b, sizeof b, 0);
		pthread_join(t, NULL);
		CHECK("recv-while-closed", n == 4 && memcmp(b, "late", 4) == 0, "recv %zd", n);
		close(y);
	}
	/* send blocked (the peer reads nothing) while another thread shuts it for writing: EPIPE
	 * at once (it waited for room, or its SO_SNDTIMEO) */
	{
		int x, y = pair(&x, 0);
		setsockopt(x, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		static char big[1 << 20];
		struct later l = { 800, x, SHUT_WR, -1, NULL };
		pthread_t t;
		pthread_create(&t, NULL, do_later, &l);
		long long t0 = now_ms();
		ssize_t n;
		while ((n = send(x, big, sizeof big, MSG_NOSIGNAL)) > 0 && now_ms() - t0 < 6000)
			;
		int e = errno;
		long long took = now_ms() - t0;
		pthread_join(t, NULL);
		CHECK("send-while-shut", n == -1 && e == EPIPE && took < 3000, "send %zd after %lld ms",
		      n, took);
		close(x);
		close(y);
	}
	int x, y = pair(&x, 0);
	/* MSG_TRUNC on a stream throws the bytes away: no buffer needed (it crashed) */
	send(y, "abcdWXYZ", 8, 0);
	wait_in(x, 3000);
	usleep(100000);
	ssize_t t1 = recv(x, NULL, 4, MSG_TRUNC);
	ssize_t t2 = recv(x, b, 4, 0);
	CHECK("recv-trunc-discards", t1 == 4 && t2 == 4 && memcmp(b, "WXYZ", 4) == 0,
	      "trunc %zd then %zd", t1, t2);
	/* MSG_ERRQUEUE: nothing queued there (EAGAIN), the data stays (it took the data) */
	send(y, "data", 4, 0);
	wait_in(x, 3000);
	usleep(100000);
	ssize_t q1 = recv(x, b, sizeof b, MSG_ERRQUEUE | MSG_DONTWAIT);
	int qe = errno;
	ssize_t q2 = recv(x, b, sizeof b, 0);
	CHECK("errqueue-empty", q1 == -1 && qe == EAGAIN && q2 == 4, "errqueue %zd then %zd", q1,
	      q2);
	/* MSG_PEEK|MSG_WAITALL waits for all of it (it peeked what was there) */
	{
		send(y, "12345", 5, 0);
		struct later l = { 0, -1, 0, y, "67890" };
		pthread_t t;
		pthread_create(&t, NULL, do_later, &l);
		ssize_t p = recv(x, b, 10, MSG_PEEK | MSG_WAITALL);
		pthread_join(t, NULL);
		ssize_t r = recv(x, b, 10, MSG_WAITALL);
		CHECK("peek-waitall", p == 10 && r == 10 && memcmp(b, "1234567890", 10) == 0,
		      "peek %zd then %zd", p, r);
	}
	/* select with the socket past descriptor 1023 (a larger bitmap): not ready while nothing
	 * waits, ready when something does (the kernel saw the placeholder, always "readable") */
	{
		struct rlimit rl = { 4096, 4096 };
		setrlimit(RLIMIT_NOFILE, &rl);
		int hi = dup2(x, 1500);
		unsigned long set[2048 / (8 * sizeof(unsigned long))];
		size_t w = 1500 / (8 * sizeof(unsigned long));
		unsigned long bit = 1ul << (1500 % (8 * sizeof(unsigned long)));
		memset(set, 0, sizeof set);
		set[w] = bit;
		struct timeval z = { 0, 200000 };
		int s1 = select(1501, (fd_set *)(void *)set, NULL, NULL, &z);
		send(y, "!", 1, 0);
		memset(set, 0, sizeof set);
		set[w] = bit;
		z = (struct timeval){ 3, 0 };
		int s2 = select(1501, (fd_set *)(void *)set, NULL, NULL, &z);
		CHECK("select-past-1023", hi == 1500 && s1 == 0 && s2 == 1 && (set[w] & bit),
		      "dup2 %d select %d then %d", hi, s1, s2);
		recv(x, b, 1, 0);
		close(hi);
	}
	/* ioctls: no urgent mark, nothing unsent, a listener has no queues; shutdown's `how` */
	int mark = -1, nsd = -1, lq = 0;
	int m1 = ioctl(x, SIOCATMARK, &mark), m2 = ioctl(x, SIOCOUTQNSD, &nsd);
	int m3 = ioctl(lfd, FIONREAD, &lq), m3e = errno;
	int sh = shutdown(x, 5), she = errno;
	CHECK("ioctl-and-shutdown-args",
	      m1 == 0 && mark == 0 && m2 == 0 && nsd == 0 && m3 == -1 && m3e == EINVAL && sh == -1 &&
		      she == EINVAL,
	      "atmark %d/%d outqnsd %d/%d listener fionread %d/%d shutdown %d/%d", m1, mark, m2, nsd,
	      m3, m3e, sh, she);
	/* a forked child blocked in read() ends in a signal handler (_exit: sshd's LoginGraceTime)
	 * after its parent closed its copy: the connection closes (the wait's own reference was
	 * left behind, and the peer never saw an end of file) */
	{
		int x2, y2 = pair(&x2, 0);
		pid_t p = fork();
		if (p == 0) {
			struct sigaction sa;
			memset(&sa, 0, sizeof sa);
			sa.sa_handler = exit_on_alarm;
			sigaction(SIGALRM, &sa, NULL);
			alarm(1);
			char z;
			(void)!read(x2, &z, 1);
			_exit(3);
		}
		close(x2);
		int eof = wait_in(y2, 5000) > 0 && recv(y2, b, 1, 0) == 0;
		int st = 0;
		waitpid(p, &st, 0);
		CHECK("exit-while-blocked", eof && WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "peer saw the end %d, child status %#x", eof, st);
		close(y2);
	}
	/* O_NONBLOCK belongs to the socket (its open file description): set through a dup, or in
	 * a forked child, every descriptor sees it (it was per descriptor: the original stayed
	 * blocking) */
	{
		int x3, y3 = pair(&x3, 0);
		int d = dup(x3);
		fcntl(d, F_SETFL, O_NONBLOCK);
		int f1 = fcntl(x3, F_GETFL) & O_NONBLOCK;
		fcntl(x3, F_SETFL, 0);
		int f2 = fcntl(d, F_GETFL) & O_NONBLOCK;
		pid_t p = fork();
		if (p == 0) {
			fcntl(x3, F_SETFL, O_NONBLOCK);
			_exit(0);
		}
		waitpid(p, NULL, 0);
		int f3 = fcntl(d, F_GETFL) & O_NONBLOCK;
		ssize_t r = recv(x3, b, 1, 0);
		int re = errno;
		CHECK("nonblock-shared", f1 && !f2 && f3 && r == -1 && re == EAGAIN,
		      "via dup %d, cleared %d, via child %d, recv %zd", f1, f2, f3, r);
		close(d);
		close(x3);
		close(y3);
	}
	/* bad arguments as the kernel refuses them (it answered as if all was well) */
	{
		struct sockaddr_in o;
		socklen_t bad = (socklen_t)-1, ol = sizeof o;
		int a1 = accept4(lfd, (struct sockaddr *)&o, &ol, O_APPEND), a1e = errno;
		int g1 = getsockname(x, NULL, &ol), g1e = errno;
		int g2 = getsockname(x, (struct sockaddr *)&o, &bad), g2e = errno;
		int u = socket(AF_INET, SOCK_STREAM, 0);
		int c1 = connect(u, (struct sockaddr *)&o, 1), c1e = errno;
		close(u);
		CHECK("bad-arguments",
		      a1 == -1 && a1e == EINVAL && g1 == -1 && g1e == EFAULT && g2 == -1 &&
			      g2e == EINVAL && c1 == -1 && c1e == EINVAL,
		      "accept4 %d/%d getsockname %d/%d %d/%d connect %d/%d", a1, a1e, g1, g1e, g2, g2e,
		      c1, c1e);
	}
	/* an address of the other family: refused before anything else, the socket stays as it
	 * was (connected to "::", an AF_INET socket became a kernel one: its bind then failed) */
	{
		int s4 = socket(AF_INET, SOCK_STREAM, 0), s6 = socket(AF_INET6, SOCK_STREAM, 0);
		struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_port = htons(7) };
		int c1 = connect(s4, (struct sockaddr *)&any6, sizeof any6), c1e = errno;
		struct sockaddr_in me = sa;
		me.sin_port = 0;
		int b1 = bind(s4, (struct sockaddr *)&me, sizeof me);
		int b2 = bind(s6, (struct sockaddr *)&me, sizeof me), b2e = errno;
		CHECK("wrong-family",
		      c1 == -1 && c1e == EAFNOSUPPORT && b1 == 0 && b2 == -1 && b2e == EINVAL,
		      "connect %d/%d bind %d, v6 bind %d/%d", c1, c1e, b1, b2, b2e);
		close(s4);
		close(s6);
	}
	/* AF_UNSPEC with the any address is AF_INET's to bind (Linux; httperf --hog binds so and
	 * retried forever on EAFNOSUPPORT), any other address is not */
	{
		int s4 = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in u = { .sin_family = AF_UNSPEC };
		int b1 = bind(s4, (struct sockaddr *)&u, sizeof u);
		close(s4);
		s4 = socket(AF_INET, SOCK_STREAM, 0);
		u.sin_addr = sa.sin_addr;
		int b2 = bind(s4, (struct sockaddr *)&u, sizeof u), b2e = errno;
		close(s4);
		CHECK("bind-unspec", b1 == 0 && b2 == -1 && b2e == EAFNOSUPPORT, "bind %d, %d/%d", b1,
		      b2, b2e);
	}
	/* a datagram of many iovecs arrives whole, and the next one too (past 65 iovecs the
	 * record's framing broke: later payload bytes were read as headers, destinations
	 * included); more than IOV_MAX: EMSGSIZE (sendmsg), EINVAL (writev) */
	{
		int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in me = sa;
		me.sin_port = 0;
		socklen_t ml = sizeof me;
		bind(r, (struct sockaddr *)&me, sizeof me);
		getsockname(r, (struct sockaddr *)&me, &ml);
		static struct iovec v[1100];
		static char bytes[1100];
		for (int i = 0; i < 1100; i++) {
			bytes[i] = (char)('a' + i % 26);
			v[i] = (struct iovec){ &bytes[i], 1 };
		}
		struct msghdr m = { .msg_name = &me, .msg_namelen = sizeof me, .msg_iov = v,
				    .msg_iovlen = 100 };
		ssize_t s1 = sendmsg(s, &m, 0);
		ssize_t s2 = sendto(s, "next", 4, 0, (struct sockaddr *)&me, sizeof me);
		m.msg_iovlen = 1025;
		ssize_t s3 = sendmsg(s, &m, 0);
		int s3e = errno;
		connect(s, (struct sockaddr *)&me, sizeof me);
		ssize_t s4 = writev(s, v, 1025);
		int s4e = errno;
		char got[200];
		struct timeval to = { 3, 0 };
		setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &to, sizeof to);
		ssize_t g1 = recv(r, got, sizeof got, 0);
		int same = g1 == 100 && memcmp(got, bytes, 100) == 0;
		ssize_t g2 = recv(r, got, sizeof got, 0);
		CHECK("udp-many-iovecs",
		      s1 == 100 && s2 == 4 && same && g2 == 4 && memcmp(got, "next", 4) == 0 &&
			      s3 == -1 && s3e == EMSGSIZE && s4 == -1 && s4e == EINVAL,
		      "sent %zd %zd got %zd (same %d) %zd; 1025 iovecs: sendmsg %zd/%d writev %zd/%d", s1,
		      s2, g1, same, g2, s3, s3e, s4, s4e);
		close(r);
		close(s);
	}
	/* a listener is not a connection: recv ENOTCONN at once, send EPIPE (they waited for
	 * ever, and "sent"); a read of nothing is 0 at once (it waited) */
	{
		int l2 = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in me = sa;
		me.sin_port = 0;
		bind(l2, (struct sockaddr *)&me, sizeof me);
		listen(l2, 1);
		alarm(10);
		ssize_t r1 = recv(l2, b, 1, 0);
		int r1e = errno;
		ssize_t w1 = send(l2, "x", 1, MSG_NOSIGNAL);
		int w1e = errno;
		ssize_t z = read(y, b, 0);
		alarm(0);
		CHECK("listener-not-connected",
		      r1 == -1 && r1e == ENOTCONN && w1 == -1 && w1e == EPIPE && z == 0,
		      "recv %zd/%d send %zd/%d read(0) %zd", r1, r1e, w1, w1e, z);
		close(l2);
	}
	/* epoll_pwait2 (glibc 2.35+, systemd): the program's data, level-triggered (the shim's
	 * marker came back, then nothing) */
	{
		int ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
		epoll_ctl(ep, EPOLL_CTL_ADD, x, &ev);
		send(y, "p", 1, 0);
		struct timespec ts = { 2, 0 };
		int ok = 1;
		for (int i = 0; i < 3; i++) {
			struct epoll_event out = { 0 };
			int n = epoll_pwait2(ep, &out, 1, &ts, NULL);
			ok = ok && n == 1 && out.data.u64 == 42;
		}
		ssize_t n = recv(x, b, 1, 0);
		CHECK("epoll-pwait2", ok && n == 1, "three waits %d", ok);
		close(ep);
	}
	/* Java stops a thread blocked on a socket with dup2 over its fd (or close) and a signal
	 * without SA_RESTART: the call fails with EINTR (it went on waiting for good) */
	{
		long long m1, m2, m3;
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		int e1 = blocked_then_unblocked(u, 0, 0, &m1);
		close(u);
		u = socket(AF_INET, SOCK_DGRAM, 0);
		int e2 = blocked_then_unblocked(u, 1, 0, &m2);
		int l2 = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in me = sa;
		me.sin_port = 0;
		bind(l2, (struct sockaddr *)&me, sizeof me);
		listen(l2, 1);
		int e3 = blocked_then_unblocked(l2, 0, 1, &m3);
		close(l2);
		CHECK("eintr-after-dup2",
		      e1 == EINTR && e2 == EINTR && e3 == EINTR && m1 < 3000 && m2 < 3000 && m3 < 3000,
		      "recvfrom %d in %lld ms, after close %d in %lld ms, accept %d in %lld ms", e1, m1,
		      e2, m2, e3, m3);
	}
	/* freopen of stderr while it is a socket (git daemon --inetd frees its stderr so): glibc's
	 * freopen of the shim's cookie stream died of SIGSEGV */
	{
		int saved = dup(2), a2 = -1, c2 = pair(&a2, 0);
		dup2(c2, 2);
		FILE *r = freopen("/dev/null", "w", stderr);
		int ok = r != NULL && fprintf(stderr, "to /dev/null\n") > 0 && fflush(stderr) == 0;
		dup2(saved, 2);
		close(saved);
		send(c2, "s", 1, 0);
		ssize_t n = recv(a2, b, sizeof b, 0); /* the socket only: nothing of stderr's */
		CHECK("freopen-std", ok && n == 1 && b[0] == 's', "freopen %p, then %zd", (void *)r, n);
		close(a2);
		close(c2);
	}
	/* getifaddrs lists the address this program has (named, ntpd and node's
	 * os.networkInterfaces pick addresses to bind from it; the kernel's interfaces there have
	 * none of Joyride's), and freeifaddrs takes the list back */
	{
		struct ifaddrs *l = NULL;
		int r = getifaddrs(&l), found = 0;
		for (struct ifaddrs *i = l; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && i->ifa_netmask &&
			    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == sa.sin_addr.s_addr)
				found = 1;
		if (r == 0)
			freeifaddrs(l);
		CHECK("getifaddrs-lists-address", r == 0 && found, "getifaddrs %d, found %d", r, found);
	}
	close(x);
	close(y);
}

/* Reads exactly `n` bytes from `fd` (within ~3 s); the count read. */
static ssize_t read_n(int fd, char *b, size_t n)
{
	size_t got = 0;
	while (got < n && wait_in(fd, 3000) > 0) {
		ssize_t m = recv(fd, b + got, n - got, 0);
		if (m <= 0)
			break;
		got += (size_t)m;
	}
	return (ssize_t)got;
}

static int spawn_checks(const char *self)
{
	int a, c = pair(&a, 0); /* c: inheritable (no close-on-exec) */
	char cmd[512], b[64];
	/* system(): the shell's child uses the socket */
	snprintf(cmd, sizeof cmd, "%s child %d via-system", self, c);
	int st = system(cmd);
	ssize_t n = read_n(a, b, 10);
	CHECK("system", st == 0 && n == 10 && memcmp(b, "via-system", 10) == 0, "status %#x got %zd",
	      st, n);
	/* popen(): the same, and its stream works */
	snprintf(cmd, sizeof cmd, "%s child %d via-popen && echo done", self, c);
	FILE *f = popen(cmd, "r");
	char line[32] = "";
	if (f && !fgets(line, sizeof line, f))
		line[0] = 0;
	st = f ? pclose(f) : -1;
	n = read_n(a, b, 9);
	CHECK("popen", st == 0 && strcmp(line, "done\n") == 0 && n == 9 &&
			      memcmp(b, "via-popen", 9) == 0,
	      "status %#x line '%s' got %zd", st, line, n);
	/* posix_spawn with the socket moved to the child's fd 0 */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, c, 0);
	char *args[] = { (char *)self, "child", "0", "via-spawn0", NULL };
	pid_t pid;
	int rc = posix_spawn(&pid, self, &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	st = -1;
	if (rc == 0)
		waitpid(pid, &st, 0);
	n = read_n(a, b, 10);
	CHECK("posix_spawn-dup2", rc == 0 && st == 0 && n == 10 && memcmp(b, "via-spawn0", 10) == 0,
	      "rc %d status %#x got %zd", rc, st, n);
	/* stdio over a socket: fdopen, fprintf + fflush, fgets, fileno, fclose */
	int wfd = dup(c), rfd = dup(a);
	FILE *w = fdopen(wfd, "w"), *r = fdopen(rfd, "r");
	int fw = w ? fileno(w) : -2;
	int pr = w ? fprintf(w, "stdio %d\n", 42) : -1;
	int fl = w ? fflush(w) : -1;
	char got[32] = "";
	if (r && !fgets(got, sizeof got, r))
		got[0] = 0;
	int cl = (w ? fclose(w) : -1) | (r ? fclose(r) : -1);
	CHECK("stdio-fdopen", fw == wfd && pr == 9 && fl == 0 && strcmp(got, "stdio 42\n") == 0 &&
				      cl == 0,
	      "fileno %d/%d printf %d flush %d got '%s' close %d", fw, wfd, pr, fl, got, cl);
	/* the parent's socket still works after its children exited */
	send(c, "parent", 6, 0);
	n = read_n(a, b, 6);
	CHECK("parent-after-children", n == 6 && memcmp(b, "parent", 6) == 0, "got %zd", n);
	close(a);
	close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "child") == 0) {
		int fd = atoi(argv[2]);
		size_t len = strlen(argv[3]);
		struct sockaddr_in me;
		socklen_t ml = sizeof me;
		if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
		    send(fd, argv[3], len, 0) != (ssize_t)len)
			return 1;
		return 0;
	}
	if (argc != 3 && argc != 4)
		return 2;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 16) < 0) {
		perror("listen");
		return 1;
	}
	if (argc == 4)
		return spawn_checks(argv[0]);
	CHECK("sock-cloexec", fcntl(lfd, F_GETFD) == FD_CLOEXEC, "F_GETFD %d",
	      fcntl(lfd, F_GETFD));

	/* accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC */
	int a, c = pair(&a, SOCK_NONBLOCK | SOCK_CLOEXEC);
	char b[64];
	ssize_t n = c < 0 ? -1 : recv(a, b, sizeof b, 0);
	int e = errno;
	CHECK("accept4-flags",
	      c >= 0 && (fcntl(a, F_GETFL) & O_NONBLOCK) && fcntl(a, F_GETFD) == FD_CLOEXEC &&
		      n == -1 && e == EAGAIN,
	      "fl %#x fd %#x recv %zd/%d", fcntl(a, F_GETFL), fcntl(a, F_GETFD), n, e);

	/* epoll EPOLLET | EPOLLONESHOT: one report, none after more data, again after MOD */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET | EPOLLONESHOT, .data.u64 = 42 };
	epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
	struct epoll_event out[4];
	send(c, "x", 1, 0);
	int k1 = epoll_wait(ep, out, 4, 3000);
	uint64_t d1 = k1 == 1 ? out[0].data.u64 : 0;
	send(c, "y", 1, 0);
	int k2 = epoll_wait(ep, out, 4, 300);
	ev.events = EPOLLIN | EPOLLET | EPOLLONESHOT;
	epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev);
	int k3 = epoll_wait(ep, out, 4, 3000);
	n = recv(a, b, sizeof b, 0); /* both bytes, maybe in two reads */
	if (n == 1 && wait_in(a, 2000) > 0)
		n += recv(a, b + 1, sizeof b - 1, 0);
	CHECK("epoll-et-oneshot", k1 == 1 && d1 == 42 && k2 == 0 && k3 == 1 && n == 2,
	      "waits %d %d %d data %llu read %zd", k1, k2, k3, (unsigned long long)d1, n);

	/* EPOLLRDHUP after the peer's shutdown(SHUT_WR) */
	ev.events = EPOLLIN | EPOLLRDHUP;
	epoll_ctl(ep, EPOLL_CTL_MOD, a, &ev);
	shutdown(c, SHUT_WR);
	int k4 = 0;
	uint32_t got = 0;
	for (int i = 0; i < 30 && !(got & EPOLLRDHUP); i++) {
		k4 = epoll_wait(ep, out, 4, 200);
		got = k4 == 1 ? out[0].events : 0;
	}
	CHECK("epoll-rdhup", (got & (EPOLLIN | EPOLLRDHUP)) == (EPOLLIN | EPOLLRDHUP) &&
				     !(got & EPOLLHUP),
	      "events %#x", got);
	close(ep);
	close(a);
	close(c);

	/* EPOLLEXCLUSIVE: accepted on ADD, EINVAL on MOD (Linux) */
	ep = epoll_create1(0);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	int r1 = epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	int r2 = epoll_ctl(ep, EPOLL_CTL_MOD, lfd, &ev);
	int e2 = errno;
	c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&sa, sizeof sa);
	int k5 = epoll_wait(ep, out, 4, 3000);
	a = accept(lfd, NULL, NULL);
	CHECK("epoll-exclusive", r1 == 0 && r2 == -1 && e2 == EINVAL && k5 == 1 && a >= 0,
	      "add %d mod %d/%d wait %d accept %d", r1, r2, e2, k5, a);
	close(ep);

	/* A socket added through a dup of the epoll fd is reported by a wait on the original (mio,
	 * tokio: one epoll instance, two descriptors); closing the original leaves the dup's. */
	{
		int x, y = pair(&x, 0);
		int e1 = epoll_create1(EPOLL_CLOEXEC), ed = fcntl(e1, F_DUPFD_CLOEXEC, 0);
		struct epoll_event de = { .events = EPOLLIN, .data.u64 = 0x1234567890ULL };
		int ra = epoll_ctl(ed, EPOLL_CTL_ADD, x, &de);
		send(y, "d", 1, 0);
		int kd = epoll_wait(e1, out, 4, 3000);
		uint64_t dd = kd == 1 ? out[0].data.u64 : 0;
		close(e1);
		int kd2 = epoll_wait(ed, out, 4, 3000);
		uint64_t dd2 = kd2 == 1 ? out[0].data.u64 : 0;
		CHECK("epoll-dup", ra == 0 && kd == 1 && dd == 0x1234567890ULL && kd2 == 1 &&
					   dd2 == 0x1234567890ULL,
		      "add %d wait %d data %#llx, after close %d data %#llx", ra, kd,
		      (unsigned long long)dd, kd2, (unsigned long long)dd2);
		close(ed);
		/* A new epoll fd under a closed one's number starts empty (x is still readable). */
		int e4 = epoll_create1(0);
		de.data.u64 = 77;
		epoll_ctl(e4, EPOLL_CTL_ADD, x, &de);
		close(e4);
		int e5 = epoll_create1(0);
		if (e5 != e4) {
			dup2(e5, e4);
			close(e5);
		}
		int k6 = epoll_wait(e4, out, 4, 200);
		CHECK("epoll-reused-number", k6 == 0, "wait %d (data %#llx)", k6,
		      k6 > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
		close(e4);
		close(x);
		close(y);
	}
	/* A socket added to a set before its connect() to the loopback (nginx's upstreams): the
	 * kernel socket it becomes keeps the registration, and its number is free after close. */
	{
		int ep = epoll_create1(0), k[2] = { 0, 0 }, r[2] = { 0, 0 };
		uint32_t evs = 0;
		for (int i = 0; i < 2; i++) {
			int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
						  .data.u64 = 0xfeed };
			r[i] = epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
			struct sockaddr_in lo = { .sin_family = AF_INET, .sin_port = htons(1) };
			lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* tcpmux: refused */
			connect(s, (struct sockaddr *)&lo, sizeof lo);
			k[i] = epoll_wait(ep, out, 4, 3000);
			if (k[i] == 1 && out[0].data.u64 == 0xfeed)
				evs = out[0].events;
			close(s);
		}
		CHECK("epoll-before-loopback-connect",
		      r[0] == 0 && r[1] == 0 && k[0] == 1 && k[1] == 1 && (evs & EPOLLERR),
		      "add %d %d, waits %d %d, events %#x", r[0], r[1], k[0], k[1], evs);
		close(ep);
	}

	/* SO_LINGER 0: close sends a RST; the peer's recv says ECONNRESET */
	struct linger lg = { 1, 0 };
	setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(a);
	wait_in(c, 3000);
	n = recv(c, b, sizeof b, 0);
	e = errno;
	CHECK("linger0-rst", n == -1 && e == ECONNRESET, "recv %zd", n);

	/* SIGPIPE: default action kills a child writing to a reset connection */
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		for (int i = 0; i < 5; i++)
			send(c, "z", 1, 0);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	signal(SIGPIPE, SIG_IGN);
	n = send(c, "z", 1, 0);
	e = errno;
	ssize_t n2 = send(c, "z", 1, MSG_NOSIGNAL);
	int e3 = errno;
	CHECK("sigpipe", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE && n == -1 && e == EPIPE &&
				 n2 == -1 && e3 == EPIPE,
	      "child status %#x, send %zd/%d, nosignal %zd/%d", st, n, e, n2, e3);
	close(c);

	/* TCP_CORK and TCP_NODELAY read back; corked bytes arrive once uncorked */
	c = pair(&a, 0);
	int v = 1, rv = -1, nd = -1;
	socklen_t l = sizeof rv;
	setsockopt(c, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
	getsockopt(c, IPPROTO_TCP, TCP_CORK, &rv, &l);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
	l = sizeof nd;
	getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, &l);
	send(c, "cork", 4, 0);
	int held = wait_in(a, 100) == 0; /* a partial segment waits while corked */
	v = 0;
	setsockopt(c, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
	n = 0;
	for (int i = 0; i < 4 && n < 4 && wait_in(a, 3000) > 0; i++) {
		ssize_t m = recv(a, b + n, sizeof b - (size_t)n, 0);
		if (m <= 0)
			break;
		n += m;
	}
	/* Linux's ceiling: corked data leaves after 200 ms even if never uncorked */
	v = 1;
	setsockopt(c, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
	send(c, "late", 4, 0);
	int ceiling = wait_in(a, 2000) > 0 && recv(a, b + 4, 4, 0) == 4 && memcmp(b + 4, "late", 4) == 0;
	v = 0;
	setsockopt(c, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
	CHECK("tcp-cork",
	      rv == 1 && nd == 1 && held && n == 4 && memcmp(b, "cork", 4) == 0 && ceiling,
	      "cork %d nodelay %d held %d got %zd ceiling %d", rv, nd, held, n, ceiling);

	/* FIONREAD counts what waits; MSG_TRUNC-less recv takes it */
	send(c, "0123456789", 10, 0);
	int q = 0;
	for (int i = 0; i < 50 && q < 10; i++) {
		ioctl(a, FIONREAD, &q);
		if (q < 10)
			usleep(20000);
	}
	CHECK("fionread", q == 10, "FIONREAD %d", q);
	recv(a, b, sizeof b, 0);

	/* dup2 of a kernel fd over a Joyride socket: the number is the kernel's now, and the
	 * connection is closed (the peer sees EOF) */
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	int dr = dup2(pfd[0], a);
	(void)!write(pfd[1], "p", 1);
	n = read(a, b, 1);
	int eof = wait_in(c, 3000) > 0 && recv(c, b + 1, 1, 0) == 0;
	CHECK("dup2-kernel-over-socket", dr == a && n == 1 && b[0] == 'p' && eof,
	      "dup2 %d read %zd eof %d", dr, n, eof);

	/* close_range releases a Joyride socket: the peer sees the close */
	{
		int x, y = pair(&x, 0);
		int cr = y < 0 ? -2 : close_range((unsigned int)x, (unsigned int)x, 0);
		char z;
		int closed = y >= 0 && wait_in(y, 3000) > 0 && recv(y, &z, 1, 0) == 0;
		CHECK("close-range", cr == 0 && closed, "close_range %d peer saw the close %d", cr,
		      closed);
		if (y >= 0)
			close(y);
	}
	thread_and_flag_checks();
	handler_checks();
	close(a);
	close(c);
	close(pfd[0]);
	close(pfd[1]);
	close(lfd);

	/* closefrom(3) (a daemon closing everything): the shim's own descriptors survive it, and
	 * new sockets work after it */
	closefrom(3);
	poll(NULL, 0, 1000); /* were the registration's descriptors closed, naming revokes the app */
	/* another port: the old one has connections in TIME-WAIT */
	sa.sin_port = htons((uint16_t)(ntohs(sa.sin_port) + 5));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	int lr = bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 ? listen(lfd, 4) : -1;
	int x2 = -1, y2 = lr == 0 ? pair(&x2, 0) : -1;
	n = y2 >= 0 ? send(y2, "q", 1, 0) : -1;
	n = n == 1 ? read_n(x2, b, 1) : -1;
	CHECK("closefrom-keeps-shim", lfd >= 0 && lr == 0 && y2 >= 0 && n == 1 && b[0] == 'q',
	      "socket %d listen %d connect %d read %zd", lfd, lr, y2, n);

	/* the same with close() on every fd from 3 up (danted and many daemons): the shim's
	 * descriptors are not the program's to close; a file opened on a number they had gets
	 * nothing the program did not write */
	for (int fd = 3; fd < 4096; fd++)
		close(fd);
	poll(NULL, 0, 1000);
	FILE *tf = tmpfile();
	sa.sin_port = htons((uint16_t)(ntohs(sa.sin_port) + 1));
	long long t0 = now_ms();
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	lr = bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 ? listen(lfd, 4) : -1;
	x2 = -1;
	y2 = lr == 0 ? pair(&x2, 0) : -1;
	n = y2 >= 0 ? send(y2, "z", 1, 0) : -1;
	n = n == 1 ? read_n(x2, b, 1) : -1;
	long long took = now_ms() - t0;
	long fsz = tf && fseek(tf, 0, SEEK_END) == 0 ? ftell(tf) : -1;
	CHECK("close-loop-keeps-shim",
	      lr == 0 && y2 >= 0 && n == 1 && b[0] == 'z' && took < 3000 && fsz == 0,
	      "listen %d connect %d read %zd in %lld ms, file %ld bytes", lr, y2, n, took, fsz);
	return 0;
}
