/*
 * spawn.c — posix_spawn/posix_spawnp, and system/popen/pclose redone over them when a socket
 * is there to carry (glibc's own reach its internal spawn, which the shim does not see): the
 * new image adopts the inherited sockets as after an exec (JOYRIDE_INHERIT, marked "S": a new
 * holder, whose references the parent counts here).
 */
#include "shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

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
	char *var = NULL;
	char **e = spawn_env(envp, 0, &var);
	if (!e)
		return real(pid, path, fa, attr, argv, envp);
	pthread_mutex_lock(&spawn_lock);
	refs_inheritable(1);
	/* The registration's fds cross into the child for this call only (other threads' execs
	 * meanwhile may take them too: they are harmless there). */
	registration_cloexec(0);
	int rc = real(pid, path, fa, attr, argv, e);
	registration_cloexec(1);
	if (rc != 0)
		refs_inheritable(-1);
	pthread_mutex_unlock(&spawn_lock);
	free(e);
	free(var);
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
