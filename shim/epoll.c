/*
 * epoll.c — epoll_ctl/epoll_wait/epoll_pwait with Joyride sockets in a set: their entries
 * (events, data, EPOLLONESHOT, EPOLLET through the slot's seq) are kept here, per epoll fd,
 * and their placeholder eventfds sit in the kernel set with EPOLLET and a marker; a wait
 * reports ready Joyride entries first (level-triggered unless EPOLLET), kernel entries as the
 * kernel gives them.
 */
#include "shim.h"

#include <linux/kcmp.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define EP_MARK 0x4a52000000000000ULL /* "JR": a placeholder's entry in a kernel epoll set */
#define EP_ALIASES 4
#define EP_NONSETS 64

typedef struct ep_ent {
	int fd;
	uint32_t events;
	epoll_data_t data;
	uint32_t seq;
	int disabled;
} ep_ent;

typedef struct ep_set {
	int epfd;
	/* Other descriptors of the same epoll instance (dup, fcntl F_DUPFD: mio/tokio clone their
	 * registry so), found with kcmp when a wait or a call names one. */
	int alias[EP_ALIASES];
	int nalias;
	int n, cap;
	ep_ent *e;
	/* Where the next collect starts, and a turn count: ready entries beyond a wait's
	 * maxevents come in later waits, and kernel entries get their share (fairness as the
	 * kernel's rotating ready list gives it). */
	int rot;
	unsigned turn;
	struct ep_set *next;
} ep_set;

static ep_set *sets;
static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;
/* Descriptors kcmp found to be no set's epoll instance (forgotten on close, dup2 onto them, or
 * a new set): spares a kcmp on every wait of an app's own epoll sets. */
static int nonsets[EP_NONSETS];
static int nnon;

/* Whether descriptors a and b are the same open file (kcmp KCMP_FILE; without kcmp, not). */
static int same_file(int a, int b)
{
	if (a == b)
		return 1;
	pid_t me = getpid();
	return syscall(SYS_kcmp, me, me, KCMP_FILE, a, b) == 0;
}

/* The set of epoll descriptor epfd, or of another descriptor of its epoll instance. Caller
 * holds ep_lock. */
static ep_set *ep_lookup(int epfd)
{
	for (ep_set *s = sets; s; s = s->next) {
		if (s->epfd == epfd)
			return s;
		for (int i = 0; i < s->nalias; i++)
			if (s->alias[i] == epfd)
				return s;
	}
	for (int i = 0; i < nnon; i++)
		if (nonsets[i] == epfd)
			return NULL;
	for (ep_set *s = sets; s; s = s->next)
		if (same_file(epfd, s->epfd)) {
			if (s->nalias < EP_ALIASES)
				s->alias[s->nalias++] = epfd;
			return s;
		}
	if (nnon == EP_NONSETS)
		nnon = 0;
	nonsets[nnon++] = epfd;
	return NULL;
}

static ep_set *ep_find(int epfd, int create)
{
	ep_set *s = ep_lookup(epfd);
	if (s || !create)
		return s;
	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->epfd = epfd;
	s->next = sets;
	sets = s;
	nnon = 0; /* a descriptor found to be no set's may be this one's alias */
	return s;
}

static void ep_remove(ep_set *s, int fd)
{
	for (int i = 0; i < s->n; i++)
		if (s->e[i].fd == fd) {
			s->e[i] = s->e[--s->n];
			return;
		}
}

/* Descriptor fd stops naming what it named (closed, or dup2/dup3 onto it): as an epoll
 * descriptor, its set lives on under an alias, or goes. Caller holds ep_lock. */
static void ep_fd_gone(int fd)
{
	for (int i = 0; i < nnon; i++)
		if (nonsets[i] == fd) {
			nonsets[i] = nonsets[--nnon];
			break;
		}
	for (ep_set **p = &sets; *p;) {
		ep_set *s = *p;
		for (int i = 0; i < s->nalias; i++)
			if (s->alias[i] == fd) {
				s->alias[i] = s->alias[--s->nalias];
				break;
			}
		if (s->epfd != fd) {
			p = &s->next;
			continue;
		}
		if (s->nalias > 0) {
			s->epfd = s->alias[--s->nalias];
			p = &s->next;
			continue;
		}
		*p = s->next;
		free(s->e);
		free(s);
	}
}

/* Joyride socket fd is being closed (before the kernel close): out of every set, and its
 * placeholder out of the kernel sets when no other holder has the socket. The kernel would
 * keep it there otherwise: the TCP/IP server holds its own descriptor of the eventfd, and its
 * signals would still wake the set. */
