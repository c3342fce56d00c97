"""Ward posts: public posts for one ward, used by threads (published answers, officers'
posts), meetings (summaries) and the ward home."""
from flask import Blueprint

bp = Blueprint("posts", __name__)

from webapp.posts.models import WardPost  # noqa: E402,F401  (public)
from webapp.posts.services import (PostError, clean_text, create_ward_post,  # noqa: E402,F401
                                   get_ward_post, scrub_identity, ward_posts_page)
from webapp.posts import routes  # noqa: E402,F401  (registers the views on bp)
