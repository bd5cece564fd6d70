"""Who may sign up (signup/admission.py): e-mail domain lists, disposable addresses, phone calling regions."""

import disposable_email_domains
import pytest

from signup.admission import (
    DISPOSABLE_EMAIL,
    EMAIL_DOMAIN,
    PHONE_REGION,
    domain_entry,
    email_refusal,
    phone_refusal,
    region_entry,
)

BUECHER = "xn--bcher-kva.example"  # "bücher.example" in ASCII


def refusal(address: str, allow: tuple[str, ...] = (), deny: tuple[str, ...] = (), disposable: bool = False):
    """email_refusal with the lists stored as the admin stores them (through domain_entry)."""
    return email_refusal(
        address,
        allow=[domain_entry(e) for e in allow],
        deny=[domain_entry(e) for e in deny],
        block_disposable=disposable,
    )


def test_the_reasons_are_the_codes_the_issue_names():
    assert (EMAIL_DOMAIN, DISPOSABLE_EMAIL, PHONE_REGION) == ("email_domain", "disposable_email", "phone_region")


def test_the_disposable_domains_used_here_are_in_the_kept_list():
    assert "mailinator.com" in disposable_email_domains.blocklist
    assert "example.com" not in disposable_email_domains.blocklist


@pytest.mark.parametrize(
    ("address", "allow", "deny", "expected"),
    [
        pytest.param("alice@example.com", (), (), None, id="empty-lists-allow-all"),
        pytest.param("alice@example.com", ("example.com",), (), None, id="allowed"),
        pytest.param("alice@example.org", ("example.com",), (), EMAIL_DOMAIN, id="not-on-allow-list"),
        pytest.param("alice@example.com", (), ("example.com",), EMAIL_DOMAIN, id="denied"),
        pytest.param("alice@example.org", (), ("example.com",), None, id="not-on-deny-list"),
        pytest.param("alice@example.com", ("example.com",), ("example.com",), EMAIL_DOMAIN, id="deny-beats-allow"),
        pytest.param("a@m.example.com", ("example.com",), ("m.example.com",), EMAIL_DOMAIN, id="deny-sub-of-allowed"),
        pytest.param("a@example.com", ("example.com", "example.org"), (), None, id="second-allow-entry"),
        # case
        pytest.param("USER@Example.COM", ("example.com",), (), None, id="case-address-allowed"),
        pytest.param("USER@Example.COM", (), ("example.com",), EMAIL_DOMAIN, id="case-address-denied"),
        pytest.param("user@example.com", ("EXAMPLE.Com",), (), None, id="case-entry-allowed"),
        pytest.param("user@example.com", (), ("EXAMPLE.Com",), EMAIL_DOMAIN, id="case-entry-denied"),
        # subdomains
        pytest.param("a@mail.example.com", ("example.com",), (), None, id="subdomain-allowed"),
        pytest.param("a@x.y.example.com", ("example.com",), (), None, id="deep-subdomain-allowed"),
        pytest.param("a@mail.example.com", (), ("example.com",), EMAIL_DOMAIN, id="subdomain-denied"),
        pytest.param("a@badexample.com", ("example.com",), (), EMAIL_DOMAIN, id="look-alike-not-allowed"),
        pytest.param("a@badexample.com", (), ("example.com",), None, id="look-alike-not-denied"),
        pytest.param("a@example.com.evil.net", ("example.com",), (), EMAIL_DOMAIN, id="entry-as-prefix-not-allowed"),
        pytest.param("a@example.com", ("mail.example.com",), (), EMAIL_DOMAIN, id="parent-of-entry-not-allowed"),
        pytest.param("a@example.com", (), ("mail.example.com",), None, id="parent-of-entry-not-denied"),
        # internationalised domains
        pytest.param("a@bücher.example", ("bücher.example",), (), None, id="idn-unicode-entry-allowed"),
        pytest.param("a@bücher.example", (BUECHER,), (), None, id="idn-punycode-entry-allowed"),
        pytest.param(f"a@{BUECHER}", ("bücher.example",), (), None, id="idn-punycode-address-allowed"),
        pytest.param("a@BÜCHER.Example", ("Bücher.example",), (), None, id="idn-case"),
        pytest.param("a@bücher.example", (), ("bücher.example",), EMAIL_DOMAIN, id="idn-unicode-entry-denied"),
        pytest.param("a@bücher.example", (), (BUECHER,), EMAIL_DOMAIN, id="idn-punycode-entry-denied"),
        pytest.param(f"a@{BUECHER}", (), ("bücher.example",), EMAIL_DOMAIN, id="idn-punycode-address-denied"),
        pytest.param("a@post.bücher.example", (), (BUECHER,), EMAIL_DOMAIN, id="idn-subdomain-denied"),
        pytest.param("a@bucher.example", (), ("bücher.example",), None, id="idn-not-its-ascii-look-alike"),
        # the local part never matters
        pytest.param("alice+news@example.com", ("example.com",), (), None, id="plus-addressing-allowed"),
        pytest.param("alice+news@example.com", (), ("example.com",), EMAIL_DOMAIN, id="plus-addressing-denied"),
        pytest.param("a.l.i.c.e@example.com", (), ("example.com",), EMAIL_DOMAIN, id="dots-in-local-part-denied"),
        pytest.param("alice+x@example.com@example.org", ("example.org",), (), None, id="after-the-last-at"),
        pytest.param("example.com@example.org", (), ("example.com",), None, id="local-part-naming-a-domain"),
        # trailing dot
        pytest.param("alice@example.com.", ("example.com",), (), None, id="trailing-dot-allowed"),
        pytest.param("alice@example.com.", (), ("example.com",), EMAIL_DOMAIN, id="trailing-dot-denied"),
        pytest.param("alice@example.com", (), ("example.com.",), EMAIL_DOMAIN, id="trailing-dot-in-entry"),
    ],
)
def test_domain_lists(address, allow, deny, expected):
    assert refusal(address, allow, deny) == expected


