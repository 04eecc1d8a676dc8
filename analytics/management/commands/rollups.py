from datetime import date

from django.core.management.base import BaseCommand, CommandError

from analytics.rollups import rebuild_rollups


def _day(value):
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Rebuild the daily campaign rollups (events per type, funnel stages) from raw events."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["rebuild"])
        parser.add_argument("--from", dest="start", required=True, type=_day, help="First day, YYYY-MM-DD (UTC)")
        parser.add_argument("--to", dest="end", required=True, type=_day, help="Last day, YYYY-MM-DD (UTC)")
        parser.add_argument("--campaign", action="append", type=int, dest="campaigns",
                            help="Only this campaign id (repeatable); default: every campaign with events")

    def handle(self, *args, start, end, campaigns=None, **options):
        if end < start:
            raise CommandError("--to must be on or after --from.")
        rebuilt = rebuild_rollups(start=start, end=end, campaign_ids=campaigns)
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {start}..{end} for {len(rebuilt)} campaign(s)."))
