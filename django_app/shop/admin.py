"""Admin for the shop: staff edit orders here, and every saved change reaches Kafka via CDC.

Cancelling is a status change, not a delete, so the history stays in the
database; the capture turns it into a refund either way.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from shop.models import Book, Customer, Order, OrderLine


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "author", "genre", "price")
    list_filter = ("genre",)
    search_fields = ("code", "title", "author", "isbn")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "region", "segment")
    list_filter = ("region", "segment")
    search_fields = ("code", "name", "email")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 1
    autocomplete_fields = ("book",)
    fields = ("line_no", "book", "quantity", "unit_price", "discount", "status")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "channel", "payment_method", "currency", "created_at")
    list_filter = ("channel", "payment_method")
    search_fields = ("number", "customer__code", "customer__name")
    autocomplete_fields = ("customer",)
    inlines = (OrderLineInline,)
    actions = ("cancel_orders",)

    @admin.action(description="Cancel every line of the selected orders (refunds)")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        # One transaction: the capture sees all the refunds in one commit.
        with transaction.atomic():
            changed = OrderLine.objects.filter(order__in=queryset, status=OrderLine.Status.ACTIVE).update(
                status=OrderLine.Status.CANCELLED
            )
        self.message_user(request, f"{changed} line(s) cancelled.", messages.SUCCESS)


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ("order", "line_no", "book", "quantity", "unit_price", "discount", "status")
    list_filter = ("status",)
    search_fields = ("order__number", "book__code")
    autocomplete_fields = ("order", "book")
