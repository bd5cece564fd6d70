"""Portals (one per user pool and app client) and the record of every sign-up attempt."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .cognito import CodeDelivery, Target
from .fields import validation_data_choices
from .schema import ConsentSpec, Override, ValidationDataSpec

if TYPE_CHECKING:
    from .abuse import Limit

# What a portal's form is built from besides the snapshot: overrides, validation-data fields, consent.
FormInputs = tuple[tuple[Override, ...], tuple[ValidationDataSpec, ...], ConsentSpec | None]

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour as #rrggbb."))
ENV_VAR_NAME = RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", _("An environment variable name, e.g. DEMO_CLIENT_SECRET."))
VALIDATION_DATA_NAME = RegexValidator(r"^[A-Za-z0-9_.:-]{1,32}$", _("1 to 32 letters, digits, _ . : or -."))


class Challenge(models.TextChoices):
    OFF = "off", _("none")
    ALTCHA = "altcha", _("ALTCHA proof of work")
    TURNSTILE = "turnstile", _("Cloudflare Turnstile")
    HCAPTCHA = "hcaptcha", _("hCaptcha")


class Portal(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(_("display name"), max_length=200)
    region = models.CharField(max_length=32, default="us-east-1")
    user_pool_id = models.CharField(max_length=55)
    client_id = models.CharField(max_length=128)
    endpoint_url = models.URLField(
        blank=True, help_text=_("Leave empty for AWS; set for the local Cognito or a VPC endpoint.")
    )
    client_secret_env = models.CharField(
        _("client secret variable"),
        max_length=128,
        blank=True,
        validators=[ENV_VAR_NAME],
        help_text=_(
            "Environment variable that holds the app client secret. Empty: read it from "
            "DescribeUserPoolClient at run time. The secret itself is never stored."
        ),
    )
    is_open = models.BooleanField(_("open"), default=True)
    success_url = models.URLField(
        blank=True, help_text=_("Where to send users after confirmation; the host must be on the allowlist.")
    )
    client_metadata = models.JSONField(
        default=dict, blank=True, help_text=_('Static ClientMetadata sent with every call, e.g. {"source": "web"}.')
    )
    client_metadata_params = models.JSONField(
        default=list,
        blank=True,
        help_text=_('Query parameters passed through to ClientMetadata, e.g. ["campaign", "ref"].'),
    )
    advanced_security = models.BooleanField(
        default=False, help_text=_("Load Cognito's threat-protection script and send its EncodedData.")
    )
    # Branding: rendered through /signup/<slug>/theme.css as CSS custom properties.
    heading = models.CharField(max_length=200, blank=True, help_text=_("Replaces “Create your … account”."))
    intro = models.TextField(blank=True, help_text=_("A short paragraph under the heading."))
    footer_text = models.TextField(blank=True)
    logo_url = models.URLField(blank=True, help_text=_("An https:// image; shown above the heading."))
    brand_colour = models.CharField(max_length=7, default="#1f5fbf", validators=[HEX_COLOUR])
    brand_text_colour = models.CharField(
        max_length=7, default="#ffffff", validators=[HEX_COLOUR], help_text=_("Text on the brand colour (buttons).")
    )
    background_colour = models.CharField(max_length=7, default="#f3f5f8", validators=[HEX_COLOUR])
    text_colour = models.CharField(max_length=7, default="#1b1f24", validators=[HEX_COLOUR])
    # Consent: when required, the form asks for it and the attempt records what was accepted.
    require_consent = models.BooleanField(default=False)
    terms_url = models.URLField(blank=True)
    privacy_url = models.URLField(blank=True)
    consent_version = models.CharField(
        max_length=64, blank=True, help_text=_("Recorded on each attempt, e.g. 2026-11 or v3.")
    )
    embed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Sites that may frame the form, e.g. ["https://www.example.com", "https://*.example.com"]. '
            "A wildcard covers subdomains but not the domain itself."
        ),
    )
    api_origins = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "Sites whose pages may call this portal's JSON API from a browser (CORS), "
            'e.g. ["https://app.example.com"]. '
            "A wildcard covers subdomains but not the domain itself."
        ),
    )
    hide_existing_accounts = models.BooleanField(
        default=False,
        help_text=_(
            "Answer a taken username like a new one (no one learns which accounts exist). Only for app "
            "clients with a secret: without one, anybody can ask Cognito directly."
        ),
    )
    rate_limits = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            'This portal\'s own limits as COUNT/SECONDS, e.g. {"signup_per_ip": "5/600", '
            '"signup_per_portal": "100/60"}; others come from settings.'
        ),
    )
    sensitive_attributes = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Attributes whose values are masked in admin lists, attempt pages and exports, e.g. ["phone_number"].'
        ),
    )
    # Bots and fraud (signup/challenges.py, signup/admission.py): the challenge every browser and API
    # sign-up must pass, and who may sign up.
    challenge = models.CharField(
        max_length=16,
        choices=Challenge.choices,
        default=Challenge.ALTCHA,
        help_text=_(
            "What a visitor's browser must pass before Cognito is called: a proof of work (ALTCHA, no third "
            "party, no cookie), Cloudflare Turnstile, hCaptcha, or nothing."
        ),
    )
    challenge_cost = models.PositiveIntegerField(
        default=500,
        validators=[MinValueValidator(1), MaxValueValidator(20_000)],
        help_text=_(
            "ALTCHA: PBKDF2 iterations per guess; a browser makes 5,000 to 10,000 guesses. The default, 500, "
            "took 1.5 s (median) in Chromium on a 2-core server (bench/challenge.py); phones are slower."
        ),
    )
    challenge_site_key = models.CharField(
        max_length=128, blank=True, help_text=_("Turnstile or hCaptcha: the site key (public) from the provider.")
    )
    challenge_secret_env = models.CharField(
        _("challenge secret variable"),
        max_length=128,
        blank=True,
        validators=[ENV_VAR_NAME],
        help_text=_(
            "Turnstile or hCaptcha: the environment variable holding the secret key. Empty: "
            "TURNSTILE_SECRET_KEY or HCAPTCHA_SECRET_KEY. The secret itself is never stored."
        ),
    )
    email_domains_allowed = models.JSONField(
        default=list,
        blank=True,
        help_text=_('Only these e-mail domains may sign up, e.g. ["example.com"]; each covers its subdomains.'),
    )
    email_domains_denied = models.JSONField(
        default=list,
        blank=True,
        help_text=_('These e-mail domains may not sign up, e.g. ["example.net"]; each covers its subdomains.'),
    )
    block_disposable_email = models.BooleanField(
        default=False, help_text=_("Refuse addresses at disposable e-mail services (a list kept upstream).")
    )
    phone_regions = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Only phone numbers of these regions (ISO 3166 codes), e.g. ["US", "DE"]: refused numbers never '
            "reach Cognito, so no SMS goes to them. Empty: any region."
        ),
    )
    # A blocking hook before SignUp (signup/webhooks.py): the operator's URL says yes, or no with errors.
    pre_signup_hook_url = models.URLField(
        max_length=2000,
        blank=True,
        help_text=_("POSTed the sign-up (never the password) before Cognito is called; it answers allow or not."),
    )
    pre_signup_hook_secret_env = models.CharField(
        _("pre sign-up hook secret variable"),
        max_length=128,
        blank=True,
        validators=[ENV_VAR_NAME],
        help_text=_("Environment variable holding its signing secret (whsec_...). Empty: a generated one."),
    )
    pre_signup_hook_secret = models.CharField(max_length=100, blank=True, editable=False)
    pre_signup_hook_fail_open = models.BooleanField(
        default=False,
        help_text=_("When the hook times out or answers nonsense: let the sign-up go on (else refuse it politely)."),
    )
    snapshot = models.JSONField(default=dict, blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug

    def clean(self) -> None:
        if not isinstance(self.client_metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.client_metadata.items()
        ):
            raise ValidationError({"client_metadata": _("A JSON object of strings to strings.")})
        if not isinstance(self.client_metadata_params, list) or not all(
            isinstance(p, str) and p for p in self.client_metadata_params
        ):
            raise ValidationError({"client_metadata_params": _("A JSON list of parameter names.")})
        self._clean_branding()
        self._clean_origins("embed_origins")
        self._clean_origins("api_origins")
        self._clean_rate_limits()
        self._clean_defences()
        self._clean_pre_signup_hook()
        if not isinstance(self.sensitive_attributes, list) or not all(
            isinstance(a, str) for a in self.sensitive_attributes
        ):
            raise ValidationError({"sensitive_attributes": _("A JSON list of attribute names.")})
        if self.require_consent and not (self.consent_version and (self.terms_url or self.privacy_url)):
            raise ValidationError({"consent_version": _("Consent needs a version and a terms or privacy link.")})
        if self.success_url:
            from .redirects import is_allowed_redirect

            if not is_allowed_redirect(self.success_url):
                raise ValidationError({"success_url": _("This host is not in SIGNUP_REDIRECT_ALLOWED_HOSTS.")})

    def _clean_defences(self) -> None:
        from . import admission

        if self.challenge in (Challenge.TURNSTILE, Challenge.HCAPTCHA) and not self.challenge_site_key:
            raise ValidationError({"challenge_site_key": _("Turnstile and hCaptcha need the site key.")})
        domain = _("“%(value)s” is not a domain name; enter one such as example.com.")
        region = _("“%(value)s” is not a region with phone numbers; enter an ISO 3166 code such as US or DE.")
        for name, entry, refusal in [
            ("email_domains_allowed", admission.domain_entry, domain),
            ("email_domains_denied", admission.domain_entry, domain),
            ("phone_regions", admission.region_entry, region),
        ]:
            values = getattr(self, name)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValidationError({name: _("A JSON list of strings.")})
            normalised = []
            for value in values:
                try:
                    normalised.append(entry(value))
                except ValueError as error:
                    raise ValidationError({name: refusal % {"value": value}}) from error
            setattr(self, name, list(dict.fromkeys(normalised)))

    def _clean_pre_signup_hook(self) -> None:
        from .webhooks import url_refusal

        # Where the portal may send (server-side request forgery): the host's addresses are checked
        # again each time the hook is asked, as a name may resolve elsewhere later.
        refusal = url_refusal(self.pre_signup_hook_url, resolve=False) if self.pre_signup_hook_url else ""
        if refusal:
            raise ValidationError({"pre_signup_hook_url": refusal})

    def _clean_rate_limits(self) -> None:
        from .abuse import Limit

        allowed = set(settings.SIGNUP_RATE_LIMITS)
        if not isinstance(self.rate_limits, dict):
            raise ValidationError({"rate_limits": _("A JSON object of limits.")})
        for name, value in self.rate_limits.items():
            try:
                if name not in allowed:
                    raise ValueError(name)
                Limit.parse(str(value))
            except ValueError as error:
                raise ValidationError(
                    {
                        "rate_limits": _("%(name)s: use one of %(names)s with COUNT/SECONDS values.")
                        % {"name": name, "names": ", ".join(sorted(allowed))}
                    }
                ) from error

    def _clean_origins(self, name: str) -> None:
        from .embedding import normalise_origins

        origins = getattr(self, name)
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise ValidationError({name: _("A JSON list of origins.")})
        try:
            setattr(self, name, normalise_origins(origins))
        except ValueError as error:
            raise ValidationError({name: str(error)}) from error

    def _clean_branding(self) -> None:
        from .branding import MINIMUM_CONTRAST, contrast_ratio

        # WCAG 2.1 AA asks 4.5:1 for body text: refuse a palette that would fail it.
        # Text sits on the white card and, in the footer, on the page background.
        pairs = [
            ("brand_text_colour", self.brand_text_colour, self.brand_colour),
            ("brand_colour", self.brand_colour, "#ffffff"),  # links on the white card
            ("text_colour", self.text_colour, "#ffffff"),
            ("text_colour", self.text_colour, self.background_colour),
        ]
        errors = {}
        for field_name, foreground, background in pairs:
            try:
                ratio = contrast_ratio(foreground, background)
            except ValueError:
                continue  # the field validator reports the malformed colour
            if ratio < MINIMUM_CONTRAST:
                errors[field_name] = _("Contrast %(ratio).1f:1 is below 4.5:1 (WCAG AA).") % {"ratio": ratio}
        if errors:
            raise ValidationError(errors)

    @property
    def is_synced(self) -> bool:
        return bool(self.snapshot)

    @property
    def confirmation_unavailable_reason(self) -> str | None:
        """Why the portal takes no confirmations or requests for a new code, or None when it does."""
        if not self.is_open:
            return "closed"
        if not self.is_synced:
            return "not_synced"
        return None

    @property
    def unavailable_reason(self) -> str | None:
        """Why the portal takes no sign-ups, or None when it is open for them. A pool where only
        administrators create users still confirms the users they created."""
        if self.confirmation_unavailable_reason:
            return self.confirmation_unavailable_reason
        return "admin_only" if self.snapshot.get("admin_create_only") else None

    @property
    def target(self) -> Target:
        """Where this portal's calls to Cognito go."""
        return Target(
            region=self.region,
            endpoint_url=self.endpoint_url or None,
            user_pool_id=self.user_pool_id,
            client_id=self.client_id,
            client_secret_env=self.client_secret_env,
            has_secret=bool(self.snapshot.get("has_secret")),
        )

    @property
    def username_attributes(self) -> tuple[str, ...]:
        return tuple(self.snapshot.get("username_attributes") or ())

    @property
    def case_sensitive(self) -> bool:
        # A pool without UsernameConfiguration is case-sensitive (docs/cognito.md §3.3).
        return bool(self.snapshot.get("case_sensitive", True))

    def same_username(self, a: str, b: str) -> bool:
        """Whether Cognito takes two usernames for one user in this pool (docs/cognito.md §3.3)."""
        return a == b if self.case_sensitive else a.casefold() == b.casefold()

    def username_key(self, username: str) -> str:
        """The username as this pool tells users apart: for keys that must match as Cognito would."""
        return username if self.case_sensitive else username.casefold()

    def hides_existing_accounts(self) -> bool:
        """A taken username answered like a new one; only where Cognito itself cannot be asked directly,
        i.e. the client has a secret (docs/cognito.md §5.4)."""
        return self.hide_existing_accounts and bool(self.snapshot.get("has_secret"))

    def form_inputs(
        self, language: str
    ) -> tuple[tuple[Override, ...], tuple[ValidationDataSpec, ...], ConsentSpec | None]:
        """What the form is built from besides the snapshot, in `language`: the operator's overrides
        (with that language's translations), the validation-data fields, and the consent asked for."""
        translations = {t.attribute: t for t in self.field_translations.all() if t.language == language}
        overrides = {
            o.attribute: Override(
                attribute=o.attribute,
                label=o.label,
                help_text=o.help_text,
                placeholder=o.placeholder,
                order=o.order,
                hidden=o.hidden,
                choices=tuple(o.choice_list()),
            )
            for o in self.field_overrides.all()
        }
        for attribute, translation in translations.items():
            base = overrides.get(attribute, Override(attribute=attribute))
            overrides[attribute] = replace(
                base,
                label=translation.label or base.label,
                help_text=translation.help_text or base.help_text,
                placeholder=translation.placeholder or base.placeholder,
            )
        validation = tuple(
            ValidationDataSpec(
                name=v.name,
                label=v.label,
                type=v.type,
                required=v.required,
                help_text=v.help_text,
                max_length=v.max_length,
                order=v.order,
            )
            for v in self.validation_fields.all()
        )
        consent = ConsentSpec(self.consent_version, self.terms_url, self.privacy_url) if self.require_consent else None
        return tuple(sorted(overrides.values(), key=lambda o: o.attribute)), validation, consent

    def rate_limit(self, name: str) -> Limit:
        """This portal's limit `name` (settings.SIGNUP_RATE_LIMITS), or the setting where it has none."""
        from .abuse import Limit, configured

        custom = (self.rate_limits or {}).get(name)
        if isinstance(custom, str):
            try:
                return Limit.parse(custom)
            except ValueError:
                pass  # clean() refuses it; an old bad value falls back to the setting
        return configured(name)

    def user_context_ip(self, client_ip: str | None) -> str:
        """The visitor's address for UserContextData: Cognito honours it only for a client with a secret
        and additional user context propagation (docs/cognito.md §3.7)."""
        snapshot = self.snapshot
        if snapshot.get("has_secret") and snapshot.get("propagate_user_context") and client_ip:
            return client_ip
        return ""


