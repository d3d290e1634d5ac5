/*
 * data.c — moving bytes: the send/recv families, read/write/readv/writev, the __*_chk
 * variants, sendmmsg/recvmmsg and sendfile over a stream socket's byte rings (datagram
 * sockets go to udp.c). No message per call: data is copied into and out of the rings, with
 * MSG_PEEK/DONTWAIT/WAITALL/NOSIGNAL, SO_RCVTIMEO/SO_SNDTIMEO and SIGPIPE as Linux has them.
 */
#include "shim.h"

#include <limits.h>
#include <sys/sendfile.h>

/*
 * A blocking call's own reference to its socket, taken when it first waits: another thread's
 * close() of the fd then leaves the socket open until the call returns, as the kernel holds
 * the file for a call in progress (a recv blocked while another thread closed the fd waited
 * forever, even for the peer's data or its FIN; and the slot could have gone to a new socket
 * under it). Counted in this process's holder row too, so a process killed while waiting lets
 * go of it. The call works on the id it started with, never on the fd's entry again.
 */
typedef struct {
	uint32_t id;
	int held;
	uint32_t gen; /* hold_gen when taken */
} inflight;

/* This process's in-flight references per slot (and the socket id): a process that ends while
 * a thread waits (sshd's LoginGraceTime handler calls _exit while the child is blocked in
 * read) gives them back with its fds (inflight_release_all); they were left, and the
 * connection never closed. */
static uint32_t held_n[1u << SLOT_BITS], held_id[1u << SLOT_BITS];

