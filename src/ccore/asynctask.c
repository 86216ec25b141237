/* The running asyncio task: asyncio's own functions, looked up in the
 * program's asyncio module without importing anything. */
#include "asynctask.h"

PyObject *
mt_asynctask_current(void)
{
    PyObject *out = NULL, *modname = NULL, *mod = NULL, *loop = NULL;
    PyObject *task = NULL, *name = NULL;
    modname = PyUnicode_FromString("asyncio");
    mod = modname != NULL ? PyImport_GetModule(modname) : NULL;
    if (mod == NULL) {
        goto done; /* not imported: no task can run */
    }
    /* Unlike get_running_loop(), None (not an error) without a loop. */
    loop = PyObject_CallMethod(mod, "_get_running_loop", NULL);
    if (loop == NULL || loop == Py_None) {
        goto done;
    }
    task = PyObject_CallMethod(mod, "current_task", "O", loop);
    if (task == NULL || task == Py_None) {
        goto done;
    }
    name = PyObject_CallMethod(task, "get_name", NULL);
    if (name == NULL || !PyUnicode_Check(name)) {
        goto done;
    }
    /* id(task): tells apart tasks of one name while they live. */
    out = Py_BuildValue("(OK)", name, (unsigned long long)(uintptr_t)task);
done:
    Py_XDECREF(name);
    Py_XDECREF(task);
    Py_XDECREF(loop);
    Py_XDECREF(mod);
    Py_XDECREF(modname);
    PyErr_Clear();
    return out;
}
