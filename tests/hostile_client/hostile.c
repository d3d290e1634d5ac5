/*
 * hostile_client: an app that registers with Joyride exactly like the shim (apps.sock,
 * SO_PEERCRED, token, memfd region + service eventfd over SCM_RIGHTS) and then misbehaves on
 * command (issue 6). Commands come one per line on stdin; each prints one JSON line on stdout:
 * {"cmd":"…","errno":N,…} where errno is what the server answered (-1: no answer in time).
 *
 *   register                  registers (done first automatically unless --no-register);
 *                             once registered, a second RegisterApp on the same connection
 *   socket                    a TCP socket, placeholder eventfd as the shim passes it → id
 *   bind ID PORT | listen ID | connect ID A.B.C.D PORT | close ID | name ID
 *   reuseport ID              setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
 *   garbage SEED LEN          LEN random bytes as a SocketCall
 *   truncate SEED             a valid bind call cut short at a random length
 *   hugelen                   a segment table claiming a 2^31-word segment
 *   hugeptr                   a root pointer pointing 2^29 words away
 *   token forge|zero|app N|file PATH   a call with a forged/absent token, another app id, or
 *                             the id and token saved by an earlier client (replay)
 *   savetoken PATH            writes "appId hex-token" to PATH
 *   unregister forge|file PATH|own   naming's unregister with that header
 *   naming revoke|grant|announce     requests an app may not make
 *   naming garbage            bytes that do not decode, on apps.sock (naming drops the app)
 *   placeholder PID FD        socket with another process's (pid, fd) as its placeholder
 *   flood N [MS]              N calls pushed without waiting; then the replies are counted
 *                             (until none came for MS ms, default 1000)
 *   connflood N               N more connections to apps.sock; how many naming keeps open
 *   ringidx                   request ring tail moved far beyond the capacity
 *   recordlen                 a request record claiming 0xfffffff0 bytes
 *   bytering ID               socket ID's send ring tail moved 2^31 ahead
 *   midclose                  a call pushed, region unmapped and closed, exit at once
 *   shrink BYTES              ftruncate(2) of the region's memfd (what the server maps)
 *   sleep MS | exit
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "joyride_ipc.h"
#include "joyride_capnp.h"

/* The app region's control block (servers/naming/apps_region.ts CTL). */
#define CTL_MAGIC 0x5050414au
#define CTL_OFF_MAGIC 0
#define CTL_OFF_SRV_SLEEPING 24
#define CTL_OFF_ACTIVITY 28
#define CTL_OFF_REQ_RING 32
#define CTL_OFF_REP_RING 36
#define CTL_OFF_RINGS 44
#define CTL_OFF_RING_SIZE 48
#define CTL_OFF_SOCKET_BYTES 56
#define CTL_OFF_TOUCHED 1024
#define SLOT_BITS 12
#define KIND_REQUEST 1

static struct {
	int conn, svc_efd, registered;
	jr_region reg;
	jr_ring req, rep;
	uint32_t app_id;
	uint8_t token[16];
	uint64_t next;
} G = { .conn = -1, .svc_efd = -1 };

static uint32_t *ctl(uint32_t off)
{
	return (uint32_t *)(G.reg.base + off);
}

/* The header words of the send ring of socket `id` (a decimal string) and its slot, or NULL
 * when the region is too small for it. */
static uint32_t *send_ring_words(const char *id, uint32_t *slot)
{
	*slot = (uint32_t)strtoul(id, NULL, 10) & ((1u << SLOT_BITS) - 1);
	uint64_t off = *ctl(CTL_OFF_RINGS) + (uint64_t)*slot * *ctl(CTL_OFF_SOCKET_BYTES);
	if (off + JR_RING_HEADER_SIZE > G.reg.size)
		return NULL;
	return (uint32_t *)(G.reg.base + off);
}

