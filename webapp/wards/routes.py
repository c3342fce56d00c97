"""Views of the wards domain (placeholder; built out by the foundation work)."""
from webapp.wards import bp


@bp.get("/wards/<code>")
def ward_home(code):
    return code
