"""The ``monitor`` command line: the edge where settings are built and errors become exit codes.

Each command group lives next to the part it drives and registers itself here through
``register(subparsers)``; this module only assembles them and maps errors to exit codes:
0 success, 1 a check found differences, 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from monitor.errors import ConfigError, InputError, MonitorError

# Modules that contribute sub-commands, each with ``register(subparsers) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "monitor.commands.pipeline",
    "monitor.commands.evaluate",
    "monitor.commands.ops",
    "monitor.commands.deliver",
    "monitor.commands.scrape",
    "monitor.commands.replay",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch what political actors say and alert when they change their stance.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (InputError, ConfigError) as exc:
        print(f"monitor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"monitor {args.command}: error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `monitor alerts | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
