/*
 * socket.c — a Joyride socket's life before and around its data: socket() (a placeholder
 * eventfd, the server's socket), bind/listen/accept/accept4/connect/shutdown, loopback
 * addresses sent to the kernel (the same fd turned into a kernel socket), and the kernel
 * loopback twin of a listener on the any address.
 */
#include "shim.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>

static int new_placeholder(int cloexec)
{
	return eventfd(0, EFD_NONBLOCK | (cloexec ? EFD_CLOEXEC : 0));
}

int is_nonblock(const jfd *j)
{
	return (ld(slot32(j->id, SLOT_OFF_FLAGS)) & SLOT_FLAG_NONBLOCK) != 0;
}

/* O_NONBLOCK for every fd and process holding the socket: dup'd and inherited descriptors
 * share it, as they share an open file description (a dup's fcntl left the original
 * blocking, and a child's was not seen by its parent). */
void set_nonblock(const jfd *j, int on)
{
	uint32_t *w = slot32(j->id, SLOT_OFF_FLAGS);
	if (on)
		__atomic_fetch_or(w, SLOT_FLAG_NONBLOCK, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(w, ~SLOT_FLAG_NONBLOCK, __ATOMIC_SEQ_CST);
}

void bind_fd(int fd, uint32_t id, int nonblock, int type, int domain)
{
	fdt[fd].id = id;
	set_nonblock(&fdt[fd], nonblock);
	fdt[fd].type = (uint8_t)type;
	fdt[fd].domain = (uint8_t)domain;
	fdt[fd].listening = 0;
	fdt[fd].any = 0;
	fdt[fd].idle = 0;
	fdt[fd].shut_wr = 0;
	fdt[fd].rx_opts = 0;
	fdt[fd].named = 0;
	fdt[fd].v6only = 0;
	fdt[fd].connected = 0;
	fdt[fd].port = 0;
	fdt[fd].lo = 0;
	fdt[fd].rcvtimeo = fdt[fd].sndtimeo = 0;
	optlog_drop(fd);
	__atomic_store_n(&fdt[fd].used, 1, __ATOMIC_SEQ_CST);
	holder_count(id, 1);
}

EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	int stream = base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);
	int dgram = base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP);
	if ((domain != AF_INET && domain != AF_INET6) || (!stream && !dgram))
		return REAL(socket)(domain, type, protocol);
	int on = joyride_on();
	if (on == 0)
		return REAL(socket)(domain, type, protocol);
	if (on < 0)
		return fail(EACCES);
	int efd = new_placeholder(type & SOCK_CLOEXEC);
	if (efd < 0)
		return -1;
	if (efd >= MAX_FDS) {
		REAL(close)(efd);
		return fail(EMFILE);
	}
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_SOCKET;
	c.call.socket.family = domain == AF_INET ? JR_ADDRESS_FAMILY_INET : JR_ADDRESS_FAMILY_INET6;
	c.call.socket.type = dgram ? JR_SOCKET_TYPE_DGRAM : JR_SOCKET_TYPE_STREAM;
	c.call.socket.protocol = protocol;
	c.call.socket.non_blocking = (type & SOCK_NONBLOCK) != 0;
	c.placeholder_fd = efd;
	jr_SocketReply r;
	int e = jcall(&c, &r);
	if (e < 0 || r.errno_ != 0) {
		REAL(close)(efd);
		return fail(e < 0 ? -e : r.errno_);
	}
	bind_fd(efd, r.result.socket.socket_id, type & SOCK_NONBLOCK, base, domain);
	fdt[efd].idle = 1;
	return efd;
}

static void learn_port(int fd, jfd *j);

