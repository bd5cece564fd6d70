"""python manage.py iam_policy [SLUG ...]: the least-privilege IAM policy for the portals' AWS identity."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signup import cli, permissions


class Command(BaseCommand):
    help = (
        "Print the IAM policy (JSON) the portal's AWS identity needs for the named portals (all when none): "
        "one statement per feature, on the pools' ARNs only. Explanations go to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        cli.add_omit_option(parser)
        parser.add_argument(
            "--account-id",
            default="",
            metavar="ID",
            help="The AWS account of pools never synced (a synced portal's ARN comes from DescribeUserPool).",
        )
        parser.add_argument("--quiet", action="store_true", help="Only the policy, no explanation on stderr.")

    def handle(self, *args: Any, **options: Any) -> None:
        portals, unknown = cli.portals_named(options["slugs"])
        if unknown:
            raise CommandError(f"No portal {', '.join(unknown)}.")
        if not portals:
            raise CommandError("There are no portals yet: add one with python manage.py portal add.")
        account_id = options["account_id"].strip()
        if account_id and not (account_id.isdigit() and len(account_id) == 12):
            raise CommandError("--account-id takes the 12-digit AWS account id.")
        try:
            document = permissions.policy(portals, omit=options["omit"], account_id=account_id)
        except permissions.UnknownArn as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(document, indent=2))
        if not options["quiet"]:
            self.stderr.write(self._explanation(document, options["omit"]))

    def _explanation(self, document: dict[str, Any], omit: list[str]) -> str:
        lines = [
            "",
            f"No statement for {', '.join(permissions.PUBLIC_CALLS)}: they are public calls, which Cognito "
            "answers without IAM, and the portal sends them unsigned.",
        ]
        present = {statement["Sid"] for statement in document["Statement"]}
        for feature in permissions.FEATURES:
            if feature.sid in present:
                lines.append(f"{feature.sid}: {', '.join(feature.permissions)}, for {feature.purpose}.")
        for sid in omit:
            lines.append(f"{sid}: left out (--omit); what needs it names the missing permission when used.")
        lines.append("Credentials come from the standard AWS chain: give this policy to the task or instance role.")
        return "\n".join(lines)
