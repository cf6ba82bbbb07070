"""``salespulse airflow up|down|status|env``: Airflow 3 on the local stack (logic in ``airflow_local``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from salespulse.airflow_local import DEFAULT_PORT, START_TIMEOUT_S, AirflowError, AirflowLocal


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "airflow",
        help="run Airflow 3 (scheduler, DAG processor, triggerer, API server) for the local stack",
        description=(
            "Run the Airflow components that `airflow standalone` runs, in the background: "
            "AIRFLOW_HOME under data/airflow, SQLite metadata there, the repository's airflow/dags, "
            "no example DAGs, UI and API on 127.0.0.1:8080, an admin login generated once."
        ),
    )
    parser.add_argument("--home", type=Path, help="AIRFLOW_HOME (default: $SALESPULSE_DATA_DIR/airflow)")
    parser.add_argument("--port", type=int, help=f"API server and UI port (default {DEFAULT_PORT})")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start what is not running; wait until healthy; print the login")
    up.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        help="seconds to wait for health (default %(default)s)",
    )
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the components `up` started (metadata and logs kept)")
    down.set_defaults(func=_down)
    status = actions.add_parser("status", help="pid and health of each component, and the login")
    status.set_defaults(func=_status)
    env = actions.add_parser(
        "env", help="print `export` lines so the `airflow` CLI talks to this installation"
    )
    env.set_defaults(func=_env)


def _local(args: argparse.Namespace) -> AirflowLocal:
    return AirflowLocal.from_settings(home=args.home, port=args.port)


def _up(args: argparse.Namespace) -> int:
    local = _local(args)
    try:
        login, seconds = local.up(timeout=args.timeout)
    except AirflowError as exc:
        print(f"salespulse airflow up: {exc}", file=sys.stderr)
        return 1
    for st in local.status():
        print(st.line())
    print(f"Airflow is healthy after {seconds:.1f}s (home {local.home}, logs {local.logs_dir})")
    print(login.line())
    print(
        "DAG salespulse_nightly starts paused; unpaused, it runs the latest 02:00 UTC slot, then nightly. "
        'Trigger with {"mode": "full"} for a full rebuild.'
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = _local(args).down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _status(args: argparse.Namespace) -> int:
    local = _local(args)
    statuses = local.status()
    for st in statuses:
        print(st.line())
    healthy = all(st.pid and st.health == "healthy" for st in statuses if st.name != "api-server")
    if all(st.pid for st in statuses):
        print(local.login().line())
    return 0 if healthy and local.health() else 1


def _env(args: argparse.Namespace) -> int:
    local = _local(args)
    lines = [
        f"export {key}={shlex.quote(value)}"
        for key, value in sorted(local.env(base={}).items())
        if key.startswith("AIRFLOW") and "SECRET" not in key  # secrets stay in their 0600 file
    ]
    print("\n".join(lines))
    return 0
