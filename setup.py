"""Build the C extension monitrace._core; metadata lives in pyproject.toml."""

import os
from glob import glob

from setuptools import Extension, setup

extra_compile_args = ["-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
if os.environ.get("MONITRACE_WERROR"):
    extra_compile_args.append("-Werror")
if os.environ.get("MONITRACE_DEBUG"):
    extra_compile_args += ["-O0", "-g", "-UNDEBUG"]

setup(
    ext_modules=[
        Extension(
            "monitrace._core",
            sources=sorted(glob("src/monitrace/_core/*.c")),
            depends=sorted(glob("src/monitrace/_core/*.h")),
            extra_compile_args=extra_compile_args,
        )
    ]
)
