/* The Chrome Trace Event writer (what exporters/chrome.py documents):
 * begin/end pairs per activation, streamed from the event log through a
 * buffer, one event per line. Python writes the document's head and tail
 * and names the functions and threads once; this writes the events. */
#ifndef MT_CHROME_H
#define MT_CHROME_H

#include "common.h"
#include "outbuf.h"

/* `s` (a str) as a JSON string, as json.dumps(ensure_ascii=False) writes
 * it, except that lone surrogates are written as \udxxx escapes (valid
 * JSON, valid UTF-8). Anything else is written as null. */
void mt_chrome_json_str(MtOutBuf *b, PyObject *s);

/* Tracer.log_write_chrome(write, names, threads, pid) (tracer.c lists it). */
PyObject *mt_chrome_write_method(PyObject *self, PyObject *args);
extern const char mt_chrome_write_doc[];

#endif /* MT_CHROME_H */
