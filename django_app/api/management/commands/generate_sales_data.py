"""``manage.py generate_sales_data --books N --sales M [--skip-lake] [--skip-warehouse]``.

The reference design's command, mapped onto this platform: the history
generator writes sales into the lake (``salespulse generate``), then the
batch job rebuilds the warehouse from it (``salespulse batch``).  The same
steps the API's generate-test-data job runs, here in the foreground.
"""

import subprocess

from django.core.management.base import BaseCommand, CommandError

from api.services import generation_steps


class Command(BaseCommand):
    help = "Generate test sales into the lake and rebuild the warehouse from it."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--books", type=int, default=500, help="books in the catalogue (default 500)")
        parser.add_argument(
            "--sales", type=int, default=10_000, help="sale lines to generate (default 10000)"
        )
        parser.add_argument(
            "--skip-lake", action="store_true", help="do not generate into the lake (only rebuild)"
        )
        parser.add_argument(
            "--skip-warehouse", action="store_true", help="generate into the lake but do not rebuild"
        )

    def handle(self, *args: object, **options: object) -> None:
        books, sales = int(options["books"]), int(options["sales"])  # type: ignore[call-overload]
        if books < 1 or sales < 1:
            raise CommandError("--books and --sales must be positive")
        steps = generation_steps(
            books, sales, skip_lake=bool(options["skip_lake"]), skip_warehouse=bool(options["skip_warehouse"])
        )
        if not steps:
            self.stdout.write("nothing to do (both --skip-lake and --skip-warehouse given)")
            return
        for step in steps:
            self.stdout.write(f"==> {step.name}: {' '.join(step.argv[2:])}")
            code = subprocess.run(step.argv, check=False).returncode
            if code != 0:
                raise CommandError(f"step {step.name} failed with exit code {code}")
        self.stdout.write(self.style.SUCCESS("done"))
