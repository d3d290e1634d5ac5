/*
 * shim.h — what the shim's files share (internal: nothing here is exported from
 * libjoyride.so). The app region's layout (mirrored from servers/naming/apps_region.ts and
 * checked by apps_region_test.ts), the fd table and process state, the real libc functions,
 * and the helpers one file defines for the others. Every .c file of the shim includes it first.
 */
#ifndef JOYRIDE_SHIM_H
#define JOYRIDE_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "joyride_capnp.h"
#include "joyride_ipc.h"

/* The libc functions the shim replaces are defined with EXPORT; everything else of the
 * library is hidden (-fvisibility=hidden, and the declarations below). */
#define EXPORT __attribute__((visibility("default")))

#pragma GCC visibility push(hidden)

/* ------------------------------------------------ region layout (apps_region.ts) */
#define CTL_MAGIC 0x5050414au
#define CTL_OFF_MAGIC 0
#define CTL_OFF_APP_ID 8
#define CTL_OFF_MAX_SOCKETS 12
#define CTL_OFF_LOCK 16
#define CTL_OFF_SRV_SLEEPING 24
#define CTL_OFF_ACTIVITY 28
#define CTL_OFF_REQ_RING 32
#define CTL_OFF_REP_RING 36
#define CTL_OFF_SLOTS 40
#define CTL_OFF_RINGS 44
#define CTL_OFF_RING_SIZE 48
#define CTL_OFF_SOCKET_BYTES 56
#define CTL_OFF_HOLDER_ROWS 60
#define CTL_OFF_TOUCHED 1024
#define CTL_OFF_HOLDERS 2048
#define HOLDERS 256
#define SLOT_SIZE 64
#define SLOT_OFF_STATE 0
#define SLOT_OFF_EVENTS 4
#define SLOT_OFF_SO_ERROR 8
#define SLOT_OFF_SEQ 12
#define SLOT_OFF_INTEREST 16
#define SLOT_OFF_REFS 20
#define SLOT_OFF_SEND_LOCK 24
#define SLOT_OFF_RECV_LOCK 28
#define SLOT_OFF_SOCKET_ID 32
#define SLOT_OFF_TYPE 36
#define SLOT_OFF_EFD_ID 40
#define SLOT_OFF_HANDOFF 48
#define SLOT_OFF_FLAGS 52
#define SLOT_OFF_SRV_FLAGS 56
#define SLOT_OFF_OUTQ 60
#define SLOT_FLAG_NONBLOCK 1u
#define SLOT_BITS 12

#define MAX_FDS 65536
#define SPIN_NS 30000
/* A blocking data wait (wait_word: send/recv/accept/connect on a ring) does not spin by default
 * (issue 9). Every server and app is its own session, so its own autogroup, and sched_yield
 * gives the CPU only to tasks of the caller's group: an app polling for its next request held
 * the CPU that the TCP/IP server needed to send its reply. sockperf ping-pong p50 through the
 * NIC server, 4 interleaved runs each: 30 us spin 60-78 us, none 42-45 us (kernel 44-51 us);
 * iperf3 through the shim unchanged. JOYRIDE_SHIM_SPIN_NS sets it (a core of its own). */
#define WAIT_SPIN_NS 0
#define APPS_KIND_REQUEST 1
#define APPS_KIND_REPLY 2

/* ------------------------------------------------ the real libc functions (joyride.c) */
/* Resolved on first use at every call site: a library constructor running before ours (libcap-ng
 * closes and reads files in its own) must find the real function, not a null pointer. */
#define REAL(name) ((__typeof__(real_##name))real_fn((void **)&real_##name, #name))
static inline void *real_fn(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, p, __ATOMIC_RELAXED);
	}
	return p;
}

