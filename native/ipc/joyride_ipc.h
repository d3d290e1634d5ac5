/*
 * joyride_ipc.h: the C twin of servers/ipc/ (regions, rings, doorbells), header-only
 * (static inline), for the shim and the C test peers. The layout comes from joyride_layout.h,
 * generated from servers/ipc/layout.ts.
 *
 *   jr_region reg;                          regions: memfd + mmap
 *   jr_region_create(&reg, size, "name");   or jr_region_adopt(&reg, fd) / jr_region_open(&reg, path)
 *   jr_ring ring;
 *   jr_ring_init(&ring, &reg, offset, JR_KIND_MESSAGE, 4096);   or jr_ring_attach(...)
 *   jr_msg_push(&ring, buf, len);           or p = jr_msg_reserve(&ring, len); ...; jr_msg_commit(&ring, len);
 *   const void *m = jr_msg_peek(&ring, &len); ...; jr_msg_release(&ring);
 *   jr_wait_readable(&ring, timeout_ns, spin_ns);   jr_wait_writable(&ring, need, timeout_ns, spin_ns);
 *
 * Trust: each side keeps its own index privately and validates the other side's before use; an
 * impossible value marks the ring broken (ring->error, ring->corruptions) and every later call
 * returns "nothing". Nothing outside the ring is read or written. Doorbells: a waiter sets bit 0
 * of the bell word and sleeps (futex, always with a timeout); the other side wakes it only when
 * it sees the flag, i.e. on the empty->non-empty (full->non-full) transition the waiter announced.
 */
#ifndef JOYRIDE_IPC_H
#define JOYRIDE_IPC_H

/* syscall(2), futex and memfd need the default (or GNU) feature set: include this header first,
 * or build with -D_GNU_SOURCE. */
#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "joyride_layout.h"

/* ---------------------------------------------------------------- regions */

typedef struct jr_region {
	int fd;
	size_t size;
	uint8_t *base;
} jr_region;

static inline int jr__region_map(jr_region *r, int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->fd = fd;
	r->size = size;
	r->base = (uint8_t *)p;
	return 0;
}

/* A new zeroed region of `size` bytes (rounded up to a page) on a memfd. 0 or -errno. */
static inline int jr_region_create(jr_region *r, size_t size, const char *name)
{
	size = (size + 4095) & ~(size_t)4095;
	int fd = (int)syscall(SYS_memfd_create, name, 1u /* MFD_CLOEXEC */);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc = jr__region_map(r, fd, size);
	if (rc != 0)
		close(fd);
	return rc;
}

/* Maps `fd` (e.g. received with SCM_RIGHTS) and owns it from now on. 0 or -errno. */
static inline int jr_region_adopt(jr_region *r, int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0)
		return size < 0 ? -errno : -EINVAL;
	return jr__region_map(r, fd, (size_t)size);
}

/* Opens and maps a path naming a region (e.g. /proc/<pid>/fd/<fd>). 0 or -errno. */
static inline int jr_region_open(jr_region *r, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = jr_region_adopt(r, fd);
	if (rc != 0)
		close(fd);
	return rc;
}

static inline void jr_region_close(jr_region *r)
{
	if (r->base)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->fd = -1;
}

/* ---------------------------------------------------------------- rings */

typedef struct jr_ring {
	uint8_t *hdr;  /* ring header in the region */
	uint8_t *data; /* data area */
	uint32_t kind, capacity, mask;
	uint32_t head, tail; /* private copies: the consumer's head, the producer's tail */
	uint32_t staged;     /* descriptor rings: tail including staged slots */
	/* message rings: reservation (producer) and peeked record (consumer) */
	int res_active, rec_active;
	uint32_t res_off, res_pad, res_max;
	uint32_t rec_off, rec_size, rec_len;
	uint32_t max_message;
	/* descriptor rings: what descriptors may point at; index rings: index limit */
	uint32_t bound_bytes, bound_buf_size, limit;
	/* state */
	const char *error;
	uint32_t corruptions;
	uint64_t wakes, sleeps, timeouts;
	uint32_t spin_q, waits; /* adaptive spin: share of spin_ns in 16ths, wait counter */
} jr_ring;

