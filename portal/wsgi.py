import logging
import os

from django.core.wsgi import get_wsgi_application


def configure_tracing() -> None:
    """OpenTelemetry traces when OTEL_EXPORTER_OTLP_ENDPOINT is set (signup/tracing.py), before the
    application loads its middleware (Django's instrumentation adds one). This module is imported by each
    gunicorn worker (no preload_app) and by runserver's serving process: once per process, after the fork."""
    from signup import tracing

    try:
        tracing.configure()
    except Exception:  # traces are for operators: a bad OTEL_* setting must not stop sign-ups
        logging.getLogger("signup").warning("Tracing not configured", exc_info=True)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
configure_tracing()
application = get_wsgi_application()
