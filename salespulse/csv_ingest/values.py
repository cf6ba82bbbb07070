"""Pure parsers of one messy CSV cell each: numbers, money, discounts, dates, ids.

Each returns ``(value, None)`` or ``(None, reason)``.  A reason is the text an
operator reads in the quarantine file, so it names the field and quotes the
value.  Nothing is ever defaulted: an empty required cell is a rejection, not
a zero or today.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from salespulse.events import MAX_ID_LENGTH, MAX_QUANTITY, MAX_UNIT_PRICE_CENTS, to_epoch_ms

#: Characters that group thousands besides "," and ".": space, NBSP, narrow NBSP, apostrophes.
_GROUPING = (" ", "\u00a0", "\u202f", "'", "\u2019")
#: Currency decorations around an amount.
_CURRENCY_RE = re.compile(r"^(?:[A-Za-z]{3}|[$€£¥])?\s*(.*?)\s*(?:[A-Za-z]{3}|[$€£¥])?$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?$")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_TIME = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
#: (pattern, order of year/month/day groups) for the non-ISO formats.
_DATE_FORMATS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})" + _TIME + "$"), "ymd"),  # YYYY/MM/DD
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME + "$"), "mdy"),  # MM/DD/YYYY
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME + "$"), "dmy"),  # DD.MM.YYYY
    (re.compile(r"^(\d{1,2})[- ]([A-Za-z]{3,9})\.?[- ](\d{4})" + _TIME + "$"), "dMy"),  # DD-Mon-YYYY
)


def _grouped(integer: str, sep: str) -> str | None:
    """``"1,234,567"`` -> ``"1234567"`` if the groups are well formed (1-3 digits, then threes)."""
    groups = integer.split(sep)
    if not groups[0].isdigit() or len(groups[0]) > 3:
        return None
    if any(len(g) != 3 or not g.isdigit() for g in groups[1:]):
        return None
    return "".join(groups)


def decimal_separator(values: list[str]) -> str:
    """The decimal separator a file uses, judged from its amount cells: ``","`` or ``"."``.

    A file is decimal-comma when some amount has an unambiguous decimal comma
    (``12,5``, ``12,50``, ``1.234,50``) and none an unambiguous decimal point.
    ``1,234`` alone is ambiguous and decides nothing.
    """
    comma = point = False
    for raw in values:
        text = raw.strip()
        if re.search(r"\d,\d{1,2}$", text) or re.search(r"\.\d{3},\d+$", text):
            comma = True
        elif re.search(r"\d\.\d{1,2}$", text) or re.search(r",\d{3}\.\d+$", text):
            point = True
    return "," if comma and not point else "."


def normalise_number(text: str, decimal_sep: str = ".") -> str | None:
    """A human-written number -> plain ``[-]digits[.digits]`` text, or None if it is not one.

    Handles currency signs and codes, thousands separators (``,`` ``.`` space,
    NBSP, apostrophe), decimal commas and accounting negatives ``(12.50)``.
    When both ``,`` and ``.`` appear the last one is the decimal separator; a
    single separator followed by exactly three digits is a thousands separator
    unless it is the file's ``decimal_sep``.
    """
    s = text.strip()
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    m = _CURRENCY_RE.match(s)
    s = m.group(1) if m else s
    if s and s[0] in "+-":
        negative, s = negative or s[0] == "-", s[1:].strip()
    for g in _GROUPING:
        if g in s:
            parts = s.split(g)
            if not all(p for p in parts) or any(len(p.split(",")[0].split(".")[0]) != 3 for p in parts[1:]):
                return None
            s = "".join(parts)
    if not s:
        return None
    has_comma, has_point = "," in s, "." in s
    if has_comma and has_point:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if dec == "," else ","
        head, _, frac = s.rpartition(dec)
        whole = _grouped(head, thousands) if thousands in head else head
        if whole is None or not frac.isdigit():
            return None
        s = f"{whole}.{frac}"
    elif has_comma or has_point:
        sep = "," if has_comma else "."
        parts = s.split(sep)
        single_three = len(parts) == 2 and len(parts[1]) == 3
        if len(parts) > 2 or (single_three and sep != decimal_sep):
            grouped = _grouped(s, sep)
            if grouped is None:
                return None
            s = grouped
        else:
            s = f"{parts[0] or '0'}.{parts[1]}"
    if not _NUMBER_RE.match(s):
        return None
    return f"-{s}" if negative else s


def parse_quantity(text: str, decimal_sep: str = ".") -> tuple[int | None, str | None]:
    raw = text.strip()
    if not raw:
        return None, "missing quantity"
    number = normalise_number(raw, decimal_sep)
    if number is None:
        return None, f"quantity is not a positive integer: {raw!r}"
    value = Decimal(number)
    if value != value.to_integral_value() or value <= 0:
        return None, f"quantity is not a positive integer: {raw!r}"
    if value > MAX_QUANTITY:
        return None, f"quantity above {MAX_QUANTITY}: {raw!r}"
    return int(value), None


def parse_price_cents(text: str, decimal_sep: str = ".") -> tuple[int | None, str | None]:
    raw = text.strip()
    if not raw:
        return None, "missing unit price"
    number = normalise_number(raw, decimal_sep)
    if number is None:
        return None, f"unit price is not a number: {raw!r}"
    if number.startswith("-"):
        return None, f"unit price is negative: {raw!r}"
    value = Decimal(number)
    cents = value * 100
    if cents != cents.to_integral_value():
        return None, f"unit price has more than 2 decimal places: {raw!r}"
    if cents > MAX_UNIT_PRICE_CENTS:
        return None, f"unit price implausibly large: {raw!r}"
    return int(cents), None


def parse_discount_bp(text: str, decimal_sep: str = ".") -> tuple[int | None, str | None]:
    """Optional discount: empty -> 0; ``0.15``, ``15%`` and ``15`` (a percentage above 1) -> 1500 bp."""
    raw = text.strip()
    if not raw:
        return 0, None
    percent = raw.endswith("%")
    number = normalise_number(raw.rstrip("%"), decimal_sep)
    if number is None or number.startswith("-"):
        return None, f"discount is not a number in 0..1 or 0..100%: {raw!r}"
    value = Decimal(number)
    fraction = value / 100 if percent or value > 1 else value
    bp = fraction * 10_000
    if fraction > 1 or bp != bp.to_integral_value():
        return None, f"discount is not a number in 0..1 or 0..100% (whole basis points): {raw!r}"
    return int(bp), None


def parse_line_no(text: str) -> tuple[int | None, str | None]:
    """Optional line number: empty -> None (identity by product), else a positive integer."""
    raw = text.strip()
    if not raw:
        return None, None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None, f"line number is not a positive integer: {raw!r}"
    if value != value.to_integral_value() or value <= 0 or value > 2**31 - 1:
        return None, f"line number is not a positive integer: {raw!r}"
    return int(value), None


def clean_id(text: str, what: str) -> tuple[str | None, str | None]:
    """Free-form id, trimmed; empty or over-long ids are rejected."""
    value = text.strip()
    if not value:
        return None, f"missing {what}"
    if len(value) > MAX_ID_LENGTH:
        return None, f"{what} longer than {MAX_ID_LENGTH} characters"
    return value, None


def _from_parts(parts: dict[str, str], time_groups: tuple[str | None, ...]) -> int:
    hh, mm, ss, frac = time_groups
    dt = datetime(
        int(parts["y"]),
        int(parts["m"]),
        int(parts["d"]),
        int(hh or 0),
        int(mm or 0),
        int(ss or 0),
        int((frac or "0").ljust(6, "0")),
        tzinfo=UTC,
    )
    return to_epoch_ms(dt)


def parse_order_time_ms(text: str) -> tuple[int | None, str | None]:
    """Order date -> UTC epoch ms.  A date without a time is midnight UTC of that date.

    Formats: ISO 8601 date or date-time (naive = UTC, offsets converted),
    ``YYYY/MM/DD``, ``MM/DD/YYYY``, ``DD.MM.YYYY`` and ``DD-Mon-YYYY``, each
    optionally followed by ``HH:MM[:SS[.ffffff]]``.
    """
    raw = text.strip()
    if not raw:
        return None, "missing order date"
    bad = f"unparseable order date: {raw!r}"
    if re.match(r"^\d{4}-\d{2}-\d{2}", raw):
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            return None, bad
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        return to_epoch_ms(dt), None
    for pattern, order in _DATE_FORMATS:
        m = pattern.match(raw)
        if not m:
            continue
        a, b, c, *time_groups = m.groups()
        if order == "ymd":
            parts = {"y": a, "m": b, "d": c}
        elif order == "mdy":
            parts = {"y": c, "m": a, "d": b}
        elif order == "dmy":
            parts = {"y": c, "m": b, "d": a}
        else:
            month = _MONTHS.get(b[:3].lower())
            if month is None or (len(b) > 3 and not _full_month(b)):
                return None, bad
            parts = {"y": c, "m": str(month), "d": a}
        try:
            return _from_parts(parts, tuple(time_groups)), None
        except ValueError:
            return None, bad
    return None, bad


def _full_month(name: str) -> bool:
    full = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
            "october", "november", "december")  # fmt: skip
    return name.lower() in full or name.lower() == "sept"
