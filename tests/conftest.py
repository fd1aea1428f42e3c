"""Hypothesis profiles (a fast default for CI, `HYPOTHESIS_PROFILE=thorough` for a long search) and shared fixtures."""
import os

import pytest
from hypothesis import HealthCheck, settings

from tinygrad_nn.data import Splits, load_digits

settings.register_profile("default", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="module")
def digits() -> Splits:
    """The embedded digits (`data.load_digits()`), loaded once per test module."""
    return load_digits()