typedef struct jr_desc {
	uint32_t offset, length, flags, user;
} jr_desc;

#define JR__U32(ring, off) ((uint32_t *)((ring)->hdr + (off)))

static inline uint32_t jr__data_size(uint32_t kind, uint32_t capacity)
{
	if (kind == JR_KIND_DESCRIPTOR)
		return capacity * JR_DESC_SLOT_SIZE;
	if (kind == JR_KIND_INDEX)
		return capacity * JR_INDEX_SLOT_SIZE;
	return capacity;
}

static inline uint32_t jr__slot_size(uint32_t kind)
{
	if (kind == JR_KIND_DESCRIPTOR)
		return JR_DESC_SLOT_SIZE;
	if (kind == JR_KIND_INDEX)
		return JR_INDEX_SLOT_SIZE;
	return 0;
}

/* Bytes a ring of `kind` and `capacity` takes, rounded to a cache line. */
static inline size_t jr_ring_bytes(uint32_t kind, uint32_t capacity)
{
	size_t n = JR_RING_HEADER_SIZE + (size_t)jr__data_size(kind, capacity);
	return (n + JR_RING_CACHE_LINE - 1) & ~(size_t)(JR_RING_CACHE_LINE - 1);
}

static inline int jr__placement_ok(const jr_region *reg, uint64_t offset, uint32_t kind,
				   uint32_t capacity)
{
	if (offset % JR_RING_CACHE_LINE != 0)
		return 0;
	if (capacity < JR_RING_MIN_CAPACITY || capacity > JR_RING_MAX_CAPACITY ||
	    (capacity & (capacity - 1)) != 0)
		return 0;
	return offset + JR_RING_HEADER_SIZE + (uint64_t)jr__data_size(kind, capacity) <= reg->size;
}

static inline void jr__corrupt(jr_ring *r, const char *why)
{
	r->corruptions++;
	if (!r->error)
		r->error = why;
}

static inline uint32_t jr__load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline void jr__store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

/* Attaches to the ring header at `offset`, checking it. 0, or -EINVAL if it is not sound. */
static inline int jr_ring_attach(jr_ring *r, jr_region *reg, uint32_t offset, uint32_t kind)
{
	memset(r, 0, sizeof *r);
	if ((uint64_t)offset + JR_RING_HEADER_SIZE > reg->size || offset % JR_RING_CACHE_LINE)
		return -EINVAL;
	r->hdr = reg->base + offset;
	if (jr__load(JR__U32(r, JR_RING_OFF_MAGIC)) != JR_RING_MAGIC ||
	    *JR__U32(r, JR_RING_OFF_VERSION) != JR_RING_VERSION ||
	    *JR__U32(r, JR_RING_OFF_KIND) != kind)
		return -EINVAL;
	uint32_t capacity = *JR__U32(r, JR_RING_OFF_CAPACITY);
	if (!jr__placement_ok(reg, offset, kind, capacity) ||
	    *JR__U32(r, JR_RING_OFF_SLOT_SIZE) != jr__slot_size(kind) ||
	    *JR__U32(r, JR_RING_OFF_DATA_OFFSET) != JR_RING_HEADER_SIZE ||
	    *JR__U32(r, JR_RING_OFF_DATA_SIZE) != jr__data_size(kind, capacity))
		return -EINVAL;
	r->data = r->hdr + JR_RING_HEADER_SIZE;
	r->kind = kind;
	r->capacity = capacity;
	r->mask = capacity - 1;
	r->max_message = capacity / 2 - JR_MSG_RECORD_HEADER;
	r->head = jr__load(JR__U32(r, JR_RING_OFF_HEAD));
	r->tail = jr__load(JR__U32(r, JR_RING_OFF_TAIL));
	r->staged = r->tail;
	r->limit = UINT32_MAX;
	r->spin_q = 16;
	r->bound_bytes = UINT32_MAX;
	if (r->tail - r->head > capacity)
		jr__corrupt(r, "indices further apart than the capacity");
	return 0;
}

