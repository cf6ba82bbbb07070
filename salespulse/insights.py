"""Quick insights computed on the machine, with NumPy only: nothing is sent anywhere.

Pure functions over a daily revenue series (integer cents, one value per consecutive UTC day)
and over per-member totals; :mod:`salespulse.insights_io` reads those from the warehouse and
Redis.  Every insight is a sentence plus the numbers behind it (:class:`Insight`), so the page,
the API and the CLI say the same thing and a reader can check it.

Methods, chosen to be explainable in one line each:

* week-over-week / month-over-month: the last 7 (28) days against the 7 (28) before.  A
  "month" of 28 days holds every weekday four times, so the weekly rhythm cannot fake a change.
* top movers: largest absolute and relative change of each member between two periods.
* anomalies: the day's revenue against what its weekday and the surrounding level predict
  (weekday factors from medians of ratios to a centred weekly mean, level from a rolling median of
  the weekday-adjusted series), scored by the median absolute deviation of all relative
  residuals.  A Saturday is compared with what a Saturday should be, so the weekly rhythm is
  never an anomaly, and one bad day cannot hide itself by inflating a standard deviation.
* forecast: Holt's linear trend on the weekday-adjusted series, times the weekday factors; the
  interval comes from the quantiles of the method's own past errors at each horizon (a
  rolling-origin backtest over the last weeks), so it is as wide as the method has actually
  been wrong, not as wide as a textbook assumption.
* alerts: thresholds on the live stream (revenue per minute, dead-letter rate).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution x this = its standard deviation
WEEK = 7
MONTH = 28


# -- presentation helpers ----------------------------------------------------------------------


def money(cents: int) -> str:
    """``123456`` -> ``$1,234.56`` (exact integer arithmetic)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}${whole:,}.{frac:02d}"


def signed_money(cents: int) -> str:
    return ("+" if cents >= 0 else "") + money(cents)


def percent(ratio: float | None) -> str:
    """``0.0823`` -> ``+8.2%``; ``None`` (no base to compare with) -> ``n/a``."""
    return "n/a" if ratio is None else f"{ratio * 100:+.1f}%"


@dataclass(frozen=True, slots=True)
class Insight:
    """One finding: a sentence and the numbers it was made from (money in cents)."""

    kind: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)
    severity: str = "info"  # info | notice | warning

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# -- the series --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailySeries:
    """Revenue in cents of consecutive days from ``start`` (a missing day is a 0, not a gap)."""

    start: date
    cents: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "cents", np.asarray(self.cents, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.cents)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=len(self) - 1)

    def day(self, i: int) -> date:
        return self.start + timedelta(days=int(i))

    @property
    def weekdays(self) -> np.ndarray:
        """Monday = 0 ... Sunday = 6 of every day."""
        return (self.start.weekday() + np.arange(len(self))) % WEEK

    @classmethod
    def from_mapping(cls, values: Mapping[date, int], start: date, end: date) -> DailySeries:
        """Dense series over ``[start, end]`` from sparse ``{day: cents}`` (missing days = 0)."""
        n = (end - start).days + 1
        cents = np.zeros(max(n, 0), dtype=np.int64)
        for day, value in values.items():
            i = (day - start).days
            if 0 <= i < n:
                cents[i] = int(value)
        return cls(start, cents)


# -- period changes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodChange:
    days: int
    current_start: date
    current_end: date
    previous_start: date
    previous_end: date
    current_cents: int
    previous_cents: int
    change_cents: int
    change_pct: float | None  # None when the previous period had no (or negative) revenue


def period_change(series: DailySeries, days: int) -> PeriodChange | None:
    """The last ``days`` days against the ``days`` before them; ``None`` if the series is shorter."""
    if days < 1 or len(series) < 2 * days:
        return None
    current = int(series.cents[-days:].sum())
    previous = int(series.cents[-2 * days : -days].sum())
    change = current - previous
    n = len(series)
    return PeriodChange(
        days=days,
        current_start=series.day(n - days),
        current_end=series.end,
        previous_start=series.day(n - 2 * days),
        previous_end=series.day(n - days - 1),
        current_cents=current,
        previous_cents=previous,
        change_cents=change,
        change_pct=change / previous if previous > 0 else None,
    )


