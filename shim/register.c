/*
 * register.c — registration with the naming server: on the first Joyride socket, RegisterApp
 * over $JOYRIDE_RUNTIME_DIR/apps.sock, the region and service eventfd received (SCM_RIGHTS)
 * and attached; the service's absence or policy told once on stderr (JOYRIDE_POLICY); the
 * shim's own fds kept out of the program's way.
 */
#include "shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/un.h>

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* The variables that say where and how, as the program started with them: a program that
 * clears its environment before its first socket (exim's keep_environment) lost its instance
 * (its sockets refused) or could have found another. Read at load (joyride_env_init). */
static char env_dir[256], env_policy[32];
static int env_read;

void joyride_env_init(void)
{
	const char *d = getenv("JOYRIDE_RUNTIME_DIR");
	const char *p = getenv("JOYRIDE_POLICY");
	if (d && strlen(d) < sizeof env_dir)
		strcpy(env_dir, d);
	if (p && strlen(p) < sizeof env_policy)
		strcpy(env_policy, p);
	env_read = 1;
}

/* JOYRIDE_POLICY as the program started with it, NULL when unset. */
static const char *policy_env(void)
{
	if (!env_read)
		return getenv("JOYRIDE_POLICY");
	return env_policy[0] ? env_policy : NULL;
}

const char *runtime_dir(void)
{
	const char *d = env_read ? env_dir : getenv("JOYRIDE_RUNTIME_DIR");
	return d && *d ? d : "/run/joyride/default";
}

static void say_down(const char *why)
{
	/* Refuse unless told otherwise: a program that silently used the kernel would send what
	 * it meant for Joyride out of the host's own namespace, past naming's policy. */
	const char *p = policy_env();
	G.policy_refuse = !(p && strcmp(p, "fallback") == 0);
	char msg[512];
	int n = snprintf(msg, sizeof msg,
			 "joyride: the Joyride service is not running (%s, %s/apps.sock); %s\n", why,
			 runtime_dir(),
			 G.policy_refuse ? "refusing network sockets (JOYRIDE_POLICY=fallback would use the kernel's)"
					 : "using the kernel's network stack (JOYRIDE_POLICY=fallback)");
	if (n > 0) {
		ssize_t r = REAL(write)(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
		(void)r;
	}
}

/* `fd` moved to a number from 960 up (close-on-exec), as programs name low numbers outright;
 * `fd` itself when there is no room (a low RLIMIT_NOFILE). */
static int high_fd(int fd)
{
	if (fd < 0 || fd >= 960)
		return fd;
	int k = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 960);
	if (k < 0)
		return fd;
	REAL(close)(fd);
	return k;
}

/* The shim's own descriptors (naming connection, region, service eventfd) into out[0..3),
 * -1 where there is none (not registered). */
void private_fds(int out[3])
{
	out[0] = G.state == 1 ? G.conn : -1;
	out[1] = G.state == 1 ? G.reg.fd : -1;
	out[2] = G.state == 1 ? G.svc_efd : -1;
}

/* A program's dup2/dup3 onto one of the shim's own fds (it cannot know them): that fd moves
 * first, so the registration survives. */
void private_fd_away(int nfd)
{
	if (G.state != 1 || nfd < 0)
		return;
	int *mine[3] = { &G.conn, &G.reg.fd, &G.svc_efd };
	for (int i = 0; i < 3; i++) {
		if (*mine[i] != nfd)
			continue;
		int k = REAL(fcntl)(nfd, F_DUPFD_CLOEXEC, nfd < 960 ? 960 : nfd + 1);
		if (k < 0)
			k = REAL(fcntl)(nfd, F_DUPFD_CLOEXEC, 3);
		if (k >= 0)
			*mine[i] = k;
	}
}

static int do_register(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/apps.sock", runtime_dir());
	int s = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0) {
		say_down("no Unix socket");
		return -1;
	}
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t pl = strlen(path);
	if (pl >= sizeof a.sun_path) {
		REAL(close)(s);
		say_down("runtime directory path too long");
		return -1;
	}
	memcpy(a.sun_path, path, pl + 1);
	if (REAL(connect)(s, (struct sockaddr *)&a, sizeof a) != 0) {
		REAL(close)(s);
		say_down(strerror(errno));
		return -1;
	}
	/* RegisterApp */
	jr_NamingRequest q;
	memset(&q, 0, sizeof q);
	q.which = JR_NAMING_REQUEST_REGISTER_APP;
	q.has_header = 1;
	q.header.request_id = 1;
	q.has_register_app = 1;
	q.register_app.pid = (uint32_t)getpid();
	/* The effective ids, which naming compares with SO_PEERCRED's: danted makes its first
	 * socket after seteuid(nobody) and was refused for good. */
	q.register_app.uid = (uint32_t)geteuid();
	q.register_app.gid = (uint32_t)getegid();
	static char name[64];
	FILE *f = fopen("/proc/self/comm", "r");
	if (f) {
		if (!fgets(name, sizeof name, f))
			name[0] = 0;
		fclose(f);
		name[strcspn(name, "\n")] = 0;
	}
	q.register_app.name.ptr = name;
	q.register_app.name.len = (uint32_t)strlen(name);
	uint8_t buf[1024];
	size_t len = 0;
	uint32_t kind = APPS_KIND_REQUEST;
	memcpy(buf, &kind, 4);
	if (jr_NamingRequest_encode(&q, buf + 4, sizeof buf - 4, &len) != 0) {
		REAL(close)(s);
		say_down("cannot encode RegisterApp");
		return -1;
	}
	if (REAL(send)(s, buf, len + 4, MSG_NOSIGNAL) < 0) {
		REAL(close)(s);
		say_down(strerror(errno));
		return -1;
	}
	/* Reply + fds */
	uint8_t rbuf[2048];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov = { rbuf, sizeof rbuf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof cm.b };
	ssize_t n = REAL(recvmsg)(s, &mh, MSG_CMSG_CLOEXEC);
	int fds[4] = { -1, -1, -1, -1 };
	int nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k && nfds < 4; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	jr_NamingReply r;
	uint8_t arena_buf[256];
	jr_capnp_arena arena = { arena_buf, sizeof arena_buf, 0 };
	const char *why = NULL;
	if (n < 8)
		why = "no reply from naming";
	else if (jr_NamingReply_decode(rbuf + 4, (size_t)n - 4, &r, &arena) != 0)
		why = "malformed reply";
	else if (r.errno_ == ECONNREFUSED)
		why = "";
	else if (r.errno_ == EOPNOTSUPP)
		why = "policy";
	else if (r.errno_ != 0)
		why = strerror(r.errno_);
	else if (r.which != JR_NAMING_REPLY_REGISTERED || nfds < 2 || r.registered.token.len != 16)
		why = "unexpected reply";
	if (why) {
		for (int i = 0; i < nfds; i++)
			REAL(close)(fds[i]);
		REAL(close)(s);
		if (!*why)
			return -2; /* naming is up, the TCP/IP server not attached (yet) */
		if (strcmp(why, "policy") == 0) {
			/* Naming's policy sends this program to the kernel: not an outage. */
			G.policy_refuse = 0;
			static const char m[] = "joyride: the policy sends this program to the kernel's "
						"network stack (stack: \"kernel\")\n";
			ssize_t w = REAL(write)(2, m, sizeof m - 1);
			(void)w;
			return -1;
		}
		say_down(why);
		return -1;
	}
	/* The shim's own fds out of the program's way: bash's `exec 3<>/dev/tcp/…` dup2'd its
	 * socket over fd 3, the naming connection then, and the app was revoked. */
	fds[0] = high_fd(fds[0]);
	fds[1] = high_fd(fds[1]);
	s = high_fd(s);
	if (jr_region_adopt(&G.reg, fds[0]) != 0 || G.reg.size < 4096 ||
	    ld(ctl32(CTL_OFF_MAGIC)) != CTL_MAGIC) {
		REAL(close)(fds[1]);
		REAL(close)(s);
		say_down("bad region");
		return -1;
	}
	G.svc_efd = fds[1];
	for (int i = 2; i < nfds; i++)
		REAL(close)(fds[i]);
	G.conn = s;
	G.app_id = r.registered.app_id;
	memcpy(G.token, r.registered.token.ptr, 16);
	G.slots = *ctl32(CTL_OFF_SLOTS);
	G.max_sockets = *ctl32(CTL_OFF_MAX_SOCKETS);
	G.ring_size = *ctl32(CTL_OFF_RING_SIZE);
	if (jr_ring_attach(&G.req, &G.reg, *ctl32(CTL_OFF_REQ_RING), JR_KIND_MESSAGE) != 0 ||
	    jr_ring_attach(&G.rep, &G.reg, *ctl32(CTL_OFF_REP_RING), JR_KIND_MESSAGE) != 0 ||
	    G.slots + (uint64_t)G.max_sockets * SLOT_SIZE > G.reg.size) {
		say_down("bad region layout");
		return -1;
	}
	return 0;
}

