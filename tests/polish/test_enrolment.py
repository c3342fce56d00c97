"""Issue 13 point 19: the authenticator key grouped in fours, an otpauth:// link, printable
backup codes; the enrolment page shows no residents' "Sign in / Sign up"."""
from __future__ import annotations

import html as html_lib
import re
from urllib.parse import parse_qs, urlsplit

import pyotp

from tests.accounts.test_officer_login import PASSWORD, _code_at


def test_key_in_fours_with_otpauth_link_and_printable_codes(client, officer):
    client.post("/officer/login", data={"email": officer.email, "password": PASSWORD})
    page = client.get("/officer/login/enrol").get_data(as_text=True)
    shown = re.search(r'<code class="secret"[^>]*>([A-Z2-7 ]+)</code>', page).group(1)
    groups = shown.split(" ")
    assert all(len(g) == 4 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 4
    secret = "".join(groups)
    uri = html_lib.unescape(re.search(r'<a href="(otpauth://[^"]+)">', page).group(1))
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parse_qs(parts.query)["secret"] == [secret]
    assert pyotp.parse_uri(uri).secret == secret
    nav = page[page.index('<nav class="site-nav"'):page.index("</nav>")]
    assert 'href="/signup"' not in nav and 'href="/login"' not in nav
    done = client.post("/officer/login/enrol", data={"code": _code_at(secret)})
    codes_page = done.get_data(as_text=True)
    assert 'data-print hidden>Print the codes</button>' in codes_page
    assert '<p class="print-only">Wardline backup codes for' in codes_page
    assert len(re.findall(r"<li><code>[^<]+</code></li>", codes_page)) == 10