/* The in-flight reference this thread's blocking call holds: one a signal handler's
 * siglongjmp left behind (the call never reached unhold) is given back by the thread's next
 * stream call (drop_leftover) — kept, it held the socket open after the program's close(), and
 * the peer saw no FIN until the process ended. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
	uint32_t id, gen;
	int on;
} cur_hold;
static __thread __attribute__((tls_model("initial-exec"))) uint32_t hold_gen;

static void hold(inflight *h)
{
	if (h->held)
		return;
	h->held = 1;
	h->gen = ++hold_gen;
	cur_hold.id = h->id;
	cur_hold.gen = h->gen;
	cur_hold.on = 1;
	uint32_t slot = h->id & ((1u << SLOT_BITS) - 1);
	__atomic_store_n(&held_id[slot], h->id, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&held_n[slot], 1, __ATOMIC_SEQ_CST);
	holder_count(h->id, 1);
	__atomic_add_fetch(slot32(h->id, SLOT_OFF_REFS), 1, __ATOMIC_SEQ_CST);
}

/* Gives one in-flight reference of `slot` back, if this process still has it. */
static int take_held(uint32_t slot)
{
	uint32_t n = __atomic_load_n(&held_n[slot], __ATOMIC_SEQ_CST);
	while (n > 0)
		if (__atomic_compare_exchange_n(&held_n[slot], &n, n - 1, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return 1;
	return 0;
}

static void unhold(inflight *h)
{
	if (!h->held)
		return;
	h->held = 0;
	if (!cur_hold.on || cur_hold.gen != h->gen)
		return; /* given back already, by a call made in a signal handler */
	cur_hold.on = 0;
	if (!take_held(h->id & ((1u << SLOT_BITS) - 1)))
		return; /* given back already: the process is ending */
	holder_count(h->id, -1);
	unref(h->id);
}

/* At exit: every in-flight reference given back (one-way closes, `deadline` as unref_as's). */
void inflight_release_all(int64_t deadline)
{
	for (uint32_t s = 0; s < (1u << SLOT_BITS); s++)
		while (take_held(s)) {
			uint32_t id = __atomic_load_n(&held_id[s], __ATOMIC_SEQ_CST);
			holder_count(id, -1);
			if (unref_as(id, 1, deadline) == ETIMEDOUT)
				deadline = -1;
		}
}

/* In-flight references of `slot` this process holds (not its fds: a forked child's row). */
uint32_t inflight_of(uint32_t slot)
{
	return slot < (1u << SLOT_BITS) ? __atomic_load_n(&held_n[slot], __ATOMIC_SEQ_CST) : 0;
}

/* In a forked child: its parent's waiting threads are not its own. */
void inflight_forget(void)
{
	memset(held_n, 0, sizeof held_n);
	cur_hold.on = 0;
}

/* A reference this thread still holds for a call that is over (see cur_hold), given back. */
void drop_leftover(void)
{
	if (!cur_hold.on)
		return;
	cur_hold.on = 0;
	if (!take_held(cur_hold.id & ((1u << SLOT_BITS) - 1)))
		return;
	holder_count(cur_hold.id, -1);
	unref(cur_hold.id);
}

/* ring_wait for a call that holds its socket while it waits (blocking waits only). */
static int held_wait(jfd *j, int flags, inflight *h, uint32_t *bell, int (*ready)(void *),
		     void *arg, int64_t timeout)
{
	if (!is_nonblock(j) && !(flags & MSG_DONTWAIT))
		hold(h);
	return ring_wait(j, flags, bell, ready, arg, timeout);
}

/* Ready when at least `want` bytes are there, or the end (MSG_PEEK|MSG_WAITALL). */
struct rd_enough_arg {
	bring *b;
	uint32_t want;
};

static int rd_enough(void *a)
{
	struct rd_enough_arg *x = a;
	return br_readable(x->b) >= x->want || br_state(x->b, JR_STATE_PRODUCER_CLOSED);
}

static ssize_t jrecv_held(jfd *j, inflight *h, const struct iovec *iov, int cnt, int flags)
{
	uint32_t id = h->id;
	bring b;
	if (ring_of(id, 1, &b) < 0)
		return fail(EBADF);
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	/* A zero-length read waits for what a read would (data, end of file, an error) and takes
	 * nothing, as Linux's: luasocket learns a non-blocking connect's outcome so (it said 0,
	 * "connected", to a refused one) and a non-blocking one without data is EAGAIN, not EOF. */
	while (want == 0) {
		if (br_readable(&b) > 0)
			return 0;
		if (br_state(&b, JR_STATE_PRODUCER_CLOSED)) {
			int e = so_error(id);
			return e && e != EPIPE ? fail(e) : 0;
		}
		int e = held_wait(j, flags, h, RU32(&b, JR_RING_OFF_DATA_BELL), rd_ready, &b,
				  j->rcvtimeo);
		if (e)
			return fail(e);
	}
	/* MSG_PEEK|MSG_WAITALL waits until all of it is there (at most a ring's worth), then
	 * peeks (Linux's; it returned what was there at once). */
	if ((flags & (MSG_PEEK | MSG_WAITALL)) == (MSG_PEEK | MSG_WAITALL)) {
		struct rd_enough_arg x = { &b, want < b.cap ? (uint32_t)want : b.cap };
		while (!rd_enough(&x)) {
			int e = held_wait(j, flags, h, RU32(&b, JR_RING_OFF_DATA_BELL), rd_enough,
					  &x, j->rcvtimeo);
			if (e && br_readable(&b) == 0)
				return fail(e);
			if (e)
				break;
		}
	}
	uint32_t *lock = slot32(id, SLOT_OFF_RECV_LOCK);
	plock(lock);
	ssize_t got = 0;
	for (;;) {
		struct iovec tmp[64];
		int tc = 0;
		size_t skip = (size_t)got, room = 0;
		for (int i = 0; i < cnt && tc < 64; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			tmp[tc].iov_base = (uint8_t *)iov[i].iov_base + skip;
			tmp[tc].iov_len = iov[i].iov_len - skip;
			room += tmp[tc].iov_len;
			skip = 0;
			tc++;
		}
		uint32_t n = br_read_iov(&b, tmp, tc, flags & MSG_PEEK);
		if (n) {
			got += n;
			kick();
			if ((size_t)got >= want || (flags & MSG_PEEK))
				break;
			/* This pass's 64 iovecs are full and more is there: the caller's next ones take
			 * it, as Linux fills up to IOV_MAX (a readv of 1024 x 100 bytes read 6,400). */
			if ((flags & MSG_WAITALL) || (n == room && br_readable(&b) > 0))
				continue;
			break;
		}
		if (br_state(&b, JR_STATE_PRODUCER_CLOSED)) {
			if (got == 0) {
				/* Reported once, as Linux: the error is taken (SO_ERROR cleared), later
				 * reads see end of file. */
				int e = so_error(id);
				if (e && e != EPIPE) {
					punlock(lock);
					return fail(e);
				}
			}
			break;
		}
		if (got > 0 && !(flags & MSG_WAITALL))
			break;
		int e = held_wait(j, flags, h, RU32(&b, JR_RING_OFF_DATA_BELL), rd_ready, &b,
				  j->rcvtimeo);
		if (e) {
			punlock(lock);
			return got > 0 ? got : fail(e);
		}
	}
	punlock(lock);
	return got;
}

/* MSG_TRUNC on a stream: the bytes are taken (or peeked) and thrown away, not copied: the
 * buffer may be NULL (tcp(7); it crashed). Up to 256 KB a call. */
static ssize_t jrecv_discard(jfd *j, inflight *h, size_t len, int flags)
{
	char scratch[4096];
	struct iovec v[64];
	int n = 0;
	for (size_t left = len; left > 0 && n < 64; n++) {
		v[n].iov_base = scratch;
		v[n].iov_len = left < sizeof scratch ? left : sizeof scratch;
		left -= v[n].iov_len;
	}
	return jrecv_held(j, h, v, n, flags & ~MSG_TRUNC);
}

/* readv/writev's byte count: -1 (EINVAL) for more iovecs than IOV_MAX or a total past
 * SSIZE_MAX, as Linux's. */
static ssize_t iov_total(const struct iovec *iov, int cnt)
{
	if (cnt < 0 || cnt > IOV_MAX)
		return fail(EINVAL);
	size_t t = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - t)
			return fail(EINVAL);
		t += iov[i].iov_len;
	}
	return (ssize_t)t;
}

