"""Field specs -> Django forms: everything Cognito would reject is refused first, on the right field."""

import pytest
from django.utils import translation

from signup.forms import signup_form_class
from signup.schema import ConsentSpec, ValidationDataSpec, form_spec
from tests.factories import describe_pool, snapshot

GOOD = {
    "username": "alice",
    "password": "Str0ng!Passw0rd",
    "email": "alice@example.com",
    "given_name": "Alice",
    "family_name": "Liddell",
}


def make_form(data, snap=None, **spec_kwargs):
    spec = form_spec(snap or snapshot(describe_pool(required=("email", "given_name", "family_name"))), **spec_kwargs)
    return signup_form_class(spec)(data)


def errors_of(form):
    form.is_valid()
    return {name: [e.code for e in errs.as_data()] for name, errs in form.errors.items()}


def test_a_complete_form_maps_to_cognito_attributes():
    form = make_form(
        {
            **GOOD,
            "custom_company": "Acme",
            "custom_employees": "0012",
            "custom_newsletter": "on",
            "birthdate": "1990-02-03",
            "phone_number": "+1 415 555 2671",
        }
    )
    assert form.is_valid(), form.errors
    assert dict(form.attributes()) == {
        "email": "alice@example.com",
        "given_name": "Alice",
        "family_name": "Liddell",
        "custom:company": "Acme",
        "custom:employees": "12",
        "custom:newsletter": "true",
        "birthdate": "1990-02-03",
        "phone_number": "+14155552671",
    }


def test_a_yes_no_attribute_goes_to_cognito_only_when_given():
    for given, sent in (({}, None), ({"custom_newsletter": "false"}, "false"), ({"custom_newsletter": "on"}, "true")):
        form = make_form({**GOOD, **given})
        assert form.is_valid(), form.errors
        assert dict(form.attributes()).get("custom:newsletter") == sent


@pytest.mark.django_db
def test_on_the_page_an_unticked_box_is_a_no(client, stub):
    from signup.models import SignupAttempt
    from tests.factories import make_portal

    make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    data = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}
    assert client.post("/signup/acme/", data).status_code == 302
    assert SignupAttempt.objects.get().attributes["custom:newsletter"] == "false"


def test_required_attributes_are_required():
    assert errors_of(make_form({**GOOD, "given_name": ""})) == {"given_name": ["required"]}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("custom_company", "A", "min_length"),
        ("custom_company", "x" * 65, "max_length"),
        ("custom_employees", "0", "min_value"),
        ("custom_employees", "100001", "max_value"),
        ("custom_employees", "lots", "invalid_number"),
        ("custom_employees", "NaN", "invalid_number"),
        ("custom_employees", "12.5", "invalid_number"),
        ("custom_employees", "1e3", "invalid_number"),
        ("email", "not-an-email", "invalid"),
        ("phone_number", "4155552671", "invalid_phone"),
        ("phone_number", "+1 555", "invalid_phone"),
        ("birthdate", "31/31/1990", "invalid"),
        ("birthdate", "2999-01-01", "date_in_future"),
        ("website", "not a url", "invalid"),
        ("locale", "english please", "invalid_locale"),
        ("zoneinfo", "Mars/Olympus", "invalid_choice"),
        ("given_name", "Al\x00ice", "control_characters"),
        ("given_name", "Al\x07ice", "control_characters"),
        ("given_name", "é" * 1025, "value_too_long_bytes"),
    ],
)
def test_it_refuses_what_cognito_would_refuse_on_the_right_field(field, value, code):
    assert errors_of(make_form({**GOOD, field: value})) == {field: [code]}


def test_zoneinfo_and_locale_accept_real_values():
    form = make_form({**GOOD, "zoneinfo": "Europe/Paris", "locale": "de-DE"})
    assert form.is_valid(), form.errors


@pytest.mark.parametrize("username", ["al ice", "ali\tce", "a" * 129, "ali\u200bce"])
def test_a_free_username_must_match_cognitos_pattern(username):
    assert "username" in errors_of(make_form({**GOOD, "username": username}))


def test_a_username_may_use_any_letters_and_symbols():
    form = make_form({**GOOD, "username": "jörg.müller+名前"})
    assert form.is_valid(), form.errors


def test_an_email_alias_pool_refuses_an_email_looking_username():
    snap = snapshot(describe_pool(required=("email", "given_name", "family_name"), AliasAttributes=["email"]))
    assert errors_of(make_form({**GOOD, "username": "alice@example.com"}, snap)) == {
        "username": ["username_looks_like_email"]
    }


def test_email_as_username_sends_no_email_attribute():
    snap = snapshot(describe_pool(required=("email", "given_name", "family_name"), UsernameAttributes=["email"]))
    data = {k: v for k, v in GOOD.items() if k != "email"} | {"username": "alice@example.com"}
    form = make_form(data, snap)
    assert form.is_valid(), form.errors
    assert "email" not in dict(form.attributes())
    assert errors_of(make_form({**data, "username": "alice"}, snap)) == {"username": ["invalid"]}


