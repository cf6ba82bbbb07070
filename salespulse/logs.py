"""One logging set-up for every command: timestamped lines on stderr."""

from __future__ import annotations

import logging

from salespulse.settings import get_settings


def configure(level: str | None = None) -> None:
    logging.basicConfig(
        level=level or get_settings().log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # Client libraries are chatty at INFO; their warnings still show.
    for noisy in ("py4j", "kafka", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
