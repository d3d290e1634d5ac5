/*
 * fd.c — a Joyride fd as a file descriptor: the socket's references (one per fd and holding
 * process, in its slot; the last one closes the socket in the server), close, dup/dup2/dup3,
 * fcntl (O_NONBLOCK, F_DUPFD*) and ioctl (FIONBIO, FIONREAD, SIOCOUTQ, FIOASYNC and the owner
 * requests; interface requests go to a kernel socket).
 */
#include "shim.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* Drops one reference to socket `id` (a process's fd, or a holder counted for a child); the
 * last one closes the socket in the server. */
/* One reference fewer to socket `id`; the last one closes it in the server: a call waited
 * for, or with `oneway` a one-way call (`deadline` as oneway_call's). 0, or oneway_call's
 * errno. */
int unref_as(uint32_t id, int oneway, int64_t deadline)
{
	if (__atomic_sub_fetch(slot32(id, SLOT_OFF_REFS), 1, __ATOMIC_SEQ_CST) != 0)
		return 0;
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_CLOSE;
	if (oneway)
		return oneway_call(&c, id, deadline);
	simple_call(&c, id);
	return 0;
}

void unref(uint32_t id)
{
	unref_as(id, 0, 0);
}

void release(int fd)
{
	drop_leftover(); /* a call of this thread cut short by a handler's jump is over */
	jfd *j = &fdt[fd];
	uint32_t id = j->id;
	int listening = j->listening;
	__atomic_store_n(&j->used, 0, __ATOMIC_SEQ_CST);
	ep_forget(fd, id);
	twin_close(j);
	optlog_drop(fd);
	holder_count(id, -1);
	/* One-way unless listening: the server answers a close with 0 at once, and the app's
	 * later calls queue behind it; a listener's port is free when close() returns, for
	 * another program's bind. */
	unref_as(id, !listening, 0);
}

/* fd stops naming what it named (close, dup2/dup3 onto it, close_range): a Joyride socket is
 * released, any other descriptor's epoll set (if it was an epoll fd) ends. */
static void fd_gone(int fd)
{
	if (J(fd))
		release(fd);
	else
		ep_closed(fd);
}

/* One of the shim's own descriptors (registration, region, service eventfd, a twin), which
 * the program cannot know it has: its close() of every fd from 3 up (danted, many daemons)
 * closed them, and later socket calls waited 10 s for an answer and failed, or woke a file the
 * program had opened on the freed number (a helper's repro: 8 bytes written into it). */
static int is_private_fd(int fd)
{
	int mine[3];
	private_fds(mine);
	return fd == mine[0] || fd == mine[1] || fd == mine[2] || is_twin_fd(fd);
}

EXPORT int close(int fd)
{
	if (fd >= 0 && is_private_fd(fd))
		return fail(EBADF); /* as if not open: the program never had it */
	if (!vfork_child())
		fd_gone(fd);
	return REAL(close)(fd);
}

/* The kernel's close_range, past the shim's own syscall() (which routes SYS_close_range here). */
static int sys_close_range(unsigned int first, unsigned int last, int flags)
{
	return (int)REAL(syscall)(SYS_close_range, (long)first, (long)last, (long)flags, 0L, 0L, 0L);
}

/*
 * close_range(2) and closefrom(3), which glibc does not route through close(): the Joyride
 * sockets in the range are released and the epoll sets of descriptors in it end, as close()
 * does one by one (without this a socket closed so stayed open in the server until the app
 * exited). The shim's own descriptors (registration connection, region, service eventfd) stay
 * open: a daemon closing everything from 3 up keeps its Joyride sockets working.
 * CLOSE_RANGE_CLOEXEC only marks descriptors (exec then releases marked sockets);
 * CLOSE_RANGE_UNSHARE closes them in a fresh table of the calling thread only, so the shared
 * table, and this one, keep them.
 */
EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (first > last)
		return fail(EINVAL);
	if (vfork_child() || (flags & CLOSE_RANGE_UNSHARE))
		return sys_close_range(first, last, flags);
	unsigned int end = last < MAX_FDS - 1 ? last : MAX_FDS - 1;
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned int fd = first; fd <= end && fd < MAX_FDS; fd++)
			if (!is_private_fd((int)fd))
				fd_gone((int)fd);
	/* The range without the shim's descriptors: closed in pieces around them (ascending). */
	unsigned int lo = first;
	int rc = 0;
	for (unsigned int fd = first; fd <= end && fd < MAX_FDS; fd++) {
		if (!is_private_fd((int)fd))
			continue;
		if (fd > lo && sys_close_range(lo, fd - 1, flags) != 0)
			rc = -1;
		lo = fd + 1;
	}
	if (lo <= last && sys_close_range(lo, last, flags) != 0)
		rc = -1;
	return rc;
}

EXPORT void closefrom(int lowfd)
{
	close_range(lowfd < 0 ? 0u : (unsigned int)lowfd, ~0u, 0);
}

int dup_to(int old, int nfd)
{
	if (nfd < 0)
		return nfd;
	jfd *j = J(old);
	if (j && nfd < MAX_FDS) {
		__atomic_add_fetch(slot32(j->id, SLOT_OFF_REFS), 1, __ATOMIC_SEQ_CST);
		fdt[nfd] = *j;
		holder_count(j->id, 1);
		if (j->lo)
			twin_set(&fdt[nfd], REAL(fcntl)(j->lo - 1, F_DUPFD_CLOEXEC, 900));
		optlog_dup(old, nfd);
	}
	return nfd;
}

EXPORT int dup(int fd)
{
	return dup_to(fd, REAL(dup)(fd));
}

EXPORT int dup3(int old, int nfd, int flags)
{
	if (vfork_child())
		return REAL(dup3)(old, nfd, flags);
	std_before(old, nfd); /* before fd nfd stops being the socket the stream writes to */
	if (old != nfd) {
		private_fd_away(nfd);
		twin_away(nfd);
	}
	if (old != nfd)
		fd_gone(nfd);
	int r = dup_to(old, REAL(dup3)(old, nfd, flags));
	if (r >= 0)
		std_after(nfd);
	return r;
}

