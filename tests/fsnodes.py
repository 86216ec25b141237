"""Things other than regular files to write traces into: FIFOs read by a
thread, and private device nodes (never the machine's /dev/null or
/dev/full, which a buggy writer could replace)."""

import os
import stat
import threading

import pytest

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root"
)

DEVICES = {"null": (1, 3), "full": (1, 7)}  # Linux char devices; full: ENOSPC


def make_device(path, kind):
    """A character device node `kind` ('null' or 'full') at `path`."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(*DEVICES[kind]))
    return path


def is_device(path, kind):
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(*DEVICES[kind])


def read_fifo(path):
    """Start a thread reading the FIFO `path` to its end; the function
    returned joins it and gives the bytes. A hard link elsewhere keeps the
    FIFO reachable, so that the reader is released even if a writer
    replaced the FIFO instead of writing into it."""
    keep = path.parent.with_name(path.parent.name + "-keep")
    keep.mkdir(exist_ok=True)
    if os.path.lexists(keep / path.name):
        os.unlink(keep / path.name)
    os.link(path, keep / path.name)
    got = []

    def drain():
        with open(path, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=drain)
    reader.start()

    def result():
        try:
            fd = os.open(keep / path.name, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader left: it has read everything
            pass
        else:
            os.close(fd)
        reader.join()
        return got[0]

    return result
