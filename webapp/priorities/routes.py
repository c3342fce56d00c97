"""Views of the priorities domain: the public "Our priorities" pages, open data and
statistics; the officers' "Set priorities" page and its forms; conversation topic tags;
residents' answers to "ask residents again" rounds."""
from __future__ import annotations

import json

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.extensions import db
from webapp.platform.htmx import is_htmx, render, render_fragment
from webapp.platform.pagestore import for_visitors
from webapp.priorities import bp, services, stats
from webapp.priorities.conversation_side import officer_side
from webapp.priorities.feeds import (ATOM_TABLES, atom_feed, police_uk_priorities,
                                     wardline_priorities)
from webapp.priorities.set_page import set_page_lists
from webapp.priorities.forms import (ActionForm, CloseForm, PriorityForm, RoundAnswerForm,
                                     RoundForm, TopicTagForm)
from webapp.platform.security import officer_required, resident_required
from webapp.wards.services import covered_wards, get_ward
from webapp.platform.taxonomy import CATEGORIES
from webapp.accounts.services import AnswerError, survey_concerns
from webapp.threads.services import get_conversation


def _ward_or_404(code: str):
    ward = get_ward(code)
    if ward is None:
        abort(404)
    return ward


# --------------------------------------------------------------------------- ward home section
@bp.app_template_global()
def ward_priorities_section(ward) -> dict:
    """Context of the ward home's "Our priorities" section."""
    current = services.current_priorities(ward.id)
    topics = sorted({t for p in current for t in p.topics})
    return {"current": current, "named": services.residents_named(ward.id, topics),
            "has_earlier": bool(services.earlier_priorities(ward.id)),
            "may_set": current_user.is_authenticated and current_user.is_staff
            and current_user.is_fully_authenticated and services.may_edit(current_user, ward.id)}


bp.add_app_template_global(services.link_url, "priority_link_url")


# The officer's conversation page (a threads template): the topic form, the incident
# aside and the messaging block, in one statement.
bp.add_app_template_global(officer_side, "officer_conversation_side")


# --------------------------------------------------------------------------- public pages
@bp.get("/wards/<code>/priorities")
def ward_priorities(code):
    """Current and earlier priorities of a ward, with every action and outcome."""
    ward = _ward_or_404(code)
    current, earlier = services.ward_priorities(ward.id)
    topics = sorted({t for p in current + earlier for t in p.topics})
    return render("priorities/ward.html", ward=ward, current=current, earlier=earlier,
                  named=services.residents_named(ward.id, topics))


@bp.get("/wards/<code>/priorities/<int:priority_id>")
def priority_page(code, priority_id):
    ward = _ward_or_404(code)
    priority = services.public_priority(ward.id, priority_id)
    if priority is None:
        abort(404)
    return render("priorities/priority.html", ward=ward, priority=priority,
                  named=services.residents_named(ward.id, priority.topics))


def _json(data, status: int = 200):
    response = make_response(json.dumps(data, ensure_ascii=False, indent=1), status)
    response.mimetype = "application/json"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/wards/<code>/priorities.json")
def priorities_json(code):
    """police.uk's neighbourhood priorities shape."""
    return _json(police_uk_priorities(_ward_or_404(code)))


@bp.get("/wards/<code>/priorities.wardline.json")
def priorities_wardline_json(code):
    """Wardline's richer JSON of the same priorities."""
    return _json(wardline_priorities(_ward_or_404(code)))


def _atom(body: bytes):
    response = make_response(body)
    response.mimetype = "application/atom+xml"
    return response


@bp.get("/wards/<code>/feed.atom")
@for_visitors(*ATOM_TABLES)
def ward_feed(code):
    ward = _ward_or_404(code)
    base = current_app.config["BASE_URL"]
    return _atom(atom_feed(f"Wardline: {ward.name}, {ward.borough.name}",
                           f"{base}/wards/{ward.code}/feed.atom", f"{base}/wards/{ward.code}",
                           [ward.id]))


@bp.get("/feed.atom")
@for_visitors(*ATOM_TABLES)
def london_feed():
    base = current_app.config["BASE_URL"]
    return _atom(atom_feed("Wardline: all of London", f"{base}/feed.atom", f"{base}/stats", None))


@bp.get("/wards/<code>/stats")
def ward_stats(code):
    ward = _ward_or_404(code)
    figures = stats.ward_stats(ward)
    chart = stats.bar_chart([(label, figures.alerts.get(cat, 0)) for cat, label in CATEGORIES.items()])
    return render("priorities/ward_stats.html", ward=ward, s=figures, chart=chart,
                  floor=services.min_count())


