"""Form pieces every domain uses."""
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


def db_id(value) -> int:
    """``coerce`` for selects and checkboxes of database ids: an id past the INTEGER range
    is an invalid choice (ValueError, so a 422 next to the field) instead of an overflow
    error from the database (a 500)."""
    number = int(value)
    if not 0 <= number <= 2**31 - 1:
        raise ValueError("Not a valid choice.")
    return number


def one_line(value):
    """StringField filter: a one-line field keeps no CR/LF or runs of spaces (a title also
    becomes an email Subject, where a line break is a header break)."""
    return " ".join(value.split()) if isinstance(value, str) else value


class EmptyForm(FlaskForm):
    """A one-button form (RSVP, close, sign out...): only the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes, one per choice (rendered by ``_macros.choices``)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
