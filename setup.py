"""Package list and the one native build step for setuptools.

`rules/` lives at the repository root (data anyone can read and diff) but ships inside
the wheel as the data-only package ``policy.shipped_rules``; pyproject.toml cannot map a
directory to a package name while also using package discovery, so it is done here.

On Linux, ``sandbox/linux/cordon_inner.c`` is compiled into the executable
``sandbox/linux/cordon-inner`` (the inner stage without a second Python interpreter: ~10 ms
less per launch). No C compiler: a warning, and the Python inner stage runs instead
(``sandbox doctor`` says which one is in use).
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_py import build_py

DATA = ["*.lark", "*.sb", "*.sbpl", "*.rules", "*.json", "*.toml", "*.txt", "*.c", "py.typed", "README.md"]

WINDOWS = sys.platform == "win32"
HAS_RULES = (Path(__file__).parent / "rules").is_dir()
LINUX = sys.platform.startswith("linux")
HERE = Path(__file__).resolve().parent
NATIVE_SRC = HERE / "sandbox" / "linux" / "cordon_inner.c"


def build_native(out_dir: Path) -> None:
    # By file path: importing the sandbox package would need its dependencies (pydantic),
    # which pip's isolated build environment does not have.
    spec = importlib.util.spec_from_file_location(
        "_cordon_build_native", NATIVE_SRC.parent / "build_native.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(out_dir)


class BuildPy(build_py):
    def run(self):
        super().run()
        if LINUX and NATIVE_SRC.is_file():
            # Editable installs import from the checkout, so the helper goes next to the source.
            where = (
                NATIVE_SRC.parent
                if getattr(self, "editable_mode", False)
                else Path(self.build_lib) / "sandbox" / "linux"
            )
            where.mkdir(parents=True, exist_ok=True)
            build_native(where)


class NativeDistribution(Distribution):
    def has_ext_modules(self):
        # The wheel carries an executable for this platform: tag it so (not py3-none-any).
        return LINUX


setup(
    cmdclass={"build_py": BuildPy},
    distclass=NativeDistribution,
    packages=[*find_packages(include=["policy*", "sandbox*", "netproxy*"])]
    + (["policy.shipped_rules"] * HAS_RULES),
    package_dir={"policy.shipped_rules": "rules"} if HAS_RULES else {},
    package_data={"": DATA, "policy.shipped_rules": ["*.rules", "README.md"]},
    include_package_data=True,
    # `sandbox run` is the hot path. pip's generated console-script wrapper imports `re` (~10 ms,
    # with enum) on every start, so on POSIX `sandbox` is the plain script bin/sandbox; Windows
    # keeps the entry point for its .exe launcher.
    scripts=[] if WINDOWS else ["bin/sandbox"],
    entry_points={
        "console_scripts": ["execpolicy = policy.__main__:main"]
        + (["sandbox = sandbox.__main__:main"] if WINDOWS else [])
    },
)
