"""The warehouse query guard: exactly one read-only statement, refusals that name why."""

from __future__ import annotations

import pytest

from salespulse.adhoc.guard import MAX_SQL_CHARS, QueryRefused, check_readonly_sql, tokenize


@pytest.mark.parametrize(
    ("sql", "statement"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  select 1 ;;  ", "select 1"),
        ("SELECT 1; -- trailing comment", "SELECT 1"),
        ("/* lead */ WITH a AS (SELECT 1 AS x) SELECT x FROM a", "WITH a AS (SELECT 1 AS x) SELECT x FROM a"),
        ("(SELECT 1) UNION ALL (SELECT 2)", "(SELECT 1) UNION ALL (SELECT 2)"),
        ("SELECT 'it''s; DROP TABLE x' AS s", "SELECT 'it''s; DROP TABLE x' AS s"),
        ("SELECT E'a\\'; DELETE FROM t; --'", "SELECT E'a\\'; DELETE FROM t; --'"),
        ("SELECT $$;DELETE FROM t;$$", "SELECT $$;DELETE FROM t;$$"),
        ("SELECT $x$ $$ ; $x$", "SELECT $x$ $$ ; $x$"),
        ('SELECT "update", "delete;" FROM t', 'SELECT "update", "delete;" FROM t'),
        ("SELECT 1 /* /* nested */ ; DROP TABLE t */", "SELECT 1"),
        ("SELECT last_update, inserted_at FROM t", "SELECT last_update, inserted_at FROM t"),
        ("SELECT substring('abc' FROM 1 FOR 2), 1e-3, .5", "SELECT substring('abc' FROM 1 FOR 2), 1e-3, .5"),
        ("SELECT pg_sleep(0.1)", "SELECT pg_sleep(0.1)"),
        ("SELECT U&'d\\0061t' AS u, x'1F' AS b", "SELECT U&'d\\0061t' AS u, x'1F' AS b"),
    ],
)
def test_single_reads_pass_and_come_back_trimmed(sql: str, statement: str) -> None:
    assert check_readonly_sql(sql) == statement


@pytest.mark.parametrize(
    ("sql", "code", "words"),
    [
        ("INSERT INTO t VALUES (1)", "write", "INSERT is a write"),
        ("update t set x = 1", "write", "UPDATE is a write"),
        ("DELETE FROM t", "write", "DELETE is a write"),
        ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "write", "MERGE is a write"),
        ("TRUNCATE t", "write", "TRUNCATE is a write"),
        ("CREATE TABLE t (x int)", "ddl", "CREATE is DDL"),
        ("ALTER TABLE t ADD COLUMN y int", "ddl", "ALTER is DDL"),
        ("DROP TABLE t", "ddl", "DROP is DDL"),
        ("GRANT SELECT ON t TO PUBLIC", "ddl", "GRANT is DDL"),
        ("VACUUM t", "ddl", "VACUUM is DDL"),
        ("COPY t TO '/tmp/x'", "copy", "COPY moves data"),
        ("SET statement_timeout = 0", "session", "SET changes session"),
        ("RESET ALL", "session", "RESET changes session"),
        ("DO $$ BEGIN END $$", "session", "DO changes session"),
        ("BEGIN", "transaction", "BEGIN controls transactions"),
        ("COMMIT", "transaction", "COMMIT controls transactions"),
        ("EXPLAIN ANALYZE DELETE FROM t", "explain", "EXPLAIN is not offered"),
        ("SHOW search_path", "not_select", "only SELECT or WITH"),
        ("VALUES (1)", "not_select", "only SELECT or WITH"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "write", "DELETE inside the query"),
        ("WITH u AS (UPDATE t SET x = 1 RETURNING x) SELECT 1", "write", "UPDATE inside the query"),
        ("SELECT * INTO new_t FROM t", "select_into", "SELECT ... INTO creates a table"),
        ("SELECT * FROM t FOR UPDATE", "locking", "FOR UPDATE locks rows"),
        ("SELECT * FROM t FOR NO KEY UPDATE", "locking", "locks rows"),
        ("SELECT * FROM t FOR SHARE", "locking", "FOR SHARE locks rows"),
        ("SELECT set_config('statement_timeout', '0', false)", "function", "set_config() is not allowed"),
        ("SELECT pg_catalog.pg_terminate_backend(1)", "function", "pg_terminate_backend() is not allowed"),
        ("SELECT query_to_xml('DELETE FROM t', true, true, '')", "function", "query_to_xml()"),
        ("SELECT lo_import('/etc/passwd')", "function", "lo_import()"),
        ("SELECT nextval('s')", "function", "nextval()"),
        ("", "empty", "empty query"),
        (" ;; -- nothing\n /* at all */ ", "empty", "empty query"),
        ("SELECT 'open", "unterminated", "unterminated string literal starting at character 8"),
        ("SELECT 1 /* open /* */", "unterminated", "unterminated /* comment"),
        ("SELECT $a$ open", "unterminated", "unterminated dollar-quoted string"),
        ('SELECT "open', "unterminated", "unterminated quoted identifier"),
        ("SELECT 1\x00", "invalid", "NUL"),
    ],
)
def test_refusals_name_the_reason(sql: str, code: str, words: str) -> None:
    with pytest.raises(QueryRefused) as refused:
        check_readonly_sql(sql)
    assert refused.value.code == code
    assert words in refused.value.message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP TABLE t",
        "SELECT 1 /* hidden? */; DELETE FROM t",
        "SELECT 1; -- looks like a comment\nDROP TABLE t",
        "SELECT 1 --\n;DROP TABLE t",
        # Without E the backslash is an ordinary character: the string ends at \' and the ; splits.
        "SELECT 'a\\'; DELETE FROM t; --'",
        "SELECT $a$ $$ ; $a$; DROP TABLE t",
        'SELECT "x;"; DROP TABLE t',
    ],
)
def test_multiple_statements_are_refused_including_comment_smuggling(sql: str) -> None:
    with pytest.raises(QueryRefused) as refused:
        check_readonly_sql(sql)
    assert refused.value.code == "multiple_statements"
    assert "one statement per request: found 2" in refused.value.message


def test_comment_hides_the_real_first_keyword_but_not_from_the_guard() -> None:
    with pytest.raises(QueryRefused) as refused:
        check_readonly_sql("/* SELECT */ DELETE FROM t")
    assert refused.value.code == "write"
    with pytest.raises(QueryRefused) as refused:
        check_readonly_sql("-- SELECT 1\nDROP TABLE t")
    assert refused.value.code == "ddl"


def test_long_queries_are_refused_before_lexing() -> None:
    sql = "SELECT " + "1 + " * (MAX_SQL_CHARS // 4) + "1"
    with pytest.raises(QueryRefused) as refused:
        check_readonly_sql(sql)
    assert refused.value.code == "too_long"
    assert f"the limit is {MAX_SQL_CHARS}" in refused.value.message
    assert check_readonly_sql("SELECT 1", max_chars=8) == "SELECT 1"


def test_tokens_fold_strings_identifiers_and_comments() -> None:
    tokens = tokenize('SELECT "a""b", \'x;y\' -- c\n, $t$z$t$ /* d */ FROM t;')
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "SELECT"),
        ("ident", 'a"b'),
        ("op", ","),
        ("string", "'x;y'"),
        ("op", ","),
        ("string", "$t$z$t$"),
        ("word", "FROM"),
        ("word", "t"),
        (";", ";"),
    ]
