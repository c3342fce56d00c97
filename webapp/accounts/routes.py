"""Views of the accounts domain (placeholder routes; built out by the foundation work)."""
from flask import redirect, url_for
from flask_login import logout_user

from webapp.accounts import bp


@bp.get("/signup")
def signup():
    return "sign up"


@bp.get("/login")
def login():
    return "login"


@bp.get("/officer/login")
def officer_login():
    return "officer login"


@bp.get("/survey")
def survey():
    return "survey"


@bp.get("/settings")
def settings():
    return "settings"


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("core.index"))
