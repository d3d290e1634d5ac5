/*
 * libjoyride.so — the LD_PRELOAD shim (DESIGN §6). Takes over the socket API of libc for
 * AF_INET/AF_INET6 stream sockets and hands them to Joyride's TCP/IP server; everything else
 * (AF_UNIX, netlink, loopback addresses, …) goes to the kernel untouched.
 *
 * - Registration: on the first Joyride socket, connect to the naming server's apps.sock
 *   (SOCK_SEQPACKET), send RegisterApp (Cap'n Proto, generated C codec), receive the app's
 *   region memfd and the service eventfd (SCM_RIGHTS). The region holds the call rings, the
 *   socket slots and per-socket byte rings (servers/naming/apps_region.ts; its constants are
 *   mirrored in shim.h).
 * - Control calls: SocketCall/SocketReply over the request/reply message rings, one call at a
 *   time per app (a futex lock in the region shared by threads and forked children).
 * - Data: send() copies into the socket's send byte ring, recv() out of its receive ring; no
 *   message per call. Blocking waits spin briefly, then sleep on the ring's doorbell (futex).
 * - Placeholders: each Joyride socket is a kernel eventfd (so fd numbers never collide). The
 *   server holds a duplicate (pidfd_getfd) and writes to it when the socket's readiness gains
 *   bits; poll/select/epoll wait on the eventfds beside kernel fds and report the socket's
 *   real readiness from its slot.
 *
 * Not intercepted (documented in shim/README.md): static binaries, raw syscalls.
 *
 * This file holds the library's state (the fd table, the registration, the real libc
 * functions) and its constructor. The rest, one concept a file, sharing shim.h:
 *   register.c  registration with naming        call.c    control calls (SocketCall/Reply)
 *   addr.c      sockaddr <-> SockAddr            sync.c    futex locks, waking, waiting, readiness
 *   ring.c      a socket's byte rings            socket.c  socket/bind/listen/accept/connect
 *   data.c      send/recv families, sendfile     udp.c     datagram records
 *   fd.c        references, close/dup/fcntl      sockopt.c names and options
 *   poll.c      poll/select                      epoll.c   epoll
 *   fork.c      fork                             exec.c    exec, JOYRIDE_INHERIT, adoption
 *   spawn.c     posix_spawn, system, popen       stdio.c   FILE streams over sockets
 */
#include "shim.h"

#include <pthread.h>

/* ------------------------------------------------ the real libc functions */
#define REAL_DEFINE(ret, name, ...) ret (*real_##name)(__VA_ARGS__);
REAL_FUNCTIONS(REAL_DEFINE)
#undef REAL_DEFINE

static void load_real(void)
{
#define L(ret, name, ...) real_##name = dlsym(RTLD_NEXT, #name);
	REAL_FUNCTIONS(L)
#undef L
}

/* ------------------------------------------------ state */
jfd fdt[MAX_FDS];

struct shim_state G = { .conn = -1, .svc_efd = -1 };

/* The process the shim's tables belong to. A vfork child (Python's subprocess, …) shares
 * its parent's memory: its calls must not change the parent's tables (dup2, close), and its
 * exec is a spawn (a new holder of the sockets). */
pid_t my_pid;

int vfork_child(void)
{
	return G.state == 1 && my_pid != 0 && getpid() != my_pid;
}

__attribute__((constructor(101))) static void joyride_init(void)
{
	load_real();
	pthread_atfork(NULL, NULL, after_fork_child);
	exit_hooks_init();
	my_pid = getpid();
	joyride_env_init();
	adopt_inherited();
	std_streams();
}
