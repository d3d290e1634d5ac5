/*
 * stdio.c — stdio over a Joyride socket: glibc's FILE writes and reads with internal calls the
 * shim does not see (the placeholder eventfd refused them: git daemon's "fflush error: Invalid
 * argument"). A FILE over a Joyride fd is a cookie stream whose I/O goes through the wrappers:
 * fdopen() makes one (fileno, fclose know it), a new image whose stdin/stdout/stderr are
 * Joyride sockets (inetd style: git daemon's children) gets them as its standard streams, and
 * a socket dup2'd onto fd 1 or 2 makes stdout/stderr one until something else is dup2'd back.
 */
#include "shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

/* glibc's own standard streams, which stdin/stdout/stderr name until the shim puts a cookie
 * stream there (exported by libc; FILE is their first member). */
extern FILE _IO_2_1_stdin_, _IO_2_1_stdout_, _IO_2_1_stderr_;

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

/* dprintf(3) over a Joyride socket: glibc formats into its own FILE over the fd and writes it
 * with an internal call (the placeholder eventfd took an 8-byte one and lost it, and refused
 * any other). Formatted here and written through the wrappers. */
EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	static int (*real)(int, const char *, va_list);
	if (!real)
		real = (int (*)(int, const char *, va_list))dlsym(RTLD_NEXT, "vdprintf");
	if (!J(fd))
		return real(fd, fmt, ap);
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);
	if (n < 0)
		return -1;
	ssize_t w = ck_write((void *)(intptr_t)fd, text, (size_t)n);
	free(text);
	return w < n ? -1 : n;
}

EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vdprintf(fd, fmt, ap);
	va_end(ap);
	return n;
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

/* open(2) flags for an fopen mode ("r", "w+", "ae"…), -1 for a bad one. */
static int mode_flags(const char *mode)
{
	int f;
	switch (mode[0]) {
	case 'r':
		f = O_RDONLY;
		break;
	case 'w':
		f = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		f = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -1;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+')
			f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'e')
			f |= O_CLOEXEC;
		else if (*m == 'x')
			f |= O_EXCL;
	}
	return f;
}

/*
 * freopen of a stream over a Joyride socket — a cookie stream, which glibc's freopen cannot
 * reopen (it writes through the stream's absent wide data: SIGSEGV; git daemon --inetd frees
 * its stderr so). As glibc does for a file: the file opened, put on the stream's descriptor
 * (dup2 lets the socket go), and a standard stream is glibc's own again, over it.
 */
static FILE *jfreopen(const char *path, const char *mode, FILE *f,
		      FILE *(*real)(const char *, const char *, FILE *))
{
	FILE *own[3] = { &_IO_2_1_stdin_, &_IO_2_1_stdout_, &_IO_2_1_stderr_ };
	FILE **var[3] = { &stdin, &stdout, &stderr };
	int fd = cookie_fd(f, 0);
	for (int i = 1; i < 3 && fd < 0; i++)
		if (f && f == std_cookie[i])
			fd = i;
	if (fd < 0 || !J(fd) || !path || !mode)
		return real(path, mode, f);
	int fl = mode_flags(mode);
	if (fl < 0) {
		errno = EINVAL;
		return NULL;
	}
	/* a socket dup2'd onto fd 1 or 2: the dup2 below puts glibc's stream back (std_after) */
	int after = (fd == 1 || fd == 2) && f == std_cookie[fd];
	int std = fd <= 2 && *var[fd] == f;
	fflush(f);
	int nfd = open(path, fl, 0666);
	if (nfd < 0)
		return NULL;
	int r = dup2(nfd, fd);
	close(nfd);
	if (r < 0)
		return NULL;
	if (after)
		return *var[fd];
	if (std) {
		cookie_fd(f, 1); /* left as it is: closing it would close the file's descriptor */
		*var[fd] = own[fd];
		clearerr(own[fd]);
		return own[fd];
	}
	return f; /* its reads and writes go to the descriptor, now the file's */
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *f)
{
	static FILE *(*real)(const char *, const char *, FILE *);
	if (!real)
		real = (FILE * (*)(const char *, const char *, FILE *)) dlsym(RTLD_NEXT, "freopen");
	return jfreopen(path, mode, f, real);
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *f)
{
	static FILE *(*real)(const char *, const char *, FILE *);
	if (!real)
		real = (FILE * (*)(const char *, const char *, FILE *))
			dlsym(RTLD_NEXT, "freopen64");
	return jfreopen(path, mode, f, real);
}

/* A new image started with Joyride sockets as its standard streams. */
void std_streams(void)
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
