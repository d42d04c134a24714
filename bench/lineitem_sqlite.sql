-- A deterministic lineitem-like table with {{ROWS}} rows (see bench/bench.sh).
-- Columns: bigint, int, numeric(12,2), double, short text, varchar(44), date, timestamp,
-- timestamptz, boolean.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE lineitem (
  l_orderkey      BIGINT NOT NULL,
  l_linenumber    INT NOT NULL,
  l_extendedprice DECIMAL(12,2),
  l_discount      DOUBLE,
  l_shipmode      VARCHAR(10),
  l_comment       VARCHAR(44),
  l_shipdate      DATE,
  l_commit_ts     TIMESTAMP,
  l_receipt_ts    TIMESTAMPTZ,
  l_returned      BOOLEAN
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {{ROWS}})
INSERT INTO lineitem
SELECT
  i * 4 + 7,
  (i % 7) + 1,
  ((i * 7919) % 10000000) / 100.0,
  ((i * 31) % 11) / 100.0,
  CASE i % 7 WHEN 0 THEN 'AIR' WHEN 1 THEN 'MAIL' WHEN 2 THEN 'SHIP' WHEN 3 THEN 'TRUCK'
             WHEN 4 THEN 'RAIL' WHEN 5 THEN 'FOB' ELSE 'REG AIR' END,
  substr('carefully final deposits detect slyly agai' || i, 1, 10 + (i % 34)),
  date('1992-01-01', '+' || (i % 2500) || ' days'),
  strftime('%Y-%m-%d %H:%M:%f', '1992-01-01', '+' || (i % 86400000) || ' seconds') || '000',
  strftime('%Y-%m-%d %H:%M:%f', '1993-01-01', '+' || ((i * 13) % 86400000) || ' seconds') || '000+00:00',
  i % 3 = 0
FROM n;
