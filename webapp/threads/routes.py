"""Views of the threads domain: residents' messages, the officer inbox, ward posts.

Views parse, check access through the services' scope helpers, call a service and render.
A conversation someone may not see is a 404 (not 403), so ids reveal nothing.
"""
from __future__ import annotations


from flask import (abort, flash, make_response, redirect, render_template, request,
                   url_for)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.extensions import db, limiter
from webapp.posts import PostError
from webapp.platform.pagestore import for_each_session
from webapp.platform.htmx import hx_redirect, is_htmx, render, render_fragment
from webapp.platform.params import int_arg, int_value
from webapp.platform.security import resident_required
from webapp.platform.forms import EmptyForm
from webapp.platform.db import commit_keeping_loaded, write_transaction
from webapp.platform.guard import intercept
from webapp.threads import bp, publications, services
from webapp.platform.timeutil import utcnow
from webapp.threads.forms import (BlockForm, NewConversationForm, ReasonForm, ReplyForm)
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


def _idempotency_key(form) -> str | None:
    return request.headers.get("Idempotency-Key") or form.idempotency_key.data


def conversation_or_404(conversation_id: int):
    conversation = services.get_conversation(current_user, conversation_id)
    if conversation is None:
        if request.method == "GET" and current_user.role == "admin" \
                and services.admin_access_until(current_user) is None:
            # An admin outside their teams: the explicit "view as admin" step first.
            return abort(redirect(url_for("threads.admin_access", next=request.path), 303))
        abort(404)
    return conversation


# --------------------------------------------------------------------------- shared bits
def conversation_context(conversation, *, officer: bool, form=None, error=None):
    before = int_arg("before")
    messages, has_earlier = services.messages_page(conversation, before=before)
    return {"conversation": conversation, "messages": messages, "has_earlier": has_earlier,
            "before": before, "officer_view": officer, "form": form or ReplyForm(formdata=None),
            # The officer's page reads the block with its side (officer_conversation_side).
            "error": error, "block": None if officer else services.block_for(conversation.resident),
            "last_id": conversation.last_message_id if not before else None,
            "empty_form": EmptyForm(), "urls": _urls(conversation, officer),
            "block_form": BlockForm(formdata=None), "reason_form": ReasonForm(formdata=None),
            "publications": publications.publications_for(conversation), "now": utcnow()}


def _urls(conversation, officer: bool) -> dict:
    prefix = "threads.officer_" if officer else "threads."
    return {"page": url_for(prefix + "conversation", conversation_id=conversation.id),
            "send": url_for(prefix + "send", conversation_id=conversation.id),
            "poll": url_for(prefix + "poll", conversation_id=conversation.id),
            "earlier": url_for(prefix + "earlier", conversation_id=conversation.id)}


def send_message(conversation, *, officer: bool):
    """Append a message: htmx gets the new messages and a fresh form; a plain POST is
    redirected back to the conversation (POST/redirect/GET)."""
    form = ReplyForm()
    error = guard = None
    # The guard (999 / 101) looks at residents' messages before they go.
    if form.validate_on_submit() and not (
            guard := (None if officer else intercept(request.form, form.body.data))):
        try:
            with write_transaction():
                message, _created = services.add_message(
                    conversation, current_user, form.body.data, _idempotency_key(form))
        except (services.ThreadError, PostError) as exc:
            error = str(exc)
        else:
            if not is_htmx():
                return redirect(_urls(conversation, officer)["page"] + f"#m{message.id}", 303)
            after = int_value(request.values.get("after"))
            if not after:
                after = message.id - 1
            conversation = services.get_conversation(current_user, conversation.id)
            return render_fragment("threads/_sent.html",
                                   conversation=conversation, officer_view=officer,
                                   messages=services.messages_after(conversation, after),
                                   last_id=conversation.last_message_id,
                                   form=ReplyForm(formdata=None), urls=_urls(conversation, officer))
    ctx = conversation_context(conversation, officer=officer, form=form, error=error)
    ctx["guard"] = guard
    if is_htmx():
        response = render_fragment("threads/_reply_form.html", status=422, **ctx)
        response.headers["HX-Retarget"] = "#reply-form"
        response.headers["HX-Reswap"] = "outerHTML"
    else:
        page = "threads/officer_conversation.html" if officer else "threads/conversation.html"
        response = render(page, status=422, **ctx)
    if guard:  # a reply queued offline learns why it was not sent (reply-queue.js)
        response.headers["X-Wardline-Guard"] = guard.level
    return response


