"""The account-data registry: what each domain holds about a person, for "Download my data"
and account deletion.

A domain registers, once, when its module is imported (one style everywhere)::

    register_account_data(export=messages_export, identify=messages_identifying,
                          erase=erase_message_traces, forget=forget_messages)

- ``export(user) -> (key, data)``: a section of "Download my data" (:data:`EXPORTERS`);
  a :class:`Gathered` export names its SELECTs instead, and "Download my data" reads those
  of every domain in one statement (:func:`webapp.platform.gather.gather`);
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
from dataclasses import dataclass

from webapp.platform.gather import gather

EXPORTERS: list[Callable] = []
IDENTIFIERS: list[Callable] = []
ERASERS: list[Callable] = []
DELETERS: list[Callable] = []


@dataclass(frozen=True)
class Gathered:
    """An export read with the others: ``parts(user)`` gives ``{name: (select, order
    keys)}`` (see :func:`~webapp.platform.gather.gather`), ``build(user, rows)`` the
    ``(key, data)`` of the section from ``{name: [row dict, ...]}``."""

    parts: Callable
    build: Callable

    def __call__(self, user):
        return self.build(user, gather(self.parts(user)))


def export_all(user, first=()) -> list[tuple[str, object]]:
    """Every domain's section for ``user`` (``first``: exporters of the caller's own, before
    them): the :class:`Gathered` ones from one statement."""
    exporters = [*first, *EXPORTERS]
    wanted = {}
    for i, exporter in enumerate(exporters):
        if isinstance(exporter, Gathered):
            wanted.update({(i, name): part for name, part in exporter.parts(user).items()})
    found = gather({f"{i}.{name}": part for (i, name), part in wanted.items()})
    sections = []
    for i, exporter in enumerate(exporters):
        if isinstance(exporter, Gathered):
            rows = {name: found[f"{j}.{name}"] for j, name in wanted if j == i}
            sections.append(exporter.build(user, rows))
        else:
            sections.append(exporter(user))
    return sections


def register_account_data(*, export: Callable | None = None,
                          identify: Callable[..., Iterable[str]] | None = None,
                          erase: Callable | None = None, forget: Callable | None = None) -> None:
    """Add a domain's hooks (see the module docstring); registering one twice is harmless."""
    for hook, hooks in ((export, EXPORTERS), (identify, IDENTIFIERS), (erase, ERASERS),
                        (forget, DELETERS)):
        if hook is not None and hook not in hooks:
            hooks.append(hook)
