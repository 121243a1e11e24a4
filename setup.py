"""Package list for setuptools.

`rules/` lives at the repository root (data anyone can read and diff) but ships inside
the wheel as the data-only package ``policy.shipped_rules``; pyproject.toml cannot map a
directory to a package name while also using package discovery, so it is done here.
"""

import sys
from pathlib import Path

from setuptools import find_packages, setup

DATA = ["*.lark", "*.sb", "*.sbpl", "*.rules", "*.json", "*.toml", "*.txt", "py.typed", "README.md"]

WINDOWS = sys.platform == "win32"
HAS_RULES = (Path(__file__).parent / "rules").is_dir()

setup(
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
