"""The public pages of a ward's posts; the ward home's posts section."""
from __future__ import annotations

from flask import abort

from webapp.platform.htmx import render
from webapp.platform.params import page_arg
from webapp.posts import bp, services
from webapp.wards.services import get_ward


# --------------------------------------------------------------------------- ward posts
def _ward_or_404(code: str):
    ward = get_ward(code)
    if ward is None:
        abort(404)
    return ward


@bp.get("/wards/<code>/posts")
def ward_posts(code):
    """A page of the ward's posts; htmx "Show more" gets just the next items."""
    ward = _ward_or_404(code)
    page = page_arg()
    posts, has_more = services.ward_posts_page(ward, page)
    return render("posts/ward_posts.html", "posts/_ward_post_items.html", ward=ward,
                  posts=posts, has_more=has_more, current_page=page)


@bp.get("/wards/<code>/posts/<int:post_id>")
def ward_post(code, post_id):
    ward = _ward_or_404(code)
    post = services.get_ward_post(ward, post_id)
    if post is None:
        abort(404)
    return render("posts/ward_post.html", ward=ward, post=post)


@bp.app_template_global()
def ward_posts_for(ward, page: int = 1):
    """The first page of a ward's posts for the ward home (used by the partial)."""
    return services.ward_posts_page(ward, page) if ward is not None else ([], False)
