"""What a session traces: include/exclude specs and ``Q`` queries compiled
into the callable the C core asks once per code object (or C function).

The C core caches each answer on the code object, and code left out
answers ``sys.monitoring.DISABLE``: after its first call it costs nothing.
So every decision here is made from static facts only (module, names,
file, stdlib or site-packages), never from the call's context; the
dynamic filters (depth, within, threads) live in ``src/ccore/scope.c``.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any

from .places import Places


class UnmatchedSpecWarning(UserWarning):
    """An include= or within= spec matched no function while a session
    ran; said once per spec, when the session stops."""


# Bits of a verdict, as _core reads them (records.h MT_VERDICT_*).
TRACE = 1
WITHIN = 2
EXCLUDE_WITHIN = 4

_STR_FIELDS = ("module", "function", "qualname", "fullname", "filename", "kind")
_BOOL_FIELDS = ("stdlib", "site_packages")
FIELDS = _STR_FIELDS + _BOOL_FIELDS
OPERATORS = ("eq", "glob", "regex", "startswith", "in")
_KINDS = ("python", "c")
_WILDCARDS = re.compile(r"[*?\[]")


class Facts:
    """The static facts of one function, the only input of a verdict."""

    __slots__ = FIELDS

    module: str
    function: str
    qualname: str
    fullname: str
    filename: str
    kind: str
    stdlib: bool
    site_packages: bool

    def __init__(self, **values: Any) -> None:
        for name in FIELDS:
            setattr(self, name, values[name])

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in FIELDS)
        return f"Facts({inner})"


Test = Callable[[Facts], bool]


# ---- Q --------------------------------------------------------------------


class Q:
    """A query on a function's static facts; combine with ``&``, ``|``, ``~``.

    ``Q(field=value)`` or ``Q(field__operator=value)``; several keywords
    must all hold. Fields: ``module``, ``function`` (``co_name``),
    ``qualname``, ``fullname`` (``module.qualname``), ``filename``, ``kind``
    (``"python"`` or ``"c"``), ``stdlib`` and ``site_packages`` (bools).
    Operators: ``glob`` (the default for text fields), ``eq``, ``regex``
    (``re.search``), ``startswith`` (a str or a tuple of str), ``in`` (a
    collection of str). Bool fields take only ``eq``. A ``module`` or
    ``fullname`` glob without wildcards also matches what lies below it
    (``"pkg"`` matches ``pkg.sub``); ``*`` matches dots and slashes too.
    """

    __slots__ = ("_test", "_text")

    def __init__(self, **conditions: Any) -> None:
        if not conditions:
            raise TypeError("Q() needs at least one condition, e.g. Q(module='app.*')")
        tests = []
        texts = []
        for key in sorted(conditions):
            tests.append(_leaf(key, conditions[key]))
            texts.append(f"{key}={conditions[key]!r}")
        self._test: Test = tests[0] if len(tests) == 1 else _all(tests)
        self._text = f"Q({', '.join(texts)})"

    @classmethod
    def _make(cls, test: Test, text: str) -> Q:
        q = object.__new__(cls)
        q._test = test
        q._text = text
        return q

    def __and__(self, other: object) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        return Q._make(_all([self._test, other._test]), f"({self._text} & {other._text})")

    def __or__(self, other: object) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        return Q._make(_any([self._test, other._test]), f"({self._text} | {other._text})")

    def __invert__(self) -> Q:
        test = self._test
        return Q._make(lambda f: not test(f), f"~{self._text}")

    def matches(self, facts: Facts) -> bool:
        """Whether a function with these facts matches."""
        return bool(self._test(facts))

    def __repr__(self) -> str:
        return self._text


def _all(tests: list[Test]) -> Test:
    return lambda f: all(t(f) for t in tests)


def _any(tests: list[Test]) -> Test:
    return lambda f: any(t(f) for t in tests)


def _leaf(key: str, value: Any) -> Test:
    field, _, op = key.partition("__")
    if field not in FIELDS:
        raise TypeError(f"unknown Q field {field!r}; fields: {', '.join(FIELDS)}")
    if field in _BOOL_FIELDS:
        if op not in ("", "eq"):
            raise TypeError(f"Q({key}=...): {field} is a bool field and takes only eq")
        if not isinstance(value, bool):
            raise TypeError(f"Q({key}=...) must be True or False, not {value!r}")
        return lambda f: getattr(f, field) is value
    op = op or "glob"
    if op not in OPERATORS:
        raise TypeError(f"unknown Q operator {op!r} in {key!r}; operators: {', '.join(OPERATORS)}")
    if op == "in":
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise TypeError(f"Q({key}=...) takes a collection of str, not {value!r}")
        values = frozenset(value)
        if not all(isinstance(v, str) for v in values):
            raise TypeError(f"Q({key}=...) takes a collection of str, not {value!r}")
        return lambda f: getattr(f, field) in values
    if op == "startswith":
        if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            prefixes: str | tuple[str, ...] = value
        elif isinstance(value, str):
            prefixes = value
        else:
            raise TypeError(f"Q({key}=...) takes a str or a tuple of str, not {value!r}")
        return lambda f: getattr(f, field).startswith(prefixes)
    if not isinstance(value, str):
        raise TypeError(f"Q({key}=...) takes a str, not {type(value).__name__}")
    if field == "kind" and op in ("eq", "glob") and value not in _KINDS:
        raise ValueError(f"Q({key}=...): kind is 'python' or 'c', not {value!r}")
    if op == "eq":
        return lambda f: getattr(f, field) == value
    if op == "regex":
        try:
            search = re.compile(value).search
        except re.error as exc:
            raise ValueError(f"Q({key}=...): invalid regular expression {value!r}: {exc}") from None
        return lambda f: search(getattr(f, field)) is not None
    match = glob_regex(value, field).match
    return lambda f: match(getattr(f, field)) is not None


def unmatched_line(option: str, spec: Spec, labels: dict[str, str] | None = None) -> str:
    """What to say of a spec of `option` (``include``, ``within``,
    ``watch``...) that matched no function; `labels` renames options
    (``{"include": "--include"}``)."""
    option = (labels or {}).get(option, option)
    hint = ""
    if (
        isinstance(spec, str)
        and ":" not in spec
        and not _WILDCARDS.search(spec)
        and "/" not in spec
        and "." not in spec
    ):
        hint = (
            f" (a bare name means a module or a full name module.qualname; "
            f"for a function named so use 'function:{spec}')"
        )
    return f"monitrace: {option} spec {spec!r} matched no function{hint}"


def glob_regex(pattern: str, field: str) -> re.Pattern[str]:
    """The regex a glob on `field` compiles to (case-sensitive)."""
    if field in ("module", "fullname") and not _WILDCARDS.search(pattern):
        return re.compile(re.escape(pattern) + r"(?:\..*)?\Z", re.DOTALL)
    if field == "filename" and not pattern.startswith(("/", "*")):
        # A relative pattern matches the end of the path: "app/*.py".
        return re.compile(r"(?:.*/)?" + fnmatch.translate(pattern))
    return re.compile(fnmatch.translate(pattern))


# ---- specs: the strings of include=, exclude=, within=, --include ... --------

Spec = str | Q
# A "word:" prefix is meant as a field: one that names none is an error
# rather than a pattern that silently matches nothing.
_FIELD_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPEC_FIELDS = {
    "module": "module",
    "function": "function",
    "qualname": "qualname",
    "fullname": "fullname",
    "file": "filename",
    "filename": "filename",
}


def spec_to_q(spec: Spec, option: str) -> Q:
    """The Q a spec stands for; errors name `option`.

    ``"[field:][re:]pattern"``: field is module, function, qualname,
    fullname or file; ``re:`` makes the pattern a regex instead of a glob.
    Without a field, a pattern with a ``/`` or ending in ``.py`` is a file
    glob, anything else matches a module or a full name (``pkg``,
    ``pkg.*``, ``pkg.mod.Class.method``).
    """
    if isinstance(spec, Q):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"{option}: expected a str or a monitrace.Q, not {spec!r}")
    if not spec:
        raise ValueError(f"{option}: empty pattern")
    head, sep, rest = spec.partition(":")
    field = _SPEC_FIELDS.get(head) if sep else None
    if sep and field is None and head != "re" and _FIELD_WORD.fullmatch(head):
        raise ValueError(_unknown_field(option, head, spec))
    text = rest if field else spec
    op = "glob"
    if text.startswith("re:"):
        op, text = "regex", text[3:]
    if not text:
        raise ValueError(f"{option}: empty pattern in {spec!r}")
    try:
        if field:
            return Q(**{f"{field}__{op}": text})
        if op == "glob" and ("/" in text or text.endswith(".py")):
            return Q(filename=text)
        return Q(**{f"module__{op}": text}) | Q(**{f"fullname__{op}": text})
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{option}: {exc}") from None


def _unknown_field(option: str, head: str, spec: str) -> str:
    fields = [*_SPEC_FIELDS, "re"]
    close = difflib.get_close_matches(head, fields, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{option}: unknown field {head!r} in {spec!r}{hint}; a spec is "
        f"[field:][re:]pattern with field one of {', '.join(_SPEC_FIELDS)}"
    )


def normalize_specs(option: str, value: Any) -> tuple[Spec, ...]:
    """include=/exclude=/within=/exclude_within= as a tuple, each spec
    checked (compiled once here so that bad patterns fail early)."""
    if value is None:
        return ()
    if isinstance(value, (str, Q)):
        value = (value,)
    elif not isinstance(value, Iterable):
        raise TypeError(
            f"{option} must be a str, a monitrace.Q or a list of them, not {type(value).__name__}"
        )
    specs = tuple(value)
    for spec in specs:
        spec_to_q(spec, option)
    return specs


def normalize_threads(value: Any) -> tuple[str | int, ...] | None:
    """threads=: thread names (globs) and idents (threading.get_ident())."""
    if value is None:
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = (value,)
    elif not isinstance(value, Iterable):
        raise TypeError(
            f"threads must be a thread name, an ident, or a list of them, not "
            f"{type(value).__name__}"
        )
    items = tuple(value)
    if not items:
        raise ValueError("threads must name at least one thread (or be None for all)")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise TypeError(f"threads: expected a thread name or ident, not {item!r}")
        if isinstance(item, int) and item < 0:
            raise ValueError(f"threads: a thread ident is not negative: {item}")
        if isinstance(item, str) and not item:
            raise ValueError("threads: empty thread name")
    return items


def thread_filter(threads: tuple[str | int, ...]) -> Callable[[int, str | None], bool | None]:
    """The callable _core asks once per thread: True, False, or None while
    the thread's name is not known yet."""
    idents = frozenset(t for t in threads if isinstance(t, int))
    names = [re.compile(fnmatch.translate(t)).match for t in threads if isinstance(t, str)]

    def decide(ident: int, name: str | None) -> bool | None:
        if ident in idents:
            return True
        if not names:
            return False
        if name is None:
            return None
        return any(m(name) is not None for m in names)

    return decide