class FieldOverride(models.Model):
    """How one generated field looks on a portal's form; the pool still decides what it accepts."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="field_overrides")
    attribute = models.CharField(
        max_length=64, help_text=_("Cognito attribute name (e.g. given_name, custom:company) or 'username'.")
    )
    label = models.CharField(max_length=200, blank=True)
    help_text = models.CharField(max_length=500, blank=True)
    placeholder = models.CharField(max_length=200, blank=True)
    order = models.IntegerField(null=True, blank=True)
    hidden = models.BooleanField(default=False, help_text=_("Optional attributes only."))
    choices = models.TextField(blank=True, help_text=_("String attributes: one allowed value per line."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["portal", "attribute"], name="one_override_per_attribute")]

    def __str__(self) -> str:
        return self.attribute

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class FieldTranslation(models.Model):
    """A field's label, help text and placeholder in one language; the override's text stays the default."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="field_translations")
    attribute = models.CharField(
        max_length=64, help_text=_("Cognito attribute name, 'username', 'password' or vd_<validation field>.")
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)
    label = models.CharField(max_length=200, blank=True)
    help_text = models.CharField(max_length=500, blank=True)
    placeholder = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portal", "attribute", "language"], name="one_translation_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.attribute} ({self.language})"


class ValidationDataField(models.Model):
    """An operator-declared field sent as ValidationData (to the pre sign-up trigger), never stored in the pool."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="validation_fields")
    name = models.CharField(max_length=32, validators=[VALIDATION_DATA_NAME])
    label = models.CharField(max_length=200)
    # The field registry decides which types validation data may have; a callable keeps the list out of migrations.
    type = models.CharField(max_length=16, choices=validation_data_choices, default="string")
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=500, blank=True)
    max_length = models.PositiveIntegerField(default=256)
    order = models.IntegerField(default=1000)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["portal", "name"], name="one_validation_field_per_name")]

    def __str__(self) -> str:
        return self.name


CONFIRMED = Q(confirmed_at__isnull=False) | Q(user_confirmed=True)


class SignupAttemptQuerySet(models.QuerySet["SignupAttempt"]):
    """The questions asked of the attempt log, each answered in one place."""

    def confirmed(self) -> SignupAttemptQuerySet:
        return self.filter(CONFIRMED)

    def unconfirmed(self) -> SignupAttemptQuerySet:
        return self.exclude(CONFIRMED)

    def stuck(self) -> SignupAttemptQuerySet:
        """Attempts that created a user who has not confirmed: the operators' queue, oldest first."""
        return self.filter(status=SignupAttempt.Status.SUCCEEDED).unconfirmed().order_by("created_at")

    def to_reconcile(self, older_than: timedelta) -> SignupAttemptQuerySet:
        """Attempts whose outcome is not known yet, old enough that no request is still waiting on it."""
        cutoff = timezone.now() - older_than
        return self.filter(
            status__in=[SignupAttempt.Status.PENDING, SignupAttempt.Status.UNKNOWN], created_at__lt=cutoff
        ).select_related("portal")

    def for_username(self, portal: Portal, username: str) -> SignupAttemptQuerySet:
        """The portal's attempts for this username, matched as the pool matches usernames."""
        lookup = "username" if portal.case_sensitive else "username__iexact"
        return self.filter(portal=portal, **{lookup: username})

    def latest_created(self, portal: Portal, username: str) -> SignupAttempt | None:
        """The newest attempt that created this user: the one a confirmation or a new code belongs to."""
        return (
            self.for_username(portal, username)
            .filter(status=SignupAttempt.Status.SUCCEEDED)
            .order_by("-created_at")
            .first()
        )

    def older_than(self, days: int) -> SignupAttemptQuerySet:
        return self.filter(created_at__lt=timezone.now() - timedelta(days=days))


