"""``salespulse/cdc/schema.sql`` and the Django ``shop`` models describe the same tables.

Both are applied to one fresh database, in two schemas (the Django migrations
in a subprocess, so this test never configures Django in the test process),
and the catalogues are compared: columns with types, nullability and defaults,
check and unique constraints, and the replica identity CDC depends on.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2

from salespulse.cdc import mapping, source

DJANGO_DIR = Path(__file__).resolve().parents[2] / "django_app"
MIGRATE = """
import sys
from urllib.parse import unquote, urlsplit
import django
from django.conf import settings
from django.core.management import call_command
url = urlsplit(sys.argv[1])
settings.configure(
    INSTALLED_APPS=["shop"],
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": url.path.lstrip("/"),
        "USER": unquote(url.username or ""), "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname, "PORT": url.port, "OPTIONS": {"options": "-c search_path=dj"},
    }},
)
django.setup()
call_command("migrate", "shop", verbosity=0)
call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0)
"""


def catalogue(cur, schema: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    cur.execute(
        "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, "
        "numeric_scale, is_nullable, column_default, is_identity FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name LIKE 'shop\\_%%' ORDER BY 1, 2",
        (schema,),
    )
    columns = cur.fetchall()
    cur.execute(
        "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND k.contype IN ('c', 'u') AND c.relname LIKE 'shop\\_%%'",
        (schema,),
    )
    # Django names its single-column UNIQUE constraints with a hash; compare definitions only.
    checks = sorted((t, name, d) for t, name, kind, d in cur.fetchall() if kind == "c")
    cur.execute(
        "SELECT c.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND k.contype IN ('u', 'f') AND c.relname LIKE 'shop\\_%%'",
        (schema,),
    )
    keys = sorted((t, d.replace(f"{schema}.", "")) for t, d in cur.fetchall())  # unqualified
    cur.execute(
        "SELECT c.relname, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE 'shop\\_%%' ORDER BY 1",
        (schema,),
    )
    identity = cur.fetchall()
    return {"columns": columns, "checks": checks, "keys": keys, "identity": identity}


def test_schema_sql_matches_the_django_models(stack) -> None:  # type: ignore[no-untyped-def]
    database = f"{stack.database_url.rsplit('/', 1)[1]}_schema_{uuid.uuid4().hex[:6]}"
    url = stack.database_url.rsplit("/", 1)[0] + "/" + database
    admin = psycopg2.connect(stack.database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{database}"')
    try:
        with contextlib.closing(source.connect(url)) as conn, conn.cursor() as cur:
            cur.execute("CREATE SCHEMA ddl; CREATE SCHEMA dj; SET search_path = ddl")
            source.apply_schema(conn)
            run = subprocess.run(
                [sys.executable, "-c", MIGRATE, url],
                cwd=DJANGO_DIR,
                env={**stack.env, "PYTHONPATH": str(DJANGO_DIR)},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, run.stderr[-3000:]
            ddl, dj = catalogue(cur, "ddl"), catalogue(cur, "dj")
        assert {t for t, *_ in ddl["columns"]} == set(mapping.SHOP_TABLES)  # type: ignore[union-attr]
        for part in ("columns", "checks", "keys", "identity"):
            assert ddl[part] == dj[part], part
        assert dict(ddl["identity"])["shop_orderline"] == "f"  # type: ignore[call-overload]
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
