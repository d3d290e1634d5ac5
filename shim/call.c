/*
 * call.c — control calls: a SocketCall encoded (generated Cap'n Proto codec) into the request
 * ring, its SocketReply awaited on the reply ring, one call at a time per app under the
 * region's call lock; the per-thread buffers they use; an instance that went away.
 */
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>

/* Per-thread buffers, allocated on a thread's first call: as static TLS they would add ~70 KB
 * to every thread's stack needs, and programs creating threads with small stacks (node.js)
 * get EINVAL from pthread_create. */
static pthread_key_t tb_key;
static pthread_once_t tb_once = PTHREAD_ONCE_INIT;

static void tb_init(void)
{
	pthread_key_create(&tb_key, free);
}

struct tbufs *tb(void)
{
	static __thread struct tbufs *p;
	if (!p) {
		pthread_once(&tb_once, tb_init);
		p = malloc(sizeof *p);
		if (!p)
			abort();
		pthread_setspecific(tb_key, p);
	}
	return p;
}

/* Whether the instance is gone (./joyride stop, a crash): naming's end of the registration
 * connection is closed and apps.sock is no more. A naming restart alone leaves the TCP/IP
 * server serving (the call is taken at once); a tcp restart keeps naming. */
static int svc_dead;

static int instance_gone(void)
{
	struct pollfd p = { G.conn, POLLRDHUP, 0 };
	if (G.conn < 0 || REAL(poll)(&p, 1, 0) <= 0 || !(p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
		return 0;
	char path[512];
	snprintf(path, sizeof path, "%s/apps.sock", runtime_dir());
	return access(path, F_OK) != 0;
}

/* Sends one call and waits for its reply (decoded into *r). 0 or -errno (transport). */
/* Encodes call `c` and pushes it onto the request ring; holds the call lock on success (0).
 * `oneway`: the request id's low half is 0, which tells the server not to answer.
 * `deadline` (CLOCK_MONOTONIC ns, 0: none): give up (-ETIMEDOUT) while the ring stays full. */
static int push_call(jr_SocketCall *c, int oneway, uint64_t *idp, int64_t deadline)
{
	uint8_t *buf = tb()->call;
	uint32_t *lock = ctl32(CTL_OFF_LOCK);
	size_t len = 0;
	c->has_header = 1;
	c->header.app_id = G.app_id;
	c->header.token.ptr = G.token;
	c->header.token.len = 16;
	c->pid = (uint32_t)getpid();
	plock(lock);
	uint64_t id = (uint64_t)getpid() << 32;
	if (!oneway) {
		if ((uint32_t)++G.next_req == 0)
			++G.next_req;
		id |= G.next_req & 0xffffffffu;
	}
	c->header.request_id = id;
	*idp = id;
	if (jr_SocketCall_encode(c, buf, sizeof tb()->call, &len) != 0) {
		punlock(lock);
		return -EINVAL;
	}
	/* Other processes may have used the rings: take the indices from shared memory. */
	G.req.head = ld((uint32_t *)(G.req.hdr + JR_RING_OFF_HEAD));
	G.req.tail = ld((uint32_t *)(G.req.hdr + JR_RING_OFF_TAIL));
	G.rep.head = ld((uint32_t *)(G.rep.hdr + JR_RING_OFF_HEAD));
	G.rep.tail = ld((uint32_t *)(G.rep.hdr + JR_RING_OFF_TAIL));
	G.req.res_active = 0;
	G.rep.rec_active = 0;
	while (!jr_msg_push(&G.req, buf, (uint32_t)len)) {
		kick();
		if (!jr_wait_writable(&G.req, (uint32_t)len, 100000000LL, SPIN_NS) &&
		    (G.req.error || (deadline && now_ns() > deadline))) {
			punlock(lock);
			return G.req.error ? -EIO : -ETIMEDOUT;
		}
	}
	kick();
	return 0;
}

/* A call about socket `id` whose outcome the caller does not wait for (the server sends no
 * reply): for options that cannot fail on a socket the shim already checked, and closes at
 * exit. `deadline`: as push_call's. 0 or an errno. */
int oneway_call(jr_SocketCall *c, uint32_t id, int64_t deadline)
{
	if (__atomic_load_n(&svc_dead, __ATOMIC_RELAXED))
		return EIO;
	c->socket_id = id;
	uint64_t rid;
	sigset_t old;
	sig_hold(&old);
	int e = push_call(c, 1, &rid, deadline);
	if (e >= 0)
		punlock(ctl32(CTL_OFF_LOCK));
	sig_release(&old);
	return e < 0 ? -e : 0;
}

static int jcall_held(jr_SocketCall *c, jr_SocketReply *r)
{
	if (__atomic_load_n(&svc_dead, __ATOMIC_RELAXED))
		return -EIO; /* the instance went away: fail at once, never wait out the deadline */
	uint32_t *lock = ctl32(CTL_OFF_LOCK);
	uint64_t id;
	int pe = push_call(c, 0, &id, 0);
	if (pe < 0)
		return pe;
	uint32_t pushed = G.req.tail; /* our call is taken once the head passes this */
	int64_t deadline = now_ns() + 10000000000LL;
	int gone = 0;
	for (;;) {
		if (!jr_wait_readable(&G.rep, 250000000LL, SPIN_NS)) {
			int untaken = (int32_t)(ld((uint32_t *)(G.req.hdr + JR_RING_OFF_HEAD)) - pushed) < 0;
			/* gone for 1 s in a row (4 looks): not a naming restart's moment */
			gone = untaken && instance_gone() ? gone + 1 : 0;
			if (gone >= 4)
				__atomic_store_n(&svc_dead, 1, __ATOMIC_RELAXED);
			if (G.rep.error || now_ns() > deadline || svc_dead) {
				punlock(lock);
				return -EIO;
			}
			kick();
			continue;
		}
		uint32_t n = 0;
		const void *m = jr_msg_peek(&G.rep, &n);
		if (!m)
			continue;
		if (n > sizeof tb()->reply)
			n = sizeof tb()->reply;
		memcpy(tb()->reply, m, n);
		jr_msg_release(&G.rep);
		uint8_t *arena_buf = tb()->arena;
		jr_capnp_arena arena = { arena_buf, sizeof tb()->arena, 0 };
		if (jr_SocketReply_decode(tb()->reply, n, r, &arena) != 0)
			continue;
		if (r->header.request_id != id)
			continue; /* a stale reply (an earlier caller gave up) */
		break;
	}
	punlock(lock);
	return 0;
}

/* A call and its reply with signals held off: a handler that made a call of its own took
 * the call lock its thread held (a deadlock, a helper's repro: shutdown() from a 1 ms timer's
 * handler), and would have read this call's reply. */
int jcall(jr_SocketCall *c, jr_SocketReply *r)
{
	sigset_t old;
	sig_hold(&old);
	int e = jcall_held(c, r);
	sig_release(&old);
	return e;
}

/* A call about socket `id` that only returns an errno. */
int simple_call(jr_SocketCall *c, uint32_t id)
{
	jr_SocketReply r;
	c->socket_id = id;
	int e = jcall(c, &r);
	if (e < 0)
		return -e;
	return r.errno_;
}

/* Socket `id`'s pending error, taken (SO_ERROR): 0 without a call when its slot shows none.
 * The server writes an error into the slot before the events that announce it, and clears the
 * slot when a call takes it, so a zero there is the answer a call would give (a connect's
 * success, a short connection's close: one round trip fewer each). */
int so_error(uint32_t id)
{
	if (!ld(slot32(id, SLOT_OFF_SO_ERROR)))
		return 0;
	jr_SocketCall c;
	memset(&c, 0, sizeof c);
	c.call.which = JR_SOCKET_CALL_CALL_GETSOCKOPT;
	c.call.getsockopt.level = SOL_SOCKET;
	c.call.getsockopt.name = SO_ERROR;
	c.call.getsockopt.max_len = 4;
	c.socket_id = id;
	jr_SocketReply r;
	int e = jcall(&c, &r);
	if (e < 0)
		return -e;
	if (r.errno_)
		return r.errno_;
	return r.result.which == JR_SOCKET_REPLY_RESULT_SOCKOPT ? r.result.sockopt.int_ : 0;
}
