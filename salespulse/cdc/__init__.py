"""Change data capture: committed shop changes -> ``sale.v1`` events on the sales topic.

PostgreSQL logical decoding (``pgoutput``) over psycopg2's replication
connection, exactly once and in commit order, resumable from the slot's
confirmed position.  Modules, pure first:

* :mod:`~salespulse.cdc.pgoutput` -- the binary protocol, bytes -> messages;
* :mod:`~salespulse.cdc.transactions` -- messages -> committed transactions;
* :mod:`~salespulse.cdc.mapping` -- transactions -> sale/refund events;
* :mod:`~salespulse.cdc.publisher` -- Kafka headers, producer, tail read-back;
* :mod:`~salespulse.cdc.source` -- SQL: set-up, slot, lookups, stored position;
* :mod:`~salespulse.cdc.runner` -- the loop that wires them (``salespulse cdc``).

``schema.sql`` holds the shop tables as plain DDL (same as ``django_app/shop``).
"""
