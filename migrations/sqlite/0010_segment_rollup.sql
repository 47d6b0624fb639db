-- segmentSummary's totals kept per cell (tier x branch x lifecycle stage x churn level)
-- as the snapshot's rows change, so a summary reads a few thousand cells instead of
-- grouping every row (docs/bi.md#how-far-it-scales). Triggers keep the cells in the
-- same transaction as the row, so they always add up to the rows. `oldest` may be
-- older than the oldest row a cell holds now (a replaced row's time is not taken
-- back); a complete sweep sets it exactly again.
CREATE TABLE snapshot_segments (
    tier            TEXT NOT NULL,
    branch          TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL,
    churn_level     TEXT NOT NULL,
    customers       BIGINT NOT NULL,
    aum_fen         BIGINT NOT NULL,
    deposits_fen    BIGINT NOT NULL,
    oldest          TEXT NOT NULL,
    PRIMARY KEY (tier, branch, lifecycle_stage, churn_level)
);

INSERT INTO snapshot_segments
SELECT tier, COALESCE(branch, 'NONE'), lifecycle_stage, churn_level, COUNT(*),
       SUM(aum_fen), SUM(deposits_fen), MIN(computed_at)
FROM customer_snapshot
GROUP BY tier, COALESCE(branch, 'NONE'), lifecycle_stage, churn_level;

CREATE TRIGGER customer_snapshot_segment_in AFTER INSERT ON customer_snapshot
BEGIN
    INSERT INTO snapshot_segments
    VALUES (NEW.tier, COALESCE(NEW.branch, 'NONE'), NEW.lifecycle_stage, NEW.churn_level,
            1, NEW.aum_fen, NEW.deposits_fen, NEW.computed_at)
    ON CONFLICT (tier, branch, lifecycle_stage, churn_level) DO UPDATE SET
        customers = customers + 1,
        aum_fen = aum_fen + excluded.aum_fen,
        deposits_fen = deposits_fen + excluded.deposits_fen,
        oldest = MIN(oldest, excluded.oldest);
END;

CREATE TRIGGER customer_snapshot_segment_out AFTER DELETE ON customer_snapshot
BEGIN
    UPDATE snapshot_segments SET
        customers = customers - 1,
        aum_fen = aum_fen - OLD.aum_fen,
        deposits_fen = deposits_fen - OLD.deposits_fen
    WHERE tier = OLD.tier AND branch = COALESCE(OLD.branch, 'NONE')
      AND lifecycle_stage = OLD.lifecycle_stage AND churn_level = OLD.churn_level;
END;

CREATE TRIGGER customer_snapshot_segment_moved AFTER UPDATE ON customer_snapshot
BEGIN
    UPDATE snapshot_segments SET
        customers = customers - 1,
        aum_fen = aum_fen - OLD.aum_fen,
        deposits_fen = deposits_fen - OLD.deposits_fen
    WHERE tier = OLD.tier AND branch = COALESCE(OLD.branch, 'NONE')
      AND lifecycle_stage = OLD.lifecycle_stage AND churn_level = OLD.churn_level;
    INSERT INTO snapshot_segments
    VALUES (NEW.tier, COALESCE(NEW.branch, 'NONE'), NEW.lifecycle_stage, NEW.churn_level,
            1, NEW.aum_fen, NEW.deposits_fen, NEW.computed_at)
    ON CONFLICT (tier, branch, lifecycle_stage, churn_level) DO UPDATE SET
        customers = customers + 1,
        aum_fen = aum_fen + excluded.aum_fen,
        deposits_fen = deposits_fen + excluded.deposits_fen,
        oldest = MIN(oldest, excluded.oldest);
END;
