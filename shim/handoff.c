/*
 * handoff.c — a Joyride socket passed to another process of the same app over a UNIX socket
 * (SCM_RIGHTS: vsftpd's privilege separation, Python's socket.send_fds). What crosses is the
 * placeholder eventfd; the sender writes the placeholder's kernel eventfd-id and the fd's state
 * into the socket's slot and counts a reference for the descriptor in flight; the receiver finds
 * the slot by the eventfd-id of what it got and takes that reference as its fd's. A receiver of
 * another app (another region) finds nothing and keeps a plain eventfd.
 */
#include "shim.h"

#define HO_NONBLOCK (1u << 8)
#define HO_LISTENING (1u << 9)
#define HO_CONNECTED (1u << 10)

/* Calls f(fd, arg) for each descriptor of the SCM_RIGHTS messages of `m`. */
static void each_right(const struct msghdr *m, void (*f)(int, void *), void *arg)
{
	if (!m || !m->msg_control || m->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)m); c;
	     c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			f(fd, arg);
		}
	}
}

struct sent {
	int d;   /* +1 before the send, -1 to undo after a failed one */
	int any; /* a Joyride socket was among the descriptors */
};

static void count_sent(int fd, void *arg)
{
	struct sent *x = arg;
	jfd *j = J(fd);
	if (!j)
		return;
	x->any = 1;
	if (x->d > 0) {
		uint32_t *w = slot32(j->id, SLOT_OFF_EFD_ID);
		unsigned long long eid = efd_id(fd);
		__atomic_store_n(&w[0], (uint32_t)eid, __ATOMIC_SEQ_CST);
		__atomic_store_n(&w[1], (uint32_t)(eid >> 32), __ATOMIC_SEQ_CST);
		uint32_t st = (uint32_t)j->domain | (j->nonblock ? HO_NONBLOCK : 0) |
			      (j->listening ? HO_LISTENING : 0) | (j->connected ? HO_CONNECTED : 0);
		__atomic_store_n(slot32(j->id, SLOT_OFF_HANDOFF), st, __ATOMIC_SEQ_CST);
	}
	__atomic_add_fetch(slot32(j->id, SLOT_OFF_REFS), (uint32_t)x->d, __ATOMIC_SEQ_CST);
}

/* Before a sendmsg (d = 1), and after one that failed (d = -1): a reference for each Joyride
 * socket in flight. Returns whether there was one. */
int handoff_send(const struct msghdr *m, int d)
{
	if (G.state != 1 || vfork_child())
		return 0;
	struct sent x = { d, 0 };
	each_right(m, count_sent, &x);
	return x.any;
}

static void adopt(int fd, void *arg)
{
	(void)arg;
	if (fd < 0 || fd >= MAX_FDS || fdt[fd].used)
		return;
	unsigned long long eid = efd_id(fd);
	if (eid <= 1)
		return; /* not an eventfd (or an older kernel's, which has no id) */
	for (uint32_t s = 0; s < G.max_sockets; s++) {
		uint8_t *p = G.reg.base + G.slots + (size_t)s * SLOT_SIZE;
		uint32_t *w = (uint32_t *)(p + SLOT_OFF_EFD_ID);
		if (ld((uint32_t *)(p + SLOT_OFF_STATE)) != 1 ||
		    (ld(&w[0]) | ((unsigned long long)ld(&w[1]) << 32)) != eid)
			continue;
		uint32_t id = ld((uint32_t *)(p + SLOT_OFF_SOCKET_ID));
		uint32_t st = ld((uint32_t *)(p + SLOT_OFF_HANDOFF));
		uint32_t type = ld((uint32_t *)(p + SLOT_OFF_TYPE));
		if ((id & ((1u << SLOT_BITS) - 1)) != s || (type != 1 && type != 2))
			return;
		bind_fd(fd, id, (st & HO_NONBLOCK) != 0, type == 2 ? SOCK_DGRAM : SOCK_STREAM,
			(int)(st & 0xff));
		fdt[fd].listening = (st & HO_LISTENING) != 0;
		fdt[fd].connected = (st & HO_CONNECTED) != 0;
		return;
	}
}

/* After a recvmsg on a kernel socket: placeholders of this app's sockets among the descriptors
 * received become Joyride fds (each takes the reference its sender counted). */
void handoff_recv(struct msghdr *m)
{
	if (G.state != 1 || vfork_child())
		return;
	each_right(m, adopt, NULL);
}
