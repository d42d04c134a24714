"""Runs SQL on a SQLite file with Python's own sqlite3 module, independently of etl.

    sqlite_sql.py DB exec SQL     runs a script (several statements), prints nothing
    sqlite_sql.py DB query SQL    prints the rows of one query as JSON: a list of lists of
                                  text (NULL as null, blobs as lowercase hex, numbers by str())
"""
import json
import sqlite3
import sys


def text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def main():
    db, what, sql = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    if what == "exec":
        conn.executescript(sql)
    elif what == "query":
        rows = [[text(v) for v in row] for row in conn.execute(sql)]
        json.dump(rows, sys.stdout, ensure_ascii=False)
    else:
        sys.exit(f"unknown command {what!r}")
    conn.close()


if __name__ == "__main__":
    main()