EXPORT int dup2(int old, int nfd)
{
	if (old == nfd || vfork_child())
		return REAL(dup2)(old, nfd);
	std_before(old, nfd); /* before fd nfd stops being the socket the stream writes to */
	private_fd_away(nfd);
	twin_away(nfd);
	fd_gone(nfd);
	int r = dup_to(old, REAL(dup2)(old, nfd));
	if (r >= 0)
		std_after(nfd);
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	jfd *j = J(fd);
	if (j) {
		switch (cmd) {
		case F_GETFL:
			return O_RDWR | (is_nonblock(j) ? O_NONBLOCK : 0) | (j->async ? O_ASYNC : 0);
		case F_SETFL:
			set_nonblock(j, (arg & O_NONBLOCK) != 0);
			j->async = (arg & O_ASYNC) != 0;
			return 0;
		case F_DUPFD:
		case F_DUPFD_CLOEXEC:
			return dup_to(fd, REAL(fcntl)(fd, cmd, arg));
		default:
			break;
		}
	}
	return REAL(fcntl)(fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

/* A socket cannot seek: ESPIPE, as the kernel says (an eventfd, the placeholder, seeks without
 * complaint). bash's `read` on /dev/tcp took the socket for seekable, read a whole buffer and
 * "gave back" all but one line with lseek(fd, -n, SEEK_CUR): the rest was lost. */
EXPORT off_t lseek(int fd, off_t off, int whence)
{
	if (J(fd)) {
		errno = ESPIPE;
		return -1;
	}
	return REAL(lseek)(fd, off, whence);
}

EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
	if (J(fd)) {
		errno = ESPIPE;
		return -1;
	}
	return REAL(lseek64)(fd, off, whence);
}

/* Whether `req` is one of the socket ioctls about network interfaces (<linux/sockios.h> from
 * SIOCGIFNAME up to the protocol-private ones: names, indexes, flags, addresses, MTU,
 * configuration lists), not about the socket it is made on (SIOCOUTQNSD is). */
static int is_if_request(unsigned long req)
{
	return req >= SIOCGIFNAME && req < SIOCPROTOPRIVATE && req != SIOCOUTQNSD;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	jfd *j = J(fd);
	if (j) {
		if (req == FIONBIO) {
			set_nonblock(j, arg && *(int *)arg != 0);
			return 0;
		}
		if (req == SIOCATMARK && j->type == SOCK_STREAM) {
			if (!arg)
				return fail(EFAULT);
			*(int *)arg = 0; /* urgent data arrives inline: never at a mark */
			return 0;
		}
		if (req == FIOASYNC) {
			if (!arg)
				return fail(EFAULT);
			j->async = *(int *)arg != 0; /* as F_SETFL's O_ASYNC: no SIGIO (README) */
			return 0;
		}
		if (req == FIOSETOWN || req == SIOCSPGRP) {
			/* The owner a SIGIO would go to, kept on the placeholder as F_SETOWN keeps it
			 * (an eventfd answers these socket requests ENOTTY: old daemons exit on it). */
			if (!arg)
				return fail(EFAULT);
			return REAL(fcntl)(fd, F_SETOWN, *(int *)arg);
		}
		if (req == FIOGETOWN || req == SIOCGPGRP) {
			if (!arg)
				return fail(EFAULT);
			*(int *)arg = REAL(fcntl)(fd, F_GETOWN);
			return 0;
		}
		if (req == SIOCGSTAMP_OLD || req == SIOCGSTAMPNS_OLD || req == SIOCGSTAMP_NEW ||
		    req == SIOCGSTAMPNS_NEW)
			return fail(ENOENT); /* Linux's answer when it has no datagram's time */
		int nsd = req == SIOCOUTQNSD;
		if (nsd)
			req = SIOCOUTQ; /* the send ring: bytes the engine has not taken */
		if ((req == FIONREAD || req == SIOCOUTQ) && j->listening)
			return fail(EINVAL); /* Linux: a listener has no queues to count */
		if (req == FIONREAD || req == SIOCOUTQ) {
			bring b;
			if (ring_of(j->id, req == FIONREAD, &b) < 0)
				return fail(EBADF);
			if (!arg)
				return fail(EFAULT);
			uint32_t n = br_readable(&b);
			if (j->type == SOCK_DGRAM && req == FIONREAD && n >= DG_HDR) {
				/* Linux: the size of the next datagram */
				uint32_t len;
				dg_copy_out(&b, ld(RU32(&b, JR_RING_OFF_HEAD)), &len, 4);
				n = len;
			} else if (j->type == SOCK_DGRAM && req == FIONREAD) {
				n = 0;
			}
			/* SIOCOUTQ: what the send ring holds and, for a stream, what the engine holds
			 * unsent or unacknowledged (the server's last count); SIOCOUTQNSD the ring's
			 * alone (bytes the engine has not taken) */
			if (req == SIOCOUTQ && !nsd && j->type == SOCK_STREAM)
				n += __atomic_load_n(slot32(j->id, SLOT_OFF_OUTQ), __ATOMIC_ACQUIRE);
			*(int *)arg = n > INT32_MAX ? INT32_MAX : (int)n;
			return 0;
		}
		if (is_if_request(req)) {
			/* Interface requests (SIOCGIFCONF, SIOCGIFINDEX, SIOCGIFFLAGS, …: dnsmasq
			 * lists interfaces so) are about the host, not the socket: a kernel socket of
			 * the same family answers them (the eventfd placeholder answered ENOTTY). */
			int k = REAL(socket)(j->domain, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (k < 0)
				return -1;
			int r = REAL(ioctl)(k, req, arg);
			int e = errno;
			REAL(close)(k);
			errno = e;
			return r;
		}
	}
	return REAL(ioctl)(fd, req, arg);
}
