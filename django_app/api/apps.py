from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The analytics REST API: batch views merged with speed views."""

    name = "api"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete
        from rest_framework.authtoken.models import Token

        # The serving path remembers checked sessions and tokens for a few seconds: forget
        # them at once when this process ends a session or deletes a token.
        user_logged_out.connect(_session_ended, dispatch_uid="api-forget-session")
        post_delete.connect(_token_deleted, sender=Token, dispatch_uid="api-forget-token")


def _session_ended(sender: object, request: object = None, **kwargs: object) -> None:
    from api.serving import forget_session

    session = getattr(request, "session", None)
    forget_session(getattr(session, "session_key", None))


def _token_deleted(sender: object, instance: object, **kwargs: object) -> None:
    from api.serving import forget_token

    forget_token(str(getattr(instance, "key", "")))
