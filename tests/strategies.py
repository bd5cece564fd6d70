"""Hypothesis strategies for hostile input: what a browser, a proxy or an operator could send us.

Values are `str` (which may hold lone surrogates and NUL: Python allows both) or `bytes` (raw, possibly
invalid UTF-8). `form_body` percent-encodes either, so everything reaches Django byte for byte.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import date
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

from signup.fields import FIELD_TYPES, field_type
from signup.schema import FieldSpec, ValidationDataSpec, form_spec
from tests.factories import snapshot

# Characters that break naive code: controls, NUL, separators, invisible format characters,
# lone surrogates, private use, non-characters, look-alike digits, and URL/shorthand/HTML syntax.
HOSTILE_CHARACTERS = (
    "\x00",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1c",
    "\x1f",
    "\x7f",
    "\x80",
    "\x85",
    "\x9f",
    "\t",
    "\n",
    "\r",
    " ",
    "\xa0",
    "\u1680",
    "\u2003",
    "\u3000",
    "\u2028",
    "\u2029",
    "\u00ad",
    "\u200b",
    "\u200d",
    "\u200e",
    "\u202e",
    "\u2060",
    "\ufeff",
    "\ud800",
    "\udbff",
    "\udc80",
    "\udfff",
    "\ue000",
    "\U000f0000",
    "\u0378",
    "\ufffe",
    "\uffff",
    "\U0010ffff",
    "\ufffd",
    "\U0001f600",
    "\u0301",
    "ß",
    "İ",
    "ﬀ",
    "Ⅻ",
    "０",
    "١",
    "𝟘",
    "%",
    "&",
    "=",
    "+",
    "@",
    '"',
    "'",
    "\\",
    ",",
    ";",
    ":",
    "<",
    ">",
    "#",
    "?",
    "/",
    "[",
    "]",
    "{",
    "}",
    "*",
    "~",
    "`",
    "-",
    ".",
)

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
HOSTILE_CHARACTER = st.sampled_from(HOSTILE_CHARACTERS)
ANY_CHARACTER = st.one_of(st.characters(), HOSTILE_CHARACTER, SURROGATES, st.characters(max_codepoint=0x7F))
# Controls, spaces and format characters (zero-width space, soft hyphen, BOM, bidi marks): text that
# looks empty or normal on screen.
INVISIBLE_CHARACTER = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])
# What a WSGI server can hand us in a header: latin-1 text, never CR, LF or NUL.
HEADER_CHARACTER = st.characters(min_codepoint=1, max_codepoint=0xFF, exclude_characters="\r\n")


def any_text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(ANY_CHARACTER, min_size=min_size, max_size=max_size)


def repeated(chunks: st.SearchStrategy[str], max_count: int) -> st.SearchStrategy[str]:
    """Long values cheaply: a short chunk repeated up to max_count times (often right at the limits)."""
    counts = st.one_of(st.integers(0, max_count), st.sampled_from([max_count // 4, max_count // 2, max_count]))
    return st.builds(lambda chunk, count: chunk * count, chunks, counts)


HUGE_TEXT = repeated(any_text(min_size=1, max_size=4), 3000)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A near miss: a plausible value with a few hostile characters slipped in, or padded."""
    value = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        char = draw(st.one_of(HOSTILE_CHARACTER, INVISIBLE_CHARACTER, ANY_CHARACTER))
        position = draw(st.integers(0, len(value)))
        value = value[:position] + char + value[position:]
    return value


def with_invisible(text: str) -> st.SearchStrategy[str]:
    """`text` with an invisible character pasted in (zero-width space, soft hyphen, BOM, a control...)."""
    return st.builds(
        lambda char, position: text[:position] + char + text[position:],
        st.one_of(st.characters(categories=["Cf"]), INVISIBLE_CHARACTER),
        st.integers(0, len(text)),
    )


