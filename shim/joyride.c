/*
 * libjoyride.so — the LD_PRELOAD shim (DESIGN §6). Takes over the socket API of libc for
 * AF_INET/AF_INET6 stream sockets and hands them to Joyride's TCP/IP server; everything else
 * (AF_UNIX, netlink, loopback addresses, …) goes to the kernel untouched.
 *
 * - Registration: on the first Joyride socket, connect to the naming server's apps.sock
 *   (SOCK_SEQPACKET), send RegisterApp (Cap'n Proto, generated C codec), receive the app's
 *   region memfd and the service eventfd (SCM_RIGHTS). The region holds the call rings, the
 *   socket slots and per-socket byte rings (servers/naming/apps_region.ts; its constants are
 *   mirrored in shim.h).
 * - Control calls: SocketCall/SocketReply over the request/reply message rings, one call at a
 *   time per app (a futex lock in the region shared by threads and forked children).
 * - Data: send() copies into the socket's send byte ring, recv() out of its receive ring; no
 *   message per call. Blocking waits spin briefly, then sleep on the ring's doorbell (futex).
 * - Placeholders: each Joyride socket is a kernel eventfd (so fd numbers never collide). The
 *   server holds a duplicate (pidfd_getfd) and writes to it when the socket's readiness gains
 *   bits; poll/select/epoll wait on the eventfds beside kernel fds and report the socket's
 *   real readiness from its slot.
 *
 * Not intercepted (documented in shim/README.md): static binaries, raw syscalls.
 */
#include "shim.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/un.h>

/* ------------------------------------------------ the real libc functions */
#define REAL_DEFINE(ret, name, ...) ret (*real_##name)(__VA_ARGS__);
REAL_FUNCTIONS(REAL_DEFINE)
#undef REAL_DEFINE

static void load_real(void)
{
#define L(ret, name, ...) real_##name = dlsym(RTLD_NEXT, #name);
	REAL_FUNCTIONS(L)
#undef L
}

/* ------------------------------------------------ state */
jfd fdt[MAX_FDS];

struct shim_state G = { .conn = -1, .svc_efd = -1 };

/* The process the shim's tables belong to. A vfork child (Python's subprocess, …) shares
 * its parent's memory: its calls must not change the parent's tables (dup2, close), and its
 * exec is a spawn (a new holder of the sockets). */
pid_t my_pid;

int vfork_child(void)
{
	return G.state == 1 && my_pid != 0 && getpid() != my_pid;
}

/* ------------------------------------------------ fork */
static void refs_all(int d)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (fdt[fd].used)
			__atomic_add_fetch(slot32(fdt[fd].id, SLOT_OFF_REFS), (uint32_t)d,
					   __ATOMIC_SEQ_CST);
}

/* Set by fork() below around the real fork, in the forking thread (the child's only thread
 * is its copy): the child's references were counted before the fork. */
static __thread int fork_counted;

static void after_fork_child(void)
{
	my_pid = getpid();
	if (G.state != 1)
		return;
	if (fork_counted) {
		fork_counted = 0;
		return;
	}
	/* A fork the wrapper did not see: the child holds every socket the parent held. */
	refs_all(1);
}

/* The child's references are counted before the fork, in the parent: counted in the child
 * (atfork), a parent closing its copy first (socat UDP-LISTEN,fork) dropped the last
 * reference and the socket was closed under the child (EBADF). */
EXPORT pid_t fork(void)
{
	static pid_t (*real_fork)(void);
	if (!real_fork)
		real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	int counted = G.state == 1;
	if (counted)
		refs_all(1);
	fork_counted = counted;
	pid_t pid = real_fork();
	if (pid != 0) {
		fork_counted = 0;
		if (pid < 0 && counted)
			refs_all(-1);
	}
	return pid;
}

/* ------------------------------------------------ exec */
/* Sockets inherited across execve keep working: before the exec, the region, the naming
 * connection and the service eventfd lose FD_CLOEXEC and JOYRIDE_INHERIT describes them and
 * every inherited Joyride fd; the new image's constructor adopts them. Joyride fds marked
 * close-on-exec are released first (the kernel closes them). */
