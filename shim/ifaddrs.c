/*
 * ifaddrs.c — getifaddrs lists Joyride's addresses. The kernel's interfaces in an instance's
 * namespace have none of them (its NIC's interface carries frames, lo the loopback), and a
 * program that picks addresses from the list (named, ntpd, Samba, node's os.networkInterfaces)
 * found nothing of Joyride's to bind. The supervisor writes them to <runtime>/addresses, one
 * "IFNAME ADDRESS/PREFIX" line each; they follow the kernel's entries, on that interface's name
 * and flags. freeifaddrs frees them with the list.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>

#define MAX_ADDRS 8

struct jr_ifa {
	struct ifaddrs ifa;
	struct sockaddr_storage addr, mask, brd;
	char name[IFNAMSIZ];
};

/* Lists handed out with entries of ours appended: the list's head, and our block. */
static struct {
	struct ifaddrs *head;
	struct jr_ifa *ours;
} given[32];
static pthread_mutex_t given_lock = PTHREAD_MUTEX_INITIALIZER;

/* One "IFNAME ADDRESS/PREFIX" line into `e` (flags from the kernel's entry of that name, else
 * up and running); 0 if it is not one. */
static int parse_line(const char *line, struct jr_ifa *e, const struct ifaddrs *kernel)
{
	char name[IFNAMSIZ + 1], addr[64];
	unsigned prefix;
	if (sscanf(line, "%16s %63[^/]/%u", name, addr, &prefix) != 3)
		return 0;
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	e->ifa.ifa_name = e->name;
	e->ifa.ifa_flags = IFF_UP | IFF_RUNNING | IFF_BROADCAST | IFF_MULTICAST;
	for (const struct ifaddrs *k = kernel; k; k = k->ifa_next)
		if (k->ifa_name && strcmp(k->ifa_name, e->name) == 0) {
			e->ifa.ifa_flags = k->ifa_flags;
			break;
		}
	struct sockaddr_in *a4 = (void *)&e->addr, *m4 = (void *)&e->mask, *b4 = (void *)&e->brd;
	struct sockaddr_in6 *a6 = (void *)&e->addr, *m6 = (void *)&e->mask;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1 && prefix <= 32) {
		a4->sin_family = m4->sin_family = b4->sin_family = AF_INET;
		uint32_t m = prefix ? htonl(~0u << (32 - prefix)) : 0;
		m4->sin_addr.s_addr = m;
		b4->sin_addr.s_addr = a4->sin_addr.s_addr | ~m;
		e->ifa.ifa_broadaddr = (struct sockaddr *)&e->brd;
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1 && prefix <= 128) {
		a6->sin6_family = m6->sin6_family = AF_INET6;
		for (unsigned i = 0; i < 16; i++) {
			unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
			m6->sin6_addr.s6_addr[i] = (uint8_t)(bits >= 8 ? 0xff : (0xff00 >> bits) & 0xff);
		}
	} else {
		return 0;
	}
	e->ifa.ifa_addr = (struct sockaddr *)&e->addr;
	e->ifa.ifa_netmask = (struct sockaddr *)&e->mask;
	return 1;
}

EXPORT int getifaddrs(struct ifaddrs **out)
{
	int r = REAL(getifaddrs)(out);
	if (r != 0 || joyride_on() <= 0)
		return r;
	char path[512];
	snprintf(path, sizeof path, "%s/addresses", runtime_dir());
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	struct jr_ifa *ours = calloc(MAX_ADDRS, sizeof *ours);
	int n = 0;
	char line[256];
	while (ours && n < MAX_ADDRS && fgets(line, sizeof line, f))
		n += parse_line(line, &ours[n], *out);
	fclose(f);
	if (n == 0) {
		free(ours);
		return 0;
	}
	pthread_mutex_lock(&given_lock);
	int slot = -1;
	for (int i = 0; i < 32 && slot < 0; i++)
		if (!given[i].ours)
			slot = i;
	if (slot < 0) { /* 32 lists not freed yet: this one as the kernel has it */
		pthread_mutex_unlock(&given_lock);
		free(ours);
		return 0;
	}
	for (int i = 0; i + 1 < n; i++)
		ours[i].ifa.ifa_next = &ours[i + 1].ifa;
	struct ifaddrs **tail = out;
	while (*tail)
		tail = &(*tail)->ifa_next;
	*tail = &ours[0].ifa;
	given[slot].head = *out;
	given[slot].ours = ours;
	pthread_mutex_unlock(&given_lock);
	return 0;
}

EXPORT void freeifaddrs(struct ifaddrs *ifa)
{
	pthread_mutex_lock(&given_lock);
	for (int i = 0; i < 32 && ifa; i++) {
		if (given[i].head != ifa)
			continue;
		struct jr_ifa *ours = given[i].ours;
		given[i].head = NULL;
		given[i].ours = NULL;
		pthread_mutex_unlock(&given_lock);
		int only_ours = ifa == &ours[0].ifa;
		free(ours);
		if (!only_ours)
			REAL(freeifaddrs)(ifa);
		return;
	}
	pthread_mutex_unlock(&given_lock);
	REAL(freeifaddrs)(ifa);
}
