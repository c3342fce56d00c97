"""The ward finder's form: one choice, posted to the survey or settings that uses it."""
from __future__ import annotations

from wtforms import HiddenField, RadioField
from wtforms.fields.choices import SelectChoice

from webapp.platform.forms import Form


class WardPickForm(Form):
    """One choice from the ward finder: this ward, as home or as an extra ward."""

    ward = HiddenField("Ward", filters=[lambda v: v.strip() if isinstance(v, str) else v])
    role = RadioField("Role", choices=[SelectChoice("home", "I live here"),
                                       SelectChoice("extra", "Also follow")],
                      validate_choice=False)
