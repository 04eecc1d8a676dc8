from django.db import migrations

# The ORM already refuses to rewrite audit rows; this makes the database refuse too, whoever asks.
FORWARD = """
CREATE FUNCTION audit_logs_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: rows cannot be updated';
END;
$$;
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_update();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs;
DROP FUNCTION IF EXISTS audit_logs_refuse_update();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
