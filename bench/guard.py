"""Print the guard's figures on the labelled corpus (tests/guard/corpus.py): emergency
recall (target 1.0: every emergency caught), crime-report recall, and the false-positive
rate (ordinary questions, rumours and colloquial messages interrupted; target at most
0.10). Run from the repository root: ``python bench/guard.py`` (``-v`` lists misses)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.guard.corpus import LABELLED, figures  # noqa: E402
from webapp.platform.guard import check, load_rules  # noqa: E402


def main(verbose: bool = False) -> None:
    result = figures(check)
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for text, _label in LABELLED:
            check(text)
    per_message = (time.perf_counter() - start) / (rounds * len(LABELLED)) * 1e6
    print(f"rules: {len(load_rules())}, messages: {result['messages']}")
    print(f"emergency recall:     {result['emergency_recall']:.3f} (target 1.000)")
    print(f"report recall:        {result['report_recall']:.3f} "
          f"(as report: {result['report_as_report']:.3f})")
    print(f"false-positive rate:  {result['false_positive_rate']:.3f} (target <= 0.100)")
    print(f"check time:           {per_message:.0f} µs per message")
    if verbose:
        for text in result["missed_emergencies"]:
            print("MISSED EMERGENCY:", text)
        for text in result["missed_reports"]:
            print("missed report:", text)
        for text, level in result["interrupted"]:
            print(f"interrupted ({level}):", text)


if __name__ == "__main__":
    main("-v" in sys.argv)
