"""Development copies of outgoing email and sign-in links in logs: only without a mail
server (development), private files, and never a token in a production log."""
import logging
import re
import stat
import time
import urllib.error
import urllib.request

from tests.support.servers import gunicorn
from webapp.accounts.models import User
from webapp.extensions import db
LINK = re.compile(r"http://wardline\.test/signin/(\S+)")


def test_development_copy_is_private_has_the_link_whole_and_logs_it(app, client, caplog,
                                                                     tmp_path, monkeypatch):
    """No SMTP_HOST (development): the email is written (folder 0700, file 0600) and its
    link is logged, so a newcomer can sign in without a mail server."""
    monkeypatch.setitem(app.config, "SMTP_HOST", None)
    monkeypatch.setitem(app.config, "MAIL_WRITE_FILES", True)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    (tmp_path / "mail").mkdir(mode=0o755)  # made world-readable by an older version
    caplog.set_level("INFO", logger="wardline.mail")
    client.post("/signup", data={"email": "copy.check@example.org", "display_name": "Ada"})
    [copy] = list((tmp_path / "mail").glob("*.eml"))
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "mail").stat().st_mode) == 0o700
    link = LINK.search(copy.read_text()).group(0)
    assert not link.endswith("=")  # not cut by quoted-printable soft line breaks
    assert link in caplog.text  # logged for the newcomer
    page = client.get(link.replace("http://wardline.test", ""))
    assert page.status_code == 200 and "Continue" in page.get_data(as_text=True)
    assert db.session.query(User).filter_by(email="copy.check@example.org").count() == 1


def test_with_a_mail_server_no_copy_is_written_and_no_token_logged(app, client, mail, caplog,
                                                                   tmp_path, monkeypatch):
    """SMTP_HOST set (production): even with MAIL_WRITE_FILES left on, nothing is copied
    and no log line at any level, from any logger, carries the token."""
    monkeypatch.setitem(app.config, "MAIL_WRITE_FILES", True)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    caplog.set_level(logging.DEBUG)
    client.post("/signup", data={"email": "prod.check@example.org", "display_name": "Ada"})
    received = mail.wait_for(1)[0].get_body(preferencelist=("plain",)).get_content()
    token = LINK.search(received).group(1)
    client.get(f"/signin/{token}")
    client.post(f"/signin/{token}")
    assert not (tmp_path / "mail").exists()
    # The app's records (aiosmtpd's "mail.log" is the test's own mail server, which logs
    # every line it receives at DEBUG).
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert caplog.records  # logging was captured (at DEBUG), so the check is not vacuous
    assert all(token not in r.getMessage() for r in ours)


def test_the_apps_exception_lines_never_carry_a_token(app, caplog):
    """Flask logs "Exception on <path>" for a 500: the path's token is redacted."""
    caplog.set_level(logging.ERROR)
    app.logger.error("Exception on /signin/abc.DEF-123_x [POST]")
    app.logger.error("Exception on %s [%s]", "/unsubscribe/tok.en.value", "GET")
    assert "abc.DEF-123_x" not in caplog.text and "tok.en.value" not in caplog.text
    assert "/signin/[redacted]" in caplog.text and "/unsubscribe/[redacted]" in caplog.text


def test_gunicorns_access_log_has_no_tokens(app, tmp_path):
    """The real server, started as the README says (``gunicorn wsgi:app`` in the project
    folder, so ``gunicorn.conf.py`` applies): sign-in and unsubscribe tokens in paths,
    queries and referrers are redacted in its access log."""
    access_log = tmp_path / "access.log"
    secret = "eyJ1IjoxfQ.SECRET-sign-in-token_42"
    with gunicorn(app, args=("--access-logfile", str(access_log))) as (base, server):
        for path in (f"/signin/{secret}", f"/unsubscribe/{secret}", f"/signin/{secret}?x=1"):
            request = urllib.request.Request(base + path, headers={
                "Referer": f"https://mail.example/read?u=https://wardline.test/signin/{secret}"})
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError:
                pass  # a bad link is a 400 page; only the log matters here
        deadline = time.monotonic() + 10
        while access_log.read_text().count("\n") < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    logged = access_log.read_text()
    assert logged.count("/signin/[redacted]") >= 2 and "/unsubscribe/[redacted]" in logged
    assert "SECRET" not in logged and "SECRET" not in server.output
