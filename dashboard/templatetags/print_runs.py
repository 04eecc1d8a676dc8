from django import template

from mailpieces.choices import ACTIVE_PRINT_RUN_STATUSES
from mailpieces.print_runs import PRINTABLE_CAMPAIGN_STATUSES, print_files

register = template.Library()


@register.simple_tag
def print_run_panel(campaign):
    """What the campaign page shows of print runs: whether one can be started, and the latest one with its files."""
    run = campaign.print_runs.order_by("-created_at", "-pk").first()
    return {
        "printable": campaign.status in PRINTABLE_CAMPAIGN_STATUSES,
        "run": run,
        "active": run is not None and run.status in ACTIVE_PRINT_RUN_STATUSES,
        "files": [{"name": name, "pieces": pieces} for name, _, pieces in print_files(run)] if run else [],
    }
