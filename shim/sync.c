/*
 * sync.c — waiting and waking: futex words, the pid lock shared by threads and processes,
 * waking the server (kick), waiting on a ring's doorbell or a slot's seq (spin, then sleep),
 * EINTR/SA_RESTART, and a Joyride socket's readiness as poll/select/epoll report it.
 */
#include "shim.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/syscall.h>

long futex(uint32_t *w, int op, uint32_t v, const struct timespec *ts)
{
	return syscall(SYS_futex, w, op, v, ts, NULL, 0);
}

int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Tells the server something changed: bumps the activity word (a server that saw it unchanged
 * skips this app's quiet sockets), then wakes the server if it announced it sleeps (it
 * re-checks our rings when it wakes): 1, its full sleep polls the service eventfd; 2, it naps
 * on this very word (futex_waitv). */
void kick(void)
{
	__atomic_add_fetch(ctl32(CTL_OFF_ACTIVITY), 1, __ATOMIC_SEQ_CST);
	uint32_t *w = ctl32(CTL_OFF_SRV_SLEEPING);
	uint32_t old;
	if (ld(w) && (old = __atomic_exchange_n(w, 0, __ATOMIC_SEQ_CST)) != 0) {
		if (old == 2) {
			futex(w, FUTEX_WAKE, 1, NULL);
			return;
		}
		uint64_t one = 1;
		ssize_t r = REAL(write)(G.svc_efd, &one, 8);
		(void)r;
	}
}

/* This thread's id (cached; a fork's child forgets it: tid_forget). */
static __thread __attribute__((tls_model("initial-exec"))) pid_t my_tid;

static uint32_t self_tid(void)
{
	if (!my_tid)
		my_tid = (pid_t)syscall(SYS_gettid);
	return (uint32_t)my_tid;
}

void tid_forget(void)
{
	my_tid = 0;
}

/* A futex lock shared by threads and processes; the word holds the holder's thread id. A
 * holder that died (a forked child killed mid-call) is detected and the lock taken over; one
 * this thread holds is its own already: left by a call a signal handler jumped out of
 * (alarm + siglongjmp around a blocked recv: the next recv waited for ever), or held by the
 * call a handler interrupted — a thread never waits for itself. */
