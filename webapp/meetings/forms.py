"""Forms of the meetings domain. Times are entered as Europe/London wall-clock times."""
from __future__ import annotations

from wtforms import (DateTimeLocalField, HiddenField, IntegerField, SelectField,
                     StringField, TextAreaField)
from wtforms.validators import URL, DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.fields.choices import SelectChoice

from webapp.meetings.services import SUMMARY_MAX, MeetingDetails
from webapp.platform.taxonomy import CONCERN_TEXT_MAX, CONCERN_TOPICS
from webapp.platform.timeutil import london_to_utc, to_london
from webapp.platform.forms import Form, MultiCheckboxField, db_id, one_line
from wtforms.validators import ValidationError

DT_FORMAT = "%Y-%m-%dT%H:%M"


class MeetingForm(Form):
    required_messages = {"capacity": "Enter the number of places",
                         "reminder_hours": "Enter how many hours before the meeting to send the reminder"}
    title = StringField("Title", filters=[one_line], validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("What the meeting is about", validators=[Optional(), Length(max=4000)])
    venue_name = StringField("Venue", filters=[one_line], validators=[DataRequired(), Length(max=120)])
    address = StringField("Address", filters=[one_line], validators=[DataRequired(), Length(max=300)])
    accessibility = TextAreaField("Accessibility", validators=[Optional(), Length(max=1000)])
    starts_at = DateTimeLocalField("Starts (London time)", format=DT_FORMAT,
                                   validators=[DataRequired(message="Enter the start date and time.")])
    ends_at = DateTimeLocalField("Ends (London time)", format=DT_FORMAT,
                                 validators=[DataRequired(message="Enter the end date and time.")])
    capacity = IntegerField("Places", validators=[InputRequired(), NumberRange(min=1, max=5000)])
    rsvp_closes_at = DateTimeLocalField("RSVPs close (London time)", format=DT_FORMAT,
                                        validators=[Optional()])
    reminder_hours = IntegerField("Send the reminder this many hours before", default=24,
                                  validators=[InputRequired(), NumberRange(min=1, max=168)])
    online_url = StringField("Online link (optional)",
                             validators=[Optional(), Length(max=500),
                                         URL(require_tld=True, message="Enter a full https:// link.")])
    wards = MultiCheckboxField("Wards", coerce=db_id, validate_choice=False)
    borough = SelectField("Or the whole borough", coerce=db_id, validate_choice=False,
                          choices=[SelectChoice(0, "No: only the wards ticked")])

    def validate_online_url(self, field):
        if field.data and not field.data.lower().startswith("https://"):
            raise ValidationError("The online link must start with https://")

    def details(self) -> MeetingDetails:
        """The form's values, with London times converted to naive UTC."""
        starts = london_to_utc(self.starts_at.data)
        closes = london_to_utc(self.rsvp_closes_at.data) if self.rsvp_closes_at.data else starts
        return MeetingDetails(
            title=self.title.data.strip(), description=(self.description.data or "").strip(),
            venue_name=self.venue_name.data.strip(), address=self.address.data.strip(),
            accessibility=(self.accessibility.data or "").strip(), starts_at=starts,
            ends_at=london_to_utc(self.ends_at.data), capacity=self.capacity.data,
            rsvp_closes_at=closes, online_url=(self.online_url.data or "").strip() or None,
            reminder_hours=self.reminder_hours.data)

    def load(self, meeting) -> None:
        """Fill the form from a meeting (times shown in London)."""
        for name in ("title", "description", "venue_name", "address", "accessibility",
                     "capacity", "online_url", "reminder_hours"):
            getattr(self, name).data = getattr(meeting, name)
        for name in ("starts_at", "ends_at", "rsvp_closes_at"):
            getattr(self, name).data = to_london(getattr(meeting, name)).replace(tzinfo=None)


class CancelMeetingForm(Form):
    reason = TextAreaField("Reason (sent to everyone with a place or on the waitlist)",
                           validators=[Optional(), Length(max=500)])


class ConcernForm(Form):
    topic = SelectField("Topic", choices=[SelectChoice("", "Choose a topic")] +
                        [SelectChoice(k, v) for k, v in CONCERN_TOPICS.items()],
                        validators=[DataRequired(message="Choose a topic.")])
    text = TextAreaField("In your own words (optional)",
                         validators=[Optional(), Length(max=CONCERN_TEXT_MAX)])


class CheckinForm(Form):
    code = StringField("Check-in code", validators=[DataRequired(message="Scan or type a code."),
                                                    Length(max=500)])


class SummaryForm(Form):
    summary = TextAreaField("What was raised, and what will be done",
                            validators=[DataRequired(message="Write the summary."),
                                        Length(max=SUMMARY_MAX)])


class AnsweredForm(Form):
    answered = HiddenField(validators=[Optional()])