static void kick(void)
{
	uint32_t *w = ctl(CTL_OFF_SRV_SLEEPING);
	if (__atomic_load_n(w, __ATOMIC_SEQ_CST) && __atomic_exchange_n(w, 0, __ATOMIC_SEQ_CST)) {
		uint64_t one = 1;
		if (write(G.svc_efd, &one, 8) < 0)
			perror("hostile: eventfd");
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rnd_state = 1;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* ------------------------------------------------ apps.sock */
static int naming_send(const jr_NamingRequest *q)
{
	uint8_t buf[1024];
	size_t len = 0;
	uint32_t kind = KIND_REQUEST;
	memcpy(buf, &kind, 4);
	if (jr_NamingRequest_encode(q, buf + 4, sizeof buf - 4, &len) != 0)
		return -EINVAL;
	return send(G.conn, buf, len + 4, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Receives a NamingReply (and fds); its errno, or -1 on no reply. */
static int naming_recv(jr_NamingReply *r, int *fds, int *nfds, uint8_t *rbuf, size_t cap)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov = { rbuf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof cm.b };
	struct timeval tv = { 3, 0 };
	setsockopt(G.conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ssize_t n = recvmsg(G.conn, &mh, MSG_CMSG_CLOEXEC);
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k && *nfds < 4; i++)
				memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	static uint8_t arena_buf[256];
	jr_capnp_arena arena = { arena_buf, sizeof arena_buf, 0 };
	if (n < 12 || jr_NamingReply_decode(rbuf + 4, (size_t)n - 4, r, &arena) != 0)
		return -1;
	return r->errno_;
}

/*
 * Sends `q` and waits for the reply, closing any descriptors it carries: what naming_recv
 * returns (0 or an errno), or -1 when the request could not be sent.
 */
static int naming_call(const jr_NamingRequest *q)
{
	if (naming_send(q) != 0)
		return -1;
	jr_NamingReply r;
	int fds[4], nfds = 0;
	uint8_t rbuf[2048];
	int e = naming_recv(&r, fds, &nfds, rbuf, sizeof rbuf);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return e;
}

static int connect_apps(const char *dir)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (s < 0 || strlen(dir) + sizeof "/apps.sock" > sizeof a.sun_path)
		return -1;
	memcpy(a.sun_path, dir, strlen(dir));
	memcpy(a.sun_path + strlen(dir), "/apps.sock", sizeof "/apps.sock");
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		close(s);
		return -1;
	}
	return s;
}

/* Opens n connections to apps.sock; after a while, how many naming kept open. */
static void conn_flood(const char *dir, int n)
{
	static int fds[4096];
	int opened = 0, alive = 0;
	if (n > 4096)
		n = 4096;
	for (int i = 0; i < n; i++) {
		int s = connect_apps(dir);
		if (s >= 0)
			fds[opened++] = s;
	}
	usleep(500 * 1000);
	for (int i = 0; i < opened; i++) {
		struct pollfd p = { fds[i], POLLIN, 0 };
		char b;
		int closed = poll(&p, 1, 0) > 0 && recv(fds[i], &b, 1, MSG_DONTWAIT) == 0;
		if (!closed)
			alive++;
		close(fds[i]);
	}
	printf("{\"cmd\":\"connflood\",\"errno\":0,\"opened\":%d,\"alive\":%d}\n", opened, alive);
}

static int do_register(const char *dir)
{
	G.conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(dir) + sizeof "/apps.sock" > sizeof a.sun_path)
		return ENAMETOOLONG;
	memcpy(a.sun_path, dir, strlen(dir));
	memcpy(a.sun_path + strlen(dir), "/apps.sock", sizeof "/apps.sock");
	if (connect(G.conn, (struct sockaddr *)&a, sizeof a) != 0)
		return errno;
	jr_NamingRequest q;
	memset(&q, 0, sizeof q);
	q.which = JR_NAMING_REQUEST_REGISTER_APP;
	q.has_header = 1;
	q.header.request_id = 1;
	q.has_register_app = 1;
	q.register_app.pid = (uint32_t)getpid();
	q.register_app.uid = (uint32_t)getuid();
	q.register_app.gid = (uint32_t)getgid();
	q.register_app.name.ptr = "hostile";
	q.register_app.name.len = 7;
	int e = naming_send(&q);
	if (e < 0)
		return -e;
	jr_NamingReply r;
	int fds[4], nfds = 0;
	uint8_t rbuf[2048];
	e = naming_recv(&r, fds, &nfds, rbuf, sizeof rbuf);
	if (e != 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return e < 0 ? EIO : e;
	}
	if (r.which != JR_NAMING_REPLY_REGISTERED || nfds < 2 || r.registered.token.len != 16)
		return EPROTO;
	if (jr_region_adopt(&G.reg, fds[0]) != 0 || *ctl(CTL_OFF_MAGIC) != CTL_MAGIC)
		return EPROTO;
	G.svc_efd = fds[1];
	G.app_id = r.registered.app_id;
	memcpy(G.token, r.registered.token.ptr, 16);
	if (jr_ring_attach(&G.req, &G.reg, *ctl(CTL_OFF_REQ_RING), JR_KIND_MESSAGE) != 0 ||
	    jr_ring_attach(&G.rep, &G.reg, *ctl(CTL_OFF_REP_RING), JR_KIND_MESSAGE) != 0)
		return EPROTO;
	G.registered = 1;
	return 0;
}

