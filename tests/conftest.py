import os

from hypothesis import HealthCheck, settings

# Closed forms are built on first use of each shape, so single examples can take a while;
# run counts are set per test. POLYSCAN_EXAMPLES scales them (e.g. 10 for a quick pass).
settings.register_profile("polyscan", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("polyscan")


def examples(n: int) -> int:
    """``n`` hypothesis examples, scaled by the POLYSCAN_EXAMPLES_SCALE environment factor."""
    return max(1, round(n * float(os.environ.get("POLYSCAN_EXAMPLES_SCALE", "1"))))
