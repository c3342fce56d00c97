"""What every domain uses, below all of them (no blueprint, imports no domain):

- ``db``: ``write_transaction()``, ``write_connection()``, ``read_only()``,
  ``insert_ignore()`` and the SQLite engine setup;
- ``audit``: the audit log (``AuditEvent``, ``record()``);
- ``mail``: the one email builder (``build_message``) and SMTP connection;
- ``account_data``: the registry of what each domain exports and deletes with an account;
- ``security`` (roles, ``safe_next``, CSP), ``params`` (``int_arg``/``page_arg``),
  ``forms`` (the base ``Form``), ``htmx`` (``render``), ``tokens``, ``timeutil``,
  ``taxonomy``, ``spreadsheet``, ``caching``, ``logsafe``, ``static_assets``.
"""
