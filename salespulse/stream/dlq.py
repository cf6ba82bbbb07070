"""The dead-letter sink: bad messages to ``sales.dlq`` with their reason and origin.

The original bytes, key and headers are kept untouched so an operator can
fix and replay a message; the added headers say why it was rejected and
where it came from.  Delivery is confirmed (``flush``) before the batch's
progress marker moves, so a dead letter is never lost, only possibly
repeated after a crash (the origin headers make repeats recognisable).
"""

from __future__ import annotations

import logging
from typing import Any

from salespulse.stream.batch import DeadLetter

log = logging.getLogger(__name__)

#: Headers added to every dead letter.
REASON = "dlq.reason"
ORIGIN_TOPIC = "dlq.origin.topic"
ORIGIN_PARTITION = "dlq.origin.partition"
ORIGIN_OFFSET = "dlq.origin.offset"
CONSUMER_GROUP = "dlq.consumer.group"
MAX_REASON_BYTES = 2000


class DeliveryError(RuntimeError):
    """Dead letters could not be delivered: the batch must not be acknowledged."""


def dead_letter_headers(dead: DeadLetter, topic: str, group: str) -> list[tuple[str, bytes]]:
    """The original headers followed by the rejection's reason and origin."""
    return [
        *dead.headers,
        (REASON, dead.reason.encode()[:MAX_REASON_BYTES]),
        (ORIGIN_TOPIC, topic.encode()),
        (ORIGIN_PARTITION, str(dead.partition).encode()),
        (ORIGIN_OFFSET, str(dead.offset).encode()),
        (CONSUMER_GROUP, group.encode()),
    ]


class DeadLetterSink:
    """Produces dead letters asynchronously; :meth:`confirm` waits for every delivery."""

    def __init__(self, producer: Any, dlq_topic: str, source_topic: str, group: str):
        self.producer = producer
        self.dlq_topic = dlq_topic
        self.source_topic = source_topic
        self.group = group
        self.pending = 0
        self.failures: list[str] = []
        self.delivered = 0

    def _on_delivery(self, err: Any, msg: Any) -> None:
        self.pending -= 1
        if err is not None:
            self.failures.append(str(err))
        else:
            self.delivered += 1

    def send(self, dead: list[DeadLetter]) -> None:
        for d in dead:
            self.pending += 1
            self.producer.produce(
                self.dlq_topic,
                value=d.value,
                key=d.key,
                headers=dead_letter_headers(d, self.source_topic, self.group),
                on_delivery=self._on_delivery,
            )
        self.producer.poll(0)

    def confirm(self, timeout: float = 30.0) -> None:
        """Block until every dead letter sent so far is acknowledged; raise if any failed."""
        if self.pending:
            self.producer.flush(timeout)
        if self.failures or self.pending:
            failures, self.failures = self.failures, []
            raise DeliveryError(
                f"{len(failures)} dead letter(s) failed, {self.pending} unconfirmed: {failures[:3]}"
            )

    def close(self) -> None:
        self.producer.flush(10)
