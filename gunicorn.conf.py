"""Gunicorn settings for the portal (Procfile: web). Every value can be overridden from the environment."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# A sign-up spends most of its time waiting on Cognito, and a gthread worker's thread waits with it: the
# threads of all workers bound how many sign-ups are in flight (at 100 ms per call, 2 x 32 threads allow
# 640 a second). Waiting threads cost no CPU and, with a database pool, no connection.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Seconds an idle kept-alive connection stays open. Above the load balancer's idle timeout (60 s on an AWS
# ALB by default), so the balancer, not gunicorn, closes idle connections: gunicorn closing one just as the
# balancer sends a request on it resets that request (a 502 to the visitor).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
accesslog = "-"
# The access log must never carry query strings with personal data; method, path and status only.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Build the boto3 clients and read the portals before the first visitor, not during their sign-up;
    then start the gthread pool's threads, each with the connections Django keeps per thread."""
    try:
        from signup.warmup import warm_threads, warm_up

        warm_up()
        if getattr(worker, "tpool", None) is not None:
            warm_threads(worker.tpool, worker.cfg.threads)
    except Exception:  # never stop a worker from serving; it only starts colder
        worker.log.warning("Warm-up skipped", exc_info=True)


def on_starting(server):
    """Prometheus's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, docs/observability.md): the workers write
    their samples to files there, so the directory must start empty, or a previous run's counts would be
    added to this one's. Created when missing, emptied of *.db files when present."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    """A worker that exited (or was killed and replaced) keeps its counters' files, so no count is lost;
    only its live gauges' files go (prometheus_client's multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
