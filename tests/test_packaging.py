"""How the package is put together: one version, a clear error from an
unbuilt source tree, and a checkout that works whatever its folder is
called."""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib

import monitrace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src", "monitrace")


def test_version_is_written_once():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    # pyproject takes it from monitrace/_version.py rather than repeating it
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "monitrace._version.__version__"
    }
    # the installed metadata is that version
    assert importlib.metadata.version("monitrace") == monitrace.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", monitrace.__version__)
    # and no other file spells it out
    spelled = []
    for dirpath, dirnames, filenames in os.walk(SRC):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if name.endswith((".py", ".pyi", ".c", ".h")):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    if f'"{monitrace.__version__}"' in f.read():
                        spelled.append(os.path.relpath(path, ROOT))
    assert spelled == [os.path.join("src", "monitrace", "_version.py")]


def test_version_reaches_the_files_written(tmp_path):
    with monitrace.trace() as s:
        sorted([2, 1])
    s.save(tmp_path / "run.json")
    import json

    with open(tmp_path / "run.json") as f:
        assert json.load(f)["generator"] == f"monitrace {monitrace.__version__}"


def test_unbuilt_source_tree_says_so(tmp_path):
    # The package's sources without any compiled extension (the C sources
    # live in src/ccore/, a folder that can't pass for the module).
    copy = tmp_path / "src" / "monitrace"
    shutil.copytree(
        SRC, copy, ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "*.egg-info")
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"))
    env.pop("MONITRACE", None)
    proc = subprocess.run(
        [sys.executable, "-c", "import monitrace; monitrace.trace()"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: monitrace._core, the C extension, is not built"), last
    assert str(copy) in last
    assert not (copy / "_core").exists()
    assert "AttributeError" not in proc.stderr
    # Importing the package alone (as pytest does for the plugin) still works.
    proc = subprocess.run(
        [sys.executable, "-c", "import monitrace; print(monitrace.__version__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == monitrace.__version__


def test_api_tests_pass_in_a_checkout_called_monitrace(tmp_path):
    # `git clone URL` names the folder after the repository: monitrace/.
    # The tests and the project's configuration, copied into such a folder,
    # run against the installed package as they do from here.
    checkout = tmp_path / "monitrace"
    shutil.copytree(
        os.path.join(ROOT, "tests"),
        checkout / "tests",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), checkout / "pyproject.toml")
    env = dict(os.environ)
    env.pop("MONITRACE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_api.py"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
