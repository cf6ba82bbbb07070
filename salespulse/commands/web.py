"""``salespulse web``: the web app (REST API, dashboards, live WebSocket) on daphne.

Applies Django's migrations when some are pending, starts the live relay
(Redis update channel -> Channels group) beside the server unless told not
to, then runs daphne in the foreground.  Django lives in ``django_app/``;
both children run with it as their working directory, which is what puts
its packages on the import path (no path manipulation here).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from salespulse.settings import get_settings

DEFAULT_SETTINGS = "config.settings.local"


def django_dir() -> Path:
    return get_settings().home / "django_app"


def django_env(settings_module: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", settings_module or DEFAULT_SETTINGS)
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    return env


def manage(*args: str, settings_module: str | None = None) -> list[str]:
    return [sys.executable, str(django_dir() / "manage.py"), *args]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "web",
        help="run the web app (API, dashboards, live page) with daphne on 127.0.0.1:8000",
        description=(
            "Migrate Django's tables if needed, start the live relay, and serve the ASGI app "
            "with daphne. Create users with `salespulse web --create-demo-users` or "
            "`python django_app/manage.py createsuperuser`."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument(
        "--settings", default=None, help=f"Django settings module (default {DEFAULT_SETTINGS})"
    )
    parser.add_argument("--no-relay", action="store_true", help="do not start the live relay")
    parser.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations")
    parser.add_argument(
        "--create-demo-users",
        action="store_true",
        help="create/refresh the demo users 'analyst' and 'staff' (password: $SALESPULSE_DEMO_PASSWORD)",
    )
    parser.set_defaults(func=run)


def _terminate_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so the children are stopped, not orphaned."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    _terminate_on_sigterm()
    cwd, env = django_dir(), django_env(args.settings)
    if not args.no_migrate:
        subprocess.run(manage("migrate", "--noinput"), cwd=cwd, env=env, check=True)
    if args.create_demo_users:
        subprocess.run(manage("create_demo_users"), cwd=cwd, env=env, check=True)
    relay = None
    if not args.no_relay:
        relay = subprocess.Popen(manage("relay"), cwd=cwd, env=env)
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", args.host, "-p", str(args.port), "config.asgi:application"],
        cwd=cwd,
        env=env,
    )
    print(f"SalesPulse web app on http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in (server, relay):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
