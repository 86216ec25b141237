"""Recorded calls as OpenTelemetry spans (the ``monitrace[otel]`` extra).

Each activation (a call; for a generator or coroutine, each stretch
between a resume and a yield) becomes one span, child of the activation
below it on the same thread, with the recorded start and end times. The
spans go through the user's ``TracerProvider`` (the global one by
default), so whatever exporter and collector it is set up with (OTLP to
Jaeger, Zipkin or Tempo, ...) receives them.

Attributes: ``code.function`` (qualname), ``code.namespace`` (module),
``code.filepath``, ``code.lineno``, ``thread.id``, ``thread.name``, plus
``monitrace.args.<name>`` and ``monitrace.return`` when captured. An
activation left by an exception gets an ERROR status and an
``exception`` event. Spans are started and ended while walking the log:
at most one open span per active frame, never the whole trace at once.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from .source import Kind, Source
from .timeline import walk

_INSTALL = "OpenTelemetry export needs the otel extra: pip install 'monitrace[otel]'"


def send_spans(source: Source, tracer_provider: Any = None, context: Any = None) -> int:
    """Turn `source`'s recorded events into spans through `tracer_provider`
    (default: the global provider). Outermost spans are children of
    `context` (default: the current context). Returns the number of
    spans."""
    try:
        from opentelemetry import trace as otel_trace
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    events = source.need_events("OpenTelemetry export")
    tracer = otel_trace.get_tracer("monitrace", __version__, tracer_provider=tracer_provider)
    error = otel_trace.Status(otel_trace.StatusCode.ERROR)
    wall = source.wall_offset_ns
    open_spans: dict[int, Any] = {}
    count = 0
    for begin, thread_index, act, stack in walk(events()):
        if begin:
            ident = source.function(act.function)
            thread = source.thread(thread_index)
            attrs: dict[str, Any] = {
                "code.function": ident.qualname,
                "code.namespace": ident.module,
                "thread.id": thread.ident,
            }
            if ident.kind == "python":
                attrs["code.filepath"] = ident.filename
                attrs["code.lineno"] = ident.firstlineno
            if thread.name:
                attrs["thread.name"] = thread.name
            if not act.is_call:
                attrs["monitrace.resumed"] = True
            for name, value in act.begin.args or ():
                attrs[f"monitrace.args.{name}"] = value
            parent = open_spans.get(id(stack[-1])) if stack else None
            ctx = otel_trace.set_span_in_context(parent) if parent is not None else context
            open_spans[id(act)] = tracer.start_span(
                ident.full_name,
                context=ctx,
                attributes=attrs,
                start_time=act.start_ns + wall,
            )
            continue
        span = open_spans.pop(id(act))
        end = act.end
        if end is not None and end.retval is not None:
            span.set_attribute("monitrace.return", end.retval)
        if end is not None and end.kind in (Kind.RAISE, Kind.C_RAISE):
            exc_type = end.exc_type
            type_name = getattr(exc_type, "__qualname__", None) or (
                str(exc_type) if exc_type is not None else "Exception"
            )
            span.add_event(
                "exception",
                {"exception.type": type_name, "exception.message": end.exc_repr or ""},
                timestamp=act.end_ns + wall,
            )
            span.set_status(error)
        span.end(end_time=act.end_ns + wall)
        count += 1
    return count