void plock(uint32_t *w)
{
	uint32_t me = self_tid();
	for (;;) {
		uint32_t z = 0;
		if (__atomic_compare_exchange_n(w, &z, me, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return;
		if (z == me)
			return;
		struct timespec ts = { 0, 20 * 1000000 };
		long r = futex(w, FUTEX_WAIT, z, &ts);
		if (r < 0 && errno == ETIMEDOUT && kill((pid_t)z, 0) < 0 && errno == ESRCH)
			__atomic_compare_exchange_n(w, &z, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

void punlock(uint32_t *w)
{
	__atomic_store_n(w, 0, __ATOMIC_SEQ_CST);
	futex(w, FUTEX_WAKE, 1, NULL);
}

/* Whether an interrupted call may be restarted: the shim cannot tell which signal interrupted
 * it, so it restarts only when every caught signal's handler has SA_RESTART (otherwise EINTR,
 * as for a handler without it). */
int restartable(void)
{
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		if (s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &sa) != 0)
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return 0;
	}
	return 1;
}

/* A socket timeout (ns) as wait_word's argument: -1 when none. */
int64_t tmo(int64_t ns)
{
	return ns > 0 ? ns : -1;
}

/* How long a blocking send/recv/accept wait polls its ring before it sleeps on the futex (ns):
 * WAIT_SPIN_NS, or JOYRIDE_SHIM_SPIN_NS (0..10 s). Read once. */
static int64_t spin_ns(void)
{
	static int64_t cached = -1;
	int64_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (v < 0) {
		const char *e = getenv("JOYRIDE_SHIM_SPIN_NS");
		char *end = NULL;
		long long n = e && *e ? strtoll(e, &end, 10) : -1;
		v = end && !*end && n >= 0 && n <= 10000000000LL ? n : WAIT_SPIN_NS;
		__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	}
	return v;
}

/* Waits on a futex word until `ready(arg)`; spins first. 0 ready, EINTR, or ETIMEDOUT. */
int wait_word(uint32_t *bell, uint32_t waiter, int (*ready)(void *), void *arg,
		     int64_t timeout_ns)
{
	if (ready(arg))
		return 0;
	int64_t start = now_ns();
	int64_t spin = spin_ns();
	while (now_ns() - start < spin) {
		for (int k = 0; k < 32; k++)
			if (ready(arg))
				return 0;
		sched_yield();
	}
	int64_t deadline = timeout_ns < 0 ? INT64_MAX : start + timeout_ns;
	for (;;) {
		uint32_t w = ld(bell);
		if (!(w & waiter)) {
			uint32_t seen = w;
			if (!__atomic_compare_exchange_n(bell, &seen, w | waiter, 0, __ATOMIC_SEQ_CST,
							 __ATOMIC_SEQ_CST))
				continue;
			w |= waiter;
		}
		if (ready(arg))
			return 0;
		int64_t left = deadline - now_ns();
		if (left <= 0)
			return ETIMEDOUT;
		if (left > 200000000)
			left = 200000000; /* re-check now and then (a lost wake costs 200 ms, not a hang) */
		struct timespec ts = { left / 1000000000, left % 1000000000 };
		/* Interrupted: Linux restarts a socket call whose wait has no timeout when the
		 * handler has SA_RESTART; with SO_RCVTIMEO/SO_SNDTIMEO it is EINTR regardless. A
		 * handler that ran since the call began counts too, wherever it ran (signal.c). */
		if (sig_interrupted(timeout_ns >= 0, 0))
			return EINTR;
		int intr = futex(bell, FUTEX_WAIT, w, &ts) < 0 && errno == EINTR;
		if (sig_interrupted(timeout_ns >= 0, intr))
			return EINTR;
	}
}

uint32_t events_of(uint32_t id)
{
	return ld(slot32(id, SLOT_OFF_EVENTS));
}

/* A socket's readiness now: the server's bits, with IN and OUT of a connected socket taken
 * from its rings (the server's view may be a moment old: a poll must never say readable when
 * a read would block). */
/* EPOLLRDNORM with EPOLLIN, EPOLLWRNORM with EPOLLOUT, as Linux reports them (varnish waits
 * for POLLWRNORM after a non-blocking connect). */
static uint32_t with_norm(uint32_t ev)
{
	if (ev & EPOLLIN)
		ev |= EPOLLRDNORM;
	if (ev & EPOLLOUT)
		ev |= EPOLLWRNORM;
	return ev;
}

/* A connection or a datagram over the loopback waits in the socket's twin (twin.c). */
static int twin_readable(const jfd *j)
{
	struct pollfd p = { j->lo - 1, POLLIN, 0 };
	return j->lo && REAL(poll)(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

uint32_t readiness(jfd *j)
{
	uint32_t ev = events_of(j->id) & ~(uint32_t)(EPOLLRDNORM | EPOLLWRNORM);
	if (j->listening)
		return with_norm(ev | (!(ev & EPOLLIN) && twin_readable(j) ? EPOLLIN : 0));
	bring r, w;
	if (ring_of(j->id, 1, &r) == 0) {
		ev &= ~(uint32_t)EPOLLIN;
		int eof = br_state(&r, JR_STATE_PRODUCER_CLOSED);
		if (br_readable(&r) > 0 || eof)
			ev |= EPOLLIN;
		/* The ring's end is the peer's FIN, seen before the server's events say
		 * EPOLLRDHUP (a read that just returned 0 must find POLLRDHUP too). */
		if (eof && j->type == SOCK_STREAM)
			ev |= EPOLLRDHUP;
	}
	if ((ev & EPOLLOUT) && ring_of(j->id, 0, &w) == 0) {
		uint32_t used = ld((uint32_t *)(w.h + JR_RING_OFF_TAIL)) -
				ld((uint32_t *)(w.h + JR_RING_OFF_HEAD));
		if (used >= w.cap && !br_state(&w, JR_STATE_CONSUMER_CLOSED))
			ev &= ~(uint32_t)EPOLLOUT;
	}
	/* the twin asked (a system call) only when the ring has nothing */
	return with_norm(ev | (!(ev & EPOLLIN) && twin_readable(j) ? EPOLLIN : 0));
}

struct ev_wait {
	uint32_t id, mask;
};

static int ev_ready(void *a)
{
	struct ev_wait *w = a;
	return (events_of(w->id) & w->mask) != 0;
}

/* Waits until the socket's events intersect `mask`. 0, EINTR or ETIMEDOUT. */
int wait_events(uint32_t id, uint32_t mask, int64_t timeout_ns)
{
	struct ev_wait w = { id, mask };
	kick();
	return wait_word(slot32(id, SLOT_OFF_SEQ), 1, ev_ready, &w, timeout_ns);
}
