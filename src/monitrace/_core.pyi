from collections.abc import Callable
from types import CodeType
from typing import Any

HIST_BUCKETS: int
LOG_EVENT_BYTES: int
DIRECT_CODE_EXTRA: int
FRAME_PEEK: int
EVENT_KINDS: tuple[str, ...]

def tsc_usable() -> bool: ...

class Row(tuple[Any, ...]):
    """One function's statistics on one thread (times in clock ticks)."""

    function: Any
    calls: int
    primitive_calls: int
    total: int
    self: int
    min: int
    max: int
    samples: int
    histogram: list[tuple[float, float, int]]
    segments: Segments | None

class Segments(tuple[Any, ...]):
    samples: int
    min: int
    max: int
    histogram: list[tuple[float, float, int]]

class Edge(tuple[Any, ...]):
    caller: int
    callee: int
    calls: int
    primitive_calls: int
    total: int
    self: int

class Tracer:
    def __init__(
        self,
        *,
        filter: Callable[..., object] | None = None,
        c_calls: bool = False,
        clock: str = "auto",
        filter_module: bool = False,
        profile: bool = True,
    ) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def tool_id(self) -> int | None: ...
    @property
    def clock(self) -> str: ...
    @property
    def c_calls(self) -> bool: ...
    def start(self, tool_id: int = -1) -> None: ...
    def stop(self) -> list[str]: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def ignore_thread(self) -> None: ...
    def reset(self) -> None: ...
    def clear(self) -> None: ...
    def snapshot(self, *, records_from: int = 0) -> dict[str, Any]: ...
    def set_targets(
        self,
        planner: Callable[..., object] | None = None,
        fire: Callable[..., object] | None = None,
        on_error: Callable[..., object] | None = None,
    ) -> None: ...
    def set_scope(
        self,
        *,
        max_depth: int = 0,
        within: bool = False,
        exclude_within: bool = False,
        thread_filter: Callable[[int, str | None], bool | None] | None = None,
        root: CodeType | None = None,
    ) -> None: ...
    @property
    def scope(self) -> dict[str, Any] | None: ...
    def log_configure(
        self,
        *,
        record: bool = False,
        limit: int = 0,
        args: bool = False,
        retval: bool = False,
        lines: bool = False,
        caller_files: bool = False,
        repr_limit: int = 80,
        live: Callable[[tuple[Any, ...], Any, str | None, int, str | None], object] | None = None,
        tree: dict[str, Any] | None = None,
    ) -> None: ...
    def log_tree_target(
        self,
        fd: int = -1,
        write: Callable[[Any], object] | None = None,
        text: bool = True,
        line_flush: bool = False,
    ) -> None: ...
    def log_tree_flush(self) -> int: ...
    def log_write_tree(
        self, spec: dict[str, Any], write: Callable[[Any], object] | None, text: bool = True
    ) -> Any: ...
    def log_write_chrome(
        self,
        write: Callable[[bytes], object],
        names: list[tuple[str, str, str | None, int]],
        threads: list[tuple[int, str]],
        pid: int,
        min_ns: int = 0,
        /,
    ) -> None: ...
    def log_write_collapsed(
        self, write: Callable[[bytes], object], names: list[str], min_ns: int = 0, /
    ) -> None: ...
    def log_batch(
        self, start: int, count: int, generation: int | None = None, /
    ) -> list[tuple[Any, ...]]: ...
    def log_info(self) -> dict[str, Any]: ...
    def log_activations(self) -> tuple[list[tuple[int, int, int]], list[tuple[str, int]]]: ...
    def line_counts(self) -> list[tuple[Any, int, int]]: ...
    def watch_configure(
        self,
        describe: Callable[[Any], Any],
        *,
        max_calls: int = 10,
        max_samples: int = 10,
        max_values: int = 1000000,
        repr_limit: int = 80,
    ) -> None: ...
    def watch_results(self) -> tuple[list[tuple[Any, ...]], dict[str, int]]: ...
    def _after_fork_child(self, keep: bool) -> None: ...

def c_function_key(callable: Any, /) -> tuple[str, Any, str | None, str] | None: ...
def hist_bucket(ticks: int, /) -> tuple[int, int, int]: ...
def selfcheck(tracer: Tracer, /) -> dict[str, Any]: ...
def route_signal(signum: int, /) -> bool: ...
def signal_taken(signum: int, /) -> None: ...
def signal_later(signum: int, /) -> None: ...