#define INHERIT_VAR "JOYRIDE_INHERIT"

static void set_cloexec(int fd, int on)
{
	int f = REAL(fcntl)(fd, F_GETFD);
	if (f >= 0)
		REAL(fcntl)(fd, F_SETFD, on ? (f | FD_CLOEXEC) : (f & ~FD_CLOEXEC));
}

/* The JOYRIDE_INHERIT=… string for an exec (malloc'd), or NULL when nothing is inherited. */
/* The kernel's id of an eventfd (fdinfo "eventfd-id", + 1), 0 if `fd` is no eventfd: names a
 * placeholder across a spawn whose file actions moved it to another number. */
static unsigned long long efd_id_of(pid_t pid, int fd)
{
	char path[64], buf[512];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
	else
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return 0;
	ssize_t n = REAL(read)(f, buf, sizeof buf - 1);
	REAL(close)(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *p = strstr(buf, "eventfd-id:");
	if (!p)
		return strstr(buf, "eventfd-count:") ? 1 : 0; /* an eventfd of an older kernel */
	return strtoull(p + 11, NULL, 10) + 2;
}

static unsigned long long efd_id(int fd)
{
	return efd_id_of(0, fd);
}

static char *inherit_env(int all)
{
	if (G.state != 1)
		return NULL;
	size_t cap = 256, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	len = (size_t)snprintf(out, cap, INHERIT_VAR "=%d,%d,%d,%u,", G.conn, G.reg.fd, G.svc_efd,
			       G.app_id);
	for (int i = 0; i < 16; i++)
		len += (size_t)snprintf(out + len, cap - len, "%02x", G.token[i]);
	int any = 0;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!fdt[fd].used)
			continue;
		int f = REAL(fcntl)(fd, F_GETFD);
		if (!all && (f < 0 || (f & FD_CLOEXEC)))
			continue;
		if (len + 64 > cap) {
			cap *= 2;
			char *n = realloc(out, cap);
			if (!n) {
				free(out);
				return NULL;
			}
			out = n;
		}
		len += (size_t)snprintf(out + len, cap - len, ";%d:%u:%u:%u:%u:%u:%llu", fd,
					fdt[fd].id, fdt[fd].nonblock, fdt[fd].type,
					fdt[fd].domain, fdt[fd].listening,
					all ? efd_id_of(getppid(), fd) : efd_id(fd));
		any = 1;
	}
	if (!any) {
		free(out);
		return NULL;
	}
	return out;
}

/* Releases Joyride fds that the exec will close (FD_CLOEXEC). */
static void release_cloexec(void)
{
	if (G.state != 1)
		return;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!fdt[fd].used)
			continue;
		int f = REAL(fcntl)(fd, F_GETFD);
		if (f >= 0 && (f & FD_CLOEXEC))
			release(fd);
	}
}

static char **with_inherit(char *const envp[], char *var)
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	char **e = malloc((n + 2) * sizeof *e);
	if (!e)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], INHERIT_VAR "=", sizeof INHERIT_VAR) != 0)
			e[k++] = envp[i];
	if (var)
		e[k++] = var;
	e[k] = NULL;
	return e;
}

typedef int (*exec_fn)(const char *, char *const[], char *const[]);

/* The registration's fds in a vfork child whose program closed them (close_fds): taken
 * again from the parent, which holds them under the same numbers. */
