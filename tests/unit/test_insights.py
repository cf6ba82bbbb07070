"""Quick insights on generated series: exact changes and movers, a planted anomaly, a known trend."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from salespulse import insights as ins

START = date(2026, 1, 5)  # a Monday
#: Strong weekly rhythm, Monday..Sunday (weekends sell 1.7x a Tuesday).
DOW = np.array([0.8, 0.75, 0.85, 0.9, 1.1, 1.7, 1.4])


def generated(n: int = 140, *, base: float = 100_000, slope: float = 400, noise: float = 0.03, seed: int = 3):
    """(truth, observed) in cents: linear trend x weekday factor x (1 + noise).

    The noise is normal, clipped at 2.5 sigma: an unclipped draw beyond 3.5 sigma would be a
    genuine outlier, and "nothing else flagged" could not be asserted.
    """
    t = np.arange(n)
    truth = (base + slope * t) * DOW[(START.weekday() + t) % 7]
    rng = np.random.default_rng(seed)
    observed = np.round(truth * (1 + noise * np.clip(rng.standard_normal(n), -2.5, 2.5))).astype(np.int64)
    return truth, observed


def test_week_and_month_over_month_are_exact() -> None:
    # 56 days: the first 28 at 1,000 cents a day, then 21 days at 1,000 and 7 at 1,500.
    cents = np.array([1000] * 28 + [1000] * 21 + [1500] * 7, dtype=np.int64)
    series = ins.DailySeries(START, cents)
    wow = ins.week_over_week(series)
    assert wow is not None
    assert (wow.current_cents, wow.previous_cents, wow.change_cents) == (10_500, 7_000, 3_500)
    assert wow.change_pct == pytest.approx(0.5)
    assert (wow.current_start, wow.current_end) == (date(2026, 2, 23), date(2026, 3, 1))
    assert (wow.previous_start, wow.previous_end) == (date(2026, 2, 16), date(2026, 2, 22))
    mom = ins.month_over_month(series)
    assert mom is not None
    assert (mom.current_cents, mom.previous_cents, mom.change_cents) == (31_500, 28_000, 3_500)
    assert mom.change_pct == pytest.approx(0.125)
    text = ins.change_insight(wow, "week_over_week")
    assert text.text == (
        "Revenue in the 7 days to 2026-03-01 was $105.00, up 50.0% (+$35.00) on the 7 days before ($70.00)."
    )
    assert text.numbers["change_cents"] == 3_500 and text.numbers["current_end"] == "2026-03-01"
    assert ins.period_change(ins.DailySeries(START, cents[:13]), 7) is None


def test_change_without_a_base_has_no_percentage() -> None:
    series = ins.DailySeries(START, np.array([0] * 7 + [250] * 7))
    wow = ins.week_over_week(series)
    assert wow is not None and wow.change_pct is None
    assert "up (+$17.50)" in ins.change_insight(wow, "week_over_week").text


def test_dense_series_from_sparse_days() -> None:
    series = ins.DailySeries.from_mapping({date(2026, 1, 6): 5, date(2026, 1, 9): 7}, START, date(2026, 1, 9))
    assert series.cents.tolist() == [0, 5, 0, 0, 7]
    assert series.end == date(2026, 1, 9) and series.weekdays.tolist() == [0, 1, 2, 3, 4]


def test_top_movers_are_exact() -> None:
    previous = {"Fiction": 10_000, "Poetry": 100, "History": 5_000, "Travel": 2_000, "Cooking": 0}
    current = {"Fiction": 12_000, "Poetry": 400, "History": 3_500, "Travel": 2_000, "Science": 900}
    movers = ins.top_movers(current, previous, dimension="genre", n=2, min_base_cents=100)
    assert [(m.key, m.change_cents) for m in movers.risers] == [("Fiction", 2_000), ("Science", 900)]
    assert [(m.key, m.change_cents) for m in movers.fallers] == [("History", -1_500)]
    assert [(m.key, m.change_pct) for m in movers.relative_risers] == [("Poetry", 3.0), ("Fiction", 0.2)]
    assert [(m.key, m.change_pct) for m in movers.relative_fallers] == [("History", -0.3)]
    science = movers.risers[1]
    assert (science.previous_cents, science.current_cents, science.change_pct) == (0, 900, None)
    # A base below min_base_cents has no relative change (no "infinite growth" from pennies).
    strict = ins.top_movers(current, previous, n=5, min_base_cents=1_000)
    assert [m.key for m in strict.relative_risers] == ["Fiction"]
    insight = ins.movers_insight(movers, "7 days to 2026-03-01 vs the 7 before")
    assert insight.text == (
        "Genres, 7 days to 2026-03-01 vs the 7 before: "
        "biggest riser Fiction +$20.00 (+20.0%, $100.00 -> $120.00); "
        "biggest faller History -$15.00 (-30.0%, $50.00 -> $35.00); "
        "fastest growing Poetry +$3.00 (+300.0%, $1.00 -> $4.00)."
    )
    assert insight.numbers["risers"][0]["change_cents"] == 2_000


def test_movers_break_ties_by_key_and_use_labels() -> None:
    movers = ins.top_movers({"b": 5, "a": 5}, {}, n=5, labels={"a": "Alpha"})
    assert [(m.key, m.label) for m in movers.risers] == [("a", "Alpha"), ("b", "b")]


def test_planted_anomaly_is_found_on_its_day_and_nothing_else() -> None:
    _, observed = generated()
    planted = 100
    observed[planted] = int(observed[planted] * 0.5)
    series = ins.DailySeries(START, observed)
    found = ins.detect_anomalies(series)
    assert [a.day for a in found] == [START + timedelta(days=planted)]
    anomaly = found[0]
    assert anomaly.value_cents == observed[planted]
    assert anomaly.robust_z < -3.5
    assert 0.45 < anomaly.value_cents / anomaly.expected_cents < 0.55
    insight = ins.anomaly_insight(anomaly)
    assert insight.numbers["day"] == "2026-04-15" and insight.severity == "warning"
    assert insight.text.startswith("Revenue on 2026-04-15 (Wednesday) was $")
    assert "below the $" in insight.text


def test_weekly_rhythm_is_not_an_anomaly_but_an_off_weekday_is() -> None:
    _, observed = generated()
    series = ins.DailySeries(START, observed)
    # A naive robust z on raw values flags the weekends; the weekday-aware model flags nothing.
    med = np.median(observed)
    naive = np.abs(observed - med) / (1.4826 * np.median(np.abs(observed - med)))
    assert (naive > 3.5).sum() > 0
    assert ins.detect_anomalies(series) == []
    # A Saturday selling like a Tuesday is ordinary by value but anomalous for a Saturday.
    saturday = 103
    assert (START.weekday() + saturday) % 7 == 5
    observed[saturday] = int(observed[saturday] * DOW[1] / DOW[5])
    assert naive[saturday] < 3.5 or abs(observed[saturday] - med) < abs(observed.max() - med)
    found = ins.detect_anomalies(ins.DailySeries(START, observed))
    assert [a.day for a in found] == [START + timedelta(days=saturday)]


def test_too_short_series_report_no_anomalies_and_no_forecast() -> None:
    short = ins.DailySeries(START, np.full(20, 1000))
    assert ins.detect_anomalies(short) == []
    assert ins.forecast_revenue(short) is None


def test_forecast_of_a_known_trend_stays_in_the_band() -> None:
    n = 140
    _, observed = generated(n)
    forecast = ins.forecast_revenue(ins.DailySeries(START, observed), horizon=14, coverage=0.8)
    assert forecast is not None
    assert forecast.start == START + timedelta(days=n)
    assert len(forecast.point_cents) == 14
    t = np.arange(n, n + 14)
    future = (100_000 + 400 * t) * DOW[(START.weekday() + t) % 7]
    # Each day's point within 5 % of the truth, the interval ordered around the point.
    assert np.max(np.abs(forecast.point_cents / future - 1)) < 0.05
    assert np.all(forecast.lower_cents <= forecast.point_cents)
    assert np.all(forecast.point_cents <= forecast.upper_cents)
    # The 14-day truth lies inside the forecast total's interval, and the trend is recovered.
    assert forecast.total_lower_cents <= future.sum() <= forecast.total_upper_cents
    assert 300 <= forecast.trend_cents_per_day <= 500
    # The weekday rhythm is kept: Saturdays forecast above Tuesdays.
    days = forecast.days
    sat = next(i for i, d in enumerate(days) if d.weekday() == 5)
    tue = next(i for i, d in enumerate(days) if d.weekday() == 1)
    assert forecast.point_cents[sat] > 2 * forecast.point_cents[tue]
    insight = ins.forecast_insight(forecast)
    assert insight.numbers["total_cents"] == forecast.total_cents
    assert len(insight.numbers["daily"]) == 14
    assert insight.text.startswith("Revenue for the next 14 days (2026-05-25 to 2026-06-07) is forecast at $")


def test_forecast_of_a_noise_free_series_is_near_exact() -> None:
    n = 84
    t = np.arange(n + 14)
    truth = np.round((50_000 + 250 * t) * DOW[(START.weekday() + t) % 7]).astype(np.int64)
    forecast = ins.forecast_revenue(ins.DailySeries(START, truth[:n]), horizon=14)
    assert forecast is not None
    assert np.max(np.abs(forecast.point_cents / truth[n:] - 1)) < 0.01


def test_series_insights_bundle_all_kinds() -> None:
    _, observed = generated()
    observed[100] = int(observed[100] * 1.8)
    kinds = [i.kind for i in ins.series_insights(ins.DailySeries(START, observed))]
    assert kinds == ["week_over_week", "month_over_month", "anomaly", "forecast"]


def test_money_and_percent_formatting() -> None:
    assert ins.money(123456789) == "$1,234,567.89"
    assert ins.money(-5) == "-$0.05"
    assert ins.signed_money(0) == "+$0.00"
    assert ins.percent(0.0823) == "+8.2%" and ins.percent(None) == "n/a"


def test_alert_thresholds_from_the_environment() -> None:
    assert ins.alert_thresholds({}) == ins.AlertThresholds(1_000, 0.05)
    env = {ins.ENV_MIN_REVENUE_PER_MIN: "2500", ins.ENV_MAX_DLQ_RATE: "0.1"}
    assert ins.alert_thresholds(env) == ins.AlertThresholds(2_500, 0.1)
    assert ins.alert_thresholds({ins.ENV_MIN_REVENUE_PER_MIN: "off"}).min_revenue_per_min_cents is None
    with pytest.raises(ValueError, match=r"SALESPULSE_ALERT_MAX_DLQ_RATE must be in 0\.\.1"):
        ins.alert_thresholds({ins.ENV_MAX_DLQ_RATE: "5"})
    with pytest.raises(ValueError, match="must be an integer"):
        ins.alert_thresholds({ins.ENV_MIN_REVENUE_PER_MIN: "ten"})


def test_evaluate_alerts() -> None:
    thresholds = ins.AlertThresholds(min_revenue_per_min_cents=5_000, max_dlq_rate=0.02)
    healthy = ins.LiveStats(revenue_per_min_cents=8_000, minutes=5, events_total=1_000, dlq_total=10)
    assert ins.evaluate_alerts(healthy, thresholds) == []
    bad = ins.LiveStats(revenue_per_min_cents=1_250, minutes=5, events_total=900, dlq_total=100)
    alerts = ins.evaluate_alerts(bad, thresholds)
    assert [a.kind for a in alerts] == ["alert_low_revenue", "alert_dlq_rate"]
    assert alerts[0].text == (
        "Revenue is $12.50 a minute over the last 5 minutes, below the alert level of $50.00."
    )
    assert alerts[1].text == (
        "10.0% of events went to the dead-letter topic (100 of 1,000), above the alert level of 2.0%."
    )
    assert alerts[1].numbers["dlq_rate"] == 0.1
    # Unknown revenue (no consumer yet) and disabled rules never fire.
    unknown = ins.LiveStats(revenue_per_min_cents=None, minutes=0, events_total=0, dlq_total=0)
    assert ins.evaluate_alerts(unknown, thresholds) == []
    assert ins.evaluate_alerts(bad, ins.AlertThresholds(None, None)) == []