/* Turns Joyride socket `fd` into a kernel socket (same fd number): for loopback addresses. */
static int to_kernel(int fd, jfd *j)
{
	int ks = REAL(socket)(j->domain, j->type | (is_nonblock(j) ? SOCK_NONBLOCK : 0), 0);
	if (ks < 0)
		return -1;
	/* What the program set on it and the port it bound stay the socket's (optlog.c): a client's
	 * TCP_NODELAY before connecting to 127.0.0.1 was lost (pika: 44 ms a request), and a bind
	 * to 0.0.0.0:P then connect to 127.0.0.1 left from another port. */
	optlog_apply(fd, ks);
	if (j->named && j->any && !j->port)
		learn_port(fd, j); /* bound to port 0: the port the server chose */
	if (j->any && j->port) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(j->port) };
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(j->port) };
		if (j->domain == AF_INET6)
			REAL(bind)(ks, (struct sockaddr *)&a6, sizeof a6);
		else
			REAL(bind)(ks, (struct sockaddr *)&a4, sizeof a4);
	}
	uint32_t id = j->id;
	int cloexec = REAL(fcntl)(fd, F_GETFD) & FD_CLOEXEC;
	twin_close(j); /* the kernel socket has the loopback itself */
	/* The app's epoll registrations move with the descriptor (nginx adds an upstream socket
	 * to its set before connect()): the kernel drops the placeholder's entries, the kernel
	 * socket would be in no set, and the shim's stale entry made a later ADD fail EEXIST. */
	ep_moved mv[16];
	int nm = ep_detach(fd, mv, 16);
	__atomic_store_n(&j->used, 0, __ATOMIC_SEQ_CST);
	if (REAL(dup3)(ks, fd, cloexec ? O_CLOEXEC : 0) < 0) {
		int e = errno;
		REAL(close)(ks);
		j->used = 1;
		for (int i = 0; i < nm; i++)
			epoll_ctl(mv[i].epfd, EPOLL_CTL_ADD, fd, &mv[i].ev);
		errno = e;
		return -1;
	}
	REAL(close)(ks);
	optlog_drop(fd);
	ep_attach_kernel(fd, mv, nm);
	holder_count(id, -1);
	unref(id);
	return 0;
}

/* What the loopback twin needs of a socket's name: its port, and whether it is the any
 * address. */
static void note_name(jfd *j, const jr_SockAddr *a)
{
	j->port = a->port;
	j->any = 1;
	for (uint32_t i = 0; i < a->addr.len; i++)
		if (a->addr.ptr[i])
			j->any = 0;
}

/* The name the server gave socket `fd` (bound to port 0), noted as note_name does. */
static void learn_port(int fd, jfd *j)
{
	struct sockaddr_storage st;
	socklen_t sl = sizeof st;
	jr_SockAddr a;
	if (getsockname(fd, (struct sockaddr *)&st, &sl) == 0 &&
	    to_addr((struct sockaddr *)&st, sl, &a) == 0)
		note_name(j, &a);
}

/* An address of the other family, checked before anything looks at it (the loopback test
 * turned an AF_INET socket connected to "::" into a kernel socket that then failed): Linux's
 * answers, EINVAL for an IPv6 socket given less than an IPv6 address, EAFNOSUPPORT for an
 * IPv4 socket given an IPv6 one. */
static int wrong_family(const jfd *j, const struct sockaddr *a, socklen_t len)
{
	if (!a || (j->domain != AF_INET6 && j->domain != AF_INET))
		return 0;
	if (j->domain == AF_INET6 && len < 24) /* SIN6_LEN_RFC2133 */
		return EINVAL;
	if (j->domain == AF_INET && len >= sizeof(sa_family_t) && a->sa_family == AF_INET6)
		return EAFNOSUPPORT;
	return 0;
}

EXPORT int bind(int fd, const struct sockaddr *a, socklen_t len)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(bind)(fd, a, len);
	int wf = wrong_family(j, a, len);
	if (wf)
		return fail(wf);
	struct sockaddr_in any4;
	if (j->domain == AF_INET && a && len >= sizeof any4 && a->sa_family == AF_UNSPEC) {
		/* Linux takes AF_UNSPEC for AF_INET with the any address only (httperf --hog
		 * binds so, and retried forever on EAFNOSUPPORT) */
		memcpy(&any4, a, sizeof any4);
		if (any4.sin_addr.s_addr != htonl(INADDR_ANY))
			return fail(EAFNOSUPPORT);
		any4.sin_family = AF_INET;
		a = (const struct sockaddr *)&any4;
		len = sizeof any4;
	}
	if (a && is_loopback(a, len)) {
		if (to_kernel(fd, j) < 0)
			return -1;
		return REAL(bind)(fd, a, len);
	}
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_BIND;
	c.call.has_bind = 1;
	int e = to_addr(a, len, &c.call.bind);
	if (e)
		return fail(e);
	e = simple_call(&c, j->id);
	if (e)
		return fail(e);
	note_name(j, &c.call.bind);
	j->named = 1;
	if (j->type == SOCK_DGRAM && j->any) {
		if (!j->port)
			learn_port(fd, j); /* the port the server chose */
		twin_dgram(j, 0); /* a local client reaches the server at 127.0.0.1 (twin.c) */
	}
	return 0;
}