def week_over_week(series: DailySeries) -> PeriodChange | None:
    return period_change(series, WEEK)


def month_over_month(series: DailySeries) -> PeriodChange | None:
    """28 days against the 28 before: four of each weekday on both sides."""
    return period_change(series, MONTH)


def change_insight(change: PeriodChange, kind: str) -> Insight:
    span = "7 days" if change.days == WEEK else f"{change.days} days"
    direction = "up" if change.change_cents > 0 else "down" if change.change_cents < 0 else "flat"
    pct = (
        f" {abs(change.change_pct) * 100:.1f}%"
        if change.change_pct is not None and direction != "flat"
        else ""
    )
    text = (
        f"Revenue in the {span} to {change.current_end.isoformat()} was {money(change.current_cents)}, "
        f"{direction}{pct} ({signed_money(change.change_cents)}) on the {span} before "
        f"({money(change.previous_cents)})."
    )
    numbers = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(change).items()}
    return Insight(
        kind, text, numbers, "notice" if change.change_pct and abs(change.change_pct) >= 0.2 else "info"
    )


# -- top movers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mover:
    key: str
    label: str
    previous_cents: int
    current_cents: int
    change_cents: int
    change_pct: float | None


@dataclass(frozen=True, slots=True)
class Movers:
    dimension: str
    risers: list[Mover]
    fallers: list[Mover]
    relative_risers: list[Mover]
    relative_fallers: list[Mover]


def top_movers(
    current: Mapping[str, int],
    previous: Mapping[str, int],
    *,
    dimension: str = "book",
    n: int = 3,
    min_base_cents: int = 1,
    labels: Mapping[str, str] | None = None,
) -> Movers:
    """Largest absolute and relative changes between two periods' totals (missing = 0).

    Relative changes only count members with at least ``min_base_cents`` before, so a book
    going from 1 cent to 10 dollars is not "the biggest mover".  Ties break by key, so the
    answer is deterministic.
    """
    labels = labels or {}
    movers = []
    for key in sorted(set(current) | set(previous)):
        cur, prev = int(current.get(key, 0)), int(previous.get(key, 0))
        pct = (cur - prev) / prev if prev >= max(min_base_cents, 1) else None
        movers.append(Mover(key, labels.get(key, key), prev, cur, cur - prev, pct))
    risers = sorted((m for m in movers if m.change_cents > 0), key=lambda m: (-m.change_cents, m.key))
    fallers = sorted((m for m in movers if m.change_cents < 0), key=lambda m: (m.change_cents, m.key))
    rel = [m for m in movers if m.change_pct is not None]
    rel_up = sorted((m for m in rel if m.change_pct > 0), key=lambda m: (-m.change_pct, m.key))  # type: ignore[operator]
    rel_down = sorted((m for m in rel if m.change_pct < 0), key=lambda m: (m.change_pct, m.key))  # type: ignore[operator]
    return Movers(dimension, risers[:n], fallers[:n], rel_up[:n], rel_down[:n])


def _mover_phrase(m: Mover) -> str:
    before_after = f"{money(m.previous_cents)} -> {money(m.current_cents)}"
    return f"{m.label} {signed_money(m.change_cents)} ({percent(m.change_pct)}, {before_after})"