@bp.get("/stats")
def london_stats():
    sort = request.args.get("sort", "borough")
    sort = sort if sort in stats.SORT_KEYS else "borough"
    descending = request.args.get("dir") == "desc"
    rows = stats.london_stats(sort, descending)
    by_name = sorted(rows, key=lambda r: r["borough"].name)
    reply_chart = stats.bar_chart([(r["borough"].name, r["stats"].median_reply_hours) for r in by_name])
    answered_chart = stats.bar_chart([(r["borough"].name, round(100 * r["stats"].answered_share)
                                       if r["stats"].answered_share is not None else None)
                                      for r in by_name])
    return render("priorities/london_stats.html", rows=rows, sort=sort, descending=descending,
                  columns=stats.SORT_KEYS, reply_chart=reply_chart, answered_chart=answered_chart,
                  floor=services.min_count())


# --------------------------------------------------------------------------- residents: rounds
@bp.route("/rounds/<int:round_id>", methods=["GET", "POST"])
@resident_required
def round_answer(round_id):
    """One-tap "still these" or change the top three, for a round of the home ward."""
    rnd = services.round_for_resident(current_user, round_id)
    if rnd is None:
        abort(404)
    current = [c.topic for c in survey_concerns(current_user)]
    other = next((c.text for c in survey_concerns(current_user) if c.topic == "other"), "")
    form = RoundAnswerForm(concerns=current, other_text=other)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            confirm = "confirm" in request.form
            try:
                services.answer_round(current_user, rnd, None if confirm else form.concerns.data,
                                      form.other_text.data)
                db.session.commit()
            except AnswerError as exc:
                db.session.rollback()
                target = form.other_text if exc.field == "other_text" else form.concerns
                target.errors = [exc.message]
            else:
                flash("Thank you: your ward team will see your answer.", "success")
                return redirect(url_for("priorities.round_answer", round_id=rnd.id), 303)
        status = 422
    return render("priorities/round.html", status=status, rnd=rnd, form=form, current=current,
                  answer=services.round_answer(current_user, rnd))


# --------------------------------------------------------------------------- officers
@bp.get("/officer/priorities")
@officer_required
def officer_index():
    wards = covered_wards(current_user)
    counts = services.current_counts([w.id for w in wards[:200]])
    return render("priorities/officer_index.html", wards=wards[:200], counts=counts,
                  more=max(len(wards) - 200, 0))


def _covered_ward_or_404(code: str):
    ward = get_ward(code, covered_by=current_user) if current_user.is_staff else None
    if ward is None:
        abort(404)
    return ward


def _action_form(priority, submitted: bool = False, links=None):
    """The action form of one priority card (prefixed: a page has one per priority);
    ``links``: what an action may link to, when the page has read them already."""
    prefix = f"p{priority.id}"
    form = ActionForm(prefix=prefix) if submitted else ActionForm(formdata=None, prefix=prefix)
    if links is None:
        links = services.link_choices(current_user, priority.ward_id)
    form.link.choices = [SelectChoice("", "Nothing")] + [
        SelectChoice(value, label) for value, label in links]
    return form


def _set_page(ward, *, status=200, priority_form=None, action_forms=None, round_form=None):
    """The page in six statements: the officer, the ward (if covered), its priorities with
    their topics, their actions, the page's lists, and what residents said."""
    current, earlier = services.ward_priorities(ward.id)
    lists = set_page_lists(ward.id)  # the ward is covered: _covered_ward_or_404
    action_forms = dict(action_forms or {})
    for p in current:
        action_forms.setdefault(p.id, _action_form(p, links=lists.links))
    ranking, results = services.residents_said(ward.id, [r.id for r in lists.rounds])
    return render("priorities/set.html", status=status, ward=ward, current=current,
                  earlier=earlier[:5], ranking=ranking, free_text=lists.free_text,
                  form=priority_form or PriorityForm(formdata=None), action_forms=action_forms,
                  round_form=round_form or RoundForm(formdata=None), rounds=lists.rounds,
                  results=results, limit=services.max_priorities())


def _apply_error(form, exc):
    target = getattr(form, exc.field, None)
    if target is None:
        target = next(iter(f for f in form if f.name != "csrf_token"))
    target.errors = list(target.errors or []) + [exc.message]


@bp.route("/officer/wards/<code>/priorities", methods=["GET", "POST"])
@officer_required
def set_priorities(code):
    """What residents said, ranked; the current priorities with their actions; publish a
    new one; ask residents again."""
    ward = _covered_ward_or_404(code)
    if request.method == "GET":
        return _set_page(ward)
    form = PriorityForm()
    if form.validate_on_submit():
        try:
            priority = services.create_priority(current_user, ward, services.PriorityInput(
                form.title.data, form.commitment.data, form.topics.data or [], form.review_on.data))
            db.session.commit()
        except services.PriorityError as exc:
            db.session.rollback()
            _apply_error(form, exc)
        else:
            flash("Priority published. Residents who raised it are being told.", "success")
            return redirect(url_for("priorities.set_priorities", code=ward.code) +
                            f"#priority-{priority.id}", 303)
    return _set_page(ward, status=422, priority_form=form)


def _editable_or_404(priority_id):
    priority = services.get_priority_for(current_user, priority_id)
    if priority is None:
        abort(404)
    return priority


