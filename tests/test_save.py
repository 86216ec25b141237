"""Session.save(): format choice, errors that name the path, atomic writes."""

import marshal
import os

import pytest

import monitrace
import monitrace.exporters as exporters
import workloads


@pytest.fixture(scope="module")
def session():
    with monitrace.trace() as s:
        workloads.fib(5)
    return s


@pytest.mark.parametrize(
    "name, fmt",
    [("a.pstats", "pstats"), ("a.prof", "pstats"), ("A.PROF", "pstats"),
     ("a.json", "json"), ("a.json.gz", "json"), ("dir.v2/a.json", "json")],
)
def test_format_from_extension(tmp_path, session, name, fmt):
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    assert session.save(path) == fmt
    assert exporters.resolve_format(str(path)) == fmt
    assert path.stat().st_size > 0


def test_format_argument_wins(tmp_path, session):
    path = tmp_path / "profile.out"
    assert session.save(path, format="pstats") == "pstats"
    with open(path, "rb") as f:
        stats = marshal.load(f)
    fib = (workloads.__file__, workloads.fib.__code__.co_firstlineno, "fib")
    assert stats[fib][:2] == (1, 15)
    assert session.save(str(tmp_path / "x.pstats"), "json") == "json"
    assert (tmp_path / "x.pstats").read_text().startswith("{")


def test_unknown_extension_and_format_are_clear(tmp_path, session):
    with pytest.raises(ValueError, match=r"cannot tell the format of '.*trace\.txt'.*pass format="):
        session.save(tmp_path / "trace.txt")
    with pytest.raises(ValueError, match=r"format must be one of 'pstats', 'json'.* not 'xml'"):
        session.save(tmp_path / "a.json", format="xml")
    with pytest.raises(ValueError, match=r"pstats format cannot be gzip-compressed: '.*a\.prof\.gz'"):
        session.save(tmp_path / "a.prof.gz")
    with pytest.raises(TypeError, match="path must be a str"):
        session.save(b"a.json")
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_names_the_path(tmp_path, session):
    path = tmp_path / "no" / "such" / "run.pstats"
    with pytest.raises(FileNotFoundError, match=r"cannot write the trace: no directory '.*such'.*: '.*run\.pstats'") as info:
        session.save(path)
    assert info.value.filename == str(path)


def test_directory_in_the_way(tmp_path, session):
    (tmp_path / "run.json").mkdir()
    with pytest.raises(IsADirectoryError, match=r"it is a directory: '.*run\.json'"):
        session.save(tmp_path / "run.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_directory(tmp_path, session):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"cannot write the trace: .*: '.*x\.json'"):
            session.save(ro / "x.json")
    finally:
        ro.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_filesystem_refusal_names_the_path(session):
    with pytest.raises(OSError, match=r"cannot write the trace: .*: '/proc/trace\.json'$"):
        session.save("/proc/trace.json")


def test_check_writable_leaves_nothing(tmp_path):
    exporters.check_writable(tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")

    def broken(out):
        out.write("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        exporters.write_atomic(path, broken, binary=False)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_new_file_gets_umask_permissions(tmp_path, session):
    mask = os.umask(0o022)
    try:
        session.save(tmp_path / "p.json")
    finally:
        os.umask(mask)
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o644


def test_gzip_output_is_reproducible(tmp_path, session):
    session.save(tmp_path / "a.json.gz")
    session.save(tmp_path / "b.json.gz")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()


def test_command_line_hooks(tmp_path, session, capsys):
    import argparse

    from monitrace.exporters.output import add_output_arguments, output_from_args

    parser = argparse.ArgumentParser(prog="monitrace")
    add_output_arguments(parser)
    plan = output_from_args(parser, parser.parse_args(["-o", str(tmp_path / "r.prof")]))
    assert (plan.path, plan.format) == (str(tmp_path / "r.prof"), "pstats")
    assert plan.write(session) == "pstats"
    assert (tmp_path / "r.prof").exists()
    plan = output_from_args(parser, parser.parse_args(["-o", str(tmp_path / "r"), "--format", "json"]))
    assert plan.format == "json"
    assert output_from_args(parser, parser.parse_args([])) is None
    for argv, message in [
        (["-o", str(tmp_path / "missing" / "r.json")], "no directory"),
        (["-o", str(tmp_path / "r.txt")], "cannot tell the format"),
        (["--format", "json"], "--format needs -o FILE"),
    ]:
        with pytest.raises(SystemExit) as info:
            output_from_args(parser, parser.parse_args(argv))
        assert info.value.code == 2
        assert message in capsys.readouterr().err
