"""The PostgreSQL (Redshift-compatible) warehouse: DDL, COPY loader, quality gate, publish, run records."""
