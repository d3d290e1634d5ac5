/*
 * fd.c — a Joyride fd as a file descriptor: the socket's references (one per fd and holding
 * process, in its slot; the last one closes the socket in the server), close, dup/dup2/dup3,
 * fcntl (O_NONBLOCK, F_DUPFD*) and ioctl (FIONBIO, FIONREAD, SIOCOUTQ).
 */
#include "shim.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <sys/ioctl.h>

/* Drops one reference to socket `id` (a process's fd, or a holder counted for a child); the
 * last one closes the socket in the server. */
void unref(uint32_t id)
{
	if (__atomic_sub_fetch(slot32(id, SLOT_OFF_REFS), 1, __ATOMIC_SEQ_CST) == 0) {
		jr_SocketCall c;
		memset(&c, 0, sizeof c);
		c.call.which = JR_SOCKET_CALL_CALL_CLOSE;
		simple_call(&c, id);
	}
}

void release(int fd)
{
	jfd *j = &fdt[fd];
	uint32_t id = j->id;
	__atomic_store_n(&j->used, 0, __ATOMIC_SEQ_CST);
	ep_forget(fd);
	if (j->lo) {
		REAL(close)(j->lo - 1);
		j->lo = 0;
	}
	unref(id);
}

EXPORT int close(int fd)
{
	if (!vfork_child()) {
		if (J(fd))
			release(fd);
		else
			ep_closed(fd);
	}
	return REAL(close)(fd);
}

int dup_to(int old, int nfd)
{
	if (nfd < 0)
		return nfd;
	jfd *j = J(old);
	if (j && nfd < MAX_FDS) {
		__atomic_add_fetch(slot32(j->id, SLOT_OFF_REFS), 1, __ATOMIC_SEQ_CST);
		fdt[nfd] = *j;
		if (j->lo) {
			int k = REAL(fcntl)(j->lo - 1, F_DUPFD_CLOEXEC, 900);
			fdt[nfd].lo = k >= 0 ? k + 1 : 0;
		}
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
	if (old != nfd)
		private_fd_away(nfd);
	if (old != nfd && J(nfd))
		release(nfd);
	else if (old != nfd)
		ep_closed(nfd);
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
	if (J(nfd))
		release(nfd);
	else
		ep_closed(nfd);
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
			return O_RDWR | (j->nonblock ? O_NONBLOCK : 0);
		case F_SETFL:
			j->nonblock = (arg & O_NONBLOCK) != 0;
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

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	jfd *j = J(fd);
	if (j) {
		if (req == FIONBIO) {
			j->nonblock = arg && *(int *)arg != 0;
			return 0;
		}
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
			/* SIOCOUTQ: what the send ring still holds (the engine's unacknowledged bytes
			 * are not counted) */
			*(int *)arg = (int)n;
			return 0;
		}
	}
	return REAL(ioctl)(fd, req, arg);
}
