"""gunicorn settings for production, read automatically when gunicorn starts in this folder
(``gunicorn -w 4 wsgi:app``).

The access log keeps sign-in and unsubscribe tokens out (see ``webapp/platform/logsafe.py``).
"""
logger_class = "webapp.platform.logsafe.GunicornLogger"
accesslog = "-"  # to stderr, with the tokens redacted
