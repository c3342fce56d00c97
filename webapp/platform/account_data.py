"""The account-data registry: what each domain holds about a person, for "Download my data"
and account deletion.

A domain registers, once, when its module is imported (one style everywhere)::

    register_account_data(export=export_messages, identify=messages_identifying,
                          erase=erase_message_traces, forget=forget_messages)

- ``export(user) -> (key, data)``: a section of "Download my data" (:data:`EXPORTERS`);
- ``identify(user) -> iterable of str``: what identifies the person in free text others
  wrote (their subjects, messages, devices...), read before anything is deleted
  (:data:`IDENTIFIERS`);
- ``erase(user)``: remove their traces in rows that stay (their own notifications, audit
  details about their records, answers kept as anonymous counts) (:data:`ERASERS`);
- ``forget(user)``: delete the domain's rows about them (:data:`DELETERS`), run after the
  erasers and the redaction, before the user row goes.

:func:`webapp.accounts.services.delete_account` runs them in that order, in one
transaction; none of them commits.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

EXPORTERS: list[Callable] = []
IDENTIFIERS: list[Callable] = []
ERASERS: list[Callable] = []
DELETERS: list[Callable] = []


def register_account_data(*, export: Callable | None = None,
                          identify: Callable[..., Iterable[str]] | None = None,
                          erase: Callable | None = None, forget: Callable | None = None) -> None:
    """Add a domain's hooks (see the module docstring); registering one twice is harmless."""
    for hook, hooks in ((export, EXPORTERS), (identify, IDENTIFIERS), (erase, ERASERS),
                        (forget, DELETERS)):
        if hook is not None and hook not in hooks:
            hooks.append(hook)
