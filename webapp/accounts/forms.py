"""Forms of the residents' account pages: sign-up, sign-in, survey steps and settings.

Validation rules that matter beyond the form (email format, name length, concern limits)
live in :mod:`webapp.accounts.services`; the forms call them so the rules are in one place.
"""
from __future__ import annotations

from wtforms import (HiddenField, RadioField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from webapp.accounts import services
from webapp.wards.forms import WardPickForm  # noqa: F401  (the finder's form, used by accounts' views)
from webapp.platform.forms import Form, MultiCheckboxField
from webapp.platform.taxonomy import (CATEGORIES, CONCERN_TEXT_MAX, CONCERN_TOPICS, EMAIL_FREQUENCIES,
                             MAX_CONCERNS)


def _choices(mapping: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in mapping.items()]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class EmailForm(Form):
    email = StringField("Email address", filters=[_strip],
                        render_kw={"maxlength": services.EMAIL_MAX, "type": "email",
                                   "spellcheck": "false", "autocapitalize": "none"})

    def validate_email(self, field):
        try:
            field.data = services.validate_email_address(field.data)
        except services.AnswerError as exc:
            raise ValidationError(exc.message) from exc


class NewEmailForm(EmailForm):
    """Settings: a new email address (confirmed by a link sent to it)."""

    email = StringField("New email address", filters=[_strip],
                        render_kw={"maxlength": services.EMAIL_MAX, "type": "email",
                                   "spellcheck": "false", "autocapitalize": "none"})


class LoginForm(EmailForm):
    """Ask for a sign-in link (``next``: the page to open once signed in)."""

    next = HiddenField(filters=[_strip])


class SignupForm(EmailForm):
    display_name = StringField("Your name, as your ward team will see it", filters=[_strip],
                               render_kw={"maxlength": services.DISPLAY_NAME_MAX,
                                          "data-counter": "1"})

    def validate_display_name(self, field):
        try:
            field.data = services.clean_display_name(field.data)
        except services.AnswerError as exc:
            raise ValidationError(exc.message) from exc


class NameForm(Form):
    display_name = SignupForm.display_name
    validate_display_name = SignupForm.validate_display_name


class WardsForm(Form):
    """Survey step 1 sent as a plain form: the home ward and up to two more (ONS codes).

    The finder saves each choice as it is made, so both fields are optional here; the view
    refuses to continue without a home ward.
    """

    home_ward = HiddenField("Where you live", filters=[_strip])
    extra_wards = SelectMultipleField("Other wards", choices=[], validate_choice=False)


class UpdatesForm(Form):
    """Survey step 2: which updates, and how."""

    categories = MultiCheckboxField("Which updates do you want?",
                                    choices=_choices(CATEGORIES))
    email_frequency = RadioField("How should we email you?",
                                 choices=_choices(EMAIL_FREQUENCIES), default="immediate")
    # Push is switched on per device by the PWA's own control (templates/pwa/), not here.

    def validate_email_frequency(self, field):
        if field.data not in EMAIL_FREQUENCIES:
            raise ValidationError("Choose how often we should email you.")


class ConcernsForm(Form):
    """Survey step 3: up to three topics, and words for "something else"."""

    concerns = MultiCheckboxField(f"Choose up to {MAX_CONCERNS}",
                                  choices=_choices(CONCERN_TOPICS))
    other_text = TextAreaField("Something else: tell us in your own words",
                               filters=[_strip], render_kw={"maxlength": CONCERN_TEXT_MAX})

    def validate_concerns(self, field):
        if len(field.data or []) > MAX_CONCERNS:
            raise ValidationError(f"Choose up to {MAX_CONCERNS} topics.")

    def validate_other_text(self, field):
        text = field.data or ""
        chosen = self.concerns.data or []
        if len(text) > CONCERN_TEXT_MAX:
            raise ValidationError(f"Use at most {CONCERN_TEXT_MAX} characters "
                                  f"(you used {len(text)}).")
        if "other" in chosen and not text:
            raise ValidationError("Tell us what else matters to you.")
        if text and "other" not in chosen:
            raise ValidationError("Tick \u201cSomething else\u201d to send these words, "
                                  "or clear them.")
