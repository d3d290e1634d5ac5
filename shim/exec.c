/*
 * exec.c — sockets across exec: execve/execv/execvp/execvpe and execl/execlp/execle release
 * the close-on-exec Joyride fds and carry the others in JOYRIDE_INHERIT (the registration's
 * fds, token, and each socket with its eventfd-id); the new image's constructor adopts them.
 * A vfork child's exec is a spawn (a new holder), its registration fds taken back from the
 * parent if its program closed them.
 */
#include "shim.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>

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

unsigned long long efd_id(int fd)
{
	return efd_id_of(0, fd);
}

/* The JOYRIDE_INHERIT=… string for an exec (malloc'd), or NULL when nothing is inherited. */
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
		/* The loopback twin crosses an exec with its listener (do_exec), not a spawn. */
		int lo = !all && fdt[fd].lo ? fdt[fd].lo - 1 : -1;
		len += (size_t)snprintf(out + len, cap - len, ";%d:%u:%u:%u:%u:%u:%llu:%d", fd,
					fdt[fd].id, is_nonblock(&fdt[fd]), fdt[fd].type,
					fdt[fd].domain, fdt[fd].listening,
					all ? efd_id_of(getppid(), fd) : efd_id(fd), lo);
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

/* The loopback twins of the listeners an exec keeps lose FD_CLOEXEC (on = 0) for it, or get it
 * back (on = 1) after an exec that failed. The new image takes each as its listener's twin
 * (adopt_inherited): made anew there, it could not bind while another process kept the old
 * one (gunicorn's USR2: the old master runs on), and 127.0.0.1 stopped answering once that
 * process ended; with close-on-exec alone, a plain exec lost it. */
static void twins_cloexec(int on)
{
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!fdt[fd].used || !fdt[fd].lo)
			continue;
		int f = REAL(fcntl)(fd, F_GETFD);
		if (f >= 0 && !(f & FD_CLOEXEC))
			set_cloexec(fdt[fd].lo - 1, on);
	}
}

/*
 * LD_PRELOAD for a new image that inherits sockets: the one in envp when it loads the shim,
 * else the shim before what it names. A program that scrubs its children's environment
 * (Debian's inetd drops every LD_* variable) passed them Joyride sockets they could not use:
 * without the shim they are eventfds, and `cat` on fds 0/1 spun at 100 % of a core. NULL to
 * leave envp's as it is. The string is this thread's, until its next call.
 */
static const char *preload_for(char *const envp[])
{
	static __thread char buf[4096];
	Dl_info info;
	if (!dladdr((void *)preload_for, &info) || !info.dli_fname || !*info.dli_fname)
		return NULL;
	const char *theirs = NULL;
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
			theirs = envp[i] + 11;
	if (theirs && strstr(theirs, info.dli_fname))
		return NULL;
	int n = theirs && *theirs
			? snprintf(buf, sizeof buf, "LD_PRELOAD=%s %s", info.dli_fname, theirs)
			: snprintf(buf, sizeof buf, "LD_PRELOAD=%s", info.dli_fname);
	return n > 0 && (size_t)n < sizeof buf ? buf : NULL;
}

static char **with_inherit(char *const envp[], char *var)
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	char **e = malloc((n + 3) * sizeof *e);
	if (!e)
		return NULL;
	const char *pre = var ? preload_for(envp) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], INHERIT_VAR "=", sizeof INHERIT_VAR) != 0 &&
		    !(pre && strncmp(envp[i], "LD_PRELOAD=", 11) == 0))
			e[k++] = envp[i];
	if (pre)
		e[k++] = (char *)pre;
	if (var)
		e[k++] = var;
	e[k] = NULL;
	return e;
}

/* The environment for a new holder's image (a spawn, a vfork child's exec): envp with
 * JOYRIDE_INHERIT marked "S" (the new image adopts as a new holder); *var is to be freed with
 * it. NULL when there is nothing to carry or no memory. */
char **spawn_env(char *const envp[], int all, char **var)
{
	char *v = inherit_env(all);
	char *v2 = v ? realloc(v, strlen(v) + 2) : NULL;
	char **e = v2 ? with_inherit(envp, v2) : NULL;
	if (!e) {
		free(v2 ? v2 : v);
		return NULL;
	}
	strcat(v2, "S");
	*var = v2;
	return e;
}

/* The registration's fds (naming connection, region, service eventfd) cross an exec
 * (on = 0) or not (on = 1, as they are kept). */
void registration_cloexec(int on)
{
	set_cloexec(G.conn, on);
	set_cloexec(G.reg.fd, on);
	set_cloexec(G.svc_efd, on);
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

/* exec in a vfork child: every Joyride fd of the parent is listed, with the parent's
 * eventfd-id (the child's own table may hold it elsewhere, e.g. dup2'd to fd 0, or not at
 * all): the new image adopts by eventfd-id what it really holds and gives back the
 * references of the others; counted here as for posix_spawn. */
static int vfork_exec(exec_fn real, const char *path, char *const argv[], char *const envp[])
{
	recover_from_parent();
	char *var = NULL;
	char **e = spawn_env(envp, 1, &var);
	if (!e)
		return real(path, argv, envp);
	refs_all(1);
	registration_cloexec(0);
	int rc = real(path, argv, e);
	int saved = errno;
	refs_all(-1);
	registration_cloexec(1);
	free(e);
	free(var);
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
	registration_cloexec(0);
	twins_cloexec(0);
	int rc = real(path, argv, e);
	int saved = errno;
	registration_cloexec(1);
	twins_cloexec(1);
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
void adopt_inherited(void)
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
		int lo, held;
	} in[MAXI];
	int ni = 0;
	while (*p == ';' && ni < MAXI) {
		int fd, lo, n = 0;
		unsigned id, nb, ty, dom, li;
		unsigned long long eid;
		if (sscanf(p, ";%d:%u:%u:%u:%u:%u:%llu:%d%n", &fd, &id, &nb, &ty, &dom, &li, &eid,
			   &lo, &n) != 8 ||
		    fd < 0 || fd >= MAX_FDS)
			break;
		in[ni].lo = lo;
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
			int lo = in[i].lo, acc = 0, ty = 0;
			socklen_t al = sizeof acc, tl = sizeof ty;
			/* the twin, if lo is still one: a listener's listens, a datagram one's is a
			 * datagram socket */
			int twin = lo >= 0 && lo < MAX_FDS && lo != in[i].fd &&
				   (in[i].li ? REAL(getsockopt)(lo, SOL_SOCKET, SO_ACCEPTCONN, &acc,
								&al) == 0 && acc
					     : in[i].ty == SOCK_DGRAM &&
						       REAL(getsockopt)(lo, SOL_SOCKET, SO_TYPE, &ty,
									&tl) == 0 &&
						       ty == SOCK_DGRAM);
			if (twin) {
				set_cloexec(lo, 1);
				twin_set(&fdt[in[i].fd], lo);
			}
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
		if (in[i].held == 0)
			unref(in[i].id); /* the last reference: the parent let it go meanwhile */
	}
out:
	if (G.state == 1)
		holder_join();
	unsetenv(INHERIT_VAR);
}
