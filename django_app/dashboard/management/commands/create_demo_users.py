"""``manage.py create_demo_users``: the demo's analyst and staff accounts (idempotent)."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

DEFAULT_PASSWORD = "salespulse-demo"


class Command(BaseCommand):
    help = "Create or refresh the users 'analyst' (read-only) and 'staff' (may generate test data)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--password",
            default=os.environ.get("SALESPULSE_DEMO_PASSWORD", DEFAULT_PASSWORD),
            help="password of both users (default $SALESPULSE_DEMO_PASSWORD or 'salespulse-demo')",
        )

    def handle(self, *args: object, **options: object) -> None:
        users = get_user_model()
        for name, staff in (("analyst", False), ("staff", True)):
            user, created = users.objects.get_or_create(username=name)
            user.is_staff = staff
            user.set_password(str(options["password"]))
            user.save()
            token, _ = Token.objects.get_or_create(user=user)
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb} {name} (staff={staff}); API token {token.key}")