EXPORT int listen(int fd, int backlog)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(listen)(fd, backlog);
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_LISTEN;
	c.call.listen = backlog <= 0 ? 128 : backlog;
	int e = simple_call(&c, j->id);
	if (e)
		return fail(e);
	j->listening = 1;
	/* Bound to port 0, or not bound (listen binds the any address): the twin needs the port
	 * the server chose. */
	if (!j->port)
		learn_port(fd, j);
	twin_listen(j, c.call.listen);
	return 0;
}

/* A listener `*(uint32_t *)id` has a connection (or an error) to take. */
static int acceptable(void *id)
{
	return (events_of(*(uint32_t *)id) & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0;
}

EXPORT int accept4(int fd, struct sockaddr *a, socklen_t *len, int flags)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(accept4)(fd, a, len, flags);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return fail(EINVAL);
	int bad = bad_addr_out(a, len, 0);
	if (bad)
		return fail(bad);
	if (!j->listening)
		return fail(j->type == SOCK_DGRAM ? EOPNOTSUPP : EINVAL); /* Linux; not a wait */
	sig_begin();
	int64_t deadline = j->rcvtimeo ? now_ns() + j->rcvtimeo : INT64_MAX;
	for (;;) {
		if (j->lo) {
			int k = REAL(accept4)(j->lo - 1, a, len, flags);
			if (k >= 0)
				return k; /* a kernel loopback connection: a plain kernel socket */
		}
		if (!(events_of(j->id) & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
			if (is_nonblock(j))
				return fail(EAGAIN);
			if (j->lo) {
				/* Wait for either: the placeholder (server) or the loopback twin. */
				uint32_t id = j->id;
				int w = twin_wait(j, fd, acceptable, &id, j->rcvtimeo ? deadline : 0);
				if (w)
					return fail(w);
				continue;
			}
			int64_t left = deadline - now_ns();
			int w = left <= 0 ? ETIMEDOUT
					  : wait_events(j->id, EPOLLIN | EPOLLERR | EPOLLHUP,
							j->rcvtimeo ? left : -1);
			if (w == EINTR)
				return fail(EINTR);
			if (w == ETIMEDOUT)
				return fail(EAGAIN);
			continue;
		}
		int efd = new_placeholder(flags & SOCK_CLOEXEC);
		if (efd < 0)
			return -1;
		jr_SocketCall c;
		memset(&c, 0, sizeof c);
		c.call.which = JR_SOCKET_CALL_CALL_ACCEPT;
		c.call.accept = (flags & SOCK_NONBLOCK) != 0;
		c.socket_id = j->id;
		c.placeholder_fd = efd;
		jr_SocketReply r;
		int e = jcall(&c, &r);
		if (e < 0 || r.errno_ != 0) {
			REAL(close)(efd);
			e = e < 0 ? -e : r.errno_;
			if (e == EAGAIN && !is_nonblock(j))
				continue; /* someone else took it: wait again */
			return fail(e);
		}
		if (efd >= MAX_FDS) {
			REAL(close)(efd);
			return fail(EMFILE);
		}
		bind_fd(efd, r.result.accept.socket_id, flags & SOCK_NONBLOCK, j->type, j->domain);
		fdt[efd].connected = 1;
		if (r.result.accept.has_peer)
			from_addr(&r.result.accept.peer, a, len);
		return efd;
	}
}

EXPORT int accept(int fd, struct sockaddr *a, socklen_t *len)
{
	if (!J(fd))
		return REAL(accept)(fd, a, len);
	return accept4(fd, a, len, 0);
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t len)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(connect)(fd, a, len);
	/* Connected (a blocking connect that returned, or the first connect() after a
	 * non-blocking one completed, which returns 0 as on Linux): EISCONN, wherever to. The
	 * server said 0 for a connect to the same peer again. */
	if (j->type == SOCK_STREAM && j->connected)
		return fail(EISCONN);
	sig_begin();
	if (a && len < sizeof(sa_family_t))
		return fail(EINVAL);
	int wf = wrong_family(j, a, len);
	if (wf && !(a && len >= sizeof(sa_family_t) && a->sa_family == AF_UNSPEC))
		return fail(wf);
	if (a && is_local_dst(a, len)) {
		if (to_kernel(fd, j) < 0)
			return -1;
		return REAL(connect)(fd, a, len);
	}
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_CONNECT;
	c.call.has_connect = 1;
	static const uint8_t none[4];
	int e = to_addr(a, len, &c.call.connect);
	int unspec = e == EAFNOSUPPORT && j->type == SOCK_DGRAM;
	if (unspec) {
		/* AF_UNSPEC: dissolves a UDP socket's association (Linux, POSIX) */
		c.call.connect.family = JR_ADDRESS_FAMILY_UNSPEC;
		c.call.connect.addr.ptr = none;
		c.call.connect.addr.len = 4;
		e = 0;
	}
	if (e)
		return fail(e);
	e = simple_call(&c, j->id);
	if (e == 0 || e == EINPROGRESS || e == EALREADY || e == EISCONN) {
		j->idle = (uint8_t)unspec;
		j->named = 1; /* connect binds a local port (and AF_UNSPEC keeps it) */
	}
	/* EALREADY: a blocking connect retried after EINTR while its handshake goes on waits
	 * for it, as Linux's (it failed at once: a `while (connect() < 0 && errno == EINTR)`
	 * loop gave up). */
	if ((e == EINPROGRESS || e == EALREADY) && !is_nonblock(j)) {
		int w = wait_events(j->id, EPOLLOUT | EPOLLERR | EPOLLHUP, tmo(j->sndtimeo));
		if (w == EINTR)
			return fail(EINTR);
		if (w == ETIMEDOUT)
			return fail(EINPROGRESS); /* Linux: SO_SNDTIMEO expired, the connect goes on */
		e = so_error(j->id);
		if (e) {
			/* Linux's blocking connect that failed leaves the socket unconnected: the next
			 * connect() is a new attempt. The server keeps a failed connect's outcome for a
			 * later call to report (the non-blocking way); this call takes it. */
			int saved = e;
			simple_call(&c, j->id);
			e = saved;
		}
	}
	if (e)
		return fail(e);
	if (j->type == SOCK_STREAM)
		j->connected = 1;
	else if (!unspec)
		twin_close(j); /* connected: datagrams from its peer only */
	return 0;
}