void ep_forget(int fd, uint32_t id)
{
	pthread_mutex_lock(&ep_lock);
	/* Another descriptor of this process for the same socket (a dup): Linux's registration
	 * belongs to the open file and lives on; the entry moves to that descriptor. */
	int other = -1;
	for (ep_set *s = sets; s && other < 0; s = s->next)
		for (int i = 0; i < s->n; i++)
			if (s->e[i].fd == fd) {
				other = holder_fds(id) > 1 ? fd_of_socket(id, fd) : -1;
				break;
			}
	/* Other processes hold the socket (a forked child closing its copy, or exec'ing with it
	 * close-on-exec): the kernel epoll instance is shared with them, and deleting the
	 * placeholder's registration took their wake-ups away. Only the last holder takes it
	 * out. */
	int shared = ld(slot32(id, SLOT_OFF_REFS)) > 1;
	for (ep_set *s = sets; s; s = s->next)
		for (int i = 0; i < s->n; i++) {
			if (s->e[i].fd != fd)
				continue;
			if (other >= 0) {
				s->e[i].fd = other;
				break;
			}
			ep_remove(s, fd);
			if (!shared)
				REAL(epoll_ctl)(s->epfd, EPOLL_CTL_DEL, fd, NULL);
			break;
		}
	ep_fd_gone(fd);
	pthread_mutex_unlock(&ep_lock);
}

/* Joyride socket fd is about to become a kernel socket (to_kernel: a loopback connect or
 * bind): takes it out of every set, placeholder included, and returns the registrations the
 * app made (at most max) for ep_attach_kernel to make again on the kernel socket. */
int ep_detach(int fd, ep_moved *out, int max)
{
	int n = 0;
	pthread_mutex_lock(&ep_lock);
	for (ep_set *s = sets; s; s = s->next)
		for (int i = 0; i < s->n; i++) {
			if (s->e[i].fd != fd)
				continue;
			if (n < max)
				out[n++] = (ep_moved){ s->epfd, { s->e[i].events, s->e[i].data } };
			s->e[i] = s->e[--s->n];
			REAL(epoll_ctl)(s->epfd, EPOLL_CTL_DEL, fd, NULL);
			break;
		}
	pthread_mutex_unlock(&ep_lock);
	return n;
}

/* fd is now a kernel socket: its registrations go to the kernel's sets as they were. */
void ep_attach_kernel(int fd, ep_moved *m, int n)
{
	for (int i = 0; i < n; i++)
		REAL(epoll_ctl)(m[i].epfd, EPOLL_CTL_ADD, fd, &m[i].ev);
}

/* Any other descriptor fd is being closed or replaced: if it was an epoll set's. */
void ep_closed(int fd)
{
	if (!__atomic_load_n(&sets, __ATOMIC_RELAXED) && !__atomic_load_n(&nnon, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&ep_lock);
	ep_fd_gone(fd);
	pthread_mutex_unlock(&ep_lock);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	jfd *j = J(fd);
	if (!j)
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	pthread_mutex_lock(&ep_lock);
	ep_set *s = ep_find(epfd, op == EPOLL_CTL_ADD);
	int rc = 0;
	ep_ent *found = NULL;
	for (int i = 0; s && i < s->n; i++)
		if (s->e[i].fd == fd)
			found = &s->e[i];
	if (op == EPOLL_CTL_ADD) {
		struct epoll_event kev = { .events = EPOLLIN | EPOLLET, .data.u64 = EP_MARK | (uint32_t)fd };
		if (!s) {
			rc = fail(ENOMEM);
		} else if (found) {
			rc = fail(EEXIST);
		} else if ((rc = REAL(epoll_ctl)(epfd, EPOLL_CTL_ADD, fd, &kev)) == 0) {
			if (s->n == s->cap) {
				int cap = s->cap ? s->cap * 2 : 16;
				ep_ent *e = realloc(s->e, (size_t)cap * sizeof *e);
				if (!e) {
					pthread_mutex_unlock(&ep_lock);
					return fail(ENOMEM);
				}
				s->e = e;
				s->cap = cap;
			}
			s->e[s->n++] = (ep_ent){ fd, ev->events, ev->data, (uint32_t)-1, 0 };
			if (ev->events & EPOLLET)
				__atomic_or_fetch(slot32(j->id, SLOT_OFF_INTEREST), 1, __ATOMIC_SEQ_CST);
			if (j->lo) {
				struct epoll_event lev = { .events = EPOLLIN,
							   .data.u64 = EP_MARK | (uint32_t)fd };
				REAL(epoll_ctl)(epfd, EPOLL_CTL_ADD, j->lo - 1, &lev);
			}
		}
	} else if (op == EPOLL_CTL_MOD) {
		if (!found) {
			rc = fail(ENOENT);
		} else if ((ev->events | found->events) & EPOLLEXCLUSIVE) {
			rc = fail(EINVAL); /* Linux: EPOLLEXCLUSIVE is for ADD only */
		} else {
			found->events = ev->events;
			found->data = ev->data;
			if (ev->events & EPOLLET)
				__atomic_or_fetch(slot32(j->id, SLOT_OFF_INTEREST), 1, __ATOMIC_SEQ_CST);
			found->disabled = 0;
			found->seq = (uint32_t)-1;
		}
	} else if (op == EPOLL_CTL_DEL) {
		if (!found) {
			rc = fail(ENOENT);
		} else {
			ep_remove(s, fd);
			REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, NULL);
			if (j->lo)
				REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL, j->lo - 1, NULL);
		}
	} else {
		rc = fail(EINVAL);
	}
	pthread_mutex_unlock(&ep_lock);
	/* Linux looks at a socket's readiness when it is added or modified, and wakes a thread
	 * asleep in the set if it is ready: the placeholder is signalled for that (the sleeper
	 * wakes on its marker and collects). */
	if (rc == 0 && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) &&
	    (readiness(j) & (ev->events | EPOLLERR | EPOLLHUP))) {
		uint64_t one = 1;
		ssize_t w = REAL(write)(fd, &one, sizeof one);
		(void)w;
	}
	return rc;
}

