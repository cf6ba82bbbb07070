"""Ad-hoc SQL: Spark SQL over the lake (the Athena + Glue role) and read-only SQL on the warehouse.

* :mod:`salespulse.adhoc.catalog` discovers the lake's tables and registers them as Spark views.
* :mod:`salespulse.adhoc.lake_sql` runs one read-only Spark SQL query over them.
* :mod:`salespulse.adhoc.guard` is the pure check of a warehouse query (good refusal messages).
* :mod:`salespulse.adhoc.warehouse_sql` runs a warehouse query as the read-only role, audited.
"""
