"""Wardline: connect residents with their neighbourhood police team.

:func:`create_app` builds the app: configuration, extensions, one blueprint per domain,
CLI commands, error pages and security headers.
"""
from __future__ import annotations

import os
from importlib import import_module

from flask import Flask, Request, render_template, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

from webapp.config import Config, load_or_create_secret
from webapp.extensions import compress, csrf, db, limiter, login_manager, migrate
from flask import abort, current_app
from flask import jsonify
from flask_wtf.csrf import CSRFError
from webapp.accounts.crypto import new_key
from webapp.platform.caching import set_cache_headers
from webapp.platform.db import install_sqlite_begin
from webapp.platform.pagecache import cached_html, kept_html
from webapp.platform.forms import choice_controls
from webapp.platform.logsafe import install as keep_tokens_out_of_logs
from webapp.platform.metrics import install as install_metrics
from webapp.platform.pagestore import install as install_stored_responses
from webapp.platform.requestlog import configure_logging
from webapp.platform.requestlog import install as install_request_log
from webapp.platform.security import set_security_headers
from webapp.platform.static_assets import asset_url
from webapp.platform.taxonomy import CATEGORIES, CONCERN_TOPICS, EMAIL_FREQUENCIES
from webapp.platform.timeutil import format_age, format_london, html_datetime, to_london
from webapp.platform.urls import fixed_url, url_maker
from werkzeug.middleware.proxy_fix import ProxyFix

# Domains, in the order their blueprints are registered. Each is a package under webapp/
# with a ``bp`` blueprint and, optionally, a ``cli`` module with ``register(app)``.
DOMAINS = ("core", "accounts", "wards", "posts", "threads", "alerts", "delivery", "meetings", "priorities",
           "pwa", "admin",
           "incidents", "rumours")

# Tables of webapp.platform (no blueprint): single-use tokens and the audit log.
PLATFORM_MODELS = ("webapp.platform.tokens", "webapp.platform.audit", "webapp.platform.pagecache")


class _IdConverter(IntegerConverter):
    """``<int:...>`` in URLs, capped at the database's INTEGER range: a bigger id is a 404
    instead of an overflow error (a 500) from SQLite or PostgreSQL."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


class _NulFreeParams(ImmutableMultiDict):
    """Query and form values with NUL bytes removed: PostgreSQL refuses NUL in text (a 500
    on any query or insert that carries one), and no field of ours has a use for it."""

    def __init__(self, mapping=None):
        if mapping is None:
            super().__init__()
            return
        if isinstance(mapping, dict):  # a MultiDict or a plain dict: its (key, value) pairs
            mapping = MultiDict(mapping).items(multi=True)
        super().__init__([(k.replace("\x00", ""), v.replace("\x00", "") if isinstance(v, str) else v)
                          for k, v in mapping])


class _Request(Request):
    parameter_storage_class = _NulFreeParams


def create_app(config: type[Config] | dict | None = None) -> Flask:
    """Create and configure the app. ``config``: a Config subclass or a dict of overrides."""
    overrides = config if isinstance(config, dict) else \
        {k: getattr(config, k) for k in dir(config) if k.isupper()} if config else {}
    instance_path = overrides.get("INSTANCE_PATH") or os.environ.get("WARDLINE_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path,
                template_folder="../templates", static_folder="../static")
    app.request_class = _Request
    app.url_map.converters["int"] = _IdConverter  # before any blueprint adds its rules
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    os.makedirs(app.instance_path, exist_ok=True)

    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = load_or_create_secret(app.instance_path)
    if not app.config["TOTP_ENCRYPTION_KEY"]:
        app.config["TOTP_ENCRYPTION_KEY"] = load_or_create_secret(app.instance_path, "totp_key",
                                                                  new_key)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = \
            "sqlite:///" + os.path.join(app.instance_path, "wardline.sqlite")
    _normalise_database_url(app)
    _trust_proxies(app)

    configure_logging(app.config["LOG_FORMAT"])
    keep_tokens_out_of_logs(app)
    install_metrics(app)  # first: its timer starts before any other before_request
    install_request_log(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"),
                     render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    compress.init_app(app)
    _configure_sqlite(app)

    import_models()
    for name in DOMAINS:
        app.register_blueprint(import_module(f"webapp.{name}").bp)
        cli = _optional_module(f"webapp.{name}.cli")
        if cli is not None:
            cli.register(app)

    _register_template_helpers(app)
    _register_error_pages(app)
    app.before_request(_refuse_oversized_body)
    app.after_request(set_security_headers)
    app.after_request(set_cache_headers)
    install_stored_responses(app)  # outermost: a visitor's stored page skips all of the above
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` reverse proxies, take the client's address and scheme from
    the X-Forwarded-For/-Proto headers they add (werkzeug's ProxyFix, which reads only the
    values those proxies appended). Without the setting the headers are ignored: anyone can
    send them, and rate limits would key on whatever a client claims."""
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)


