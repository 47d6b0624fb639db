-- segmentSummary also totals today's deposits (what a change event moves at once;
-- AUM is a three-month average). The covering index takes deposits_fen so that a
-- summary still reads the index, not the rows.
DROP INDEX customer_snapshot_segments;
CREATE INDEX customer_snapshot_segments ON customer_snapshot (tier, branch, lifecycle_stage, churn_level, aum_fen, deposits_fen, computed_at);
