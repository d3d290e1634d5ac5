/*
 * addr.c — socket addresses: sockaddr_in/in6 to the messages' SockAddr and back, and the
 * loopback test that sends a socket to the kernel.
 */
#include "shim.h"

#include <netinet/in.h>

int is_loopback(const struct sockaddr *a, socklen_t len)
{
	if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const void *)a;
		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const void *)a;
		return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) && s->sin6_addr.s6_addr[12] == 127);
	}
	return 0;
}

/* A connect() or sendto() destination this host's kernel serves: loopback, or the any address,
 * which Linux takes for the loopback (0.0.0.0 → 127.0.0.1, :: → ::1; curl http://0.0.0.0:8080),
 * IPv4-mapped forms included. */
int is_local_dst(const struct sockaddr *a, socklen_t len)
{
	if (is_loopback(a, len))
		return 1;
	if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr == INADDR_ANY;
	if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct in6_addr *x = &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
		return IN6_IS_ADDR_UNSPECIFIED(x) ||
		       (IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr32[3] == INADDR_ANY);
	}
	return 0;
}

/* sockaddr → SockAddr (addr bytes point into `a`). 0 or an errno. */
int to_addr(const struct sockaddr *a, socklen_t len, jr_SockAddr *o)
{
	memset(o, 0, sizeof *o);
	if (!a)
		return EFAULT;
	if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const void *)a;
		o->family = JR_ADDRESS_FAMILY_INET;
		o->port = ntohs(s->sin_port);
		o->addr.ptr = (const uint8_t *)&s->sin_addr;
		o->addr.len = 4;
		return 0;
	}
	if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const void *)a;
		o->family = JR_ADDRESS_FAMILY_INET6;
		o->port = ntohs(s->sin6_port);
		o->addr.ptr = (const uint8_t *)&s->sin6_addr;
		o->addr.len = 16;
		return 0;
	}
	return a->sa_family == AF_INET || a->sa_family == AF_INET6 ? EINVAL : EAFNOSUPPORT;
}

void from_addr(const jr_SockAddr *s, struct sockaddr *a, socklen_t *len)
{
	if (!a || !len)
		return;
	struct sockaddr_storage st;
	memset(&st, 0, sizeof st);
	socklen_t n;
	if (s->family == JR_ADDRESS_FAMILY_INET6 && s->addr.len == 16) {
		struct sockaddr_in6 *o = (void *)&st;
		o->sin6_family = AF_INET6;
		o->sin6_port = htons(s->port);
		memcpy(&o->sin6_addr, s->addr.ptr, 16);
		n = sizeof *o;
	} else {
		struct sockaddr_in *o = (void *)&st;
		o->sin_family = AF_INET;
		o->sin_port = htons(s->port);
		if (s->addr.len == 4)
			memcpy(&o->sin_addr, s->addr.ptr, 4);
		n = sizeof *o;
	}
	memcpy(a, &st, *len < n ? *len : n);
	*len = n;
}
