"""The guard (webapp/platform/guard): its figures on the labelled corpus, and how a warning works."""
from __future__ import annotations

from tests.guard.corpus import EMERGENCY, LABELLED, ORDINARY_LIKE, REPORT, figures
from webapp.platform.guard import ACK_FIELD, check, intercept, load_rules


def test_the_corpus_is_big_enough_and_labelled():
    assert len(LABELLED) >= 60
    assert {label for _, label in LABELLED} == {"emergency", "report", "ordinary", "rumour",
                                                "colloquial"}
    assert len(set(t for t, _ in LABELLED)) == len(LABELLED)


def test_every_emergency_is_caught_and_at_most_one_ordinary_message_in_ten_interrupted():
    result = figures(check)
    assert result["missed_emergencies"] == []
    assert result["emergency_recall"] == 1.0
    assert result["false_positive_rate"] <= 0.10, result["interrupted"]
    # Crime reports are mostly recognised as reports (pointed to 101 / online).
    assert result["report_as_report"] >= 0.8, result["missed_reports"]


def test_emergency_wins_over_report_and_the_matched_words_are_shown():
    result = check("My bike was stolen and he has a knife, it's happening now")
    assert result.level == "emergency"
    assert "has a knife" in result.matches and "happening now" in result.matches
    report = check("My car was broken into last night")
    assert report.level == "report" and report.matches == ["My car was broken into"]
    assert not check("When is the next ward panel meeting?")


def test_the_rules_live_in_one_data_file():
    rules = load_rules()
    assert {r.level for r in rules} == {"emergency", "report"}
    assert len(rules) > 20


def test_a_second_press_with_the_same_text_goes_through_but_changed_text_is_checked_again():
    text = "Someone is being attacked outside"
    warning = intercept({}, text)
    assert warning and warning.level == "emergency"
    assert intercept({ACK_FIELD: warning.ack}, text) is None
    # Whitespace does not matter; other words do.
    assert intercept({ACK_FIELD: warning.ack}, "  Someone is being   attacked outside ") is None
    assert intercept({ACK_FIELD: warning.ack}, "Someone is being attacked outside, he has a gun")
    assert intercept({ACK_FIELD: "emergency:forged"}, text)
    assert intercept({}, "Thanks for the update") is None
    assert all(check(t).level == "emergency" for t in EMERGENCY)
    assert sum(1 for t in ORDINARY_LIKE if check(t)) <= len(ORDINARY_LIKE) // 10
    assert sum(1 for t in REPORT if check(t)) >= len(REPORT) - 1
