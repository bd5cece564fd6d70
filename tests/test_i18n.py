"""Spanish and German: complete, compiled catalogues, and pages that speak the visitor's language."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from signup.models import FieldTranslation
from tests.factories import make_portal

TRANSLATED = ("es", "de")


def catalogue(language: str, suffix: str = "po") -> Path:
    return Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / f"django.{suffix}"


def _unquote(line: str) -> str:
    text = line.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])


def read_po(path: Path) -> list[dict]:
    """Entries of a .po file: flags, msgid (with msgid_plural) and every msgstr; obsolete #~ entries left out."""
    entries: list[dict] = []
    entry: dict = {"flags": set(), "msgstr": {}}
    key: tuple[str, int] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if entry["msgstr"]:
                entries.append(entry)
                entry = {"flags": set(), "msgstr": {}}
            if line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            key = None
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$', line)
        if match:
            word, index, value = match.group(1), int(match.group(2) or 0), _unquote(match.group(3))
            if word in ("msgid", "msgctxt") and entry["msgstr"]:
                entries.append(entry)
                entry = {"flags": set(), "msgstr": {}}
            if word == "msgstr":
                entry["msgstr"][index] = value
            else:
                entry[word] = value
            key = (word, index)
            continue
        assert key is not None and line.startswith('"'), f"{path}: cannot read {raw!r}"
        word, index = key
        if word == "msgstr":
            entry["msgstr"][index] += _unquote(line)
        else:
            entry[word] += _unquote(line)
    if "msgid" in entry:
        entries.append(entry)
    return entries


def placeholders(text: str) -> list[str]:
    python = re.findall(r"%\([a-z_]+\)[-#0 +]*\d*(?:\.\d+)?[sdif]", text)
    braces = re.findall(r"\{[a-z_]+\}", text)
    tags = re.findall(r"</?[a-z]+>", text)
    return sorted(python + braces + tags)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_no_fuzzy_entry_left(language):
    entries = [e for e in read_po(catalogue(language)) if e["msgid"]]
    assert len(entries) > 100
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []
    header = next(e for e in read_po(catalogue(language)) if e["msgid"] == "")
    assert "fuzzy" not in header["flags"]
    assert f"Language: {language}\n" in header["msgstr"][0]


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_messages_have_every_form_the_language_needs(language):
    entries = read_po(catalogue(language))
    header = next(e for e in entries if e["msgid"] == "")["msgstr"][0]
    nplurals = int(re.search(r"nplurals=(\d+)", header).group(1))
    for entry in entries:
        if "msgid_plural" in entry:
            assert sorted(entry["msgstr"]) == list(range(nplurals)), entry["msgid"]


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder_and_tag(language):
    for entry in read_po(catalogue(language)):
        if not entry["msgid"]:
            continue
        for index, text in entry["msgstr"].items():
            # A plural entry's first form answers msgid, the others msgid_plural (which may add the count).
            original = entry["msgid"] if str(index) == "0" or not entry.get("msgid_plural") else entry["msgid_plural"]
            assert placeholders(text) == placeholders(original), entry["msgid"]


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
@pytest.mark.parametrize("language", TRANSLATED)
def test_msgfmt_finds_the_catalogue_clean_and_complete(language):
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(catalogue(language))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # "169 translated messages." and nothing about fuzzy or untranslated ones.
    assert re.fullmatch(r"\d+ translated messages?\.\n", result.stderr), result.stderr


def compiled(language: str) -> dict:
    """The messages in a .mo file (GNU format: a table of originals and one of translations)."""
    data = catalogue(language, "mo").read_bytes()
    order = "<" if data[:4] == b"\xde\x12\x04\x95" else ">"
    count, originals, translations = struct.unpack(order + "3I", data[8:20])
    messages: dict = {}
    for index in range(count):
        length, offset = struct.unpack(order + "2I", data[originals + 8 * index : originals + 8 * index + 8])
        key = data[offset : offset + length].decode("utf-8")
        length, offset = struct.unpack(order + "2I", data[translations + 8 * index : translations + 8 * index + 8])
        value = data[offset : offset + length].decode("utf-8")
        if not key:
            continue  # the header
        if "\x00" in key:  # msgid NUL msgid_plural -> one translation per form, NUL-separated
            singular = key.split("\x00")[0]
            messages.update({(singular, i): text for i, text in enumerate(value.split("\x00"))})
        else:
            messages[key] = value
    return messages


