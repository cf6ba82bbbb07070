"""The warehouse query guard: one read-only SELECT per request, refused otherwise with a reason.

The database role :data:`salespulse.adhoc.warehouse_sql.READER_ROLE` (SELECT on the warehouse
schema only, READ ONLY transaction, statement timeout) is what actually guarantees that staff
SQL cannot change anything.  This module exists for the messages: it tells a user *why* a
statement will not run ("DELETE is a write", "2 statements") before the database says
"permission denied".

It is pure and lexes SQL exactly the way PostgreSQL does where it matters for splitting
statements and finding keywords: ``--`` and nested ``/* */`` comments, standard strings (no
backslash escapes: the reader connection forces ``standard_conforming_strings=on`` so both
agree), ``E''`` strings (backslash escapes), ``U&''``/``B''``/``X''``/``N''`` strings, dollar
quoting (``$tag$ ... $tag$``) and double-quoted identifiers.  A tokenizer rather than regular
expressions on raw text: a ``;`` or ``DELETE`` inside a string or comment must not count, and
one smuggled inside a construct that only *looks* like a string to a naive scanner must.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SQL_CHARS = 20_000

WRITE = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "UPSERT", "REPLACE"})
DDL = frozenset(
    {
        "CREATE",
        "ALTER",
        "DROP",
        "COMMENT",
        "GRANT",
        "REVOKE",
        "REINDEX",
        "CLUSTER",
        "VACUUM",
        "ANALYZE",
        "ANALYSE",
        "REFRESH",
        "SECURITY",
        "IMPORT",
        "REASSIGN",
    }
)
DATA_TRANSFER = frozenset({"COPY", "UNLOAD", "LOAD"})
SESSION = frozenset(
    {
        "SET",
        "RESET",
        "DISCARD",
        "LISTEN",
        "NOTIFY",
        "UNLISTEN",
        "LOCK",
        "PREPARE",
        "EXECUTE",
        "DEALLOCATE",
        "DECLARE",
        "FETCH",
        "MOVE",
        "CLOSE",
        "DO",
        "CALL",
    }
)
TRANSACTION = frozenset(
    {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "CHECKPOINT"}
)
ALLOWED_FIRST = frozenset({"SELECT", "WITH"})

#: Functions that change server or session state, touch files, or run SQL text of their own
#: (which would slip past the one-statement rule).  Matched on the name before ``(``.
DENIED_FUNCTIONS = frozenset(
    {
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_notify",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_logical_emit_message",
        "pg_promote",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
    }
)
DENIED_FUNCTION_PREFIXES = (
    "lo_",
    "dblink",
    "pg_advisory",
    "pg_try_advisory",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_import_",
)

_EXPONENT = re.compile(r"[0-9_.]+[eE]")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")


class QueryRefused(ValueError):
    """A query the Explore page will not run; ``code`` is stable, the message is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: ``word``, ``ident`` (double-quoted), ``string``, ``number``, ``op``, ``;``."""

    kind: str
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _is_ident_start(c: str) -> bool:
    return c.isalpha() or c == "_" or ord(c) >= 0x80


def _is_ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) >= 0x80


def _scan_quoted(sql: str, i: int, quote: str, *, backslash: bool, what: str) -> int:
    """End index (exclusive) of a quoted literal opening at ``sql[i]``; doubled quotes escape."""
    j = i + 1
    n = len(sql)
    while j < n:
        c = sql[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    raise QueryRefused("unterminated", f"unterminated {what} starting at character {i + 1}")


def _scan_block_comment(sql: str, i: int) -> int:
    """End of a ``/* */`` comment; PostgreSQL nests them, so must we."""
    depth, j, n = 0, i, len(sql)
    while j < n:
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise QueryRefused("unterminated", f"unterminated /* comment starting at character {i + 1}")


def _scan_number(sql: str, i: int) -> int:
    j, n = i, len(sql)
    while j < n:
        c = sql[j]
        if c.isalnum() or c in "._" or (c in "+-" and _EXPONENT.fullmatch(sql, i, j)):
            j += 1
        else:
            break
    return j


def tokenize(sql: str) -> list[Token]:
    """Tokens of ``sql`` with comments and whitespace dropped; unterminated literals are refused."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            i = _scan_block_comment(sql, i)
        elif c == "'":
            end = _scan_quoted(sql, i, "'", backslash=False, what="string literal")
            tokens.append(Token("string", sql[i:end], i, end))
            i = end
        elif c == '"':
            end = _scan_quoted(sql, i, '"', backslash=False, what="quoted identifier")
            tokens.append(Token("ident", sql[i + 1 : end - 1].replace('""', '"'), i, end))
            i = end
        elif c == "$" and (m := _DOLLAR_TAG.match(sql, i)):
            close = sql.find(m.group(0), m.end())
            if close < 0:
                raise QueryRefused("unterminated", f"unterminated dollar-quoted string at character {i + 1}")
            end = close + len(m.group(0))
            tokens.append(Token("string", sql[i:end], i, end))
            i = end
        elif _is_ident_start(c):
            j = i + 1
            while j < n and _is_ident_char(sql[j]):
                j += 1
            word = sql[i:j]
            nxt = sql[j : j + 2]
            if word in ("E", "e") and nxt[:1] == "'":
                end = _scan_quoted(sql, j, "'", backslash=True, what="escape string literal")
                tokens.append(Token("string", sql[i:end], i, end))
            elif word in ("B", "b", "X", "x", "N", "n") and nxt[:1] == "'":
                end = _scan_quoted(sql, j, "'", backslash=False, what="string literal")
                tokens.append(Token("string", sql[i:end], i, end))
            elif word in ("U", "u") and nxt in ("&'", '&"'):
                quote = nxt[1]
                what = "string literal" if quote == "'" else "quoted identifier"
                end = _scan_quoted(sql, j + 1, quote, backslash=False, what=what)
                kind = "string" if quote == "'" else "ident"
                tokens.append(Token(kind, sql[i:end], i, end))
            else:
                tokens.append(Token("word", word, i, j))
                end = j
            i = end
        elif c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit()):
            end = _scan_number(sql, i)
            tokens.append(Token("number", sql[i:end], i, end))
            i = end
        elif c == ";":
            tokens.append(Token(";", c, i, i + 1))
            i += 1
        else:
            tokens.append(Token("op", c, i, i + 1))
            i += 1
    return tokens


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    """Non-empty statements, split at top-level ``;`` (strings and comments already folded)."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _first_word(statement: list[Token]) -> Token | None:
    for token in statement:
        if token.kind == "op" and token.text == "(":
            continue
        return token
    return None


def _refuse_first(word: str) -> QueryRefused:
    w = word.upper()
    if w in WRITE:
        return QueryRefused("write", f"{w} is a write: the Explore page only runs SELECT queries")
    if w in DDL:
        return QueryRefused(
            "ddl", f"{w} is DDL or maintenance (it changes the database): only SELECT queries run here"
        )
    if w in DATA_TRANSFER:
        return QueryRefused("copy", f"{w} moves data in or out of the server: only SELECT queries run here")
    if w in SESSION:
        return QueryRefused("session", f"{w} changes session or server state: only SELECT queries run here")
    if w in TRANSACTION:
        return QueryRefused(
            "transaction",
            f"{w} controls transactions: each query already runs in its own read-only transaction",
        )
    if w == "EXPLAIN":
        return QueryRefused(
            "explain", "EXPLAIN is not offered (EXPLAIN ANALYZE would execute its statement): run the SELECT"
        )
    return QueryRefused("not_select", f"only SELECT or WITH queries run here, not {word!r}")


def _check_body(statement: list[Token]) -> None:
    """Refuse writes nested in a query (data-modifying WITH, SELECT INTO, row locks, state functions)."""
    for k, token in enumerate(statement):
        nxt = statement[k + 1] if k + 1 < len(statement) else None
        if token.kind == "word":
            w = token.upper
            if w in ("INSERT", "UPDATE", "DELETE", "MERGE"):
                if w == "UPDATE" and k > 0 and statement[k - 1].upper in ("FOR", "KEY"):
                    raise QueryRefused("locking", "FOR UPDATE locks rows: read-only queries cannot lock")
                raise QueryRefused(
                    "write", f"{w} inside the query is a write (data-modifying WITH): only reads run here"
                )
            if w == "INTO":
                raise QueryRefused("select_into", "SELECT ... INTO creates a table: only reads run here")
            if w == "FOR" and nxt is not None and nxt.upper in ("SHARE", "KEY", "NO"):
                raise QueryRefused("locking", "FOR SHARE locks rows: read-only queries cannot lock")
        if token.kind in ("word", "ident") and nxt is not None and nxt.text == "(":
            name = token.text if token.kind == "ident" else token.text.lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_FUNCTION_PREFIXES):
                raise QueryRefused(
                    "function",
                    f"{name}() is not allowed: it changes server or session state or runs SQL of its own",
                )


def check_readonly_sql(sql: str, *, max_chars: int = MAX_SQL_CHARS) -> str:
    """The single read-only statement in ``sql`` (trailing ``;`` and comments removed), or raise.

    Raises :class:`QueryRefused` naming why: empty, too long, unterminated literal, more than
    one statement, not a SELECT/WITH, a write/DDL/COPY/SET/transaction statement, a write
    nested inside the query, a row lock, or a state-changing function.
    """
    if "\x00" in sql:
        raise QueryRefused("invalid", "the query contains a NUL character")
    if len(sql) > max_chars:
        raise QueryRefused("too_long", f"the query is {len(sql)} characters long; the limit is {max_chars}")
    statements = split_statements(tokenize(sql))
    if not statements:
        raise QueryRefused("empty", "empty query: write one SELECT statement")
    if len(statements) > 1:
        firsts = ", ".join(_first_word(s).text.upper() for s in statements if _first_word(s))  # type: ignore[union-attr]
        raise QueryRefused(
            "multiple_statements",
            f"one statement per request: found {len(statements)} separated by ';' ({firsts})",
        )
    statement = statements[0]
    first = _first_word(statement)
    if first is None or first.kind != "word" or first.upper not in ALLOWED_FIRST:
        raise _refuse_first(first.text if first else "(")
    _check_body(statement)
    return sql[statement[0].start : statement[-1].end]
