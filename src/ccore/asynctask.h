/* The asyncio task running the calling thread's code, for the event log.
 *
 * Asked once per task, when its root coroutine starts (recorder.c): the
 * coroutines it awaits run in the same task, which readers work out from
 * the stack. Only what names the task is kept, never the Task itself:
 * tracing must not change when a program's objects die.
 */
#ifndef MT_ASYNCTASK_H
#define MT_ASYNCTASK_H

#include "common.h"

/* (name, id) of the asyncio task now running on this thread, as a new
 * tuple, or NULL (no exception set) when there is none: asyncio is not
 * imported, no loop runs here, or no task runs on it. Runs Python code
 * (the Task's get_name may be overridden); call it with no exception
 * set. */
PyObject *mt_asynctask_current(void);

#endif /* MT_ASYNCTASK_H */
