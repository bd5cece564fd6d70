"""Gunicorn settings for the portal (Procfile: web). Every value can be overridden from the environment."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Threads let a worker keep serving while another request waits on Cognito.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# The access log must never carry query strings with personal data; method, path and status only.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