# ---- the compiled filter -----------------------------------------------------


class CompiledFilter:
    """``filter(key, module) -> verdict bits``, given to ``_core.Tracer``.

    Order of the questions: monitrace's own code is never traced; an
    exclude_within= target, then a within= target, is always traced (it
    must deliver its events to bound its subtree); then stdlib=False and
    site_packages=False leave their code out; then the function must match
    some include= spec (when there are any) and no exclude= spec.
    """

    def __init__(
        self,
        *,
        include: Spec | Iterable[Spec] = (),
        exclude: Spec | Iterable[Spec] = (),
        within: Spec | Iterable[Spec] = (),
        exclude_within: Spec | Iterable[Spec] = (),
        stdlib: bool = True,
        site_packages: bool = True,
        is_own: Callable[[Any], bool] = lambda key: False,
    ) -> None:
        self._include = spec_set(include, "include")
        self._exclude = spec_set(exclude, "exclude")
        self._within = spec_set(within, "within")
        self._exclude_within = spec_set(exclude_within, "exclude_within")
        self._stdlib = stdlib
        self._site_packages = site_packages
        #: Whether a code object is monitrace's own (never traced).
        self.is_own = is_own
        self._places_cache: Places | None = None
        self._trivial = (
            stdlib
            and site_packages
            and not any((self._include, self._exclude, self._within, self._exclude_within))
        )

    def __call__(self, key: Any, module: str | None = None) -> int:
        # Own code by file, and by module for code monitrace compiles from
        # a string (its dataclasses' __init__, filename "<string>").
        if self.is_own(key) or (module is not None and module.partition(".")[0] == "monitrace"):
            return 0
        if self._trivial:
            return TRACE
        facts = self.facts(key, module)
        if self._exclude_within is not None and self._exclude_within(facts):
            return TRACE | EXCLUDE_WITHIN
        if self._within is not None and self._within(facts):
            return TRACE | WITHIN
        # stdlib=False and site_packages=False say where Python code may
        # live. A C function is seen only when traced code calls it, so it
        # stays unless a spec names it (builtins count as the standard
        # library, and these switches would drop every one of them).
        if facts.kind == "python":
            if not self._stdlib and facts.stdlib:
                return 0
            if not self._site_packages and facts.site_packages:
                return 0
        if self._include is not None and not self._include(facts):
            return 0
        if self._exclude is not None and self._exclude(facts):
            return 0
        return TRACE

    def unmatched_messages(self, labels: dict[str, str] | None = None) -> list[str]:
        """One line per include=/within= spec that matched nothing yet,
        naming its option (or what `labels` calls it: ``--include``)."""
        return [unmatched_line(option, spec, labels) for option, spec in self.unmatched()]

    def unmatched(self) -> list[tuple[str, Spec]]:
        """(option, spec) of the include= and within= specs that have
        matched no function so far: a session that traced nothing for
        them was most likely given a wrong pattern (``within="main"``
        names a module; the function is ``function:main``)."""
        out: list[tuple[str, Spec]] = []
        for specs in (self._include, self._within):
            if specs is not None:
                out.extend((specs.option, spec) for spec in specs.unmatched())
        return out

    @property
    def _places(self) -> Places:
        # Built on first use: a filter that never asks costs no sysconfig.
        if self._places_cache is None:
            self._places_cache = Places()
        return self._places_cache

    def facts(self, key: Any, module: str | None) -> Facts:
        """The static facts of a code object or C function."""
        code = getattr(key, "co_qualname", None)
        if code is not None:
            mod = module or ""
            qualname = key.co_qualname
            stdlib, site_packages = self._places.of_code(key.co_filename, mod)
            return Facts(
                module=mod,
                function=key.co_name,
                qualname=qualname,
                fullname=f"{mod}.{qualname}" if mod else qualname,
                filename=key.co_filename,
                kind="python",
                stdlib=stdlib,
                site_packages=site_packages,
            )
        from .model import c_identity as _c_identity

        _label, qualname, mod = _c_identity(key)
        stdlib, site_packages = self._places.of_module(mod) if mod else (False, False)
        return Facts(
            module=mod,
            function=key[0],
            qualname=qualname,
            fullname=f"{mod}.{qualname}" if mod else qualname,
            filename="",
            kind="c",
            stdlib=stdlib,
            site_packages=site_packages,
        )


