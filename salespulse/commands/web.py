"""``salespulse web``: the web app (REST API, dashboards, live WebSocket) on daphne.

Applies Django's migrations when some are pending, starts the live relay
(Redis update channel -> Channels group) beside the server unless told not
to, then runs daphne in the foreground.

One daphne process is one Python interpreter, i.e. at most one core of
request handling; ``--workers N`` binds N listening sockets here on the same
port with ``SO_REUSEPORT`` and hands one to each daphne process (``daphne
--fd``), so the kernel spreads new connections evenly across them (with one
shared socket, whichever worker is idle first accepts a whole burst of
keep-alive connections and keeps them).  The relay stays single: it
publishes each update once to the Redis channel layer, and every worker's
WebSocket consumers receive it from there.  Django lives in ``django_app/``;
both children run with it as their working directory, which is what puts
its packages on the import path (no path manipulation here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="daphne processes sharing the listening socket (default: number of cores)",
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


def listen_socket(host: str, port: int, backlog: int = 1024, reuse_port: bool = False) -> socket.socket:
    """A bound, listening, inheritable TCP socket for ``daphne --fd`` workers.

    Bound in the parent (no port race between the workers).  With ``reuse_port``
    several such sockets share the port and the kernel balances connections
    across them.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def daphne_commands(host: str, port: int, workers: int, fd: int | None) -> list[list[str]]:
    """The daphne command line of each worker (one plain ``-b/-p`` process when ``workers`` is 1)."""
    app = "config.asgi:application"
    if workers <= 1 or fd is None:
        return [[sys.executable, "-m", "daphne", "-b", host, "-p", str(port), app]]
    return [[sys.executable, "-m", "daphne", "--fd", str(fd), app] for _ in range(workers)]


def start_servers(
    host: str, port: int, workers: int, cwd: Path, env: dict[str, str], **popen: Any
) -> list[subprocess.Popen[bytes]]:
    """Start the daphne worker(s); with several, each gets its own ``SO_REUSEPORT`` socket bound here."""
    if workers <= 1:
        return [subprocess.Popen(daphne_commands(host, port, 1, None)[0], cwd=cwd, env=env, **popen)]
    socks = [listen_socket(host, port, reuse_port=True) for _ in range(workers)]
    try:
        return [
            subprocess.Popen(
                daphne_commands(host, port, workers, sock.fileno())[0],
                cwd=cwd,
                env=env,
                pass_fds=(sock.fileno(),),
                **popen,
            )
            for sock in socks
        ]
    finally:
        for sock in socks:
            sock.close()  # the workers hold their own copies


def wait_first(procs: list[subprocess.Popen[bytes]], poll_s: float = 0.5) -> int:
    """Block until any worker exits and return its code (the caller then stops the rest)."""
    while True:
        for proc in procs:
            code = proc.poll()
            if code is not None:
                return code
        with contextlib.suppress(subprocess.TimeoutExpired):
            procs[0].wait(timeout=poll_s)


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
    servers = start_servers(args.host, args.port, max(1, args.workers), cwd, env)
    print(
        f"SalesPulse web app on http://{args.host}:{args.port}/ "
        f"({len(servers)} daphne worker(s); Ctrl-C to stop)",
        flush=True,
    )
    try:
        return wait_first(servers)
    except KeyboardInterrupt:
        return 0
    finally:
        for child in (*servers, relay):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