def source(language: str) -> dict:
    messages: dict = {}
    for entry in read_po(catalogue(language)):
        if not entry["msgid"] or "fuzzy" in entry["flags"]:
            continue
        key = entry["msgid"] if "msgctxt" not in entry else f"{entry['msgctxt']}\x04{entry['msgid']}"
        if "msgid_plural" in entry:
            messages.update({(key, i): text for i, text in entry["msgstr"].items()})
        else:
            messages[key] = entry["msgstr"][0]
    return messages


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_is_not_older_than_its_source(language):
    po, mo = catalogue(language), catalogue(language, "mo")
    assert mo.exists(), f"run: manage.py compilemessages --ignore=.venv ({mo} is missing)"
    if mo.stat().st_mtime >= po.stat().st_mtime:
        return
    # A fresh checkout gives both files about the same time in no set order: then the .mo must say
    # exactly what the .po says, which is what "not stale" means.
    assert compiled(language) == source(language), f"{mo} is older than {po}: run compilemessages"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_says_what_its_source_says(language):
    assert compiled(language) == source(language), "run: manage.py compilemessages --ignore=.venv"


@pytest.mark.django_db
def test_the_form_follows_the_browsers_language(client):
    make_portal()
    page = client.get("/signup/acme/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="es">' in page
    assert "Crea tu cuenta de Acme" in page
    assert "Nombre de usuario" in page
    assert "Nombre" in page and "Apellidos" in page
    assert "Al menos 10 caracteres" in page
    assert ">Crear cuenta</button>" in page
    assert "Create account" not in page
    assert "First name" not in page


@pytest.mark.django_db
def test_the_lang_parameter_wins_over_the_browsers_language(client):
    make_portal()
    page = client.get("/signup/acme/?lang=de", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="de">' in page
    assert "Ihr Konto bei Acme erstellen" in page
    assert "Vorname" in page
    assert ">Konto erstellen</button>" in page
    assert "Crear cuenta" not in page


@pytest.mark.django_db
def test_an_unsupported_language_falls_back_to_english(client):
    make_portal()
    page = client.get("/signup/acme/?lang=xx", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="en">' in page
    assert ">Create account</button>" in page


@pytest.mark.django_db
def test_the_messages_for_the_browser_are_in_the_pages_language(client):
    make_portal()
    page = client.get("/signup/acme/?lang=es").content.decode()
    assert "Mostrar contraseña" in page
    assert "Usa al menos %(limit_value)s caracteres." in page


@pytest.mark.django_db
def test_form_errors_are_shown_in_german_with_lang_de(client):
    make_portal()
    response = client.post("/signup/acme/?lang=de", {"username": "", "password": "weakpassword"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="de">' in page
    assert "Bitte korrigieren Sie Folgendes" in page
    assert "Dieses Feld ist erforderlich." in page
    assert "Fügen Sie einen Großbuchstaben hinzu (A–Z)." in page
    assert "Fügen Sie eine Ziffer hinzu (0–9)." in page
    assert "This field is required." not in page
    assert "Add an uppercase letter" not in page


@pytest.mark.django_db
def test_a_portals_own_translation_of_a_label_shows_in_that_language_only(client):
    portal = make_portal()
    FieldTranslation.objects.create(portal=portal, attribute="given_name", language="es", label="Nombre de pila")
    spanish = client.get("/signup/acme/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    english = client.get("/signup/acme/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    german = client.get("/signup/acme/?lang=de").content.decode()
    assert "Nombre de pila" in spanish
    assert "Nombre de pila" not in english
    assert "First name" in english
    assert "Nombre de pila" not in german
    assert "Vorname" in german


@pytest.mark.django_db
def test_the_confirm_and_closed_pages_are_translated_too(client):
    make_portal()
    confirm = client.get("/signup/acme/confirm/?lang=es").content.decode()
    assert "Confirma tu cuenta" in confirm
    assert "Reenviar el código" in confirm
    make_portal("shut", is_open=False)
    closed = client.get("/signup/shut/?lang=de").content.decode()
    assert "Die Registrierung ist derzeit geschlossen." in closed


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("en", "Sent 1 code.", "Sent 2 codes."),
        ("de", "1 Code gesendet.", "2 Codes gesendet."),
        ("es", "Se envió 1 código.", "Se enviaron 2 códigos."),
    ],
)
def test_operator_counts_read_naturally_in_the_singular_and_the_plural(language, one, two):
    from django.utils import translation
    from django.utils.translation import ngettext

    with translation.override(language):
        assert [ngettext("Sent %(n)d code.", "Sent %(n)d codes.", n) % {"n": n} for n in (1, 2)] == [one, two]