def near(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly plausible values (so many reach Cognito), some near misses, some garbage."""
    return st.one_of(base, base, mutated(base), any_text())


def any_value() -> st.SearchStrategy[str | bytes]:
    return st.one_of(any_text(), st.binary(max_size=24), HUGE_TEXT)


# --- Field values ----------------------------------------------------------------------------

PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "

usernames = near(
    st.one_of(
        st.text(st.characters(categories=["L", "M", "S", "N", "P"]), min_size=1, max_size=130),
        st.text(st.sampled_from(string.ascii_letters + string.digits + "._-@+"), min_size=1, max_size=20),
    )
)


@st.composite
def _password(draw: st.DrawFn) -> str:
    filler = draw(st.text(st.one_of(st.sampled_from(PRINTABLE), ANY_CHARACTER), min_size=0, max_size=30))
    pieces = draw(st.permutations(["A", "a", "1", draw(st.sampled_from("!@#$%^&*()-_=+[]{}|;:',.<>/?`~\"\\ "))]))
    padding = draw(st.sampled_from(["", "x" * 6, "Zz9!" * 64]))
    value = "".join(pieces) + filler + padding
    return value[: draw(st.integers(8, 260))]


passwords = near(_password())

_local_part = st.one_of(
    st.text(st.sampled_from(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-."), min_size=1, max_size=20),
    # Quoted local parts, which RFC 5322 (and Django) allow and which may hold spaces, @ and controls.
    st.lists(
        st.sampled_from(["a", "b", "\\ ", '\\"', "\\\\", "@", ".", ",", "(", ")", ":", ";", "<", ">", "\x01", "\x7f"]),
        max_size=6,
    ).map(lambda parts: '"' + "".join(parts) + '"'),
)
_domain = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "mail.example.co.uk",
            "bücher.example",
            "xn--bcher-kva.example",
            "localhost",
            "[127.0.0.1]",
            "[IPv6:::1]",
            "a.b",
            "example",
            "ex_ample.com",
            "a" * 63 + ".example",
        ]
    ),
    st.text(st.sampled_from(string.ascii_lowercase + ".-"), min_size=1, max_size=20).map(lambda d: d + ".com"),
)
emails = near(st.builds(lambda local, domain: f"{local}@{domain}", _local_part, _domain))

_real_numbers = ["+14155552671", "+442071838750", "+4930123456", "+34912345678", "+819012345678", "+61291234567"]


@st.composite
def _phone(draw: st.DrawFn) -> str:
    number = draw(st.one_of(st.sampled_from(_real_numbers), st.from_regex(r"\A\+[0-9]{1,18}\Z")))
    style = draw(st.sampled_from(["plain", "spaced", "dashed", "fullwidth", "arabic", "brackets", "ext", "tel"]))
    if style == "spaced":
        number = number[:3] + " " + number[3:6] + " " + number[6:]
    elif style == "dashed":
        number = number[:3] + "-" + number[3:]
    elif style == "fullwidth":
        number = number.translate(str.maketrans("+0123456789", "＋０１２３４５６７８９"))
    elif style == "arabic":
        number = number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    elif style == "brackets":
        number = number[:2] + "(" + number[2:5] + ")" + number[5:]
    elif style == "ext":
        number += " ext. 12"
    elif style == "tel":
        number = "tel:" + number
    return number


phones = near(_phone())


@st.composite
def _date_text(draw: st.DrawFn) -> str:
    day = draw(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
    fmt = draw(
        st.sampled_from(["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d", "%d %B %Y", "%Y-%m-%dT00:00"])
    )
    text = day.strftime(fmt)
    if draw(st.booleans()):
        text = text.translate(
            str.maketrans("0123456789", draw(st.sampled_from(["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩"])))
        )
    return text


dates_text = near(_date_text())

_path_chunk = st.one_of(
    st.sampled_from(["a", "é", "€", "😀", "%20", "%ZZ", "\x01", "\x7f", "/", "?q=1", "#f", "\u200b", "\ud800"]),
    any_text(min_size=1, max_size=3),
)
# Long addresses in non-Latin scripts: under 2,048 characters, over 2,048 UTF-8 bytes.
_long_urls = st.builds(
    lambda chunk, count: "https://example.com/" + chunk * count,
    st.sampled_from(["é", "€", "😀", "ü", "中"]),
    st.integers(500, 2020),
)
urls = near(
    st.builds(
        lambda scheme, host, path: f"{scheme}{host}/{path}",
        st.sampled_from(["https://", "http://", "", "ftp://", "javascript:", "//", "HTTPS://"]),
        st.sampled_from(["example.com", "bücher.example", "127.0.0.1", "[::1]", "localhost", "a" * 63 + ".com"]),
        repeated(_path_chunk, 1100),
    )
    | _long_urls
)

locales = near(
    st.one_of(
        st.sampled_from(["en", "en-US", "de-DE", "zh-Hant-TW", "sr-Latn-RS", "en_US", "EN-us", "x", "en-", "e1"]),
        st.from_regex(r"\A[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,4}\Z"),
    )
)
zones = near(
    st.sampled_from(
        [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "localtime",
            "posixrules",
            "Etc/GMT+5",
            "europe/paris",
        ]
    )
)


def bounded_text(limit: int) -> st.SearchStrategy[str]:
    """Text around a field's length limit, in characters and (with é and 😀) in UTF-8 bytes."""
    return near(st.one_of(st.text(st.characters(), max_size=limit), repeated(st.sampled_from(["é", "a", "😀"]), limit)))


companies = bounded_text(70)


@st.composite
def _number_text(draw: st.DrawFn) -> str:
    number = draw(st.one_of(st.integers(-10, 200_000), st.integers()))
    text = str(number)
    style = draw(st.sampled_from(["plain", "plus", "zeros", "decimal", "exponent", "spaces", "arabic", "grouped"]))
    if style == "plus":
        text = "+" + text
    elif style == "zeros":
        text = "000" + text
    elif style == "decimal":
        text += ".0"
    elif style == "exponent":
        text += "e0"
    elif style == "spaces":
        text = f" {text} "
    elif style == "arabic":
        text = text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    elif style == "grouped":
        text = f"{number:,}"
    return text


numbers = near(st.one_of(_number_text(), st.sampled_from(["NaN", "Infinity", "-0", "0x10", "1_000", "9" * 40])))
booleans = near(st.sampled_from(["on", "true", "false", "True", "0", "1", "", "off", "yes"]))
free_text = near(st.one_of(st.text(st.characters(), max_size=40), repeated(st.sampled_from(["é", "a", "😀"]), 1100)))


def _text_values(spec: FieldSpec) -> st.SearchStrategy[str]:
    return bounded_text(spec.max_length + 6) if spec.max_length and spec.max_length < 1000 else free_text


# Values for each type in the field registry (signup/fields.py), given the field's spec. A type added
# there without values here stops every property test at import.
VALUES_BY_TYPE: dict[str, Callable[[FieldSpec], st.SearchStrategy[str]]] = {
    "string": _text_values,
    "number": lambda spec: numbers,
    "email": lambda spec: emails,
    "boolean": lambda spec: booleans,
    "date": lambda spec: dates_text,
    "phone": lambda spec: phones,
    "url": lambda spec: urls,
    "locale": lambda spec: locales,
    "zoneinfo": lambda spec: zones,
    "email_or_phone": lambda spec: st.one_of(emails, phones),
    "choice": lambda spec: near(st.sampled_from(spec.choices or ("",))),
    "password": lambda spec: passwords,
}
if set(VALUES_BY_TYPE) != set(FIELD_TYPES):
    raise AssertionError(f"tests/strategies.py: values for {set(FIELD_TYPES) ^ set(VALUES_BY_TYPE)}")


def values_for(spec: FieldSpec) -> st.SearchStrategy[str]:
    """Plausible, near and hostile values for one field: by its registry type; a free username by Cognito's rules."""
    entry = field_type(spec)
    return usernames if spec.kind == "username" and entry.name == "string" else VALUES_BY_TYPE[entry.name](spec)


# The acme portal's declared validation data (name, type), as the property tests set it up.
ACME_VALIDATION_DATA = (("invite", "string"), ("age", "number"), ("referrer", "email"), ("vip", "boolean"))
ACME_SPEC = form_spec(
    snapshot(), validation_fields=tuple(ValidationDataSpec(n, n.title(), type=t) for n, t in ACME_VALIDATION_DATA)
)
# Input name -> values, for every field of the acme portal (tests/factories.py) and its consent box.
FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {f.name: values_for(f) for f in ACME_SPEC.fields} | {
    "consent": booleans
}
# Names no form has, or that look like Cognito's but must never be written from outside.
UNKNOWN_FIELDS = st.one_of(
    st.sampled_from(
        [
            "email_verified",
            "phone_number_verified",
            "sub",
            "custom:company",
            "custom_unknown",
            "dev_custom_internal",
            "identities",
            "updated_at",
            "csrfmiddlewaretoken",
            "embed_token",
            "resend",
            "user_context_data",
            "",
            "username[]",
        ]
    ),
    any_text(max_size=12),
)


# --- Requests --------------------------------------------------------------------------------


def as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def form_body(pairs: list[tuple[str | bytes, str | bytes]]) -> bytes:
    """application/x-www-form-urlencoded, every byte percent-encoded as given (surrogates, NUL, \\xff)."""
    return "&".join(
        f"{quote_from_bytes(as_bytes(k), safe='')}={quote_from_bytes(as_bytes(v), safe='')}" for k, v in pairs
    ).encode("ascii")


CHARSETS = ["utf-8", "UTF-8", "latin-1", "utf-16", "ascii", "bogus", "", "rot13", "base64", "hex", "punycode", "idna"]
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=xyz",
            'multipart/form-data; boundary="unterminated',
            "multipart/form-data; boundary=" + "b" * 5000,
            "application/octet-stream",
            "",
            ";",
            "*/*",
            "application/x-www-form-urlencoded; charset=utf-8; charset=latin-1",
        ]
    ),
    st.builds(
        lambda base, charset: f"{base}; charset={charset}",
        st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]),
        st.sampled_from(CHARSETS),
    ),
    st.text(HEADER_CHARACTER, max_size=40),
)


def raw_query(pairs: list[tuple[str | bytes, str | bytes]]) -> str:
    return form_body(pairs).decode("ascii")


# IPv6 addresses with a zone index (fe80::1%eth0): Python's ipaddress accepts them, PostgreSQL's inet does not.
scoped_ips = st.one_of(
    st.ip_addresses(v=6).map(lambda ip: f"{ip}%eth0"),
    st.builds(
        lambda ip, scope: f"{ip}%{scope}", st.ip_addresses(v=6), st.text(HEADER_CHARACTER, min_size=1, max_size=12)
    ),
)
ip_text = st.one_of(
    st.ip_addresses().map(str),
    scoped_ips,
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]:443"),
    st.ip_addresses(v=4).map(lambda ip: f"{ip}:8080"),
    st.sampled_from(["unknown", "_hidden", "", " ", "::ffff:1.2.3.4", "0", "1", "127.1", "0x7f.1", "999.1.1.1"]),
    st.text(HEADER_CHARACTER, max_size=20),
)
forwarded_for = st.builds(
    lambda hops, separator: separator.join(hops),
    st.lists(ip_text, max_size=5),
    st.sampled_from([",", ", ", " ,", ",,", " , "]),
)


def json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth
