/* Signal routing to the main thread (see sigroute.h).
 *
 * Python runs its signal handlers only in the main thread, at the next
 * check after its C handler set a flag. Two ways lose the signal when the
 * main thread is blocked, in sem_wait() for example:
 *
 * - the kernel delivers a process-directed signal to another thread: that
 *   thread's blocking call returns EINTR and goes back to waiting, and the
 *   main thread never learns of the signal. Our C handler sends it on to
 *   the main thread.
 * - the signal reaches the main thread just before it blocks, after its
 *   last check: the flag is set but nothing wakes the thread. In the main
 *   thread, our handler therefore also arms a timer that sends the signal
 *   to the main thread again until the Python handler reports that it ran
 *   (mt_sigroute_taken), each time interrupting the blocking call.
 *
 * The state is process-wide because signal dispositions are. */
#include "sigroute.h"

#ifndef _WIN32

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define MT_HAVE_RETRY_TIMER 1
#else
#define MT_HAVE_RETRY_TIMER 0
#endif

/* Again every 10 ms until the Python handler has run. */
#define MT_RETRY_NS 10000000L

/* The thread Python runs signal handlers in; a fork child's only thread
 * becomes its main thread (as in PyOS_AfterFork_Child). */
static pthread_t main_thread;
/* The handler each routed signal had before ours, called in the main
 * thread. Written only while that signal is not routed yet. */
static struct sigaction previous[NSIG];
static int atfork_registered;
#if MT_HAVE_RETRY_TIMER
/* Per routed signal: a timer that delivers it to the main thread. Timers
 * do not survive fork(): a child routes again (mt_sigroute_install) to get
 * its own. */
static timer_t retry_timer[NSIG];
static volatile sig_atomic_t has_timer[NSIG];
#endif

static void
after_fork_child(void)
{
    main_thread = pthread_self();
#if MT_HAVE_RETRY_TIMER
    for (int i = 0; i < NSIG; i++) {
        has_timer[i] = 0;
    }
#endif
}

static void
arm_retry(int signum, long ns)
{
#if MT_HAVE_RETRY_TIMER
    if (has_timer[signum]) {
        struct itimerspec when = {{0, ns}, {0, ns}};
        (void)timer_settime(retry_timer[signum], 0, &when, NULL);
    }
#else
    (void)signum;
    (void)ns;
#endif
}

static void
route(int signum, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    if (!pthread_equal(pthread_self(), main_thread)) {
        (void)pthread_kill(main_thread, signum);
        errno = saved_errno;
        return;
    }
    const struct sigaction *prev = &previous[signum];
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(signum, info, context);
    }
    else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(signum);
    }
    arm_retry(signum, MT_RETRY_NS);
    errno = saved_errno;
}

static int
make_retry_timer(int signum)
{
#if MT_HAVE_RETRY_TIMER
    if (has_timer[signum]) {
        return 0;
    }
    struct sigevent ev;
    memset(&ev, 0, sizeof(ev));
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = signum;
#ifdef sigev_notify_thread_id
    ev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
#else /* glibc before 2.36 names the field only through the union */
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
#endif
    if (timer_create(CLOCK_MONOTONIC, &ev, &retry_timer[signum]) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    has_timer[signum] = 1;
#else
    (void)signum;
#endif
    return 0;
}

static int
signal_number(PyObject *arg)
{
    long number = PyLong_AsLong(arg);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (number < 1 || number >= NSIG) {
        PyErr_Format(PyExc_ValueError, "signal number out of range: %ld",
                     number);
        return -1;
    }
    return (int)number;
}

PyObject *
mt_sigroute_install(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int signum = signal_number(arg);
    if (signum < 0) {
        return NULL;
    }
    struct sigaction current;
    if (sigaction(signum, NULL, &current) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (!(current.sa_flags & SA_SIGINFO)
        && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) {
        /* Nothing to pass the signal on to: the default action already
         * acts on the whole process. */
        Py_RETURN_FALSE;
    }
    if (!atfork_registered) {
        int err = pthread_atfork(NULL, NULL, after_fork_child);
        if (err != 0) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        atfork_registered = 1;
    }
    main_thread = pthread_self();
    if (make_retry_timer(signum) < 0) {
        return NULL;
    }
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == route) {
        Py_RETURN_TRUE; /* already routed (a fork child routing again) */
    }
    previous[signum] = current;
    struct sigaction ours = current;
    ours.sa_sigaction = route;
    ours.sa_flags = current.sa_flags | SA_SIGINFO;
    if (sigaction(signum, &ours, NULL) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_TRUE;
}

PyObject *
mt_sigroute_taken(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int signum = signal_number(arg);
    if (signum < 0) {
        return NULL;
    }
    arm_retry(signum, 0);
    Py_RETURN_NONE;
}

PyObject *
mt_sigroute_later(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int signum = signal_number(arg);
    if (signum < 0) {
        return NULL;
    }
#if MT_HAVE_RETRY_TIMER
    if (has_timer[signum]) {
        arm_retry(signum, MT_RETRY_NS);
        Py_RETURN_NONE;
    }
#endif
    /* Python's own raise_signal() would run the handler again at once,
     * recursively; raise() only sets the flag for the next check. */
    if (raise(signum) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

#else /* _WIN32: no threads to route between for console signals */

PyObject *
mt_sigroute_install(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(arg))
{
    Py_RETURN_FALSE;
}

PyObject *
mt_sigroute_taken(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(arg))
{
    Py_RETURN_NONE;
}

PyObject *
mt_sigroute_later(PyObject *Py_UNUSED(module), PyObject *arg)
{
    int signum = (int)PyLong_AsLong(arg);
    if (signum == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (raise(signum) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

#endif
