"""One email built once for many recipients: :func:`prepare`, then
:meth:`PreparedMessage.message` per recipient.

Building each message with :func:`webapp.platform.mail.build_message` renders both
templates and builds the MIME objects, and flattening it refolds every header: at a
London-wide alert's scale that was most of the worker's CPU per email (a worker spent
about twice what raw ``smtplib`` spends sending a message built in advance;
``bench/fanout.py`` (c)). When the message differs between recipients only by their
address and a few plain values (an unsubscribe link), :func:`prepare` builds it once with
``build_message`` itself (the one builder), markers standing in for those values, and
flattens it once; each recipient's message is then that text with the markers replaced,
its two text parts re-encoded, and a fresh Date and Message-ID: the same bytes
``build_message`` would give (``tests/delivery/test_email_once.py`` compares them).

It is used only where that holds. :func:`prepare` returns None (build each message as
usual) when the templates, or any template they extend, include or import, name a
variable each recipient would be given of their own (``user``), or when rendering with two different
marker sets does not give the same text once the markers are replaced (a value that a
template transforms instead of inserting as it is). :meth:`PreparedMessage.message`
returns None for a recipient whose address or values cannot go in as they are (not
ASCII, a line break, too long): that recipient's message is built as usual.
"""
from __future__ import annotations

import re
import secrets
import weakref
from datetime import datetime, timezone
from email.charset import Charset
from email.utils import format_datetime, make_msgid, parseaddr

from flask import current_app
from jinja2 import meta
from markupsafe import escape

from webapp.platform.mail import MIME_POLICY, build_message, mail_domain

_NL = re.compile(r"\r\n|\r|\n")
_WIRE = MIME_POLICY.clone(linesep="\r\n")  # as SMTPConnection sends a signed message
_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Template -> its names


def template_names(env, name: str) -> frozenset | None:
    """The variables template ``name`` and every template it extends, includes or imports
    take from their context; None when one of those templates is chosen at run time (its
    names cannot be known). Cached per loaded template (a reloaded one is read again)."""
    template = env.get_template(name)
    if template in _NAMES:
        return _NAMES[template]
    names, seen, todo = set(), set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        ast = env.parse(env.loader.get_source(env, current)[0])
        names |= meta.find_undeclared_variables(ast)
        refs = list(meta.find_referenced_templates(ast))
        if None in refs:
            names = None
            break
        todo += refs
    _NAMES[template] = result = frozenset(names) if names is not None else None
    return result


def _marks(varying) -> dict[str, str]:
    # Letters and digits only: HTML escaping, header folding and base64 leave them alone.
    return {name: f"wlmark{name.replace('_', '')}{secrets.token_hex(8)}" for name in varying}


def _parts(msg):
    """The text and HTML parts of a multipart/alternative message, or None."""
    if msg.get_content_type() != "multipart/alternative":
        return None
    parts = msg.get_payload()
    if [p.get_content_type() for p in parts] != ["text/plain", "text/html"]:
        return None
    return parts


def _text(part) -> str:
    return part.get_payload(decode=True).decode(part.get_content_charset())


def prepare(subject: str, template: str, *, headers: dict, varying: tuple[str, ...],
            personal: tuple[str, ...] = ("user",), **context) -> "PreparedMessage | None":
    """The message ``build_message(to, subject, template, headers=headers, **context)``
    built once for every recipient, who differ only by their address and the plain string
    values named in ``varying`` (template variables; a header value may hold them as
    ``{name}``). ``personal``: the other variables each recipient's own message would be
    given (the templates must not name them). None when that cannot be shown (see the
    module docstring). Raises what ``build_message`` raises (a template error)."""
    env = current_app.jinja_env
    for name in (f"email/{template}.txt", f"email/{template}.html"):
        names = template_names(env, name)
        if names is None or names & set(personal):
            return None
    builds = []
    for marks in (_marks(varying), _marks(varying)):
        values = {h: _fill(v, marks) for h, v in headers.items()}
        msg = build_message("wlmarkto@invalid", subject, template, headers=values,
                            **context, **marks)
        parts = _parts(msg)
        if parts is None:
            return None
        builds.append((marks, msg, parts, [_text(p) for p in parts]))
    (marks, msg, parts, texts), (other, *_rest, other_texts) = builds
    for text, text2 in zip(texts, other_texts, strict=True):
        for name in varying:
            text2 = text2.replace(other[name], marks[name])
        if text2 != text:  # a value is transformed, or the rendering is not repeatable
            return None
    return PreparedMessage(msg, parts, texts, marks)


def _fill(value: str, marks: dict[str, str]) -> str:
    for name, mark in marks.items():
        value = value.replace("{" + name + "}", mark)
    return value


class PreparedMessage:
    """A message flattened once, with markers for what each recipient gets of their own."""

    def __init__(self, msg, parts, texts: list[str], marks: dict[str, str]):
        config = current_app.config
        self.sender = parseaddr(config["MAIL_FROM"])[1]
        self.domain = mail_domain(config)
        self.marks = marks
        token = secrets.token_hex(8)
        self.fixed = {"to": f"wlmarkto{token}", "date": f"wlmarkdate{token}",
                      "id": f"wlmarkid{token}"}
        msg.replace_header("To", self.fixed["to"])
        msg.replace_header("Date", self.fixed["date"])
        msg.replace_header("Message-ID", self.fixed["id"])
        self.parts = []  # (marker, text with markers, charset, is HTML)
        for n, (part, text) in enumerate(zip(parts, texts, strict=True)):
            mark = f"wlmarkpart{n}{token}"
            self.parts.append((mark, text, Charset(part.get_content_charset()),
                               part.get_content_type() == "text/html"))
            part.set_payload(mark)  # headers (charset, transfer encoding) stay
        self.skeleton = msg.as_bytes(policy=_WIRE).decode("ascii", "surrogateescape")
        self.boundary = msg.get_boundary()
        self._marker = re.compile("|".join(
            [*self.fixed.values(), *marks.values(), *(p[0] for p in self.parts)]))

    def message(self, to: str, **values: str) -> bytes | None:
        """The flattened message for ``to`` (CRLF line ends, ready for ``sendmail``), or
        None when this recipient's message must be built as usual."""
        if not _safe(to) or not all(_safe(v) for v in values.values()):
            return None
        replace = {self.fixed["to"]: to,
                   self.fixed["date"]: format_datetime(datetime.now(timezone.utc)),
                   self.fixed["id"]: make_msgid(domain=self.domain)}
        replace.update((self.marks[name], value) for name, value in values.items())
        for mark, text, charset, html in self.parts:
            for name, value in values.items():
                text = text.replace(self.marks[name], str(escape(value)) if html else value)
            if charset.body_encoding is None and not _simple(text):
                return None  # built as usual: it would now go as UTF-8 instead
            body = _NL.sub("\r\n", charset.body_encode(text))
            if self.boundary and self.boundary in body:
                return None
            replace[mark] = body
        data = self._marker.sub(lambda m: replace[m.group()], self.skeleton)
        return data.encode("ascii", "surrogateescape")


def _safe(value: str) -> bool:
    """A value that goes into a header and a body as it is."""
    return value.isascii() and len(value) < 900 and "\r" not in value and "\n" not in value


def _simple(text: str) -> bool:
    # build_message's rule for sending the text part as plain 7bit US-ASCII.
    return text.isascii() and all(len(line) <= 900 for line in text.splitlines())
