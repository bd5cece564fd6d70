"""One settings module, driven by the environment (see .env.example)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent


class _FileSecrets(environ.FileAwareMapping):
    """<NAME>_FILE's content (it wins over <NAME>), without the surrounding whitespace that `echo` and
    `kubectl create secret --from-file` leave at its end: a token or URL read with it would never match."""

    def __getitem__(self, key: str) -> str:
        value = super().__getitem__(key)
        return value.strip() if self.env.get(f"{key}_FILE") else value


# Secrets can come from mounted files (docs/deploy.md §3).
env = environ.FileAwareEnv()
env.ENVIRON = _FileSecrets()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEV_SECRET_KEY = "django-insecure-development-only-never-deploy-this-key"

DEBUG = env.bool("DEBUG", default=False)
# The development key is short-lived and prefixed so `check --deploy` always flags it.
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",
    "django_tasks",
    "django_tasks_db",
    "signup",
    "ninja",  # the API docs page's own Swagger UI files (static/ninja), so no CDN
]

MIDDLEWARE = [
    "signup.middleware.ProbeMiddleware",  # first: a balancer's probe carries an address as Host
    "signup.middleware.SecurityHeadersMiddleware",
    "signup.middleware.RequestCharsetMiddleware",
    "signup.middleware.ApiCorsMiddleware",  # before CSRF: a preflight is answered here
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "signup.middleware.QueryLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "signup.middleware.AdminLoginRateLimitMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock up front and
    # the timeout waits for it, so concurrent workers do not fail with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Each gunicorn thread keeps its connection rather than opening the file and setting the pragmas again.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool per process instead of a new server connection per request. A thread hands its connection
    # back while it waits on Cognito (flows.attempts.hand_back_connection), so a few serve every thread, and
    # several processes stay well below PostgreSQL's max_connections (100 by default).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=8),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }

# CACHE_URL (or REDIS_URL) = redis://host:6379/1 for Django's own Redis backend: rate limits, single-use
# tokens and cached secrets are then shared by every portal process.
CACHES = {"default": env.cache_url("CACHE_URL", default=env.str("REDIS_URL", default="locmemcache://signup"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes the files and the manifest that DEBUG-off serving needs (signup.E005);
# a relative path is taken from the project folder.
STATIC_ROOT = BASE_DIR / env.str("STATIC_ROOT", default="staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

# PORTAL_ENV=production turns on what a public HTTPS deployment needs; each value can still be set alone.
PRODUCTION = env.str("PORTAL_ENV", default="development") == "production"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=PRODUCTION) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Load balancers probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
# Preload marks every subdomain HTTPS-only in browsers for good: set 0 if the domain is not all yours.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "signup.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "signup": {"handlers": ["console"], "level": env.str("SIGNUP_LOG_LEVEL", default="INFO")},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}

# --- The sign-up portal -----------------------------------------------------------------
# Connect and read timeouts for calls to Cognito (seconds).
COGNITO_CONNECT_TIMEOUT = env.float("COGNITO_CONNECT_TIMEOUT", default=3.0)
COGNITO_READ_TIMEOUT = env.float("COGNITO_READ_TIMEOUT", default=10.0)
# Kept-alive connections to Cognito per client and process: at least the threads that may call at once
# (gunicorn.conf.py runs GUNICORN_THREADS, 32, per worker). botocore keeps 10 by default; a call beyond
# them opens a connection (a TLS handshake) and closes it afterwards.
COGNITO_MAX_POOL_CONNECTIONS = env.int("COGNITO_MAX_POOL_CONNECTIONS", default=env.int("GUNICORN_THREADS", default=32))
# How many reverse proxies in front of us append to X-Forwarded-For; 0 trusts none of it.
SIGNUP_TRUSTED_PROXY_COUNT = env.int("SIGNUP_TRUSTED_PROXY_COUNT", default=0)
# Hosts a portal's success redirect may point at (exact host names; "*.example.com" for subdomains).
SIGNUP_REDIRECT_ALLOWED_HOSTS = env.list("SIGNUP_REDIRECT_ALLOWED_HOSTS", default=[])
# How long an embedded form's single-use token stays valid (seconds).
SIGNUP_EMBED_TOKEN_MAX_AGE = env.int("SIGNUP_EMBED_TOKEN_MAX_AGE", default=3600)
# This portal's public origin (https://signup.example.com); empty: taken from each request's Host.
SIGNUP_PUBLIC_ORIGIN = env.str("SIGNUP_PUBLIC_ORIGIN", default="")
# Retention: attempts older than this many days are purged by `manage.py purge_attempts`,
# either deleted or anonymised (personal data removed, outcome kept for the statistics).
SIGNUP_RETENTION_DAYS = env.int("SIGNUP_RETENTION_DAYS", default=365)
SIGNUP_RETENTION_MODE = env.str("SIGNUP_RETENTION_MODE", default="anonymise")
# Pending or unknown attempts older than this many minutes are settled by `manage.py reconcile_attempts`.
SIGNUP_RECONCILE_AFTER_MINUTES = env.int("SIGNUP_RECONCILE_AFTER_MINUTES", default=15)
# How long a confirm-step link stays valid (seconds); Cognito's codes last 24 h.
# Seconds a process keeps a portal's configuration before reading it again (changes made in the same
# process apply at once). 0: read it on every request.
SIGNUP_PORTAL_CACHE_SECONDS = env.float("SIGNUP_PORTAL_CACHE_SECONDS", default=5.0)
SIGNUP_CONFIRM_TOKEN_MAX_AGE = env.int("SIGNUP_CONFIRM_TOKEN_MAX_AGE", default=24 * 3600)

# Abuse: requests allowed per window, per client IP / portal / username ("COUNT/SECONDS"); a portal
# may set its own. Refused submissions are recorded as `blocked` without calling Cognito.
SIGNUP_RATE_LIMITS = {
    "signup_per_ip": env.str("SIGNUP_RATE_SIGNUP_PER_IP", default="10/600"),
    "signup_per_portal": env.str("SIGNUP_RATE_SIGNUP_PER_PORTAL", default="3000/60"),
    "signup_per_username": env.str("SIGNUP_RATE_SIGNUP_PER_USERNAME", default="10/3600"),
    "confirm_per_username": env.str("SIGNUP_RATE_CONFIRM_PER_USERNAME", default="15/3600"),
    "resend_per_username": env.str("SIGNUP_RATE_RESEND_PER_USERNAME", default="5/3600"),
    "admin_login_per_ip": env.str("SIGNUP_RATE_ADMIN_LOGIN_PER_IP", default="10/300"),
}
# A form sent sooner than this after it was shown was not filled in by a person.
SIGNUP_MIN_FILL_SECONDS = env.float("SIGNUP_MIN_FILL_SECONDS", default=2.0)
# ALTCHA (signup/challenges.py): how long a challenge may be solved and sent back, and the range its
# secret counter is drawn from (the guesses a browser makes; each costs the portal's challenge_cost).
SIGNUP_CHALLENGE_MAX_AGE = env.int("SIGNUP_CHALLENGE_MAX_AGE", default=600)
SIGNUP_ALTCHA_COUNTER = (5000, 10000)
# TooManyRequestsException means Cognito did nothing, so SignUp may be tried again: this many
# times at most, with jittered exponential backoff, within this many seconds in all.
SIGNUP_THROTTLE_RETRIES = env.int("SIGNUP_THROTTLE_RETRIES", default=3)
SIGNUP_THROTTLE_BUDGET_SECONDS = env.float("SIGNUP_THROTTLE_BUDGET_SECONDS", default=2.0)

# CAPTCHA (signup/captcha.py): how long to wait for the provider's verify API before refusing with "try
# again", and where that API is. Tests point the URLs at a local stand-in (tests/captcha_standin.py).
SIGNUP_CAPTCHA_TIMEOUT_SECONDS = env.float("SIGNUP_CAPTCHA_TIMEOUT_SECONDS", default=5.0)
TURNSTILE_VERIFY_URL = env.str(
    "TURNSTILE_VERIFY_URL", default="https://challenges.cloudflare.com/turnstile/v0/siteverify"
)
HCAPTCHA_VERIFY_URL = env.str("HCAPTCHA_VERIFY_URL", default="https://api.hcaptcha.com/siteverify")

# Webhooks (signup/webhooks.py): deliveries are tasks of Django's Tasks API (the django-tasks backport on
# 5.2), kept in this database by django-tasks-db and run by `manage.py db_worker` (the Procfile's worker).
# A Redis-backed backend (django-tasks-rq) is a change of this setting when one database is not enough.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "webhooks"],
    }
}
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# After the first try: about a day in all (Standard Webhooks' usual schedule), each delay +-20% jitter.
WEBHOOK_RETRY_DELAYS = env.list("WEBHOOK_RETRY_DELAYS", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000])
# An endpoint whose deliveries keep failing this long is disabled, with a notice in admin.
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 24 * 3600)
# Receivers on loopback or private addresses: refused in production (server-side request forgery),
# allowed in development for local receivers.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=not PRODUCTION)
PRE_SIGNUP_HOOK_TIMEOUT_SECONDS = env.float("PRE_SIGNUP_HOOK_TIMEOUT_SECONDS", default=2.0)
# Admin messages (a generated webhook secret is shown once in one) stay on the server, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# GET /metrics (docs/observability.md): the scraper's bearer token. Unset, the endpoint answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
