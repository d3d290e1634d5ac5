/*
 * udp.c — datagram sockets: each ring holds records of DG_HDR bytes (length, family, port,
 * address) + payload, as servers/tcp/service/service.ts writes and reads them; a record is
 * published with one tail update, so it is never seen half. Asynchronous errors (ICMP) come
 * through SO_ERROR.
 */
#include "shim.h"

#include <netinet/in.h>
#include <sched.h>

/* A datagram socket's wait: a record, or an asynchronous error (ICMP) in SO_ERROR. */
struct dg_wait {
	bring *b;
	uint32_t id;
};

static int dg_ready(void *a)
{
	struct dg_wait *w = a;
	return br_readable(w->b) > 0 || ld(slot32(w->id, SLOT_OFF_SO_ERROR)) != 0 ||
	       br_state(w->b, JR_STATE_PRODUCER_CLOSED);
}

/* A pending asynchronous error of a datagram socket, taken (0 when none). */
static int dg_error(jfd *j)
{
	return so_error(j->id);
}

void dg_copy_out(bring *b, uint32_t at, void *dst, uint32_t n)
{
	uint8_t *data = b->h + JR_RING_HEADER_SIZE;
	uint32_t off = at & (b->cap - 1);
	uint32_t first = b->cap - off < n ? b->cap - off : n;
	memcpy(dst, data + off, first);
	if (n > first)
		memcpy((uint8_t *)dst + first, data, n - first);
}

/* How long a non-blocking send waits for room in a full ring before EAGAIN (jsend_dg). */
#define DG_NONBLOCK_SPIN_NS 200000

/* Copies `n` bytes into ring `b` at stream offset `at` (wrapping); the offset after them. */
static uint32_t dg_put(bring *b, uint32_t at, const void *src, uint32_t n)
{
	uint8_t *data = b->h + JR_RING_HEADER_SIZE;
	uint32_t off = at & (b->cap - 1);
	uint32_t first = b->cap - off < n ? b->cap - off : n;
	memcpy(data + off, src, first);
	if (n > first)
		memcpy(data, (const uint8_t *)src + first, n - first);
	return at + n;
}

ssize_t jsend_dg(jfd *j, const struct iovec *iov, int cnt, int flags,
			const struct sockaddr *to, socklen_t tolen)
{
	sig_begin();
	if (j->shut_wr)
		return fail(EPIPE); /* no SIGPIPE: Linux raises it for streams only */
	struct sockaddr_in u4;
	if (to && j->domain == AF_INET && to->sa_family == AF_UNSPEC && tolen >= sizeof u4) {
		/* Linux's IPv4 sendto reads an AF_UNSPEC address as AF_INET (IPv6 as none) */
		memcpy(&u4, to, sizeof u4);
		u4.sin_family = AF_INET;
		to = (const struct sockaddr *)&u4;
		tolen = sizeof u4;
	}
	bring b;
	if (ring_of(j->id, 0, &b) < 0)
		return fail(EBADF);
	size_t len = 0;
	for (int i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	if ((!to || to->sa_family == AF_UNSPEC) && j->idle)
		return fail(EDESTADDRREQ); /* no address and not connected (Linux) */
	uint8_t hdr[DG_HDR];
	memset(hdr, 0, sizeof hdr);
	/* The largest payload: 65,535 less the IPv4 and UDP headers, or less the UDP header
	 * alone over IPv6 (its header is not counted in the payload length). */
	int v4 = j->domain == AF_INET;
	if (to && to->sa_family != AF_UNSPEC) {
		if (is_local_dst(to, tolen))
			return twin_send(j, iov, cnt, flags, to, tolen); /* the same host (twin.c) */
		jr_SockAddr a;
		int e = to_addr(to, tolen, &a);
		if (e)
			return fail(e);
		if (a.port == 0)
			return fail(EINVAL); /* Linux: no datagram to port 0 */
		int mapped = a.addr.len == 16 &&
			     IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a.addr.ptr);
		if (mapped && j->v6only)
			return fail(ENETUNREACH); /* an IPv6-only socket reaches no IPv4 peer */
		v4 = a.family == JR_ADDRESS_FAMILY_INET || mapped;
		uint16_t fam = a.family == JR_ADDRESS_FAMILY_INET ? AF_INET : AF_INET6;
		memcpy(hdr + JR_DGRAM_OFF_FAMILY, &fam, 2);
		memcpy(hdr + JR_DGRAM_OFF_PORT, &a.port, 2);
		memcpy(hdr + JR_DGRAM_OFF_ADDR, a.addr.ptr, a.addr.len);
	}
	if (len > (v4 ? 65507u : 65527u) || len + DG_HDR > b.cap)
		return fail(EMSGSIZE);
	uint32_t l32 = (uint32_t)len;
	memcpy(hdr + JR_DGRAM_OFF_LEN, &l32, 4);
	if (!j->named) {
		/* The first send binds a port (Linux does so in the send call itself): bound
		 * here, getsockname() right after it sees the port; left to the server, it
		 * showed port 0 until the server had taken the datagram (187 of 200 tries). */
		j->named = 1;
		struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
		struct sockaddr_in any4 = { .sin_family = AF_INET };
		if (j->domain == AF_INET6)
			bind(fd_of(j), (struct sockaddr *)&any6, sizeof any6);
		else
			bind(fd_of(j), (struct sockaddr *)&any4, sizeof any4);
	}
	int e0 = dg_error(j); /* a pending ICMP error fails the next send too (Linux) */
	if (e0)
		return fail(e0);
	uint32_t *lock = slot32(j->id, SLOT_OFF_SEND_LOCK);
	plock(lock);
	int64_t spin_end = 0;
	for (;;) {
		uint32_t used = ld(RU32(&b, JR_RING_OFF_TAIL)) - ld(RU32(&b, JR_RING_OFF_HEAD));
		if (used <= b.cap && b.cap - used >= DG_HDR + len)
			break;
		if ((is_nonblock(j) || (flags & MSG_DONTWAIT)) && spin_end >= 0) {
			/* Non-blocking and the ring full: Linux sends a datagram within the call (the
			 * socket buffer frees as it leaves), so a paced sender never sees EAGAIN; here
			 * the server drains the ring a moment later. Wait that moment, bounded. */
			if (spin_end == 0) {
				kick();
				spin_end = now_ns() + DG_NONBLOCK_SPIN_NS;
			} else if (now_ns() > spin_end) {
				spin_end = -1;
			}
			sched_yield();
			continue;
		}
		int w = ring_wait(j, flags, RU32(&b, JR_RING_OFF_SPACE_BELL), wr_ready, &b, j->sndtimeo);
		if (w) {
			punlock(lock);
			return fail(w);
		}
	}
	/* One record, one tail update: write header and payload, then publish once. Every
	 * iovec: the header counts them all (the first 65 only were copied, and the rest of the
	 * ring then read payload bytes as the next records' headers — their destinations too). */
	uint32_t tail = ld(RU32(&b, JR_RING_OFF_TAIL));
	uint32_t at = dg_put(&b, tail, hdr, DG_HDR);
	for (int i = 0; i < cnt; i++)
		at = dg_put(&b, at, iov[i].iov_base, (uint32_t)iov[i].iov_len);
	__atomic_store_n(RU32(&b, JR_RING_OFF_TAIL), at, __ATOMIC_SEQ_CST);
	touch_ring(&b);
	bell_wake(&b, JR_RING_OFF_DATA_BELL);
	punlock(lock);
	kick();
	return (ssize_t)len;
}

