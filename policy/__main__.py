"""``execpolicy`` / ``python -m policy``: the command-line entry point."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from policy.cli import app

    app(args=argv if argv is not None else sys.argv[1:], prog_name="execpolicy")


if __name__ == "__main__":
    main()
