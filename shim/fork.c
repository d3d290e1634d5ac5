/*
 * fork.c — fork: a child holds every socket its parent held, so each socket's references
 * are counted for it before the fork (in the parent), or in the child for a fork the wrapper
 * did not see (pthread_atfork).
 */
#include "shim.h"

#include <stdlib.h>

/* Adds `d` to the references of every Joyride socket this process holds. */
void refs_all(int d)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (fdt[fd].used)
			__atomic_add_fetch(slot32(fdt[fd].id, SLOT_OFF_REFS), (uint32_t)d,
					   __ATOMIC_SEQ_CST);
}

/* Set by fork() below around the real fork, in the forking thread (the child's only thread
 * is its copy): the child's references were counted before the fork. */
static __thread int fork_counted;

void after_fork_child(void)
{
	my_pid = getpid();
	tid_forget();
	inflight_forget();
	if (G.state != 1)
		return;
	holder_join(); /* a new process: an entry and a row of its own */
	if (fork_counted) {
		fork_counted = 0;
		return;
	}
	/* A fork the wrapper did not see: the child holds every socket the parent held. */
	refs_all(1);
}

/* The child's references are counted before the fork, in the parent: counted in the child
 * (atfork), a parent closing its copy first (socat UDP-LISTEN,fork) dropped the last
 * reference and the socket was closed under the child (EBADF). */
EXPORT pid_t fork(void)
{
	static pid_t (*real_fork)(void);
	if (!real_fork)
		real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	int counted = G.state == 1;
	if (counted) {
		refs_all(1);
		holder_reserve();
	}
	fork_counted = counted;
	pid_t pid = real_fork();
	if (pid != 0) {
		fork_counted = 0;
		if (counted)
			holder_forked(pid);
		if (pid < 0 && counted)
			refs_all(-1);
	}
	return pid;
}

/* fork(2) through syscall() (SYS_clone or SYS_clone3 without CLONE_VM, SYS_fork), as vsftpd
 * forks: the child's references are counted first, in the parent, as fork() does, and the
 * child takes the tables as its own (no pthread_atfork handler runs for it). It passed for a
 * vfork child before: its dup2 failed with EINVAL, and what it wrote after the parent closed its
 * copy was lost. */
long raw_fork(long nr, const long a[6])
{
	int counted = G.state == 1;
	if (counted) {
		refs_all(1);
		holder_reserve();
	}
	long pid = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (pid == 0) {
		my_pid = getpid();
		tid_forget();
		holder_join();
		return 0;
	}
	if (counted)
		holder_forked((pid_t)pid);
	if (pid < 0 && counted)
		refs_all(-1);
	return pid;
}

/* This process is ending: it lets go of every Joyride socket it holds, as the kernel closes a
 * dying process's descriptors. A forked child that exits without close() (PostgreSQL's
 * backends, an inetd child that exec'd, os._exit) kept its references, so the socket never
 * closed: the peer waited for an EOF (psql's cancel request hung), a listener's port stayed
 * taken. Closes that end a socket go one-way (no reply to wait for while exiting). A vfork
 * child shares its parent's tables and was never counted: it lets go of nothing. A process
 * killed by a signal runs none of this: the socket service takes its references off when its
 * pid ends (holder.c). */
static void release_all_at_exit(void)
{
	if (G.state != 1 || vfork_child())
		return;
	/* Bounded: a server that no longer takes calls (the instance stopped) must not hold the
	 * exit of a process with many sockets. */
	int64_t deadline = now_ns() + 2000000000LL;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!fdt[fd].used)
			continue;
		__atomic_store_n(&fdt[fd].used, 0, __ATOMIC_SEQ_CST);
		holder_count(fdt[fd].id, -1);
		if (unref_as(fdt[fd].id, 1, deadline) == ETIMEDOUT)
			deadline = -1; /* ring full and past the deadline: skip the rest */
	}
	inflight_release_all(deadline);
	holder_leave();
}

void exit_hooks_init(void)
{
	atexit(release_all_at_exit);
}

/* _exit and _Exit skip atexit handlers (Python's os._exit, a child after fork). */
EXPORT void _exit(int status)
{
	static void (*real)(int);
	if (!real)
		real = (void (*)(int))dlsym(RTLD_NEXT, "_exit");
	release_all_at_exit();
	real(status);
	__builtin_unreachable();
}

EXPORT void _Exit(int status)
{
	_exit(status);
}