/* X(return type, name, parameter types…) for each function REAL() reaches. */
#define REAL_FUNCTIONS(X)                                                                          \
	X(int, socket, int, int, int)                                                              \
	X(int, getaddrinfo, const char *, const char *, const struct addrinfo *,                   \
	  struct addrinfo **)                                                                      \
	X(int, sigaction, int, const struct sigaction *, struct sigaction *)                       \
	X(int, getifaddrs, struct ifaddrs **)                                                      \
	X(void, freeifaddrs, struct ifaddrs *)                                                     \
	X(int, bind, int, const struct sockaddr *, socklen_t)                                      \
	X(int, listen, int, int)                                                                   \
	X(int, accept, int, struct sockaddr *, socklen_t *)                                        \
	X(int, accept4, int, struct sockaddr *, socklen_t *, int)                                  \
	X(int, connect, int, const struct sockaddr *, socklen_t)                                   \
	X(ssize_t, send, int, const void *, size_t, int)                                           \
	X(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t)     \
	X(ssize_t, sendmsg, int, const struct msghdr *, int)                                       \
	X(ssize_t, recv, int, void *, size_t, int)                                                 \
	X(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *)             \
	X(ssize_t, recvmsg, int, struct msghdr *, int)                                             \
	X(ssize_t, read, int, void *, size_t)                                                      \
	X(ssize_t, write, int, const void *, size_t)                                               \
	X(ssize_t, readv, int, const struct iovec *, int)                                          \
	X(ssize_t, writev, int, const struct iovec *, int)                                         \
	X(int, close, int)                                                                         \
	X(int, shutdown, int, int)                                                                 \
	X(int, getsockname, int, struct sockaddr *, socklen_t *)                                   \
	X(int, getpeername, int, struct sockaddr *, socklen_t *)                                   \
	X(int, getsockopt, int, int, int, void *, socklen_t *)                                     \
	X(int, setsockopt, int, int, int, const void *, socklen_t)                                 \
	X(int, fcntl, int, int, ...)                                                               \
	X(int, ioctl, int, unsigned long, ...)                                                     \
	X(int, poll, struct pollfd *, nfds_t, int)                                                 \
	X(int, ppoll, struct pollfd *, nfds_t, const struct timespec *, const sigset_t *)          \
	X(int, epoll_ctl, int, int, int, struct epoll_event *)                                     \
	X(int, epoll_wait, int, struct epoll_event *, int, int)                                    \
	X(int, epoll_pwait, int, struct epoll_event *, int, int, const sigset_t *)                 \
	X(int, dup, int)                                                                           \
	X(off_t, lseek, int, off_t, int)                                                           \
	X(off64_t, lseek64, int, off64_t, int)                                                     \
	X(int, dup2, int, int)                                                                     \
	X(int, dup3, int, int, int)                                                                \
	X(ssize_t, sendfile, int, int, off_t *, size_t)                                            \
	X(int, select, int, fd_set *, fd_set *, fd_set *, struct timeval *)                        \
	X(int, pselect, int, fd_set *, fd_set *, fd_set *, const struct timespec *,                \
	  const sigset_t *)                                                                        \
	X(long, syscall, long, ...)                                                                \
	X(int, fstat, int, struct stat *)                                                          \
	X(int, fstat64, int, struct stat64 *)                                                      \
	X(int, fstatat, int, const char *, struct stat *, int)                                     \
	X(int, fstatat64, int, const char *, struct stat64 *, int)                                 \
	X(int, __fxstat, int, int, struct stat *)                                                  \
	X(int, __fxstat64, int, int, struct stat64 *)                                              \
	X(int, statx, int, const char *, int, unsigned int, struct statx *)

#define REAL_DECLARE(ret, name, ...) extern ret (*real_##name)(__VA_ARGS__);
REAL_FUNCTIONS(REAL_DECLARE)
#undef REAL_DECLARE

