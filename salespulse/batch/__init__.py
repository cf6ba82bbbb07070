"""The batch layer: raw zone -> curated Parquet -> star-schema warehouse.

``plan`` decides which raw files and days a run covers (pure Python),
``transforms``/``dims``/``aggregates`` are pure DataFrame -> DataFrame
functions, ``build`` is the Spark I/O around them, and ``pipeline`` runs the
steps (build, load, check, publish) against :mod:`salespulse.warehouse`.
"""
