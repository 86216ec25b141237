"""Session.save(): format choice, errors that name the path, atomic writes."""

import json
import marshal
import os
import stat

import pytest

import monitrace
import monitrace.exporters as exporters
import workloads
from fsnodes import is_device, make_device, needs_root, read_fifo


@pytest.fixture(scope="module")
def session():
    with monitrace.trace() as s:
        workloads.fib(5)
    return s


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.pstats", "pstats"),
        ("a.prof", "pstats"),
        ("A.PROF", "pstats"),
        ("a.json", "json"),
        ("a.json.gz", "json"),
        ("dir.v2/a.json", "json"),
    ],
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
    with pytest.raises(
        ValueError, match=r"pstats format cannot be gzip-compressed: '.*a\.prof\.gz'"
    ):
        session.save(tmp_path / "a.prof.gz")
    with pytest.raises(TypeError, match="path must be a str"):
        session.save(b"a.json")
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_names_the_path(tmp_path, session):
    path = tmp_path / "no" / "such" / "run.pstats"
    with pytest.raises(
        FileNotFoundError, match=r"cannot write the trace: no directory '.*such'.*: '.*run\.pstats'"
    ) as info:
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
    plan = output_from_args(
        parser, parser.parse_args(["-o", str(tmp_path / "r"), "--format", "json"])
    )
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


# ---- what is at the path: symlinks, FIFOs, devices stay what they are ------


def test_symlink_is_followed_and_stays_a_link(tmp_path, session):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "stats.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(os.path.join("real", "stats.json"))
    assert session.save(link) == "json"
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "stats.json")
    assert json.loads(target.read_text())["schema"] == "monitrace/1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real"]
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["stats.json"]


def test_dangling_symlink_creates_its_target(tmp_path, session):
    link = tmp_path / "out.pstats"
    link.symlink_to(tmp_path / "later.pstats")
    assert session.save(link) == "pstats"
    assert link.is_symlink()
    with open(tmp_path / "later.pstats", "rb") as f:
        stats = marshal.load(f)
    fib = (workloads.__file__, workloads.fib.__code__.co_firstlineno, "fib")
    assert stats[fib][:2] == (1, 15)


def test_symlink_loop_is_a_clear_error(tmp_path, session):
    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    with pytest.raises(OSError, match=r"cannot write the trace: .*: '.*a\.json'"):
        session.save(tmp_path / "a.json")
    assert all(p.is_symlink() for p in tmp_path.iterdir())


def test_fifo_is_written_in_place(tmp_path, session):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result = read_fifo(fifo)
    assert session.save(fifo) == "json"
    doc = json.loads(result())
    assert doc["schema"] == "monitrace/1"
    fib = [f for f in doc["functions"] if f["name"] == "fib"]
    assert len(fib) == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe.json"]


def test_fifo_gets_gzip_too(tmp_path, session):
    import gzip

    fifo = tmp_path / "pipe.json.gz"
    os.mkfifo(fifo)
    result = read_fifo(fifo)
    session.save(fifo)
    assert json.loads(gzip.decompress(result()))["schema"] == "monitrace/1"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@needs_root
def test_device_node_is_written_in_place(tmp_path, session):
    # A private null device (1, 3), never the machine's /dev/null.
    null = make_device(tmp_path / "null", "null")
    for format in ("json", "pstats"):
        assert session.save(null, format=format) == format
        assert is_device(null, "null")
    link = tmp_path / "null-link"
    link.symlink_to(null)
    session.save(link, format="json")
    assert link.is_symlink() and is_device(null, "null")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "null-link"]


@needs_root
def test_full_device_raises_enospc_naming_the_path(tmp_path, session):
    full = make_device(tmp_path / "full", "full")
    with pytest.raises(
        OSError, match=r"cannot write the trace: No space left on device: '.*full'"
    ) as info:
        session.save(full, format="json")
    assert info.value.errno == 28
    assert is_device(full, "full")
    assert [p.name for p in tmp_path.iterdir()] == ["full"]


def test_socket_in_the_way_is_refused_before_writing(tmp_path, session):
    import socket

    path = tmp_path / "s.json"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(OSError, match=r"it is a socket: '.*s\.json'"):
            exporters.check_writable(path)
        with pytest.raises(OSError, match=r"it is a socket"):
            session.save(path)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_replaced_file_keeps_its_permission_bits(tmp_path, session):
    path = tmp_path / "private.json"
    path.write_text("old")
    path.chmod(0o600)
    mask = os.umask(0o022)
    try:
        session.save(path)
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["schema"] == "monitrace/1"


@pytest.mark.skipif(not os.path.isfile("/proc/version"), reason="needs Linux /proc")
def test_unreplaceable_regular_file_fails_before_anything_is_written(session):
    # /proc/version is a regular file in a directory where no file can be made.
    with pytest.raises(OSError, match=r"cannot create a file in '/proc': .*: '/proc/version'"):
        exporters.check_writable("/proc/version")
    with pytest.raises(OSError, match="cannot create a file in '/proc'"):
        session.save("/proc/version", format="json")