/* ------------------------------------------------ state (joyride.c) */
typedef struct jfd {
	uint32_t id;    /* server socket id */
	uint8_t used;
	uint8_t type;   /* SOCK_STREAM / SOCK_DGRAM */
	uint8_t domain; /* AF_INET / AF_INET6 */
	uint8_t listening;
	uint8_t any;    /* bound to INADDR_ANY / in6addr_any */
	uint8_t idle;   /* made here and not connected: stream recv ENOTCONN, send EPIPE; UDP
			 * send without an address EDESTADDRREQ (0 also when not known) */
	uint8_t shut_wr; /* shut down for writing here: sends fail with EPIPE (Linux) */
	uint8_t rx_opts; /* UDP: RX_* control messages recvmsg adds (set by setsockopt here) */
	uint8_t named;  /* has a local port (bind, connect, a first send here): see jsend_dg */
	uint8_t v6only; /* IPV6_V6ONLY set through this process */
	uint8_t connected; /* stream: accepted, or a connect() here returned 0: another connect()
			    * fails with EISCONN (Linux's SS_CONNECTED) */
	uint8_t async;  /* O_ASYNC set (F_SETFL, FIOASYNC): read back only, no SIGIO (README) */
	uint16_t port;  /* bound port (host order) */
	int lo;         /* kernel loopback twin of an "any" listener, fd + 1 (0: none) */
	int64_t rcvtimeo, sndtimeo; /* SO_RCVTIMEO / SO_SNDTIMEO in ns (0: none; this process) */
} jfd;

/* jfd.rx_opts bits: IP_PKTINFO, IPV6_RECVPKTINFO, IP_RECVTTL, IPV6_RECVHOPLIMIT,
 * SO_TIMESTAMP, SO_TIMESTAMPNS. */
#define RX_PKTINFO 1
#define RX_PKTINFO6 2
#define RX_TTL 4
#define RX_HOPLIMIT 8
#define RX_TIMESTAMP 16
#define RX_TIMESTAMPNS 32

extern jfd fdt[MAX_FDS];

/* The process's registration: the region, its call rings and what naming answered. */
struct shim_state {
	int state; /* 0 not tried, 1 registered, -1 unavailable */
	int policy_refuse;
	int conn, svc_efd;
	jr_region reg;
	jr_ring req, rep;
	uint32_t app_id;
	uint8_t token[16];
	uint32_t slots, max_sockets, ring_size;
	uint64_t next_req;
};
extern struct shim_state G;

/* The process the shim's tables belong to (see vfork_child). */
extern pid_t my_pid;
int vfork_child(void);

/* ------------------------------------------------ control calls (call.c) */
/* Per-thread buffers, allocated on a thread's first call. */
struct tbufs {
	uint8_t reply[4096];
	uint8_t call[2048];
	uint8_t arena[64];
	uint8_t file[65536];
};
struct tbufs *tb(void);
int jcall(jr_SocketCall *c, jr_SocketReply *r);
int simple_call(jr_SocketCall *c, uint32_t id);
int oneway_call(jr_SocketCall *c, uint32_t id, int64_t deadline);
void exit_hooks_init(void);
int so_error(uint32_t id);

static inline uint32_t *ctl32(uint32_t off)
{
	return (uint32_t *)(G.reg.base + off);
}

static inline uint8_t *slot_of(uint32_t id)
{
	return G.reg.base + G.slots + (size_t)(id & ((1u << SLOT_BITS) - 1)) * SLOT_SIZE;
}

static inline uint32_t *slot32(uint32_t id, uint32_t off)
{
	return (uint32_t *)(slot_of(id) + off);
}

