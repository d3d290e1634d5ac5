/*
 * poll.c — poll/ppoll/select/pselect over kernel fds and Joyride sockets together: each
 * placeholder eventfd is drained and waited on in the kernel beside the kernel fds (and a
 * listener's loopback twin), while readiness is reported from the slot and the rings
 * themselves; the kernel wait is cut at 500 ms so a lost wake never hangs.
 */
#include "shim.h"

#include <stdlib.h>

static uint32_t jrevents(jfd *j, short want)
{
	uint32_t ev = readiness(j);
	return ev & ((uint32_t)(unsigned short)want | EPOLLERR | EPOLLHUP);
}

void drain(int fd)
{
	uint64_t v;
	ssize_t r = REAL(read)(fd, &v, 8);
	(void)r;
}

static int jpoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	int any = 0;
	for (nfds_t i = 0; i < n; i++)
		if (J(fds[i].fd))
			any = 1;
	if (!any)
		return REAL(ppoll)(fds, n, tmo, mask);
	int64_t deadline = tmo ? now_ns() + tmo->tv_sec * 1000000000LL + tmo->tv_nsec : INT64_MAX;
	struct pollfd stack_fds[128];
	struct pollfd *tmp = n <= 64 ? stack_fds : malloc(2 * n * sizeof *tmp);
	if (!tmp)
		return fail(ENOMEM);
	int result;
	kick();
	sig_begin();
	for (;;) {
		int ready = 0;
		nfds_t extra = n;
		for (nfds_t i = 0; i < n; i++) {
			jfd *j = J(fds[i].fd);
			tmp[i] = fds[i];
			if (j) {
				drain(fds[i].fd);
				tmp[i].events = POLLIN;
				if (j->lo && (fds[i].events & POLLIN))
					tmp[extra++] = (struct pollfd){ j->lo - 1, POLLIN, 0 };
			}
		}
		for (nfds_t i = 0; i < n; i++) {
			jfd *j = J(fds[i].fd);
			if (j && jrevents(j, fds[i].events))
				ready = 1;
		}
		int64_t left = deadline == INT64_MAX ? -1 : deadline - now_ns();
		if (left < 0 && deadline != INT64_MAX)
			left = 0;
		/* The kernel wait is cut at 500 ms and the rings looked at again: a lost wake of a
		 * placeholder costs that much, never a hang (as wait_word's 200 ms). */
		if (left < 0 || left > 500000000)
			left = 500000000;
		struct timespec ts = { 0, 0 };
		if (!ready)
			ts = (struct timespec){ left / 1000000000, left % 1000000000 };
		/* a handler that ran between two kernel waits: EINTR, as the kernel's poll */
		int r = !ready && sig_interrupted(1, 0) ? fail(EINTR)
						       : REAL(ppoll)(tmp, extra, &ts, mask);
		if (r < 0) {
			result = -1;
			break;
		}
		int count = 0;
		for (nfds_t i = 0; i < n; i++) {
			jfd *j = J(fds[i].fd);
			fds[i].revents = j ? (short)jrevents(j, fds[i].events) : tmp[i].revents;
			if (fds[i].revents)
				count++;
		}
		/* A readiness that went away meanwhile is not a timeout: wait again. */
		if (count > 0 || (deadline != INT64_MAX && now_ns() >= deadline)) {
			result = count;
			break;
		}
	}
	if (tmp != stack_fds)
		free(tmp);
	return result;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (G.state != 1)
		return REAL(poll)(fds, n, timeout);
	struct timespec ts = { timeout / 1000, (timeout % 1000) * 1000000L };
	return jpoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t len)
{
	(void)len;
	return poll(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	if (G.state != 1)
		return REAL(ppoll)(fds, n, tmo, mask);
	return jpoll(fds, n, tmo, mask);
}

/* fd_set bits as the kernel reads them: `n` may pass FD_SETSIZE (a caller's larger bitmap,
 * descriptors past 1023: the shim left those to the kernel, where a placeholder is always
 * readable), and only the longs holding the first n bits are written back (FD_ZERO cleared
 * all 1024). glibc's FD_* macros stop at FD_SETSIZE. */
#define LBITS (8 * sizeof(unsigned long))

static int bit_isset(const fd_set *s, int fd)
{
	return (((const unsigned long *)(const void *)s)[fd / LBITS] >> (fd % LBITS)) & 1;
}

static void bit_set(fd_set *s, int fd)
{
	((unsigned long *)(void *)s)[fd / LBITS] |= 1ul << (fd % LBITS);
}

static void bits_zero(fd_set *s, int n)
{
	memset(s, 0, ((size_t)n + LBITS - 1) / LBITS * sizeof(unsigned long));
}

static int jselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		   const sigset_t *mask)
{
	struct pollfd *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
	if (!p)
		return fail(ENOMEM);
	nfds_t k = 0;
	for (int fd = 0; fd < n; fd++) {
		short ev = 0;
		if (r && bit_isset(r, fd))
			ev |= POLLIN;
		if (w && bit_isset(w, fd))
			ev |= POLLOUT;
		if (e && bit_isset(e, fd))
			ev |= POLLPRI;
		if (ev) {
			p[k].fd = fd;
			p[k].events = ev;
			k++;
		}
	}
	int rc = jpoll(p, k, tmo, mask);
	if (rc < 0) {
		free(p);
		return -1;
	}
	if (r)
		bits_zero(r, n);
	if (w)
		bits_zero(w, n);
	if (e)
		bits_zero(e, n);
	int count = 0;
	for (nfds_t i = 0; i < k; i++) {
		short re = p[i].revents;
		if (re & POLLNVAL) {
			free(p);
			return fail(EBADF);
		}
		if (r && (re & (POLLIN | POLLHUP | POLLERR)) && (p[i].events & POLLIN)) {
			bit_set(r, p[i].fd);
			count++;
		}
		if (w && (re & (POLLOUT | POLLERR)) && (p[i].events & POLLOUT)) {
			bit_set(w, p[i].fd);
			count++;
		}
		if (e && (re & POLLPRI) && (p[i].events & POLLPRI)) {
			bit_set(e, p[i].fd);
			count++;
		}
	}
	free(p);
	return count;
}

