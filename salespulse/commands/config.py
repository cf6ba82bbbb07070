"""``salespulse config``: every setting, its variable, default and current value."""

from __future__ import annotations

import argparse

from salespulse.services.base import mask
from salespulse.settings import VARIABLES, get_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("config", help="print the configuration (variables, defaults, values)")
    parser.add_argument("--markdown", action="store_true", help="print as a Markdown table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.markdown:
        print("| variable | default | meaning |\n| --- | --- | --- |")
    for field, (var, default, help_text) in VARIABLES.items():
        value = getattr(settings, field)
        shown = mask(str(value)) if value is not None else "(embedded)"
        if args.markdown:
            print(f"| `{var}` | {default or '-'} | {help_text} |")
        else:
            print(f"{var:<26} = {shown:<40} # {help_text}")
    return 0
