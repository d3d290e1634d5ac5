/*
 * ring.c — a socket's send and receive byte rings in the region (layout of
 * native/ipc/joyride_layout.h): where they are, copying iovecs in and out with the shared
 * indices, their doorbells and state flags.
 */
#include "shim.h"

int ring_of(uint32_t id, int recv, bring *b)
{
	uint32_t slot = id & ((1u << SLOT_BITS) - 1);
	uint64_t off = *ctl32(CTL_OFF_RINGS) + (uint64_t)slot * *ctl32(CTL_OFF_SOCKET_BYTES);
	if (recv)
		off += JR_RING_HEADER_SIZE + G.ring_size;
	if (slot >= G.max_sockets || off + JR_RING_HEADER_SIZE + G.ring_size > G.reg.size)
		return -1;
	b->h = G.reg.base + off;
	b->cap = G.ring_size;
	return 0;
}

/* Marks the socket whose ring `b` is in the touched map (CTL_OFF_TOUCHED), before the kick
 * that bumps the activity word: the server then looks at the sockets so marked, not at every
 * socket of the app. */
void touch_ring(const bring *b)
{
	uint64_t off = (uint64_t)(b->h - G.reg.base) - *ctl32(CTL_OFF_RINGS);
	uint32_t slot = (uint32_t)(off / *ctl32(CTL_OFF_SOCKET_BYTES));
	if (slot < G.max_sockets)
		__atomic_fetch_or(ctl32(CTL_OFF_TOUCHED + 4 * (slot >> 5)), 1u << (slot & 31),
				  __ATOMIC_SEQ_CST);
}

void bell_wake(bring *b, uint32_t off)
{
	uint32_t *bell = RU32(b, off);
	uint32_t w = ld(bell);
	if (w & JR_BELL_WAITER) {
		__atomic_compare_exchange_n(bell, &w, (w + JR_BELL_SEQ_STEP) & ~JR_BELL_WAITER, 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		futex(bell, FUTEX_WAKE, 0x7fffffff, NULL);
	}
}

uint32_t br_readable(bring *b)
{
	uint32_t n = ld(RU32(b, JR_RING_OFF_TAIL)) - ld(RU32(b, JR_RING_OFF_HEAD));
	return n > b->cap ? 0 : n;
}

/* Producer: copies from iov (skipping `skip` bytes) into the ring; returns bytes written. */
uint32_t br_write_iov(bring *b, const struct iovec *iov, int cnt, size_t skip, size_t max)
{
	uint32_t tail = ld(RU32(b, JR_RING_OFF_TAIL));
	uint32_t used = tail - ld(RU32(b, JR_RING_OFF_HEAD));
	if (used > b->cap)
		return 0;
	size_t room = b->cap - used;
	if (room > max)
		room = max;
	uint8_t *data = b->h + JR_RING_HEADER_SIZE;
	uint32_t w = 0;
	for (int i = 0; i < cnt && w < room; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		p += skip;
		l -= skip;
		skip = 0;
		if (l > room - w)
			l = room - w;
		uint32_t off = (tail + w) & (b->cap - 1);
		size_t first = b->cap - off < l ? b->cap - off : l;
		memcpy(data + off, p, first);
		if (l > first)
			memcpy(data, p + first, l - first);
		w += (uint32_t)l;
	}
	if (w) {
		__atomic_store_n(RU32(b, JR_RING_OFF_TAIL), tail + w, __ATOMIC_SEQ_CST);
		touch_ring(b);
		bell_wake(b, JR_RING_OFF_DATA_BELL);
	}
	return w;
}

/* Consumer: copies up to the iov's room out of the ring (peek: without consuming). */
uint32_t br_read_iov(bring *b, const struct iovec *iov, int cnt, int peek)
{
	uint32_t head = ld(RU32(b, JR_RING_OFF_HEAD));
	uint32_t avail = ld(RU32(b, JR_RING_OFF_TAIL)) - head;
	if (avail > b->cap)
		return 0;
	uint8_t *data = b->h + JR_RING_HEADER_SIZE;
	uint32_t r = 0;
	for (int i = 0; i < cnt && r < avail; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t l = iov[i].iov_len;
		if (l > avail - r)
			l = avail - r;
		uint32_t off = (head + r) & (b->cap - 1);
		size_t first = b->cap - off < l ? b->cap - off : l;
		memcpy(p, data + off, first);
		if (l > first)
			memcpy(p + first, data, l - first);
		r += (uint32_t)l;
	}
	if (r && !peek) {
		__atomic_store_n(RU32(b, JR_RING_OFF_HEAD), head + r, __ATOMIC_SEQ_CST);
		touch_ring(b);
		bell_wake(b, JR_RING_OFF_SPACE_BELL);
	}
	return r;
}

int br_state(bring *b, uint32_t flag)
{
	return (ld(RU32(b, JR_RING_OFF_STATE)) & flag) != 0;
}

int rd_ready(void *a)
{
	bring *b = a;
	return br_readable(b) > 0 || br_state(b, JR_STATE_PRODUCER_CLOSED);
}

int wr_ready(void *a)
{
	bring *b = a;
	uint32_t used = ld(RU32(b, JR_RING_OFF_TAIL)) - ld(RU32(b, JR_RING_OFF_HEAD));
	return used < b->cap || br_state(b, JR_STATE_CONSUMER_CLOSED);
}

/* A send or receive that found its ring full or empty: EAGAIN at once for a non-blocking
 * socket or MSG_DONTWAIT, else waits on the ring's doorbell `bell` until `ready(arg)` (with
 * the socket's SO_RCVTIMEO/SO_SNDTIMEO, `timeout` ns). 0 when to look again, else the errno to
 * fail with: EINTR, or EAGAIN when the timeout ran out. */
int ring_wait(jfd *j, int flags, uint32_t *bell, int (*ready)(void *), void *arg, int64_t timeout)
{
	if (is_nonblock(j) || (flags & MSG_DONTWAIT))
		return EAGAIN;
	kick();
	int w = wait_word(bell, JR_BELL_WAITER, ready, arg, tmo(timeout));
	return w == 0 ? 0 : w == EINTR ? EINTR : EAGAIN;
}