/* Writes a fresh ring header at `offset` and attaches. 0 or -EINVAL. */
static inline int jr_ring_init(jr_ring *r, jr_region *reg, uint32_t offset, uint32_t kind,
			       uint32_t capacity)
{
	if (!jr__placement_ok(reg, offset, kind, capacity))
		return -EINVAL;
	uint8_t *h = reg->base + offset;
	memset(h, 0, JR_RING_HEADER_SIZE);
	*(uint32_t *)(h + JR_RING_OFF_VERSION) = JR_RING_VERSION;
	*(uint32_t *)(h + JR_RING_OFF_KIND) = kind;
	*(uint32_t *)(h + JR_RING_OFF_CAPACITY) = capacity;
	*(uint32_t *)(h + JR_RING_OFF_SLOT_SIZE) = jr__slot_size(kind);
	*(uint32_t *)(h + JR_RING_OFF_DATA_OFFSET) = JR_RING_HEADER_SIZE;
	*(uint32_t *)(h + JR_RING_OFF_DATA_SIZE) = jr__data_size(kind, capacity);
	jr__store((uint32_t *)(h + JR_RING_OFF_MAGIC), JR_RING_MAGIC);
	return jr_ring_attach(r, reg, offset, kind);
}

/* Descriptor rings: descriptors must lie inside one buffer of `buf_size` within `bytes`. */
static inline void jr_ring_set_bounds(jr_ring *r, uint32_t bytes, uint32_t buf_size)
{
	r->bound_bytes = bytes;
	r->bound_buf_size = buf_size;
}

/* Index rings: indices must be below `limit`. */
static inline void jr_ring_set_limit(jr_ring *r, uint32_t limit)
{
	r->limit = limit;
}

