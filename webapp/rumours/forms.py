"""Forms of the rumours domain."""
from __future__ import annotations

from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from webapp.platform.forms import Form, one_line
from webapp.rumours.models import CLAIM_MAX, EXPLANATION_MAX, TEXT_MAX, VERDICTS


class AskForm(Form):
    ward = SelectField("Which ward is it about?", coerce=int,
                       validators=[DataRequired("Choose one of your wards.")])
    text = TextAreaField("What did you hear?", validators=[
        DataRequired("Write what you heard."),
        Length(max=TEXT_MAX, message=f"Keep it to {TEXT_MAX} characters or fewer.")],
        render_kw={"maxlength": TEXT_MAX, "rows": 4})


class VerdictForm(Form):
    claim = StringField("What people say, in public wording", filters=[one_line], validators=[
        DataRequired("Write the claim as it will be published."),
        Length(max=CLAIM_MAX, message=f"The claim must be {CLAIM_MAX} characters or fewer.")],
        render_kw={"maxlength": CLAIM_MAX})
    verdict = RadioField("Verdict", choices=[SelectChoice(k, v) for k, v in VERDICTS.items()],
                         validators=[DataRequired("Choose a verdict.")])
    explanation = TextAreaField("Short explanation", validators=[
        DataRequired("Explain the verdict."),
        Length(max=EXPLANATION_MAX, message=f"The explanation must be {EXPLANATION_MAX:,} characters or fewer.")],
        render_kw={"maxlength": EXPLANATION_MAX, "rows": 5})
