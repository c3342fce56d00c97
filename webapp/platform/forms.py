"""Form pieces every domain uses."""
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.csrf.core import CSRFTokenField
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget, Select

HIDDEN_DROPS = ("required", "maxlength", "minlength")  # not allowed on a hidden input


class Form(FlaskForm):
    """The base of every form: its controls render as valid HTML wherever they appear.

    - The CSRF field has no ``id``, so a page with several forms has no duplicate ids.
    - A hidden input (a field rendered with ``type="hidden"``) carries no ``required`` or
      ``maxlength`` (HTML allows them only on inputs people fill in).
    - A single-choice ``<select>`` is ``required`` only when its first option is an empty
      placeholder: otherwise one option is always chosen, and HTML refuses the attribute.
    The server-side validators are unchanged.
    """

    class Meta:
        def render_field(self, field, render_kw):
            render_kw = dict(render_kw)
            if isinstance(field, CSRFTokenField):
                render_kw.setdefault("id", False)
            if isinstance(field.widget, HiddenInput) or render_kw.get("type") == "hidden":
                for attr in HIDDEN_DROPS:
                    render_kw.setdefault(attr, False)
            if isinstance(field.widget, Select) and not field.widget.multiple \
                    and "size" not in render_kw:
                first = next(iter(field.iter_choices()), None)
                if first is None or first.value not in ("", None):
                    render_kw.setdefault("required", False)
            return super().render_field(field, render_kw)


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


class EmptyForm(Form):
    """A one-button form (RSVP, close, sign out...): only the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes, one per choice (rendered by ``_macros.choices``)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
