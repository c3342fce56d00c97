"""Ward priorities' services, one module per concern; this module re-exports them so
callers stay short (``services.create_priority(...)``):

- :mod:`webapp.priorities.scope`: input errors, limits, topic labels, who may edit which
  ward's priorities and rounds;
- :mod:`webapp.priorities.ranking`: what residents said (ranked, with the 90-day trend);
- :mod:`webapp.priorities.telling`: who is told about a priority, and telling them;
- :mod:`webapp.priorities.lifecycle`: setting, changing, acting on and closing priorities;
- :mod:`webapp.priorities.tags`: topic tags on conversations (and in "Download my data");
- :mod:`webapp.priorities.rounds`: "ask residents again" rounds and their results.

Views commit; these functions only flush.
"""
from __future__ import annotations

from webapp.priorities.scope import (
    PriorityError,
    get_priority_for,
    get_round_for,
    max_priorities,
    may_edit,
    min_count,
    priorities_editable_by,
    topic_label,
)
from webapp.priorities.ranking import (
    FREE_TEXT_LIMIT,
    TREND_DAYS,
    TopicCount,
    residents_said,
    residents_named,
    topic_ranking,
    RoundResults,
)
from webapp.priorities.telling import (
    PRIORITY_CATEGORY,
    priority_url,
    raisers,
)
from webapp.priorities.lifecycle import (
    MAX_REVIEW_AHEAD,
    ActionInput,
    PriorityInput,
    add_action,
    close_priority,
    create_priority,
    current_counts,
    current_priorities,
    earlier_priorities,
    link_choices,
    link_url,
    public_priority,
    update_priority,
    ward_priorities,
)
from webapp.priorities.tags import (
    tag_conversation,
)
from webapp.priorities.rounds import (
    answer_round,
    close_round,
    open_round,
    open_round_for,
    round_answer,
    round_for_resident,
    round_results,
    rounds_for,
)

__all__ = [
    'PriorityError',
    'get_priority_for',
    'get_round_for',
    'max_priorities',
    'may_edit',
    'min_count',
    'priorities_editable_by',
    'topic_label',
    'FREE_TEXT_LIMIT',
    'TREND_DAYS',
    'TopicCount',
    'residents_said',
    'residents_named',
    'topic_ranking',
    'RoundResults',
    'PRIORITY_CATEGORY',
    'priority_url',
    'raisers',
    'MAX_REVIEW_AHEAD',
    'ActionInput',
    'PriorityInput',
    'add_action',
    'close_priority',
    'create_priority',
    'current_counts',
    'current_priorities',
    'earlier_priorities',
    'link_choices',
    'link_url',
    'public_priority',
    'update_priority',
    'ward_priorities',
    'tag_conversation',
    'answer_round',
    'close_round',
    'open_round',
    'open_round_for',
    'round_answer',
    'round_for_resident',
    'round_results',
    'rounds_for',
]
