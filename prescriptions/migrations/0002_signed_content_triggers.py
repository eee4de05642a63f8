"""On PostgreSQL, triggers refuse any change of signed content (issue 6).

- prescriptions_prescription: once signed_at is set, no UPDATE of a signed column, status only
  moves forward (signed → cancelled / superseded), no DELETE.
- prescriptions_prescriptionitem: no INSERT, UPDATE or DELETE of an item of a signed
  prescription — except re-encryption by `manage.py rotate_keys`, which sets the transaction-
  local flag telemed.reencrypting and may then rewrite the encrypted columns only (the
  plaintext is unchanged, and the signature would tell if it were not).
- prescriptions_dispense: append-only.
- prescriptions_prescriberkey: the public key, fingerprint and owner never change; a key is
  retired once; never deleted.

SQLite has no such triggers: there the signature alone tells a changed row (the verify page says
"invalid"), as it does on PostgreSQL for anyone able to disable triggers.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION telemed_reencrypting() RETURNS boolean AS $$
  SELECT coalesce(current_setting('telemed.reencrypting', true), '') = 'on'
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION rx_prescription_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.signed_at IS NOT NULL THEN
      RAISE EXCEPTION 'prescription % is signed: it is never deleted', OLD.public_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.signed_at IS NULL THEN
    RETURN NEW;
  END IF;
  IF (NEW.public_id, NEW.patient_id, NEW.prescriber_id, NEW.appointment_id, NEW.supersedes_id, NEW.valid_days,
      NEW.signed_at, NEW.valid_until, NEW.clinic_name, NEW.patient_name, NEW.patient_birth_date, NEW.patient_mrn,
      NEW.prescriber_name, NEW.prescriber_licence, NEW.prescriber_jurisdiction, NEW.signing_key_id, NEW.signature,
      NEW.created_at)
     IS DISTINCT FROM
     (OLD.public_id, OLD.patient_id, OLD.prescriber_id, OLD.appointment_id, OLD.supersedes_id, OLD.valid_days,
      OLD.signed_at, OLD.valid_until, OLD.clinic_name, OLD.patient_name, OLD.patient_birth_date, OLD.patient_mrn,
      OLD.prescriber_name, OLD.prescriber_licence, OLD.prescriber_jurisdiction, OLD.signing_key_id, OLD.signature,
      OLD.created_at) THEN
    RAISE EXCEPTION 'prescription % is signed: its content is never updated', OLD.public_id USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status
     AND NOT (OLD.status = 'signed' AND NEW.status IN ('cancelled', 'superseded')) THEN
    RAISE EXCEPTION 'prescription %: status % cannot become %', OLD.public_id, OLD.status, NEW.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER rx_prescription_guard BEFORE UPDATE OR DELETE ON prescriptions_prescription
  FOR EACH ROW EXECUTE FUNCTION rx_prescription_guard();

CREATE OR REPLACE FUNCTION rx_item_guard() RETURNS trigger AS $$
DECLARE
  parent_signed boolean;
BEGIN
  SELECT signed_at IS NOT NULL INTO parent_signed FROM prescriptions_prescription
    WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.prescription_id ELSE OLD.prescription_id END;
  IF NOT coalesce(parent_signed, false) THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'UPDATE' AND telemed_reencrypting()
     AND (NEW.id, NEW.prescription_id, NEW.position, NEW.form, NEW.route, NEW.quantity, NEW.quantity_unit,
          NEW.refills, NEW.substitution_allowed)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.prescription_id, OLD.position, OLD.form, OLD.route, OLD.quantity, OLD.quantity_unit,
          OLD.refills, OLD.substitution_allowed) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the items of a signed prescription never change (%)', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER rx_item_guard BEFORE INSERT OR UPDATE OR DELETE ON prescriptions_prescriptionitem
  FOR EACH ROW EXECUTE FUNCTION rx_item_guard();

CREATE OR REPLACE FUNCTION rx_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER rx_dispense_append_only BEFORE UPDATE OR DELETE ON prescriptions_dispense
  FOR EACH ROW EXECUTE FUNCTION rx_append_only();

CREATE OR REPLACE FUNCTION rx_key_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'signing keys are never deleted' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF (NEW.prescriber_id, NEW.public_key, NEW.fingerprint, NEW.created_at)
       IS DISTINCT FROM (OLD.prescriber_id, OLD.public_key, OLD.fingerprint, OLD.created_at)
     OR (OLD.retired_at IS NOT NULL AND NEW.retired_at IS DISTINCT FROM OLD.retired_at)
     OR (NEW.private_key IS DISTINCT FROM OLD.private_key AND NOT telemed_reencrypting()) THEN
    RAISE EXCEPTION 'signing key % never changes (only retired once, or re-encrypted)', OLD.fingerprint USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER rx_key_guard BEFORE UPDATE OR DELETE ON prescriptions_prescriberkey
  FOR EACH ROW EXECUTE FUNCTION rx_key_guard();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS rx_key_guard ON prescriptions_prescriberkey;
DROP TRIGGER IF EXISTS rx_dispense_append_only ON prescriptions_dispense;
DROP TRIGGER IF EXISTS rx_item_guard ON prescriptions_prescriptionitem;
DROP TRIGGER IF EXISTS rx_prescription_guard ON prescriptions_prescription;
DROP FUNCTION IF EXISTS rx_key_guard();
DROP FUNCTION IF EXISTS rx_append_only();
DROP FUNCTION IF EXISTS rx_item_guard();
DROP FUNCTION IF EXISTS rx_prescription_guard();
DROP FUNCTION IF EXISTS telemed_reencrypting();
"""


def _run(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # No parameters: the functions' RAISE messages use % placeholders of their own.
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("prescriptions", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
