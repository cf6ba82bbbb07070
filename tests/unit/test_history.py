"""History generator on small sizes: exact totals, one file per day, determinism, no future."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest

from salespulse import history
from salespulse.cli import build_parser
from salespulse.lake import RAW_SALES_SCHEMA
from salespulse.settings import load_settings

END = date(2025, 6, 30)


def settings_for(tmp_path):
    return load_settings(
        {"SALESPULSE_DATA_DIR": str(tmp_path), "SALESPULSE_BOOKS": "300", "SALESPULSE_CUSTOMERS": "500"}
    )


def generate(tmp_path, **kw):
    args = {"sales": 3000, "days": 20, "end": END, "seed": 9, "chunk_sales": 700, "progress": False}
    args.update(kw)
    return history.generate_history(settings=settings_for(tmp_path), **args)


def read(root):
    files = sorted(root.rglob("*.parquet"))
    return files, pq.ParquetDataset([str(f) for f in files], partitioning=None).read()


def test_plan_and_exact_lines():
    chunks = history.plan_chunks(1, 100, 30, 10_000, 2_500)
    assert sum(c.sales for c in chunks) == 10_000
    assert [c.first_day for c in chunks[1:]] == [c.end_day for c in chunks[:-1]]
    assert chunks[0].first_day == 100 and chunks[-1].end_day == 130
    k = history.exact_lines_per_order(np.random.default_rng(0), 1234)
    assert k.sum() == 1234 and k.min() >= 1 and k.max() <= 5


def test_generates_exact_sales_one_file_per_day(tmp_path):
    result = generate(tmp_path)
    files, table = read(result.root)
    assert table.schema.remove_metadata().equals(RAW_SALES_SCHEMA.remove_metadata())
    types = table.column("event_type").to_pylist()
    assert types.count("sale") == 3000 == result.sales
    assert types.count("refund") == result.refunds
    days = {f.parent.name for f in files}
    assert len(files) == len(days) == 20  # one file per event_date
    dates = table.column("event_date").to_pylist()
    assert min(dates) == END - timedelta(days=19) and max(dates) == END
    assert len(set(table.column("event_id").to_pylist())) == table.num_rows
    assert set(table.column("source").to_pylist()) == {"generator"}
    origin = table.column("origin")[0].as_py()
    assert origin.startswith("generator/9/")
    for f in files:  # every file holds exactly its partition's day
        part = pq.read_table(f)
        assert {str(d) for d in part.column("event_date").to_pylist()} == {f.parent.name.split("=")[1]}


def test_deterministic_and_rerun_replaces(tmp_path):
    a = generate(tmp_path / "a")
    b = generate(tmp_path / "b")
    files_a, table_a = read(a.root)
    files_b, table_b = read(b.root)
    assert [f.relative_to(a.root) for f in files_a] == [f.relative_to(b.root) for f in files_b]
    assert table_a.equals(table_b)
    other = generate(tmp_path / "c", seed=10)
    assert not read(other.root)[1].column("event_id").equals(table_a.column("event_id"))
    # A smaller rerun into the same lake leaves only its own files.
    again = generate(tmp_path / "a", days=5, sales=500)
    files, table = read(again.root)
    assert again.removed_files == 20 and len(files) == 5  # other chunk numbering: all old files go
    assert table.column("event_type").to_pylist().count("sale") == 500


def test_never_today_or_future(tmp_path):
    with pytest.raises(ValueError, match="not before today"):
        generate(tmp_path, end=history.yesterday_utc() + timedelta(days=1))


def test_cli_registers_generate():
    args = build_parser().parse_args(["generate", "--sales", "10", "--days", "2", "--end", "2025-01-01"])
    assert (args.sales, args.days, args.end) == (10, 2, date(2025, 1, 1))
