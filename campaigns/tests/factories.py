import factory

from campaigns.models import Campaign, MailTemplate


class MailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MailTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    front_html = "<h1>Hi {{ first_name }}</h1><p>Visit {{ purl }}</p>"
    back_html = "<p>{{ address1 }}</p>"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")


def csv_bytes(rows, header=("first_name", "last_name", "address1", "city", "state", "zip", "phone", "email"),
              bom=False):
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    data = text.getvalue().encode()
    return b"\xef\xbb\xbf" + data if bom else data


def person(n, **overrides):
    row = {
        "first_name": f"Pat{n}", "last_name": f"Lee{n}", "address1": f"{n} Main St", "city": "Springfield",
        "state": "IL", "zip": f"{62700 + n % 100:05d}", "phone": f"(217) 555-{n % 10000:04d}",
        "email": f"pat{n}@example.com",
    }
    row.update(overrides)
    return [row["first_name"], row["last_name"], row["address1"], row["city"], row["state"], row["zip"],
            row["phone"], row["email"]]