static void recover_from_parent(void)
{
	int want[3] = { G.conn, G.reg.fd, G.svc_efd }, got[3] = { -1, -1, -1 };
	int pfd = -1;
	/* Temporaries above 1000 first, so none takes a number being restored. */
	for (int i = 0; i < 3; i++) {
		if (want[i] < 0 || REAL(fcntl)(want[i], F_GETFD) >= 0)
			continue;
		if (pfd < 0) {
			int p = (int)syscall(SYS_pidfd_open, getppid(), 0);
			pfd = p >= 0 ? REAL(fcntl)(p, F_DUPFD_CLOEXEC, 1000) : -1;
			if (p >= 0)
				REAL(close)(p);
			if (pfd < 0)
				return;
		}
		int k = (int)syscall(SYS_pidfd_getfd, pfd, want[i], 0);
		got[i] = k >= 0 ? REAL(fcntl)(k, F_DUPFD_CLOEXEC, 1000) : -1;
		if (k >= 0)
			REAL(close)(k);
	}
	if (pfd >= 0)
		REAL(close)(pfd);
	for (int i = 0; i < 3; i++) {
		if (got[i] >= 0 && got[i] != want[i]) {
			REAL(dup3)(got[i], want[i], O_CLOEXEC);
			REAL(close)(got[i]);
		}
	}
}

static void refs_listed(int d)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (fdt[fd].used)
			__atomic_add_fetch(slot32(fdt[fd].id, SLOT_OFF_REFS), (uint32_t)d,
					   __ATOMIC_SEQ_CST);
}

/* exec in a vfork child: every Joyride fd of the parent is listed, with the parent's
 * eventfd-id (the child's own table may hold it elsewhere, e.g. dup2'd to fd 0, or not at
 * all): the new image adopts by eventfd-id what it really holds and gives back the
 * references of the others; counted here as for posix_spawn. */
static int vfork_exec(exec_fn real, const char *path, char *const argv[], char *const envp[])
{
	recover_from_parent();
	char *var = inherit_env(1);
	char *v2 = var ? realloc(var, strlen(var) + 2) : NULL;
	char **e = v2 ? with_inherit(envp, v2) : NULL;
	if (!e) {
		free(v2 ? v2 : var);
		return real(path, argv, envp);
	}
	strcat(v2, "S");
	refs_listed(1);
	set_cloexec(G.conn, 0);
	set_cloexec(G.reg.fd, 0);
	set_cloexec(G.svc_efd, 0);
	int rc = real(path, argv, e);
	int saved = errno;
	refs_listed(-1);
	set_cloexec(G.conn, 1);
	set_cloexec(G.reg.fd, 1);
	set_cloexec(G.svc_efd, 1);
	free(e);
	free(v2);
	errno = saved;
	return rc;
}

static int do_exec(exec_fn real, const char *path, char *const argv[], char *const envp[])
{
	if (vfork_child())
		return vfork_exec(real, path, argv, envp);
	char *var = inherit_env(0);
	if (!var) {
		if (G.state == 1)
			release_cloexec();
		return real(path, argv, envp);
	}
	char **e = with_inherit(envp, var);
	if (!e) {
		free(var);
		return real(path, argv, envp);
	}
	release_cloexec();
	set_cloexec(G.conn, 0);
	set_cloexec(G.reg.fd, 0);
	set_cloexec(G.svc_efd, 0);
	int rc = real(path, argv, e);
	int saved = errno;
	set_cloexec(G.conn, 1);
	set_cloexec(G.reg.fd, 1);
	set_cloexec(G.svc_efd, 1);
	free(e);
	free(var);
	errno = saved;
	return rc;
}

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	if (!real_execve)
		real_execve = dlsym(RTLD_NEXT, "execve");
	return do_exec(real_execve, path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (!real_execvpe)
		real_execvpe = dlsym(RTLD_NEXT, "execvpe");
	return do_exec(real_execvpe, file, argv, envp);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* ---- posix_spawn, system, popen: the new image adopts the inherited sockets as after an
 * exec (JOYRIDE_INHERIT, marked "S": a new holder, whose references the parent counts here). */
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);
static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;

/* Joyride fds a new image would inherit (not close-on-exec): what inherit_env lists. */
static int inheritable(int fd)
{
	if (!fdt[fd].used)
		return 0;
	int f = REAL(fcntl)(fd, F_GETFD);
	return f >= 0 && !(f & FD_CLOEXEC);
}

static int any_inheritable(void)
{
	if (G.state != 1)
		return 0;
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (inheritable(fd))
			return 1;
	return 0;
}

