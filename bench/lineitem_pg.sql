-- A deterministic lineitem-like table with :rows rows in schema :schema (see bench/bench_pg.sh);
-- the same columns and values as bench/lineitem_sqlite.sql.
DROP SCHEMA IF EXISTS :"schema" CASCADE;
CREATE SCHEMA :"schema";
CREATE TABLE :"schema".lineitem (
  l_orderkey      bigint NOT NULL,
  l_linenumber    int NOT NULL,
  l_extendedprice numeric(12,2),
  l_discount      double precision,
  l_shipmode      varchar(10),
  l_comment       varchar(44),
  l_shipdate      date,
  l_commit_ts     timestamp,
  l_receipt_ts    timestamptz,
  l_returned      boolean
);
INSERT INTO :"schema".lineitem
SELECT
  i * 4 + 7,
  (i % 7) + 1,
  ((i * 7919) % 10000000) / 100.0,
  ((i * 31) % 11) / 100.0,
  (ARRAY['AIR','MAIL','SHIP','TRUCK','RAIL','FOB','REG AIR'])[(i % 7) + 1],
  substr('carefully final deposits detect slyly agai' || i, 1, 10 + (i % 34)::int),
  date '1992-01-01' + (i % 2500)::int,
  timestamp '1992-01-01' + make_interval(secs => (i % 86400000)),
  timestamptz '1993-01-01 00:00:00+00' + make_interval(secs => ((i * 13) % 86400000)),
  i % 3 = 0
FROM generate_series(1::bigint, :rows) i;
ANALYZE :"schema".lineitem;
