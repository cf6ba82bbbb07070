from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """The Prometheus endpoint (``/metrics``) over what each layer already records."""

    name = "monitoring"
