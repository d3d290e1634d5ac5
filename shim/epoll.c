/*
 * epoll.c — epoll_ctl/epoll_wait/epoll_pwait with Joyride sockets in a set: their entries
 * (events, data, EPOLLONESHOT, EPOLLET through the slot's seq) are kept here, per epoll fd,
 * and their placeholder eventfds sit in the kernel set with EPOLLET and a marker; a wait
 * reports ready Joyride entries first (level-triggered unless EPOLLET), kernel entries as the
 * kernel gives them.
 */
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>

#define EP_MARK 0x4a52000000000000ULL /* "JR": a placeholder's entry in a kernel epoll set */

typedef struct ep_ent {
	int fd;
	uint32_t events;
	epoll_data_t data;
	uint32_t seq;
	int disabled;
} ep_ent;

typedef struct ep_set {
	int epfd;
	int n, cap;
	ep_ent *e;
	struct ep_set *next;
} ep_set;

static ep_set *sets;
static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;

static ep_set *ep_find(int epfd, int create)
{
	for (ep_set *s = sets; s; s = s->next)
		if (s->epfd == epfd)
			return s;
	if (!create)
		return NULL;
	ep_set *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->epfd = epfd;
	s->next = sets;
	sets = s;
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

void ep_forget(int fd)
{
	pthread_mutex_lock(&ep_lock);
	for (ep_set *s = sets; s; s = s->next)
		ep_remove(s, fd);
	/* an epoll fd being closed */
	for (ep_set **p = &sets; *p; p = &(*p)->next)
		if ((*p)->epfd == fd) {
			ep_set *d = *p;
			*p = d->next;
			free(d->e);
			free(d);
			break;
		}
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
	return rc;
}

/* Ready Joyride entries of set s into out (at most max). */
static int ep_collect(ep_set *s, struct epoll_event *out, int max)
{
	int k = 0;
	for (int i = 0; i < s->n && k < max; i++) {
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

static int jepoll_wait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	pthread_mutex_lock(&ep_lock);
	ep_set *s = ep_find(epfd, 0);
	int has = s && s->n > 0;
	pthread_mutex_unlock(&ep_lock);
	if (!has || max <= 0)
		return REAL(epoll_pwait)(epfd, evs, max, timeout, mask);
	int64_t deadline = timeout < 0 ? INT64_MAX : now_ns() + (int64_t)timeout * 1000000;
	kick();
	for (;;) {
		pthread_mutex_lock(&ep_lock);
		s = ep_find(epfd, 0);
		int k = s ? ep_collect(s, evs, max) : 0;
		pthread_mutex_unlock(&ep_lock);
		int left;
		if (k > 0)
			left = 0;
		else if (deadline == INT64_MAX)
			left = -1;
		else {
			int64_t l = deadline - now_ns();
			left = l <= 0 ? 0 : (int)((l + 999999) / 1000000);
		}
		int r = REAL(epoll_pwait)(epfd, evs + k, max - k, left, mask);
		if (r < 0)
			return k > 0 ? k : -1;
		/* Drop the placeholders' own entries: their readiness comes from the slots. */
		int m = k, marks = 0;
		for (int i = k; i < k + r; i++) {
			if ((evs[i].data.u64 & 0xffff000000000000ULL) == EP_MARK) {
				marks++;
				continue;
			}
			evs[m++] = evs[i];
		}
		if (m == 0 && marks > 0) {
			/* A placeholder fired: collect again. */
			pthread_mutex_lock(&ep_lock);
			s = ep_find(epfd, 0);
			m = s ? ep_collect(s, evs, max) : 0;
			pthread_mutex_unlock(&ep_lock);
		}
		if (m > 0 || r == 0 || left == 0)
			return m;
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	if (G.state != 1)
		return REAL(epoll_wait)(epfd, evs, max, timeout);
	return jepoll_wait(epfd, evs, max, timeout, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	if (G.state != 1)
		return REAL(epoll_pwait)(epfd, evs, max, timeout, mask);
	return jepoll_wait(epfd, evs, max, timeout, mask);
}
