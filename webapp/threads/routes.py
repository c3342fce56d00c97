"""Views of the threads domain: residents' messages, the officer inbox, ward posts.

Views parse, check access through the services' scope helpers, call a service and render.
A conversation someone may not see is a 404 (not 403), so ids reveal nothing.
"""
from __future__ import annotations

import re

from flask import (abort, current_app, flash, make_response, redirect, render_template, request,
                   url_for)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.extensions import db, limiter
from webapp.posts import PostError, create_ward_post
from webapp.platform.htmx import hx_redirect, is_htmx, render
from webapp.platform.params import int_arg, int_value, page_arg
from webapp.platform.security import admin_required, officer_required, resident_required
from webapp.platform.forms import EmptyForm
from webapp.platform.db import write_transaction
from webapp.threads import bp, services
from webapp.threads.forms import (AdminAccessForm, BlockForm, NewConversationForm, PublishForm,
                                  ReasonForm, ReplyForm, WardPostForm)
from webapp.threads.models import STATUSES
from webapp.wards.services import covered_wards
from webapp.accounts import ward_team_members

# Residents' sending limit, shared by "new conversation" and "reply" (officers exempt).
RESIDENT_SEND_LIMIT = "10 per minute;60 per day"


def _sender_key() -> str:
    return f"user:{current_user.get_id() or request.remote_addr}"


def _too_many_sends(_limit):
    """htmx does not swap a 429: tell the sender in the form instead (plain POSTs get the
    429 page)."""
    if not is_htmx():
        return None
    response = make_response(render_template("threads/_send_status.html",
                                             error="You are sending messages too quickly. "
                                                   "Please wait a minute and try again."), 422)
    response.headers["HX-Retarget"] = "#send-status"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


send_limit = limiter.shared_limit(RESIDENT_SEND_LIMIT, scope="resident-messages",
                                  key_func=_sender_key, on_breach=_too_many_sends,
                                  exempt_when=lambda: not (current_user.is_authenticated
                                                           and current_user.is_resident))


_int_value, _int_arg = int_value, int_arg  # webapp.platform.params: one parser for every integer


def _idempotency_key(form) -> str | None:
    return request.headers.get("Idempotency-Key") or form.idempotency_key.data


def _conversation_or_404(conversation_id: int):
    conversation = services.get_conversation(current_user, conversation_id)
    if conversation is None:
        if request.method == "GET" and current_user.role == "admin" \
                and services.admin_access_until(current_user) is None:
            # An admin outside their teams: the explicit "view as admin" step first.
            return abort(redirect(url_for("threads.admin_access", next=request.path), 303))
        abort(404)
    return conversation


# --------------------------------------------------------------------------- shared bits
def _conversation_context(conversation, *, officer: bool, form=None, error=None):
    before = _int_arg("before")
    messages, has_earlier = services.messages_page(conversation, before=before)
    return {"conversation": conversation, "messages": messages, "has_earlier": has_earlier,
            "before": before, "officer_view": officer, "form": form or ReplyForm(formdata=None),
            "error": error, "block": services.block_for(conversation.resident),
            "last_id": conversation.last_message_id if not before else None,
            "empty_form": EmptyForm(), "urls": _urls(conversation, officer),
            "block_form": BlockForm(formdata=None), "reason_form": ReasonForm(formdata=None)}


def _urls(conversation, officer: bool) -> dict:
    prefix = "threads.officer_" if officer else "threads."
    return {"page": url_for(prefix + "conversation", conversation_id=conversation.id),
            "send": url_for(prefix + "send", conversation_id=conversation.id),
            "poll": url_for(prefix + "poll", conversation_id=conversation.id),
            "earlier": url_for(prefix + "earlier", conversation_id=conversation.id)}


