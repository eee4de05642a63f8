"""Make the database itself refuse to change or remove audit rows.

The hash chain makes tampering visible; these triggers make the everyday ways of tampering
(an ORM .update(), a stray DELETE in a shell, a TRUNCATE) fail outright. Someone who can drop
triggers can still edit rows; audit_verify is what catches that.
"""

from django.db import migrations

TABLE = "audit_auditevent"

POSTGRES_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{TABLE} is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$;
    """,
    f"""
    CREATE OR REPLACE FUNCTION audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- An empty table loses nothing; Django's test runner truncates every table between
        -- transactional tests, after the audit rows have been removed with the guards lifted.
        IF EXISTS (SELECT 1 FROM {TABLE}) THEN
            RAISE EXCEPTION '{TABLE} is append-only: TRUNCATE refused' USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    f"""
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
    """,
    f"""
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
    """,
]
POSTGRES_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE};",
    f"DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE};",
    "DROP FUNCTION IF EXISTS audit_refuse_truncate();",
    "DROP FUNCTION IF EXISTS audit_refuse_change();",
]

# SQLite has no TRUNCATE: "DELETE FROM t" without WHERE is its equivalent, and the row trigger
# refuses it like any other DELETE (the truncate optimisation is off when a table has triggers).
SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END;
    """,
    f"""
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END;
    """,
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_event_no_update;",
    "DROP TRIGGER IF EXISTS audit_event_no_delete;",
]


def _run(schema_editor, statements_by_vendor):
    vendor = schema_editor.connection.vendor
    if vendor not in statements_by_vendor:
        raise RuntimeError(f"audit: no append-only guards for the {vendor} database")
    for statement in statements_by_vendor[vendor]:
        schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRES_INSTALL, "sqlite": SQLITE_INSTALL})


def remove(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRES_REMOVE, "sqlite": SQLITE_REMOVE})


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
