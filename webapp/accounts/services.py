"""Residents' accounts, one module per concern; this module re-exports them so callers stay
short (``services.set_wards(...)``):

- :mod:`webapp.accounts.identity`: email addresses and display names (normalising, checking);
- :mod:`webapp.accounts.signin`: sign-up and sign-in by emailed link;
- :mod:`webapp.accounts.preferences`: wards, updates, concerns, the survey;
- :mod:`webapp.accounts.data_rights`: "Download my data" and account deletion.

Plain functions with explicit arguments; none of them reads ``request``.
"""
from __future__ import annotations

from webapp.accounts.identity import (
    AnswerError,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    RESERVED_NAME_MESSAGE,
    RESERVED_NAME_PHRASES,
    RESERVED_NAME_WORDS,
    clean_display_name,
    find_user_by_email,
    impersonates_police,
    name_key,
    validate_email_address,
)
from webapp.accounts.signin import (
    SIGNIN_PURPOSE,
    absolute_url,
    check_signin_token,
    complete_signin,
    log,
    register_resident,
    send_no_account_email,
    send_signin_email,
    signin_token,
)
from webapp.accounts.models import SURVEY_DONE, SURVEY_STEPS
from webapp.accounts.preferences import (
    add_extra_ward,
    advance_survey,
    choose_ward,
    nothing_reaches,
    mute_ward,
    remove_extra_ward,
    set_concerns,
    set_display_name,
    set_home_ward,
    set_updates,
    set_wards,
    survey_concerns,
    survey_position,
    updates_chosen,
)
from webapp.accounts.data_rights import (
    delete_account,
    export_user_data,
)

__all__ = [
    'AnswerError',
    'DISPLAY_NAME_MAX',
    'EMAIL_MAX',
    'RESERVED_NAME_MESSAGE',
    'RESERVED_NAME_PHRASES',
    'RESERVED_NAME_WORDS',
    'clean_display_name',
    'find_user_by_email',
    'impersonates_police',
    'name_key',
    'validate_email_address',
    'SIGNIN_PURPOSE',
    'absolute_url',
    'check_signin_token',
    'complete_signin',
    'log',
    'register_resident',
    'send_no_account_email',
    'send_signin_email',
    'signin_token',
    'SURVEY_DONE',
    'SURVEY_STEPS',
    'add_extra_ward',
    'nothing_reaches',
    'updates_chosen',
    'advance_survey',
    'choose_ward',
    'mute_ward',
    'remove_extra_ward',
    'set_concerns',
    'set_display_name',
    'set_home_ward',
    'set_updates',
    'set_wards',
    'survey_concerns',
    'survey_position',
    'delete_account',
    'export_user_data',
]
