"""Development copies of outgoing email: written to instance/mail/ with links whole."""
import re

from webapp.accounts.models import User
from webapp.extensions import db


def test_signin_email_copy_has_the_link_on_one_line_and_is_logged(app, client, mail, caplog,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_WRITE_FILES", True)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    caplog.set_level("INFO", logger="wardline.mail")
    client.post("/signup", data={"email": "copy.check@example.org", "display_name": "Ada"})
    copies = list((tmp_path / "mail").glob("*.eml"))
    assert len(copies) == 1
    raw = copies[0].read_text()
    link = re.search(r"http://wardline\.test/signin/\S+", raw).group(0)
    assert not link.endswith("=")  # not cut by quoted-printable soft line breaks
    assert link in caplog.text  # and logged for the newcomer
    # the same link reached the real SMTP server and signs the user in
    received = mail.wait_for(1)[0].get_body(preferencelist=("plain",)).get_content()
    assert link in received
    page = client.get(link.replace("http://wardline.test", ""))
    assert page.status_code == 200 and "Continue" in page.get_data(as_text=True)
    assert db.session.query(User).filter_by(email="copy.check@example.org").count() == 1