/* 1 when Joyride serves this process's sockets, 0 fallback to the kernel, -1 refused. */
int joyride_on(void)
{
	if (G.state == 1)
		return 1;
	if (G.state == -1)
		return G.policy_refuse ? -1 : 0;
	pthread_mutex_lock(&init_lock);
	if (G.state == 0) {
		const char *p = policy_env();
		if (p && strcmp(p, "kernel") == 0)
			G.state = -1;
		else
		{
			/* Right after `./joyride start` the TCP/IP server may not be attached yet. */
			/* Signals held off: a timer's handler without SA_RESTART made the
			 * registration's recvmsg fail (EINTR), and the process was refused for
			 * good (a helper's repro: 2 of 3 runs with a 1 ms timer). */
			sigset_t held;
			sig_hold(&held);
			int r = -2;
			for (int i = 0; i < 30 && r == -2; i++) {
				r = do_register();
				if (r == -2)
					usleep(100000);
			}
			sig_release(&held);
			if (r == -2)
				say_down("no TCP/IP server attached");
			G.state = r == 0 ? 1 : -1;
			if (G.state == 1)
				holder_join();
		}
	}
	pthread_mutex_unlock(&init_lock);
	if (G.state == 1)
		return 1;
	return G.policy_refuse ? -1 : 0;
}
