"""Forms of the admin pages."""
from wtforms import BooleanField, EmailField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.accounts.models import OFFICER_RANKS
from webapp.platform.forms import Form


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes (works without JS, keyboard friendly)."""
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


RANK_CHOICES = [SelectChoice("", "None (administrator)")] + \
    [SelectChoice(code, label) for code, label in OFFICER_RANKS.items()]


class OfficerForm(Form):
    email = EmailField("Work email", validators=[DataRequired("Enter the work email."),
                                                 Email("Enter a valid email address."),
                                                 Length(max=254)])
    display_name = StringField("Name (shown to residents)", validators=[
        DataRequired("Enter the name."), Length(max=60)], render_kw={"maxlength": 60})
    rank = SelectField("Rank or role", choices=RANK_CHOICES, validators=[Optional()])
    shoulder_number = StringField("Shoulder number (optional)", validators=[Optional(), Length(max=16)],
                                  render_kw={"maxlength": 16})
    is_admin = BooleanField("Administrator (manages officers, teams and the audit log)")
    teams = CheckboxesField("Teams", coerce=int, validators=[Optional()])


class TeamForm(Form):
    name = StringField("Team name", validators=[DataRequired("Enter the team's name."), Length(max=120)],
                       render_kw={"maxlength": 120})
    wards = TextAreaField("Wards covered (ONS codes, e.g. E05013806, separated by commas or lines)",
                          validators=[Length(max=5000)], render_kw={"rows": 4})
    members = CheckboxesField("Officers in the team", coerce=int, validators=[Optional()])