static void refs_inheritable(int d)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (inheritable(fd))
			__atomic_add_fetch(slot32(fdt[fd].id, SLOT_OFF_REFS), (uint32_t)d,
					   __ATOMIC_SEQ_CST);
}

static int do_spawn(spawn_fn real, pid_t *pid, const char *path,
		    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		    char *const argv[], char *const envp[])
{
	char *var = G.state == 1 ? inherit_env(0) : NULL;
	char *v2 = var ? realloc(var, strlen(var) + 2) : NULL;
	char **e = v2 ? with_inherit(envp, v2) : NULL;
	if (!e) {
		free(v2 ? v2 : var);
		return real(pid, path, fa, attr, argv, envp);
	}
	strcat(v2, "S");
	pthread_mutex_lock(&spawn_lock);
	refs_inheritable(1);
	/* The registration's fds cross into the child for this call only (other threads' execs
	 * meanwhile may take them too: they are harmless there). */
	set_cloexec(G.conn, 0);
	set_cloexec(G.reg.fd, 0);
	set_cloexec(G.svc_efd, 0);
	int rc = real(pid, path, fa, attr, argv, e);
	set_cloexec(G.conn, 1);
	set_cloexec(G.reg.fd, 1);
	set_cloexec(G.svc_efd, 1);
	if (rc != 0)
		refs_inheritable(-1);
	pthread_mutex_unlock(&spawn_lock);
	free(e);
	free(v2);
	return rc;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	static spawn_fn real;
	if (!real)
		real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
	return do_spawn(real, pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	static spawn_fn real;
	if (!real)
		real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
	return do_spawn(real, pid, file, fa, attr, argv, envp);
}

/* system(3) as glibc does it (SIGINT/SIGQUIT ignored and SIGCHLD blocked while waiting), but
 * through the posix_spawn above: glibc's own reaches its internal spawn, which the shim does
 * not see. Only when a socket is there to carry; glibc's otherwise. */
EXPORT int system(const char *cmd)
{
	static int (*real)(const char *);
	if (!real)
		real = (int (*)(const char *))dlsym(RTLD_NEXT, "system");
	if (!cmd || !any_inheritable())
		return real(cmd);
	struct sigaction ign, oint, oquit;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	sigset_t chld, omask, def;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &omask);
	sigemptyset(&def);
	if (oint.sa_handler != SIG_IGN)
		sigaddset(&def, SIGINT);
	if (oquit.sa_handler != SIG_IGN)
		sigaddset(&def, SIGQUIT);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setsigmask(&attr, &omask);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	pid_t pid;
	int status = 127 << 8;
	if (posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ) == 0) {
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				status = -1;
				break;
			}
		}
	}
	posix_spawnattr_destroy(&attr);
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	return status;
}

/* popen/pclose through the posix_spawn above (same reason); streams of glibc's popen go to
 * its pclose. */
static struct {
	FILE *f;
	pid_t pid;
} popens[64];

EXPORT FILE *popen(const char *cmd, const char *mode)
{
	static FILE *(*real)(const char *, const char *);
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "popen");
	if (!cmd || !mode || (mode[0] != 'r' && mode[0] != 'w') || !any_inheritable())
		return real(cmd, mode);
	int rd = mode[0] == 'r';
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return NULL;
	int mine = rd ? p[0] : p[1], theirs = rd ? p[1] : p[0];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, theirs, rd ? 1 : 0);
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	pid_t pid;
	int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	REAL(close)(theirs);
	if (rc != 0) {
		REAL(close)(mine);
		errno = rc;
		return NULL;
	}
	if (!strchr(mode, 'e'))
		REAL(fcntl)(mine, F_SETFD, 0);
	FILE *f = fdopen(mine, rd ? "r" : "w");
	pthread_mutex_lock(&spawn_lock);
	for (int i = 0; f && i < 64; i++) {
		if (!popens[i].f) {
			popens[i].f = f;
			popens[i].pid = pid;
			break;
		}
	}
	pthread_mutex_unlock(&spawn_lock);
	return f;
}

