"""Hypothesis profiles: `ci` (the default: 300 examples per test, derandomized, so a run is reproducible) and
`explore` (HYPOTHESIS_PROFILE=explore: 3,000 random examples per test, to look for new failures by hand)."""

import os

from hypothesis import HealthCheck, settings

COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}
settings.register_profile("ci", max_examples=300, derandomize=True, **COMMON)
settings.register_profile("explore", max_examples=3000, **COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
