"""Form pieces every domain uses."""
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


class EmptyForm(FlaskForm):
    """A one-button form (RSVP, close, sign out...): only the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes, one per choice (rendered by ``_macros.choices``)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
