-- Views analysts and dashboards read: duplicates already collapsed (FINAL),
-- so nobody has to remember it. Querying the base tables without FINAL may
-- show a re-delivered or re-enriched row twice until a background merge
-- removes the older one; whoever reads them directly adds FINAL.
CREATE OR REPLACE VIEW serviceping.pings_latest AS
SELECT * EXCEPT _version FROM serviceping.pings FINAL;

CREATE OR REPLACE VIEW serviceping.ping_metrics_latest AS
SELECT * EXCEPT _version FROM serviceping.ping_metrics FINAL;