def movers_insight(movers: Movers, period: str) -> Insight:
    """One sentence per dimension: the biggest riser and faller, absolute and relative."""
    parts = []
    if movers.risers:
        parts.append(f"biggest riser {_mover_phrase(movers.risers[0])}")
    if movers.fallers:
        parts.append(f"biggest faller {_mover_phrase(movers.fallers[0])}")
    if movers.relative_risers and movers.relative_risers[0].key not in {m.key for m in movers.risers[:1]}:
        parts.append(f"fastest growing {_mover_phrase(movers.relative_risers[0])}")
    if movers.relative_fallers and movers.relative_fallers[0].key not in {m.key for m in movers.fallers[:1]}:
        parts.append(f"fastest shrinking {_mover_phrase(movers.relative_fallers[0])}")
    label = {"book": "Books", "genre": "Genres", "region": "Regions"}.get(movers.dimension, movers.dimension)
    text = f"{label}, {period}: " + ("; ".join(parts) if parts else "no change") + "."
    numbers = {
        "dimension": movers.dimension,
        "period": period,
        **{
            name: [asdict(m) for m in getattr(movers, name)]
            for name in ("risers", "fallers", "relative_risers", "relative_fallers")
        },
    }
    return Insight(f"movers_{movers.dimension}", text, numbers)


# -- weekly profile, anomalies -----------------------------------------------------------------


def rolling_median(x: np.ndarray, window: int, *, exclude_center: bool = False) -> np.ndarray:
    """Centred rolling median (NaNs ignored), optionally leave-one-out."""
    half = window // 2
    n = len(x)
    out = np.full(n, np.nan)
    for i in range(n):
        # Near the ends the window slides instead of shrinking: as many neighbours as elsewhere.
        lo = min(max(0, i - half), max(0, n - window))
        hi = min(n, lo + window)
        part = np.concatenate([x[lo:i], x[i + 1 : hi]]) if exclude_center else x[lo:hi]
        part = part[~np.isnan(part)]
        if part.size:
            out[i] = np.median(part)
    return out


