"""The speed layer: Kafka sale events into exact Redis views, the lake and the DLQ.

Pure transformations (``batch``, ``aggregate``, ``progress``, ``stats``,
``live``, ``pacing``) are kept apart from the adapters that do I/O
(``redis_sink``, ``lake_sink``, ``dlq``, ``consumer``, ``producer``), so the
logic that decides what a batch means is unit-tested without any server, and
the adapters are tested against the real broker and Redis.

Order of a batch, which carries the guarantees: dead letters sent, good
events written to the lake, then one atomic Redis script applies every view
delta together with the per-partition progress marker, and only then are the
offsets committed.  A crash anywhere replays the batch; the marker makes the
replay a no-op in Redis, and lake files are named by offset range so the
replay rewrites the same file.
"""
