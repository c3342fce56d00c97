"""gunicorn reads this file when it starts in the project folder (``gunicorn wsgi:app``): the
production settings are ``deploy/gunicorn.conf.py``'s (token-free access log, workers from
the CPUs, timeouts), loaded here so both ways of starting agree."""
from pathlib import Path

exec(compile((Path(__file__).parent / "deploy" / "gunicorn.conf.py").read_text(),  # noqa: S102
             "deploy/gunicorn.conf.py", "exec"))
