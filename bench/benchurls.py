"""The portal's URLs plus the benchmark's baselines (bench only, never in portal.urls).

/bench/trivial/  the cheapest Django page: the floor for the form page's throughput
/bench/forward/  a POST that only forwards SignUp with boto3: the floor a sign-up can reach
/bench/pid/      which worker process holds this connection (for the cold-start figures)
"""

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def worker_pid(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(os.getpid()).encode(), content_type="text/plain")


def forward(request: HttpRequest) -> HttpResponse:
    # Imported here so that boto3's client is not built by a request to another view.
    from bench import forwarding

    return forwarding.forward(request)


urlpatterns = [
    path("bench/trivial/", trivial),
    path("bench/pid/", worker_pid),
    path("bench/forward/", forward),
    *portal_urlpatterns,
]
