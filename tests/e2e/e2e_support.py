"""Names the browser tests and their fixtures share (a uniquely named module: `conftest`
is ambiguous when several test folders have one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django_support import Dataset

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "e2e-password-1"


@dataclass(frozen=True)
class Server:
    url: str
    dataset: Dataset
    catalogue: Any