@bp.route("/officer/priorities/<int:priority_id>/edit", methods=["GET", "POST"])
@officer_required
def edit_priority(priority_id):
    priority = _editable_or_404(priority_id)
    if priority.status != "current":
        abort(404)
    form = PriorityForm(formdata=None, obj=priority, topics=priority.topics)
    status = 200
    if request.method == "POST":
        form = PriorityForm()
        if form.validate_on_submit():
            try:
                services.update_priority(current_user, priority, services.PriorityInput(
                    form.title.data, form.commitment.data, form.topics.data or [],
                    form.review_on.data))
                db.session.commit()
            except services.PriorityError as exc:
                db.session.rollback()
                _apply_error(form, exc)
            else:
                flash("Priority updated.", "success")
                return redirect(url_for("priorities.set_priorities", code=priority.ward.code) +
                                f"#priority-{priority.id}", 303)
        status = 422
    return render("priorities/edit.html", status=status, priority=priority, form=form,
                  close_form=CloseForm(formdata=None))


@bp.post("/officer/priorities/<int:priority_id>/actions")
@officer_required
def add_action(priority_id):
    """Add a dated action. htmx: the priority's card comes back at once (fresh form)."""
    priority = _editable_or_404(priority_id)
    form = _action_form(priority, submitted=True)
    if form.validate_on_submit():
        try:
            services.add_action(current_user, priority, services.ActionInput(
                form.body.data, form.acted_on.data, form.link.data or ""))
            db.session.commit()
        except services.PriorityError as exc:
            db.session.rollback()
            _apply_error(form, exc)
        else:
            db.session.refresh(priority)
            if is_htmx():
                return render_fragment("priorities/_officer_priority.html",
                                       p=priority, action_form=_action_form(priority),
                                       added=True)
            flash("Action added. Residents who raised it are being told.", "success")
            return redirect(url_for("priorities.set_priorities", code=priority.ward.code) +
                            f"#priority-{priority.id}", 303)
    priority = _editable_or_404(priority_id)
    if is_htmx():
        return render_fragment("priorities/_officer_priority.html",
                               status=422, p=priority, action_form=form)
    return _set_page(priority.ward, status=422, action_forms={priority.id: form})


@bp.post("/officer/priorities/<int:priority_id>/close")
@officer_required
def close_priority(priority_id):
    priority = _editable_or_404(priority_id)
    if priority.status != "current":
        abort(404)
    close_form = CloseForm()
    if close_form.validate_on_submit():
        try:
            services.close_priority(current_user, priority, close_form.outcome.data)
            db.session.commit()
        except services.PriorityError as exc:
            db.session.rollback()
            _apply_error(close_form, exc)
        else:
            flash("Priority closed with its outcome.", "success")
            return redirect(url_for("priorities.set_priorities", code=priority.ward.code), 303)
    priority = _editable_or_404(priority_id)
    form = PriorityForm(formdata=None, obj=priority, topics=priority.topics)
    return render("priorities/edit.html", status=422, priority=priority, form=form,
                  close_form=close_form)


@bp.post("/officer/wards/<code>/rounds")
@officer_required
def open_round(code):
    ward = _covered_ward_or_404(code)
    form = RoundForm()
    if form.validate_on_submit():
        try:
            services.open_round(current_user, ward, form.question.data)
            db.session.commit()
        except services.PriorityError as exc:
            db.session.rollback()
            _apply_error(form, exc)
        else:
            flash("Round opened: the ward's residents are invited to answer.", "success")
            return redirect(url_for("priorities.set_priorities", code=ward.code) + "#rounds", 303)
    return _set_page(ward, status=422, round_form=form)


@bp.post("/officer/rounds/<int:round_id>/close")
@officer_required
def close_round(round_id):
    rnd = services.get_round_for(current_user, round_id)
    if rnd is None:
        abort(404)
    services.close_round(current_user, rnd)
    db.session.commit()
    flash("Round closed.", "success")
    return redirect(url_for("priorities.set_priorities", code=rnd.ward.code) + "#rounds", 303)


@bp.post("/officer/messages/<int:conversation_id>/topic")
@officer_required
def tag_conversation(conversation_id):
    """One tap: the concern topic of a conversation (it then counts for its ward)."""
    conversation = get_conversation(current_user, conversation_id)
    if conversation is None:
        abort(404)
    form = TopicTagForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.tag_conversation(current_user, conversation, form.topic.data or "")
            db.session.commit()
        except services.PriorityError as exc:
            db.session.rollback()
            _apply_error(form, exc)
            status = 422
        else:
            if not is_htmx():
                flash("Topic saved.", "success")
                return redirect(url_for("threads.officer_conversation",
                                        conversation_id=conversation.id), 303)
    else:
        status = 422
    return render("priorities/tag.html", "priorities/_tag_form.html", status=status,
                  conversation=conversation, tag_form=form, saved=status == 200)
