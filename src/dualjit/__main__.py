"""Command line: `python -m dualjit demo` runs the tour."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "demo"
    if command == "demo":
        from .demo import run_demo

        run_demo()
        return 0
    print(f"unknown command {command!r}; try: python -m dualjit demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
