"""Ward priorities ("You said, we did"): what residents raised, the few priorities a ward
team commits to, the actions taken, and telling the residents who raised each topic.

Also the public responsiveness statistics (:mod:`webapp.priorities.stats`) and the open
data (police.uk-shaped JSON, Atom feeds: :mod:`webapp.priorities.feeds`)."""
from flask import Blueprint

bp = Blueprint("priorities", __name__)


from webapp.priorities import routes  # noqa: E402,F401  (registers the views on bp)
