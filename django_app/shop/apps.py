from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The OLTP shop; ``salespulse/cdc/schema.sql`` is the same schema as plain DDL."""

    name = "shop"
    verbose_name = "Shop (transactional)"
    default_auto_field = "django.db.models.BigAutoField"
