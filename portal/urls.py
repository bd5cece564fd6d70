from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from signup import health
from signup.api import api, not_found

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("signup/", include("signup.urls")),
    path("embed/", include("signup.embed_urls")),
    path("api/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", not_found),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
