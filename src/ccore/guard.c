/* Running Python code from a callback: see guard.h. */
#include "guard.h"

int
mt_guard_refuse(MtTracer *tr, const char *what, int when_running)
{
    if (mt_guard_reentered(tr)) {
        PyErr_Format(PyExc_RuntimeError,
                     "monitrace: %s() cannot be called from code that runs "
                     "inside a tracer callback (a filter or a repr)",
                     what);
        return -1;
    }
    if (when_running && tr->running) {
        PyErr_Format(PyExc_RuntimeError,
                     "monitrace: stop the tracer before %s()", what);
        return -1;
    }
    return 0;
}