/* ------------------------------------------------ calls */
static void fill_header(jr_SocketCall *c)
{
	c->has_header = 1;
	c->header.request_id = ++G.next;
	c->header.app_id = G.app_id;
	c->header.token.ptr = G.token;
	c->header.token.len = 16;
	c->pid = (uint32_t)getpid();
	c->placeholder_fd = -1;
}

static int push_raw(const void *buf, uint32_t len)
{
	int64_t end = now_ms() + 3000;
	while (!jr_msg_push(&G.req, buf, len)) {
		if (G.req.error || now_ms() > end)
			return -1;
		kick();
		usleep(200);
	}
	kick();
	return 0;
}

/* Waits for the next reply; its errno (and *r), or -1 when none comes in time. */
static int next_reply(jr_SocketReply *r, int timeout_ms)
{
	static uint8_t copy[4096];
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		uint32_t n = 0;
		const void *m = jr_msg_peek(&G.rep, &n);
		if (m) {
			if (n > sizeof copy)
				n = sizeof copy;
			memcpy(copy, m, n);
			jr_msg_release(&G.rep);
			static uint8_t arena_buf[256];
			jr_capnp_arena arena = { arena_buf, sizeof arena_buf, 0 };
			if (jr_SocketReply_decode(copy, n, r, &arena) != 0)
				return -2;
			return r->errno_;
		}
		if (now_ms() > end || G.rep.error)
			return -1;
		kick();
		usleep(200);
	}
}

static int call(jr_SocketCall *c, jr_SocketReply *r)
{
	uint8_t buf[2048];
	size_t len = 0;
	if (jr_SocketCall_encode(c, buf, sizeof buf, &len) != 0)
		return -3;
	if (push_raw(buf, (uint32_t)len) != 0)
		return -1;
	return next_reply(r, 3000);
}

static int raw_call(const void *buf, uint32_t len)
{
	jr_SocketReply r;
	if (push_raw(buf, len) != 0)
		return -1;
	return next_reply(&r, 3000);
}

static void addr_of(jr_SockAddr *a, const char *ip, int port, uint8_t *bytes)
{
	memset(a, 0, sizeof *a);
	a->family = JR_ADDRESS_FAMILY_INET;
	a->port = (uint16_t)port;
	inet_pton(AF_INET, ip, bytes);
	a->addr.ptr = bytes;
	a->addr.len = 4;
}

static int new_socket_of(uint32_t pid, int32_t fd, uint32_t *id, int type)
{
	jr_SocketCall c;
	jr_SocketReply r;
	memset(&c, 0, sizeof c);
	fill_header(&c);
	c.call.which = JR_SOCKET_CALL_CALL_SOCKET;
	c.call.socket.family = JR_ADDRESS_FAMILY_INET;
	c.call.socket.type = type;
	c.pid = pid;
	c.placeholder_fd = fd;
	int e = call(&c, &r);
	*id = e == 0 ? r.result.socket.socket_id : 0;
	return e;
}

static int new_socket(uint32_t pid, int32_t fd, uint32_t *id)
{
	return new_socket_of(pid, fd, id, JR_SOCKET_TYPE_STREAM);
}

static int simple(uint32_t which, uint32_t id)
{
	jr_SocketCall c;
	jr_SocketReply r;
	memset(&c, 0, sizeof c);
	fill_header(&c);
	c.socket_id = id;
	c.call.which = (uint16_t)which;
	if (which == JR_SOCKET_CALL_CALL_LISTEN)
		c.call.listen = 16;
	return call(&c, &r);
}

