"""Forms of the text-message settings (see :mod:`webapp.accounts.phone`)."""
from __future__ import annotations

from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from webapp.accounts import phone
from webapp.platform.forms import Form, MultiCheckboxField
from webapp.platform.taxonomy import CATEGORIES


class PhoneForm(Form):
    phone = StringField("UK mobile number", render_kw={
        "type": "tel", "maxlength": phone.PHONE_MAX, "spellcheck": "false"})

    def validate_phone(self, field):
        try:
            phone.normalise_mobile(field.data)
        except phone.PhoneError as exc:
            raise ValidationError(exc.message) from exc


class CodeForm(Form):
    code = StringField("Code from the text message", render_kw={
        "maxlength": 9, "spellcheck": "false", "autocomplete": "one-time-code"})


class SmsCategoriesForm(Form):
    sms_categories = MultiCheckboxField(
        "Also by text", choices=[SelectChoice(k, v) for k, v in CATEGORIES.items()])
