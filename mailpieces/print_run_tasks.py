from celery import shared_task

from . import print_runs


@shared_task(acks_late=True)
def render_print_run(print_run_id):
    """Renders a print run, resuming where a dead attempt stopped. A message delivered twice does nothing more:
    only a pending run is claimed."""
    print_runs.run_print_run(print_run_id)


@shared_task
def sweep_print_runs():
    """Every minute: print runs whose message was lost, or whose worker died, are queued again (print_runs.sweep)."""
    return print_runs.sweep()
