/*
 * syscall(): libc's raw system-call entry, for the calls on descriptors the shim takes over.
 *
 * Programs (and libraries: Debian's libuv 1.44 sends and receives UDP with
 * syscall(__NR_sendmmsg/__NR_recvmmsg), so dig, host and nslookup do) reach the kernel through
 * libc's exported syscall() rather than its wrappers: a Joyride socket's placeholder eventfd then
 * answered ENOTSOCK. The socket calls and the descriptor calls the shim wraps go to the shim's own
 * functions, which pass any descriptor that is not Joyride's on to the kernel; every other
 * number goes to libc's syscall() as it was. A program issuing the syscall instruction itself
 * (static binaries, Go) is still not seen (shim/README.md).
 */
#include "shim.h"

#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define P(i) ((void *)a[i])
#define I(i) ((int)a[i])

EXPORT long syscall(long nr, ...)
{
	/* As libc's own: six argument registers, whatever the call uses. */
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_socket:
		return socket(I(0), I(1), I(2));
	case SYS_bind:
		return bind(I(0), P(1), (socklen_t)a[2]);
	case SYS_listen:
		return listen(I(0), I(1));
	case SYS_accept:
		return accept(I(0), P(1), P(2));
	case SYS_accept4:
		return accept4(I(0), P(1), P(2), I(3));
	case SYS_connect:
		return connect(I(0), P(1), (socklen_t)a[2]);
	case SYS_shutdown:
		return shutdown(I(0), I(1));
	case SYS_getsockname:
		return getsockname(I(0), P(1), P(2));
	case SYS_getpeername:
		return getpeername(I(0), P(1), P(2));
	case SYS_getsockopt:
		return getsockopt(I(0), I(1), I(2), P(3), P(4));
	case SYS_setsockopt:
		return setsockopt(I(0), I(1), I(2), P(3), (socklen_t)a[4]);
	case SYS_sendto:
		return sendto(I(0), P(1), (size_t)a[2], I(3), P(4), (socklen_t)a[5]);
	case SYS_recvfrom:
		return recvfrom(I(0), P(1), (size_t)a[2], I(3), P(4), P(5));
	case SYS_sendmsg:
		return sendmsg(I(0), P(1), I(2));
	case SYS_recvmsg:
		return recvmsg(I(0), P(1), I(2));
	case SYS_sendmmsg:
		return sendmmsg(I(0), P(1), (unsigned)a[2], I(3));
	case SYS_recvmmsg:
		return recvmmsg(I(0), P(1), (unsigned)a[2], I(3), P(4));
	case SYS_read:
		return read(I(0), P(1), (size_t)a[2]);
	case SYS_write:
		return write(I(0), P(1), (size_t)a[2]);
	case SYS_readv:
		return readv(I(0), P(1), I(2));
	case SYS_writev:
		return writev(I(0), P(1), I(2));
	case SYS_close:
		return close(I(0));
#ifdef SYS_close_range
	case SYS_close_range: /* programs built before glibc 2.34 had its wrapper */
		return close_range((unsigned int)a[0], (unsigned int)a[1], I(2));
#endif
	case SYS_dup:
		return dup(I(0));
#ifdef SYS_dup2
	case SYS_dup2:
		return dup2(I(0), I(1));
#endif
	case SYS_dup3:
		return dup3(I(0), I(1), I(2));
	case SYS_fcntl:
		return fcntl(I(0), I(1), a[2]);
	case SYS_lseek:
		return lseek(I(0), (off_t)a[1], I(2));
	case SYS_ioctl:
		return ioctl(I(0), (unsigned long)a[1], P(2));
#ifdef SYS_poll
	case SYS_poll:
		return poll(P(0), (nfds_t)a[1], I(2));
#endif
	case SYS_epoll_ctl:
		return epoll_ctl(I(0), I(1), I(2), P(3));
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
		return epoll_wait(I(0), P(1), I(2), I(3));
#endif
#ifdef SYS_fork
	case SYS_fork:
		return raw_fork(nr, a);
#endif
	case SYS_clone: /* flags first; CLONE_VM: a thread or a vfork, our memory and tables */
		if (!(a[0] & CLONE_VM))
			return raw_fork(nr, a);
		break;
#ifdef SYS_clone3
	case SYS_clone3: /* struct clone_args, flags first */
		if (P(0) && (size_t)a[1] >= sizeof(uint64_t) && !(*(uint64_t *)P(0) & CLONE_VM))
			return raw_fork(nr, a);
		break;
#endif
	}
	return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
