import os
import re

import pytest
from hypothesis import HealthCheck, settings

# No test reads what an earlier one left in the on-disk cache (tests/test_cache.py turns it
# on where it is the subject); subprocesses of the suite inherit this.
os.environ.setdefault("POLYSCAN_CACHE", "off")

# Closed forms are built on first use of each shape, so single examples can take a while;
# run counts are set per test. POLYSCAN_EXAMPLES scales them (e.g. 10 for a quick pass).
settings.register_profile("polyscan", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("polyscan")


def examples(n: int) -> int:
    """``n`` hypothesis examples, scaled by the POLYSCAN_EXAMPLES_SCALE environment factor."""
    return max(1, round(n * float(os.environ.get("POLYSCAN_EXAMPLES_SCALE", "1"))))


# Under POLYSCAN_CI (set by .ci/run, which installs gcc and chromium first), a test skipped for
# want of a C compiler or a headless Chromium is a failure: CI must run them, not skip them.
CI_REQUIRES = re.compile(r"C compiler|chromium", re.IGNORECASE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    ci = os.environ.get("POLYSCAN_CI", "")
    if not report.skipped or ci in ("", "0") or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if CI_REQUIRES.search(reason):
        report.outcome = "failed"
        report.longrepr = f"skipped under POLYSCAN_CI={ci}, where it must run: {reason}"


def pytest_collection_modifyitems(items):
    """The ``slow`` tests first (a stable sort), so that with both cores busy the longest
    ones start at once instead of finishing alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
