"""The run-planning rules, in plain Python: which days a run recomputes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from salespulse.batch import plan
from salespulse.batch.pipeline import CONTINUE, NOOP, resume_action
from salespulse.batch.plan import RawFile
from salespulse.warehouse.publish import month_bounds
from salespulse.warehouse.quality import compare_aggregates
from salespulse.warehouse.speed import day_of_key

D1, D2, D3, D4 = (date(2026, 2, d) for d in (1, 2, 3, 4))


def raw(path: str, day: date, size: int = 10, mtime: int = 1, source: str = "generator") -> RawFile:
    return RawFile(path, day, source, size, mtime)


def test_parse_raw_path_takes_source_and_day_and_skips_temporaries() -> None:
    good = Path("/lake/raw/sales/source=csv/event_date=2026-02-03/csv-x-1234abcd.parquet")
    assert plan.parse_raw_path(good) == ("csv", D3)
    assert plan.parse_raw_path(good.with_name(".csv-x.parquet.123.tmp")) is None
    assert plan.parse_raw_path(Path("/lake/raw/sales/source=csv/2026-02-03/x.parquet")) is None


def test_list_raw_files_stats_every_committed_file(tmp_path: Path) -> None:
    day_dir = tmp_path / "source=stream" / "event_date=2026-02-01"
    day_dir.mkdir(parents=True)
    (day_dir / "t-p0-o0-9.parquet").write_bytes(b"12345")
    (day_dir / ".t-p0-o10-19.parquet.abc.tmp").write_bytes(b"x")
    files = plan.list_raw_files(tmp_path)
    assert [(Path(f.path).name, f.event_date, f.source, f.size_bytes) for f in files] == [
        ("t-p0-o0-9.parquet", D1, "stream", 5)
    ]


def test_full_plan_keeps_days_before_the_watermark() -> None:
    files = [raw("a", D1), raw("b", D2), raw("c", D3)]
    p = plan.full_plan(files, D3)
    assert p.is_full and [f.path for f in p.files] == ["a", "b"]
    assert (p.range_from, p.range_to) == (D1, D2)


def test_changed_dates_sees_new_rewritten_and_removed_files() -> None:
    processed = [raw("a", D1), raw("b", D2), raw("gone", D3)]
    current = [raw("a", D1), raw("b", D2, size=11), raw("new", D4)]
    assert plan.changed_dates(current, processed) == {D2, D3, D4}
    assert plan.changed_dates(processed, processed) == set()


def test_expand_by_versions_follows_moved_csv_lines_to_a_fixed_point() -> None:
    versions = {"e1": {D1, D2}, "e2": {D2, D3}, "lonely": {D4}}
    assert plan.expand_by_versions({D1}, versions) == {D1, D2, D3}
    assert plan.expand_by_versions({D4}, versions) == {D4}


def test_partial_plan_reads_every_file_of_the_chosen_days_before_the_watermark() -> None:
    files = [raw("a", D1), raw("b", D2), raw("b2", D2, source="csv"), raw("c", D3)]
    p = plan.partial_plan("incremental", files, D3, {D2, D3})
    assert p.dates == frozenset({D2}) and [f.path for f in p.files] == ["b", "b2"]


def test_month_bounds_spans_whole_months() -> None:
    months, first, last = month_bounds([date(2025, 12, 31), date(2026, 2, 3)])
    assert months == [date(2025, 12, 1), date(2026, 2, 1)]
    assert (first, last) == (date(2025, 12, 1), date(2026, 2, 28))


def test_compare_aggregates_names_each_mismatch() -> None:
    fact = {"revenue_cents": 10, "units": 2, "events": 2, "orders": 1, "refunds": 0}
    aggs = {"agg_a": {"revenue_cents": 10, "units": 2}, "agg_b": {"events": 3}}
    assert compare_aggregates(fact, aggs) == ["agg_b.events = 3 but fct_sales gives 2"]


def test_day_of_key_parses_only_day_keys() -> None:
    assert day_of_key("sp:day:2026-02-01:book:revenue", "sp") == D1
    assert day_of_key("sp:minute:2026-02-01T10:00", "sp") is None
    assert day_of_key("sp:day:garbage:totals", "sp") is None


def test_resume_rules_make_the_dag_tasks_rerunnable() -> None:
    # the normal hand-overs
    assert resume_action("built", ("load",)) == CONTINUE
    assert resume_action("loaded", ("check",)) == CONTINUE
    assert resume_action("loaded", ("publish",)) == CONTINUE  # publish checks first
    assert resume_action("checked", ("publish",)) == CONTINUE
    # a retried quality gate re-checks; a retried publish of a published run does nothing
    assert resume_action("checked", ("check",)) == CONTINUE
    assert resume_action("checked", ("check", "publish")) == CONTINUE
    assert resume_action("published", ("publish",)) == NOOP
    # everything else is refused, with the reason
    assert resume_action("published", ("check",)) == "already published: nothing to continue"
    assert resume_action("built", ("check",)) == "continue with --steps load,..."
    assert resume_action("loaded", ("load",)) == "continue with --steps check,..."
    assert resume_action("failed", ("publish",)).startswith("no built run waiting")
    assert resume_action("running", ("publish",)).startswith("no built run waiting")