static __thread unsigned twin_turn;

ssize_t jrecv_dg(jfd *j, struct msghdr *m, int flags)
{
	/* No error queue (IP_RECVERR reports are not made): empty at once, as Linux says. Taken as
	 * a receive, it waited for a datagram and then ate it (socat after a failed connect hung
	 * in it). */
	if (flags & MSG_ERRQUEUE)
		return fail(EAGAIN);
	sig_begin();
	bring b;
	if (ring_of(j->id, 1, &b) < 0)
		return fail(EBADF);
	uint32_t *lock = slot32(j->id, SLOT_OFF_RECV_LOCK);
	plock(lock);
	int64_t deadline = j->rcvtimeo ? now_ns() + j->rcvtimeo : 0;
	for (;;) {
		/* A datagram over the loopback (the kernel fills in all of `m`) when the ring has
		 * none, and one receive in 16 anyway so that a busy ring does not starve it: a
		 * recvmsg on the twin before every receive was a system call per datagram. */
		if (j->lo && (br_readable(&b) < DG_HDR || (++twin_turn & 15) == 0)) {
			ssize_t n = twin_take(j, m, flags);
			if (n >= 0 || errno != EAGAIN) {
				punlock(lock);
				return n;
			}
		}
		if (br_readable(&b) >= DG_HDR)
			break;
		if (br_state(&b, JR_STATE_PRODUCER_CLOSED)) {
			punlock(lock);
			return 0; /* shut down for reading (Linux: 0 from now on) */
		}
		int e = dg_error(j); /* ECONNREFUSED after an ICMP port unreachable (Linux) */
		if (e) {
			punlock(lock);
			return fail(e);
		}
		struct dg_wait dw = { &b, j->id };
		int w;
		if (!j->lo)
			w = ring_wait(j, flags, RU32(&b, JR_RING_OFF_DATA_BELL), dg_ready, &dw,
				      j->rcvtimeo);
		else if (is_nonblock(j) || (flags & MSG_DONTWAIT))
			w = EAGAIN;
		else
			w = twin_wait(j, fd_of(j), dg_ready, &dw, deadline);
		if (w) {
			punlock(lock);
			return fail(w);
		}
	}
	uint32_t head = ld(RU32(&b, JR_RING_OFF_HEAD));
	uint8_t hdr[DG_HDR];
	dg_copy_out(&b, head, hdr, DG_HDR);
	uint32_t len;
	memcpy(&len, hdr + JR_DGRAM_OFF_LEN, 4);
	if (len > b.cap - DG_HDR) {
		punlock(lock);
		return fail(EIO);
	}
	while (br_readable(&b) < DG_HDR + len)
		sched_yield(); /* the server publishes a record at once; never seen half */
	size_t got = 0;
	for (size_t i = 0; i < m->msg_iovlen && got < len; i++) {
		const struct iovec *v = &m->msg_iov[i];
		size_t n = v->iov_len < len - got ? v->iov_len : len - got;
		dg_copy_out(&b, head + DG_HDR + (uint32_t)got, v->iov_base, (uint32_t)n);
		got += n;
	}
	m->msg_flags = got < len ? MSG_TRUNC : 0;
	if (m->msg_name) {
		uint16_t fam, port;
		memcpy(&fam, hdr + JR_DGRAM_OFF_FAMILY, 2);
		memcpy(&port, hdr + JR_DGRAM_OFF_PORT, 2);
		jr_SockAddr a = { .family = fam == AF_INET6 ? JR_ADDRESS_FAMILY_INET6
							     : JR_ADDRESS_FAMILY_INET,
				  .port = port };
		a.addr.ptr = hdr + JR_DGRAM_OFF_ADDR;
		a.addr.len = fam == AF_INET6 ? 16 : 4;
		from_addr(&a, m->msg_name, &m->msg_namelen);
	} else {
		m->msg_namelen = 0;
	}
	dg_control(j, hdr, m);
	if (!(flags & MSG_PEEK)) {
		__atomic_store_n(RU32(&b, JR_RING_OFF_HEAD), head + DG_HDR + len, __ATOMIC_SEQ_CST);
		touch_ring(&b);
		bell_wake(&b, JR_RING_OFF_SPACE_BELL);
		kick();
	}
	punlock(lock);
	return (ssize_t)((flags & MSG_TRUNC) ? len : got);
}

