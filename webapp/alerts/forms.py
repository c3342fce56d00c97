"""Forms of the alerts domain. The schedule time is entered in Europe/London."""
from __future__ import annotations

from wtforms import (BooleanField, DateTimeLocalField, RadioField, SelectField,
                     StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from webapp.alerts.models import ALERT_CHANNELS, BODY_MAX, TITLE_MAX
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.forms import Form, MultiCheckboxField, db_id, one_line

DT_FORMAT = "%Y-%m-%dT%H:%M"


class AlertForm(Form):
    title = StringField("Title", filters=[one_line],
                        validators=[DataRequired(message="Give the alert a title."),
                                    Length(max=TITLE_MAX)])
    body = TextAreaField("Message", validators=[DataRequired(message="Write the alert."),
                                                Length(max=BODY_MAX)])
    category = RadioField("Category", choices=[SelectChoice(k, v) for k, v in CATEGORIES.items()],
                          validators=[DataRequired(message="Choose a category.")])
    scope = RadioField("Who should get it", default="wards",
                       choices=[SelectChoice("wards", "Wards I choose"),
                                SelectChoice("borough", "A whole borough"),
                                SelectChoice("london", "All of London")])
    wards = MultiCheckboxField("Wards", coerce=db_id)
    borough = SelectField("Borough", coerce=db_id, validators=[Optional()])
    channels = MultiCheckboxField("Send by", choices=[SelectChoice(k, v) for k, v in ALERT_CHANNELS.items()],
                                  default=list(ALERT_CHANNELS))
    when = RadioField("When", default="now", choices=[SelectChoice("now", "Send now"),
                                                      SelectChoice("later", "Schedule for later")])
    send_at = DateTimeLocalField("Send at (London time)", format=DT_FORMAT,
                                 validators=[Optional()])
    urgent = BooleanField("Urgent: send at once, even to residents who chose the daily digest")
    urgent_confirm = BooleanField("I confirm this is urgent (it is recorded in the audit log)")

    def __init__(self, *args, ward_choices=(), borough_choices=(), is_admin=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.wards.choices = [SelectChoice(v, label) for v, label in ward_choices]
        self.borough.choices = [SelectChoice(0, "Choose a borough")] + \
            [SelectChoice(v, label) for v, label in borough_choices]
        if not is_admin:
            self.scope.choices = [c for c in self.scope.choices if c.value != "london"]

    def validate_channels(self, field):
        if not field.data:
            raise ValidationError("Choose at least one way to send it.")

    def validate_wards(self, field):
        if self.scope.data == "wards" and not field.data:
            raise ValidationError("Choose at least one ward.")

    def validate_borough(self, field):
        if self.scope.data == "borough" and not field.data:
            raise ValidationError("Choose a borough.")

    def validate(self, extra_validators=None):
        """As Form.validate, plus: "later" needs a time. (Not a ``validate_send_at``: the
        field's Optional() stops the chain on an empty value before it would run, and an
        alert meant for later went out at once.)"""
        ok = super().validate(extra_validators)
        if self.when.data == "later" and not self.send_at.data and not self.send_at.errors:
            self.send_at.errors.append("Enter the date and time to send it.")
            ok = False
        return ok

    def validate_urgent_confirm(self, field):
        if self.urgent.data and not field.data:
            raise ValidationError("Tick to confirm that this alert is urgent.")