def _send(conversation, *, officer: bool):
    """Append a message: htmx gets the new messages and a fresh form; a plain POST is
    redirected back to the conversation (POST/redirect/GET)."""
    form = ReplyForm()
    error = None
    if form.validate_on_submit():
        try:
            with write_transaction():
                message, _created = services.add_message(
                    conversation, current_user, form.body.data, _idempotency_key(form))
        except (services.ThreadError, PostError) as exc:
            error = str(exc)
        else:
            if not is_htmx():
                return redirect(_urls(conversation, officer)["page"] + f"#m{message.id}", 303)
            after = _int_value(request.values.get("after"))
            if not after:
                after = message.id - 1
            conversation = services.get_conversation(current_user, conversation.id)
            return render("threads/_sent.html", "threads/_sent.html",
                          conversation=conversation, officer_view=officer,
                          messages=services.messages_after(conversation, after),
                          last_id=conversation.last_message_id,
                          form=ReplyForm(formdata=None), urls=_urls(conversation, officer))
    ctx = _conversation_context(conversation, officer=officer, form=form, error=error)
    if is_htmx():
        response = render("threads/_reply_form.html", "threads/_reply_form.html", status=422, **ctx)
        response.headers["HX-Retarget"] = "#reply-form"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    page = "threads/officer_conversation.html" if officer else "threads/conversation.html"
    return render(page, status=422, **ctx)


def _poll(conversation_id: int, *, officer: bool):
    """Answer a poll: 204 with no body when nothing is new (one query), else the new
    messages and the poller with its new position."""
    after = _int_arg("after", 0) or 0
    has_new = services.poll(current_user, conversation_id, after)
    if has_new is None:
        abort(404)
    if not has_new:
        response = make_response("", 204)
        response.headers["Cache-Control"] = "private, no-store"
        return response
    services.mark_read(_conversation_or_404(conversation_id), current_user)
    db.session.commit()
    # Load after the commit (which expires what was loaded), so rendering costs no queries.
    conversation = _conversation_or_404(conversation_id)
    messages = services.messages_after(conversation, after)
    return render("threads/_poll.html", "threads/_poll.html", conversation=conversation,
                  messages=messages, officer_view=officer, last_id=conversation.last_message_id,
                  urls=_urls(conversation, officer), empty_form=EmptyForm())


def _earlier(conversation_id: int, *, officer: bool):
    """The page of messages before ``?before=`` (htmx "show earlier"; plain link: the page)."""
    conversation = _conversation_or_404(conversation_id)
    ctx = _conversation_context(conversation, officer=officer)
    if not is_htmx():
        return redirect(ctx["urls"]["page"] + f"?before={ctx['before'] or 0}", 303)
    return render("threads/_earlier.html", "threads/_earlier.html", **ctx)


# --------------------------------------------------------------------------- residents
def _new_form():
    """The new-conversation form, its ward choices limited to my wards."""
    form = NewConversationForm()
    wards = services.resident_wards(current_user)
    form.ward.choices = [SelectChoice(w.id, w.name) for w in wards]
    if request.method == "GET" and wards:
        wanted = _int_arg("ward")
        form.ward.data = wanted if wanted in {w.id for w in wards} else wards[0].id
    return form


@bp.get("/messages")
@resident_required
def messages():
    """My conversations and a form to start one."""
    form = _new_form()
    return render("threads/messages.html", conversations=services.resident_conversations(current_user),
                  form=form, block=services.block_for(current_user), error=None)


@bp.post("/messages")
@resident_required
@send_limit
def start():
    """Start a conversation with the team of one of my wards."""
    form = _new_form()
    error = None
    if form.validate_on_submit():
        ward = next((w for w in services.resident_wards(current_user) if w.id == form.ward.data), None)
        try:
            with write_transaction():
                conversation = services.start_conversation(
                    current_user, ward, form.subject.data, form.body.data, _idempotency_key(form))
        except (services.ThreadError, PostError) as exc:
            error = str(exc)
        else:
            return hx_redirect(url_for("threads.conversation", conversation_id=conversation.id))
    return render("threads/messages.html", "threads/_new_form.html", status=422,
                  conversations=services.resident_conversations(current_user), form=form,
                  block=services.block_for(current_user), error=error)


@bp.get("/messages/<int:conversation_id>")
@resident_required
def conversation(conversation_id):
    services.mark_read(_conversation_or_404(conversation_id), current_user)
    db.session.commit()
    # Load after the commit (which expires what was loaded), so rendering costs no queries.
    ctx = _conversation_context(_conversation_or_404(conversation_id), officer=False)
    return render("threads/conversation.html", **ctx)


