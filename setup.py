"""Package list for setuptools.

`rules/` lives at the repository root (data anyone can read and diff) but ships inside
the wheel as the data-only package ``policy.shipped_rules``; pyproject.toml cannot map a
directory to a package name while also using package discovery, so it is done here.
"""

from pathlib import Path

from setuptools import find_packages, setup

DATA = ["*.lark", "*.sb", "*.sbpl", "*.rules", "*.json", "*.toml", "*.txt", "py.typed", "README.md"]

HAS_RULES = (Path(__file__).parent / "rules").is_dir()

setup(
    packages=[*find_packages(include=["policy*", "sandbox*", "netproxy*"])]
    + (["policy.shipped_rules"] * HAS_RULES),
    package_dir={"policy.shipped_rules": "rules"} if HAS_RULES else {},
    package_data={"": DATA, "policy.shipped_rules": ["*.rules", "README.md"]},
    include_package_data=True,
)
