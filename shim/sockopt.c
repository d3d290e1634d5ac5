/*
 * sockopt.c — a socket's names and options: getsockname/getpeername, getsockopt/setsockopt
 * (passed to the engine; SO_TYPE/DOMAIN/PROTOCOL/ERROR answered here, SO_RCVTIMEO/SNDTIMEO
 * kept here per process, options the engine does not model accepted and ignored).
 */
#include "shim.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

/* A call whose reply carries a result of kind `which`: 0, or -1 with errno. */
static int result_call(jr_SocketCall *c, jr_SocketReply *r, int which)
{
	int e = jcall(c, r);
	if (e < 0)
		return fail(-e);
	if (r->errno_)
		return fail(r->errno_);
	if (r->result.which != which)
		return fail(EIO);
	return 0;
}

/* An address out-argument as the kernel checks it: a length pointer with no address (or the
 * other way round) is EFAULT, a negative length EINVAL (it answered as if all was well). */
int bad_addr_out(const struct sockaddr *a, const socklen_t *len, int need_both)
{
	if ((a && !len) || (need_both && (!a || !len)))
		return EFAULT;
	if (len && (int)*len < 0)
		return EINVAL;
	return 0;
}

static int name_call(int fd, struct sockaddr *a, socklen_t *len, int peer)
{
	jfd *j = J(fd);
	int bad = bad_addr_out(a, len, 1);
	if (bad)
		return fail(bad);
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = peer ? JR_SOCKET_CALL_CALL_GETPEERNAME : JR_SOCKET_CALL_CALL_GETSOCKNAME;
	c.socket_id = j->id;
	jr_SocketReply r;
	if (result_call(&c, &r, JR_SOCKET_REPLY_RESULT_ADDR) < 0)
		return -1;
	from_addr(&r.result.addr, a, len);
	return 0;
}

EXPORT int getsockname(int fd, struct sockaddr *a, socklen_t *len)
{
	if (!J(fd))
		return REAL(getsockname)(fd, a, len);
	return name_call(fd, a, len, 0);
}

EXPORT int getpeername(int fd, struct sockaddr *a, socklen_t *len)
{
	if (!J(fd))
		return REAL(getpeername)(fd, a, len);
	return name_call(fd, a, len, 1);
}

static void put_int(void *v, socklen_t *len, int x)
{
	if (!v || !len)
		return;
	if (*len >= sizeof(int)) {
		memcpy(v, &x, sizeof(int));
		*len = sizeof(int);
	} else if (*len > 0) {
		*(char *)v = (char)x;
		*len = 1;
	}
}

EXPORT int getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(getsockopt)(fd, level, name, v, len);
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_TYPE:
			put_int(v, len, j->type);
			return 0;
		case SO_DOMAIN:
			put_int(v, len, j->domain);
			return 0;
		case SO_PROTOCOL:
			put_int(v, len, j->type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP);
			return 0;
		case SO_ERROR: {
			int e = so_error(j->id);
			put_int(v, len, e);
			return 0;
		}
		case SO_ACCEPTCONN:
			break;
		case SO_RCVTIMEO:
		case SO_SNDTIMEO: {
			int64_t ns = name == SO_RCVTIMEO ? j->rcvtimeo : j->sndtimeo;
			struct timeval tv = { ns / 1000000000, (ns % 1000000000) / 1000 };
			if (!len || !v)
				return fail(EFAULT);
			socklen_t n = *len < sizeof tv ? *len : (socklen_t)sizeof tv;
			memcpy(v, &tv, n);
			*len = n;
			return 0;
		}
		}
	}
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_GETSOCKOPT;
	c.call.getsockopt.level = level;
	c.call.getsockopt.name = name;
	c.call.getsockopt.max_len = len ? *len : 0;
	c.socket_id = j->id;
	jr_SocketReply r;
	if (result_call(&c, &r, JR_SOCKET_REPLY_RESULT_SOCKOPT) < 0)
		return -1;
	if (r.result.sockopt.which == JR_SOCKET_REPLY_RESULT_SOCKOPT_INT) {
		put_int(v, len, r.result.sockopt.int_);
	} else if (v && len) {
		socklen_t n = r.result.sockopt.bytes.len;
		memcpy(v, r.result.sockopt.bytes.ptr, n < *len ? n : *len);
		*len = n < *len ? n : *len;
	}
	return 0;
}