EXPORT int pclose(FILE *f)
{
	static int (*real)(FILE *);
	if (!real)
		real = (int (*)(FILE *))dlsym(RTLD_NEXT, "pclose");
	pid_t pid = 0;
	pthread_mutex_lock(&spawn_lock);
	for (int i = 0; i < 64; i++) {
		if (popens[i].f == f && f) {
			pid = popens[i].pid;
			popens[i].f = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&spawn_lock);
	if (!pid)
		return real(f);
	fclose(f);
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return st;
}

/* execl, execlp, execle: glibc builds the vector and calls execve/execvpe internally, which
 * the shim would not see; build it here and go through the wrappers above. */
#define EXECL_MAX 4096
static char **execl_argv(const char *arg0, va_list ap, char *const **envp)
{
	char **v = malloc(sizeof(char *) * (EXECL_MAX + 1));
	if (!v)
		return NULL;
	int n = 0;
	v[n++] = (char *)arg0;
	while (arg0 && n < EXECL_MAX) {
		char *a = va_arg(ap, char *);
		v[n++] = a;
		if (!a)
			break;
	}
	v[n] = NULL;
	if (envp)
		*envp = va_arg(ap, char *const *);
	return v;
}

/* An execl*'s end: frees the argv execl_argv made (the exec failed if it returned), errno kept. */
static int exec_done(char **v, int rc)
{
	int e = errno;
	free(v);
	errno = e;
	return rc;
}

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **v = execl_argv(arg, ap, NULL);
	va_end(ap);
	return v ? exec_done(v, execve(path, v, environ)) : fail(ENOMEM);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **v = execl_argv(arg, ap, NULL);
	va_end(ap);
	return v ? exec_done(v, execvpe(file, v, environ)) : fail(ENOMEM);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp = NULL;
	va_start(ap, arg);
	char **v = execl_argv(arg, ap, &envp);
	va_end(ap);
	return v ? exec_done(v, execve(path, v, envp)) : fail(ENOMEM);
}

