/*
 * optlog.c — the options a program set on a Joyride socket, kept in the shim for the kernel
 * sockets that stand in for it on the same host: the one a connect() or bind() to the loopback
 * turns it into (to_kernel), and its loopback twin (twin.c). Lost, a client's TCP_NODELAY set
 * before connecting to 127.0.0.1 left Nagle and delayed ACKs on (pika to a local RabbitMQ:
 * 44 ms a request), and SO_REUSEADDR before a bind to 127.0.0.1 was forgotten (a restarted
 * server failed with EADDRINUSE beside a TIME_WAIT). Integer and small options of the socket,
 * IP, IPv6 and TCP levels; the log follows dup, not exec.
 */
#include "shim.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>

#define OPT_MAX 16	/* options remembered per socket (a later setting of one replaces it) */
#define OPT_BYTES 16	/* the largest value remembered (SO_LINGER's 8) */

struct opt {
	int level, name;
	socklen_t len;
	uint8_t v[OPT_BYTES];
};

struct optlog {
	int n;
	struct opt o[OPT_MAX];
};

static struct optlog *logs[MAX_FDS];

static int kept_level(int level)
{
	return level == SOL_SOCKET || level == IPPROTO_IP || level == IPPROTO_IPV6 ||
	       level == IPPROTO_TCP;
}

void optlog_note(int fd, int level, int name, const void *v, socklen_t len)
{
	if (fd < 0 || fd >= MAX_FDS || !kept_level(level) || len > OPT_BYTES || !v)
		return;
	struct optlog *l = logs[fd];
	if (!l && !(l = logs[fd] = calloc(1, sizeof *l)))
		return;
	int i = 0;
	while (i < l->n && !(l->o[i].level == level && l->o[i].name == name))
		i++;
	if (i == OPT_MAX)
		return; /* full: the first ones are kept */
	if (i == l->n)
		l->n++;
	l->o[i].level = level;
	l->o[i].name = name;
	l->o[i].len = len;
	memcpy(l->o[i].v, v, len);
}

void optlog_apply(int fd, int kfd)
{
	struct optlog *l = fd >= 0 && fd < MAX_FDS ? logs[fd] : NULL;
	for (int i = 0; l && i < l->n; i++)
		REAL(setsockopt)(kfd, l->o[i].level, l->o[i].name, l->o[i].v, l->o[i].len);
}

void optlog_dup(int from, int to)
{
	if (from < 0 || from >= MAX_FDS || to < 0 || to >= MAX_FDS || from == to)
		return;
	optlog_drop(to);
	if (logs[from] && (logs[to] = malloc(sizeof *logs[to])) != NULL)
		*logs[to] = *logs[from];
}

void optlog_drop(int fd)
{
	if (fd < 0 || fd >= MAX_FDS || !logs[fd])
		return;
	free(logs[fd]);
	logs[fd] = NULL;
}