@pytest.mark.parametrize(
    ("address", "allow", "deny", "expected"),
    [
        pytest.param("a@bücher.example", ["Bücher.Example"], [], None, id="unicode-allow"),
        pytest.param("a@bücher.example", [], ["Bücher.Example"], EMAIL_DOMAIN, id="unicode-deny"),
        pytest.param("a@mail.example.com", [], ["*.example.com"], EMAIL_DOMAIN, id="wildcard-deny"),
        pytest.param("a@example.com", [], ["@example.com"], EMAIL_DOMAIN, id="at-sign-deny"),
        pytest.param("a@example.com", [], ["not a domain"], None, id="bad-deny-entry-covers-nothing"),
        pytest.param("a@example.com", ["not a domain"], [], EMAIL_DOMAIN, id="bad-allow-entry-covers-nothing"),
    ],
)
def test_entries_not_normalised_by_the_caller_count_as_domain_entry_reads_them(address, allow, deny, expected):
    assert email_refusal(address, allow=allow, deny=deny, block_disposable=False) == expected


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("no-at-sign", id="no-at"),
        pytest.param("alice@", id="empty-domain"),
        pytest.param("alice@a..b", id="empty-label"),
        pytest.param(f"alice@{'x' * 64}.com", id="label-too-long"),
    ],
)
def test_an_address_with_no_encodable_domain_is_left_to_the_form(address):
    assert email_refusal(address, allow=["example.com"], deny=[], block_disposable=True) is None


@pytest.mark.parametrize(
    ("address", "allow", "block", "expected"),
    [
        pytest.param("a@mailinator.com", (), True, DISPOSABLE_EMAIL, id="on-listed"),
        pytest.param("a@MAILINATOR.com.", (), True, DISPOSABLE_EMAIL, id="on-listed-case-trailing-dot"),
        pytest.param("a+x@mailinator.com", (), True, DISPOSABLE_EMAIL, id="on-plus-addressing"),
        pytest.param("a@inbox.mailinator.com", (), True, DISPOSABLE_EMAIL, id="on-subdomain"),
        pytest.param("a@mailinator.com", (), False, None, id="off-listed"),
        pytest.param("a@inbox.mailinator.com", (), False, None, id="off-subdomain"),
        pytest.param("a@example.com", (), True, None, id="on-not-listed"),
        pytest.param("a@mailinator.com.example", (), True, None, id="on-listed-as-prefix-only"),
        pytest.param("a@mailinator.com", ("mailinator.com",), True, DISPOSABLE_EMAIL, id="allow-does-not-exempt"),
        pytest.param("a@mailinator.com", ("example.com",), True, EMAIL_DOMAIN, id="domain-rule-first"),
    ],
)
def test_disposable_addresses(address, allow, block, expected):
    assert refusal(address, allow, disposable=block) == expected