/* The new image's side: adopt what JOYRIDE_INHERIT describes. */
static void adopt_inherited(void)
{
	const char *v = getenv(INHERIT_VAR);
	if (!v)
		return;
	int conn, rfd, efd;
	unsigned app;
	char tok[33];
	int used = 0;
	if (sscanf(v, "%d,%d,%d,%u,%32[0-9a-f]%n", &conn, &rfd, &efd, &app, tok, &used) != 5 ||
	    strlen(tok) != 32)
		goto out;
	if (jr_region_adopt(&G.reg, rfd) != 0 || ld(ctl32(CTL_OFF_MAGIC)) != CTL_MAGIC)
		goto out;
	for (int i = 0; i < 16; i++) {
		unsigned b;
		sscanf(tok + 2 * i, "%2x", &b);
		G.token[i] = (uint8_t)b;
	}
	G.conn = conn;
	G.svc_efd = efd;
	G.app_id = app;
	G.slots = *ctl32(CTL_OFF_SLOTS);
	G.max_sockets = *ctl32(CTL_OFF_MAX_SOCKETS);
	G.ring_size = *ctl32(CTL_OFF_RING_SIZE);
	if (jr_ring_attach(&G.req, &G.reg, *ctl32(CTL_OFF_REQ_RING), JR_KIND_MESSAGE) != 0 ||
	    jr_ring_attach(&G.rep, &G.reg, *ctl32(CTL_OFF_REP_RING), JR_KIND_MESSAGE) != 0)
		goto out;
	set_cloexec(conn, 1);
	set_cloexec(rfd, 1);
	set_cloexec(efd, 1);
	const char *p = v + used;
	/* A spawned child (posix_spawn, system, popen: "S" after the list) is a new holder: the
	 * parent counted one reference per listed socket; the child's file actions may have
	 * closed a placeholder, or moved it (dup2 to 0/1): every eventfd with a listed id is
	 * adopted, and references are made to match what the child holds. After an exec (same
	 * process) the listed fds are taken as they are. */
	int spawned = strstr(p, "S") != NULL;
	enum { MAXI = 256 };
	static struct {
		int fd;
		unsigned id, nb, ty, dom, li;
		unsigned long long eid;
		int held;
	} in[MAXI];
	int ni = 0;
	while (*p == ';' && ni < MAXI) {
		int fd, n = 0;
		unsigned id, nb, ty, dom, li;
		unsigned long long eid;
		if (sscanf(p, ";%d:%u:%u:%u:%u:%u:%llu%n", &fd, &id, &nb, &ty, &dom, &li, &eid,
			   &n) != 7 ||
		    fd < 0 || fd >= MAX_FDS)
			break;
		in[ni].fd = fd;
		in[ni].id = id;
		in[ni].nb = nb;
		in[ni].ty = ty;
		in[ni].dom = dom;
		in[ni].li = li;
		in[ni].eid = eid;
		in[ni].held = 0;
		ni++;
		p += n;
	}
	G.state = 1;
	if (!spawned) {
		for (int i = 0; i < ni; i++) {
			if (!efd_id(in[i].fd))
				continue; /* not a placeholder any more */
			bind_fd(in[i].fd, in[i].id, (int)in[i].nb, (int)in[i].ty, (int)in[i].dom);
			fdt[in[i].fd].listening = (uint8_t)in[i].li;
		}
		goto out;
	}
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd >= MAX_FDS || fd == dirfd(d))
			continue;
		unsigned long long eid = efd_id(fd);
		for (int i = 0; eid > 1 && i < ni; i++) {
			if (in[i].eid != eid)
				continue;
			bind_fd(fd, in[i].id, (int)in[i].nb, (int)in[i].ty, (int)in[i].dom);
			fdt[fd].listening = (uint8_t)in[i].li;
			if (in[i].held++ > 0) /* one more holder than the parent counted */
				__atomic_add_fetch(slot32(in[i].id, SLOT_OFF_REFS), 1,
						   __ATOMIC_SEQ_CST);
			break;
		}
	}
	if (d)
		closedir(d);
	for (int i = 0; i < ni; i++) {
		if (in[i].held == 0 &&
		    __atomic_sub_fetch(slot32(in[i].id, SLOT_OFF_REFS), 1, __ATOMIC_SEQ_CST) == 0) {
			jr_SocketCall c;
			memset(&c, 0, sizeof c);
			c.call.which = JR_SOCKET_CALL_CALL_CLOSE;
			simple_call(&c, in[i].id); /* the parent let it go meanwhile */
		}
	}
out:
	unsetenv(INHERIT_VAR);
}

/* ---- stdio over a Joyride socket: glibc's FILE writes and reads with internal calls the
 * shim does not see (the placeholder eventfd refused them: git daemon's "fflush error:
 * Invalid argument"). A FILE over a Joyride fd is a cookie stream whose I/O goes through the
 * wrappers: fdopen() makes one, and a new image whose stdin/stdout/stderr are Joyride
 * sockets (inetd style: git daemon's children) gets them as its standard streams. */