/* Appends one control message to `m` (MSG_CTRUNC when it does not fit, as Linux). */
static void put_cmsg(struct msghdr *m, size_t *used, int level, int type, const void *data,
		     size_t len)
{
	size_t need = CMSG_SPACE(len);
	if (!m->msg_control || *used + CMSG_LEN(len) > m->msg_controllen) {
		m->msg_flags |= MSG_CTRUNC;
		return;
	}
	struct cmsghdr *c = (struct cmsghdr *)((uint8_t *)m->msg_control + *used);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*used += need < m->msg_controllen - *used ? need : m->msg_controllen - *used;
}

void dg_control(const jfd *j, const uint8_t *hdr, struct msghdr *m)
{
	size_t used = 0;
	uint32_t ifindex;
	memcpy(&ifindex, hdr + JR_DGRAM_OFF_IFINDEX, 4);
	int ttl = hdr[JR_DGRAM_OFF_TTL];
	const uint8_t *dst = hdr + JR_DGRAM_OFF_DST;
	/* A datagram the server gave no destination for (none recorded): no control data. */
	int known = ifindex != 0;
	/* A receive time (SO_TIMESTAMP/SO_TIMESTAMPNS), first as Linux's: the time the program
	 * takes the datagram, within the ring's wait of its arrival (ntpd refused a datagram that
	 * came without one, and exited). */
	if (j->rx_opts & (RX_TIMESTAMP | RX_TIMESTAMPNS)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (j->rx_opts & RX_TIMESTAMPNS) {
			put_cmsg(m, &used, SOL_SOCKET, SCM_TIMESTAMPNS, &now, sizeof now);
		} else {
			struct timeval tv = { now.tv_sec, now.tv_nsec / 1000 };
			put_cmsg(m, &used, SOL_SOCKET, SCM_TIMESTAMP, &tv, sizeof tv);
		}
	}
	if (known && (j->rx_opts & RX_PKTINFO) && j->domain == AF_INET) {
		struct in_pktinfo p;
		memset(&p, 0, sizeof p);
		p.ipi_ifindex = (int)ifindex;
		memcpy(&p.ipi_addr, dst, 4);
		memcpy(&p.ipi_spec_dst, dst, 4);
		put_cmsg(m, &used, IPPROTO_IP, IP_PKTINFO, &p, sizeof p);
	}
	if (known && (j->rx_opts & RX_TTL) && j->domain == AF_INET)
		put_cmsg(m, &used, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
	if (known && (j->rx_opts & RX_PKTINFO6) && j->domain == AF_INET6) {
		struct in6_pktinfo p;
		memset(&p, 0, sizeof p);
		memcpy(&p.ipi6_addr, dst, 16);
		p.ipi6_ifindex = ifindex;
		put_cmsg(m, &used, IPPROTO_IPV6, IPV6_PKTINFO, &p, sizeof p);
	}
	if (known && (j->rx_opts & RX_HOPLIMIT) && j->domain == AF_INET6)
		put_cmsg(m, &used, IPPROTO_IPV6, IPV6_HOPLIMIT, &ttl, sizeof ttl);
	m->msg_controllen = used;
}