@pytest.mark.parametrize(
    ("number", "regions", "expected"),
    [
        pytest.param("+12015550123", ["US"], None, id="us-allowed"),
        pytest.param("+493012345678", ["DE"], None, id="de-allowed"),
        pytest.param("+493012345678", ["US", "DE"], None, id="de-second-region"),
        pytest.param("+493012345678", ["US"], PHONE_REGION, id="de-not-allowed"),
        pytest.param("+14165550123", ["US"], PHONE_REGION, id="ca-shares-plus-1-not-allowed"),
        pytest.param("+14165550123", ["CA"], None, id="ca-allowed"),
        pytest.param("+12015550123", ["CA"], PHONE_REGION, id="us-not-allowed-in-ca"),
        pytest.param("+80012345678", ["US"], PHONE_REGION, id="plus-800-refused"),
        pytest.param("+882123456789", ["US", "DE"], PHONE_REGION, id="plus-882-refused"),
        pytest.param("+80012345678", ["001"], PHONE_REGION, id="non-geographic-never-a-region"),
        pytest.param("+12015550123", [], None, id="empty-regions-allow-all"),
        pytest.param("+80012345678", [], None, id="empty-regions-allow-non-geographic"),
        pytest.param("not a number", [], None, id="empty-regions-allow-unparseable"),
        pytest.param("not a number", ["US"], PHONE_REGION, id="unparseable-refused"),
        pytest.param("2015550123", ["US"], PHONE_REGION, id="no-plus-refused"),
        pytest.param("+1999", ["US"], PHONE_REGION, id="unplaceable-plus-1-refused"),
        pytest.param("+12015550123", ["us"], None, id="lowercase-region"),
    ],
)
def test_phone_regions(number, regions, expected):
    assert phone_refusal(number, regions=regions) == expected


@pytest.mark.parametrize(
    ("normalise", "text", "expected"),
    [
        pytest.param(domain_entry, "example.com", "example.com", id="domain-plain"),
        pytest.param(domain_entry, "  Example.COM ", "example.com", id="domain-case-and-space"),
        pytest.param(domain_entry, "@example.com", "example.com", id="domain-at-sign"),
        pytest.param(domain_entry, "*.example.com", "example.com", id="domain-wildcard"),
        pytest.param(domain_entry, ".example.com", "example.com", id="domain-leading-dot"),
        pytest.param(domain_entry, "example.com.", "example.com", id="domain-trailing-dot"),
        pytest.param(domain_entry, "Bücher.Example", BUECHER, id="domain-idn-to-punycode"),
        pytest.param(domain_entry, "XN--BCHER-KVA.example", BUECHER, id="domain-punycode-case"),
        pytest.param(domain_entry, "mail.example.co.uk", "mail.example.co.uk", id="domain-subdomain"),
        pytest.param(domain_entry, "my-host1.example", "my-host1.example", id="domain-hyphen-and-digit"),
        pytest.param(region_entry, "DE", "DE", id="region-upper"),
        pytest.param(region_entry, "de", "DE", id="region-lower"),
        pytest.param(region_entry, " us ", "US", id="region-space"),
        pytest.param(region_entry, "Gb", "GB", id="region-mixed-case"),
    ],
)
def test_entries_are_normalised_for_storage(normalise, text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("normalise", "text", "reason"),
    [
        pytest.param(domain_entry, "", "at least one dot", id="domain-empty"),
        pytest.param(domain_entry, "localhost", "at least one dot", id="domain-no-dot"),
        pytest.param(domain_entry, "bücher", "at least one dot", id="domain-idn-no-dot"),
        pytest.param(domain_entry, "a..example", "not a valid domain", id="domain-empty-label"),
        pytest.param(domain_entry, "exa mple.com", "not a valid domain", id="domain-space"),
        pytest.param(domain_entry, "under_score.com", "not a valid domain", id="domain-underscore"),
        pytest.param(domain_entry, "-example.com", "not a valid domain", id="domain-leading-hyphen"),
        pytest.param(domain_entry, "example-.com", "not a valid domain", id="domain-trailing-hyphen"),
        pytest.param(domain_entry, f"{'x' * 64}.com", "not a valid domain", id="domain-label-too-long"),
        pytest.param(domain_entry, ".".join(["x" * 63] * 4), "not a valid domain", id="domain-name-too-long"),
        pytest.param(domain_entry, "alice@example.com", "not a valid domain", id="domain-an-address"),
        pytest.param(domain_entry, "https://example.com", "not a valid domain", id="domain-a-url"),
        pytest.param(domain_entry, "192.0.2.1", "IP address", id="domain-ip-address"),
        pytest.param(region_entry, "", "calling code", id="region-empty"),
        pytest.param(region_entry, "ZZ", "calling code", id="region-unknown"),
        pytest.param(region_entry, "UK", "calling code", id="region-not-iso"),
        pytest.param(region_entry, "DEU", "calling code", id="region-alpha-3"),
        pytest.param(region_entry, "001", "calling code", id="region-non-geographic"),
        pytest.param(region_entry, "AQ", "calling code", id="region-no-calling-code"),
    ],
)
def test_entries_that_are_not_domains_or_regions_are_refused(normalise, text, reason):
    with pytest.raises(ValueError, match=reason):
        normalise(text)
