-- A deterministic lineitem-like MariaDB table with {{ROWS}} rows (see bench/mysql_bench.sh),
-- the same columns and values as bench/lineitem_sqlite.sql, in MySQL types.
DROP TABLE IF EXISTS lineitem;
CREATE TABLE lineitem (
  l_orderkey      BIGINT NOT NULL,
  l_linenumber    INT NOT NULL,
  l_extendedprice DECIMAL(12,2),
  l_discount      DOUBLE,
  l_shipmode      VARCHAR(10),
  l_comment       VARCHAR(44),
  l_shipdate      DATE,
  l_commit_ts     DATETIME(6),
  l_receipt_ts    TIMESTAMP(6) NULL,
  l_returned      BOOLEAN,
  PRIMARY KEY (l_orderkey)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
SET time_zone = '+00:00';
INSERT INTO lineitem
SELECT
  seq * 4 + 7,
  (seq % 7) + 1,
  ((seq * 7919) % 10000000) / 100.0,
  ((seq * 31) % 11) / 100.0,
  ELT((seq % 7) + 1, 'AIR', 'MAIL', 'SHIP', 'TRUCK', 'RAIL', 'FOB', 'REG AIR'),
  SUBSTR(CONCAT('carefully final deposits detect slyly agai', seq), 1, 10 + (seq % 34)),
  DATE('1992-01-01') + INTERVAL (seq % 2500) DAY,
  TIMESTAMP('1992-01-01') + INTERVAL (seq % 86400000) SECOND,
  TIMESTAMP('1993-01-01') + INTERVAL ((seq * 13) % 86400000) SECOND,
  seq % 3 = 0
FROM seq_1_to_{{ROWS}};
