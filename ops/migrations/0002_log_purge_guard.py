from django.db import migrations

# audit_logs and gift_card_logs already refuse UPDATE (accounts 0002, giftcards 0002). This makes them refuse
# DELETE too, except inside a transaction that set mobul.retention_purge (only ops.retention._purge does), so
# old rows leave through the retention job and nothing else. Statement-level: one check per DELETE, not per row.
FORWARD = """
CREATE FUNCTION retention_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('mobul.retention_purge', true), '') <> 'on' THEN
        RAISE EXCEPTION '% rows are only deleted by the retention job', TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_logs_retention_only BEFORE DELETE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION retention_purge_only();
CREATE TRIGGER gift_card_logs_retention_only BEFORE DELETE ON gift_card_logs
    FOR EACH STATEMENT EXECUTE FUNCTION retention_purge_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_logs_retention_only ON audit_logs;
DROP TRIGGER IF EXISTS gift_card_logs_retention_only ON gift_card_logs;
DROP FUNCTION IF EXISTS retention_purge_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("accounts", "0002_audit_logs_append_only"),
        ("giftcards", "0002_gift_card_logs_append_only"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