static int any_joyride(int n, fd_set *r, fd_set *w, fd_set *e)
{
	if (G.state != 1)
		return 0;
	for (int fd = 0; fd < n && fd < MAX_FDS; fd++)
		if (fdt[fd].used &&
		    ((r && bit_isset(r, fd)) || (w && bit_isset(w, fd)) || (e && bit_isset(e, fd))))
			return 1;
	return 0;
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	if (!any_joyride(n, r, w, e))
		return REAL(select)(n, r, w, e, tv);
	struct timespec ts, start;
	if (tv) {
		ts = (struct timespec){ tv->tv_sec, tv->tv_usec * 1000 };
		clock_gettime(CLOCK_MONOTONIC, &start);
	}
	int rc = jselect(n, r, w, e, tv ? &ts : NULL, NULL);
	if (tv && (rc >= 0 || errno == EINTR)) {
		/* Linux writes back the time left (chronyd takes the time waited from it, and saw a
		 * backward clock jump in a 0 left after an early wake-up). */
		int save = errno;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long left = ((long long)ts.tv_sec - (now.tv_sec - start.tv_sec)) * 1000000000LL +
				 (ts.tv_nsec - (now.tv_nsec - start.tv_nsec));
		if (rc == 0 || left < 0)
			left = 0;
		tv->tv_sec = (time_t)(left / 1000000000LL);
		tv->tv_usec = (suseconds_t)(left % 1000000000LL / 1000);
		errno = save;
	}
	return rc;
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		   const sigset_t *mask)
{
	if (!any_joyride(n, r, w, e))
		return REAL(pselect)(n, r, w, e, tmo, mask);
	return jselect(n, r, w, e, tmo, mask);
}
