"""ConnectorX peer: read a query into Arrow with ConnectorX, write it with pyarrow (snappy).

    python cx_to_parquet.py CONNECTION_URL QUERY OUT.parquet
"""
import sys

import connectorx as cx
import pyarrow.parquet as pq

table = cx.read_sql(sys.argv[1], sys.argv[2], return_type="arrow")
pq.write_table(table, sys.argv[3], compression="snappy")