/* Ready Joyride entries of set s into out (at most max). */
static int ep_collect(ep_set *s, struct epoll_event *out, int max)
{
	int k = 0;
	int start = s->n > 0 ? s->rot % s->n : 0;
	for (int c = 0; c < s->n && k < max; c++) {
		int i = (start + c) % s->n;
		s->rot = i + 1;
		ep_ent *e = &s->e[i];
		jfd *j = J(e->fd);
		if (!j || e->disabled)
			continue;
		uint32_t seq = ld(slot32(j->id, SLOT_OFF_SEQ)) & ~1u;
		uint32_t ev = readiness(j) & (e->events | EPOLLERR | EPOLLHUP);
		if (!ev)
			continue;
		if ((e->events & EPOLLET) && seq == e->seq)
			continue;
		e->seq = seq;
		if (e->events & EPOLLONESHOT)
			e->disabled = 1;
		out[k].events = ev;
		out[k].data = e->data;
		k++;
	}
	return k;
}

/* Removes placeholder entries (EP_MARK) from evs[from..from+r); returns how many are left
 * there, *marks how many went. */
static int drop_marks(struct epoll_event *evs, int from, int r, int *marks)
{
	int m = from;
	*marks = 0;
	if (G.state != 1)
		return r; /* no placeholder anywhere yet: everything is the app's */
	for (int i = from; i < from + r; i++) {
		if ((evs[i].data.u64 & 0xffff000000000000ULL) == EP_MARK) {
			(*marks)++;
			continue;
		}
		evs[m++] = evs[i];
	}
	return m - from;
}

/* Whether epfd's set has Joyride entries. */
static int has_entries(int epfd)
{
	pthread_mutex_lock(&ep_lock);
	ep_set *s = ep_find(epfd, 0);
	int has = s && s->n > 0;
	pthread_mutex_unlock(&ep_lock);
	return has;
}

/* Milliseconds left until deadline (INT64_MAX: -1, forever). */
static int ms_left(int64_t deadline)
{
	if (deadline == INT64_MAX)
		return -1;
	int64_t l = deadline - now_ns();
	return l <= 0 ? 0 : (int)((l + 999999) / 1000000);
}

/* -2 from kernel_wait: a placeholder fired in a set that now has Joyride entries (another
 * thread added one while this one slept): the caller collects them. */
#define EP_NOW_JOYRIDE (-2)

/*
 * A wait on a set with no Joyride entry left, as the kernel gives it, minus placeholder
 * entries still in the kernel set: closing a socket does not take its placeholder out of a
 * kernel epoll set while the TCP/IP server holds its own descriptor of the eventfd, so the
 * server's later signals still reach the set. Passed on, their marker data reached the app as
 * its own (Deno's runtime took it for a pointer and crashed).
 */