static inline void jr__wake(jr_ring *r, uint32_t bell_off)
{
	uint32_t *bell = JR__U32(r, bell_off);
	uint32_t w = jr__load(bell);
	__atomic_compare_exchange_n(bell, &w, (w + JR_BELL_SEQ_STEP) & ~JR_BELL_WAITER, 0,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, bell, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
	r->wakes++;
}

/* Producer: publishes the private tail, then wakes the consumer if it announced it waits. */
static inline void jr__publish_tail(jr_ring *r)
{
	jr__store(JR__U32(r, JR_RING_OFF_TAIL), r->tail);
	if (jr__load(JR__U32(r, JR_RING_OFF_DATA_BELL)) & JR_BELL_WAITER)
		jr__wake(r, JR_RING_OFF_DATA_BELL);
}

/* Consumer: publishes the private head, then wakes the producer if it waits for space. */
static inline void jr__publish_head(jr_ring *r)
{
	jr__store(JR__U32(r, JR_RING_OFF_HEAD), r->head);
	if (jr__load(JR__U32(r, JR_RING_OFF_SPACE_BELL)) & JR_BELL_WAITER)
		jr__wake(r, JR_RING_OFF_SPACE_BELL);
}

/* Consumer: what the producer published and this side has not consumed (-1: corrupt). */
static inline int64_t jr__used_by_tail(jr_ring *r)
{
	uint32_t tail = jr__load(JR__U32(r, JR_RING_OFF_TAIL));
	uint32_t used = tail - r->head;
	if (used > r->capacity) {
		jr__corrupt(r, "tail too far ahead of head");
		return -1;
	}
	return used;
}

/* Producer: what is in the ring as seen from the private tail (-1: corrupt). */
static inline int64_t jr__used_by_head(jr_ring *r, uint32_t tail)
{
	uint32_t head = jr__load(JR__U32(r, JR_RING_OFF_HEAD));
	uint32_t used = tail - head;
	if (used > r->capacity) {
		jr__corrupt(r, "head too far behind tail");
		return -1;
	}
	return used;
}

/* Marks a side done and wakes both bells. side: JR_STATE_PRODUCER_CLOSED or ..._CONSUMER_CLOSED */
static inline void jr_ring_close(jr_ring *r, uint32_t side)
{
	__atomic_fetch_or(JR__U32(r, JR_RING_OFF_STATE), side, __ATOMIC_SEQ_CST);
	jr__wake(r, JR_RING_OFF_DATA_BELL);
	jr__wake(r, JR_RING_OFF_SPACE_BELL);
}

static inline int jr_ring_state(const jr_ring *r, uint32_t side)
{
	return (jr__load(JR__U32(r, JR_RING_OFF_STATE)) & side) != 0;
}

/* ---------------------------------------------------------------- message rings */

static inline uint32_t jr__align8(uint32_t n)
{
	return (n + JR_MSG_ALIGN - 1) & ~(uint32_t)(JR_MSG_ALIGN - 1);
}

static inline uint32_t jr__msg_need(const jr_ring *r, uint32_t len)
{
	uint32_t rec = JR_MSG_RECORD_HEADER + jr__align8(len);
	uint32_t contiguous = r->capacity - (r->tail & r->mask);
	return rec <= contiguous ? rec : contiguous + rec;
}

static inline int64_t jr__msg_free(jr_ring *r)
{
	int64_t used = jr__used_by_head(r, r->tail);
	if (used < 0)
		return -1;
	if (used & (JR_MSG_ALIGN - 1)) {
		jr__corrupt(r, "head not 8-byte aligned");
		return -1;
	}
	return (int64_t)r->capacity - used;
}

/* Producer: room for a payload of up to `len` bytes, or NULL when full, broken or too big. */
static inline void *jr_msg_reserve(jr_ring *r, uint32_t len)
{
	if (r->error || len > r->max_message)
		return NULL;
	int64_t free_bytes = jr__msg_free(r);
	uint32_t need = jr__msg_need(r, len);
	if (free_bytes < 0 || need > free_bytes)
		return NULL;
	uint32_t rec = JR_MSG_RECORD_HEADER + jr__align8(len);
	r->res_pad = need - rec;
	r->res_off = r->res_pad ? 0 : (r->tail & r->mask);
	r->res_max = len;
	r->res_active = 1;
	return r->data + r->res_off + JR_MSG_RECORD_HEADER;
}

/* Producer: publishes the reserved record with `len` (<= reserved) bytes of payload. */
static inline void jr_msg_commit(jr_ring *r, uint32_t len)
{
	if (!r->res_active)
		return;
	if (len > r->res_max)
		len = r->res_max;
	if (r->res_pad) {
		uint32_t *p = (uint32_t *)(r->data + (r->tail & r->mask));
		p[0] = r->res_pad - JR_MSG_RECORD_HEADER;
		p[1] = JR_MSG_FLAG_PAD;
	}
	uint32_t *h = (uint32_t *)(r->data + r->res_off);
	h[0] = len;
	h[1] = 0;
	r->tail += r->res_pad + JR_MSG_RECORD_HEADER + jr__align8(len);
	r->res_active = 0;
	jr__publish_tail(r);
}

/* Producer: copies a message in. 1 on success, 0 when full, broken or too big. */
static inline int jr_msg_push(jr_ring *r, const void *buf, uint32_t len)
{
	void *p = jr_msg_reserve(r, len);
	if (!p)
		return 0;
	memcpy(p, buf, len);
	jr_msg_commit(r, len);
	return 1;
}

/* Consumer: the next message in place (length in *len), or NULL when empty or broken. */
static inline const void *jr_msg_peek(jr_ring *r, uint32_t *len)
{
	if (r->rec_active) {
		*len = r->rec_len;
		return r->data + r->rec_off + JR_MSG_RECORD_HEADER;
	}
	if (r->error)
		return NULL;
	int64_t used = jr__used_by_tail(r);
	if (used <= 0)
		return NULL;
	if (used & (JR_MSG_ALIGN - 1)) {
		jr__corrupt(r, "tail not 8-byte aligned");
		return NULL;
	}
	uint32_t off = r->head & r->mask, skip = 0;
	const uint32_t *h = (const uint32_t *)(r->data + off);
	uint32_t rlen = h[0], flags = h[1];
	if (flags == JR_MSG_FLAG_PAD) {
		skip = r->capacity - off;
		if (rlen != skip - JR_MSG_RECORD_HEADER || skip + JR_MSG_RECORD_HEADER > used) {
			jr__corrupt(r, "bad padding record");
			return NULL;
		}
		used -= skip;
		off = 0;
		h = (const uint32_t *)r->data;
		rlen = h[0];
		flags = h[1];
	}
	if (flags != 0) {
		jr__corrupt(r, "bad record flags");
		return NULL;
	}
	if (rlen > r->max_message) {
		jr__corrupt(r, "record length too big");
		return NULL;
	}
	uint32_t rec = JR_MSG_RECORD_HEADER + jr__align8(rlen);
	if (rec > used || off + rec > r->capacity) {
		jr__corrupt(r, "record beyond what was published");
		return NULL;
	}
	r->rec_active = 1;
	r->rec_off = off;
	r->rec_len = rlen;
	r->rec_size = skip + rec;
	*len = rlen;
	return r->data + off + JR_MSG_RECORD_HEADER;
}

/* Consumer: gives the peeked message's room back. */
static inline void jr_msg_release(jr_ring *r)
{
	if (!r->rec_active)
		return;
	r->head += r->rec_size;
	r->rec_active = 0;
	jr__publish_head(r);
}

/* ---------------------------------------------------------------- byte rings */

static inline uint32_t jr_bytes_readable(jr_ring *r)
{
	if (r->error)
		return 0;
	int64_t used = jr__used_by_tail(r);
	return used < 0 ? 0 : (uint32_t)used;
}

static inline uint32_t jr_bytes_writable(jr_ring *r)
{
	if (r->error)
		return 0;
	int64_t used = jr__used_by_head(r, r->tail);
	return used < 0 ? 0 : r->capacity - (uint32_t)used;
}

/* Producer: copies as much of buf as fits; returns the bytes written. */
static inline uint32_t jr_bytes_write(jr_ring *r, const void *buf, uint32_t len)
{
	uint32_t n = jr_bytes_writable(r);
	if (len < n)
		n = len;
	if (n == 0)
		return 0;
	uint32_t off = r->tail & r->mask, first = r->capacity - off;
	if (first > n)
		first = n;
	memcpy(r->data + off, buf, first);
	memcpy(r->data, (const uint8_t *)buf + first, n - first);
	r->tail += n;
	jr__publish_tail(r);
	return n;
}

/* Consumer: the readable bytes as two pieces (the second empty unless they wrap); total. */
static inline uint32_t jr_bytes_peek(jr_ring *r, struct iovec iov[2])
{
	uint32_t n = jr_bytes_readable(r);
	uint32_t off = r->head & r->mask, first = r->capacity - off;
	if (first > n)
		first = n;
	iov[0].iov_base = r->data + off;
	iov[0].iov_len = first;
	iov[1].iov_base = r->data;
	iov[1].iov_len = n - first;
	return n;
}

/* Consumer: drops up to n readable bytes; returns how many. */
static inline uint32_t jr_bytes_consume(jr_ring *r, uint32_t n)
{
	uint32_t k = jr_bytes_readable(r);
	if (n < k)
		k = n;
	if (k == 0)
		return 0;
	r->head += k;
	jr__publish_head(r);
	return k;
}

/* Consumer: copies up to len readable bytes out and consumes them. */
static inline uint32_t jr_bytes_read(jr_ring *r, void *buf, uint32_t len)
{
	struct iovec iov[2];
	uint32_t n = jr_bytes_peek(r, iov);
	if (len < n)
		n = len;
	uint32_t first = n < iov[0].iov_len ? n : (uint32_t)iov[0].iov_len;
	memcpy(buf, iov[0].iov_base, first);
	memcpy((uint8_t *)buf + first, iov[1].iov_base, n - first);
	return jr_bytes_consume(r, n);
}

/* ---------------------------------------------------------------- descriptor and index rings */

/* Producer: writes a descriptor without publishing it. 1, or 0 when full or broken. */
static inline int jr_desc_stage(jr_ring *r, uint32_t offset, uint32_t length, uint32_t flags,
				uint32_t user)
{
	if (r->error)
		return 0;
	int64_t used = jr__used_by_head(r, r->staged);
	if (used < 0 || used == r->capacity)
		return 0;
	uint32_t *s = (uint32_t *)(r->data + (r->staged & r->mask) * JR_DESC_SLOT_SIZE);
	s[0] = offset;
	s[1] = length;
	s[2] = flags;
	s[3] = user;
	r->staged++;
	return 1;
}

/* Producer: publishes all staged descriptors. */
static inline void jr_desc_publish(jr_ring *r)
{
	if (r->staged == r->tail)
		return;
	r->tail = r->staged;
	jr__publish_tail(r);
}

static inline int jr_desc_push(jr_ring *r, uint32_t offset, uint32_t length, uint32_t flags,
			       uint32_t user)
{
	if (!jr_desc_stage(r, offset, length, flags, user))
		return 0;
	jr_desc_publish(r);
	return 1;
}

/* Consumer: takes the next descriptor after checking it lies in one buffer. 1 or 0. */
static inline int jr_desc_pop(jr_ring *r, jr_desc *out)
{
	if (r->error)
		return 0;
	int64_t used = jr__used_by_tail(r);
	if (used <= 0)
		return 0;
	const uint32_t *s = (const uint32_t *)(r->data + (r->head & r->mask) * JR_DESC_SLOT_SIZE);
	uint32_t offset = s[0], length = s[1];
	int bad = r->bound_buf_size
			  ? offset >= r->bound_bytes ||
				    (uint64_t)(offset % r->bound_buf_size) + length > r->bound_buf_size
			  : offset > r->bound_bytes || length > r->bound_bytes - offset;
	if (bad) {
		jr__corrupt(r, "descriptor outside the pool");
		return 0;
	}
	out->offset = offset;
	out->length = length;
	out->flags = s[2];
	out->user = s[3];
	r->head++;
	jr__publish_head(r);
	return 1;
}

static inline int jr_index_push(jr_ring *r, uint32_t index)
{
	if (r->error)
		return 0;
	int64_t used = jr__used_by_head(r, r->tail);
	if (used < 0 || used == r->capacity)
		return 0;
	((uint32_t *)r->data)[r->tail & r->mask] = index;
	r->tail++;
	jr__publish_tail(r);
	return 1;
}

/* Consumer: the next index (checked below the limit), or -1. */
static inline int64_t jr_index_pop(jr_ring *r)
{
	if (r->error)
		return -1;
	int64_t used = jr__used_by_tail(r);
	if (used <= 0)
		return -1;
	uint32_t index = ((const uint32_t *)r->data)[r->head & r->mask];
	if (index >= r->limit) {
		jr__corrupt(r, "index beyond the limit");
		return -1;
	}
	r->head++;
	jr__publish_head(r);
	return index;
}

/* ---------------------------------------------------------------- buffer pools */

/* A pool laid out by servers/ipc/pool.ts: header, free-list index ring, buffers. */
typedef struct jr_pool {
	uint8_t *buffers; /* first buffer */
	uint32_t count, buf_size;
	jr_ring free_list; /* this side pops (allocates) or pushes (frees), not both */
} jr_pool;

static inline uint32_t jr__pool_ring_capacity(uint32_t count)
{
	uint32_t c = JR_RING_MIN_CAPACITY;
	while (c < count)
		c *= 2;
	return c;
}

/* Attaches to the pool at `offset`, checking its header. 0 or -EINVAL. */
static inline int jr_pool_attach(jr_pool *p, jr_region *reg, uint32_t offset)
{
	memset(p, 0, sizeof *p);
	if ((uint64_t)offset + JR_POOL_HEADER_SIZE > reg->size || offset % JR_RING_CACHE_LINE)
		return -EINVAL;
	const uint32_t *h = (const uint32_t *)(reg->base + offset);
	uint32_t buf_size = h[JR_POOL_OFF_BUF_SIZE / 4], count = h[JR_POOL_OFF_COUNT / 4];
	uint32_t ring_off = h[JR_POOL_OFF_RING / 4], buf_off = h[JR_POOL_OFF_BUFFERS / 4];
	if (jr__load(&h[JR_POOL_OFF_MAGIC / 4]) != JR_POOL_MAGIC ||
	    h[JR_POOL_OFF_VERSION / 4] != JR_POOL_VERSION || buf_size == 0 ||
	    buf_size % JR_POOL_BUF_ALIGN || count == 0 || count > JR_RING_MAX_CAPACITY ||
	    ring_off != JR_POOL_HEADER_SIZE || buf_off % JR_POOL_BUF_ALIGN ||
	    buf_off < ring_off + jr_ring_bytes(JR_KIND_INDEX, jr__pool_ring_capacity(count)) ||
	    (uint64_t)offset + buf_off + (uint64_t)count * buf_size > reg->size)
		return -EINVAL;
	if (jr_ring_attach(&p->free_list, reg, offset + ring_off, JR_KIND_INDEX) != 0 ||
	    p->free_list.capacity != jr__pool_ring_capacity(count))
		return -EINVAL;
	jr_ring_set_limit(&p->free_list, count);
	p->buffers = reg->base + offset + buf_off;
	p->count = count;
	p->buf_size = buf_size;
	return 0;
}

/* Takes a free buffer: its offset from the first buffer, or -1 when none is free. */
static inline int64_t jr_pool_alloc(jr_pool *p)
{
	int64_t i = jr_index_pop(&p->free_list);
	return i < 0 ? -1 : i * (int64_t)p->buf_size;
}

/* Returns the buffer holding `offset` to the free list. 1, or 0 if outside the pool or full. */
static inline int jr_pool_free(jr_pool *p, uint32_t offset)
{
	if (offset >= (uint64_t)p->count * p->buf_size)
		return 0;
	return jr_index_push(&p->free_list, offset / p->buf_size);
}

/* The bytes at a checked (offset, length), e.g. from jr_desc_pop or jr_pool_alloc. */
static inline uint8_t *jr_pool_bytes(jr_pool *p, uint32_t offset)
{
	return p->buffers + offset;
}

/* Descriptor rings over this pool: descriptors must lie inside one of its buffers. */
static inline void jr_pool_bound(const jr_pool *p, jr_ring *desc_ring)
{
	jr_ring_set_bounds(desc_ring, p->count * p->buf_size, p->buf_size);
}

/* ---------------------------------------------------------------- waiting */

/* Whether spinning waits yield the CPU between checks (JR_SPIN_YIELD=0 in the environment of
 * the test peer turns it off for measurements). */
static int jr_spin_yield = 1;

static inline int64_t jr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void jr__relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Consumer: is anything published that this side has not consumed? */
static inline int jr_has_data(jr_ring *r)
{
	return jr__load(JR__U32(r, JR_RING_OFF_TAIL)) != r->head;
}

/* Producer: would `need` fit (payload bytes / bytes / slots, per kind)? */
static inline int jr_has_space(jr_ring *r, uint32_t need)
{
	if (r->error)
		return 0;
	if (r->kind == JR_KIND_MESSAGE) {
		if (need > r->max_message)
			return 0;
		int64_t f = jr__msg_free(r);
		return f >= 0 && jr__msg_need(r, need) <= f;
	}
	int64_t used = jr__used_by_head(r, r->kind == JR_KIND_DESCRIPTOR ? r->staged : r->tail);
	if (need > r->capacity)
		need = r->capacity;
	return used >= 0 && r->capacity - used >= need;
}

static inline int jr__ready(jr_ring *r, int data, uint32_t need)
{
	return data ? jr_has_data(r) : jr_has_space(r, need);
}

static inline int jr__gave_up(jr_ring *r, int data)
{
	return r->error != NULL ||
	       jr_ring_state(r, data ? JR_STATE_PRODUCER_CLOSED : JR_STATE_CONSUMER_CLOSED);
}

static inline int jr__wait(jr_ring *r, int data, uint32_t need, int64_t timeout_ns,
			   int64_t spin_ns)
{
	if (jr__ready(r, data, need))
		return 1;
	if (jr__gave_up(r, data))
		return 0;
	int64_t start = jr_now_ns();
	int64_t deadline = start + (timeout_ns > 0 ? timeout_ns : 0);
	/* Adaptive spin: a spin that pays off doubles the next one (up to spin_ns), a wait that had
	 * to sleep halves it, down to none; with none, every 16th wait probes with a full spin. */
	int probe = r->spin_q == 0 && (++r->waits & 15) == 0;
	int64_t spin = probe ? spin_ns : spin_ns * (int64_t)r->spin_q / 16;
	for (int64_t now = start; now < start + spin; now = jr_now_ns()) {
		for (int k = 0; k < 64; k++) {
			if (jr__ready(r, data, need)) {
				r->spin_q = r->spin_q == 0 ? 4 : (r->spin_q >= 8 ? 16 : r->spin_q * 2);
				return 1;
			}
			jr__relax();
		}
		/* On an oversubscribed machine the other side may be waiting for this very CPU. */
		if (jr_spin_yield)
			sched_yield();
	}
	r->spin_q >>= 1;
	uint32_t *bell = JR__U32(r, data ? JR_RING_OFF_DATA_BELL : JR_RING_OFF_SPACE_BELL);
	for (int tries = 0;; tries++) {
		uint32_t w = jr__load(bell);
		if (!(w & JR_BELL_WAITER)) {
			uint32_t seen = w;
			if (__atomic_compare_exchange_n(bell, &seen, w | JR_BELL_WAITER, 0,
							__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				w |= JR_BELL_WAITER;
			else if (tries < 16)
				continue;
			else
				w = seen;
		}
		if (jr__ready(r, data, need)) {
			uint32_t seen = w;
			__atomic_compare_exchange_n(bell, &seen, w & ~JR_BELL_WAITER, 0,
						    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			return 1;
		}
		if (jr__gave_up(r, data))
			return 0;
		int64_t left = deadline - jr_now_ns();
		if (left <= 0) {
			r->timeouts++;
			return 0;
		}
		struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
		r->sleeps++;
		syscall(SYS_futex, bell, FUTEX_WAIT, w, &ts, NULL, 0);
	}
}

/* Consumer: waits for data, spinning spin_ns then sleeping; 1 ready, 0 timeout/broken/closed. */
static inline int jr_wait_readable(jr_ring *r, int64_t timeout_ns, int64_t spin_ns)
{
	return jr__wait(r, 1, 0, timeout_ns, spin_ns);
}

/* Producer: waits until `need` fits; 1 ready, 0 timeout/broken/closed. */
static inline int jr_wait_writable(jr_ring *r, uint32_t need, int64_t timeout_ns, int64_t spin_ns)
{
	return jr__wait(r, 0, need, timeout_ns, spin_ns);
}

#endif /* JOYRIDE_IPC_H */
