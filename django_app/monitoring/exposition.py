"""Prometheus text exposition format 0.0.4, written by hand.

``prometheus_client`` is not in the lock, and what a scrape needs is small: one ``# HELP`` and one
``# TYPE`` line per metric family, then ``name{label="value"} number`` per sample, with the
format's escaping rules (backslash, double quote and newline in label values; backslash and
newline in help text).  The collectors build :class:`Metric` values; :func:`render` is pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge", "untyped")


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass
class Metric:
    """One metric family: name, type, help, and its samples (none is allowed: "not known yet")."""

    name: str
    type: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not METRIC_NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.type not in TYPES:
            raise ValueError(f"invalid metric type {self.type!r}")

    def add(self, value: float, **labels: str) -> Metric:
        for name in labels:
            if not LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"invalid label name {name!r}")
        self.samples.append(Sample(labels, value))
        return self


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integers without a decimal point (exact counters), floats by ``repr``, and the special values."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def render(metrics: Iterable[Metric]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.type}")
        for sample in metric.samples:
            labels = ""
            if sample.labels:
                inner = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in sample.labels.items())
                labels = "{" + inner + "}"
            lines.append(f"{metric.name}{labels} {format_value(sample.value)}")
    return "\n".join(lines) + "\n"
