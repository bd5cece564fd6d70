"""Who may sign up to a portal: its e-mail domain lists, disposable addresses and phone calling regions.

Pure functions over the values a sign-up gives, so every channel applies the same rules. A refusal is one
of the reason codes below; None means the value may sign up. Domains are compared in their ASCII (IDNA)
form and an entry covers its subdomains. The region rule is the defence against SMS pumping: Cognito
texts a code to whatever number a sign-up names, and premium-rate ranges abroad earn someone money.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Container, Iterable, Sequence

# Kept upstream, updated by a version bump. Its set of some 10,000 domains imports in about 3 ms (26 ms
# with no bytecode yet), so it is loaded with this module rather than lazily.
import disposable_email_domains
import phonenumbers

EMAIL_DOMAIN = "email_domain"
DISPOSABLE_EMAIL = "disposable_email"
PHONE_REGION = "phone_region"

NON_GEOGRAPHIC = "001"  # what phonenumbers gives +800, +882 and other numbers of no country
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _ascii(domain: str) -> str:
    """`domain` lowercased, a trailing dot dropped, in IDNA's ASCII form; UnicodeError if it has none.

    Python's own "idna" codec (IDNA 2003): the `idna` package (IDNA 2008) is not a runtime requirement.
    The two differ on a few characters ("ß" becomes "ss" here); entries and addresses both come through here.
    """
    return domain.strip().lower().removesuffix(".").encode("idna").decode("ascii")


def domain_entry(text: str) -> str:
    """Normalise one operator-typed domain entry for storage: "@Bücher.Example" -> "xn--bcher-kva.example".

    A leading "@", "*." or "." is dropped (an entry covers its subdomains anyway). ValueError, with a
    short reason, when what is left is not a host name with at least one dot."""
    domain = text.strip()
    for prefix in ("@", "*.", "."):
        domain = domain.removeprefix(prefix)
    try:
        domain = _ascii(domain)
    except UnicodeError:
        raise ValueError("not a valid domain name") from None
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueError("a domain needs at least one dot")
    if len(domain) > 253 or not all(LABEL.fullmatch(label) for label in labels):
        raise ValueError("not a valid domain name")
    if labels[-1].isdigit():
        raise ValueError("an IP address is not a domain name")
    return domain


def region_entry(text: str) -> str:
    """Normalise an ISO 3166-1 alpha-2 region code ("de" -> "DE"); ValueError for one with no calling code."""
    region = text.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("not a region with a telephone calling code")
    return region


def _entries(texts: Iterable[str]) -> set[str]:
    """Entries as domain_entry stores them. One that is not a domain covers nothing, so it is left out."""
    entries = set()
    for text in texts:
        with contextlib.suppress(ValueError):
            entries.add(domain_entry(text))
    return entries


def _covered(domain: str, entries: Container[str]) -> bool:
    """Whether an entry is `domain` or one of the domains it is a subdomain of (never a look-alike)."""
    labels = domain.split(".")
    return any(".".join(labels[start:]) in entries for start in range(len(labels)))


def email_refusal(address: str, *, allow: Sequence[str], deny: Sequence[str], block_disposable: bool) -> str | None:
    """The reason `address` is refused, or None. Only the domain counts, never the local part.

    Deny wins over allow; a non-empty allow list refuses every domain it does not cover; an allowed
    domain that is disposable is still refused when the portal blocks those. An address with no domain
    that IDNA can encode is let through: checking an address's form is the form's job, done first."""
    _, at, domain = address.rpartition("@")
    try:
        domain = _ascii(domain)
    except UnicodeError:
        return None
    if not (at and domain):
        return None
    if _covered(domain, _entries(deny)):
        return EMAIL_DOMAIN
    if allow and not _covered(domain, _entries(allow)):
        return EMAIL_DOMAIN
    if block_disposable and _covered(domain, disposable_email_domains.blocklist):
        return DISPOSABLE_EMAIL
    return None


def phone_refusal(number: str, *, regions: Sequence[str]) -> str | None:
    """PHONE_REGION when the portal names its calling regions and `number` (E.164) is from none of them.

    A number of no country (+800, +882) or one phonenumbers cannot place is refused then too."""
    if not regions:
        return None
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return PHONE_REGION
    allowed = {code.strip().upper() for code in regions}
    if region == NON_GEOGRAPHIC or region not in allowed:
        return PHONE_REGION
    return None
