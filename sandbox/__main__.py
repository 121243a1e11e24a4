"""``sandbox`` / ``python -m sandbox``: the command-line entry point."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    # Import the CLI only when called: `import sandbox` must stay cheap for embedders.
    from sandbox.cli import app

    app(args=argv if argv is not None else sys.argv[1:], prog_name="sandbox")


if __name__ == "__main__":
    main()