EXPORT int shutdown(int fd, int how)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(shutdown)(fd, how);
	if (how < SHUT_RD || how > SHUT_RDWR)
		return fail(EINVAL);
	/* Not connected: ENOTCONN. A datagram socket is shut down all the same (Linux), which wakes
	 * a thread blocked in recv on it: a common way to stop a reader. */
	int unconnected = j->idle && !j->listening;
	if (unconnected && j->type != SOCK_DGRAM)
		return fail(ENOTCONN);
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_SHUTDOWN;
	c.call.shutdown = how == SHUT_RD ? JR_SHUTDOWN_HOW_READ
			  : how == SHUT_WR ? JR_SHUTDOWN_HOW_WRITE
					   : JR_SHUTDOWN_HOW_BOTH;
	int e = simple_call(&c, j->id);
	if (e)
		return fail(e);
	if (how != SHUT_RD && !j->listening) {
		j->shut_wr = 1;
		/* A send blocked in another thread fails with EPIPE now, as Linux's (it waited
		 * for room the peer might never make). */
		bring b;
		if (ring_of(j->id, 0, &b) == 0)
			bell_wake(&b, JR_RING_OFF_SPACE_BELL);
	}
	if (j->listening && j->lo && how != SHUT_WR)
		REAL(shutdown)(j->lo - 1, how); /* the loopback twin stops listening too */
	return unconnected ? fail(ENOTCONN) : 0;
}
