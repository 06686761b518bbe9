"""Operations commands: ``monitor config`` prints the effective configuration, secrets redacted."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import SecretStr

from monitor.commands.pipeline import settings_from
from monitor.settings import Settings

REDACTED = "**********"


def _env_rows(model: Any, prefix: str) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == "kafka_bootstrap_shorthand":
            continue
        key = f"{prefix}{name.upper()}"
        if hasattr(type(value), "model_fields"):
            rows += _env_rows(value, key + "__")
        elif isinstance(value, SecretStr):
            rows.append((key, REDACTED))
        else:
            rows.append((key, value))
    return rows


def effective_config(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-able data; every SecretStr appears as ``**********``."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["backend"] = settings.backend
    data["kafka"]["bootstrap"] = settings.bootstrap
    return data


def cmd_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.env:
        for key, value in _env_rows(settings, "MONITOR_"):
            if key == "MONITOR_KAFKA__BOOTSTRAP":
                value = settings.bootstrap
            shown = "" if value is None else (json.dumps(value) if isinstance(value, list | dict) else str(value))
            sys.stdout.write(f"{key}={shown}\n")
    else:
        sys.stdout.write(json.dumps(effective_config(settings), indent=2, sort_keys=True) + "\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="print the effective configuration (secrets redacted)")
    p.add_argument("--env", action="store_true", help="as MONITOR_* environment variables instead of JSON")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    p.add_argument("--db", metavar="PATH", help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_config)