static inline uint32_t ld(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* The Joyride socket behind `fd`, NULL for a kernel fd. */
/* The descriptor of a table entry. */
static inline int fd_of(const jfd *j)
{
	return (int)(j - fdt);
}

static inline jfd *J(int fd)
{
	if (fd < 0 || fd >= MAX_FDS || !fdt[fd].used || G.state != 1)
		return NULL;
	return &fdt[fd];
}

static inline int fail(int e)
{
	errno = e;
	return -1;
}

/* ------------------------------------------------ exec (exec.c), hand-over (handoff.c) */
unsigned long long efd_id(int fd);
int handoff_send(const struct msghdr *m, int d);
void handoff_recv(struct msghdr *m);

/* ------------------------------------------------ holders (holder.c) */
void holder_join(void);
void holder_leave(void);
void holder_count(uint32_t id, int d);
void inflight_release_all(int64_t deadline);
uint32_t inflight_of(uint32_t slot);
void inflight_forget(void);
/* The in-flight reference of a call a handler's siglongjmp cut short, given back (data.c). */
void drop_leftover(void);
void holder_reserve(void);
int holder_fds(uint32_t id);
int fd_of_socket(uint32_t id, int except);
void holder_forked(pid_t pid);

/* ------------------------------------------------ registration (register.c) */
const char *runtime_dir(void);
void joyride_env_init(void);
int joyride_on(void);
void private_fd_away(int nfd);
void private_fds(int out[3]);

/* ------------------------------------------------ addresses (addr.c) */
int is_loopback(const struct sockaddr *a, socklen_t len);
int is_local_dst(const struct sockaddr *a, socklen_t len);
int to_addr(const struct sockaddr *a, socklen_t len, jr_SockAddr *o);
void from_addr(const jr_SockAddr *s, struct sockaddr *a, socklen_t *len);

/* ------------------------------------------------ waiting and waking (sync.c) */
long futex(uint32_t *w, int op, uint32_t v, const struct timespec *ts);
int64_t now_ns(void);
void kick(void);
void plock(uint32_t *w);
void tid_forget(void);
void punlock(uint32_t *w);
int restartable(void);
/* signal.c: a blocking call begins (the signals its thread handles are counted from here), and
 * whether it must fail with EINTR now (`timed`: SO_RCVTIMEO/SO_SNDTIMEO bound it; `eintr`: the
 * kernel wait just said EINTR). */
void sig_begin(void);
int sig_interrupted(int timed, int eintr);
/* Signals held off around what a handler must not interrupt (a call to the server: a handler's
 * own call would take the call lock its thread holds, and its reply; registration: a signal
 * failed it with EINTR for good), and let through again. */
void sig_hold(sigset_t *old);
void sig_release(const sigset_t *old);
int64_t tmo(int64_t ns);
int wait_word(uint32_t *bell, uint32_t waiter, int (*ready)(void *), void *arg,
	      int64_t timeout_ns);
uint32_t events_of(uint32_t id);
uint32_t readiness(jfd *j);
int wait_events(uint32_t id, uint32_t mask, int64_t timeout_ns);

/* ------------------------------------------------ byte rings (ring.c) */
typedef struct bring {
	uint8_t *h;
	uint32_t cap;
} bring;

#define RU32(b, off) ((uint32_t *)((b)->h + (off)))

int ring_of(uint32_t id, int recv, bring *b);
void bell_wake(bring *b, uint32_t off);
uint32_t br_readable(bring *b);
void touch_ring(const bring *b);
uint32_t br_write_iov(bring *b, const struct iovec *iov, int cnt, size_t skip, size_t max);
uint32_t br_read_iov(bring *b, const struct iovec *iov, int cnt, int peek);
int br_state(bring *b, uint32_t flag);
int rd_ready(void *a);
int wr_ready(void *a);
int ring_wait(jfd *j, int flags, uint32_t *bell, int (*ready)(void *), void *arg, int64_t timeout);

/* ------------------------------------------------ sockets (socket.c) */
void bind_fd(int fd, uint32_t id, int nonblock, int type, int domain);
/* O_NONBLOCK of socket `j` (its slot's flags: one per socket, as an open file description's). */
int is_nonblock(const jfd *j);
int bad_addr_out(const struct sockaddr *a, const socklen_t *len, int need_both);
void set_nonblock(const jfd *j, int on);

/* ------------------------------------------------ options kept for kernel stand-ins (optlog.c) */
/* A setsockopt the server took on Joyride socket `fd`, remembered. */
void optlog_note(int fd, int level, int name, const void *v, socklen_t len);
/* fd's remembered options set on kernel socket `kfd` (errors ignored). */
void optlog_apply(int fd, int kfd);
void optlog_dup(int from, int to);
void optlog_drop(int fd);

/* ------------------------------------------------ loopback twins (twin.c) */
/* A listener bound to the any address: its twin listening on lo (quietly none). */
void twin_listen(jfd *j, int backlog);
/* A datagram socket's twin, made when first needed: its fd, or -1. On the socket's port if it
 * is bound to the any address, else (or with `any_port`, when that port is taken) any port. */
int twin_dgram(jfd *j, int any_port);
/* `j`'s twin is fd `k` (-1: none), marked as the shim's own. */
void twin_set(jfd *j, int k);
/* Whether fd is some socket's twin. */
int is_twin_fd(int fd);
/* A program's dup2/dup3 onto a twin's number (it cannot know it): the twin moves first. */
void twin_away(int nfd);
/* The twin gives up its fd (the socket becomes a kernel one, or is connected elsewhere). */
void twin_close(jfd *j);
/* jfd.rx_opts on a datagram twin (after setsockopt changed them). */
void twin_rx_opts(const jfd *j);
/* A datagram to the same host, through the twin. */
ssize_t twin_send(jfd *j, const struct iovec *iov, int cnt, int flags, const struct sockaddr *to,
		  socklen_t tolen);
/* A datagram the twin has (recvmsg, never waiting): its length, or -1 (EAGAIN: none). */
ssize_t twin_take(jfd *j, struct msghdr *m, int flags);
/* Waits for `ready(arg)` or the twin's readability, on socket fd `fd`'s placeholder and the
 * twin; `deadline` CLOCK_MONOTONIC ns (0: none). 0 to look again, EINTR, or EAGAIN (time up). */
int twin_wait(jfd *j, int fd, int (*ready)(void *), void *arg, int64_t deadline);

/* ------------------------------------------------ datagrams (udp.c) */
#define DG_HDR JR_DGRAM_HEADER_SIZE /* a record's header in a datagram socket's rings */
void dg_copy_out(bring *b, uint32_t at, void *dst, uint32_t n);
ssize_t jsend_dg(jfd *j, const struct iovec *iov, int cnt, int flags, const struct sockaddr *to,
		 socklen_t tolen);
/* A datagram into `m` (its iovecs, name and control buffer as recvmsg's; namelen, controllen
 * and flags set as recvmsg sets them). */
ssize_t jrecv_dg(jfd *j, struct msghdr *m, int flags);
/* recvmsg's control messages for the options `j` asked for (jfd.rx_opts), from a header. */
void dg_control(const jfd *j, const uint8_t *hdr, struct msghdr *m);

/* ------------------------------------------------ file descriptors (fd.c) */
void unref(uint32_t id);
int unref_as(uint32_t id, int oneway, int64_t deadline);
void release(int fd);
int dup_to(int old, int nfd);

/* ------------------------------------------------ poll, select (poll.c) */
void drain(int fd);

/* ------------------------------------------------ epoll (epoll.c) */
void ep_forget(int fd, uint32_t id);
typedef struct ep_moved {
	int epfd;
	struct epoll_event ev;
} ep_moved;
int ep_detach(int fd, ep_moved *out, int max);
void ep_attach_kernel(int fd, ep_moved *m, int n);
/* A descriptor other than a Joyride socket is closed or replaced (an epoll set's, maybe). */
void ep_closed(int fd);

/* ------------------------------------------------ fork, exec, spawn (fork.c, exec.c) */
void refs_all(int d);
void after_fork_child(void);
long raw_fork(long nr, const long a[6]);
char **spawn_env(char *const envp[], int all, char **var);
void registration_cloexec(int on);
void adopt_inherited(void);

/* ------------------------------------------------ stdio (stdio.c) */
void std_before(int old, int nfd);
void std_after(int nfd);
void std_streams(void);

#pragma GCC visibility pop

#endif
