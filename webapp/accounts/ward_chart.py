"""The ward home's "what residents care about most" chart: anonymous counts of the
concerns residents gave in the survey (``Concern``, owned by accounts), shown on the
wards domain's page through the template global :func:`ward_concern_chart`."""
from __future__ import annotations

from webapp.accounts import bp
from webapp.accounts.concerns import concern_counts, respondent_count
from webapp.wards.models import Ward

#: Ward charts appear only once this many distinct residents answered, so that no one
#: can be identified from the counts.
CHART_MIN_RESPONDENTS = 5


def concern_chart(ward: Ward, minimum: int = CHART_MIN_RESPONDENTS) -> dict | None:
    """The data of the ward's "what residents care about most" bar chart, or None while
    fewer than ``minimum`` residents answered. Bars are laid out here (widths in SVG units)
    so the template only draws."""
    respondents = respondent_count(ward_id=ward.id)
    if respondents < minimum:
        return None
    counts = concern_counts(ward_id=ward.id)
    if not counts:
        return None
    top = max(n for _, _, n in counts)
    label_w, bar_w, row_h = 0, 300.0, 34
    bars = []
    for i, (topic, label, n) in enumerate(counts):
        bars.append({"topic": topic, "label": label, "count": n,
                     "y": i * row_h, "width": round(max(bar_w * n / top, 2), 1),
                     "x": label_w})
    return {"respondents": respondents, "bars": bars, "row_height": row_h,
            "height": len(bars) * row_h, "bar_max": bar_w}


@bp.app_template_global()
def ward_concern_chart(ward):
    """The chart for the ward home (``templates/wards/home.html``), or None."""
    return concern_chart(ward) if ward is not None else None