static int kernel_wait(int epfd, struct epoll_event *evs, int max, int64_t deadline,
		       const sigset_t *mask)
{
	for (;;) {
		int left = ms_left(deadline);
		if (sig_interrupted(1, 0))
			return fail(EINTR); /* a handler ran between two kernel waits */
		int r = REAL(epoll_pwait)(epfd, evs, max, left, mask);
		if (r <= 0)
			return r;
		int marks;
		int m = drop_marks(evs, 0, r, &marks);
		if (m > 0)
			return m;
		if (marks > 0 && has_entries(epfd))
			return EP_NOW_JOYRIDE;
		if (left == 0)
			return 0;
	}
}

/* A wait with Joyride entries in the set, or one that may get some while it sleeps (another
 * thread's epoll_ctl: Java's asynchronous channels, multi-threaded reactors). */
static int jepoll_wait(int epfd, struct epoll_event *evs, int max, int64_t timeout_ns,
		       const sigset_t *mask)
{
	if (max <= 0)
		return REAL(epoll_pwait)(epfd, evs, max, timeout_ns < 0 ? -1 : 0, mask);
	int64_t deadline = timeout_ns < 0 ? INT64_MAX : now_ns() + timeout_ns;
	sig_begin();
	if (!has_entries(epfd)) {
		int r = kernel_wait(epfd, evs, max, deadline, mask);
		if (r != EP_NOW_JOYRIDE)
			return r;
	}
	kick();
	for (;;) {
		pthread_mutex_lock(&ep_lock);
		ep_set *s = ep_find(epfd, 0);
		/* Room for kernel entries too: one slot of a larger wait; every other wait of size 1
		 * looks at the kernel's first (a timerfd or a waker pipe is not starved by sockets
		 * that stay ready). */
		int kfirst = s && max == 1 && (s->turn++ & 1);
		int k = s && !kfirst ? ep_collect(s, evs, max > 1 ? max - 1 : max) : 0;
		pthread_mutex_unlock(&ep_lock);
		if (kfirst) {
			int r = REAL(epoll_pwait)(epfd, evs, 1, 0, mask);
			int marks;
			if (r > 0 && drop_marks(evs, 0, r, &marks) > 0)
				return 1;
			pthread_mutex_lock(&ep_lock);
			s = ep_find(epfd, 0);
			k = s ? ep_collect(s, evs, max) : 0;
			pthread_mutex_unlock(&ep_lock);
		}
		if (k >= max)
			return k; /* full: no room to look at the kernel's (EINVAL for 0 events) */
		int left = k > 0 ? 0 : ms_left(deadline);
		if (k == 0 && sig_interrupted(1, 0))
			return fail(EINTR); /* a handler ran between two kernel waits */
		int r = REAL(epoll_pwait)(epfd, evs + k, max - k, left, mask);
		if (r < 0)
			return k > 0 ? k : -1;
		/* Drop the placeholders' own entries: their readiness comes from the slots. */
		int marks;
		int m = k + drop_marks(evs, k, r, &marks);
		if (m == 0 && marks > 0) {
			/* A placeholder fired: collect again. */
			pthread_mutex_lock(&ep_lock);
			s = ep_find(epfd, 0);
			m = s ? ep_collect(s, evs, max) : 0;
			pthread_mutex_unlock(&ep_lock);
		}
		if (m > 0 || r == 0 || left == 0) {
			if (m == 0 && r > 0) /* only placeholders' marks came: none reaches the app */
				memset(evs, 0, (size_t)r * sizeof *evs);
			return m;
		}
	}
}

/* Also before this process has a Joyride socket: another thread may make one and add it to
 * the set while this one sleeps (its placeholder's marker must not reach the app). */
EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	return jepoll_wait(epfd, evs, max, timeout < 0 ? -1 : (int64_t)timeout * 1000000, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	return jepoll_wait(epfd, evs, max, timeout < 0 ? -1 : (int64_t)timeout * 1000000, mask);
}

/* glibc 2.35+'s, with a timespec (systemd's sd-event waits with it): it reached the kernel,
 * and a set's placeholders gave their markers to the program instead of its data. The wait is
 * in whole milliseconds, a fraction rounded up. */
EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *tmo,
			const sigset_t *mask)
{
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000))
		return fail(EINVAL);
	int64_t ns = !tmo ? -1
		     : tmo->tv_sec > INT64_MAX / 2000000000 ? INT64_MAX / 2
							 : tmo->tv_sec * 1000000000LL + tmo->tv_nsec;
	return jepoll_wait(epfd, evs, max, ns, mask);
}
