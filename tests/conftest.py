"""Shared fixtures: one cache for the whole session, so the smoke base model trains once."""

import pytest


@pytest.fixture(scope="session")
def base_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("critiquelab-cache")
