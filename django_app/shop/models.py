"""OLTP models of the reference book-sales design, captured by ``salespulse cdc``.

Kept in step with ``salespulse/cdc/schema.sql`` (the same tables as plain DDL,
for the capture process and tests that must not depend on the web app); a
test compares the two column by column.  Defaults that matter to plain SQL
writers are database defaults (``db_default``) so both paths behave alike.

How a row becomes an event (see ``salespulse.cdc.mapping``): an order line is
one ``sale.v1`` line; ``Order.number`` is the event's ``order_id``,
``Book.code`` its ``product_id``, ``Customer.code`` its ``customer_id``; the
customer's region and the order's channel, payment method and currency are
copied onto it.  Changing a line's quantity, price, discount or book emits a
refund of the old line and a sale of the new one; cancelling or deleting a
line emits a refund.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models.functions import Now

from salespulse.reference import CHANNELS, GENRES, PAYMENT_METHODS, REGIONS, SEGMENTS


def new_order_number() -> str:
    """``ORD-`` + 16 hex digits, the shape the simulator uses, so ids never clash in practice."""
    return "ORD-" + secrets.token_hex(8).upper()


class Book(models.Model):
    code = models.CharField(max_length=32, unique=True, help_text="Catalogue id, e.g. BK0000001.")
    isbn = models.CharField(max_length=13, blank=True, db_default="")
    title = models.CharField(max_length=300)
    author = models.CharField(max_length=200)
    genre = models.CharField(max_length=64, choices=[(g, g) for g in GENRES])
    publisher = models.CharField(max_length=120, blank=True, db_default="")
    publication_year = models.SmallIntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ("code",)
        constraints = (
            models.CheckConstraint(condition=models.Q(price__gte=0), name="shop_book_price_gte_0"),
        )

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Customer(models.Model):
    code = models.CharField(max_length=32, unique=True, help_text="Customer id, e.g. CU0000001.")
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254, blank=True, db_default="")
    region = models.CharField(max_length=32, choices=[(r.code, r.name) for r in REGIONS])
    segment = models.CharField(max_length=32, choices=[(s, s) for s in SEGMENTS], db_default="consumer")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Order(models.Model):
    number = models.CharField(max_length=32, unique=True, default=new_order_number)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    channel = models.CharField(max_length=32, choices=[(c.code, c.name) for c in CHANNELS])
    payment_method = models.CharField(max_length=32, choices=[(p, p) for p in PAYMENT_METHODS])
    currency = models.CharField(max_length=3, db_default="USD")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.SmallIntegerField()
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    discount = models.DecimalField(max_digits=5, decimal_places=4, db_default=0)
    status = models.CharField(max_length=16, choices=Status.choices, db_default=Status.ACTIVE)
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), auto_now=True)

    class Meta:
        ordering = ("order_id", "line_no")
        constraints = (
            models.UniqueConstraint(fields=("order", "line_no"), name="shop_orderline_order_line_uniq"),
            models.CheckConstraint(condition=models.Q(line_no__gte=1), name="shop_orderline_line_no_gte_1"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="shop_orderline_quantity_gt_0"),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="shop_orderline_unit_price_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(discount__gte=0, discount__lte=1), name="shop_orderline_discount_0_1"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "cancelled"]), name="shop_orderline_status_valid"
            ),
        )

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_no}"
