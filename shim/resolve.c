/*
 * resolve.c — getaddrinfo's AI_ADDRCONFIG sees Joyride's addresses. glibc decides it from the
 * kernel's interfaces (netlink), where Joyride's addresses are not: in an instance's namespace
 * an AF_INET lookup with AI_ADDRCONFIG failed with EAI_NONAME even for "198.18.0.1" (memaslap's
 * UDP mode). Joyride has an IPv4 and an IPv6 address, so the flag leaves nothing out; it is
 * cleared when the program uses Joyride. Names still go to glibc's resolver, whose own socket
 * calls no preload sees (README: numeric addresses).
 */
#include "shim.h"

#include <netdb.h>

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	if (hints && (hints->ai_flags & AI_ADDRCONFIG) && joyride_on() > 0) {
		struct addrinfo h = *hints;
		h.ai_flags &= ~AI_ADDRCONFIG;
		return REAL(getaddrinfo)(node, service, &h, res);
	}
	return REAL(getaddrinfo)(node, service, hints, res);
}
