from django.apps import AppConfig


class SignupConfig(AppConfig):
    name = "signup"
    verbose_name = "Cognito sign-up"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
