/* Signal routing to the main thread (see sigroute.h).
 *
 * Python runs its signal handlers only in the main thread, at the next
 * check after its C handler set a flag. When the kernel delivers a
 * process-directed signal to another thread, that thread's blocking call
 * returns EINTR and goes back to waiting, and the main thread, blocked in
 * sem_wait() for example, never learns of the signal: a handler meant to
 * end the process never runs, and the process hangs. Our C handler sends
 * the signal on to the main thread in that case; in the main thread it
 * calls the handler it replaced.
 *
 * The state is process-wide because signal dispositions are. */
#include "sigroute.h"

#ifndef _WIN32

#include <errno.h>
#include <pthread.h>
#include <signal.h>

/* The thread Python runs signal handlers in; a fork child's only thread
 * becomes its main thread (as in PyOS_AfterFork_Child). */
static pthread_t main_thread;
/* The handler each routed signal had before ours, called in the main
 * thread. Written only while that signal is not routed yet. */
static struct sigaction previous[NSIG];
static int atfork_registered;

static void
after_fork_child(void)
{
    main_thread = pthread_self();
}

static void
route(int signum, siginfo_t *info, void *context)
{
    if (!pthread_equal(pthread_self(), main_thread)) {
        int saved_errno = errno;
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
}

PyObject *
mt_sigroute_install(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long number = PyLong_AsLong(arg);
    if (number == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (number < 1 || number >= NSIG) {
        PyErr_Format(PyExc_ValueError, "signal number out of range: %ld",
                     number);
        return NULL;
    }
    int signum = (int)number;
    struct sigaction current;
    if (sigaction(signum, NULL, &current) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == route) {
        main_thread = pthread_self();
        Py_RETURN_TRUE; /* already routed */
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
    previous[signum] = current;
    struct sigaction ours = current;
    ours.sa_sigaction = route;
    ours.sa_flags = current.sa_flags | SA_SIGINFO;
    if (sigaction(signum, &ours, NULL) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_TRUE;
}

#else /* _WIN32: no threads to route between for console signals */

PyObject *
mt_sigroute_install(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(arg))
{
    Py_RETURN_FALSE;
}

#endif
