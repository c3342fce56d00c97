"""Threads' services, one module per concern; this module re-exports them so callers stay
short (``services.add_message(...)``):

- :mod:`webapp.threads.scope`: errors, who sees which conversations, an admin's "view as admin";
- :mod:`webapp.threads.moderation`: hiding messages, stopping a resident from messaging;
- :mod:`webapp.threads.conversations`: starting, writing, officers' status changes,
  publishing an answer as a ward post; :mod:`webapp.threads.reading`: a page of messages,
  polling, the inbox, a resident's list (rows, from statements built once);
- :mod:`webapp.threads.officer_digest`: the officers' "awaiting reply" digest (a tick);
- :mod:`webapp.threads.account_data`: export and deletion of a resident's conversations.

Functions that change data add to the session (and the audit log) and leave the commit to
the caller, unless they say otherwise.
"""
from __future__ import annotations

from webapp.threads.scope import (
    ACCESS_REASON_MIN,
    MessagingBlocked,
    ThreadError,
    admin_access_until,
    clean_text,
    conversations_visible_to,
    end_admin_access,
    get_conversation,
    get_message,
    grant_admin_access,
    resident_wards,
    team_ward_ids,
)
from webapp.threads.moderation import (
    CARRIED_BLOCK_REASON,
    address_hmac,
    address_key,
    block_for,
    block_from,
    block_resident,
    hide_message,
    unblock_resident,
    unhide_message,
)
from webapp.threads.conversations import (
    IDEMPOTENCY_KEY_MAX,
    INBOX_PAGE_SIZE,
    InboxRow,
    PAGE_SIZE,
    POLL_LIMIT,
    add_message,
    clean_key,
    close_conversation,
    default_publication,
    inbox,
    mark_read,
    messages_after,
    messages_page,
    poll,
    publish_answer,
    record_view,
    reopen_conversation,
    resident_conversations,
    start_conversation,
    take_conversation,
)
from webapp.threads.officer_digest import (
    DIGEST_INTERVAL,
    send_officer_digests,
)
from webapp.threads.account_data import (
    erase_message_traces,
    forget_messages,
    identifying_messages,
)

__all__ = [
    'ACCESS_REASON_MIN',
    'MessagingBlocked',
    'ThreadError',
    'admin_access_until',
    'clean_text',
    'conversations_visible_to',
    'end_admin_access',
    'get_conversation',
    'get_message',
    'grant_admin_access',
    'resident_wards',
    'team_ward_ids',
    'CARRIED_BLOCK_REASON',
    'address_hmac',
    'address_key',
    'block_for',
    'block_from',
    'block_resident',
    'hide_message',
    'unblock_resident',
    'unhide_message',
    'IDEMPOTENCY_KEY_MAX',
    'INBOX_PAGE_SIZE',
    'InboxRow',
    'PAGE_SIZE',
    'POLL_LIMIT',
    'add_message',
    'clean_key',
    'close_conversation',
    'default_publication',
    'inbox',
    'mark_read',
    'messages_after',
    'messages_page',
    'poll',
    'publish_answer',
    'record_view',
    'reopen_conversation',
    'resident_conversations',
    'start_conversation',
    'take_conversation',
    'DIGEST_INTERVAL',
    'send_officer_digests',
    'erase_message_traces',
    'forget_messages',
    'identifying_messages',
]
