"""CSV ingestion end to end: corpus -> tmp lake, quarantine and the real PostgreSQL; then again."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg2
import pyarrow.parquet as pq
import pytest

from salespulse.cli import main
from salespulse.csv_ingest import ingest_paths
from salespulse.csv_ingest.normalise import line_event_id
from salespulse.names import Names
from salespulse.settings import with_overrides

CORPUS = Path(__file__).resolve().parents[1] / "data" / "csv"
T0 = 1_780_000_000_000
#: file -> (status, read, loaded, replaced, rejected) of the first ingestion.
EXPECTED = {
    "broken.csv": ("quarantined", 0, 0, 0, 0),
    "empty.csv": ("quarantined", 0, 0, 0, 0),
    "sales_data_2024-10-18.csv": ("partial", 15, 4, 0, 11),
    "sales_data_2024-10-18_v2.csv": ("partial", 5, 4, 2, 1),
    "sales_data_2024-10-19.csv": ("partial", 6, 3, 0, 3),
    "sales_data_2024-10-20.csv": ("partial", 5, 3, 0, 2),
    "sales_data_2024-10-21.csv": ("partial", 4, 3, 0, 1),
}


def _counts(reports):
    return {
        r.file_name: (r.status, r.rows_read, r.rows_loaded, r.rows_replaced, r.rows_rejected) for r in reports
    }


def _lake(names: Names):
    files = sorted(names.raw_sales_dir("csv").rglob("*.parquet"))
    return files, pq.ParquetDataset([str(f) for f in files], partitioning=None).read().to_pylist()


@pytest.fixture(scope="module")
def csv_settings(stack, tmp_path_factory):
    """This module's own lake: the test counts every CSV row in it, so no other test may write there."""
    return with_overrides(stack.settings, data_dir=tmp_path_factory.mktemp("csv-lake"))


@pytest.fixture(scope="module")
def landing(csv_settings):
    names = Names.from_settings(csv_settings)
    shutil.copytree(CORPUS, names.landing_dir, dirs_exist_ok=True)
    return names


def test_ingest_corpus_twice(stack, landing, csv_settings):
    names = landing
    first = ingest_paths(settings=csv_settings, now_ms=T0)  # default: the landing directory
    assert _counts(first) == EXPECTED
    files, rows = _lake(names)
    assert len(rows) == 17 and {r["source"] for r in rows} == {"csv"}

    # Latest version per line identity, as the batch job's dedup will pick it.
    latest = {}
    for r in sorted(rows, key=lambda r: r["ingested_at"]):
        latest[r["event_id"]] = r
    assert len(latest) == 15
    line1 = latest[line_event_id("1001", 1, "")]
    assert (line1["unit_price_cents"], line1["origin"]) == (1249, "csv/sales_data_2024-10-18_v2.csv:6")
    assert latest[line_event_id("1001", 2, "")]["quantity"] == 1
    assert latest[line_event_id("1004", 1, "")]["quantity"] == 2

    quarantine = names.zone("quarantine")
    rejected = (quarantine / "csv" / "sales_data_2024-10-18.csv.rejected.csv").read_text().splitlines()
    assert rejected[0].endswith("source_file,line_number,reason") and len(rejected) == 12
    assert (quarantine / "files" / "empty.csv.reason.txt").read_text() == "empty file\n"
    assert (quarantine / "files" / "broken.csv").read_bytes() == (CORPUS / "broken.csv").read_bytes()

    with psycopg2.connect(stack.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT file_name, status, rows_read, rows_loaded, rows_replaced, rows_rejected "
            "FROM warehouse_meta.csv_file_reports"
        )
        assert {r[0]: r[1:] for r in cur.fetchall()} == EXPECTED
    conn.close()

    # Re-ingesting the same files changes nothing: same lake files, same bytes, nothing replaced.
    before = {f: f.read_bytes() for f in files}
    second = ingest_paths([names.landing_dir], settings=csv_settings, now_ms=T0 + 60_000)
    assert _counts(second) == {
        name: (status, read, loaded, 0, rejected)
        for name, (status, read, loaded, _, rejected) in EXPECTED.items()
    }
    assert {f: f.read_bytes() for f in _lake(names)[0]} == before

    # A further correction replaces the line again and wins by ingestion time.
    fix = names.landing_dir / "sales_data_2024-10-18_v3.csv"
    fix.write_text(
        "order id,customer id,product id,qty,price,date,line no\n1001,CU1,BK1,5,1.00,2024-10-18,1\n"
    )
    (third,) = ingest_paths([fix], settings=csv_settings, now_ms=T0 + 120_000)
    assert _counts([third])[fix.name] == ("loaded", 1, 1, 1, 0)
    _, rows = _lake(names)
    newest = max(
        (r for r in rows if r["event_id"] == line_event_id("1001", 1, "")), key=lambda r: r["ingested_at"]
    )
    assert newest["quantity"] == 5


def test_cli_help_and_missing_path(stack, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ingest-csv", "--help"])
    assert exc.value.code == 0
    assert "quarantine" in capsys.readouterr().out
    assert main(["ingest-csv", "/nonexistent/x.csv"]) == 2
