"""axe-core (the copy axe-playwright-python ships, no CDN) run on a Playwright page, for the browser tests."""

from contextlib import contextmanager

from axe_playwright_python.sync_playwright import Axe

# What the audit fails on; moderate and minor findings are left to review.
BLOCKING_IMPACTS = ("critical", "serious")
_axe = Axe()
# Pages axe is running on now: its probes set inline styles, which the strict CSP refuses (not the app's doing).
_running = set()


@contextmanager
def _on(page):
    _running.add(id(page))
    try:
        yield
    finally:
        _running.discard(id(page))


def is_axe_probe_refusal(page, message):
    """True for a CSP refusal of axe's own inline styles, so the browser tests' CSP check ignores it."""
    return id(page) in _running and message.startswith("Applying inline style violates")


def blocking_violations(page):
    """The critical and serious violations of the page as it is now, as readable lines (empty when none)."""
    with _on(page):
        results = _axe.run(page, options={"resultTypes": ["violations"]}).response
    lines = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        more = len(violation["nodes"]) - 5
        lines.append(f"{violation['id']} ({violation['impact']}) on {targets}{f' and {more} more' if more > 0 else ''}"
                     f" — {violation['help']} ({violation['helpUrl']})")
    return lines


def assert_accessible(page, what=None):
    """Fails with the page's critical and serious axe violations: rule, impact, target selectors and help."""
    found = blocking_violations(page)
    assert not found, f"axe on {what or page.url}:\n  " + "\n  ".join(found)
