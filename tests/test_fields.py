"""The field registry: one description per field type, which the form, the page and schema.json share."""

import ast
import json
import string
from pathlib import Path

import phonenumbers
import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from signup import fields
from signup.fields import FIELD_TYPES, SPACE, build_field, client_rules, field_type, validation_data_choices
from signup.forms import signup_form_class
from signup.messages import MESSAGES
from signup.models import ValidationDataField
from signup.schema import PASSWORD_SYMBOLS, ConsentSpec, Override, PasswordPolicy, ValidationDataSpec, form_spec
from tests.factories import describe_pool, snapshot

GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}


def every_type_spec():
    """A form with a field of every registry type."""
    vd = tuple(ValidationDataSpec(f"vd{name}", name, type=name) for name, _ in validation_data_choices())
    overrides = (Override("family_name", choices=("Ann", "Bob")),)
    pool = describe_pool(AliasAttributes=["email", "phone_number"])
    return form_spec(snapshot(pool), overrides, vd, ConsentSpec("v1"))


def test_every_type_in_the_registry_is_reachable_from_a_pool():
    either = form_spec(snapshot(describe_pool(UsernameAttributes=["email", "phone_number"])))
    used = {field_type(f).name for spec in (every_type_spec(), either) for f in spec.fields}
    assert used == set(FIELD_TYPES)


def test_every_rule_is_plain_json_and_speaks_only_catalogued_messages():
    with translation.override("de"):
        data = client_rules(every_type_spec())
    assert json.loads(json.dumps(data)) == data
    messages = data.pop("messages")
    codes = set(fields._message_codes(data))
    assert codes <= set(MESSAGES)
    assert codes <= set(messages)
    assert messages["required"] == "Dieses Feld ist erforderlich."
    assert {f["name"]: f["browser"]["input"] for f in data["fields"]}["vd_vdnumber"] == "number"


def test_the_page_carries_what_schema_json_describes_plus_its_messages():
    spec = every_type_spec()
    data = client_rules(spec)
    assert data.pop("messages")
    assert data == spec.as_json()
    assert set(data) == {"username_mode", "fields", "password_policy", "consent"}


def test_each_field_renders_the_input_type_its_rule_names():
    for spec in every_type_spec().fields:
        widget = build_field(spec).widget
        expected = field_type(spec).input
        assert getattr(widget, "input_type", "select") == expected, spec.name


def test_validation_data_types_come_from_the_registry():
    assert [name for name, _ in validation_data_choices()] == ["string", "number", "email", "boolean"]
    field = ValidationDataField._meta.get_field("type")
    assert [value for value, _ in field.choices] == [name for name, _ in validation_data_choices()]


def test_the_strip_class_is_exactly_what_python_calls_space():
    # A character class in the syntax both engines read, expanded here by Python's re.
    import re

    space = re.compile(f"[{SPACE}]")
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert {chr(c) for c in range(0x110000) if space.fullmatch(chr(c))} == spaces


def test_the_page_asks_no_phone_number_for_fewer_digits_than_any_valid_one_has():
    regions = [phonenumbers.PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    regions += [
        phonenumbers.PhoneMetadata.metadata_for_nongeo_region(c) for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    kinds = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip", "pager")
    shortest = min(
        len(str(metadata.country_code)) + min(length for length in desc.possible_length if length > 0)
        for metadata in regions
        if metadata is not None
        for desc in (getattr(metadata, kind) for kind in (*kinds, "uan", "voicemail"))
        if desc is not None and desc.possible_length
    )
    assert shortest >= fields.PHONE_MIN_DIGITS


def reference_failures(policy, password):
    """The policy as first written, rule by rule: the checks shared with the page must say the same."""
    failed = []
    if password != password.strip():
        failed.append("password_edge_space")
    if len(password) > 256:
        failed.append("password_too_long")
    if len(password) < policy.minimum_length:
        failed.append("password_too_short")
    if policy.require_uppercase and not any(c in string.ascii_uppercase for c in password):
        failed.append("password_no_upper")
    if policy.require_lowercase and not any(c in string.ascii_lowercase for c in password):
        failed.append("password_no_lower")
    if policy.require_numbers and not any(c in string.digits for c in password):
        failed.append("password_no_number")
    if policy.require_symbols and not any(c in PASSWORD_SYMBOLS or c == " " for c in password.strip()):
        failed.append("password_no_symbol")
    return failed


@given(
    password=st.text(st.one_of(st.characters(), st.sampled_from(PASSWORD_SYMBOLS + " \t\x1c\u3000Aa1")), max_size=30),
    minimum=st.integers(6, 12),
    flags=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_the_shared_password_checks_are_the_policy(password, minimum, flags):
    policy = PasswordPolicy(minimum, *flags)
    assert policy.failures(password) == reference_failures(policy, password)


@pytest.mark.parametrize(
    ("aliases", "username", "code"),
    [
        (["email"], "alice@example.com", "username_looks_like_email"),
        (["email"], "a@b.c", "username_looks_like_email"),  # Cognito's shape, looser than a valid address
        (["phone_number"], "+14155552671", "username_looks_like_phone"),
        (["phone_number"], "+1234567", "username_looks_like_phone"),  # E.164-shaped, if no real number
        (["phone_number"], "+1(415)555-2671", None),  # a real number, but not shaped as Cognito looks for
        (["preferred_username"], "alice@example.com", None),
    ],
)
def test_an_alias_pool_refuses_the_usernames_cognito_would_take_for_an_alias(aliases, username, code):
    spec = form_spec(snapshot(describe_pool(AliasAttributes=aliases)))
    form = signup_form_class(spec)({**GOOD, "username": username})
    form.is_valid()
    assert [e.code for e in form.errors.as_data().get("username", [])] == ([code] if code else [])


def test_messages_import_nothing_of_ours():
    tree = ast.parse(Path(fields.__file__).with_name("messages.py").read_text())
    imported = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert all(n.level == 0 and not (n.module or "").startswith("signup") for n in imported)
