"""Rule combinations under random rule sets and random events (issue 13; DECISIONS.md
"Combinations"): the state machine in ``tests/combination_machine.py`` on a fixed CI budget.

``bench/combinations.py`` runs the same machine with thousands of examples
(``CC_COMBO_EXAMPLES``); ``CC_COMBO_STEPS`` sets the steps per example and
``CC_COMBO_REPORT`` names a JSON file that receives the examples and steps run.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.combination_machine import CombinationMachine

EXAMPLES = int(os.environ.get("CC_COMBO_EXAMPLES", "25"))
STEPS = int(os.environ.get("CC_COMBO_STEPS", "30"))
REPORT = os.environ.get("CC_COMBO_REPORT")


@pytest.mark.django_db
def test_rule_combinations_keep_every_invariant(settings_wakeups_off):
    CombinationMachine.examples = CombinationMachine.steps = 0
    CombinationMachine.outcomes.clear()
    started = time.monotonic()
    try:
        run_state_machine_as_test(
            CombinationMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=REPORT is None,  # CI: the same examples every run
                print_blob=True,
            ),
        )
    finally:
        if REPORT:
            with open(REPORT, "w") as out:
                json.dump(
                    {
                        "examples": CombinationMachine.examples,
                        "steps": CombinationMachine.steps,
                        "seconds": round(time.monotonic() - started, 1),
                        "outcomes": dict(CombinationMachine.outcomes.most_common()),
                    },
                    out,
                )


@pytest.fixture
def settings_wakeups_off(settings):
    """The services' ETA wake-ups are hints; the machine fires deadlines itself."""
    settings.CC_SEND_WAKEUPS = False