static int bind_or_connect(uint32_t which, uint32_t id, const char *ip, int port)
{
	jr_SocketCall c;
	jr_SocketReply r;
	uint8_t b[4];
	memset(&c, 0, sizeof c);
	fill_header(&c);
	c.socket_id = id;
	c.call.which = (uint16_t)which;
	if (which == JR_SOCKET_CALL_CALL_BIND) {
		c.call.has_bind = 1;
		addr_of(&c.call.bind, ip, port, b);
	} else {
		c.call.has_connect = 1;
		addr_of(&c.call.connect, ip, port, b);
	}
	return call(&c, &r);
}

static int hex_in(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int load_token(const char *path, uint32_t *app, uint8_t tok[16])
{
	FILE *f = fopen(path, "r");
	char hex[64];
	if (!f)
		return -1;
	int ok = fscanf(f, "%u %40s", app, hex) == 2 && strlen(hex) == 32 && hex_in(hex, tok, 16) == 0;
	fclose(f);
	return ok ? 0 : -1;
}

/* A getsockname call with the given header identity. */
static int token_call(uint32_t app, const uint8_t *tok, uint32_t toklen)
{
	jr_SocketCall c;
	jr_SocketReply r;
	memset(&c, 0, sizeof c);
	fill_header(&c);
	c.header.app_id = app;
	c.header.token.ptr = tok;
	c.header.token.len = toklen;
	c.call.which = JR_SOCKET_CALL_CALL_GETSOCKNAME;
	return call(&c, &r);
}

static int unregister_with(uint32_t app, const uint8_t *tok)
{
	jr_NamingRequest q;
	memset(&q, 0, sizeof q);
	q.which = JR_NAMING_REQUEST_UNREGISTER;
	q.has_header = 1;
	q.header.request_id = 9;
	q.header.app_id = app;
	q.header.token.ptr = tok;
	q.header.token.len = 16;
	return naming_call(&q);
}

static int naming_other(const char *what)
{
	jr_NamingRequest q;
	memset(&q, 0, sizeof q);
	q.has_header = 1;
	q.header.request_id = 10;
	if (strcmp(what, "revoke") == 0) {
		q.which = JR_NAMING_REQUEST_REVOKE;
		q.has_revoke = 1;
		q.revoke.app_id = 1;
	} else if (strcmp(what, "grant") == 0) {
		q.which = JR_NAMING_REQUEST_GRANT_REGION;
		q.has_grant_region = 1;
		q.grant_region.app_id = 1;
	} else if (strcmp(what, "announce") == 0) {
		q.which = JR_NAMING_REQUEST_ANNOUNCE;
		q.has_announce = 1;
		q.announce.label.ptr = "tcp";
		q.announce.label.len = 3;
	} else if (strcmp(what, "garbage") == 0) {
		uint8_t junk[64];
		uint32_t kind = KIND_REQUEST;
		memcpy(junk, &kind, 4);
		for (size_t i = 4; i < sizeof junk; i++)
			junk[i] = (uint8_t)rnd();
		if (send(G.conn, junk, sizeof junk, MSG_NOSIGNAL) < 0)
			return -errno;
		/* naming drops a connection whose packet does not decode: wait for the hangup */
		char b[16];
		struct timeval tv = { 3, 0 };
		setsockopt(G.conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		ssize_t n = recv(G.conn, b, sizeof b, 0);
		return n == 0 ? ECONNRESET : -1;
	} else
		return -4;
	return naming_call(&q);
}

static uint32_t *ring_word(jr_ring *r, uint32_t off)
{
	return (uint32_t *)(r->hdr + off);
}

int main(int argc, char **argv)
{
	const char *dir = getenv("JOYRIDE_RUNTIME_DIR");
	if (!dir)
		dir = "/run/joyride/default";
	int auto_register = !(argc > 1 && strcmp(argv[1], "--no-register") == 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (auto_register) {
		int e = do_register(dir);
		printf("{\"cmd\":\"register\",\"errno\":%d,\"appId\":%u,\"pid\":%d}\n", e, G.app_id,
		       (int)getpid());
		if (e != 0)
			return 2;
	}
	char line[512];
	while (fgets(line, sizeof line, stdin)) {
		char cmd[32] = "", a1[256] = "", a2[64] = "", a3[64] = "";
		int n = sscanf(line, "%31s %255s %63s %63s", cmd, a1, a2, a3);
		if (n < 1)
			continue;
		int e = -4;
		if (strcmp(cmd, "exit") == 0)
			return 0;
		if (strcmp(cmd, "register") == 0 && G.registered) {
			/* a second registration on the same connection */
			jr_NamingRequest q;
			memset(&q, 0, sizeof q);
			q.which = JR_NAMING_REQUEST_REGISTER_APP;
			q.has_header = 1;
			q.has_register_app = 1;
			q.register_app.pid = (uint32_t)getpid();
			q.register_app.uid = (uint32_t)getuid();
			q.register_app.gid = (uint32_t)getgid();
			e = naming_call(&q);
			printf("{\"cmd\":\"register\",\"errno\":%d,\"again\":1}\n", e);
			continue;
		}
		if (strcmp(cmd, "register") == 0) {
			e = do_register(dir);
			printf("{\"cmd\":\"register\",\"errno\":%d,\"appId\":%u}\n", e, G.app_id);
			continue;
		}
		if (strcmp(cmd, "connflood") == 0) {
			conn_flood(dir, atoi(a1));
			continue;
		}
		if (strcmp(cmd, "sleep") == 0) {
			usleep((useconds_t)atoi(a1) * 1000);
			printf("{\"cmd\":\"sleep\",\"errno\":0}\n");
			continue;
		}
		if (!G.registered) {
			printf("{\"cmd\":\"%s\",\"errno\":-5}\n", cmd);
			continue;
		}
		if (strcmp(cmd, "socket") == 0) {
			int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			uint32_t id = 0;
			e = new_socket((uint32_t)getpid(), efd, &id);
			printf("{\"cmd\":\"socket\",\"errno\":%d,\"id\":%u}\n", e, id);
			continue;
		} else if (strcmp(cmd, "dgram") == 0) {
			int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			uint32_t id = 0;
			e = new_socket_of((uint32_t)getpid(), efd, &id, JR_SOCKET_TYPE_DGRAM);
			printf("{\"cmd\":\"dgram\",\"errno\":%d,\"id\":%u}\n", e, id);
			continue;
		} else if (strcmp(cmd, "placeholder") == 0) {
			uint32_t id = 0;
			e = new_socket((uint32_t)strtoul(a1, NULL, 10), (int32_t)atoi(a2), &id);
		} else if (strcmp(cmd, "bind") == 0) {
			e = bind_or_connect(JR_SOCKET_CALL_CALL_BIND, (uint32_t)strtoul(a1, NULL, 10),
					    "0.0.0.0", atoi(a2));
		} else if (strcmp(cmd, "connect") == 0) {
			e = bind_or_connect(JR_SOCKET_CALL_CALL_CONNECT, (uint32_t)strtoul(a1, NULL, 10),
					    a2, atoi(a3));
		} else if (strcmp(cmd, "reuseport") == 0) {
			jr_SocketCall c;
			jr_SocketReply r;
			memset(&c, 0, sizeof c);
			fill_header(&c);
			c.socket_id = (uint32_t)strtoul(a1, NULL, 10);
			c.call.which = JR_SOCKET_CALL_CALL_SETSOCKOPT;
			c.call.setsockopt.level = SOL_SOCKET;
			c.call.setsockopt.name = SO_REUSEPORT;
			c.call.setsockopt.value.which = JR_SOCKET_CALL_CALL_SETSOCKOPT_VALUE_INT;
			c.call.setsockopt.value.int_ = 1;
			e = call(&c, &r);
		} else if (strcmp(cmd, "listen") == 0) {
			e = simple(JR_SOCKET_CALL_CALL_LISTEN, (uint32_t)strtoul(a1, NULL, 10));
		} else if (strcmp(cmd, "close") == 0) {
			e = simple(JR_SOCKET_CALL_CALL_CLOSE, (uint32_t)strtoul(a1, NULL, 10));
		} else if (strcmp(cmd, "name") == 0) {
			e = simple(JR_SOCKET_CALL_CALL_GETSOCKNAME, (uint32_t)strtoul(a1, NULL, 10));
		} else if (strcmp(cmd, "garbage") == 0) {
			rnd_state = (uint32_t)strtoul(a1, NULL, 10) | 1;
			uint32_t len = (uint32_t)atoi(a2);
			static uint8_t junk[8192];
			if (len > sizeof junk)
				len = sizeof junk;
			for (uint32_t i = 0; i < len; i++)
				junk[i] = (uint8_t)rnd();
			e = raw_call(junk, len ? len : 1);
		} else if (strcmp(cmd, "truncate") == 0) {
			rnd_state = (uint32_t)strtoul(a1, NULL, 10) | 1;
			jr_SocketCall c;
			uint8_t b[4], buf[512];
			size_t len = 0;
			memset(&c, 0, sizeof c);
			fill_header(&c);
			c.call.which = JR_SOCKET_CALL_CALL_BIND;
			c.call.has_bind = 1;
			addr_of(&c.call.bind, "198.18.0.2", 4000, b);
			jr_SocketCall_encode(&c, buf, sizeof buf, &len);
			uint32_t cut = 1 + rnd() % (uint32_t)(len - 1);
			e = raw_call(buf, cut);
		} else if (strcmp(cmd, "hugelen") == 0) {
			uint32_t m[4] = { 0, 0x7fffffffu, 0, 0 };
			e = raw_call(m, sizeof m);
		} else if (strcmp(cmd, "hugeptr") == 0) {
			/* one segment of 2 words; root struct pointer with offset 2^29 */
			uint32_t m[6] = { 0, 2, (1u << 29) << 2, 0x00010004u, 0, 0 };
			e = raw_call(m, sizeof m);
		} else if (strcmp(cmd, "token") == 0) {
			uint8_t tok[16];
			uint32_t app = G.app_id;
			uint32_t toklen = 16;
			memcpy(tok, G.token, 16);
			if (strcmp(a1, "forge") == 0) {
				rnd_state = (uint32_t)now_ms() | 1;
				for (int i = 0; i < 16; i++)
					tok[i] = (uint8_t)rnd();
			} else if (strcmp(a1, "zero") == 0) {
				toklen = 0;
			} else if (strcmp(a1, "app") == 0) {
				app = (uint32_t)strtoul(a2, NULL, 10);
			} else if (strcmp(a1, "file") == 0) {
				if (load_token(a2, &app, tok) != 0) {
					printf("{\"cmd\":\"token\",\"errno\":-6}\n");
					continue;
				}
			}
			e = token_call(app, tok, toklen);
		} else if (strcmp(cmd, "savetoken") == 0) {
			FILE *f = fopen(a1, "w");
			if (f) {
				fprintf(f, "%u ", G.app_id);
				for (int i = 0; i < 16; i++)
					fprintf(f, "%02x", G.token[i]);
				fprintf(f, "\n");
				fclose(f);
				e = 0;
			} else
				e = errno;
		} else if (strcmp(cmd, "unregister") == 0) {
			uint8_t tok[16];
			uint32_t app = G.app_id;
			memcpy(tok, G.token, 16);
			if (strcmp(a1, "forge") == 0) {
				for (int i = 0; i < 16; i++)
					tok[i] = (uint8_t)(tok[i] ^ 0x5a);
			} else if (strcmp(a1, "file") == 0 && load_token(a2, &app, tok) != 0) {
				printf("{\"cmd\":\"unregister\",\"errno\":-6}\n");
				continue;
			}
			e = unregister_with(app, tok);
		} else if (strcmp(cmd, "naming") == 0) {
			e = naming_other(a1);
		} else if (strcmp(cmd, "flood") == 0) {
			int count = atoi(a1);
			int wait_ms = a2[0] ? atoi(a2) : 1000;
			uint8_t buf[512];
			size_t len = 0;
			int pushed = 0, replies = 0, enobufs = 0, ok = 0;
			for (int i = 0; i < count; i++) {
				jr_SocketCall c;
				memset(&c, 0, sizeof c);
				fill_header(&c);
				c.call.which = JR_SOCKET_CALL_CALL_GETSOCKNAME;
				jr_SocketCall_encode(&c, buf, sizeof buf, &len);
				if (!jr_msg_push(&G.req, buf, (uint32_t)len))
					break;
				pushed++;
			}
			kick();
			for (;;) {
				jr_SocketReply r;
				int x = next_reply(&r, wait_ms);
				if (x == -1)
					break;
				replies++;
				if (x == ENOBUFS)
					enobufs++;
				else if (x == EBADF)
					ok++;
			}
			printf("{\"cmd\":\"flood\",\"errno\":0,\"pushed\":%d,\"replies\":%d,\"enobufs\":%d,"
			       "\"served\":%d}\n",
			       pushed, replies, enobufs, ok);
			continue;
		} else if (strcmp(cmd, "ringidx") == 0) {
			uint32_t head = __atomic_load_n(ring_word(&G.req, JR_RING_OFF_HEAD), __ATOMIC_SEQ_CST);
			__atomic_store_n(ring_word(&G.req, JR_RING_OFF_TAIL), head + G.req.capacity * 3 + 8,
					 __ATOMIC_SEQ_CST);
			kick();
			e = 0;
		} else if (strcmp(cmd, "recordlen") == 0) {
			uint32_t tail = __atomic_load_n(ring_word(&G.req, JR_RING_OFF_TAIL), __ATOMIC_SEQ_CST);
			uint32_t *rec = (uint32_t *)(G.req.data + (tail & G.req.mask));
			rec[0] = 0xfffffff0u;
			rec[1] = 0;
			__atomic_store_n(ring_word(&G.req, JR_RING_OFF_TAIL), tail + 64, __ATOMIC_SEQ_CST);
			kick();
			e = 0;
		} else if (strcmp(cmd, "bytering") == 0) {
			uint32_t slot, *w = send_ring_words(a1, &slot);
			if (!w) {
				e = -7;
			} else {
				uint32_t head = __atomic_load_n(w + JR_RING_OFF_HEAD / 4, __ATOMIC_SEQ_CST);
				__atomic_store_n(w + JR_RING_OFF_TAIL / 4, head + 0x80000000u, __ATOMIC_SEQ_CST);
				kick();
				e = 0;
			}
		} else if (strcmp(cmd, "partialrec") == 0) {
			/* 8 bytes in a datagram socket's send ring: part of a record's header, which
			 * the shim never publishes (it writes whole records with one tail update). */
			uint32_t slot, *w = send_ring_words(a1, &slot);
			if (!w) {
				e = -7;
			} else {
				uint32_t tail = __atomic_load_n(w + JR_RING_OFF_TAIL / 4, __ATOMIC_SEQ_CST);
				__atomic_store_n(w + JR_RING_OFF_TAIL / 4, tail + 8, __ATOMIC_SEQ_CST);
				/* as the shim announces a ring it moved: the slot's touched bit, then the
				 * activity word */
				__atomic_fetch_or(ctl(CTL_OFF_TOUCHED + 4 * (slot >> 5)), 1u << (slot & 31),
						  __ATOMIC_SEQ_CST);
				__atomic_add_fetch(ctl(CTL_OFF_ACTIVITY), 1, __ATOMIC_SEQ_CST);
				kick();
				e = 0;
			}
		} else if (strcmp(cmd, "shrink") == 0) {
			e = ftruncate(G.reg.fd, (off_t)strtoull(a1, NULL, 10)) == 0 ? 0 : errno;
		} else if (strcmp(cmd, "midclose") == 0) {
			jr_SocketCall c;
			uint8_t buf[512];
			size_t len = 0;
			memset(&c, 0, sizeof c);
			fill_header(&c);
			c.call.which = JR_SOCKET_CALL_CALL_SOCKET;
			c.call.socket.family = JR_ADDRESS_FAMILY_INET;
			jr_SocketCall_encode(&c, buf, sizeof buf, &len);
			jr_msg_push(&G.req, buf, (uint32_t)len);
			kick();
			jr_region_close(&G.reg);
			printf("{\"cmd\":\"midclose\",\"errno\":0}\n");
			fflush(stdout);
			_exit(0);
		}
		printf("{\"cmd\":\"%s\",\"errno\":%d}\n", cmd, e);
	}
	return 0;
}
