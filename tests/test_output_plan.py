"""One decision of what an output path means, shared by the command,
attach, MONITRACE's output= and the signal toggle."""

import gzip
import types

import pytest

from monitrace.exporters.output import REPORT, choose_format, plan_output


@pytest.mark.parametrize(
    ("path", "kwargs", "want"),
    [
        # The commands (recording=None): the format turns record mode on.
        ("t.json", {}, ("chrome", True)),
        ("t.json", {"format": "json"}, ("json", False)),
        ("t.json.gz", {}, ("chrome", True)),
        ("t.folded", {}, ("collapsed", True)),
        ("t.html", {}, ("html", True)),
        ("t.pstats", {}, ("pstats", False)),
        ("t.txt", {}, (REPORT, False)),
        ("t.log.gz", {}, (REPORT, False)),
        ("t", {}, (REPORT, False)),
        ("t.out", {"unknown_is_text": True}, (REPORT, False)),
        ("t.txt", {"format": "pstats"}, ("pstats", False)),
        # A session whose recording is settled (MONITRACE, the signal toggle).
        ("t.json", {"recording": False}, ("json", False)),
        ("t.json", {"recording": True}, ("chrome", True)),
        ("t.pstats", {"report": True}, (REPORT, False)),
    ],
)
def test_choose_format(path, kwargs, want):
    assert choose_format(path, **kwargs) == want


@pytest.mark.parametrize(
    ("path", "kwargs", "match"),
    [
        ("t.folded", {"recording": False}, r"collapsed format \(.folded\) needs record mode"),
        ("t.out", {}, "cannot tell the format of 't.out'"),
        ("t.pstats.gz", {}, "cannot be gzip-compressed"),
        ("t.json", {"format": "xml"}, "format must be one of"),
    ],
)
def test_choose_format_refuses(path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        choose_format(path, **kwargs)


def test_plan_checks_the_path_and_writes_a_gz_report(tmp_path):
    with pytest.raises(OSError):
        plan_output(str(tmp_path / "missing-dir" / "t.txt"))
    plan = plan_output(str(tmp_path / "r.txt.gz"))
    assert (plan.format, plan.record, plan.is_report) == (REPORT, False, True)

    class Fake:
        options = types.SimpleNamespace(watch=())

        def report(self, file, limit=None, sort="cumtime"):
            file.write(f"rows sorted by {sort}, limit {limit}\n")

    assert plan.write(Fake(), limit=3) == REPORT
    with gzip.open(plan.path, "rt") as f:
        assert f.read() == "rows sorted by cumtime, limit 3\n"