class SpecSet:
    """The union of one option's specs, remembering which of them have
    matched a function the filter was asked about."""

    def __init__(self, option: str, specs: tuple[Spec, ...]) -> None:
        self.option = option
        self.specs = specs
        self._tests = [spec_to_q(s, option)._test for s in specs]
        self._matched = [False] * len(specs)
        self._all_matched = False

    def __call__(self, facts: Facts) -> bool:
        if self._all_matched:
            return any(test(facts) for test in self._tests)
        hit = False
        for i, test in enumerate(self._tests):
            if test(facts):
                hit = self._matched[i] = True
        self._all_matched = all(self._matched)
        return hit

    def unmatched(self) -> list[Spec]:
        return [s for s, m in zip(self.specs, self._matched) if not m]


def spec_set(specs: Spec | Iterable[Spec], option: str) -> SpecSet | None:
    """One option's specs checked and joined; None when there are none."""
    checked = normalize_specs(option, specs)
    return SpecSet(option, checked) if checked else None


# ---- what a Session uses ---------------------------------------------------


def compile_filter(options: Any, is_own: Callable[[Any], bool]) -> CompiledFilter:
    """The static filter of a session's Options."""
    return CompiledFilter(
        include=options.include,
        exclude=options.exclude,
        within=options.within,
        exclude_within=options.exclude_within,
        stdlib=options.stdlib,
        site_packages=options.site_packages,
        is_own=is_own,
    )


def apply_scope(tracer: Any, options: Any, root: Any = None) -> None:
    """Hand the dynamic filters of `options` to a stopped _core.Tracer.
    `root`: a code object that is not a level when it runs at the bottom
    of a thread's stack (the program the command runs), or None."""
    if not options.dynamic_filters:
        return
    tracer.set_scope(
        max_depth=options.max_depth or 0,
        within=bool(options.within),
        exclude_within=bool(options.exclude_within),
        thread_filter=thread_filter(options.threads) if options.threads is not None else None,
        root=root,
    )
