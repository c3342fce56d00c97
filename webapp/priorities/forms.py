"""Forms of the priorities domain. The services check the rules (and say which field is
wrong); these only read the input."""
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from webapp.platform.forms import Form, MultiCheckboxField, one_line
from webapp.priorities.models import (ACTION_MAX, COMMITMENT_MAX, OUTCOME_MAX, QUESTION_MAX,
                                      TITLE_MAX)
from webapp.platform.taxonomy import CONCERN_TEXT_MAX, CONCERN_TOPICS

TOPIC_CHOICES = [SelectChoice(code, label) for code, label in CONCERN_TOPICS.items()]


class PriorityForm(Form):
    title = StringField("Priority", filters=[one_line],
                        render_kw={"maxlength": TITLE_MAX, "autocomplete": "off"})
    commitment = TextAreaField("What the team commits to do",
                               render_kw={"maxlength": COMMITMENT_MAX, "rows": 4})
    topics = MultiCheckboxField("Which concerns it answers", choices=TOPIC_CHOICES)
    review_on = DateField("Review date", validators=[Optional()])


class ActionForm(Form):
    body = StringField("What was done", filters=[one_line],
                       render_kw={"maxlength": ACTION_MAX, "autocomplete": "off"})
    acted_on = DateField("Date (blank for today)", validators=[Optional()])
    link = SelectField("Link (optional)", choices=[SelectChoice("", "Nothing")], validate_choice=False)


class CloseForm(Form):
    outcome = TextAreaField("Outcome (public)", render_kw={"maxlength": OUTCOME_MAX, "rows": 4})


class RoundForm(Form):
    question = StringField("Question", filters=[one_line], default="What matters most here this quarter?",
                           render_kw={"maxlength": QUESTION_MAX})


class TopicTagForm(Form):
    topic = SelectField("Concern topic", choices=[SelectChoice("", "No topic")] + TOPIC_CHOICES,
                        validate_choice=False)


class RoundAnswerForm(Form):
    concerns = MultiCheckboxField("Choose up to three", choices=TOPIC_CHOICES)
    other_text = TextAreaField("Something else: tell us in your own words",
                               render_kw={"maxlength": CONCERN_TEXT_MAX, "rows": 3})
