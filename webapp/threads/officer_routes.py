"""Views of conversations for officers and admins: the inbox, "view as admin", replies,
status changes, moderation, publishing, ward posts. Thin: parse, check access, call a
service, render, commit."""
from __future__ import annotations

import re

from flask import (abort, current_app, flash, redirect, request,
                   url_for)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.extensions import db
from webapp.posts import PostError, create_ward_post
from webapp.platform.pagestore import for_each_session, keep_at_most
from webapp.platform.timeutil import utcnow
from webapp.platform.htmx import hx_redirect, render
from webapp.platform.params import page_arg
from webapp.platform.security import admin_required, officer_required
from webapp.threads import bp, publications, services
from webapp.threads.forms import (AdminAccessForm, BlockForm, PublishForm,
                                  ReasonForm, WardPostForm)
from webapp.threads.models import STATUSES
from webapp.wards.services import covered_wards

from webapp.platform.params import int_arg
from webapp.threads.routes import (conversation_context, conversation_or_404, earlier_messages,
                                   poll_messages, send_message)


# --------------------------------------------------------------------------- officers
@bp.get("/officer/inbox")
@officer_required
@for_each_session("conversations", "conversation_reads", "conversation_tags", "rumours",
                  "team_members", "team_wards", "teams", "conversation_access")
def inbox():
    """Conversations of the wards I cover, oldest awaiting first; filter by ward/status."""
    wards = covered_wards(current_user)
    ward_id = int_arg("ward")
    if ward_id not in {w.id for w in wards}:
        ward_id = None
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    page = page_arg()
    rows, total = services.inbox(current_user, ward_id=ward_id, status=status, page=page)
    admin_until = services.admin_access_until(current_user)
    if admin_until is not None:  # London-wide for a while: stored no longer than that
        keep_at_most((admin_until - utcnow()).total_seconds())
    pages = max((total + services.INBOX_PAGE_SIZE - 1) // services.INBOX_PAGE_SIZE, 1)
    return render("threads/inbox.html", "threads/_inbox_list.html", rows=rows, total=total,
                  current_page=page, pages=pages, wards=wards, ward_id=ward_id,
                  # not ``status``: render() takes that as the HTTP status
                  status_filter=status, statuses=STATUSES,
                  admin_until=admin_until)


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
    services.end_admin_access(current_user)
    db.session.commit()
    flash("You now see only your teams' conversations.", "success")
    return redirect(url_for("threads.inbox"), 303)


@bp.get("/officer/messages/<int:conversation_id>")
@officer_required
def officer_conversation(conversation_id):
    # Rendered before the commit (which expires what was loaded: the conversation and the
    # signed-in user would be read again), then audited and marked read.
    conv = conversation_or_404(conversation_id)
    response = render("threads/officer_conversation.html", **conversation_context(conv, officer=True))
    services.record_view(conv, current_user)
    services.mark_read(conv, current_user)
    db.session.commit()
    return response


@bp.post("/officer/messages/<int:conversation_id>")
@officer_required
def officer_send(conversation_id):
    return send_message(conversation_or_404(conversation_id), officer=True)


@bp.get("/officer/messages/<int:conversation_id>/poll")
@officer_required
def officer_poll(conversation_id):
    return poll_messages(conversation_id, officer=True)


@bp.get("/officer/messages/<int:conversation_id>/earlier")
@officer_required
def officer_earlier(conversation_id):
    return earlier_messages(conversation_id, officer=True)


_ACTIONS = {"close": (services.close_conversation, "Conversation closed."),
            "reopen": (services.reopen_conversation, "Conversation reopened."),
            "take": (services.take_conversation, "Assigned to you.")}


@bp.post("/officer/messages/<int:conversation_id>/<any(close, reopen, take):action>")
@officer_required
def officer_action(conversation_id, action):
    """Close, reopen or take a conversation."""
    conv = conversation_or_404(conversation_id)
    func, message = _ACTIONS[action]
    func(conv, current_user)
    db.session.commit()
    flash(message, "success")
    return hx_redirect(url_for("threads.officer_conversation", conversation_id=conv.id))


@bp.post("/officer/messages/<int:conversation_id>/block")
@officer_required
def officer_block(conversation_id):
    """Stop the resident from messaging (with a reason), or lift that."""
    conv = conversation_or_404(conversation_id)
    if request.form.get("lift"):
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
    ctx = conversation_context(conv, officer=True)
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
        ctx = conversation_context(conversation_or_404(message.conversation_id), officer=True)
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
    conv = conversation_or_404(conversation_id)
    form = PublishForm(data=services.default_publication(conv) if request.method == "GET" else None)
    error = None
    if form.validate_on_submit():
        try:
            post = publications.publish(conv, current_user, form.title.data,
                                        form.question.data, form.answer.data)
            db.session.commit()
        except (services.ThreadError, PostError) as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Published to the ward. The resident is told, and can withdraw it for a day.",
                  "success")
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