static ssize_t jrecv(jfd *j, const struct iovec *iov, int cnt, int flags)
{
	sig_begin();
	drop_leftover();
	if (j->type == SOCK_DGRAM) {
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };
		return jrecv_dg(j, &m, flags);
	}
	if (j->idle || j->listening)
		return fail(ENOTCONN); /* never connected, or a listener: Linux, not a wait */
	/* Urgent data arrives inline (as with SO_OOBINLINE): there is never any to take apart,
	 * which Linux answers with EINVAL. Taken as a plain read, it ate in-band bytes. */
	if (flags & MSG_OOB)
		return fail(EINVAL);
	/* No error queue here (no timestamps or zero-copy reports): empty, as Linux says. It
	 * took in-band data before. */
	if (flags & MSG_ERRQUEUE)
		return fail(EAGAIN);
	inflight h = { j->id, 0, 0 };
	ssize_t r;
	if (flags & MSG_TRUNC) {
		size_t len = 0;
		for (int i = 0; i < cnt; i++)
			len += iov[i].iov_len;
		r = jrecv_discard(j, &h, len, flags);
	} else
		r = jrecv_held(j, &h, iov, cnt, flags);
	int e = errno;
	unhold(&h);
	errno = e;
	return r;
}

/* Ready to write, or shut for writing by another thread (shutdown wakes the space bell). */
struct wr_arg {
	bring *b;
	jfd *j;
	uint32_t id;
};

static int wr_or_shut(void *a)
{
	struct wr_arg *x = a;
	return wr_ready(x->b) || (x->j->id == x->id && x->j->shut_wr);
}

static ssize_t jsend_held(jfd *j, inflight *h, const struct iovec *iov, int cnt, int flags)
{
	uint32_t id = h->id;
	bring b;
	if (ring_of(id, 0, &b) < 0)
		return fail(EBADF);
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	uint32_t *lock = slot32(id, SLOT_OFF_SEND_LOCK);
	plock(lock);
	size_t sent = 0;
	struct wr_arg x = { &b, j, id };
	for (;;) {
		int shut = j->id == id && j->shut_wr;
		if (shut || br_state(&b, JR_STATE_CONSUMER_CLOSED)) {
			punlock(lock);
			if (sent)
				return (ssize_t)sent;
			/* Linux: a pending error (the peer's reset) is returned once and taken, without
			 * SIGPIPE; after it, EPIPE and SIGPIPE (unless MSG_NOSIGNAL). Shut for writing
			 * meanwhile (another thread's shutdown): EPIPE. */
			int e = shut ? 0 : so_error(id);
			if (!e || e == EPIPE) {
				if (!(flags & MSG_NOSIGNAL))
					raise(SIGPIPE);
				e = EPIPE;
			}
			return fail(e);
		}
		if (sent >= want)
			break;
		uint32_t n = br_write_iov(&b, iov, cnt, sent, want - sent);
		if (n) {
			sent += n;
			kick();
			continue;
		}
		int e = held_wait(j, flags, h, RU32(&b, JR_RING_OFF_SPACE_BELL), wr_or_shut, &x,
				  j->sndtimeo);
		if (e) {
			punlock(lock);
			return sent ? (ssize_t)sent : fail(e);
		}
	}
	punlock(lock);
	return (ssize_t)sent;
}

