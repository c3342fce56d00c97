"""Form pieces every domain uses."""
import re
from functools import lru_cache

import wtforms.widgets
import wtforms.widgets.core
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (DateField, DateTimeLocalField, DecimalField, FloatField, IntegerField,
                     RadioField, SelectField, SelectMultipleField)
from wtforms.csrf.core import CSRFTokenField
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget, RadioInput, Select
from wtforms.widgets.core import clean_key

#: WTForms' own ``html_params`` (kept for tests/test_choice_controls.py's comparison).
WTFORMS_HTML_PARAMS = wtforms.widgets.core.html_params
_QUOTE, _QUOT = Markup('"'), Markup("&quot;")


def html_params(**kwargs) -> Markup:
    """The attributes WTForms' ``html_params`` writes, character for character, without its
    ``Markup.format`` per attribute (a string formatter walk each: on the settings page,
    with its forms, that was a tenth of the request). Installed below in WTForms' widgets,
    so every field renders through it."""
    params = []
    for k, v in sorted(kwargs.items()):
        k = clean_key(k)
        if v is True:
            params.append(escape(k))
        elif v is not False:
            params.append(f'{escape(k)}="{escape(v).replace(_QUOTE, _QUOT)}"')
    return Markup(" ".join(params))


wtforms.widgets.html_params = wtforms.widgets.core.html_params = html_params
wtforms.widgets.core.Input.html_params = staticmethod(html_params)
wtforms.widgets.core.Button.html_params = staticmethod(html_params)

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

    # {field name: message} for fields whose generic "required" message would read badly.
    required_messages: dict[str, str] = {}

    def validate(self, extra_validators=None):
        """Validate, then name the field in WTForms' generic messages (GOV.UK style:
        "Enter a title", not "This field is required." once per field)."""
        ok = super().validate(extra_validators)
        for name, field in self._fields.items():
            if field.errors:
                field.errors = [named_message(field, m, self.required_messages.get(name))
                                for m in field.errors]
        return ok


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


GENERIC_REQUIRED = ("This field is required.",)
GENERIC_NUMBER = ("Not a valid integer value.", "Not a valid decimal value.",
                  "Not a valid float value.")
GENERIC_DATE = ("Not a valid datetime value.", "Not a valid date value.")
CHOICE_FIELDS = (SelectField, SelectMultipleField, RadioField)


def field_noun(field) -> str:
    """The field's label as a noun in a sentence: "Title" → "a title", "Address" → "an
    address"; "(optional)" or "(London time)" asides dropped."""
    label = re.sub(r"\s*\([^)]*\)", "", field.label.text or field.name).strip()
    words = label.split(" ", 1)
    if words[0].isupper() and len(words[0]) > 1:  # an acronym keeps its case
        text = label
    else:
        text = label[:1].lower() + label[1:]
    if re.match(r"(a|an|the|your|which|what|how|when|who)\b", text):
        return text
    if text.endswith("s") and not text.endswith("ss"):
        return text  # "wards", "places"
    return ("an " if text[:1] in "aeiou" else "a ") + text


def named_message(field, message: str, override: str | None = None) -> str:
    """A generic WTForms message rewritten to name ``field``; others are kept."""
    if message in GENERIC_REQUIRED:
        if override:
            return override
        verb = "Choose" if isinstance(field, CHOICE_FIELDS) else "Enter"
        return f"{verb} {field_noun(field)}"
    if message in GENERIC_NUMBER and isinstance(field, (IntegerField, DecimalField, FloatField)):
        return f"{field.label.text} must be a number, like 40"
    if message in GENERIC_DATE and isinstance(field, (DateTimeLocalField, DateField)):
        return f"Enter {field_noun(field)} as a real date and time"
    return message


# --------------------------------------------------------------------------- choices, fast
def choice_controls(field) -> list[tuple[Markup, Markup]]:
    """``(input, label)`` for each choice of a radio or checkbox field: the HTML that
    iterating the field and calling each option and its label give (WTForms), without
    building an option field per choice and formatting its attributes each time (the
    settings page has dozens: that was most of its rendering). The HTML of an option is
    kept per process, keyed by everything it is made from. A field with its own
    ``render_kw``, a choice with one, or another widget goes the WTForms way."""
    widget = getattr(field, "option_widget", None)
    if type(widget) not in (CheckboxInput, RadioInput) or field.render_kw \
            or type(field.meta).render_field is not Form.Meta.render_field:
        return [(option(), option.label()) for option in field]
    flags = tuple(sorted((k, v() if callable(v) else v) for k in dir(field.flags)
                         if k in widget.validation_attrs
                         for v in (getattr(field.flags, k),)))
    found = []
    for i, choice in enumerate(field._iter_choices_normalized()):
        if choice.render_kw:
            return [(option(), option.label()) for option in field]
        option_id = f"{field.id}-{i}"
        label = choice.label or choice.value
        found.append((_option_input(widget.input_type, field.name, option_id, str(choice.value),
                                    bool(choice.selected), flags),
                      _option_label(option_id, label, type(label))))
    return found


@lru_cache(maxsize=4096)
def _option_input(input_type: str, name: str, option_id: str, value: str, checked: bool,
                  flags: tuple) -> Markup:
    kwargs = {"id": option_id, "type": input_type, "value": value}
    if checked:
        kwargs["checked"] = True
    for key, flag in flags:
        kwargs.setdefault(key, flag)
    return Markup(f"<input {html_params(name=name, **kwargs)}>")


@lru_cache(maxsize=4096)
def _option_label(option_id: str, text, kind) -> Markup:
    return Markup(f"<label {html_params(**{'for': option_id})}>{Markup.escape(text)}</label>")
