"""Count the SQL statements of a request, and catch lazy loads made while a template renders.

    with QueryGuard(app) as guard:
        client.get("/wards/E05013806")
    guard.statements      # SQL statements sent (not BEGIN/COMMIT/ROLLBACK/SAVEPOINT)
    guard.lazy_in_render  # lazy loads (a relationship or an expired column) made by a template

A page's queries belong in its view (or the service it calls), with eager loading
(``selectinload``/``joinedload``); a template that touches a relationship nobody loaded
sends a query per row, which is how a page ends up with hundreds.
"""
from __future__ import annotations

from flask import before_render_template, template_rendered
from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import db

NOT_COUNTED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


class QueryGuard:
    def __init__(self, app):
        self.app = app
        self.statements: list[str] = []
        self.lazy_in_render: list[str] = []
        self._rendering = 0

    # -- listeners
    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(NOT_COUNTED):
            self.statements.append(statement)

    def _orm_execute(self, state):
        lazy = state.is_select and (state.lazy_loaded_from is not None or state.is_column_load)
        if lazy and self._rendering:
            what = state.lazy_loaded_from or "an expired column"
            self.lazy_in_render.append(f"{what}: {str(state.statement).splitlines()[0][:120]}")

    def _before_render(self, sender, template, context, **extra):
        self._rendering += 1

    def _rendered(self, sender, template, context, **extra):
        self._rendering -= 1

    # -- context manager
    def __enter__(self):
        with self.app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(Session, "do_orm_execute", self._orm_execute)
        before_render_template.connect(self._before_render, self.app)
        template_rendered.connect(self._rendered, self.app)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(Session, "do_orm_execute", self._orm_execute)
        before_render_template.disconnect(self._before_render, self.app)
        template_rendered.disconnect(self._rendered, self.app)
        return False

    def reset(self):
        self.statements.clear()
        self.lazy_in_render.clear()
        self._rendering = 0
