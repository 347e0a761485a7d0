"""Bench-only settings: the production settings plus the baseline endpoint's URLconf."""

from cc_rules.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
