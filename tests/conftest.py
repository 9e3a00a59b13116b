"""Shared fixtures (one cache for the whole session, so the smoke base model trains once) and
the order test files start in."""

import pytest


@pytest.fixture(scope="session")
def base_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("critiquelab-cache")


# The slowest files first (see the --durations list that `make test` prints), run with xdist's
# --no-loadscope-reorder: under --dist loadfile a long file that starts last leaves the other
# worker idle until it ends.
SLOWEST_FIRST = ("test_oneshot_and_noise.py", "test_real_models.py", "test_self_train.py",
                 "test_cft_vs_sft.py", "test_sequencing.py", "test_claims.py",
                 "test_executors.py", "test_transfer_experiments.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
