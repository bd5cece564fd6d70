from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import cognito, embedding, flows, operators, preflight, presignup, webhooks
from .caching import form_class
from .dashboard import dashboard_view
from .models import (
    AttemptEvent,
    FieldOverride,
    FieldTranslation,
    Portal,
    SignupAttempt,
    SignupAttemptQuerySet,
    StuckUser,
    ValidationDataField,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from .pages import render_form_page

# Operators sign in to this product, not to "Django administration".
admin.site.site_header = _("Cognito sign-up portal")
admin.site.site_title = _("Cognito sign-up portal")
admin.site.index_title = _("Portal administration")


class FieldOverrideInline(admin.TabularInline):
    model = FieldOverride
    extra = 0
    fields = ("attribute", "label", "help_text", "placeholder", "order", "hidden", "choices")


class FieldTranslationInline(admin.TabularInline):
    model = FieldTranslation
    extra = 0
    fields = ("attribute", "language", "label", "help_text", "placeholder")


class ValidationDataFieldInline(admin.TabularInline):
    model = ValidationDataField
    extra = 0
    fields = ("name", "label", "type", "required", "help_text", "max_length", "order")


@admin.register(Portal)
class PortalAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "user_pool_id", "client_id", "is_open", "synced_at", "form_link")
    list_filter = ("is_open", "region")
    search_fields = ("slug", "name", "user_pool_id", "client_id")
    readonly_fields = (
        "synced_at",
        "snapshot_summary",
        "form_link",
        "preview_link",
        "schema_drift",
        "pre_signup_hook_secret_state",
    )
    inlines = [FieldOverrideInline, FieldTranslationInline, ValidationDataFieldInline]
    actions = ["sync_from_cognito", "check_before_going_live"]
    fieldsets = (
        (None, {"fields": ("slug", "name", "is_open", "form_link", "preview_link")}),
        (_("Cognito"), {"fields": ("region", "user_pool_id", "client_id", "endpoint_url", "client_secret_env")}),
        (
            _("Behaviour"),
            {"fields": ("success_url", "client_metadata", "client_metadata_params", "advanced_security")},
        ),
        (
            _("Branding"),
            {
                "fields": (
                    "heading",
                    "intro",
                    "footer_text",
                    "logo_url",
                    "brand_colour",
                    "brand_text_colour",
                    "background_colour",
                    "text_colour",
                )
            },
        ),
        (_("Consent"), {"fields": ("require_consent", "consent_version", "terms_url", "privacy_url")}),
        (_("Embedding and API"), {"fields": ("embed_origins", "api_origins")}),
        (
            _("Bots and fraud"),
            {
                "fields": (
                    "challenge",
                    "challenge_cost",
                    "challenge_site_key",
                    "challenge_secret_env",
                    "email_domains_allowed",
                    "email_domains_denied",
                    "block_disposable_email",
                    "phone_regions",
                )
            },
        ),
        (
            _("Pre sign-up hook"),
            {
                "fields": (
                    "pre_signup_hook_url",
                    "pre_signup_hook_secret_env",
                    "pre_signup_hook_secret_state",
                    "pre_signup_hook_fail_open",
                )
            },
        ),
        (_("Operators"), {"fields": ("sensitive_attributes", "rate_limits", "hide_existing_accounts")}),
        (_("Snapshot of the pool"), {"fields": ("synced_at", "schema_drift", "snapshot_summary")}),
    )

    change_form_template = "admin/signup/portal/change_form.html"

    def get_urls(self) -> list[Any]:
        preview = self.admin_site.admin_view(self.preview_view)
        embed_preview = self.admin_site.admin_view(self.embed_preview_view)
        return [
            path("<int:pk>/preview/", preview, name="signup_portal_preview"),
            path("<int:pk>/embed-preview/", embed_preview, name="signup_portal_embed_preview"),
            path("<int:pk>/resync/", self.admin_site.admin_view(self.resync_view), name="signup_portal_resync"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        portal = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if portal is not None:
            extra["embed_snippet"] = embedding.snippet(request, portal.slug)
            extra["embed_preview_url"] = reverse("admin:signup_portal_embed_preview", args=[portal.pk])
        return super().change_view(request, object_id, form_url, extra)

    def embed_preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A page of our own that hosts the customer snippet, to see the frame and its events live."""
        portal = get_object_or_404(Portal, pk=pk)
        if not self.has_view_permission(request, portal):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Embedded form: %(name)s") % {"name": portal.name},
            "portal": portal,
            "opts": self.model._meta,
            "embed_snippet": embedding.snippet(request, portal.slug),
        }
        return render(request, "admin/signup/portal/embed_preview.html", context)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The form as visitors would see it, built from the stored snapshot; submitting is disabled."""
        portal = get_object_or_404(Portal, pk=pk)
        if not self.has_view_permission(request, portal):
            raise PermissionDenied
        if not portal.is_synced:
            return render(request, "signup/unavailable.html", {"portal": portal, "reason": "not_synced"})
        spec = flows.portal_form_spec(portal)
        return render_form_page(request, portal, spec, form_class(spec)(), preview=True)

    @admin.display(description=_("changes in Cognito since the last sync"))
    def schema_drift(self, portal: Portal) -> str:
        if not portal.pk or not portal.is_synced:
            return "—"
        try:
            drift = operators.portal_drift(portal=portal)
        except cognito.CognitoFailure as error:
            return str(_("Could not ask Cognito (%(code)s).") % {"code": operators.failure_text(error)})
        if not drift.drifted:
            return str(_("None: the form matches the pool and client."))
        url = reverse("admin:signup_portal_resync", args=[portal.pk])
        items = format_html_join("", "<li>{}</li>", ((change,) for change in drift.changes))
        return format_html('<ul class="drift">{}</ul><a class="button" href="{}">{}</a>', items, url, _("Re-sync…"))

    def resync_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Show what changed in Cognito, and re-sync on POST (CSRF-protected like every admin form)."""
        portal = get_object_or_404(Portal, pk=pk)
        if not self.has_change_permission(request, portal):
            raise PermissionDenied
        change_url = reverse("admin:signup_portal_change", args=[portal.pk])
        try:
            drift = operators.portal_drift(portal=portal, fresh=True)
        except cognito.CognitoFailure as error:
            text = _("Could not ask Cognito (%(code)s).") % {"code": operators.failure_text(error)}
            self.message_user(request, text, messages.ERROR)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            try:
                flows.portal_sync(portal=portal)
            except cognito.CognitoFailure as error:
                text = _("Could not ask Cognito (%(code)s).") % {"code": operators.failure_text(error)}
                self.message_user(request, text, messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.message_user(
                request,
                ngettext("Re-synced: %(n)d change applied.", "Re-synced: %(n)d changes applied.", len(drift.changes))
                % {"n": len(drift.changes)},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Re-sync %(name)s") % {"name": portal.name},
            "portal": portal,
            "opts": self.model._meta,
            "changes": drift.changes,
            "change_url": change_url,
        }
        return render(request, "admin/signup/portal/resync.html", context)

    def save_model(self, request: HttpRequest, obj: Portal, form: Any, change: bool) -> None:
        # A hook without a secret variable signs with a generated secret, shown here once and never again.
        generated = presignup.ensure_secret(obj)
        super().save_model(request, obj, form, change)
        if generated:
            self.message_user(
                request,
                _(
                    "The pre sign-up hook's signing secret is %(secret)s. Give it to the hook's receiver now: "
                    "it is not shown again."
                )
                % {"secret": generated},
                messages.WARNING,
            )

    @admin.display(description=_("signing secret"))
    def pre_signup_hook_secret_state(self, portal: Portal) -> str:
        if portal.pre_signup_hook_secret_env:
            return str(_("From the variable %(name)s.") % {"name": portal.pre_signup_hook_secret_env})
        if portal.pre_signup_hook_secret:
            return str(_("Generated when the hook was set up (shown once then)."))
        return str(_("None yet: one is generated when the portal is saved with a hook URL."))

    @admin.display(description=_("preview"))
    def preview_link(self, portal: Portal) -> str:
        if not portal.pk:
            return "—"
        url = reverse("admin:signup_portal_preview", args=[portal.pk])
        links = format_html_join(
            " · ",
            '<a href="{}?lang={}" target="_blank" rel="noopener">{}</a>',
            ((url, c, n) for c, n in settings.LANGUAGES),
        )
        return format_html("{} ({})", _("Preview the form"), links)

    @admin.display(description=_("form"))
    def form_link(self, portal: Portal) -> str:
        if not portal.pk:
            return "—"
        return format_html(
            '<a href="/signup/{}/" target="_blank" rel="noopener">/signup/{}/</a>', portal.slug, portal.slug
        )

    @admin.display(description=_("what the form is built from"))
    def snapshot_summary(self, portal: Portal) -> str:
        snapshot = portal.snapshot
        if not snapshot:
            return str(_("Not synced yet: use the “Sync from Cognito” action."))
        spec = flows.portal_form_spec(portal)
        rows = format_html_join(
            "",
            "<li><code>{}</code> {} ({}{})</li>",
            ((f.attribute or f.name, f.label, f.type, _(", required") if f.required else "") for f in spec.fields),
        )
        facts = {
            "username": spec.username_mode,
            "case sensitive": snapshot.get("case_sensitive"),
            "auto-verified": snapshot.get("auto_verified"),
            "client has a secret": snapshot.get("has_secret"),
            "self sign-up": not snapshot.get("admin_create_only"),
            "password policy": snapshot.get("password_policy"),
        }
        return format_html("<ul>{}</ul><pre>{}</pre>", rows, json.dumps(facts, indent=2))

    @admin.action(description=_("Sync from Cognito (DescribeUserPool, DescribeUserPoolClient)"))
    def sync_from_cognito(self, request: HttpRequest, queryset: QuerySet[Portal]) -> None:
        synced = 0
        for portal in queryset:
            try:
                flows.portal_sync(portal=portal)
                synced += 1
            except cognito.CognitoFailure as error:
                reason = operators.failure_text(error, detail=True)
                self.message_user(request, f"{portal.slug}: {reason}", messages.ERROR)
        if synced:
            text = ngettext("Synced %(n)d portal.", "Synced %(n)d portals.", synced) % {"n": synced}
            self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Check before going live (IAM permissions, pool, secret, schema, origins)"))
    def check_before_going_live(self, request: HttpRequest, queryset: QuerySet[Portal]) -> HttpResponse:
        results = []
        for portal in queryset:
            findings = preflight.portal_check(portal=portal)
            results.append((portal, findings, sum(finding.blocks for finding in findings)))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Check before going live"),
            "opts": self.model._meta,
            "results": results,
            "changelist_url": reverse("admin:signup_portal_changelist"),
        }
        return render(request, "admin/signup/portal/check.html", context)


class ConfirmedFilter(admin.SimpleListFilter):
    title = _("confirmed")
    parameter_name = "confirmed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            attempts: SignupAttemptQuerySet = queryset  # type: ignore[assignment]
            return attempts.confirmed() if self.value() == "yes" else attempts.unconfirmed()
        return queryset


class AttemptEventInline(admin.TabularInline):
    model = AttemptEvent
    extra = 0
    can_delete = False
    fields = ("at", "kind", "ok", "error_code", "detail", "actor")
    readonly_fields = fields
    verbose_name_plural = _("what happened")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RecordAdmin(admin.ModelAdmin):
    """A record (attempts, webhook deliveries): viewed, never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAttemptAdmin(RecordAdmin):
    """Attempts are a record: nobody adds, edits or deletes them here (retention has its own command)."""

    list_select_related = ("portal",)
    inlines = [AttemptEventInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "reference",
                    "portal",
                    "created_at",
                    "completed_at",
                    "channel",
                    "embed_origin",
                    "language",
                    "status",
                )
            },
        ),
        (
            _("What was sent (never the password)"),
            {"fields": ("username", "sent_attributes", "validation_data_names", "client_metadata", "form_errors")},
        ),
        (
            _("Cognito's answer"),
            {
                "fields": (
                    "error_code",
                    "error_message",
                    "request_id",
                    "latency_ms",
                    "user_sub",
                    "user_confirmed",
                    "code_delivery",
                )
            },
        ),
        (_("After sign-up"), {"fields": ("confirmed_at", "resend_count", "last_resent_at")}),
        (_("Consent"), {"fields": ("consent_version", "consent_accepted_at", "consent_source")}),
        (_("Visitor"), {"fields": ("client_ip", "user_agent", "anonymised_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields] + ["sent_attributes"]

    @admin.display(description=_("attributes"))
    def sent_attributes(self, attempt: SignupAttempt) -> str:
        rows = operators.visible_attributes(attempt).items()
        if not rows:
            return "—"
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description=_("confirmed"), boolean=True)
    def confirmed(self, attempt: SignupAttempt) -> bool:
        return attempt.is_confirmed


@admin.register(SignupAttempt)
class SignupAttemptAdmin(ReadOnlyAttemptAdmin):
    list_display = (
        "created_at",
        "portal",
        "username",
        "status",
        "error_code",
        "confirmed",
        "channel",
        "embed_origin",
        "latency_ms",
    )
    list_filter = ("portal", "status", "error_code", "channel", ConfirmedFilter, "embed_origin")
    # search_text holds the attribute values, lower-cased: search by email, company, ...
    search_fields = ("username", "user_sub", "request_id", "search_text", "=reference")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    change_list_template = "admin/signup/signupattempt/change_list.html"

    def get_urls(self) -> list[Any]:
        export = self.admin_site.admin_view(self.export_view)
        dashboard = self.admin_site.admin_view(dashboard_view)
        # Before super(): its "<path:object_id>/" catch-all would take these.
        return [
            path("export.csv", export, name="signup_signupattempt_export"),
            path("dashboard/", dashboard, name="signup_signupattempt_dashboard"),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The attempts the changelist shows (same filters, search and dates), as CSV, streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = operators.export_rows(changelist.get_queryset(request))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="signup-attempts-{stamp}.csv"'
        return response


@admin.register(StuckUser)
class StuckUserAdmin(ReadOnlyAttemptAdmin):
    list_display = ("created_at", "portal", "username", "waiting", "resend_count", "last_resent_at", "channel")
    list_filter = ("portal", "channel")
    search_fields = ("username", "user_sub", "search_text")
    ordering = ("created_at",)
    actions = ["look_up", "resend_code", "confirm_users", "delete_unconfirmed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return SignupAttempt.objects.stuck().select_related("portal")

    @admin.display(description=_("waiting"))
    def waiting(self, attempt: SignupAttempt) -> str:
        return timesince(attempt.created_at)

    def _run(self, request: HttpRequest, queryset: QuerySet[Any], action: Any, done: Any) -> None:
        actor = request.user.get_username()
        results = (action(attempt=attempt, actor=actor) for attempt in queryset.select_related("portal"))
        ok, errors = operators.iter_results(results)
        if ok:
            self.message_user(request, done(ok) % {"n": ok}, messages.SUCCESS)
        for line in errors:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description=_("Look up the live status in Cognito (AdminGetUser)"))
    def look_up(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = request.user.get_username()
        for attempt in queryset.select_related("portal"):
            result = operators.stuck_user_lookup(attempt=attempt, actor=actor)
            level = messages.INFO if result.ok else messages.ERROR
            self.message_user(request, f"{attempt.username}: {result.note}", level)

    @admin.action(description=_("Send the confirmation code again"))
    def resend_code(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._run(
            request,
            queryset,
            operators.stuck_user_resend,
            lambda n: ngettext("Sent %(n)d code.", "Sent %(n)d codes.", n),
        )

    @admin.action(description=_("Confirm the user (AdminConfirmSignUp)"))
    def confirm_users(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._run(
            request,
            queryset,
            operators.stuck_user_confirm,
            lambda n: ngettext("Confirmed %(n)d user.", "Confirmed %(n)d users.", n),
        )

    @admin.action(description=_("Delete the unconfirmed user in Cognito (AdminDeleteUser)"))
    def delete_unconfirmed(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._run(
            request,
            queryset,
            operators.stuck_user_delete,
            lambda n: ngettext("Deleted %(n)d unconfirmed user.", "Deleted %(n)d unconfirmed users.", n),
        )


# --- Webhooks (docs/webhooks.md) ------------------------------------------------------------------------


class DisabledEndpointNotice(admin.ModelAdmin):
    """The notice issue #15 asks for: an endpoint the worker disabled after days of failures is named on
    both webhook lists until an operator enables it again."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET":
            disabled = WebhookEndpoint.objects.filter(enabled=False).exclude(disabled_reason="")
            for endpoint in disabled.select_related("portal"):
                text = _("Webhook endpoint %(url)s of %(portal)s is disabled. %(reason)s")
                values = {"url": endpoint.url, "portal": endpoint.portal.slug, "reason": endpoint.disabled_reason}
                messages.warning(request, f"{text % values} {_('Fix the receiver, then enable it again.')}")
        return super().changelist_view(request, extra_context)


def _queue_where_enabled(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    items: list[tuple[Any, WebhookEndpoint]],
    send: Any,
    done: Any,
) -> None:
    """`send` each item whose endpoint is enabled (to a disabled one it would fail at once), and say so."""
    queued = 0
    for item, endpoint in items:
        if not endpoint.enabled:
            text = _("%(url)s is disabled: enable it first.") % {"url": endpoint.url}
            model_admin.message_user(request, text, messages.ERROR)
            continue
        send(item)
        queued += 1
    if queued:
        model_admin.message_user(request, done(queued) % {"n": queued}, messages.SUCCESS)


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(e.value, f"{e.value}: {e.label}") for e in WebhookEvent if e != WebhookEvent.TEST],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: all of them. A test event goes to every endpoint."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("portal", "url", "events", "secret_env", "include_attributes", "enabled")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(DisabledEndpointNotice):
    """Where each portal's events go. The generated signing secret is shown once, in the message after
    the endpoint is made, and never on a page (it is not a form field)."""

    form = WebhookEndpointForm
    list_display = ("url", "portal", "event_list", "enabled", "failing_since", "notice")
    list_filter = ("enabled", "portal")
    list_select_related = ("portal",)
    search_fields = ("url", "portal__slug")
    readonly_fields = ("signing_secret", "failing_since", "disabled_reason", "created_at", "deliveries_link")
    actions = ["send_test_event", "enable_again"]
    fieldsets = (
        (None, {"fields": ("portal", "url", "events", "include_attributes", "enabled")}),
        (_("Signing secret"), {"fields": ("secret_env", "signing_secret")}),
        (_("Health"), {"fields": ("failing_since", "disabled_reason", "created_at", "deliveries_link")}),
    )

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if obj.enabled and (obj.disabled_reason or obj.failing_since):
            obj.disabled_reason, obj.failing_since = "", None  # ticked "enabled" again: a fresh start
        if obj.secret_env:
            obj.secret = ""  # a generated secret left behind would sign again, unseen, if the variable went
        generated = not obj.secret_env and not obj.secret
        if generated:
            obj.secret = webhooks.new_secret()
        super().save_model(request, obj, form, change)
        if generated:
            self.message_user(
                request,
                _("Signing secret for %(url)s: %(secret)s — copy it to the receiver now; it will not be shown again.")
                % {"url": obj.url, "secret": obj.secret},
                messages.SUCCESS,
            )
        elif obj.secret_env and not webhooks.signing_secret(obj.secret_env, ""):
            self.message_user(
                request,
                _("%(var)s is not set in this process: deliveries fail until the worker has it.")
                % {"var": obj.secret_env},
                messages.WARNING,
            )

    @admin.display(description=_("events"))
    def event_list(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events) if endpoint.events else str(_("all"))

    @admin.display(description=_("disabled because"))
    def notice(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.enabled:
            return "—"
        reason = endpoint.disabled_reason or _("Disabled by an operator.")
        return format_html('<strong class="errornote">⚠ {}</strong>', reason)

    @admin.display(description=_("signing secret"))
    def signing_secret(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.secret_env:
            state = _("set") if webhooks.signing_secret(endpoint.secret_env, "") else _("not set in this process")
            return str(_("From the variable %(var)s (%(state)s).") % {"var": endpoint.secret_env, "state": state})
        if endpoint.secret:
            return str(_("Generated; it was shown once when the endpoint was made."))
        return str(_("Generated when the endpoint is saved without a variable, and shown once."))

    @admin.display(description=_("deliveries"))
    def deliveries_link(self, endpoint: WebhookEndpoint) -> str:
        if not endpoint.pk:
            return "—"
        url = reverse("admin:signup_webhookdelivery_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        return format_html('<a href="{}">{}</a>', url, _("The delivery log of this endpoint"))

    @admin.action(description=_("Send a test event (webhook.test)"))
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        _queue_where_enabled(
            self,
            request,
            [(endpoint, endpoint) for endpoint in queryset.select_related("portal")],
            webhooks.send_test_event,
            lambda n: ngettext("Queued %(n)d test event.", "Queued %(n)d test events.", n),
        )

    @admin.action(description=_("Enable again (after the receiver is fixed)"))
    def enable_again(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        endpoints = list(queryset.filter(enabled=False))
        for endpoint in endpoints:
            endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, "", None
            # save(), not update(): the portal is touched, so every process's kept endpoint list is renewed.
            endpoint.save(update_fields=["enabled", "disabled_reason", "failing_since"])
        text = ngettext("Enabled %(n)d endpoint.", "Enabled %(n)d endpoints.", len(endpoints)) % {"n": len(endpoints)}
        self.message_user(request, text, messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(DisabledEndpointNotice, RecordAdmin):
    """The delivery log: a record, read only; the one thing an operator does is send one again."""

    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "attempt_link",
        "status",
        "tries",
        "last_status_code",
        "last_error",
        "next_try_at",
    )
    list_filter = ("status", "event_type", ("endpoint__portal", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("endpoint", "attempt")
    search_fields = ("=message_id", "endpoint__url")
    date_hierarchy = "created_at"
    actions = ["redeliver"]
    fields = (
        "message_id",
        "event_type",
        "endpoint",
        "attempt_link",
        "created_at",
        "status",
        "tries",
        "last_status_code",
        "last_error",
        "next_try_at",
        "delivered_at",
        "shown_body",
    )
    readonly_fields = fields

    @admin.display(description=_("attempt"))
    def attempt_link(self, delivery: WebhookDelivery) -> str:
        if delivery.attempt_id is None:
            return "—"
        url = reverse("admin:signup_signupattempt_change", args=[delivery.attempt_id])
        return format_html('<a href="{}">{}</a>', url, delivery.attempt_id)

    @admin.display(description=_("body (as signed; sensitive attributes masked here)"))
    def shown_body(self, delivery: WebhookDelivery) -> str:
        try:
            body = json.loads(delivery.body)
        except ValueError:
            return delivery.body
        attributes = body.get("data", {}).get("attributes")
        if isinstance(attributes, dict):
            sensitive = set(delivery.endpoint.portal.sensitive_attributes or [])
            body["data"]["attributes"] = {
                k: operators.mask(str(v)) if k in sensitive else v for k, v in attributes.items()
            }
        return format_html("<pre>{}</pre>", json.dumps(body, indent=2, ensure_ascii=False))

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        # The log itself is never edited; sending again is for those who may change the endpoints.
        return request.user.has_perm("signup.change_webhookendpoint")

    @admin.action(description=_("Send again (same webhook-id, tries from the start)"), permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        _queue_where_enabled(
            self,
            request,
            [(delivery, delivery.endpoint) for delivery in queryset.select_related("endpoint")],
            webhooks.redeliver,
            lambda n: ngettext("Queued %(n)d delivery again.", "Queued %(n)d deliveries again.", n),
        )