def poll_messages(conversation_id: int, *, officer: bool):
    """Answer a poll: 204 with no body when nothing is new (one query), else the new
    messages and the poller with its new position."""
    after = int_arg("after", 0) or 0
    has_new = services.poll(current_user, conversation_id, after)
    if has_new is None:
        abort(404)
    if not has_new:
        response = make_response("", 204)
        response.headers["Cache-Control"] = "private, no-store"
        return response
    # Rendered before the commit (which expires what was loaded: the conversation and the
    # signed-in user would be read again), then marked read: each is loaded once.
    conversation = conversation_or_404(conversation_id)
    messages = services.messages_after(conversation, after)
    response = render_fragment("threads/_poll.html", conversation=conversation,
                               messages=messages, officer_view=officer,
                               last_id=conversation.last_message_id,
                               urls=_urls(conversation, officer), empty_form=EmptyForm())
    services.mark_read(conversation, current_user)
    db.session.commit()
    return response


def earlier_messages(conversation_id: int, *, officer: bool):
    """The page of messages before ``?before=`` (htmx "show earlier"; plain link: the page)."""
    conversation = conversation_or_404(conversation_id)
    ctx = conversation_context(conversation, officer=officer)
    if not is_htmx():
        return redirect(ctx["urls"]["page"] + f"?before={ctx['before'] or 0}", 303)
    return render_fragment("threads/_earlier.html", **ctx)


# --------------------------------------------------------------------------- residents
def _new_form():
    """The new-conversation form, its ward choices limited to my wards."""
    form = NewConversationForm()
    wards = services.resident_wards(current_user)
    form.ward.choices = [SelectChoice(w.id, w.name) for w in wards]
    if request.method == "GET" and wards:
        wanted = int_arg("ward")
        form.ward.data = wanted if wanted in {w.id for w in wards} else wards[0].id
    return form


@bp.get("/messages")
@resident_required
@for_each_session("conversations", "conversation_reads", "messaging_blocks",
                  "blocked_addresses")
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
    error = guard = None
    if form.validate_on_submit() and not (
            guard := intercept(request.form, form.subject.data, form.body.data)):
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
                  block=services.block_for(current_user), error=error, guard=guard)


@bp.post("/messages/<int:conversation_id>/published/<int:post_id>/withdraw")
@resident_required
def withdraw_published(conversation_id, post_id):
    """Take my published question down again (within a day of its publication)."""
    conv = conversation_or_404(conversation_id)
    try:
        if not publications.withdraw(conv, current_user, post_id):
            abort(404)
    except publications.TooLate as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Withdrawn: your question is no longer on the ward page.", "success")
    return redirect(url_for("threads.conversation", conversation_id=conv.id), 303)


@bp.get("/messages/<int:conversation_id>")
@resident_required
@for_each_session("conversations", "messages", "messaging_blocks", "blocked_addresses",
                  "published_questions")
def conversation(conversation_id):
    conversation = conversation_or_404(conversation_id)
    # Render first, then mark it read and commit: the commit expires what was loaded, and
    # rendering after it would load the conversation and its messages again.
    page = render("threads/conversation.html", **conversation_context(conversation, officer=False))
    services.mark_read(conversation, current_user)
    commit_keeping_loaded()
    return page


@bp.post("/messages/<int:conversation_id>")
@resident_required
@send_limit
def send(conversation_id):
    return send_message(conversation_or_404(conversation_id), officer=False)


@bp.get("/messages/<int:conversation_id>/poll")
@resident_required
def poll(conversation_id):
    return poll_messages(conversation_id, officer=False)


@bp.get("/messages/<int:conversation_id>/earlier")
@resident_required
def earlier(conversation_id):
    return earlier_messages(conversation_id, officer=False)


@bp.app_template_global()
def ward_team_for(ward):
    """Officers shown as "Your ward team" on a ward home (used by the partial)."""
    return ward_team_members(ward) if ward is not None else []