def weekly_mean(x: np.ndarray) -> np.ndarray:
    """Centred 7-day moving average (NaN where the week is incomplete).

    Averaging exactly one week removes the weekday rhythm and follows a linear trend exactly,
    which makes it the right level for estimating weekday factors (classical decomposition).
    """
    out = np.full(len(x), np.nan)
    if len(x) >= WEEK:
        sums = np.convolve(x, np.ones(WEEK), mode="valid") / WEEK
        out[WEEK // 2 : WEEK // 2 + len(sums)] = sums
    return out


def weekday_factors(values: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """Seven multiplicative factors (mean 1): each weekday's median ratio to its centred week's mean.

    The median over weeks keeps one anomalous day from bending its weekday's factor.
    """
    level = weekly_mean(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(level > 0, values / level, np.nan)
    factors = np.ones(WEEK)
    for d in range(WEEK):
        r = ratio[(weekdays == d) & ~np.isnan(ratio)]
        if r.size:
            factors[d] = np.median(r)
    factors = np.where(factors > 0, factors, 1.0)
    return factors / factors.mean()


@dataclass(frozen=True, slots=True)
class Anomaly:
    day: date
    value_cents: int
    expected_cents: int
    robust_z: float

    @property
    def deviation_pct(self) -> float:
        return (self.value_cents - self.expected_cents) / self.expected_cents if self.expected_cents else 0.0


@dataclass(frozen=True)
class Expected:
    """The weekday-and-level model of a series: expected value and relative residual per day."""

    factors: np.ndarray
    expected: np.ndarray
    relative: np.ndarray  # (actual - expected) / expected, NaN where expected <= 0
    robust_z: np.ndarray


def expected_revenue(series: DailySeries, *, window: int = 15, min_scale: float = 0.01) -> Expected:
    """Expected revenue of each day from its weekday factor and the level around it (leave-one-out).

    ``min_scale`` floors the noise estimate (1 %), so a perfectly regular series does not turn
    rounding into "anomalies".
    """
    y = series.cents.astype(float)
    wd = series.weekdays
    factors = weekday_factors(y, wd)
    adjusted = y / factors[wd]
    level = rolling_median(adjusted, window, exclude_center=True)
    expected = level * factors[wd]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(expected > 0, (y - expected) / expected, np.nan)
    valid = relative[~np.isnan(relative)]
    if valid.size:
        centre = float(np.median(valid))
        scale = max(MAD_TO_SIGMA * float(np.median(np.abs(valid - centre))), min_scale)
    else:
        centre, scale = 0.0, 1.0
    return Expected(factors, expected, relative, (relative - centre) / scale)


def detect_anomalies(
    series: DailySeries, *, threshold: float = 4.0, min_days: int = 3 * WEEK, window: int = 15
) -> list[Anomaly]:
    """Days whose revenue is off what their weekday and level predict by more than ``threshold``.

    ``threshold`` is in robust z units (3.5 is the usual cut for MAD-based scores).  Fewer than
    ``min_days`` days cannot show a weekly rhythm, so nothing is reported.
    """
    if len(series) < min_days:
        return []
    model = expected_revenue(series, window=window)
    found = []
    for i in np.flatnonzero(np.abs(np.nan_to_num(model.robust_z)) > threshold):
        found.append(
            Anomaly(
                day=series.day(int(i)),
                value_cents=int(series.cents[i]),
                expected_cents=round(float(model.expected[i])),
                robust_z=round(float(model.robust_z[i]), 2),
            )
        )
    return found


def anomaly_insight(a: Anomaly) -> Insight:
    word = "above" if a.value_cents > a.expected_cents else "below"
    text = (
        f"Revenue on {a.day.isoformat()} ({a.day.strftime('%A')}) was {money(a.value_cents)}, "
        f"{abs(a.deviation_pct) * 100:.0f}% {word} the {money(a.expected_cents)} expected for that weekday "
        f"(robust z {a.robust_z:+.1f})."
    )
    numbers = {
        "day": a.day.isoformat(),
        "value_cents": a.value_cents,
        "expected_cents": a.expected_cents,
        "robust_z": a.robust_z,
        "deviation_pct": round(a.deviation_pct, 4),
    }
    return Insight("anomaly", text, numbers, "warning")


# -- forecast ----------------------------------------------------------------------------------

ALPHAS = (0.1, 0.2, 0.3, 0.5, 0.7)
BETAS = (0.0, 0.02, 0.05, 0.1, 0.2)


def holt(z: np.ndarray, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Holt's linear trend: level and trend after each observation, and the one-step squared error."""
    n = len(z)
    level, trend = np.empty(n), np.empty(n)
    first = z[:WEEK].mean()
    slope = (z[WEEK : 2 * WEEK].mean() - first) / WEEK if n >= 2 * WEEK else 0.0
    lv, tr = first - slope * (WEEK - 1) / 2, slope  # the first week's mean sits at its middle day
    sse = 0.0
    for t in range(n):
        predicted = lv + tr
        if t >= 2 * WEEK:
            sse += (z[t] - predicted) ** 2
        new_level = alpha * z[t] + (1 - alpha) * predicted
        tr = beta * (new_level - lv) + (1 - beta) * tr
        lv = new_level
        level[t], trend[t] = lv, tr
    return level, trend, sse


@dataclass(frozen=True)
class Forecast:
    start: date
    point_cents: np.ndarray
    lower_cents: np.ndarray
    upper_cents: np.ndarray
    coverage: float
    alpha: float
    beta: float
    trend_cents_per_day: int

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(len(self.point_cents))]

    @property
    def total_cents(self) -> int:
        return int(self.point_cents.sum())

    @property
    def total_lower_cents(self) -> int:
        """Sum of the daily lower bounds: conservative (errors of a bad week move together)."""
        return int(self.lower_cents.sum())

    @property
    def total_upper_cents(self) -> int:
        return int(self.upper_cents.sum())


def forecast_revenue(
    series: DailySeries, *, horizon: int = 14, coverage: float = 0.8, backtest_days: int = 8 * WEEK
) -> Forecast | None:
    """Daily revenue for the ``horizon`` days after the series, with a ``coverage`` interval.

    Needs four weeks of history; ``None`` otherwise.
    """
    n = len(series)
    if n < 4 * WEEK or horizon < 1 or not 0 < coverage < 1:
        return None
    y = series.cents.astype(float)
    wd = series.weekdays
    recent = slice(max(0, n - backtest_days), n)
    factors = weekday_factors(y[recent], wd[recent])
    z = y / factors[wd]
    alpha, beta = min(((a, b) for a in ALPHAS for b in BETAS), key=lambda ab: holt(z, *ab)[2])
    level, trend, _ = holt(z, alpha, beta)

    def predict(origin: int, h: np.ndarray) -> np.ndarray:
        days = (series.start.weekday() + origin + h) % WEEK
        return np.maximum((level[origin] + h * trend[origin]) * factors[days], 0.0)

    steps = np.arange(1, horizon + 1)
    point = predict(n - 1, steps)
    # Rolling-origin backtest: the method's relative errors at each horizon over recent weeks.
    q_lo, q_hi = np.zeros(horizon), np.zeros(horizon)
    tail = (1 - coverage) / 2
    pooled: list[float] = []
    per_h: list[np.ndarray] = []
    for h in steps:
        origins = np.arange(max(2 * WEEK, n - 1 - backtest_days), n - h)
        if origins.size:
            predicted = np.array([predict(int(o), np.array([h]))[0] for o in origins])
            ok = predicted > 0
            errors = y[origins + h][ok] / predicted[ok] - 1
        else:
            errors = np.array([])
        per_h.append(errors)
        pooled.extend(errors.tolist())
    for i, errors in enumerate(per_h):
        sample = errors if errors.size >= 10 else np.asarray(pooled)
        if sample.size:
            q_lo[i], q_hi[i] = np.quantile(sample, tail), np.quantile(sample, 1 - tail)
    q_lo = np.minimum(np.minimum.accumulate(q_lo), 0.0)  # never narrower further out
    q_hi = np.maximum(np.maximum.accumulate(q_hi), 0.0)
    mean_factor = 1.0  # factors average 1: trend per day in money terms
    return Forecast(
        start=series.end + timedelta(days=1),
        point_cents=np.round(point).astype(np.int64),
        lower_cents=np.round(np.maximum(point * (1 + q_lo), 0)).astype(np.int64),
        upper_cents=np.round(point * (1 + q_hi)).astype(np.int64),
        coverage=coverage,
        alpha=alpha,
        beta=beta,
        trend_cents_per_day=round(float(trend[-1]) * mean_factor),
    )


def forecast_insight(f: Forecast) -> Insight:
    days = f.days
    text = (
        f"Revenue for the next {len(days)} days ({days[0].isoformat()} to {days[-1].isoformat()}) is "
        f"forecast at {money(f.total_cents)} ({f.coverage * 100:.0f}% interval "
        f"{money(f.total_lower_cents)} to {money(f.total_upper_cents)}), with the weekday rhythm and a "
        f"trend of {signed_money(f.trend_cents_per_day)} a day."
    )
    numbers = {
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "coverage": f.coverage,
        "total_cents": f.total_cents,
        "total_lower_cents": f.total_lower_cents,
        "total_upper_cents": f.total_upper_cents,
        "trend_cents_per_day": f.trend_cents_per_day,
        "alpha": f.alpha,
        "beta": f.beta,
        "daily": [
            {"day": d.isoformat(), "point_cents": int(p), "lower_cents": int(lo), "upper_cents": int(hi)}
            for d, p, lo, hi in zip(days, f.point_cents, f.lower_cents, f.upper_cents, strict=True)
        ],
    }
    return Insight("forecast", text, numbers)


# -- all daily-series insights at once ---------------------------------------------------------


def series_insights(series: DailySeries, *, horizon: int = 14) -> list[Insight]:
    """Week/month changes, anomalies and the forecast of one daily revenue series."""
    out: list[Insight] = []
    if not series.cents.any():
        return out  # no sales at all: "flat at $0.00" is not an insight
    if (wow := week_over_week(series)) is not None:
        out.append(change_insight(wow, "week_over_week"))
    if (mom := month_over_month(series)) is not None:
        out.append(change_insight(mom, "month_over_month"))
    out.extend(anomaly_insight(a) for a in detect_anomalies(series))
    if (fc := forecast_revenue(series, horizon=horizon)) is not None:
        out.append(forecast_insight(fc))
    return out


# -- live-stream alerts ------------------------------------------------------------------------

ENV_MIN_REVENUE_PER_MIN = "SALESPULSE_ALERT_MIN_REVENUE_PER_MIN_CENTS"
ENV_MAX_DLQ_RATE = "SALESPULSE_ALERT_MAX_DLQ_RATE"
DEFAULT_MIN_REVENUE_PER_MIN_CENTS = 1_000
DEFAULT_MAX_DLQ_RATE = 0.05


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """``None`` switches a rule off."""

    min_revenue_per_min_cents: int | None = DEFAULT_MIN_REVENUE_PER_MIN_CENTS
    max_dlq_rate: float | None = DEFAULT_MAX_DLQ_RATE


def alert_thresholds(environ: Mapping[str, str] | None = None) -> AlertThresholds:
    """Thresholds from the environment (``off`` or ``none`` disables a rule); bad values raise."""
    env = os.environ if environ is None else environ

    def raw(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    def disabled(value: str) -> bool:
        return value.lower() in ("off", "none", "disabled")

    min_rev: int | None = DEFAULT_MIN_REVENUE_PER_MIN_CENTS
    if (value := raw(ENV_MIN_REVENUE_PER_MIN)) is not None:
        if disabled(value):
            min_rev = None
        else:
            try:
                min_rev = int(value)
            except ValueError:
                raise ValueError(
                    f"{ENV_MIN_REVENUE_PER_MIN} must be an integer (cents), got {value!r}"
                ) from None
    max_dlq: float | None = DEFAULT_MAX_DLQ_RATE
    if (value := raw(ENV_MAX_DLQ_RATE)) is not None:
        if disabled(value):
            max_dlq = None
        else:
            try:
                max_dlq = float(value)
            except ValueError:
                raise ValueError(f"{ENV_MAX_DLQ_RATE} must be a number in 0..1, got {value!r}") from None
            if not 0 <= max_dlq <= 1 or math.isnan(max_dlq):
                raise ValueError(f"{ENV_MAX_DLQ_RATE} must be in 0..1, got {value!r}")
    return AlertThresholds(min_rev, max_dlq)


@dataclass(frozen=True, slots=True)
class LiveStats:
    """What the rules look at: recent revenue per minute and the consumer's event counters."""

    revenue_per_min_cents: int | None  # mean over the last complete minutes; None if unknown
    minutes: int  # how many minutes that mean covers
    events_total: int
    dlq_total: int

    @property
    def dlq_rate(self) -> float | None:
        seen = self.events_total + self.dlq_total
        return self.dlq_total / seen if seen else None


def evaluate_alerts(stats: LiveStats, thresholds: AlertThresholds) -> list[Insight]:
    """The alerts that fire now (an empty list means all clear)."""
    alerts: list[Insight] = []
    floor = thresholds.min_revenue_per_min_cents
    rpm = stats.revenue_per_min_cents
    if floor is not None and rpm is not None and stats.minutes > 0 and rpm < floor:
        text = (
            f"Revenue is {money(rpm)} a minute over the last {stats.minutes} minute"
            f"{'s' if stats.minutes != 1 else ''}, below the alert level of {money(floor)}."
        )
        numbers: dict[str, Any] = {
            "revenue_per_min_cents": rpm,
            "threshold_cents": floor,
            "minutes": stats.minutes,
        }
        alerts.append(Insight("alert_low_revenue", text, numbers, "warning"))
    ceiling = thresholds.max_dlq_rate
    rate = stats.dlq_rate
    if ceiling is not None and rate is not None and rate > ceiling:
        text = (
            f"{rate * 100:.1f}% of events went to the dead-letter topic ({stats.dlq_total:,} of "
            f"{stats.events_total + stats.dlq_total:,}), above the alert level of {ceiling * 100:.1f}%."
        )
        numbers = {
            "dlq_rate": round(rate, 6),
            "threshold": ceiling,
            "dlq_total": stats.dlq_total,
            "events_total": stats.events_total,
        }
        alerts.append(Insight("alert_dlq_rate", text, numbers, "warning"))
    return alerts
