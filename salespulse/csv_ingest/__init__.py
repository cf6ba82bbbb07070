"""Messy-CSV ingestion: exports from other systems into the raw zone, bad rows into quarantine.

``layout`` (encoding, delimiter, header), ``values`` (cells) and ``normalise``
(records -> rows) are pure; ``store`` does the I/O; ``ingest`` wires them per
file.  ``ingest_paths`` is what ``salespulse ingest-csv`` and the Airflow DAG call.
"""

from salespulse.csv_ingest.ingest import FileReport, ingest_paths

__all__ = ["FileReport", "ingest_paths"]