EXPORT int setsockopt(int fd, int level, int name, const void *v, socklen_t len)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(setsockopt)(fd, level, name, v, len);
	if (!v && len)
		return fail(EFAULT);
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
		/* Kept in the shim: blocking calls wait this long, then EAGAIN (EINPROGRESS for
		 * connect), and are not restarted after a signal. */
		struct timeval tv;
		if (len < sizeof tv)
			return fail(EINVAL);
		memcpy(&tv, v, sizeof tv);
		if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
			return fail(EDOM);
		int64_t ns = tv.tv_sec < 0 ? 0 : (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
		*(name == SO_RCVTIMEO ? &j->rcvtimeo : &j->sndtimeo) = ns;
		return 0;
	}
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_SETSOCKOPT;
	c.call.setsockopt.level = level;
	c.call.setsockopt.name = name;
	int is_int = len == sizeof(int) && !(level == SOL_SOCKET && name == SO_LINGER);
	if (is_int) {
		c.call.setsockopt.value.which = JR_SOCKET_CALL_CALL_SETSOCKOPT_VALUE_INT;
		memcpy(&c.call.setsockopt.value.int_, v, sizeof(int));
	} else {
		c.call.setsockopt.value.which = JR_SOCKET_CALL_CALL_SETSOCKOPT_VALUE_BYTES;
		c.call.setsockopt.value.bytes.ptr = v;
		c.call.setsockopt.value.bytes.len = len > 256 ? 256 : len;
	}
	int e;
	if (is_int && j->type == SOCK_STREAM && level == IPPROTO_TCP &&
	    (name == TCP_NODELAY || name == TCP_CORK)) {
		/* Cannot fail on a stream socket, and nginx sets both around every response
		 * (tcp_nopush): not waiting for the server's answer spares four round trips per
		 * request. The server takes calls in order, so a later getsockopt reads it back. */
		e = oneway_call(&c, j->id, 0);
	} else {
		e = simple_call(&c, j->id);
	}
	/* Options the engine does not model (timeouts, priorities…) the server accepts and
	 * remembers, as many programs treat a failing setsockopt as fatal; a number Linux does not
	 * have fails with ENOPROTOOPT (servers/tcp/service/service.ts LINUX_OPT_MAX). */
	if (e)
		return fail(e);
	/* Control messages recvmsg adds to datagrams (dg_control). */
	int bit = 0;
	if (level == SOL_SOCKET)
		bit = name == SO_TIMESTAMP ? RX_TIMESTAMP : name == SO_TIMESTAMPNS ? RX_TIMESTAMPNS : 0;
	else if (level == IPPROTO_IP)
		bit = name == IP_PKTINFO ? RX_PKTINFO : name == IP_RECVTTL ? RX_TTL : 0;
	else if (level == IPPROTO_IPV6)
		bit = name == IPV6_RECVPKTINFO	  ? RX_PKTINFO6
		      : name == IPV6_RECVHOPLIMIT ? RX_HOPLIMIT
						  : 0;
	if (bit && j->type == SOCK_DGRAM && len >= sizeof(int)) {
		int on;
		memcpy(&on, v, sizeof on);
		j->rx_opts = (uint8_t)(on ? j->rx_opts | bit : j->rx_opts & ~bit);
		twin_rx_opts(j);
	}
	if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && len >= sizeof(int)) {
		int on;
		memcpy(&on, v, sizeof on);
		j->v6only = on != 0; /* jsend_dg refuses IPv4-mapped destinations at once */
	}
	/* Kept for a kernel socket taking this one's place on the loopback (optlog.c), and given
	 * to the twin it has: a loopback connection accepted there inherits it, as Linux's. A
	 * connected stream has neither ahead of it (nginx sets TCP_CORK around every response:
	 * no log for each connection). */
	if (!(j->type == SOCK_STREAM && j->connected))
		optlog_note(fd, level, name, v, len);
	if (j->lo && !(level == SOL_SOCKET && name == SO_BINDTODEVICE) &&
	    !(level == IPPROTO_IPV6 && name == IPV6_V6ONLY))
		REAL(setsockopt)(j->lo - 1, level, name, v, len);
	return 0;
}
