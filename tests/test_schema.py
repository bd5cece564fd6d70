"""Pool description -> form spec, following docs/cognito.md §4.6 and §3.2."""

import pytest

from signup.schema import Override, ValidationDataSpec, form_spec, writable_attributes
from tests.factories import describe_client, describe_pool, snapshot


def names(spec):
    return [f.name for f in spec.fields]


def test_it_offers_only_attributes_the_client_may_write():
    spec = form_spec(snapshot())
    attributes = {f.attribute for f in spec.fields if f.kind == "attribute"}
    assert attributes == {
        "email",
        "given_name",
        "family_name",
        "phone_number",
        "birthdate",
        "website",
        "locale",
        "zoneinfo",
        "custom:company",
        "custom:employees",
        "custom:newsletter",
    }


def test_it_never_offers_system_or_developer_attributes_even_when_writable():
    client = describe_client(
        WriteAttributes=[
            "email",
            "email_verified",
            "sub",
            "identities",
            "updated_at",
            "dev:custom:internal",
            "phone_number_verified",
        ]
    )
    spec = form_spec(snapshot(client=client))
    assert {f.attribute for f in spec.fields if f.kind == "attribute"} == {"email"}


def test_a_default_client_writes_standard_attributes_but_not_custom_ones():
    snap = snapshot(client=describe_client(WriteAttributes=None))
    snap["write_attributes"] = None
    writable = writable_attributes(snap)
    assert "given_name" in writable and "address" in writable
    assert "custom:company" not in writable
    assert "email_verified" not in writable


def test_required_attributes_are_writable_and_required_even_when_the_client_omits_them():
    pool = describe_pool(required=("email", "given_name", "family_name", "address"))
    spec = form_spec(snapshot(pool=pool))
    address = spec.for_attribute("address")
    assert address is not None and address.required
    assert [f.attribute for f in spec.fields if f.kind == "attribute"][:4] == [
        "given_name",
        "family_name",
        "email",
        "address",
    ]


def test_each_attribute_type_and_constraint_becomes_a_field_spec():
    spec = form_spec(snapshot())
    company = spec.for_attribute("custom:company")
    assert (company.type, company.min_length, company.max_length) == ("string", 2, 64)
    employees = spec.for_attribute("custom:employees")
    assert (employees.type, employees.min_value, employees.max_value) == ("number", "1", "100000")
    assert spec.for_attribute("custom:newsletter").type == "boolean"
    assert spec.for_attribute("email").type == "email"
    assert spec.for_attribute("phone_number").type == "phone"
    assert spec.for_attribute("birthdate").type == "date"
    assert spec.for_attribute("website").type == "url"
    assert spec.for_attribute("locale").format == "locale"
    assert spec.for_attribute("zoneinfo").format == "zoneinfo"
    assert spec.for_attribute("given_name").max_length == 2048


def test_a_free_username_pool_asks_for_a_username_and_the_email_separately():
    spec = form_spec(snapshot())
    assert spec.username_mode == "username"
    assert spec.field("username").type == "string"
    assert spec.for_attribute("email") is not None


@pytest.mark.parametrize(
    ("username_attributes", "mode", "field_type", "absent"),
    [
        (["email"], "email", "email", {"email"}),
        (["phone_number"], "phone", "phone", {"phone_number"}),
    ],
)
def test_email_or_phone_as_username_is_not_asked_twice(username_attributes, mode, field_type, absent):
    spec = form_spec(snapshot(pool=describe_pool(UsernameAttributes=username_attributes)))
    assert spec.username_mode == mode
    assert spec.field("username").type == field_type
    assert absent.isdisjoint(f.attribute for f in spec.fields)


def test_with_both_email_and_phone_as_username_the_other_stays_optional_in_the_form():
    pool = describe_pool(UsernameAttributes=["email", "phone_number"], required=("email",))
    spec = form_spec(snapshot(pool=pool))
    assert spec.username_mode == "email_or_phone"
    assert not spec.for_attribute("email").required
    assert spec.required_copies == ("email",)


def test_an_alias_preferred_username_is_left_for_after_confirmation():
    pool = describe_pool(AliasAttributes=["preferred_username", "email"])
    client = describe_client(WriteAttributes=["email", "preferred_username"])
    spec = form_spec(snapshot(pool=pool, client=client))
    assert spec.for_attribute("preferred_username") is None
    assert spec.alias_attributes == ("preferred_username", "email")


def test_case_sensitivity_defaults_to_sensitive_when_the_pool_does_not_say():
    assert form_spec(snapshot()).case_sensitive is True
    pool = describe_pool(UsernameConfiguration={"CaseSensitive": False})
    assert form_spec(snapshot(pool=pool)).case_sensitive is False


def test_the_password_is_optional_when_the_pool_allows_another_first_factor():
    pool = describe_pool()
    pool["Policies"]["SignInPolicy"] = {"AllowedFirstAuthFactors": ["PASSWORD", "EMAIL_OTP"]}
    spec = form_spec(snapshot(pool=pool))
    assert spec.password_policy.optional
    assert not spec.field("password").required
    assert spec.field("password").required is False
    assert form_spec(snapshot()).field("password").required


def test_overrides_relabel_reorder_hide_and_restrict_choices():
    overrides = (
        Override("custom:company", label="Organisation", order=1, placeholder="Acme Ltd"),
        Override("website", hidden=True),
        Override("email", hidden=True),  # required: hiding it is ignored
        Override("given_name", choices=("Ann", "Bob")),
    )
    spec = form_spec(snapshot(), overrides)
    assert names(spec)[:3] == ["username", "custom_company", "password"]
    assert spec.field("custom_company").label == "Organisation"
    assert spec.field("custom_company").placeholder == "Acme Ltd"
    assert spec.for_attribute("website") is None
    assert spec.for_attribute("email") is not None
    assert spec.for_attribute("given_name").choices == ("Ann", "Bob")


def test_validation_data_fields_come_last_and_are_never_attributes():
    spec = form_spec(snapshot(), validation_fields=(ValidationDataSpec("invite_code", "Invite code", required=True),))
    last = spec.fields[-1]
    assert (last.name, last.kind, last.attribute, last.required) == ("vd_invite_code", "validation_data", None, True)


def test_the_schema_json_shape_has_every_documented_key():
    spec = form_spec(snapshot())
    for field in spec.fields:
        assert set(field.as_json()) >= {
            "name",
            "kind",
            "attribute",
            "type",
            "required",
            "min_length",
            "max_length",
            "min_value",
            "max_value",
            "choices",
            "label",
            "help",
        }


def test_the_snapshot_never_keeps_the_client_secret():
    snap = snapshot(client=describe_client(secret="very-secret-value"))
    assert snap["has_secret"] is True
    assert "very-secret-value" not in repr(snap)
