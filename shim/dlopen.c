/*
 * dlopen.c — libraries a program loads itself keep using the shim. With RTLD_DEEPBIND a
 * library's references go to its own dependencies first, libc among them, past the shim: PHP
 * loads every extension so, and ext-sockets' socket_create() and php-curl's connections were
 * kernel sockets in an app whose sockets Joyride serves (outside Joyride's namespace, on the
 * host's routes). The flag is dropped: such a library binds like any other, the shim first.
 */
#include "shim.h"

EXPORT void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);
	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	return real(file, mode & ~RTLD_DEEPBIND);
}