class SignupAttempt(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")
        UNKNOWN = "unknown", _("unknown")
        INVALID = "invalid", _("invalid")
        BLOCKED = "blocked", _("blocked")  # refused by the abuse guards; Cognito not called

    class Channel(models.TextChoices):
        WEB = "web", _("web page")
        EMBED = "embed", _("embedded form")
        CLI = "cli", _("command line")
        API = "api", _("API")

    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    portal = models.ForeignKey(Portal, on_delete=models.PROTECT, related_name="attempts")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    username = models.CharField(max_length=256, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    validation_data_names = models.JSONField(default=list, blank=True)
    client_metadata = models.JSONField(default=dict, blank=True)
    form_errors = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    user_sub = models.CharField(max_length=128, blank=True)
    user_confirmed = models.BooleanField(null=True, blank=True)
    code_delivery = models.JSONField(default=dict, blank=True)

    consent_version = models.CharField(max_length=64, blank=True)
    consent_accepted_at = models.DateTimeField(null=True, blank=True)
    consent_source = models.CharField(
        max_length=512, blank=True, help_text=_("The page, or the embedding site, where consent was given.")
    )
    language = models.CharField(max_length=8, blank=True)
    embed_origin = models.CharField(max_length=255, blank=True, help_text=_("The customer site that framed the form."))

    # One rendered form, one SignUp: a repeated submission finds this attempt instead of calling again.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    # Lower-cased username and attribute values, so operators can search by email or company.
    search_text = models.TextField(blank=True, editable=False)
    anonymised_at = models.DateTimeField(null=True, blank=True, help_text=_("Personal data removed (retention)."))

    confirmed_at = models.DateTimeField(null=True, blank=True)
    resend_count = models.PositiveIntegerField(default=0)
    last_resent_at = models.DateTimeField(null=True, blank=True)

    objects = SignupAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["portal", "-created_at"], name="attempt_portal_recent"),
            # The dashboard's aggregates filter on a created_at range; the other columns let the
            # index alone answer them (measured: 487 -> 165 ms at 100,000 attempts on SQLite).
            models.Index(fields=["created_at", "status", "error_code", "confirmed_at"], name="attempt_outcomes"),
            # Plain btree indexes for the exact filters and lookups. db_index=True on a CharField also
            # gives PostgreSQL a varchar_pattern_ops index for LIKE 'x%', which nothing here runs and
            # every insert and update of an attempt had to maintain.
            *(
                models.Index(fields=[name], name=f"attempt_{name}")
                for name in ("username", "status", "error_code", "request_id", "user_sub", "embed_origin")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username or '?'} ({self.get_status_display()})"

    @property
    def short_reference(self) -> str:
        return str(self.reference).split("-")[0].upper()

    @staticmethod
    def search_text_for(username: str, attributes: dict[str, str]) -> str:
        return " ".join([username, *attributes.values()]).lower()[:10000]

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None or bool(self.user_confirmed)

    # --- State transitions: each writes only its own columns, in one UPDATE, and keeps the instance
    # in step. Concurrent transitions of one attempt (a confirmation while an operator looks the user
    # up) must not overwrite each other's columns, which save() would.

    def _change(self, *, announce: str | None = None, **values: Any) -> None:
        """Write `values`; with `announce`, that event's webhook deliveries in the same transaction."""
        from .webhooks import changed_and_announced

        def write() -> None:
            type(self).objects.filter(pk=self.pk).update(**values)
            for name, value in values.items():
                if not hasattr(value, "resolve_expression"):
                    setattr(self, name, value)

        changed_and_announced(self, announce, write)

    def mark_succeeded(
        self, *, user_sub: str, user_confirmed: bool, delivery: CodeDelivery | None, request_id: str, latency_ms: int
    ) -> None:
        """Cognito created the user."""
        now = timezone.now()
        self._change(
            announce=WebhookEvent.CREATED,
            status=self.Status.SUCCEEDED,
            completed_at=now,
            request_id=request_id,
            latency_ms=latency_ms,
            user_sub=user_sub,
            user_confirmed=user_confirmed,
            code_delivery=delivery.as_json() if delivery else {},
            confirmed_at=now if user_confirmed else None,
        )

    def complete_with_error(
        self, status: str, code: str, message: str, *, request_id: str = "", latency_ms: int | None = None
    ) -> None:
        """Cognito refused, failed, or left the outcome unknown (told when settled)."""
        events = {self.Status.REJECTED: WebhookEvent.REJECTED, self.Status.FAILED: WebhookEvent.FAILED}
        self._change(
            announce=events.get(status),  # type: ignore[call-overload]
            status=status,
            completed_at=timezone.now(),
            error_code=code[:128],
            error_message=message[:2000],
            request_id=request_id,
            latency_ms=latency_ms,
        )

    def release_idempotency_key(self) -> None:
        """Nothing reached Cognito (no secret, no connection): a retry with the same key may try again."""
        if self.idempotency_key is not None:
            self._change(idempotency_key=None)

    def mark_confirmed(self) -> None:
        """The user is confirmed (by its code, by an operator, or found so in Cognito)."""
        if self.confirmed_at is None:
            self._change(announce=WebhookEvent.CONFIRMED, confirmed_at=timezone.now(), user_confirmed=True)

    def settle_found(self, *, user_sub: str, confirmed: bool) -> None:
        """An attempt whose answer was lost: Cognito has the user, so it did create it."""
        now = timezone.now()
        self._change(
            announce=WebhookEvent.SETTLED,
            status=self.Status.SUCCEEDED,
            user_sub=self.user_sub or user_sub,
            user_confirmed=confirmed,
            confirmed_at=self.confirmed_at or (now if confirmed else None),
            completed_at=self.completed_at or now,
        )

    def settle_not_found(self) -> None:
        """An attempt whose answer was lost: Cognito has no such user, so it created none."""
        self._change(
            announce=WebhookEvent.SETTLED,
            status=self.Status.FAILED,
            error_code=self.error_code or "UserNotFoundException",
            completed_at=timezone.now(),
        )

    def note_code_sent(self, delivery: CodeDelivery | None) -> None:
        """A new confirmation code went out (by the visitor's request or an operator's)."""
        self._change(
            resend_count=F("resend_count") + 1,
            last_resent_at=timezone.now(),
            code_delivery=delivery.as_json() if delivery else self.code_delivery,
        )
        self.resend_count += 1

    def mark_user_deleted(self) -> None:
        """An operator deleted the unconfirmed user; the attempt stays as the record of what happened."""
        self._change(user_confirmed=False, error_code="DeletedByOperator")

    def record_event(
        self, kind: str, *, ok: bool, error_code: str = "", detail: dict[str, Any] | None = None, actor: str = ""
    ) -> AttemptEvent:
        """Add a step to the attempt's story (no personal data in `detail`: codes, statuses, media)."""
        return AttemptEvent.objects.create(
            attempt=self, kind=kind, ok=ok, error_code=error_code[:128], detail=detail or {}, actor=actor
        )


class AttemptEvent(models.Model):
    """One step in an attempt's story: Cognito's answers, confirmations, resends, operators' actions."""

    class Kind(models.TextChoices):
        SIGNUP = "signup", _("sign-up")
        CONFIRM = "confirm", _("confirmation")
        RESEND = "resend", _("code sent again")
        LOOKUP = "lookup", _("live status looked up")
        ADMIN_RESEND = "admin_resend", _("code sent again by an operator")
        ADMIN_CONFIRM = "admin_confirm", _("confirmed by an operator")
        ADMIN_DELETE = "admin_delete", _("deleted by an operator")
        RECONCILE = "reconcile", _("reconciled")

    attempt = models.ForeignKey(SignupAttempt, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    ok = models.BooleanField()
    error_code = models.CharField(max_length=128, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text=_("The operator, for admin actions."))

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({'ok' if self.ok else self.error_code or 'failed'})"


class WebhookEvent(models.TextChoices):
    """What an endpoint can be told (signup/webhooks.py builds the bodies)."""

    CREATED = "signup.created", _("Cognito created the user")
    CONFIRMED = "signup.confirmed", _("the user confirmed")
    REJECTED = "signup.rejected", _("Cognito refused the sign-up")
    FAILED = "signup.failed", _("the sign-up failed")
    BLOCKED = "signup.blocked", _("a guard refused the sign-up")
    SETTLED = "signup.settled", _("a lost answer was settled")
    TEST = "webhook.test", _("a test event sent by an operator")


class WebhookEndpoint(models.Model):
    """Where a portal's events go: signed per Standard Webhooks with the endpoint's secret."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000, help_text=_("https:// in production, on a public address."))
    events = models.JSONField(
        default=list, blank=True, help_text=_('The event types to send, e.g. ["signup.created"]; empty: all.')
    )
    secret_env = models.CharField(
        _("secret variable"),
        max_length=128,
        blank=True,
        validators=[ENV_VAR_NAME],
        help_text=_("Environment variable holding the signing secret (whsec_...). Empty: a generated one."),
    )
    # A generated signing secret (whsec_ + base64): shown once when the endpoint is made, never again.
    secret = models.CharField(max_length=100, blank=True, editable=False)
    include_attributes = models.BooleanField(
        default=False, help_text=_("Send the attribute values the user gave (never the password).")
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["portal", "id"]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        if not isinstance(self.events, list) or not all(e in WebhookEvent.values for e in self.events):
            raise ValidationError(
                {"events": _("A JSON list of event types: %(types)s.") % {"types": ", ".join(WebhookEvent.values)}}
            )
        from .webhooks import url_refusal

        refusal = url_refusal(self.url, resolve=False)
        if refusal:
            raise ValidationError({"url": refusal})

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.events or event_type in self.events or event_type == WebhookEvent.TEST)


class WebhookDelivery(models.Model):
    """One event for one endpoint: the body as signed, and how its tries went. A retry keeps its id."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.ForeignKey(
        SignupAttempt, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries"
    )
    message_id = models.CharField(max_length=64, unique=True)  # the webhook-id header
    event_type = models.CharField(max_length=32, choices=WebhookEvent.choices)
    body = models.TextField()  # exactly the bytes signed and sent, every try
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    tries = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    next_try_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"


class StuckUser(SignupAttempt):
    """Attempts that created a user who never confirmed: the operators' queue."""

    class Meta:
        proxy = True
        verbose_name = _("stuck user")
        verbose_name_plural = _("stuck users")


def _portal_changed(sender: type[models.Model], instance: Any, **_: Any) -> None:
    """A portal's overrides, translations and validation-data fields are part of its form, and its
    webhook endpoints of what it announces: changing one is a change of the portal (updated_at), which
    every process's kept values key on (caching.py)."""
    Portal.objects.filter(pk=instance.portal_id).update(updated_at=timezone.now())


for _child in (FieldOverride, FieldTranslation, ValidationDataField, WebhookEndpoint):
    models.signals.post_save.connect(
        _portal_changed, sender=_child, dispatch_uid=f"signup.portal_changed.{_child.__name__}.save"
    )
    models.signals.post_delete.connect(
        _portal_changed, sender=_child, dispatch_uid=f"signup.portal_changed.{_child.__name__}.delete"
    )
