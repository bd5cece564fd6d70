"""python manage.py reconcile_attempts: settle pending and unknown attempts by asking Cognito."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from signup import operators
from signup.models import SignupAttempt


class Command(BaseCommand):
    help = "Ask Cognito whether the users of old pending/unknown attempts exist, and record the answer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=settings.SIGNUP_RECONCILE_AFTER_MINUTES,
            help="Only attempts at least this old (default: SIGNUP_RECONCILE_AFTER_MINUTES).",
        )
        parser.add_argument("--dry-run", action="store_true", help="List them, change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than_minutes"] < 0:
            raise CommandError("--older-than-minutes must be 0 or more.")
        attempts = SignupAttempt.objects.to_reconcile(timedelta(minutes=options["older_than_minutes"]))
        failures = 0
        for attempt in attempts.iterator():
            if options["dry_run"]:
                self.stdout.write(f"{attempt.reference}\t{attempt.portal.slug}\t{attempt.status}\t{attempt.username}")
                continue
            result = operators.attempt_reconcile(attempt=attempt)
            failures += not result.ok
            self.stdout.write(f"{attempt.reference}\t{attempt.portal.slug}\t{result.note}")
        if failures:
            raise CommandError(f"{failures} attempt(s) could not be reconciled; they stay as they were.")
