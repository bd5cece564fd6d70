from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignupConfig(AppConfig):
    name = "signup"
    verbose_name = _("Cognito sign-up")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
