-- An export of the BI snapshot is audited as one bulk read with how many customers'
-- rows it answered (docs/bi.md#exports). Part of the sealed row when set; rows without
-- it keep their seals (docs/operations.md#the-audit-chain).
ALTER TABLE access_audit ADD COLUMN row_count BIGINT;