@bp.post("/messages/<int:conversation_id>")
@resident_required
@send_limit
def send(conversation_id):
    return _send(_conversation_or_404(conversation_id), officer=False)


@bp.get("/messages/<int:conversation_id>/poll")
@resident_required
def poll(conversation_id):
    return _poll(conversation_id, officer=False)


@bp.get("/messages/<int:conversation_id>/earlier")
@resident_required
def earlier(conversation_id):
    return _earlier(conversation_id, officer=False)


# --------------------------------------------------------------------------- officers
@bp.get("/officer/inbox")
@officer_required
def inbox():
    """Conversations of the wards I cover, oldest awaiting first; filter by ward/status."""
    wards = covered_wards(current_user)
    ward_id = _int_arg("ward")
    if ward_id not in {w.id for w in wards}:
        ward_id = None
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    page = page_arg()
    rows, total = services.inbox(current_user, ward_id=ward_id, status=status, page=page)
    pages = max((total + services.INBOX_PAGE_SIZE - 1) // services.INBOX_PAGE_SIZE, 1)
    return render("threads/inbox.html", "threads/_inbox_list.html", rows=rows, total=total,
                  current_page=page, pages=pages, wards=wards, ward_id=ward_id,
                  # not ``status``: render() takes that as the HTTP status
                  status_filter=status, statuses=STATUSES,
                  admin_until=services.admin_access_until(current_user))


@bp.route("/officer/inbox/admin-access", methods=["GET", "POST"])
@admin_required
def admin_access():
    """The explicit "view as admin" step: a reason (audited), then every conversation in
    London for ``ADMIN_CONVERSATION_ACCESS_MINUTES``."""
    minutes = current_app.config["ADMIN_CONVERSATION_ACCESS_MINUTES"]
    form = AdminAccessForm()
    error = None
    if form.validate_on_submit():
        try:
            services.grant_admin_access(current_user, form.reason.data, minutes)
            db.session.commit()
        except (services.ThreadError, PostError) as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash(f"You can read every conversation for {minutes} minutes.", "success")
            wanted = request.args.get("next") or ""
            back = wanted if re.fullmatch(r"/officer/messages/\d{1,10}", wanted) else None
            return redirect(back or url_for("threads.inbox"), 303)
    status = 422 if (form.errors or error) else 200
    return render("threads/admin_access.html", status=status, form=form, error=error,
                  minutes=minutes, until=services.admin_access_until(current_user))


@bp.post("/officer/inbox/admin-access/end")
@admin_required
def admin_access_end():
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.end_admin_access(current_user)
    db.session.commit()
    flash("You now see only your teams' conversations.", "success")
    return redirect(url_for("threads.inbox"), 303)


@bp.get("/officer/messages/<int:conversation_id>")
@officer_required
def officer_conversation(conversation_id):
    conv = _conversation_or_404(conversation_id)
    services.record_view(conv, current_user)
    services.mark_read(conv, current_user)
    db.session.commit()
    ctx = _conversation_context(_conversation_or_404(conversation_id), officer=True)
    return render("threads/officer_conversation.html", **ctx)


@bp.post("/officer/messages/<int:conversation_id>")
@officer_required
def officer_send(conversation_id):
    return _send(_conversation_or_404(conversation_id), officer=True)


@bp.get("/officer/messages/<int:conversation_id>/poll")
@officer_required
def officer_poll(conversation_id):
    return _poll(conversation_id, officer=True)


@bp.get("/officer/messages/<int:conversation_id>/earlier")
@officer_required
def officer_earlier(conversation_id):
    return _earlier(conversation_id, officer=True)


_ACTIONS = {"close": (services.close_conversation, "Conversation closed."),
            "reopen": (services.reopen_conversation, "Conversation reopened."),
            "take": (services.take_conversation, "Assigned to you.")}


@bp.post("/officer/messages/<int:conversation_id>/<any(close, reopen, take):action>")
@officer_required
def officer_action(conversation_id, action):
    """Close, reopen or take a conversation."""
    conv = _conversation_or_404(conversation_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    func, message = _ACTIONS[action]
    func(conv, current_user)
    db.session.commit()
    flash(message, "success")
    return hx_redirect(url_for("threads.officer_conversation", conversation_id=conv.id))


@bp.post("/officer/messages/<int:conversation_id>/block")
@officer_required
def officer_block(conversation_id):
    """Stop the resident from messaging (with a reason), or lift that."""
    conv = _conversation_or_404(conversation_id)
    if request.form.get("lift"):
        if not EmptyForm().validate_on_submit():
            abort(400)
        services.unblock_resident(conv.resident, current_user)
        db.session.commit()
        flash("The resident can send messages again.", "success")
        return hx_redirect(url_for("threads.officer_conversation", conversation_id=conv.id))
    form = BlockForm()
    if form.validate_on_submit():
        services.block_resident(conv.resident, current_user, form.reason.data)
        db.session.commit()
        flash("The resident can no longer send messages.", "success")
        return hx_redirect(url_for("threads.officer_conversation", conversation_id=conv.id))
    ctx = _conversation_context(conv, officer=True)
    ctx["block_form"] = form
    return render("threads/officer_conversation.html", status=422, **ctx)


@bp.post("/officer/message/<int:message_id>/<any(hide, unhide):action>")
@officer_required
def officer_moderate(message_id, action):
    """Hide an abusive message from the resident (kept for the record), or show it again."""
    message = services.get_message(current_user, message_id)
    if message is None:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        # A reason over the limit: the conversation again, the error and the text kept next
        # to that message's field (422).
        ctx = _conversation_context(_conversation_or_404(message.conversation_id), officer=True)
        ctx["hide_error"] = {"id": message.id, "message": form.reason.errors[0],
                             "value": form.reason.data}
        return render("threads/officer_conversation.html", status=422, **ctx)
    if action == "hide":
        services.hide_message(message, current_user, form.reason.data or "")
        flash("Message hidden from the resident.", "success")
    else:
        services.unhide_message(message, current_user)
        flash("Message shown again.", "success")
    db.session.commit()
    return hx_redirect(url_for("threads.officer_conversation",
                               conversation_id=message.conversation_id) + f"#m{message.id}")


@bp.route("/officer/messages/<int:conversation_id>/publish", methods=["GET", "POST"])
@officer_required
def officer_publish(conversation_id):
    """Publish the question and answer to the ward, in the officer's words, anonymously."""
    conv = _conversation_or_404(conversation_id)
    form = PublishForm(data=services.default_publication(conv) if request.method == "GET" else None)
    error = None
    if form.validate_on_submit():
        try:
            post = services.publish_answer(conv, current_user, form.title.data,
                                           form.question.data, form.answer.data)
            db.session.commit()
        except (services.ThreadError, PostError) as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Published to the ward.", "success")
            return redirect(url_for("posts.ward_post", code=conv.ward.code, post_id=post.id), 303)
    status = 422 if (form.errors or error) else 200
    return render("threads/publish.html", status=status, conversation=conv, form=form, error=error)


@bp.route("/officer/posts/new", methods=["GET", "POST"])
@officer_required
def officer_new_post():
    """Write a post straight to one of my wards."""
    form = WardPostForm()
    wards = covered_wards(current_user)
    form.ward.choices = [SelectChoice(w.id, f"{w.name} ({w.borough.name})") for w in wards]
    error = None
    if form.validate_on_submit():
        ward = next((w for w in wards if w.id == form.ward.data), None)
        if ward is None:
            abort(404)
        try:
            post = create_ward_post(ward, current_user, form.title.data, form.body.data)
            db.session.commit()
        except (services.ThreadError, PostError) as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Posted to the ward.", "success")
            return redirect(url_for("posts.ward_post", code=ward.code, post_id=post.id), 303)
    status = 422 if (form.errors or error) else 200
    return render("threads/new_post.html", status=status, form=form, error=error)


@bp.app_template_global()
def ward_team_for(ward):
    """Officers shown as "Your ward team" on a ward home (used by the partial)."""
    return ward_team_members(ward) if ward is not None else []