def test_phone_as_username_is_normalised_to_e164():
    snap = snapshot(describe_pool(required=("given_name", "family_name"), UsernameAttributes=["phone_number"]))
    form = make_form({**GOOD, "username": "+44 20 7946 0958"}, snap)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["username"] == "+442079460958"


def test_with_email_or_phone_as_username_the_other_required_attribute_is_asked_for():
    snap = snapshot(describe_pool(required=("email",), UsernameAttributes=["email", "phone_number"]))
    base = {"password": GOOD["password"]}
    assert make_form({**base, "username": "alice@example.com"}, snap).is_valid()
    assert errors_of(make_form({**base, "username": "+14155552671"}, snap)) == {"email": ["required"]}
    form = make_form({**base, "username": "+14155552671", "email": "a@example.com"}, snap)
    assert form.is_valid()
    sent = dict(form.attributes())
    assert sent["email"] == "a@example.com"
    assert "phone_number" not in sent  # Cognito copies it from the username
    assert errors_of(make_form({**base, "username": "neither"}, snap)) == {"username": ["username_not_email_or_phone"]}


def test_the_password_shows_every_broken_rule():
    assert errors_of(make_form({**GOOD, "password": "short"})) == {
        "password": ["password_too_short", "password_no_upper", "password_no_number", "password_no_symbol"]
    }


def test_the_password_is_never_stripped_and_edges_are_refused():
    assert errors_of(make_form({**GOOD, "password": " Str0ng!Passw0rd"})) == {"password": ["password_edge_space"]}


def test_an_optional_password_may_be_left_empty():
    pool = describe_pool(required=("email", "given_name", "family_name"))
    pool["Policies"]["SignInPolicy"] = {"AllowedFirstAuthFactors": ["PASSWORD", "EMAIL_OTP"]}
    form = make_form({**GOOD, "password": ""}, snapshot(pool))
    assert form.is_valid(), form.errors
    assert errors_of(make_form({**GOOD, "password": "weak"}, snapshot(pool)))["password"]


def test_validation_data_is_collected_separately_from_attributes():
    vd = (ValidationDataSpec("invite_code", "Invite code", required=True),)
    form = make_form({**GOOD, "vd_invite_code": "XYZ"}, validation_fields=vd)
    assert form.is_valid(), form.errors
    assert form.validation_data() == [("invite_code", "XYZ")]
    assert "invite_code" not in dict(form.attributes())
    assert errors_of(make_form(GOOD, validation_fields=vd)) == {"vd_invite_code": ["required"]}


def test_form_classes_are_built_once_per_spec():
    from signup.caching import form_class

    spec = form_spec(snapshot())
    assert form_class(spec) is form_class(form_spec(snapshot()))
    assert form_class(spec) is not form_class(form_spec(snapshot(), consent=ConsentSpec("v1", "https://x.example")))


def test_a_date_may_be_typed_the_readers_way_and_goes_to_cognito_as_iso():
    with translation.override("de"):
        form = make_form({**GOOD, "birthdate": "04.05.1990"})
        assert form.is_valid(), form.errors
    assert ("birthdate", "1990-05-04") in form.attributes()


def test_number_ranges_are_explained_in_the_readers_number_format():
    form = make_form(GOOD)
    with translation.override("en"):
        assert str(form["custom_employees"].help_text) == "Between 1 and 100,000."
    with translation.override("de"):
        assert "100.000" in str(form["custom_employees"].help_text)


def test_a_form_class_built_in_one_language_speaks_the_readers_language():
    form_class = signup_form_class(form_spec(snapshot(describe_pool(required=("email", "given_name", "family_name")))))
    with translation.override("en"):
        form_class({}).is_valid()
    with translation.override("de"):
        form = form_class({**GOOD, "given_name": "", "custom_employees": "0"})
        form.is_valid()
        assert str(form.errors["given_name"][0]) != "This field is required."
        assert str(form.errors["custom_employees"][0]) not in ("", "Enter 1 or more.")


def test_validation_data_keeps_its_own_name_even_where_the_input_name_differs():
    vd = (ValidationDataSpec("org:code", "Organisation code"),)
    form = make_form({**GOOD, "vd_org_code": "A1"}, validation_fields=vd)
    assert form.is_valid(), form.errors
    assert form.validation_data() == [("org:code", "A1")]


@pytest.mark.parametrize(
    "address", ['"\x01"@example.com', '"@"@example.com', '"\\ "@example.com', "ann@localhost", "a b@example.com"]
)
def test_addresses_only_mail_servers_accept_are_refused(address):
    assert errors_of(make_form({**GOOD, "email": address})) == {"email": ["invalid"]}
