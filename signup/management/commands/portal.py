"""python manage.py portal add|update|sync|check|list: manage portals from the shell."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from signup import cli, cognito, flows, operators, preflight, presignup
from signup.models import Challenge, Portal

# Who may use a portal from another site: (option, what one origin may do, what "none" means).
ORIGIN_LISTS = [
    ("embed-origin", "frame the form, e.g. https://www.example.com", "Let no site frame the form."),
    ("api-origin", "call the JSON API from a browser, e.g. https://app.example.com", "Let no site call the API."),
]


def _origin_options(parser: CommandParser, *, update: bool) -> None:
    """--embed-origin and --api-origin (repeatable); on update they replace the list, and --no-...s empties it."""
    for name, may, none in ORIGIN_LISTS:
        parser.add_argument(
            f"--{name}",
            action="append",
            default=None if update else [],
            metavar="ORIGIN",
            help=f"{'Replaces the list: ' if update else ''}a site that may {may} (repeatable).",
        )
        if update:
            parser.add_argument(f"--no-{name}s", action="store_true", help=none)


def _defence_options(parser: CommandParser, *, update: bool) -> None:
    """The challenge and who may sign up (issue: bots and fraud). On update only the options given change."""
    parser.add_argument(
        "--challenge",
        choices=Challenge.values,
        default=None if update else Challenge.ALTCHA,
        help="What a browser or app must pass before Cognito is called (default for a new portal: altcha).",
    )
    parser.add_argument("--challenge-cost", type=int, metavar="N", help="ALTCHA: PBKDF2 iterations per guess.")
    parser.add_argument("--challenge-site-key", metavar="KEY", help="Turnstile or hCaptcha: the site key.")
    parser.add_argument(
        "--challenge-secret-env", metavar="VAR", help="Turnstile or hCaptcha: the variable holding the secret."
    )
    for flag, may in [("allow", "Only these"), ("deny", "Not these")]:
        parser.add_argument(
            f"--{flag}-email-domain",
            nargs="+",
            action="extend",
            metavar="DOMAIN",
            help=f"{'Replaces the list: ' if update else ''}{may} e-mail domains (each covers its subdomains).",
        )
    disposable = parser.add_mutually_exclusive_group()
    disposable.add_argument("--block-disposable-email", dest="block_disposable", action="store_true", default=None)
    disposable.add_argument("--allow-disposable-email", dest="block_disposable", action="store_false")
    parser.add_argument(
        "--allow-phone-country",
        nargs="+",
        action="extend",
        metavar="CC",
        help=f"{'Replaces the list: ' if update else ''}only phone numbers of these regions (ISO 3166, e.g. US DE).",
    )
    if update:
        parser.add_argument("--no-email-domain-rules", action="store_true", help="Empty both e-mail domain lists.")
        parser.add_argument("--any-phone-country", action="store_true", help="Let phone numbers of any region in.")


DEFENCE_FIELDS = [
    ("challenge", "challenge"),
    ("challenge_cost", "challenge_cost"),
    ("challenge_site_key", "challenge_site_key"),
    ("challenge_secret_env", "challenge_secret_env"),
    ("allow_email_domain", "email_domains_allowed"),
    ("deny_email_domain", "email_domains_denied"),
    ("block_disposable", "block_disposable_email"),
    ("allow_phone_country", "phone_regions"),
]


def _apply_defences(portal: Portal, options: dict[str, Any]) -> None:
    for option, field in DEFENCE_FIELDS:
        if options.get(option) is not None:
            setattr(portal, field, options[option])
    if options.get("no_email_domain_rules"):
        portal.email_domains_allowed, portal.email_domains_denied = [], []
    if options.get("any_phone_country"):
        portal.phone_regions = []


def _hook_options(parser: CommandParser) -> None:
    """The pre sign-up hook (signup/presignup.py). On update only the options given change."""
    parser.add_argument(
        "--pre-signup-hook-url",
        metavar="URL",
        help="Ask this URL before each sign-up whether it may go on (an empty string removes the hook).",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--pre-signup-hook-secret-env", metavar="VAR", help="The variable holding the hook's signing secret (whsec_…)."
    )
    secret.add_argument(
        "--pre-signup-hook-generate-secret",
        action="store_true",
        help="Sign with a new generated secret (printed once) instead of a variable's.",
    )
    failure = parser.add_mutually_exclusive_group()
    for flag, value, then in [("open", True, "let the sign-up go on"), ("closed", False, "refuse it politely")]:
        failure.add_argument(
            f"--pre-signup-hook-fail-{flag}",
            dest="pre_signup_hook_fail_open",
            action="store_const",
            const=value,
            help=f"When the hook gives no usable answer in time, {then}{' (the default)' if not value else ''}.",
        )


def _apply_hook(portal: Portal, options: dict[str, Any]) -> str:
    """The hook's options set on the portal; the secret generated now (to print once), or ""."""
    if options.get("pre_signup_hook_url") is not None:
        portal.pre_signup_hook_url = options["pre_signup_hook_url"].strip()
    if options.get("pre_signup_hook_secret_env") is not None:
        portal.pre_signup_hook_secret_env = options["pre_signup_hook_secret_env"].strip()
    if options.get("pre_signup_hook_fail_open") is not None:
        portal.pre_signup_hook_fail_open = options["pre_signup_hook_fail_open"]
    return presignup.ensure_secret(portal, renew=bool(options.get("pre_signup_hook_generate_secret")))


