/*
 * rlimit.c — a program's address-space limit (RLIMIT_AS) leaves out the shim's own mapping:
 * the app's region (every socket's rings, ~1 GiB of address space for 4096 sockets) is not the
 * program's to budget. vsftpd limits itself to 200 MB, and every later mmap failed ("500 OOPS:
 * mmap"). Setting the limit raises it by the region's size; reading it gives the program's own
 * figure back. Only once the region is mapped (a limit set before the first socket counts as
 * set).
 */
#include "shim.h"

#include <sys/resource.h>

/* What the shim maps beside the program (0 before registration). */
static rlim_t shim_bytes(void)
{
	return G.state == 1 ? (rlim_t)G.reg.size : 0;
}

static rlim_t plus(rlim_t v, rlim_t d)
{
	return v == RLIM_INFINITY || v > RLIM_INFINITY - d ? RLIM_INFINITY : v + d;
}

static rlim_t minus(rlim_t v, rlim_t d)
{
	return v == RLIM_INFINITY ? v : v > d ? v - d : 0;
}

/* prlimit(2) on this process (pid 0 or ours), RLIMIT_AS adjusted both ways. */
EXPORT int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *nl, struct rlimit *ol)
{
	rlim_t d = res == RLIMIT_AS && (pid == 0 || pid == getpid()) ? shim_bytes() : 0;
	struct rlimit n;
	if (nl && d) {
		n.rlim_cur = plus(nl->rlim_cur, d);
		n.rlim_max = plus(nl->rlim_max, d);
		nl = &n;
	}
	int r = (int)REAL(syscall)(SYS_prlimit64, (long)pid, (long)res, (long)nl, (long)ol, 0L, 0L);
	if (r == 0 && ol && d) {
		ol->rlim_cur = minus(ol->rlim_cur, d);
		ol->rlim_max = minus(ol->rlim_max, d);
	}
	return r;
}

EXPORT int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *nl,
		     struct rlimit64 *ol)
{
	return prlimit(pid, res, (const struct rlimit *)nl, (struct rlimit *)ol);
}

EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	return prlimit(0, res, rl, NULL);
}

EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
	return prlimit(0, res, (const struct rlimit *)rl, NULL);
}

EXPORT int getrlimit(__rlimit_resource_t res, struct rlimit *rl)
{
	return prlimit(0, res, NULL, rl);
}

EXPORT int getrlimit64(__rlimit_resource_t res, struct rlimit64 *rl)
{
	return prlimit(0, res, NULL, (struct rlimit *)rl);
}
