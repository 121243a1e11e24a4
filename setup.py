"""Package list and the one native build step for setuptools.

The import namespace is ``cordon``, but its parts live at the repository root (``policy/``,
``sandbox/``, ``netproxy/``, ``integrations/``; ``cordon/`` holds only the namespace root).
They are mapped under ``cordon`` here with ``package_dir``; ``rules/`` (data anyone can read and
diff) ships as the data-only package ``cordon.policy.shipped_rules``. pyproject.toml cannot map
directories to package names while also discovering packages, so it is done here.

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
STARLARK_SYNTAX = HERE / "policy" / "starlark" / "syntax.py"


def build_native(out_dir: Path) -> None:
    # By file path: importing the sandbox package would need its dependencies (pydantic),
    # which pip's isolated build environment does not have.
    spec = importlib.util.spec_from_file_location(
        "_cordon_build_native", NATIVE_SRC.parent / "build_native.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(out_dir)


def build_parser_tables(out_dir: Path) -> None:
    # The Starlark parser's LALR tables, built once here instead of on every first
    # `execpolicy check` (policy/starlark/syntax.py, TABLES_PATH). By file path, like the native
    # stage: syntax.py needs only Lark (a build requirement), not the cordon package.
    spec = importlib.util.spec_from_file_location("_cordon_build_syntax", STARLARK_SYNTAX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_tables(out_dir / Path(module.TABLES_PATH).name)


def build_shipped_store(build_lib: Path) -> None:
    # The shipped rule sets, loaded once here (policy/cache.py, SHIPPED_STORE) so that a first
    # `execpolicy check --rules default` does not import Lark. In a fresh interpreter over the
    # built tree: the engine is the cordon package's own (it needs only Lark, a build requirement).
    import os
    import subprocess

    # This interpreter's own path too: pip's isolated build environment is where Lark is.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(build_lib), *filter(None, sys.path)])}
    code = "from cordon.policy import engine; engine.write_shipped_store()"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(build_lib))


class BuildPy(build_py):
    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            build_parser_tables(Path(self.build_lib) / "cordon" / "policy" / "starlark")
            if HAS_RULES:
                build_shipped_store(Path(self.build_lib))
        if LINUX and NATIVE_SRC.is_file():
            # Editable installs import from the checkout, so the helper goes next to the source.
            where = (
                NATIVE_SRC.parent
                if getattr(self, "editable_mode", False)
                else Path(self.build_lib) / "cordon" / "sandbox" / "linux"
            )
            where.mkdir(parents=True, exist_ok=True)
            build_native(where)


class NativeDistribution(Distribution):
    def has_ext_modules(self):
        # The wheel carries an executable for this platform: tag it so (not py3-none-any).
        return LINUX


# Top-level folder -> the name it has under the cordon namespace.
PARTS = {"policy": "cordon.policy", "sandbox": "cordon.sandbox", "netproxy": "cordon.netproxy"}
if (HERE / "integrations").is_dir():
    PARTS["integrations"] = "cordon.integrations"
PACKAGES = ["cordon"] + [
    PARTS[name.split(".", 1)[0]] + name[len(name.split(".", 1)[0]) :]
    for name in find_packages(include=[f"{p}*" for p in PARTS])
]
PACKAGE_DIR = {"cordon": "cordon", **{dotted: folder for folder, dotted in PARTS.items()}}
if HAS_RULES:
    PACKAGES.append("cordon.policy.shipped_rules")
    PACKAGE_DIR["cordon.policy.shipped_rules"] = "rules"


setup(
    cmdclass={"build_py": BuildPy},
    distclass=NativeDistribution,
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={"": DATA, "cordon.policy.shipped_rules": ["*.rules", "README.md"]},
    include_package_data=True,
    # `sandbox run` and `execpolicy check` are hot paths. pip's generated console-script wrapper
    # imports `re` (~10 ms, with enum) on every start, so on POSIX both are plain scripts
    # (bin/sandbox, bin/execpolicy); Windows keeps the entry points for their .exe launchers.
    scripts=[] if WINDOWS else ["bin/sandbox", "bin/execpolicy"],
    entry_points={
        "console_scripts": (
            ["execpolicy = cordon.policy.__main__:main", "sandbox = cordon.sandbox.__main__:main"]
            if WINDOWS
            else []
        )
    },
)
