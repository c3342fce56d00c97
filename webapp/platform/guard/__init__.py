"""The guard: before a resident's message is sent, look for signs of an emergency or of
a crime report, so the resident is pointed to 999 or to 101 and online reporting first.

Rule-based and explainable: the rules are regular expressions in ONE data file,
``rules.toml`` beside this module, and :func:`check` returns the very words that matched,
which the resident is shown. An emergency needs a second press to send; a report-like
message explains 101 and online reporting and offers to send anyway. The second press is
the hidden field ``guard_ack`` carrying :func:`ack_for` of the text: change the text and
the check runs again. Works without JavaScript (it is a form post either way).

A leaf module (imports nothing of the app), usable by every domain that takes a
resident's text: conversations, replies to alerts, rumour checks.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

RULES_FILE = Path(__file__).with_name("rules.toml")
LEVELS = ("emergency", "report")  # in order of precedence
ACK_FIELD = "guard_ack"
MAX_MATCHES = 6


@dataclass(frozen=True)
class Rule:
    level: str
    label: str
    pattern: re.Pattern


@dataclass
class GuardResult:
    """What the guard found: ``level`` is "emergency", "report" or None (nothing);
    ``matches`` the words that matched (as written), ``labels`` why."""

    level: str | None = None
    matches: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ack: str = ""

    def __bool__(self) -> bool:
        return self.level is not None


@lru_cache(maxsize=4)
def load_rules(path: str = str(RULES_FILE)) -> tuple[Rule, ...]:
    """The rules of ``path`` (default: rules.toml), compiled once."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    rules = []
    for level in LEVELS:
        for group in data.get(level, []):
            for pattern in group["patterns"]:
                rules.append(Rule(level, group["label"], re.compile(pattern, re.IGNORECASE)))
    return tuple(rules)


def normalise(text: str) -> str:
    """Collapse whitespace and curly apostrophes, so rules see one spelling."""
    text = (text or "").replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


def ack_for(level: str, text: str) -> str:
    """The value of the hidden confirmation field for ``text`` warned at ``level``."""
    digest = hashlib.sha256(normalise(text).lower().encode("utf-8")).hexdigest()[:24]
    return f"{level}:{digest}"


def check(*texts: str) -> GuardResult:
    """Check the texts (subject and body, say) together."""
    text = normalise(" \n ".join(t for t in texts if t))
    found: dict[str, list[Rule, str]] = {level: [] for level in LEVELS}
    for rule in load_rules():
        for m in rule.pattern.finditer(text):
            found[rule.level].append((rule, m.group(0).strip()))
    for level in LEVELS:
        if found[level]:
            matches, labels = [], []
            for rule, words in found[level]:
                if words.lower() not in (w.lower() for w in matches):
                    matches.append(words)
                if rule.label not in labels:
                    labels.append(rule.label)
            # Words inside longer matched words are shown once, in the longer ones.
            matches = [w for w in matches if not any(
                w.lower() != o.lower() and w.lower() in o.lower() for o in matches)]
            return GuardResult(level, matches[:MAX_MATCHES], labels, ack_for(level, text))
    return GuardResult()


def intercept(form, *texts: str) -> GuardResult | None:
    """For a view about to send ``texts``: the warning to show instead of sending (a
    :class:`GuardResult`), or None when the message may go (nothing found, or the
    resident already saw this warning for this very text and pressed send again:
    ``form[guard_ack]`` equals :func:`ack_for`)."""
    result = check(*texts)
    if not result:
        return None
    given = (form.get(ACK_FIELD) or "")[:80] if form is not None else ""
    if given and given == result.ack:
        return None
    return result
