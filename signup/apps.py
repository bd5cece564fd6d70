from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignupConfig(AppConfig):
    name = "signup"
    verbose_name = _("Cognito sign-up")

    def ready(self) -> None:
        from django.core.signals import request_started

        from . import caching, checks, sqlite  # noqa: F401  (system checks; signal receivers)
        from .middleware import set_aside_unusable_charset

        request_started.connect(set_aside_unusable_charset, dispatch_uid="signup.set_aside_unusable_charset")
