"""Moderation: hiding a message (kept, shown to officers marked), stopping a resident from
messaging (``messaging_blocks``) and the keyed hash of a blocked address that outlives the
account (``blocked_addresses``)."""
from __future__ import annotations

from datetime import datetime


from webapp.accounts.models import normalise_email
from webapp.platform.audit import record
from webapp.extensions import db
from webapp.threads.models import (BlockedAddress,
                                   Message,
                                   MessagingBlock)
from webapp.platform.timeutil import utcnow
from flask import current_app
from sqlalchemy import bindparam, delete, literal, select
from webapp.config import load_or_create_secret
from webapp.platform.db import insert_ignore
import hashlib
import hmac

from webapp.threads.scope import clean_text


def block_for(user) -> MessagingBlock | None:
    """The block stopping ``user`` from messaging, if any: their own, or (unsaved) one
    carried over from a deleted account with the same email address (:class:`BlockedAddress`),
    so deleting the account and signing up again does not escape a block."""
    if user is None or getattr(user, "id", None) is None:
        return None
    if not (getattr(user, "role", None) == "resident" and user.email):
        return db.session.get(MessagingBlock, user.id)
    # One statement for both (a page showing the block asked twice): the user's own block
    # and when their address was blocked, if it was.
    block, carried = db.session.execute(_BLOCK_AND_ADDRESS, {
        "address_hmac": address_hmac(user.email), "user_id": user.id}).one()
    return block_from(user, block, carried)


# block_for's statement, built once with its values bound at run time (issue 14).
_BLOCK_AND_ADDRESS = select(MessagingBlock, select(BlockedAddress.created_at).where(
    BlockedAddress.address_hmac == bindparam("address_hmac")).scalar_subquery()).select_from(
    select(literal(1)).subquery()).outerjoin(MessagingBlock,
                                              MessagingBlock.user_id == bindparam("user_id"))


def block_from(user, own: MessagingBlock | None, carried_at: datetime | None) -> MessagingBlock | None:
    """:func:`block_for`'s answer from rows read with others (a page's one statement):
    ``own`` block of ``user``, else the time their address was put on the block list."""
    if own is not None or carried_at is None or getattr(user, "role", None) != "resident":
        return own
    return MessagingBlock(user_id=user.id, reason=CARRIED_BLOCK_REASON, blocked_by_id=None,
                          created_at=carried_at)


CARRIED_BLOCK_REASON = ("An earlier account with this email address was stopped from sending "
                        "messages. Contact your ward team another way (101) to discuss it.")


def address_key(email: str) -> str:
    """The form of an address that is hashed: lower case, without a ``+tag``."""
    local, _, domain = normalise_email(email).rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def address_hmac(email: str) -> str:
    """HMAC-SHA256 of :func:`address_key`, keyed by ``BLOCKLIST_KEY`` (from the environment,
    else generated into ``instance/blocklist_key``): without the key the stored hashes
    cannot be tested against a list of addresses."""


    key = current_app.config["BLOCKLIST_KEY"] or \
        load_or_create_secret(current_app.instance_path, "blocklist_key")
    return hmac.new(key.encode(), address_key(email).encode(), hashlib.sha256).hexdigest()


def hide_message(message: Message, officer, reason: str = "", now: datetime | None = None) -> None:
    """Hide an abusive message from the resident. It is kept (and still shown to officers,
    marked hidden) for the record."""
    if message.hidden_at is None:
        message.hidden_at = now or utcnow()
        message.hidden_by_id = officer.id
        message.hidden_reason = (reason or "").strip()[:200] or None
        record(officer, "message.hide", message, message.hidden_reason or "")


def unhide_message(message: Message, officer) -> None:
    if message.hidden_at is not None:
        message.hidden_at = None
        message.hidden_by_id = None
        message.hidden_reason = None
        record(officer, "message.unhide", message)


def block_resident(resident, officer, reason: str) -> MessagingBlock:
    """Stop ``resident`` from sending messages, with a recorded reason (shown to them).
    Raises :class:`ThreadError` when the reason is missing."""
    reason = clean_text(reason, 500, "reason")
    block = db.session.get(MessagingBlock, resident.id)
    if block is None:
        block = MessagingBlock(user_id=resident.id, reason=reason, blocked_by_id=officer.id)
        db.session.add(block)
    else:
        block.reason, block.blocked_by_id = reason, officer.id
    db.session.execute(insert_ignore(BlockedAddress.__table__).values(
        address_hmac=address_hmac(resident.email), created_at=utcnow()).on_conflict_do_nothing())
    record(officer, "resident.block", resident, reason)
    return block


def unblock_resident(resident, officer) -> None:
    """Lift a block (the resident's own, or one carried over by their address)."""
    block = db.session.get(MessagingBlock, resident.id)
    carried = db.session.execute(delete(BlockedAddress).where(
        BlockedAddress.address_hmac == address_hmac(resident.email))).rowcount
    if block is not None:
        db.session.delete(block)
    if block is not None or carried:
        record(officer, "resident.unblock", resident)
