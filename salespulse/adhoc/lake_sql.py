"""Read-only Spark SQL over the lake (the Athena role).

The read-only check asks Spark's own parser: ``sqlParser().parseQuery`` accepts exactly the
grammar rule ``singleQuery`` (one SELECT / WITH / VALUES / TABLE / FROM query), so INSERT, CTAS,
CACHE TABLE, SET, EXPLAIN, scripts and a second statement are syntax errors there.  A
tokenizer of our own would have to track Spark's lexer (backslash escapes in strings, nested
comments, hints) forever; the parser is the lexer.  Queries run in a session where
``reflect``/``java_method`` (static Java calls) are removed and ``runSQLOnFiles`` is off, so
the catalogue's views are the only way to data.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from salespulse.adhoc.guard import (
    DATA_TRANSFER,
    DDL,
    SESSION,
    TRANSACTION,
    WRITE,
    QueryRefused,
    split_statements,
    tokenize,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

#: Built-ins that call arbitrary static Java methods: removed from the ad-hoc session.
REMOVED_FUNCTIONS = ("reflect", "java_method", "try_reflect")
DEFAULT_LIMIT = 1000


def spark_session(app_name: str = "salespulse-adhoc", *, shuffle_partitions: int = 4) -> SparkSession:
    """A local Spark session for ad-hoc queries (2 cores, UTC, no UI, no direct file queries)."""
    from salespulse.java import configure_environment

    configure_environment()
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(os.environ.get("SALESPULSE_SPARK_MASTER", "local[2]"))
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.runSQLOnFiles", "false")
        .config("spark.sql.warehouse.dir", os.path.join(tempfile.gettempdir(), "salespulse-adhoc-warehouse"))
        .config("spark.log.structuredLogging.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    remove_functions(spark)
    return spark


def remove_functions(spark: SparkSession, names: tuple[str, ...] = REMOVED_FUNCTIONS) -> None:
    """Drop built-ins from this session's function registry (other sessions keep theirs)."""
    jvm: Any = spark._jvm  # type: ignore[attr-defined]
    registry = spark._jsparkSession.sessionState().functionRegistry()  # type: ignore[attr-defined]
    some = jvm.scala.Option.apply
    for name in names:
        registry.dropFunction(
            jvm.org.apache.spark.sql.catalyst.FunctionIdentifier.apply(name, some("builtin"), some("system"))
        )


def _first_words(sql: str) -> tuple[list[str], int]:
    """First keyword of each statement and how many there are (best effort, for messages)."""
    try:
        statements = split_statements(tokenize(sql))
    except QueryRefused:
        return [], 1
    firsts = [next((t.upper for t in s if t.text != "("), "") for s in statements]
    return firsts, len(statements)


def refusal(sql: str, parser_message: str) -> QueryRefused:
    """Why Spark's parser did not take ``sql`` as a query, in words (pure)."""
    firsts, count = _first_words(sql)
    first = firsts[0] if firsts else ""
    tail = "`salespulse sql` runs one read-only query (SELECT or WITH) over the lake"
    if count > 1:
        return QueryRefused("multiple_statements", f"one query per call: found {count} statements; {tail}")
    if first in WRITE or first in DATA_TRANSFER or first == "CACHE":
        return QueryRefused("write", f"{first} is a write: {tail}")
    if first in DDL or first in ("USE", "MSCK", "UNCACHE", "ADD", "REFRESH"):
        return QueryRefused("ddl", f"{first} changes the catalogue or files: {tail}")
    if first in SESSION or first in TRANSACTION:
        return QueryRefused("session", f"{first} changes the session: {tail}")
    if first in ("EXPLAIN", "DESCRIBE", "DESC", "SHOW"):
        return QueryRefused("not_select", f"{first} is not a query: {tail} (see `salespulse catalog`)")
    detail = parser_message.strip().splitlines()[0] if parser_message.strip() else "syntax error"
    return QueryRefused("syntax", f"not a query Spark can parse: {detail}")


def check_lake_query(spark: SparkSession, sql: str) -> str:
    """``sql`` without trailing ``;`` if Spark parses it as exactly one query; else raise."""
    from pyspark.errors import ParseException

    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise QueryRefused("empty", "empty query: write one SELECT statement")
    parser = spark._jsparkSession.sessionState().sqlParser()  # type: ignore[attr-defined]
    try:
        parser.parseQuery(text)
    except ParseException as exc:
        raise refusal(text, exc.getMessage() or str(exc)) from None
    return text


@dataclass(frozen=True, slots=True)
class LakeResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


def run_lake_query(spark: SparkSession, sql: str, *, limit: int = DEFAULT_LIMIT) -> LakeResult:
    """Run one read-only query over the registered views; at most ``limit`` rows come back.

    Rows travel through Arrow, so timestamps stay UTC (``collect()`` would shift them into the
    Python process's local zone).
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    query = check_lake_query(spark, sql)
    table: pa.Table = spark.sql(query).limit(limit + 1).toArrow()
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = list(zip(*columns, strict=True)) if columns else []
    return LakeResult(list(table.column_names), rows[:limit], len(rows) > limit)