static ssize_t jsend(jfd *j, const struct iovec *iov, int cnt, int flags)
{
	sig_begin();
	drop_leftover();
	if (j->type == SOCK_DGRAM)
		return jsend_dg(j, iov, cnt, flags, NULL, 0);
	/* never connected, a listener, or shut for writing: EPIPE, SIGPIPE (Linux) */
	if (j->idle || j->listening || j->shut_wr) {
		if (!(flags & MSG_NOSIGNAL))
			raise(SIGPIPE);
		return fail(EPIPE);
	}
	inflight h = { j->id, 0, 0 };
	ssize_t r = jsend_held(j, &h, iov, cnt, flags);
	int e = errno;
	unhold(&h);
	errno = e;
	return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(recv)(fd, buf, len, flags);
	struct iovec v = { buf, len };
	return jrecv(j, &v, 1, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a,
			socklen_t *alen)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(recvfrom)(fd, buf, len, flags, a, alen);
	struct iovec v = { buf, len };
	int bad = bad_addr_out(a, alen, 0);
	if (bad)
		return fail(bad);
	if (j->type == SOCK_DGRAM) {
		struct msghdr m = { .msg_name = a && alen ? a : NULL,
				    .msg_namelen = a && alen ? *alen : 0,
				    .msg_iov = &v,
				    .msg_iovlen = 1 };
		ssize_t n = jrecv_dg(j, &m, flags);
		if (n >= 0 && a && alen)
			*alen = m.msg_namelen;
		return n;
	}
	ssize_t n = jrecv(j, &v, 1, flags);
	if (n >= 0 && a && alen)
		*alen = 0; /* connected stream: no address (as Linux for TCP) */
	return n;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	jfd *j = J(fd);
	if (!j) {
		ssize_t r = REAL(recvmsg)(fd, m, flags);
		if (r >= 0 && m && m->msg_controllen > 0)
			handoff_recv(m);
		return r;
	}
	if (m->msg_iovlen > IOV_MAX)
		return fail(EMSGSIZE); /* Linux's recvmsg beyond UIO_MAXIOV */
	if (j->type == SOCK_DGRAM)
		return jrecv_dg(j, m, flags);
	ssize_t n = jrecv(j, m->msg_iov, (int)m->msg_iovlen, flags);
	if (n >= 0) {
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	return n;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(read)(fd, buf, len);
	if (len == 0 && j->type == SOCK_STREAM)
		return 0; /* Linux's read of nothing: 0 at once (recv of nothing waits, as there) */
	struct iovec v = { buf, len };
	return jrecv(j, &v, 1, 0);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	(void)buflen;
	return read(fd, buf, len);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	(void)buflen;
	return recv(fd, buf, len, flags);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			      struct sockaddr *a, socklen_t *alen)
{
	(void)buflen;
	return recvfrom(fd, buf, len, flags, a, alen);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(readv)(fd, iov, cnt);
	ssize_t total = iov_total(iov, cnt);
	if (total <= 0)
		return total; /* too many iovecs (EINVAL), or nothing to read: 0 at once, as read() */
	return jrecv(j, iov, cnt, 0);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(send)(fd, buf, len, flags);
	struct iovec v = { (void *)buf, len };
	return jsend(j, &v, 1, flags);
}

/* TCP Fast Open's connect-and-send (MSG_FASTOPEN with a destination on a fresh stream socket):
 * connect here (a non-blocking socket gets EINPROGRESS, its data not sent, as Linux without a
 * cookie); the caller then sends. -1: the connect failed (errno set). */
static int fastopen_connect(jfd *j, int fd, int *flags, const struct sockaddr *a, socklen_t alen)
{
	if (!(*flags & MSG_FASTOPEN) || !a || !j->idle)
		return 0;
	if (connect(fd, a, alen) < 0)
		return -1;
	*flags &= ~MSG_FASTOPEN;
	return 0;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a,
		      socklen_t alen)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(sendto)(fd, buf, len, flags, a, alen);
	struct iovec v = { (void *)buf, len };
	if (j->type == SOCK_DGRAM)
		return jsend_dg(j, &v, 1, flags, a, alen);
	if (fastopen_connect(j, fd, &flags, a, alen) < 0)
		return -1;
	return jsend(j, &v, 1, flags);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	jfd *j = J(fd);
	if (!j) {
		int handing = handoff_send(m, 1);
		ssize_t r = REAL(sendmsg)(fd, m, flags);
		if (r < 0 && handing) {
			int e = errno;
			handoff_send(m, -1);
			errno = e;
		}
		return r;
	}
	if (m->msg_iovlen > IOV_MAX)
		return fail(EMSGSIZE); /* Linux's sendmsg beyond UIO_MAXIOV */
	if (j->type == SOCK_DGRAM)
		return jsend_dg(j, m->msg_iov, (int)m->msg_iovlen, flags, m->msg_name,
				m->msg_namelen);
	if (fastopen_connect(j, fd, &flags, m->msg_name, m->msg_namelen) < 0)
		return -1;
	return jsend(j, m->msg_iov, (int)m->msg_iovlen, flags);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	static int (*real_sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	jfd *j = J(fd);
	if (!j) {
		if (!real_sendmmsg)
			real_sendmmsg = dlsym(RTLD_NEXT, "sendmmsg");
		return real_sendmmsg(fd, v, n, flags);
	}
	unsigned int i = 0;
	for (; i < n; i++) {
		ssize_t r = sendmsg(fd, &v[i].msg_hdr, i == 0 ? flags : flags | MSG_DONTWAIT);
		if (r < 0)
			return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo)
{
	static int (*real_recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	jfd *j = J(fd);
	if (!j) {
		if (!real_recvmmsg)
			real_recvmmsg = dlsym(RTLD_NEXT, "recvmmsg");
		return real_recvmmsg(fd, v, n, flags, tmo);
	}
	/* As Linux: blocking, every message is waited for (MSG_WAITFORONE: only the first); the
	 * timeout bounds the whole call (Linux checks it only after each datagram; here a wait
	 * also ends at it), and a call that timed out returns what it has (none: EAGAIN). */
	int64_t deadline = tmo ? now_ns() + tmo->tv_sec * 1000000000LL + tmo->tv_nsec : 0;
	int64_t saved = j->rcvtimeo;
	unsigned int i = 0;
	for (; i < n; i++) {
		int f = (flags & ~MSG_WAITFORONE) |
			(i > 0 && (flags & MSG_WAITFORONE) ? MSG_DONTWAIT : 0);
		if (tmo) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				break;
			if (!saved || left < saved)
				j->rcvtimeo = left;
		}
		ssize_t r = recvmsg(fd, &v[i].msg_hdr, f);
		int e = errno;
		j->rcvtimeo = saved;
		if (r < 0) {
			errno = e;
			return i > 0 ? (int)i : -1;
		}
		v[i].msg_len = (unsigned int)r;
		if (r == 0 && j->type == SOCK_STREAM)
			return (int)i + 1;
	}
	if (i == 0 && n > 0)
		return fail(EAGAIN);
	return (int)i;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(write)(fd, buf, len);
	struct iovec v = { (void *)buf, len };
	return jsend(j, &v, 1, 0);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(writev)(fd, iov, cnt);
	ssize_t total = iov_total(iov, cnt);
	if (total <= 0)
		return total; /* too many iovecs (EINVAL), or nothing: 0, no empty datagram (Linux) */
	return jsend(j, iov, cnt, 0);
}

static ssize_t jsendfile(jfd *j, int in, off_t *off, size_t count)
{
	uint8_t *buf = tb()->file;
	size_t done = 0;
	while (done < count) {
		size_t want = count - done < sizeof tb()->file ? count - done : sizeof tb()->file;
		ssize_t n = off ? pread(in, buf, want, *off) : REAL(read)(in, buf, want);
		if (n < 0)
			return done ? (ssize_t)done : -1;
		if (n == 0)
			break;
		struct iovec v = { buf, (size_t)n };
		ssize_t s = jsend(j, &v, 1, 0);
		if (s <= 0) {
			if (!off && s < 0)
				lseek(in, -n, SEEK_CUR);
			return done ? (ssize_t)done : s;
		}
		if (off)
			*off += s;
		else if (s < n)
			lseek(in, s - n, SEEK_CUR);
		done += (size_t)s;
		if (s < n)
			break;
	}
	return (ssize_t)done;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	jfd *j = J(out);
	if (!j)
		return REAL(sendfile)(out, in, off, count);
	return jsendfile(j, in, off, count);
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}
