-- A write made for a colleague (act_for_staff) names them in its audit row too; the
-- column is part of the sealed row (docs/operations.md#the-audit-chain).
ALTER TABLE access_audit ADD COLUMN acting_for TEXT;
