/*
 * handoff.c — a Joyride socket passed to another process of the same app over a UNIX socket
 * (SCM_RIGHTS: vsftpd's privilege separation, Python's socket.send_fds). What crosses is the
 * placeholder eventfd; the sender writes the placeholder's kernel eventfd-id and the fd's state
 * into the socket's slot and counts a reference for the descriptor in flight; the receiver finds
 * the slot by the eventfd-id of what it got and takes that reference as its fd's. A receiver of
 * another app (another region) finds nothing and keeps a plain eventfd.
 *
 * A receiver without /proc (chrooted: vsftpd's and pure-ftpd's unprivileged process, given the
 * active-mode data socket by their privileged helper) cannot read an eventfd-id, so the sender
 * also leaves a tag in the placeholder's counter: HO_TAG_MAGIC and the socket id, above what
 * the server's readiness writes count. The receiver takes the counter, the tag off it, and
 * writes the rest back. A counter the sender drained meanwhile (it polled the socket it was
 * handing over) leaves the eventfd-id to name the socket, as before.
 */
#include "shim.h"

#define HO_NONBLOCK (1u << 8)
#define HO_LISTENING (1u << 9)
#define HO_CONNECTED (1u << 10)

#define HO_TAG_MAGIC 0x4a5ull /* bits 52-63 of a tagged counter, the socket id in bits 20-51 */
#define HO_TAG_SHIFT 20
#define HO_TAG_COUNT ((1ull << HO_TAG_SHIFT) - 1)

static int tagged(uint64_t v)
{
	return (v >> 52) == HO_TAG_MAGIC;
}

/* Takes a placeholder's counter (0 when empty: placeholders are non-blocking). */
static uint64_t take_count(int fd)
{
	uint64_t v = 0;
	return REAL(read)(fd, &v, 8) == 8 ? v : 0;
}

static void put_count(int fd, uint64_t v)
{
	if (v && REAL(write)(fd, &v, 8) != 8)
		return; /* cannot overflow: a tag and the server's few counts */
}

/* The sender tags placeholder `fd` of socket `id` (once, however often it is sent), or takes
 * the tag off after a send that failed. Counts the server adds meanwhile add up. */
static void tag(int fd, uint32_t id, int on)
{
	uint64_t v = take_count(fd);
	if (on && !tagged(v))
		v += (HO_TAG_MAGIC << 52) | ((uint64_t)id << HO_TAG_SHIFT);
	else if (!on && tagged(v))
		v &= HO_TAG_COUNT;
	put_count(fd, v);
}

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
		uint32_t st = (uint32_t)j->domain | (is_nonblock(j) ? HO_NONBLOCK : 0) |
			      (j->listening ? HO_LISTENING : 0) | (j->connected ? HO_CONNECTED : 0);
		__atomic_store_n(slot32(j->id, SLOT_OFF_HANDOFF), st, __ATOMIC_SEQ_CST);
	}
	tag(fd, j->id, x->d > 0);
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

/* Without /proc: whether `fd` could be a placeholder (a non-blocking anonymous inode). */
static int maybe_placeholder(int fd)
{
	struct stat st;
	int fl = REAL(fcntl)(fd, F_GETFL);
	return access("/proc/self/fdinfo", F_OK) != 0 && fl >= 0 && (fl & O_NONBLOCK) &&
	       REAL(fstat)(fd, &st) == 0 && (st.st_mode & S_IFMT) == 0;
}

/* Slot `s`'s socket becomes fd `fd` here, if the slot holds a socket. */
static void adopt_slot(int fd, uint32_t s)
{
	uint8_t *p = G.reg.base + G.slots + (size_t)s * SLOT_SIZE;
	uint32_t id = ld((uint32_t *)(p + SLOT_OFF_SOCKET_ID));
	uint32_t st = ld((uint32_t *)(p + SLOT_OFF_HANDOFF));
	uint32_t type = ld((uint32_t *)(p + SLOT_OFF_TYPE));
	if (ld((uint32_t *)(p + SLOT_OFF_STATE)) != 1 || (id & ((1u << SLOT_BITS) - 1)) != s ||
	    (type != 1 && type != 2))
		return;
	bind_fd(fd, id, (st & HO_NONBLOCK) != 0, type == 2 ? SOCK_DGRAM : SOCK_STREAM,
		(int)(st & 0xff));
	fdt[fd].listening = (st & HO_LISTENING) != 0;
	fdt[fd].connected = (st & HO_CONNECTED) != 0;
}

static void adopt(int fd, void *arg)
{
	(void)arg;
	if (fd < 0 || fd >= MAX_FDS || fdt[fd].used)
		return;
	unsigned long long eid = efd_id(fd);
	if (eid == 1)
		return; /* an older kernel's eventfd: no id, and no tag was written to it */
	/* The tag first: it is taken off the counter either way. Read only from what /proc says
	 * is an eventfd, or, without /proc, from a non-blocking anonymous inode (what a
	 * placeholder is; of the others only a timerfd reads 8 bytes, and none is tagged). */
	if (eid > 1 || (eid == 0 && maybe_placeholder(fd))) {
		uint64_t v = take_count(fd);
		if (tagged(v)) {
			put_count(fd, v & HO_TAG_COUNT);
			uint32_t id = (uint32_t)(v >> HO_TAG_SHIFT);
			uint32_t s = id & ((1u << SLOT_BITS) - 1);
			if (s < G.max_sockets &&
			    ld((uint32_t *)(G.reg.base + G.slots + (size_t)s * SLOT_SIZE +
					    SLOT_OFF_SOCKET_ID)) == id)
				adopt_slot(fd, s);
			return;
		}
		put_count(fd, v);
	}
	if (eid <= 1)
		return;
	for (uint32_t s = 0; s < G.max_sockets; s++) {
		uint32_t *w = (uint32_t *)(G.reg.base + G.slots + (size_t)s * SLOT_SIZE +
					   SLOT_OFF_EFD_ID);
		if ((ld(&w[0]) | ((unsigned long long)ld(&w[1]) << 32)) == eid) {
			adopt_slot(fd, s);
			return;
		}
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
