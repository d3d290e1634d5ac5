/*
 * holder.c — which process holds which socket. A slot's refs count the fds of every process of
 * the app; a process killed by a signal never gives its own back (no exit hook runs), so the
 * socket stayed open after the rest of the app closed it. Each process holding Joyride sockets
 * takes an entry of the region's holder table (its pid) and mirrors its fd table in the
 * entry's row: one byte per slot, the number of its fds referring to that socket. When a pid
 * with an entry ends, the socket service takes the row off the slots' refs (apps_region.ts).
 */
#include "shim.h"

/* This process's entry, -1 for none (not registered, a vfork child, or the table was full). */
static int me = -1;

/* An entry taken for a child about to be forked (holder_reserve), until it holds its pid. */
#define RESERVED 0xfffffffeu
static __thread int for_child = -1;

static uint32_t *holders(void)
{
	return ctl32(CTL_OFF_HOLDERS);
}

/* Entry h's row, or NULL when the region has none where it says (a malformed region). */
static uint8_t *row(int h)
{
	uint32_t off = *ctl32(CTL_OFF_HOLDER_ROWS);
	uint64_t end = (uint64_t)off + (uint64_t)HOLDERS * G.max_sockets;
	if (off < G.slots || end > G.reg.size || G.max_sockets == 0 ||
	    G.max_sockets > (1u << SLOT_BITS))
		return NULL;
	return G.reg.base + off + (size_t)h * G.max_sockets;
}

/* Adds d to one count of the row; 255 means "too many to count" and stays. */
static void add(uint8_t *c, int d)
{
	uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
	for (;;) {
		if (v == 255 || (d < 0 && v == 0))
			return;
		int n = (int)v + d;
		uint8_t w = (uint8_t)(n >= 255 ? 255 : n);
		if (__atomic_compare_exchange_n(c, &v, w, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return;
	}
}

void holder_count(uint32_t id, int d)
{
	if (me < 0 || G.state != 1 || vfork_child())
		return;
	uint8_t *r = row(me);
	uint32_t slot = id & ((1u << SLOT_BITS) - 1);
	if (r && slot < G.max_sockets)
		add(&r[slot], d);
}

/* How many of this process's fds refer to socket `id` (its row), or -1 when not counted. */
int holder_fds(uint32_t id)
{
	if (me < 0 || G.state != 1 || vfork_child())
		return -1;
	uint8_t *r = row(me);
	uint32_t slot = id & ((1u << SLOT_BITS) - 1);
	return r && slot < G.max_sockets ? __atomic_load_n(&r[slot], __ATOMIC_RELAXED) : -1;
}

/* A descriptor of this process for socket `id` other than `except`, or -1. */
int fd_of_socket(uint32_t id, int except)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (fd != except && fdt[fd].used && fdt[fd].id == id)
			return fd;
	return -1;
}

/*
 * Takes this process's entry (the one its pid already has after an exec, else a free one) and
 * writes its row from the fd table. Called where a process starts holding sockets: at
 * registration, in a forked child, and in a new image that adopted inherited sockets.
 */
void holder_join(void)
{
	me = -1;
	int mine = for_child; /* a forked child: the entry its parent took for it */
	for_child = -1;
	if (G.state != 1 || vfork_child())
		return;
	uint32_t pid = (uint32_t)getpid();
	uint32_t *t = holders();
	int h = -1;
	if (mine >= 0) {
		uint32_t r = RESERVED;
		if (__atomic_compare_exchange_n(&t[mine], &r, pid, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED) ||
		    r == pid)
			h = mine;
	}
	for (int i = 0; i < HOLDERS && h < 0; i++)
		if (__atomic_load_n(&t[i], __ATOMIC_SEQ_CST) == pid)
			h = i;
	for (int i = 0; i < HOLDERS && h < 0; i++) {
		uint32_t free = 0;
		if (__atomic_compare_exchange_n(&t[i], &free, pid, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED))
			h = i;
	}
	uint8_t *r = h >= 0 ? row(h) : NULL;
	if (!r) {
		if (h >= 0)
			__atomic_store_n(&t[h], 0, __ATOMIC_SEQ_CST);
		return;
	}
	memset(r, 0, G.max_sockets);
	for (int fd = 0; fd < MAX_FDS; fd++) {
		uint32_t slot = fdt[fd].id & ((1u << SLOT_BITS) - 1);
		if (fdt[fd].used && slot < G.max_sockets)
			add(&r[slot], 1);
	}
	me = h;
}

/*
 * Before a fork: an entry for the child, its row this process's (what the child inherits, its
 * references counted already), named by the child's pid after the fork by whichever of the two
 * gets there first (holder_forked in the parent, holder_join in the child). A child killed
 * before it ever ran had no entry, and its references stayed (the CI machine, loaded).
 */
void holder_reserve(void)
{
	for_child = -1;
	if (me < 0 || G.state != 1 || vfork_child())
		return;
	uint32_t *t = holders();
	uint8_t *src = row(me);
	for (int i = 0; i < HOLDERS && src; i++) {
		uint32_t free = 0;
		if (!__atomic_compare_exchange_n(&t[i], &free, RESERVED, 0, __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED))
			continue;
		uint8_t *dst = row(i);
		/* The fds' counts: a blocked call's own reference is not the child's. */
		for (uint32_t k = 0; k < G.max_sockets; k++) {
			uint32_t c = __atomic_load_n(&src[k], __ATOMIC_RELAXED), w = inflight_of(k);
			dst[k] = (uint8_t)(c == 255 ? 255 : c > w ? c - w : 0);
		}
		for_child = i;
		return;
	}
}

/* After the fork, in the parent: the child's pid into its entry, or the entry back (no child). */
void holder_forked(pid_t pid)
{
	int h = for_child;
	for_child = -1;
	if (h < 0)
		return;
	uint32_t *t = holders();
	uint32_t r = RESERVED;
	if (pid > 0) {
		__atomic_compare_exchange_n(&t[h], &r, (uint32_t)pid, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED);
		return;
	}
	memset(row(h), 0, G.max_sockets);
	__atomic_compare_exchange_n(&t[h], &r, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* Gives the entry back: the process let go of every socket (its exit hook). */
void holder_leave(void)
{
	if (me < 0 || vfork_child())
		return;
	uint8_t *r = row(me);
	if (r)
		memset(r, 0, G.max_sockets);
	uint32_t pid = (uint32_t)getpid();
	__atomic_compare_exchange_n(&holders()[me], &pid, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	me = -1;
}
