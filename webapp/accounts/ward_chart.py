"""The ward home's "what residents care about most" chart: anonymous counts of the
concerns residents gave in the survey (``Concern``, owned by accounts), shown on the
wards domain's page through the template global :func:`ward_concern_chart`."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.accounts import bp
from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.wards.models import Ward

#: Ward charts appear only once this many distinct residents answered, so that no one
#: can be identified from the counts.
CHART_MIN_RESPONDENTS = 5


def concern_counts(ward: Ward) -> tuple[int, list[tuple[str, int]]]:
    """``(respondents, [(topic, residents), ...])`` for ``ward``, most common first.

    Counts distinct ``respondent_key``s, so a resident counts once per topic, and answers
    kept anonymously after an account was deleted still count.
    """
    respondents = db.session.scalar(
        select(func.count(func.distinct(Concern.respondent_key))).where(Concern.ward_id == ward.id))
    rows = db.session.execute(
        select(Concern.topic, func.count(func.distinct(Concern.respondent_key)).label("n"))
        .where(Concern.ward_id == ward.id).group_by(Concern.topic)
        .order_by(func.count(func.distinct(Concern.respondent_key)).desc(), Concern.topic)).all()
    return respondents or 0, [(topic, n) for topic, n in rows]


def concern_chart(ward: Ward, minimum: int = CHART_MIN_RESPONDENTS) -> dict | None:
    """The data of the ward's "what residents care about most" bar chart, or None while
    fewer than ``minimum`` residents answered. Bars are laid out here (widths in SVG units)
    so the template only draws."""
    respondents, counts = concern_counts(ward)
    if respondents < minimum or not counts:
        return None
    top = max(n for _, n in counts)
    label_w, bar_w, row_h = 0, 300.0, 34
    bars = []
    for i, (topic, n) in enumerate(counts):
        bars.append({"topic": topic, "label": CONCERN_TOPICS.get(topic, topic), "count": n,
                     "y": i * row_h, "width": round(max(bar_w * n / top, 2), 1),
                     "x": label_w})
    return {"respondents": respondents, "bars": bars, "row_height": row_h,
            "height": len(bars) * row_h, "bar_max": bar_w}


@bp.app_template_global()
def ward_concern_chart(ward):
    """The chart for the ward home (``templates/wards/home.html``), or None."""
    return concern_chart(ward) if ward is not None else None
