"""python manage.py purge_attempts --older-than DAYS: apply the retention policy to old attempts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from signup import operators


class Command(BaseCommand):
    help = "Delete or anonymise attempts older than a number of days (SIGNUP_RETENTION_MODE)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, default=settings.SIGNUP_RETENTION_DAYS, metavar="DAYS")
        parser.add_argument(
            "--mode",
            choices=["anonymise", "delete"],
            default=settings.SIGNUP_RETENTION_MODE,
            help="anonymise keeps the outcome for statistics and removes personal data; delete removes the rows.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count them, change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if options["dry_run"]:
            count = operators.purgeable(days, options["mode"]).count()
            self.stdout.write(f"{count} attempt(s) older than {days} days would be {options['mode']}d.")
            return
        count = operators.attempts_purge(days=days, mode=options["mode"])
        self.stdout.write(f"{count} attempt(s) older than {days} days {options['mode']}d.")