static ssize_t ck_read(void *c, char *b, size_t n)
{
	ssize_t r;
	do
		r = read((int)(intptr_t)c, b, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t ck_write(void *c, const char *b, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = write((int)(intptr_t)c, b + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int ck_close(void *c)
{
	return close((int)(intptr_t)c);
}

static struct {
	FILE *f;
	int fd;
} cookies[64];
static pthread_mutex_t cookie_lock = PTHREAD_MUTEX_INITIALIZER;
static int any_cookies; /* none made yet: fileno/fclose never take the lock */

static FILE *cookie_stream(int fd, const char *mode)
{
	cookie_io_functions_t io = { ck_read, ck_write, NULL, ck_close };
	FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);
	if (!f)
		return NULL;
	pthread_mutex_lock(&cookie_lock);
	for (int i = 0; i < 64; i++) {
		if (!cookies[i].f) {
			cookies[i].f = f;
			cookies[i].fd = fd;
			break;
		}
	}
	__atomic_store_n(&any_cookies, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&cookie_lock);
	return f;
}

/* The fd of a cookie stream made here (fileno), -1 if `f` is none. Forgotten on fclose. */
static int cookie_fd(FILE *f, int forget)
{
	int fd = -1;
	if (!__atomic_load_n(&any_cookies, __ATOMIC_ACQUIRE))
		return -1;
	pthread_mutex_lock(&cookie_lock);
	for (int i = 0; i < 64 && f; i++) {
		if (cookies[i].f == f) {
			fd = cookies[i].fd;
			if (forget)
				cookies[i].f = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&cookie_lock);
	return fd;
}

EXPORT FILE *fdopen(int fd, const char *mode)
{
	static FILE *(*real)(int, const char *);
	if (!real)
		real = (FILE * (*)(int, const char *)) dlsym(RTLD_NEXT, "fdopen");
	if (!J(fd) || !mode)
		return real(fd, mode);
	return cookie_stream(fd, mode);
}

EXPORT int fileno(FILE *f)
{
	static int (*real)(FILE *);
	if (!real)
		real = (int (*)(FILE *))dlsym(RTLD_NEXT, "fileno");
	int fd = cookie_fd(f, 0);
	return fd >= 0 ? fd : real(f);
}

EXPORT int fileno_unlocked(FILE *f)
{
	static int (*real)(FILE *);
	if (!real)
		real = (int (*)(FILE *))dlsym(RTLD_NEXT, "fileno_unlocked");
	int fd = cookie_fd(f, 0);
	return fd >= 0 ? fd : real(f);
}

EXPORT int fclose(FILE *f)
{
	static int (*real)(FILE *);
	if (!real)
		real = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
	cookie_fd(f, 1);
	return real(f);
}

/* A socket dup2'd onto fd 1 or 2 in a running process (bash: `echo hi >&3` after
 * `exec 3<>/dev/tcp/…`): stdout/stderr become cookie streams over it until a non-socket is
 * dup2'd back (the originals are put back then). The stream being left is flushed first, to
 * the fd it was written for. */
static FILE *std_orig[3];
static FILE *std_cookie[3];

static int ck_keep(void *c)
{
	(void)c;
	return 0; /* the fd is not the stream's to close */
}

static FILE **std_var(int fd)
{
	return fd == 1 ? &stdout : &stderr;
}

void std_before(int old, int nfd)
{
	if ((nfd != 1 && nfd != 2) || G.state != 1)
		return;
	if (J(old) || std_cookie[nfd])
		fflush(*std_var(nfd));
}

void std_after(int nfd)
{
	if ((nfd != 1 && nfd != 2) || G.state != 1)
		return;
	FILE **v = std_var(nfd);
	if (J(nfd) && !std_cookie[nfd]) {
		cookie_io_functions_t io = { ck_read, ck_write, NULL, ck_keep };
		FILE *f = fopencookie((void *)(intptr_t)nfd, "w", io);
		if (!f)
			return;
		if (nfd == 2)
			setvbuf(f, NULL, _IONBF, 0);
		std_orig[nfd] = *v;
		std_cookie[nfd] = f;
		*v = f;
	} else if (!J(nfd) && std_cookie[nfd]) {
		if (*v == std_cookie[nfd])
			*v = std_orig[nfd];
		fclose(std_cookie[nfd]);
		std_cookie[nfd] = NULL;
	}
}

/* A new image started with Joyride sockets as its standard streams. */
static void std_streams(void)
{
	if (G.state != 1)
		return;
	FILE *f;
	if (J(0) && (f = cookie_stream(0, "r")) != NULL)
		stdin = f;
	if (J(1) && (f = cookie_stream(1, "w")) != NULL)
		stdout = f;
	if (J(2) && (f = cookie_stream(2, "w")) != NULL) {
		setvbuf(f, NULL, _IONBF, 0);
		stderr = f;
	}
}

__attribute__((constructor(101))) static void joyride_init(void)
{
	load_real();
	pthread_atfork(NULL, NULL, after_fork_child);
	my_pid = getpid();
	adopt_inherited();
	std_streams();
}
