"""python manage.py webhook add|list|remove: a portal's webhook endpoints from the shell (docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q

from signup import webhooks
from signup.models import Portal, WebhookDelivery, WebhookEndpoint, WebhookEvent

# What an endpoint can ask for; the operator's test event goes to every endpoint whatever it asked for.
EVENTS = [e for e in WebhookEvent.values if e != WebhookEvent.TEST]


class Command(BaseCommand):
    help = "Add, list and remove the webhook endpoints a portal tells of its sign-ups."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Send a portal's events to a URL, signed per Standard Webhooks.")
        add.add_argument("slug")
        add.add_argument("--url", required=True, help="Where to POST; https on a public address in production.")
        secret = add.add_mutually_exclusive_group(required=True)
        secret.add_argument(
            "--secret-env", metavar="VAR", help="The environment variable holding the signing secret (whsec_...)."
        )
        secret.add_argument("--generate-secret", action="store_true", help="Make a signing secret and print it, once.")
        add.add_argument(
            "--event",
            action="append",
            default=[],
            choices=EVENTS,
            metavar="TYPE",
            help=f"An event to send (repeatable; default: all): {', '.join(EVENTS)}.",
        )
        add.add_argument(
            "--include-attributes", action="store_true", help="Send the attribute values (never the password)."
        )
        listing = sub.add_parser("list", help="List endpoints (of one portal when a slug is given).")
        listing.add_argument("slug", nargs="?")
        remove = sub.add_parser("remove", help="Remove an endpoint and its delivery log.")
        remove.add_argument("id", type=int)
        sub.add_parser(
            "recover",
            help="Queue again the deliveries a worker left behind when it died mid-try (run at each worker start).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_add(self, options: dict[str, Any]) -> None:
        portal = _portal(options["slug"])
        endpoint = WebhookEndpoint(
            portal=portal,
            url=options["url"],
            events=list(dict.fromkeys(options["event"])),
            secret_env=options["secret_env"] or "",
            secret=webhooks.new_secret() if options["generate_secret"] else "",
            include_attributes=options["include_attributes"],
        )
        try:
            endpoint.full_clean()
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from error
        endpoint.save()
        self.stdout.write(f"Added endpoint {endpoint.pk} for {portal.slug}: {endpoint.url} ({_events(endpoint)})")
        if endpoint.secret:
            self.stdout.write(f"Signing secret: {endpoint.secret}")
            self.stdout.write("It will not be shown again: give it to the receiver now.")
        elif not webhooks.signing_secret(endpoint.secret_env, ""):
            self.stderr.write(
                f"Warning: {endpoint.secret_env} (or {endpoint.secret_env}_FILE) is not set now; "
                "deliveries fail until the worker has it."
            )

    def handle_recover(self, options: dict[str, Any]) -> None:
        count = webhooks.requeue_stranded()
        self.stdout.write(f"Queued again {count} delivery(ies) a stopped worker left behind.")

    def handle_list(self, options: dict[str, Any]) -> None:
        endpoints = WebhookEndpoint.objects.select_related("portal").annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)),
        )
        if options["slug"]:
            endpoints = endpoints.filter(portal=_portal(options["slug"]))
        for endpoint in endpoints:
            secret = f"secret from ${endpoint.secret_env}" if endpoint.secret_env else "generated secret"
            self.stdout.write(
                "\t".join(
                    [
                        str(endpoint.pk),
                        endpoint.portal.slug,
                        endpoint.url,
                        _events(endpoint),
                        _state(endpoint),
                        secret,
                        f"{endpoint.pending} pending, {endpoint.failed} failed",
                    ]
                )
            )

    def handle_remove(self, options: dict[str, Any]) -> None:
        endpoint = WebhookEndpoint.objects.select_related("portal").filter(pk=options["id"]).first()
        if endpoint is None:
            raise CommandError(f"No webhook endpoint {options['id']}.")
        deliveries = endpoint.deliveries.count()
        endpoint.delete()
        self.stdout.write(
            f"Removed endpoint {options['id']} of {endpoint.portal.slug} ({endpoint.url}) "
            f"and its {deliveries} logged deliveries."
        )


def _portal(slug: str) -> Portal:
    portal = Portal.objects.filter(slug=slug).first()
    if portal is None:
        raise CommandError(f"No portal '{slug}'.")
    return portal


def _events(endpoint: WebhookEndpoint) -> str:
    return ", ".join(endpoint.events) if endpoint.events else "all"


def _state(endpoint: WebhookEndpoint) -> str:
    if not endpoint.enabled:
        return f"disabled: {endpoint.disabled_reason}" if endpoint.disabled_reason else "disabled"
    if endpoint.failing_since:
        return f"enabled, failing since {endpoint.failing_since.isoformat(timespec='minutes')}"
    return "enabled"
