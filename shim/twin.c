/*
 * twin.c — the same host through the kernel's loopback (issue 5). Joyride's stack has no
 * loopback device: a socket's kernel "twin", bound on lo to the same port and kept at a high
 * fd, carries what Linux sends over lo. A listener bound to the any address gets one, and
 * accept() takes from both; a datagram socket gets one when bound to the any address with a
 * port (a local client reaches the server at 127.0.0.1) or when it first sends to a loopback or
 * unspecified address (Linux sends 0.0.0.0 and :: to the loopback), and its receives take from
 * both. poll/select/epoll, dup, fork and exec carry the twin with the socket (j->lo).
 */
#include "shim.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>

/* A kernel socket of `type` on the loopback device and port `port` (0: any), the any address
 * of `j`'s family (all of 127/8, ::1 and, for a dual-stack socket, IPv4 too, and never another
 * host), at a high fd; -1 when none can be made (the port taken on lo). Binding to a device
 * needs CAP_NET_RAW: without it, or when the any address on lo is taken (another program's
 * loopback listener), the loopback address alone. */
static int lo_socket(const jfd *j, int type, uint16_t port)
{
	int k = REAL(socket)(j->domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k < 0)
		return -1;
	optlog_apply(fd_of(j), k); /* the program's own first (SO_REUSEADDR/REUSEPORT, NODELAY…) */
	if (type == SOCK_STREAM) {
		int one = 1;
		REAL(setsockopt)(k, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	}
	if (j->domain == AF_INET6) {
		int v6only = j->v6only;
		REAL(setsockopt)(k, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	}
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr *a = j->domain == AF_INET6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
	socklen_t len = j->domain == AF_INET6 ? sizeof a6 : sizeof a4;
	int bound = 0;
	if (REAL(setsockopt)(k, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) == 0) {
		bound = REAL(bind)(k, a, len) == 0;
		if (!bound)
			REAL(setsockopt)(k, SOL_SOCKET, SO_BINDTODEVICE, "", 0);
	}
	if (!bound) {
		a6.sin6_addr = in6addr_loopback;
		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bound = REAL(bind)(k, a, len) == 0;
	}
	if (!bound) {
		REAL(close)(k);
		return -1;
	}
	int hi = REAL(fcntl)(k, F_DUPFD_CLOEXEC, 900);
	if (hi >= 0) {
		REAL(close)(k);
		k = hi;
	}
	return k;
}

/* Which fds are twins: a program's own close() and close_range() leave them alone. */
static uint8_t twin_fds[MAX_FDS];

void twin_set(jfd *j, int k)
{
	j->lo = k >= 0 ? k + 1 : 0;
	if (k >= 0 && k < MAX_FDS)
		__atomic_store_n(&twin_fds[k], 1, __ATOMIC_RELAXED);
}

int is_twin_fd(int fd)
{
	return fd >= 0 && fd < MAX_FDS && __atomic_load_n(&twin_fds[fd], __ATOMIC_RELAXED);
}

void twin_away(int nfd)
{
	if (!is_twin_fd(nfd))
		return;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!fdt[fd].used || fdt[fd].lo != nfd + 1)
			continue;
		int k = REAL(fcntl)(nfd, F_DUPFD_CLOEXEC, nfd + 1);
		if (k < 0)
			return;
		__atomic_store_n(&twin_fds[nfd], 0, __ATOMIC_RELAXED);
		twin_set(&fdt[fd], k);
		return;
	}
}

void twin_listen(jfd *j, int backlog)
{
	if (!j->any || !j->port || j->lo)
		return;
	int k = lo_socket(j, SOCK_STREAM, j->port);
	if (k < 0)
		return;
	if (REAL(listen)(k, backlog) != 0) {
		REAL(close)(k);
		return;
	}
	twin_set(j, k);
}

/* The receive options a datagram twin needs for recvmsg's control data (jfd.rx_opts). */
void twin_rx_opts(const jfd *j)
{
	if (!j->lo || j->type != SOCK_DGRAM)
		return;
	int k = j->lo - 1;
	int v = (j->rx_opts & RX_TIMESTAMP) != 0;
	REAL(setsockopt)(k, SOL_SOCKET, SO_TIMESTAMP, &v, sizeof v);
	v = (j->rx_opts & RX_TIMESTAMPNS) != 0;
	REAL(setsockopt)(k, SOL_SOCKET, SO_TIMESTAMPNS, &v, sizeof v);
	if (j->domain == AF_INET) {
		v = (j->rx_opts & RX_PKTINFO) != 0;
		REAL(setsockopt)(k, IPPROTO_IP, IP_PKTINFO, &v, sizeof v);
		v = (j->rx_opts & RX_TTL) != 0;
		REAL(setsockopt)(k, IPPROTO_IP, IP_RECVTTL, &v, sizeof v);
	} else {
		v = (j->rx_opts & RX_PKTINFO6) != 0;
		REAL(setsockopt)(k, IPPROTO_IPV6, IPV6_RECVPKTINFO, &v, sizeof v);
		v = (j->rx_opts & RX_HOPLIMIT) != 0;
		REAL(setsockopt)(k, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &v, sizeof v);
	}
}

int twin_dgram(jfd *j, int any_port)
{
	if (j->lo)
		return j->lo - 1;
	int k = lo_socket(j, SOCK_DGRAM, j->any ? j->port : 0);
	if (k < 0 && j->port && any_port)
		k = lo_socket(j, SOCK_DGRAM, 0); /* the port is a kernel program's on lo */
	if (k < 0)
		return -1;
	twin_set(j, k);
	twin_rx_opts(j);
	return k;
}

void twin_close(jfd *j)
{
	if (!j->lo)
		return;
	int k = j->lo - 1;
	j->lo = 0;
	if (k < MAX_FDS)
		__atomic_store_n(&twin_fds[k], 0, __ATOMIC_RELAXED);
	REAL(close)(k);
}

ssize_t twin_send(jfd *j, const struct iovec *iov, int cnt, int flags, const struct sockaddr *to,
		  socklen_t tolen)
{
	int k = twin_dgram(j, 1);
	if (k < 0)
		return -1;
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen,
			    .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };
	if (is_nonblock(j))
		flags |= MSG_DONTWAIT;
	return REAL(sendmsg)(k, &m, flags);
}

ssize_t twin_take(jfd *j, struct msghdr *m, int flags)
{
	if (!j->lo)
		return fail(EAGAIN);
	return REAL(recvmsg)(j->lo - 1, m, flags | MSG_DONTWAIT);
}

int twin_wait(jfd *j, int fd, int (*ready)(void *), void *arg, int64_t deadline)
{
	drain(fd);
	if (ready(arg))
		return 0;
	kick();
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { j->lo - 1, POLLIN, 0 } };
	int ms = 200; /* looks again now and then, as wait_word: a lost wake is not a hang */
	if (deadline) {
		int64_t left = deadline - now_ns();
		if (left <= 0)
			return EAGAIN;
		if (left < 200000000)
			ms = (int)(left / 1000000) + 1;
	}
	if (sig_interrupted(deadline != 0, 0))
		return EINTR;
	int intr = REAL(poll)(p, 2, ms) < 0 && errno == EINTR;
	if (sig_interrupted(deadline != 0, intr))
		return EINTR;
	return 0;
}
