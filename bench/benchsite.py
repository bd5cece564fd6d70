"""Settings for the benchmark's gunicorn: the portal's own settings, plus the two baseline views.

Served by the same `gunicorn portal.wsgi --config gunicorn.conf.py` as the portal, with
DJANGO_SETTINGS_MODULE=bench.benchsite, so the baselines pay for the same server, middleware and
settings as the portal's pages.
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.benchurls"
