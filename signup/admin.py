from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import cognito, embedding, services
from .forms import signup_form_class
from .models import FieldOverride, FieldTranslation, Portal, SignupAttempt, ValidationDataField
from .views import render_form_page


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
    readonly_fields = ("synced_at", "snapshot_summary", "form_link", "preview_link")
    inlines = [FieldOverrideInline, FieldTranslationInline, ValidationDataFieldInline]
    actions = ["sync_from_cognito"]
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
        (_("Embedding"), {"fields": ("embed_origins",)}),
        (_("Snapshot of the pool"), {"fields": ("synced_at", "snapshot_summary")}),
    )

    change_form_template = "admin/signup/portal/change_form.html"

    def get_urls(self) -> list[Any]:
        preview = self.admin_site.admin_view(self.preview_view)
        embed_preview = self.admin_site.admin_view(self.embed_preview_view)
        return [
            path("<int:pk>/preview/", preview, name="signup_portal_preview"),
            path("<int:pk>/embed-preview/", embed_preview, name="signup_portal_embed_preview"),
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
        spec = services.portal_form_spec(portal)
        return render_form_page(request, portal, spec, signup_form_class(spec)(), preview=True)

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
        spec = services.portal_form_spec(portal)
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
                services.portal_sync(portal=portal)
                synced += 1
            except (cognito.CognitoError, cognito.CognitoUnreachable, cognito.CognitoNoAnswer) as error:
                self.message_user(request, f"{portal.slug}: {error}", messages.ERROR)
        if synced:
            text = ngettext("Synced %(n)d portal.", "Synced %(n)d portals.", synced) % {"n": synced}
            self.message_user(request, text, messages.SUCCESS)


@admin.register(SignupAttempt)
class SignupAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "portal",
        "username",
        "status",
        "error_code",
        "user_confirmed",
        "confirmed_at",
        "channel",
        "latency_ms",
    )
    list_filter = ("portal", "status", "error_code", "channel", "embed_origin")
    search_fields = ("username", "user_sub", "request_id", "=reference")
    date_hierarchy = "created_at"
    list_select_related = ("portal",)
    ordering = ("-created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
