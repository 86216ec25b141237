/* The one file built against CPython's internal headers (sigtable.h).
 * Py_BUILD_CORE must come before Python.h here, and so this file includes
 * nothing of monitrace's but its own header. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_runtime.h"

#include "sigtable.h"

void
mt_sigtable_locate(MtSigTable *table)
{
    struct _signals_runtime_state *sig = &_PyRuntime.signals;
    table->entries = (char *)&sig->handlers[0];
    table->stride = sizeof(sig->handlers[0]);
    table->func_offset =
        (size_t)((char *)&sig->handlers[0].func - (char *)&sig->handlers[0]);
    table->tripped_offset = (size_t)((char *)&sig->handlers[0].tripped
                                     - (char *)&sig->handlers[0]);
    table->is_tripped = (int *)&sig->is_tripped;
    table->nsig = Py_NSIG;
}

/* _Py_ThreadCanHandleSignals(), spelled with what an extension may link
 * to (the inline internal version reads a thread-local of libpython's). */
int
mt_sigtable_handles_signals(void)
{
    return PyThread_get_thread_ident() == _PyRuntime.main_thread
           && PyInterpreterState_Get() == PyInterpreterState_Main();
}