def _hook(portal: Portal, generated: str) -> str:
    if not portal.pre_signup_hook_url:
        return "Pre sign-up hook: none"
    secret = (
        f"the variable {portal.pre_signup_hook_secret_env}"
        if portal.pre_signup_hook_secret_env
        else "a generated secret"
    )
    failing = "lets the sign-up go on" if portal.pre_signup_hook_fail_open else "refuses the sign-up"
    line = f"Pre sign-up hook: {portal.pre_signup_hook_url}, signed with {secret}; no usable answer {failing}"
    if generated:
        line += f"\nThe hook's signing secret, shown this once: {generated}"
    return line


def _defences(portal: Portal) -> str:
    check = portal.get_challenge_display() if portal.challenge != Challenge.OFF else "no challenge"
    rules = [
        f"e-mail domains only {', '.join(portal.email_domains_allowed)}" if portal.email_domains_allowed else "",
        f"not {', '.join(portal.email_domains_denied)}" if portal.email_domains_denied else "",
        "no disposable addresses" if portal.block_disposable_email else "",
        f"phones from {' '.join(portal.phone_regions)}" if portal.phone_regions else "",
    ]
    return "; ".join([str(check), *(r for r in rules if r)])


class Command(BaseCommand):
    help = "Add, sync and list sign-up portals."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Create a portal for a user pool and app client, then sync it.")
        add.add_argument("slug")
        add.add_argument("--user-pool-id", required=True)
        add.add_argument("--client-id", required=True)
        add.add_argument("--name", default="")
        add.add_argument("--region", default="")
        add.add_argument("--endpoint-url", default="")
        add.add_argument("--client-secret-env", default="")
        add.add_argument("--closed", action="store_true", help="Create it closed to sign-ups.")
        add.add_argument("--no-sync", action="store_true", help="Do not call Cognito now.")
        _origin_options(add, update=False)
        _defence_options(add, update=False)
        _hook_options(add)
        update = sub.add_parser("update", help="Change a portal; only the options given change.")
        update.add_argument("slug")
        update.add_argument("--name")
        update.add_argument("--region")
        update.add_argument("--endpoint-url")
        update.add_argument("--client-secret-env")
        state = update.add_mutually_exclusive_group()
        state.add_argument("--open", dest="is_open", action="store_true", default=None)
        state.add_argument("--closed", dest="is_open", action="store_false")
        _origin_options(update, update=True)
        _defence_options(update, update=True)
        _hook_options(update)
        sync = sub.add_parser("sync", help="Re-read the pool and client (all portals when no slug is given).")
        sync.add_argument("slug", nargs="?")
        check = sub.add_parser(
            "check",
            help="Before going live: the pool and client, every permission of the IAM policy (by calls that "
            "change nothing), the client secret, schema drift and the origins; non-zero exit on a blocker.",
        )
        check.add_argument("slugs", nargs="*", metavar="SLUG", help="These portals (default: every portal).")
        cli.add_omit_option(check)
        sub.add_parser("list", help="List portals.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_add(self, options: dict[str, Any]) -> None:
        if Portal.objects.filter(slug=options["slug"]).exists():
            raise CommandError(f"A portal '{options['slug']}' exists already.")
        region = options["region"] or _region_from_pool_id(options["user_pool_id"])
        portal = Portal(
            slug=options["slug"],
            name=options["name"] or options["slug"].replace("-", " ").title(),
            region=region,
            user_pool_id=options["user_pool_id"],
            client_id=options["client_id"],
            endpoint_url=options["endpoint_url"],
            client_secret_env=options["client_secret_env"],
            is_open=not options["closed"],
            embed_origins=options["embed_origin"],
            api_origins=options["api_origin"],
        )
        _apply_defences(portal, options)
        generated = _apply_hook(portal, options)
        _save(portal)
        self.stdout.write(f"Added portal {portal.slug}: /signup/{portal.slug}/ ({_defences(portal)})")
        if portal.pre_signup_hook_url:
            self.stdout.write(_hook(portal, generated))
        if not options["no_sync"]:
            self._sync(portal)

    def handle_update(self, options: dict[str, Any]) -> None:
        portal = Portal.objects.filter(slug=options["slug"]).first()
        if portal is None:
            raise CommandError(f"No portal '{options['slug']}'.")
        for option, field in [
            ("name", "name"),
            ("region", "region"),
            ("endpoint_url", "endpoint_url"),
            ("client_secret_env", "client_secret_env"),
            ("is_open", "is_open"),
            ("embed_origin", "embed_origins"),
            ("api_origin", "api_origins"),
        ]:
            if options[option] is not None:
                setattr(portal, field, options[option])
        if options["no_embed_origins"]:
            portal.embed_origins = []
        if options["no_api_origins"]:
            portal.api_origins = []
        _apply_defences(portal, options)
        hook_before = (portal.pre_signup_hook_url, portal.pre_signup_hook_secret_env, portal.pre_signup_hook_fail_open)
        generated = _apply_hook(portal, options)
        _save(portal)
        origins = ", ".join(portal.embed_origins) or "none"
        callers = ", ".join(portal.api_origins) or "none"
        self.stdout.write(
            f"Updated {portal.slug}: {'open' if portal.is_open else 'closed'}; may be framed by {origins}; "
            f"API callable from browsers on {callers}; {_defences(portal)}"
        )
        hook_now = (portal.pre_signup_hook_url, portal.pre_signup_hook_secret_env, portal.pre_signup_hook_fail_open)
        if generated or hook_now != hook_before:
            self.stdout.write(_hook(portal, generated))

    def handle_sync(self, options: dict[str, Any]) -> None:
        portals = _named_or_all([options["slug"]] if options["slug"] else [])
        failures = sum(not self._sync(p) for p in portals)
        if failures:
            raise CommandError(f"{failures} portal(s) could not be synced.")

    def handle_check(self, options: dict[str, Any]) -> None:
        portals = _named_or_all(options["slugs"])
        if not portals:
            self.stdout.write("No portals yet: nothing to check (add one with python manage.py portal add).")
        blockers = 0
        for portal in portals:
            for finding in preflight.portal_check(portal=portal, omit=options["omit"]):
                blockers += finding.blocks
                self.stdout.write(f"{portal.slug}: {finding.level:<4} {finding.text}")
        if blockers:
            raise CommandError(f"{blockers} finding(s) to fix before going live.")

    def handle_list(self, options: dict[str, Any]) -> None:
        for portal in Portal.objects.all():
            state = "open" if portal.is_open else "closed"
            synced = portal.synced_at.isoformat(timespec="seconds") if portal.synced_at else "never synced"
            self.stdout.write(
                f"{portal.slug}\t{state}\t{portal.region}\t{portal.user_pool_id}\t{portal.client_id}\t{synced}"
            )

    def _sync(self, portal: Portal) -> bool:
        try:
            flows.portal_sync(portal=portal)
        except cognito.CognitoFailure as error:
            reason = operators.failure_text(error, detail=True)
            self.stderr.write(f"{portal.slug}: sync failed: {reason}")
            return False
        spec = flows.portal_form_spec(portal)
        self.stdout.write(f"Synced {portal.slug}: {len(spec.fields)} fields, username mode {spec.username_mode}")
        return True


def _named_or_all(slugs: list[str]) -> list[Portal]:
    portals, unknown = cli.portals_named(slugs)
    if unknown:
        raise CommandError(f"No portal {', '.join(repr(slug) for slug in unknown)}.")
    return portals


def _save(portal: Portal) -> None:
    """Validate as admin does (origins normalised, colours checked) and save, or say what is wrong."""
    try:
        portal.full_clean()
    except ValidationError as error:
        raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from error
    portal.save()


def _region_from_pool_id(pool_id: str) -> str:
    # Pool ids are "<region>_<id>", e.g. us-east-1_AbCdEf123.
    return pool_id.split("_", 1)[0] if "_" in pool_id else "us-east-1"
