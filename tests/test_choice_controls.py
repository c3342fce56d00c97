"""``choice_controls`` (the ``choices`` macro's radios and checkboxes, built without an
option field per choice) gives exactly the HTML WTForms gives, for every kind of field and
state it takes the fast way, and falls back to WTForms otherwise."""
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import InputRequired

from webapp.accounts.forms import ConcernsForm, UpdatesForm
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.forms import Form, MultiCheckboxField, choice_controls


def wtforms_way(field):
    return [(option(), option.label()) for option in field]


class _Odd(Form):
    required_radio = RadioField("Pick", choices=[C("a", "A & B"), C("b", Markup("<em>B</em>"))],
                                validators=[InputRequired()])
    boxes = MultiCheckboxField("Boxes", choices=[C(1, "One"), C(2, 'Two "quoted"')], coerce=int)
    own_kw = MultiCheckboxField("Own", choices=[C("x", "X")], render_kw={"class": "odd"})


def test_same_html_as_wtforms(app):
    with app.test_request_context("/"):
        forms = [UpdatesForm(), ConcernsForm(), _Odd(),
                 UpdatesForm(formdata=MultiDict([("categories", next(iter(CATEGORIES))),
                                                 ("email_frequency", "digest")])),
                 _Odd(formdata=MultiDict([("required_radio", "b"), ("boxes", "2"),
                                          ("own_kw", "x")]))]
        for form in forms:
            for field in (form.categories, form.email_frequency) if isinstance(form, UpdatesForm) \
                    else (form.concerns,) if isinstance(form, ConcernsForm) \
                    else (form.required_radio, form.boxes, form.own_kw):
                assert choice_controls(field) == wtforms_way(field), field.name
        checked = forms[3].categories
        assert any("checked" in control for control, _ in choice_controls(checked))
        assert 'required' in choice_controls(forms[2].required_radio)[0][0]


def test_a_change_of_choices_shows_at_once(app):
    with app.test_request_context("/"):
        form = _Odd()
        before = choice_controls(form.boxes)
        form.boxes.choices = [C(1, "One"), C(3, "Three")]
        after = choice_controls(form.boxes)
        assert before != after and after == wtforms_way(form.boxes)


def test_html_params_same_as_wtforms():
    """The html_params installed in WTForms' widgets writes what WTForms' own writes."""
    import wtforms.widgets.core

    from webapp.platform.forms import WTFORMS_HTML_PARAMS, html_params
    cases = [{}, {"name": "q", "id": "f", "class_": "text"},
             {"checked": True, "readonly": False, "name": "a<b", "abc": 'say "hi" & go'},
             {"data_foo_bar": 1, "aria_described_by": "x y", "for_": "id-1"},
             {"value": Markup('<em>"ok"</em>'), "maxlength": 80, "min": 0.5, "x": None},
             {"odd<key": "v", "required": True, "disabled": False}]
    for kwargs in cases:
        mine, theirs = html_params(**kwargs), WTFORMS_HTML_PARAMS(**kwargs)
        assert mine == theirs and type(mine) is type(theirs) is Markup, kwargs
    assert wtforms.widgets.core.html_params is html_params
    assert wtforms.widgets.core.Input.html_params is html_params
