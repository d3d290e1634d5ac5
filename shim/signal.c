/*
 * signal.c — the signals a thread handled, counted. A blocking call the shim serves waits in
 * user space and on futexes, between which a handler can run without a trace: the call then
 * went on waiting where Linux's fails with EINTR (Java closes a socket another thread blocks on
 * by dup2 over the fd and a signal without SA_RESTART: its receive and accept never returned;
 * an alarm() that fired just outside the futex was lost). The program's handlers run behind a
 * trampoline that counts, for the thread it interrupts, every signal handled and those whose
 * handler has no SA_RESTART; a wait compares the counts with those at its start.
 *
 * sigaction(), signal() and their relatives install the trampoline and report the program's
 * own handler back; SIG_DFL and SIG_IGN go to the kernel as they are.
 */
#include "shim.h"

#include <pthread.h>
#include <signal.h>

/* What the program installed, per signal (handler and flags; the kernel has the mask). */
static struct {
	void *fn;
	int flags;
	int ours;  /* the kernel has the trampoline for it */
	int reset; /* an SA_RESETHAND handler ran: the kernel has SIG_DFL and our SA_SIGINFO */
} user[NSIG];

/* The flag glibc's sigaction adds (its own return trampoline), which a query reports. */
#define SA_RESTORER_FLAG 0x04000000

static __thread __attribute__((tls_model("initial-exec"))) uint32_t taken_all, taken_intr;

static void trampoline(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	void *fn = __atomic_load_n(&user[sig].fn, __ATOMIC_ACQUIRE);
	int flags = __atomic_load_n(&user[sig].flags, __ATOMIC_ACQUIRE);
	taken_all++;
	if (!(flags & SA_RESTART))
		taken_intr++;
	if (flags & SA_RESETHAND) {
		/* the kernel has SIG_DFL for it now */
		__atomic_store_n(&user[sig].ours, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&user[sig].fn, (void *)SIG_DFL, __ATOMIC_RELEASE);
		__atomic_store_n(&user[sig].reset, 1, __ATOMIC_RELEASE);
	}
	errno = saved;
	if (fn == (void *)SIG_DFL || fn == (void *)SIG_IGN)
		return; /* changed meanwhile by another thread: the new disposition is the kernel's */
	if (flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
	else
		((void (*)(int))fn)(sig);
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig <= 0 || sig >= NSIG || vfork_child())
		return REAL(sigaction)(sig, act, old);
	struct sigaction prev_user = { 0 };
	int had = __atomic_load_n(&user[sig].ours, __ATOMIC_ACQUIRE);
	if (had) {
		prev_user.sa_flags = user[sig].flags;
		if (user[sig].flags & SA_SIGINFO)
			prev_user.sa_sigaction = (void (*)(int, siginfo_t *, void *))user[sig].fn;
		else
			prev_user.sa_handler = (void (*)(int))user[sig].fn;
	}
	struct sigaction k, *kp = (struct sigaction *)act;
	int wrap = act && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN &&
		   sig != SIGKILL && sig != SIGSTOP;
	if (wrap) {
		/* recorded first: the trampoline may run as soon as the kernel has it */
		void *fn = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction
							: (void *)act->sa_handler;
		__atomic_store_n(&user[sig].flags, act->sa_flags, __ATOMIC_RELEASE);
		__atomic_store_n(&user[sig].fn, fn, __ATOMIC_RELEASE);
		k = *act;
		k.sa_sigaction = trampoline;
		k.sa_flags |= SA_SIGINFO;
		kp = &k;
	}
	struct sigaction was;
	int r = REAL(sigaction)(sig, kp, &was);
	if (r != 0) {
		if (wrap && had) { /* refused (EFAULT…): the trampoline keeps the handler it had */
			__atomic_store_n(&user[sig].flags, prev_user.sa_flags, __ATOMIC_RELEASE);
			__atomic_store_n(&user[sig].fn, (void *)prev_user.sa_sigaction,
					 __ATOMIC_RELEASE);
		}
		return r;
	}
	int was_reset = __atomic_load_n(&user[sig].reset, __ATOMIC_ACQUIRE);
	if (act) {
		__atomic_store_n(&user[sig].ours, wrap, __ATOMIC_RELEASE);
		__atomic_store_n(&user[sig].reset, 0, __ATOMIC_RELEASE);
	}
	if (old) {
		*old = was;
		if (had && was.sa_sigaction == trampoline) {
			old->sa_flags = prev_user.sa_flags | (was.sa_flags & SA_RESTORER_FLAG);
			old->sa_sigaction = prev_user.sa_sigaction; /* a union with sa_handler */
		} else if (was_reset && !had && was.sa_handler == SIG_DFL) {
			/* after a one-shot handler: its flags, not the trampoline's SA_SIGINFO */
			old->sa_flags = user[sig].flags | (was.sa_flags & SA_RESTORER_FLAG);
		}
	}
	return 0;
}

/* signal(), bsd_signal(): BSD semantics, as glibc's (SA_RESTART unless siginterrupt said). */
static sigset_t interrupting;

/* A handler installed the old way: `mask_self` blocks the signal during its handler. */
static sighandler_t install(int sig, sighandler_t h, int flags, int mask_self)
{
	if (sig <= 0 || sig >= NSIG || h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	struct sigaction a = { 0 }, o;
	a.sa_handler = h;
	sigemptyset(&a.sa_mask);
	if (mask_self)
		sigaddset(&a.sa_mask, sig);
	a.sa_flags = flags;
	if (sigaction(sig, &a, &o) < 0)
		return SIG_ERR;
	return o.sa_handler;
}

EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	int restart = sig > 0 && sig < NSIG && !sigismember(&interrupting, sig);
	return install(sig, h, restart ? SA_RESTART : 0, 1);
}

EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return signal(sig, h);
}

/* sysv_signal(): one-shot, not masked during the handler, no restart. */
EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return install(sig, h, (int)(SA_RESETHAND | SA_NODEFER), 0);
}

/* What signal() is under strict standards modes (glibc's headers redirect it there). */
EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return sysv_signal(sig, h);
}

EXPORT int siginterrupt(int sig, int flag)
{
	struct sigaction a;
	if (sig <= 0 || sig >= NSIG || sigaction(sig, NULL, &a) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (flag) {
		sigaddset(&interrupting, sig);
		a.sa_flags &= ~SA_RESTART;
	} else {
		sigdelset(&interrupting, sig);
		a.sa_flags |= SA_RESTART;
	}
	return sigaction(sig, &a, NULL);
}

void sig_hold(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void sig_release(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The counts when the calling thread's blocking call began (sig_begin). */
static __thread __attribute__((tls_model("initial-exec"))) uint32_t mark_all, mark_intr;

void sig_begin(void)
{
	mark_all = taken_all;
	mark_intr = taken_intr;
}

int sig_interrupted(int timed, int eintr)
{
	if (taken_intr != mark_intr)
		return 1; /* a handler without SA_RESTART ran: EINTR, as Linux */
	if (taken_all != mark_all)
		return timed; /* SA_RESTART handlers only: restarted, unless the wait is timed */
	/* The kernel's EINTR with no handler counted: one installed past the shim (glibc's own
	 * calls): restarted only when every caught signal's handler has SA_RESTART. */
	return eintr && (timed || !restartable());
}
