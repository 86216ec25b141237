"""Build the C extension monitrace._core; metadata lives in pyproject.toml."""

import os
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# MONITRACE=... activation: site runs the import line of every .pth file in
# site-packages at start-up. Costs one os.environ lookup when unset.
PTH = "monitrace.pth"


class BuildPyWithPth(build_py):
    """build_py that also puts monitrace.pth at the top of the build, which
    a wheel installs into site-packages itself."""

    def run(self):
        super().run()
        self.copy_file(
            os.path.join("src", PTH), os.path.join(self.build_lib, PTH), preserve_mode=False
        )

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


extra_compile_args = ["-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
# Only PyInit__core is exported: internal globals and functions are then
# reached directly, not through the GOT/PLT, on the hot path.
extra_compile_args.append("-fvisibility=hidden")
if os.environ.get("MONITRACE_WERROR"):
    extra_compile_args.append("-Werror")
if os.environ.get("MONITRACE_DEBUG"):
    extra_compile_args += ["-O0", "-g", "-UNDEBUG"]
# MONITRACE_SANITIZE=1: an AddressSanitizer + UndefinedBehaviorSanitizer
# build (scripts/asan.sh).
extra_link_args = []
if os.environ.get("MONITRACE_SANITIZE"):
    sanitize = [
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=undefined",
        "-fno-omit-frame-pointer",
        "-g",
        "-O1",
    ]
    extra_compile_args += sanitize
    extra_link_args += sanitize

# setuptools rebuilds only sources newer than their objects: give every set
# of flags its own build folder, so no build is taken for another's.
flavour = [name for name in ("WERROR", "DEBUG", "SANITIZE") if os.environ.get("MONITRACE_" + name)]
build_base = os.path.join("build", "-".join(flavour).lower() or "plain")

setup(
    cmdclass={"build_py": BuildPyWithPth},
    options={"build": {"build_base": build_base}},
    ext_modules=[
        Extension(
            "monitrace._core",
            sources=sorted(glob("src/ccore/*.c")),
            depends=sorted(glob("src/ccore/*.h")),
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
        )
    ],
)
