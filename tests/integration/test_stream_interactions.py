"""`salespulse produce --interactions`: every order's shopper journey reaches its own topic."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from salespulse import kafka as sp_kafka
from salespulse.events import decode
from salespulse.interactions.contract import ADD_TO_CART, CHECKOUT_STARTED
from salespulse.interactions.contract import decode as decode_interaction
from salespulse.names import Names
from salespulse.stream.producer import ProducerOptions, SalesProducer


def _read_all(topic: str, partitions: int) -> list[bytes]:
    consumer = Consumer(sp_kafka.consumer_config("unused-assign-only", **{"enable.partition.eof": True}))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values: list[bytes] = []
    done: set[int] = set()
    while len(done) < partitions:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF
                    done.add(msg.partition())
                    continue
                raise AssertionError(str(msg.error()))
            values.append(msg.value())
    consumer.close()
    return values


def test_produce_with_interactions(stack) -> None:
    names = Names.from_settings(stack.settings)
    sales_topic = names.sales_topic + ".with-interactions"
    producer = SalesProducer(
        options=ProducerOptions(rate=0, count=400, seed=11, topic=sales_topic, interactions=True)
    )
    summary = producer.run()
    assert (summary.sent, summary.delivered, summary.failed) == (400, 400, 0)

    sales = [decode(v) for v in _read_all(sales_topic, stack.settings.partitions)]
    interactions = [
        decode_interaction(v) for v in _read_all(names.interactions_topic, stack.settings.partitions)
    ]
    assert len(sales) == 400
    sale_orders = {e.order_id for e in sales if e.event_type == "sale"}
    # Abandoned checkouts carry no order id; every order with sale lines has exactly one checkout,
    # started before the order's first line.
    checkouts = [i for i in interactions if i.kind == CHECKOUT_STARTED and i.order_id is not None]
    assert sorted(i.order_id for i in checkouts) == sorted(sale_orders)
    first_sale = {}
    for e in sales:
        if e.event_type == "sale":
            first_sale[e.order_id] = min(first_sale.get(e.order_id, e.event_time_ms), e.event_time_ms)
    assert all(i.event_time_ms < first_sale[i.order_id] for i in checkouts)
    # Every sold (customer, product) pair was put in a cart first.
    carted = {(i.customer_id, i.product_id) for i in interactions if i.kind == ADD_TO_CART}
    sold = {(e.customer_id, e.product_id) for e in sales if e.event_type == "sale"}
    assert sold <= carted
