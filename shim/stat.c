/*
 * stat.c — fstat and its kin on a Joyride socket: a socket, as the kernel says of its own
 * (S_IFSOCK, mode 0777), not the placeholder eventfd behind the descriptor (an anonymous inode,
 * mode 0600). Programs started by inetd or systemd check S_ISSOCK on the descriptor they were
 * given (vsftpd: "not configured for standalone, must be started from inetd"). Each socket gets
 * an inode number of its own (the socket id), as sockfs gives; the rest is the placeholder's.
 */
#include "shim.h"

#include <fcntl.h>

/* `r`, a stat's result on `fd`: when it succeeded on Joyride socket `j`, its file type and
 * inode become a socket's. */
static int as_socket(int r, const jfd *j, mode_t *mode, ino_t *ino)
{
	if (r == 0 && j) {
		*mode = S_IFSOCK | 0777;
		*ino = 0x4a520000000ULL | j->id;
	}
	return r;
}

/* fstatat(fd, "", st, AT_EMPTY_PATH) is fstat(fd). */
static jfd *empty_path(int fd, const char *path, int flags)
{
	return (flags & AT_EMPTY_PATH) && path && !*path ? J(fd) : NULL;
}

EXPORT int fstat(int fd, struct stat *st)
{
	return as_socket(REAL(fstat)(fd, st), J(fd), &st->st_mode, &st->st_ino);
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
	return as_socket(REAL(fstat64)(fd, st), J(fd), &st->st_mode, &st->st_ino);
}

EXPORT int fstatat(int fd, const char *path, struct stat *st, int flags)
{
	int r = REAL(fstatat)(fd, path, st, flags);
	return as_socket(r, empty_path(fd, path, flags), &st->st_mode, &st->st_ino);
}

EXPORT int fstatat64(int fd, const char *path, struct stat64 *st, int flags)
{
	int r = REAL(fstatat64)(fd, path, st, flags);
	return as_socket(r, empty_path(fd, path, flags), &st->st_mode, &st->st_ino);
}

/* Older binaries' entry points (glibc before 2.33 made fstat an inline call of these). */
EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	return as_socket(REAL(__fxstat)(ver, fd, st), J(fd), &st->st_mode, &st->st_ino);
}

EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return as_socket(REAL(__fxstat64)(ver, fd, st), J(fd), &st->st_mode, &st->st_ino);
}

EXPORT int statx(int fd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
	int r = REAL(statx)(fd, path, flags, mask, stx);
	if (r != 0)
		return r;
	mode_t mode = stx->stx_mode;
	ino_t ino = stx->stx_ino;
	as_socket(r, empty_path(fd, path, flags), &mode, &ino);
	stx->stx_mode = (uint16_t)mode;
	stx->stx_ino = ino;
	return r;
}
