from django.urls import path

from . import views

app_name = "signup"

urlpatterns = [
    path("<slug:slug>/", views.signup_form, name="form"),
    path("<slug:slug>/confirm/", views.confirm, name="confirm"),
    path("<slug:slug>/done/", views.done, name="done"),
    path("<slug:slug>/challenge", views.challenge, name="challenge"),
    path("<slug:slug>/schema.json", views.schema_json, name="schema"),
    path("<slug:slug>/theme.css", views.theme, name="theme"),
]
