"""Forms of the threads domain. Limits are enforced here and again in the services."""
import uuid

from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from webapp.platform.forms import Form
from webapp.threads.models import MESSAGE_MAX, SUBJECT_MAX


def _new_key() -> str:
    return uuid.uuid4().hex


class ReplyForm(Form):
    body = TextAreaField("Your message", validators=[
        DataRequired("Enter your message."),
        Length(max=MESSAGE_MAX, message=f"Your message must be {MESSAGE_MAX:,} characters or fewer.")],
        render_kw={"maxlength": MESSAGE_MAX, "rows": 5})
    # A fresh key per rendered form: a double submit or a retry sends the same key.
    idempotency_key = HiddenField(default=_new_key, validators=[Optional(), Length(max=64)])


class NewConversationForm(ReplyForm):
    ward = SelectField("Which ward's team?", coerce=int,
                       validators=[DataRequired("Choose one of your wards.")])
    subject = StringField("Subject", validators=[
        DataRequired("Enter a subject."),
        Length(max=SUBJECT_MAX, message=f"The subject must be {SUBJECT_MAX} characters or fewer.")],
        render_kw={"maxlength": SUBJECT_MAX, "data-counter": "1"})
    field_order = ("ward", "subject", "body")


class ReasonForm(Form):
    reason = StringField("Reason", validators=[Length(max=500)], render_kw={"maxlength": 500})


class BlockForm(Form):
    reason = StringField("Reason (shown to the resident and kept in the audit log)", validators=[
        DataRequired("Give a reason."), Length(max=500)], render_kw={"maxlength": 500})


class PublishForm(Form):
    title = StringField("Title", validators=[DataRequired("Enter a title."), Length(max=160)],
                        render_kw={"maxlength": 160})
    question = TextAreaField("The question, in your words", validators=[
        DataRequired("Enter the question."), Length(max=MESSAGE_MAX)],
        render_kw={"maxlength": MESSAGE_MAX, "rows": 4})
    answer = TextAreaField("Your answer", validators=[
        DataRequired("Enter the answer."), Length(max=5000)],
        render_kw={"maxlength": 5000, "rows": 6})


class WardPostForm(Form):
    ward = SelectField("Ward", coerce=int, validators=[DataRequired("Choose a ward.")])
    title = StringField("Title", validators=[DataRequired("Enter a title."), Length(max=160)],
                        render_kw={"maxlength": 160})
    body = TextAreaField("Post", validators=[DataRequired("Write the post."), Length(max=5000)],
                         render_kw={"maxlength": 5000, "rows": 8})


class AdminAccessForm(Form):
    reason = TextAreaField("Why do you need to read conversations outside your teams?", validators=[
        DataRequired("Say why (it goes in the audit log)."),
        Length(min=10, max=500, message="Say why in 10 to 500 characters.")],
        render_kw={"maxlength": 500, "rows": 3})
