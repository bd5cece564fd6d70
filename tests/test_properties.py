"""Property-based tests: hostile input anywhere never costs a 500, and Cognito never gets what it would refuse.

Cognito is replaced at its single seam (signup.cognito.sign_up / confirm_sign_up / resend_confirmation_code)
by a fake that checks every outgoing request against Cognito's rules, written here independently of the
code under test (docs/cognito.md §2.2, §3, §4, §5). The fake records what it would refuse
instead of raising, because the use cases deliberately swallow unexpected exceptions.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import re
import string
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from signup import cognito, embedding, guards
from signup.models import AttemptEvent, SignupAttempt, ValidationDataField
from signup.pages import confirm_token
from tests import strategies as hs
from tests.factories import DEFAULT_WRITE, describe_client, describe_pool, make_portal, snapshot

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    # The explain phase traces every line of Django while re-running failures: minutes, for a hint.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(PROPERTY, max_examples=50)
PER_FIELD = settings(PROPERTY, max_examples=25)

VALID = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}
EMBED_ORIGINS = ["https://shop.example.com", "https://*.example.org"]
OWN_ORIGIN = "http://testserver"


# --- Cognito's rules, written down independently of the portal -------------------------------------


@dataclass(frozen=True)
class PoolRules:
    """What the acme pool (tests/factories.py) and its app client accept at SignUp."""

    username_mode: str = "username"  # username | email | phone | email_or_phone
    writable: frozenset[str] = frozenset(DEFAULT_WRITE)
    required: frozenset[str] = frozenset({"email"})
    validation_names: frozenset[str] = frozenset()
    minimum_length: int = 10


PASSWORD_SYMBOLS = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WHOLE = re.compile(r"-?[0-9]+")


def unencodable(value: str) -> bool:
    """NUL, or a lone surrogate: neither can travel as UTF-8 JSON to Cognito."""
    return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def utf8_length(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def username_problems(username: str) -> list[str]:
    """UsernameType: 1-128 characters, each a letter, mark, symbol, number or punctuation (docs/cognito.md §3.1)."""
    problems = []
    if not 1 <= len(username) <= 128:
        problems.append("username_length")
    if any(unicodedata.category(c)[0] not in "LMSNP" for c in username):
        problems.append("username_character")
    return problems


def email_problems(value: str) -> list[str]:
    """An address Cognito takes as one: local@domain.tld, no whitespace, no control characters."""
    problems = []
    if any(c.isspace() for c in value):
        problems.append("email_whitespace")
    if any(unicodedata.category(c) == "Cc" for c in value):
        problems.append("email_control_character")
    local, at, domain = value.rpartition("@")
    if not at or not local or "@" in local:
        problems.append("email_not_one_at")
    elif "." not in domain.strip(".") or not domain:
        problems.append("email_domain_without_dot")
    return problems


def password_problems(password: str | None, rules: PoolRules) -> list[str]:
    """PasswordType (max 256, no edge whitespace) and the pool's policy: min 10 and all four classes
    (docs/cognito.md §3.4)."""
    if password is None:
        return ["password_missing"]
    problems = []
    if len(password) > 256:
        problems.append("password_over_256")
    if password and (password[0].isspace() or password[-1].isspace()):
        problems.append("password_edge_whitespace")
    if len(password) < rules.minimum_length:
        problems.append("password_short")
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits)
    if not all(any(c in chars for c in password) for chars in classes):
        problems.append("password_class_missing")
    if not (any(c in PASSWORD_SYMBOLS for c in password) or " " in password[1:-1]):
        problems.append("password_symbol_missing")
    return problems


def attribute_problems(name: str, value: str, rules: PoolRules) -> list[str]:
    if name not in rules.writable or name == "sub" or name.endswith("_verified"):
        return ["attribute_not_writable"]
    problems = []
    if utf8_length(value) > 2048:
        problems.append("attribute_over_2048_bytes")
    if name == "email":
        problems += email_problems(value)
    elif name == "phone_number" and not E164.fullmatch(value):
        problems.append("phone_not_e164")
    elif name == "birthdate":
        try:
            valid_date = bool(ISO_DATE.fullmatch(value)) and date.fromisoformat(value) is not None
        except ValueError:
            valid_date = False
        if not valid_date:
            problems.append("birthdate_not_yyyy_mm_dd")
    elif name == "custom:company" and not 2 <= len(value) <= 64:
        problems.append("company_length_not_2_to_64")
    elif name == "custom:employees" and not (WHOLE.fullmatch(value) and 1 <= int(value) <= 100_000):
        problems.append("employees_not_whole_1_to_100000")
    elif name == "custom:newsletter" and value not in ("true", "false"):
        problems.append("boolean_not_true_false")
    return problems


def ip_problems(value: str) -> list[str]:
    if not value:
        return []
    return [] if valid_ip(value) else ["ip_address_invalid"]


def valid_ip(value: str | None) -> bool:
    """An address a client can have: IPv4 or IPv6, no zone (PostgreSQL's inet and Cognito take no `%eth0`)."""
    if value is None:
        return True
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def metadata_problems(metadata: dict[str, str]) -> list[str]:
    problems = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append("client_metadata_not_strings")
        elif len(key) > 131072 or len(value) > 131072:
            problems.append("client_metadata_over_131072")
    return problems


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def sign_up_problems(call: cognito.SignUpCall, rules: PoolRules) -> list[str]:
    problems = []
    everything = [call.username, call.password, call.attributes, call.validation_data, call.client_metadata]
    everything += [call.analytics_endpoint_id, call.ip_address, call.encoded_data]
    if any(unencodable(s) for s in strings_in(everything)):
        problems.append("nul_or_lone_surrogate")
    problems += username_problems(call.username)
    mode = rules.username_mode
    username_is_email = not email_problems(call.username)
    if mode == "email" and not username_is_email:
        problems += [f"username_{p}" for p in email_problems(call.username)]
    if mode == "phone" and not E164.fullmatch(call.username):
        problems.append("username_not_e164")
    if mode == "email_or_phone" and not (username_is_email or E164.fullmatch(call.username)):
        problems.append("username_neither_email_nor_e164")
    problems += password_problems(call.password, rules)
    names = [name for name, _ in call.attributes]
    if len(names) != len(set(names)):
        problems.append("attribute_given_twice")
    for name, value in call.attributes:
        problems += attribute_problems(name, value, rules)
    present = set(names)
    if mode in ("email", "email_or_phone") and username_is_email:
        present.add("email")
    if mode in ("phone", "email_or_phone") and E164.fullmatch(call.username):
        present.add("phone_number")
    if not rules.required <= present:
        problems.append("required_attribute_missing")
    data_names = [name for name, _ in call.validation_data]
    if len(data_names) != len(set(data_names)) or not set(data_names) <= rules.validation_names:
        problems.append("validation_data_not_declared")
    if any(utf8_length(value) > 2048 for _, value in call.validation_data):
        problems.append("validation_data_over_2048_bytes")
    problems += metadata_problems(call.client_metadata)
    if len(call.analytics_endpoint_id) > 131072 or len(call.encoded_data) > 131072:
        problems.append("context_over_131072")
    problems += ip_problems(call.ip_address)
    return problems


def step_problems(username: str, code: str | None, client_metadata: dict[str, str] | None, ip: str) -> list[str]:
    """ConfirmSignUp / ResendConfirmationCode: the username rules, ConfirmationCode 1-2048 `[\\S]+`
    (docs/cognito.md §2.2, §5.1)."""
    problems = username_problems(username)
    if code is not None and (not 1 <= len(code) <= 2048 or any(c.isspace() for c in code)):
        problems.append("confirmation_code_invalid")
    if any(unencodable(s) for s in strings_in([username, code or "", client_metadata or {}, ip])):
        problems.append("nul_or_lone_surrogate")
    return problems + metadata_problems(client_metadata or {}) + ip_problems(ip)


_rejections: dict[str, type[AssertionError]] = {}


def violation(rule: str, text: str) -> None:
    """Raise one exception type per broken rule, always from this line, so Hypothesis reports (and
    shrinks) each distinct bug on its own, and the same bug seen twice only once."""
    if rule not in _rejections:
        _rejections[rule] = type(f"Violated_{rule}", (AssertionError,), {})
    raise _rejections[rule](text[:3000])


@dataclass(repr=False)
class FakeCognito:
    """Stands in for the three public calls; notes every request Cognito would refuse."""

    pools: dict[str, PoolRules]
    calls: list[tuple[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        return "FakeCognito()"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("FakeCognito()")

    def reset(self) -> None:
        self.calls.clear()
        self.rejected.clear()

    def _note(self, operation: str, request: Any, problems: list[str]) -> None:
        self.calls.append((operation, request))
        for problem in problems:
            self.rejected.append((problem, request))

    def sign_up(self, target: cognito.Target, call: cognito.SignUpCall) -> cognito.SignUpResult:
        self._note("SignUp", call, sign_up_problems(call, self.pools[target.client_id]))
        delivery = cognito.CodeDelivery("a***@e***", "EMAIL", "email")
        return cognito.SignUpResult(str(uuid.uuid4()), False, delivery, "req-1", 3)

    def confirm_sign_up(self, target: cognito.Target, *, username: str, code: str, **kwargs: Any) -> Any:
        problems = step_problems(username, code, kwargs.get("client_metadata"), kwargs.get("ip_address", ""))
        self._note("ConfirmSignUp", (username, code, kwargs), problems)
        return cognito.CallResult("req-2", 3)

    def resend_confirmation_code(self, target: cognito.Target, *, username: str, **kwargs: Any) -> Any:
        problems = step_problems(username, None, kwargs.get("client_metadata"), kwargs.get("ip_address", ""))
        self._note("ResendConfirmationCode", (username, kwargs), problems)
        return cognito.CallResult("req-3", 3, cognito.CodeDelivery("a***@e***", "EMAIL", "email"))

    def assert_nothing_rejected(self) -> None:
        for rule, request in self.rejected:
            violation(rule, f"Cognito would refuse ({rule}): {request!r}")


# --- What the database must be able to keep --------------------------------------------------------


def unstorable(value: Any) -> bool:
    """What PostgreSQL refuses in text and jsonb: NUL and lone surrogates."""
    return any(unencodable(s) for s in strings_in(value))


def assert_attempts_storable() -> None:
    """Every recorded attempt could be written to PostgreSQL too, and its client_ip is an address or None."""
    for attempt in SignupAttempt.objects.all():
        if not valid_ip(attempt.client_ip):
            violation("ip_address_invalid", f"SignupAttempt.client_ip = {attempt.client_ip!r}")
        for model_field in SignupAttempt._meta.concrete_fields:
            value = getattr(attempt, model_field.attname)
            if unstorable(value):
                violation("unstorable", f"SignupAttempt.{model_field.name} = {value!r}")
    for event in AttemptEvent.objects.all():
        if unstorable(event.detail) or unstorable(event.error_code):
            violation("unstorable", f"AttemptEvent {event.kind} {event.detail!r}")


# --- Fixtures ------------------------------------------------------------------------------------


ACME = PoolRules(validation_names=frozenset({"invite", "age", "referrer", "vip"}))
MODES = {
    "acme": ACME,
    "acme-cli": ACME,
    "acme-email": PoolRules(username_mode="email"),
    "acme-phone": PoolRules(username_mode="phone"),
    "acme-either": PoolRules(username_mode="email_or_phone"),
    "acme-context": PoolRules(),
}


@pytest.fixture
def portals(client_secret):
    """acme (validation data, ClientMetadata params, embed origins, consent), acme-cli (the same without
    consent, which the command line cannot give), one portal per username model, and one whose client
    propagates the user's IP address; each has its own client id, so the fake knows whose rules apply."""
    acme = make_portal(
        "acme",
        client_id="clientacme",
        client_metadata={"source": "portal"},
        client_metadata_params=["campaign"],
        embed_origins=EMBED_ORIGINS,
        require_consent=True,
        consent_version="2024-01",
        terms_url="https://example.com/terms",
    )
    cli = make_portal("acme-cli", client_id="clientcli", client_metadata={"source": "cli"})
    for portal in (acme, cli):
        for name, kind in hs.ACME_VALIDATION_DATA:
            ValidationDataField.objects.create(portal=portal, name=name, label=name.title(), type=kind)
    make_portal("acme-email", client_id="clientemail", snap=snapshot(describe_pool(UsernameAttributes=["email"])))
    make_portal(
        "acme-phone", client_id="clientphone", snap=snapshot(describe_pool(UsernameAttributes=["phone_number"]))
    )
    make_portal(
        "acme-either",
        client_id="clienteither",
        snap=snapshot(describe_pool(UsernameAttributes=["email", "phone_number"])),
    )
    make_portal(
        "acme-context",
        client_id="clientcontext",
        snap=snapshot(client=describe_client(EnablePropagateAdditionalUserContextData=True)),
    )
    return acme


@pytest.fixture
def fake(portals):
    """Cognito's three public calls replaced by the checking fake (autospec keeps their signatures honest)."""
    fake = FakeCognito({f"client{slug.split('-')[-1]}": rules for slug, rules in MODES.items()})
    with (
        mock.patch("signup.cognito.sign_up", autospec=True, side_effect=fake.sign_up),
        mock.patch("signup.cognito.confirm_sign_up", autospec=True, side_effect=fake.confirm_sign_up),
        mock.patch("signup.cognito.resend_confirmation_code", autospec=True, side_effect=fake.resend_confirmation_code),
    ):
        yield fake


def fresh(fake: FakeCognito) -> None:
    """Each example starts clean: no rate-limit counters, no attempts, no calls."""
    cache.clear()
    SignupAttempt.objects.all().delete()
    fake.reset()


def post(client, path: str, body: bytes, content_type: str = "application/x-www-form-urlencoded", **extra: Any):
    response = client.generic("POST", path, body, content_type=content_type, **extra)
    assert response.status_code < 500, response.status_code
    return response


def with_form_token(pairs: list[tuple[str | bytes, str | bytes]]) -> list[tuple[str | bytes, str | bytes]]:
    """What a browser posts back: the fields and the signed token of the form it was shown."""
    return [*pairs, ("form_token", guards.form_token())]


def check(fake: FakeCognito) -> None:
    fake.assert_nothing_rejected()
    assert_attempts_storable()


# --- The sign-up form ------------------------------------------------------------------------------

SIGNUP_FIELDS = sorted(hs.FIELD_VALUES)
# A complete, valid submission for acme: every attribute, every validation-data field, the consent box.
FULL = {
    **VALID,
    "given_name": "Alice",
    "family_name": "Liddell",
    "phone_number": "+14155552671",
    "birthdate": "1990-01-31",
    "website": "https://example.com/alice",
    "locale": "en-US",
    "zoneinfo": "Europe/Paris",
    "custom_company": "Acme",
    "custom_employees": "42",
    "custom_newsletter": "on",
    "vd_invite": "friends-2024",
    "vd_age": "30",
    "vd_referrer": "bob@example.com",
    "vd_vip": "on",
    "consent": "on",
}
USERNAMES = {
    "acme": hs.usernames,
    "acme-context": hs.usernames,
    "acme-cli": hs.usernames,
    "acme-email": hs.emails,
    "acme-phone": hs.phones,
    "acme-either": st.one_of(hs.emails, hs.phones),
}
DEFAULT_USERNAME = {"acme-email": "alice@example.com", "acme-phone": "+14155552671", "acme-either": "+4930123456"}


@PER_FIELD
@pytest.mark.parametrize("name", SIGNUP_FIELDS)
@given(data=st.data(), duplicate=st.sampled_from(["no", "before", "after"]))
def test_no_single_form_field_value_ever_answers_500(client, fake, name, data, duplicate):
    """One field at a time, every other field valid: plausible values, near misses, arbitrary Unicode,
    controls, NUL, surrogates, huge values, the key given twice. The page answers (200, 302 or 400)
    and what reaches Cognito is what Cognito accepts."""
    fresh(fake)
    value = data.draw(st.one_of(hs.FIELD_VALUES[name], hs.any_value()), label=name)
    pairs: list[tuple[str | bytes, str | bytes]] = [(k, v) for k, v in FULL.items() if k != name]
    if duplicate == "before":
        pairs.append((name, FULL.get(name, "x")))
    pairs.append((name, value))
    if duplicate == "after":
        pairs.append((name, FULL.get(name, "x")))
    response = post(client, "/signup/acme/", hs.form_body(with_form_token(pairs)))
    assert response.status_code in (200, 302, 400)
    check(fake)


@st.composite
def submissions(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A portal (one per username model) and a submission where any subset of fields is changed or left out."""
    slug = draw(st.sampled_from(sorted(MODES)))
    values = {**FULL, "username": DEFAULT_USERNAME.get(slug, "alice")}
    for name in draw(st.lists(st.sampled_from(sorted(values)), unique=True)):
        if draw(st.integers(0, 9)) == 0:
            del values[name]
        else:
            values[name] = draw(USERNAMES[slug] if name == "username" else hs.FIELD_VALUES[name])
    return slug, values


@PROPERTY
@given(
    submission=submissions(),
    campaign=st.one_of(st.none(), hs.any_text()),
    analytics=st.one_of(st.none(), hs.any_text(), st.just("endpoint-1")),
)
def test_cognito_only_ever_receives_what_it_would_accept(client, fake, submission, campaign, analytics):
    """Every field together, plausible or hostile, on every username model: whatever reaches SignUp is valid."""
    fresh(fake)
    slug, values = submission
    query = [(k, v) for k, v in (("campaign", campaign), ("analytics_endpoint_id", analytics)) if v is not None]
    body = hs.form_body(with_form_token(list(values.items())))
    response = post(client, f"/signup/{slug}/", body, QUERY_STRING=hs.raw_query(query))
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert [operation for operation, _ in fake.calls] == ["SignUp"]
    check(fake)


@FEW
@given(
    pairs=st.lists(
        st.tuples(st.one_of(st.sampled_from(SIGNUP_FIELDS), hs.UNKNOWN_FIELDS), hs.any_value()), max_size=30
    ),
    extra_fields=st.sampled_from([0, 0, 0, 10, 999, 1001, 5000]),
    padding=st.sampled_from([0, 0, 0, 1_000_000, 3_000_000]),
    separator=st.sampled_from(["&", "&&", ";", "&=&"]),
    path=st.sampled_from(["/signup/acme/", "/signup/acme/confirm/", "/signup/acme-either/"]),
)
def test_duplicated_unknown_and_too_many_fields_never_answer_500(
    client, fake, pairs, extra_fields, padding, separator, path
):
    """Duplicated keys, names not in the schema, thousands of fields and multi-megabyte bodies: 200/302/400."""
    fresh(fake)
    body = hs.form_body(with_form_token(list(VALID.items())) + pairs)
    if extra_fields:
        body += b"&" + "&".join(f"f{i}=v" for i in range(extra_fields)).encode()
    if padding:
        body += b"&given_name=" + b"%C3%A9" * (padding // 6)
    body = body.replace(b"&", separator.encode())
    response = post(client, path, body)
    assert response.status_code in (200, 302, 400)
    check(fake)


@FEW
@given(
    path=st.sampled_from(
        ["/signup/acme/", "/signup/acme/confirm/", "/embed/acme/", "/embed/acme/confirm/", "/signup/acme/schema.json"]
    ),
    content_type=hs.CONTENT_TYPES,
    body=st.one_of(
        st.binary(max_size=200),
        st.builds(hs.form_body, st.lists(st.tuples(hs.any_text(max_size=10), hs.any_value()), max_size=5)),
        st.just(b'--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--xyz'),
        st.just(json.dumps(VALID).encode()),
    ),
    query=st.lists(st.tuples(st.sampled_from(["lang", "parent", "t", "x"]), hs.any_value()), max_size=3),
    method=st.sampled_from(["POST", "GET", "PUT"]),
)
def test_wrong_content_types_and_charsets_never_answer_500(client, fake, path, content_type, body, query, method):
    """JSON, text, multipart with broken boundaries, odd charsets, no content type, on every endpoint."""
    fresh(fake)
    response = client.generic(
        method,
        path,
        body,
        content_type=content_type,
        QUERY_STRING=hs.raw_query(query),
        HTTP_SEC_FETCH_SITE="same-origin",
    )
    assert response.status_code < 500
    check(fake)


@FEW
@given(
    charset=st.one_of(st.sampled_from(hs.CHARSETS), st.text(hs.HEADER_CHARACTER, max_size=12)),
    media_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]),
    query=st.lists(st.tuples(st.sampled_from(["lang", "parent", "t"]), hs.any_value()), min_size=1, max_size=2),
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/signup/acme/", "/signup/acme/schema.json", "/embed/acme/"]),
)
def test_any_declared_charset_never_answers_500(client, fake, charset, media_type, query, method, path):
    """Content-Type's charset decodes the query string and the body: an unknown, binary-only or
    strict codec (rot13, base64, punycode) must be a 400 at worst, on a GET as much as on a POST."""
    fresh(fake)
    body = hs.form_body(with_form_token(list(VALID.items()))) if method == "POST" else b""
    response = client.generic(
        method,
        path,
        body,
        content_type=f"{media_type}; charset={charset}",
        QUERY_STRING=hs.raw_query(query),
        HTTP_SEC_FETCH_SITE="same-origin",
        CONTENT_TYPE=f"{media_type}; charset={charset}",  # on a GET too: nothing stops a client sending it
    )
    assert response.status_code < 500
    check(fake)


# --- Confirmation and resending --------------------------------------------------------------------


@PROPERTY
@given(
    username=st.one_of(hs.usernames, hs.with_invisible("alice"), hs.any_value()),
    code=st.one_of(st.from_regex(r"\A[0-9]{6}\Z"), hs.near(st.from_regex(r"\A[0-9]{6}\Z")), hs.any_value()),
    resend=st.sampled_from([None, "1", "", "\x00"]),
    token=st.one_of(st.none(), hs.any_text(), st.just("signed")),
    embedded=st.booleans(),
)
def test_confirm_and_resend_never_answer_500_nor_send_what_cognito_would_refuse(
    client, portals, fake, username, code, resend, token, embedded
):
    fresh(fake)
    pairs: list[tuple[str | bytes, str | bytes]] = [("username", username), ("code", code)]
    if resend is not None:
        pairs.append(("resend", resend))
    query = []
    if token == "signed":
        attempt = SignupAttempt.objects.create(portal=portals, username="alice", status="succeeded")
        query.append(("t", confirm_token(portals, attempt)))
    elif token is not None:
        query.append(("t", token))
    extra: dict[str, str] = {"QUERY_STRING": hs.raw_query(query)}
    path = "/signup/acme/confirm/"
    if embedded:
        path = "/embed/acme/confirm/"
        pairs.append(("embed_token", embedding.issue_token("acme", "")))
        extra["HTTP_SEC_FETCH_SITE"] = "same-origin"
    response = post(client, path, hs.form_body(pairs), **extra)
    assert response.status_code in (200, 302)
    check(fake)


# --- schema.json and every page under hostile query strings and headers ---------------------------


@PROPERTY
@given(
    query=st.lists(st.tuples(st.sampled_from(["lang", "lang", "format", "x"]), hs.any_value()), max_size=4),
    accept_language=st.one_of(st.none(), st.text(hs.HEADER_CHARACTER, max_size=60), st.just("de-DE,de;q=0.9")),
)
def test_schema_json_is_always_json_in_a_supported_language(client, fake, query, accept_language):
    fresh(fake)
    extra = {"QUERY_STRING": hs.raw_query(query)}
    if accept_language is not None:
        extra["HTTP_ACCEPT_LANGUAGE"] = accept_language
    response = client.get("/signup/acme/schema.json", **extra)
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["available"] is True
    assert document["language"] in ("en", "es", "de")
    assert [f["name"] for f in document["fields"]][:2] == ["username", "password"]


@PROPERTY
@given(
    path=st.sampled_from(
        [
            "/signup/acme/",
            "/signup/acme/confirm/",
            "/signup/acme/done/",
            "/signup/acme/schema.json",
            "/signup/acme/theme.css",
            "/embed/acme/",
            "/embed/acme/confirm/",
            "/embed/acme/done/",
        ]
    ),
    query=st.lists(
        st.tuples(
            st.sampled_from(["lang", "parent", "embed", "theme", "t", "campaign", "analytics_endpoint_id", "x"]),
            hs.any_value(),
        ),
        max_size=5,
    ),
    headers=st.dictionaries(
        st.sampled_from(["HTTP_ACCEPT_LANGUAGE", "HTTP_X_FORWARDED_FOR", "HTTP_USER_AGENT", "HTTP_ORIGIN"]),
        st.text(hs.HEADER_CHARACTER, max_size=60),
    ),
)
def test_no_page_answers_500_to_hostile_query_strings_and_headers(client, fake, path, query, headers):
    fresh(fake)
    response = client.get(path, QUERY_STRING=hs.raw_query(query), **headers)
    assert response.status_code == 200
    assert "frame-ancestors" in response["Content-Security-Policy"]


# --- Embedding -------------------------------------------------------------------------------------

# Listed origins as a hostile page might spell them: padded with controls or spaces, re-cased, with a
# default port; and near misses with paths, queries, odd ports or credentials.
near_listed_origins = st.builds(
    lambda prefix, origin, suffix: prefix + origin + suffix,
    st.sampled_from(["", "\x00", "\x01", " ", "\x1f"]),
    st.sampled_from(["https://shop.example.com", "HTTPS://SHOP.EXAMPLE.COM:443", "https://b.example.org"]),
    st.sampled_from(["", "/", ":443", " "]),
)
odd_origins = st.builds(
    lambda prefix, origin, suffix: prefix + origin + suffix,
    st.text(hs.HOSTILE_CHARACTER, max_size=2),
    st.sampled_from(["https://shop.example.com", "https://b.example.org", "https://example.org"]),
    st.sampled_from(["?q", "/path", "\x00", ".", ":99999", "@x.com", "#f"]),
)
parents = st.one_of(
    near_listed_origins,
    near_listed_origins,
    odd_origins,
    st.sampled_from([*EMBED_ORIGINS, "https://a.example.org", OWN_ORIGIN, "null", ""]),
    hs.any_text(),
)


@PROPERTY
@given(
    parent=parents,
    embed_id=st.one_of(st.just("frame-1"), hs.any_text(max_size=70)),
    theme=st.one_of(st.sampled_from(["light", "dark"]), hs.any_text()),
    lang=st.one_of(st.sampled_from(["es", "de", "en"]), hs.any_text()),
    page=st.sampled_from(["/embed/acme/", "/embed/acme/confirm/", "/embed/acme/done/"]),
)
def test_embed_pages_render_for_any_parent_embed_theme_and_lang(client, fake, parent, embed_id, theme, lang, page):
    fresh(fake)
    query = [("parent", parent), ("embed", embed_id), ("theme", theme), ("lang", lang)]
    response = client.get(page, QUERY_STRING=hs.raw_query(query))
    assert response.status_code == 200
    assert response["Content-Security-Policy"].endswith("frame-ancestors 'self' " + " ".join(EMBED_ORIGINS))


@PROPERTY
@given(
    fetch_site=st.one_of(
        st.none(), st.sampled_from(["same-origin", "none", "same-site", "cross-site"]), st.text(hs.HEADER_CHARACTER)
    ),
    origin=st.one_of(st.none(), st.just(OWN_ORIGIN), st.text(hs.HEADER_CHARACTER, max_size=30)),
    token=st.one_of(st.sampled_from(["fresh", "fresh", "used", "other-portal"]), hs.any_text(), st.binary(max_size=40)),
    page=st.sampled_from(["/embed/acme/", "/embed/acme/confirm/"]),
)
def test_framed_posts_from_elsewhere_or_with_a_bad_token_are_refused_never_500(
    client, fake, fetch_site, origin, token, page
):
    """The cookie-free guard: a POST not from our own document, or without a fresh token of this
    portal, is a 403 and reaches nobody; our own is served (200 or 302)."""
    fresh(fake)
    if token in ("fresh", "used", "other-portal"):
        issued = embedding.issue_token("acme-email" if token == "other-portal" else "acme", "")
        if token == "used":
            embedding.consume_token(issued, "acme")
        token = issued
    extra = {}
    if fetch_site is not None:
        extra["HTTP_SEC_FETCH_SITE"] = fetch_site
    if origin is not None:
        extra["HTTP_ORIGIN"] = origin
    values = {**FULL, "code": "123456"}
    response = post(client, page, hs.form_body(with_form_token([*values.items(), ("embed_token", token)])), **extra)
    assert response.status_code in (200, 302, 403)
    ours = fetch_site in ("same-origin", "none") or (fetch_site is None and origin == OWN_ORIGIN)
    if not ours:
        assert response.status_code == 403
        assert not fake.calls
    check(fake)


@PROPERTY
@given(parent=parents)
def test_framed_submissions_with_any_claimed_parent_never_answer_500(client, fake, parent):
    """Our own framed document posting with a fresh token, under any claimed parent origin: served, and
    what is recorded (the attempt's embed origin among it) and sent to Cognito is valid."""
    fresh(fake)
    token = embedding.issue_token("acme", parent)
    body = hs.form_body(with_form_token([*FULL.items(), ("embed_token", token)]))
    query = hs.raw_query([("parent", parent)])
    response = post(client, "/embed/acme/", body, QUERY_STRING=query, HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code in (200, 302)
    check(fake)


# --- Addresses ---------------------------------------------------------------------------------------


@PROPERTY
@given(
    trusted=st.sampled_from([0, 1, 2]),
    forwarded=st.one_of(st.none(), hs.forwarded_for),
    remote=st.sampled_from(["127.0.0.1", "::1", "10.0.0.7"]),
    valid_form=st.booleans(),
)
def test_recorded_client_ip_is_a_valid_address_or_none(client, fake, trusted, forwarded, remote, valid_form):
    """Hostile X-Forwarded-For behind 0-2 trusted proxies: the attempt's client_ip, and the
    UserContextData.IpAddress sent by a client that propagates it, are addresses or nothing."""
    fresh(fake)
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    data = dict(VALID, password="Str0ng!Passw0rd" if valid_form else "weak")
    with override_settings(SIGNUP_TRUSTED_PROXY_COUNT=trusted):
        response = post(client, "/signup/acme-context/", hs.form_body(with_form_token(list(data.items()))), **extra)
    assert response.status_code == (302 if valid_form else 200)
    assert SignupAttempt.objects.count() == 1
    check(fake)  # the attempt's client_ip, and any UserContextData.IpAddress sent, are addresses


@FEW
@given(remote=hs.ip_text, trusted=st.sampled_from([0, 1, 2]))
def test_a_hostile_remote_addr_is_recorded_as_an_address_or_none(client, fake, remote, trusted):
    """REMOTE_ADDR as a server might fill it (a link-local peer carries its zone, e.g. fe80::1%eth0)."""
    fresh(fake)
    with override_settings(SIGNUP_TRUSTED_PROXY_COUNT=trusted):
        body = hs.form_body(with_form_token(list(VALID.items())))
        response = post(client, "/signup/acme-context/", body, REMOTE_ADDR=remote)
    assert response.status_code == 302
    check(fake)


# --- The management commands -----------------------------------------------------------------------

FILE_VALUES = st.sampled_from(
    ["file://", "file://~", "file://~no-such-user-here/x", "file:///no/such/file", "file://\x00", "file://\udcff"]
)
# What Python makes of command-line bytes that are not UTF-8 (a Latin-1 terminal): lone surrogates.
ARGV_TEXT = st.binary(max_size=12).map(lambda raw: raw.decode("utf-8", "surrogateescape"))


def command_value(plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """What an operator could type: plausible values, garbage, undecodable bytes, file:// paths."""
    return st.one_of(plausible, plausible, hs.any_text(), ARGV_TEXT, FILE_VALUES)


def shorthand(name: str, value: str) -> str:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'Name={name},Value="{quoted}"'


ATTRIBUTE_VALUES = {
    "email": hs.emails,
    "given_name": hs.free_text,
    "custom:company": hs.companies,
    "custom:employees": hs.numbers,
    "custom:newsletter": hs.booleans,
    "website": hs.urls,
    "phone_number": hs.phones,
    "birthdate": hs.dates_text,
    "locale": hs.locales,
    "invite": hs.free_text,
    "age": hs.numbers,
    "referrer": hs.emails,
    "vip": hs.booleans,
}
attribute_names = st.one_of(
    st.sampled_from(sorted(ATTRIBUTE_VALUES)[:9]),
    st.sampled_from(["email_verified", "sub", "custom:nope", "dev:custom:internal", "family_name", "zoneinfo"]),
    hs.any_text(max_size=10),
)
validation_names = st.one_of(st.sampled_from(["invite", "age", "referrer", "vip", "undeclared"]), hs.any_text())


@st.composite
def attribute_items(draw: st.DrawFn, names: st.SearchStrategy[str], with_email: bool = True) -> list[str]:
    """--user-attributes / --validation-data items, as shorthand, one JSON list, JSON items or garbage."""
    pairs = [("email", "alice@example.com")] if with_email and draw(st.integers(0, 4)) else []
    for name in draw(st.lists(names, max_size=4)):
        pairs.append((name, draw(ATTRIBUTE_VALUES.get(name, hs.any_text()))))
    style = draw(st.sampled_from(["shorthand", "json", "json-items", "raw"]))
    if style == "shorthand":
        return [shorthand(n, v) for n, v in pairs] or ["Name=email,Value=alice@example.com"]
    if style == "json":
        return [hs.json_text([{"Name": n, "Value": v} for n, v in pairs])]
    if style == "json-items":
        return [hs.json_text({"Name": n, "Value": v}) for n, v in pairs] or ["{}"]
    return draw(st.lists(command_value(hs.any_text()), min_size=1, max_size=3))


metadata_values = st.one_of(
    st.dictionaries(
        hs.any_text(max_size=5), st.one_of(hs.any_text(), hs.HUGE_TEXT.map(lambda t: t * 50)), max_size=2
    ).map(hs.json_text),
    st.sampled_from(["a=b", "a=b,c=d", "{", "[]", '{"a": 1}', '{"a": null}', "file://~no-such-user-here/x"]),
    command_value(hs.any_text()),
)
json_documents = st.one_of(
    st.builds(hs.deeply_nested, st.sampled_from([1, 50, 400, 5000, 100_000])),
    st.builds(
        lambda username, password, metadata: hs.json_text(
            {"Username": username, "Password": password, "ClientMetadata": metadata, "ClientId": ""}
        ),
        hs.usernames,
        hs.passwords,
        st.dictionaries(hs.any_text(max_size=5), hs.any_text(), max_size=2),
    ),
    command_value(hs.any_text()),
)
user_context = st.builds(
    lambda ip, data: hs.json_text({"IpAddress": ip, "EncodedData": data}),
    st.one_of(hs.scoped_ips, hs.ip_text),
    hs.any_text(),
)


def single(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda value: [value])


SIGNUP_BASE = {
    "--username": ["alice"],
    "--password": ["Str0ng!Passw0rd"],
    "--user-attributes": ["Name=email,Value=alice@example.com"],
}
SIGNUP_OPTIONS: dict[str, st.SearchStrategy[list[str]]] = {
    "--username": single(command_value(hs.usernames)),
    "--password": single(
        st.one_of(
            command_value(hs.passwords),
            # A good password typed in a terminal whose bytes are not UTF-8.
            st.binary(min_size=1, max_size=3).map(lambda b: "Str0ng!Passw0rd" + b.decode("utf-8", "surrogateescape")),
        )
    ),
    "--user-attributes": attribute_items(attribute_names),
    "--validation-data": attribute_items(validation_names, with_email=False),
    "--client-metadata": single(metadata_values),
    "--user-context-data": single(user_context),
    "--analytics-metadata": single(st.builds(lambda v: f"AnalyticsEndpointId={v}", command_value(hs.any_text()))),
    "--secret-hash": single(command_value(hs.any_text())),
    "--cli-input-json": single(json_documents),
}


def run_command(name: str, args: list[str]) -> None:
    """call_command: a refusal is a CommandError; any other exception escapes and fails the property."""
    with contextlib.suppress(CommandError):
        call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO())


def argv(slug: str, options: dict[str, list[str]]) -> list[str]:
    return [slug, *(part for option, values in options.items() for part in (option, *values))]


@PER_FIELD
@pytest.mark.parametrize("option", sorted(SIGNUP_OPTIONS))
@given(data=st.data(), slug=st.sampled_from(["acme-cli", "acme-context"]))
def test_signup_command_refuses_with_command_error_or_sends_only_what_cognito_accepts(fake, option, data, slug):
    """`manage.py signup` with one hostile option (the others valid): it either refuses with a
    CommandError or sends Cognito a valid request; it records only what the database can keep.
    acme-context's client propagates UserContextData.IpAddress, so that reaches the fake too."""
    fresh(fake)
    value = data.draw(SIGNUP_OPTIONS[option], label=option)
    run_command("signup", argv(slug, {**SIGNUP_BASE, option: value}))
    check(fake)


STEP_OPTIONS: dict[str, st.SearchStrategy[list[str]]] = {
    "--username": single(command_value(st.one_of(hs.usernames, hs.with_invisible("alice")))),
    "--confirmation-code": single(command_value(hs.near(st.from_regex(r"\A[0-9]{6}\Z")))),
    "--client-metadata": single(metadata_values),
    "--user-context-data": single(user_context),
    "--secret-hash": single(command_value(hs.any_text())),
}


@FEW
@pytest.mark.parametrize("command", ["confirm_signup", "resend_code"])
@given(data=st.data(), option=st.sampled_from(sorted(STEP_OPTIONS)))
def test_confirm_and_resend_commands_refuse_or_send_only_what_cognito_accepts(fake, command, data, option):
    fresh(fake)
    base = {"--username": ["alice"]}
    if command == "confirm_signup":
        base["--confirmation-code"] = ["123456"]
    elif option == "--confirmation-code":
        option = "--username"
    value = data.draw(STEP_OPTIONS[option], label=option)
    run_command(command, argv("acme-context", {**base, option: value}))
    check(fake)