def _refuse_oversized_body():
    """413 for a declared body over ``MAX_CONTENT_LENGTH`` on every route, whether or not
    the view reads it (an undeclared, chunked body is cut off by Werkzeug when read)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit and (request.content_length or 0) > limit:
        abort(413)


def _optional_module(name: str):
    """Import ``name`` if that module exists (a domain need not have models or a CLI)."""
    try:
        return import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def import_models() -> None:
    """Import every domain's models so the metadata (create_all, Alembic) is complete."""
    for name in PLATFORM_MODELS:
        import_module(name)
    for name in DOMAINS:
        _optional_module(f"webapp.{name}.models")


def _normalise_database_url(app: Flask) -> None:
    """Accept ``postgres://`` and ``postgresql://`` URLs and use the psycopg 3 driver."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app.config["SQLALCHEMY_DATABASE_URI"] = url


def _configure_sqlite(app: Flask) -> None:
    """SQLite: foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE for every transaction
    (see :mod:`webapp.platform.db`)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        install_sqlite_begin(db.engine, float(app.config["SQLITE_BUSY_TIMEOUT"]))


def _register_template_helpers(app: Flask) -> None:

    app.jinja_env.filters["london"] = format_london
    app.jinja_env.filters["age"] = format_age
    app.jinja_env.filters["to_london"] = to_london
    app.jinja_env.filters["html_datetime"] = html_datetime
    app.jinja_env.globals.update(CATEGORIES=CATEGORIES, CONCERN_TOPICS=CONCERN_TOPICS,
                                 EMAIL_FREQUENCIES=EMAIL_FREQUENCIES)

    app.jinja_env.globals["cached_html"] = cached_html
    app.jinja_env.globals["kept_html"] = kept_html
    app.jinja_env.globals["choice_controls"] = choice_controls
    app.jinja_env.globals["url_maker"] = url_maker
    app.jinja_env.globals["fixed_url"] = fixed_url

    @app.context_processor
    def _inject():
        return {"asset_url": asset_url}


def _register_error_pages(app: Flask) -> None:

    def _page(code: int, title: str, message: str):
        # The request may have failed half-way through a transaction (a failed flush, a
        # lock timeout): roll it back first, or the page's own queries (the signed-in
        # user for the navigation) fail too and the visitor gets a bare 500.
        db.session.rollback()
        return render_template("errors/error.html", code=code, title=title,
                               message=message), code

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return _page(400, "Please try again",
                     "This form had expired or came from elsewhere. Go back, reload the page "
                     "and send it again.")

    @app.errorhandler(403)
    def _forbidden(error):
        return _page(403, "Not available to you", "You don't have access to this page.")

    @app.errorhandler(404)
    def _not_found(error):
        return _page(404, "Page not found", "We couldn't find that page.")

    @app.errorhandler(405)
    def _method(error):
        return _page(405, "Not allowed", "That action isn't possible here.")

    @app.errorhandler(413)
    def _too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"] or 0
        message = (f"What you sent is larger than we accept ({limit // 1024} KB at most). "
                   "Shorten the text and send it again.")
        if request.is_json or request.accept_mimetypes.best == "application/json":
            return jsonify(error=message), 413
        return _page(413, "Too large to send", message)

    @app.errorhandler(429)
    def _too_many(error):
        if getattr(error, "response", None) is not None:
            return error.response  # a limit's own answer (Flask-Limiter on_breach)
        return _page(429, "Too many attempts",
                     "You've tried this too often. Please wait a few minutes and try again.")

    @app.errorhandler(500)
    def _server_error(error):
        return _page(500, "Something went wrong",
                     "Sorry, something went wrong on our side. Please try again shortly.")
