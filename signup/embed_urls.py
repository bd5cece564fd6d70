from django.urls import path

from . import embed_views

app_name = "embed"

urlpatterns = [
    path("<slug:slug>/", embed_views.embed_form, name="form"),
    path("<slug:slug>/confirm/", embed_views.embed_confirm, name="confirm"),
    path("<slug:slug>/done/", embed_views.embed_done, name="done"),
]
