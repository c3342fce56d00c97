"""Forms of the incidents domain. Limits here and again in the services."""
from __future__ import annotations

import uuid

from wtforms import BooleanField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from webapp.platform.forms import Form, one_line
from webapp.incidents.models import OUTCOME_TITLE_MAX, UPDATE_MAX
from webapp.threads.models import MESSAGE_MAX


class UpdateForm(Form):
    body = TextAreaField("Update", validators=[
        DataRequired("Write the update."),
        Length(max=UPDATE_MAX, message=f"The update must be {UPDATE_MAX:,} characters or fewer.")],
        render_kw={"maxlength": UPDATE_MAX, "rows": 5})
    urgent = BooleanField("Urgent: tell residents at once, even those who chose the daily digest")
    close = RadioField("The incident", default="", choices=[
        SelectChoice("", "Is still going on"),
        SelectChoice("closed", "Is closed (no outcome to announce)"),
        SelectChoice("outcome", "Is closed with an outcome: also send a \"successful outcomes\" alert")],
        validators=[Optional()])
    outcome_title = StringField("Outcome alert title", filters=[one_line], validators=[
        Length(max=OUTCOME_TITLE_MAX)], render_kw={"maxlength": OUTCOME_TITLE_MAX})
    outcome_body = TextAreaField("Outcome alert message (blank: the update's text)", validators=[
        Length(max=UPDATE_MAX)], render_kw={"maxlength": UPDATE_MAX, "rows": 4})

    def validate_close(self, field):
        if field.data not in ("", "closed", "outcome", None):
            raise ValidationError("Choose one.")

    def validate_outcome_title(self, field):
        if self.close.data == "outcome" and not (field.data or "").strip():
            raise ValidationError("Give the outcome alert a title.")


class AlertReplyForm(Form):
    body = TextAreaField("Your message to the ward team", validators=[
        DataRequired("Enter your message."),
        Length(max=MESSAGE_MAX, message=f"Your message must be {MESSAGE_MAX:,} characters or fewer.")],
        render_kw={"maxlength": MESSAGE_MAX, "rows": 5})
    idempotency_key = HiddenField(default=lambda: uuid.uuid4().hex,
                                  validators=[Optional(), Length(max=64)])
