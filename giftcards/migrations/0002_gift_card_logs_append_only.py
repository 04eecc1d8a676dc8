from django.db import migrations

# Card history is evidence: the database refuses to rewrite it. (Retention deletes whole old rows.)
FORWARD = """
CREATE FUNCTION gift_card_logs_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'gift_card_logs is append-only: rows cannot be updated';
END;
$$;
CREATE TRIGGER gift_card_logs_append_only BEFORE UPDATE ON gift_card_logs
    FOR EACH ROW EXECUTE FUNCTION gift_card_logs_refuse_update();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS gift_card_logs_append_only ON gift_card_logs;
DROP FUNCTION IF EXISTS gift_card_logs_refuse_update();
"""


class Migration(migrations.Migration):
    dependencies = [("giftcards", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
