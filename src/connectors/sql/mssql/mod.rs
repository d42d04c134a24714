//! Microsoft SQL Server (over tiberius, TDS 7.3+, TLS through rustls): source and destination.
//!
//! The source asks the server for the result's column types (`sp_describe_first_result_set`)
//! and streams rows into Arrow builders; the destination creates a staging table from the
//! Arrow schema, loads it with TDS bulk insert (`INSERT BULK`), and swaps it in with
//! `sp_rename` in one transaction (full refresh) or `MERGE`s it on the primary key
//! (incremental). The type mapping is documented in [`types`].

mod config;
mod destination;
mod source;
pub mod types;

pub use config::{Encrypt, MssqlConfig};
pub use destination::MssqlDestination;
pub use source::MssqlSource;

use super::{Dialect, MergeInto};
use crate::error::{full_message, Error, ErrorKind, Result};
use arrow::datatypes::{DataType, Field};
use std::time::Duration;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// A connection to SQL Server.
pub type MssqlClient = Client<Compat<TcpStream>>;

/// SQL Server's identifier quoting (`[...]`, `]` doubled) and column types.
pub struct MssqlDialect;

impl Dialect for MssqlDialect {
    fn column_type(&self, data_type: &DataType) -> Result<String, String> {
        types::column_type_name(data_type, false)
    }

    fn field_type(&self, field: &Field) -> Result<String, String> {
        types::field_sql_type(field, false).map(|t| t.ddl)
    }

    fn quote_ident(&self, ident: &str) -> String {
        format!("[{}]", ident.replace(']', "]]"))
    }

    /// Unicode literals (`N'...'`), and typed literals for dates and timestamps so that the
    /// comparison never depends on the session's language or date format.
    fn cursor_literal(&self, value: &crate::contract::CursorValue) -> String {
        use crate::contract::CursorValue;
        let text = nstring(&value.text());
        match value {
            CursorValue::Decimal(d) if super::is_decimal_text(d) => d.clone(),
            CursorValue::Date(_) => format!("CAST({text} AS DATE)"),
            CursorValue::Timestamp(_) => format!("CAST({text} AS DATETIME2(7))"),
            CursorValue::TimestampTz(_) => format!("CAST({text} AS DATETIMEOFFSET(7))"),
            _ => text,
        }
    }

    /// Publishes an incremental load: `MERGE` on the primary key (or `INSERT` without one) of
    /// `staging` into `target` (both qualified), in one transaction. `HOLDLOCK` keeps a concurrent
    /// writer from inserting the same key in between.
    fn merge_sql(&self, m: &MergeInto<'_>) -> String {
        let (target, staging) = (m.target, m.staging);
        let (columns, primary_key) = (m.columns, m.primary_key);
        let body = if primary_key.is_empty() {
            let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            let cols = cols.join(", ");
            format!("INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging};")
        } else {
            super::merge_statement_sql(
                self,
                super::MergeSyntax {
                    target_alias: "WITH (HOLDLOCK) AS ",
                    source_alias: "AS ",
                    terminator: ";",
                },
                m,
            )
        };
        format!("SET XACT_ABORT ON; BEGIN TRANSACTION; {body} COMMIT TRANSACTION;")
    }

    /// Key columns get bounded types (`NVARCHAR(MAX)` cannot be indexed).
    fn column_definition(&self, field: &Field, is_key: bool) -> Result<String, String> {
        let t = types::field_sql_type(field, is_key)?;
        let null = if field.is_nullable() && !is_key {
            " NULL"
        } else {
            " NOT NULL"
        };
        Ok(format!("{}{null}", t.ddl))
    }
}

/// A Unicode string literal: `N'...'` with `'` doubled.
pub fn nstring(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

pub(crate) fn quote(ident: &str) -> String {
    MssqlDialect.quote_ident(ident)
}

/// `[schema].[table]`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote(schema), quote(table))
}

/// The statement that swaps a loaded staging table in for `table` (full refresh): both
/// renames in one transaction, so readers see the old table or the new one, never neither.
/// `XACT_ABORT` rolls the whole batch back if either rename fails.
pub fn swap_sql(schema: &str, table: &str, staging: &str, old: &str) -> String {
    format!(
        "SET XACT_ABORT ON; BEGIN TRANSACTION; \
         EXEC sp_rename {}, {}; EXEC sp_rename {}, {}; COMMIT TRANSACTION;",
        nstring(&qualified(schema, table)),
        nstring(old),
        nstring(&qualified(schema, staging)),
        nstring(table),
    )
}

/// Renames the staging table to `table` (the first load, when `table` does not exist yet).
pub fn rename_sql(schema: &str, staging: &str, table: &str) -> String {
    format!(
        "EXEC sp_rename {}, {};",
        nstring(&qualified(schema, staging)),
        nstring(table)
    )
}

/// SQL Server's limit on identifier length.
pub const MAX_IDENT: usize = 128;

/// A driver error, worded for the user (secrets scrubbed), with the kind its code says.
pub(crate) fn run_err(what: &str, e: tiberius::error::Error) -> Error {
    Error::driver(mssql_kind(&e), what, full_message(&e))
}

/// The kind of a driver error on an open connection: the server's error number; any I/O
/// error is a lost connection.
pub(crate) fn mssql_kind(e: &tiberius::error::Error) -> ErrorKind {
    use tiberius::error::Error as E;
    match e {
        E::Server(token) => server_code_kind(token.code()),
        E::Io { .. } => ErrorKind::ConnectionLost,
        E::Conversion(_) | E::Utf8 | E::Utf16 | E::ParseInt(_) | E::BulkInput(_) => {
            ErrorKind::BadValue
        }
        _ => ErrorKind::Permanent,
    }
}

/// SQL Server / Azure SQL error number -> kind. The Azure numbers are the ones Microsoft lists
/// as transient (a database moving during a failover or reconfiguration, a throttled service).
fn server_code_kind(code: u32) -> ErrorKind {
    match code {
        // deadlock victim, lock request timeout; Azure: database unavailable, service error,
        // service busy, cannot process the request (49918-49920)
        1205 | 1222 | 40613 | 40197 | 40501 | 49918 | 49919 | 49920 => ErrorKind::Transient,
        // connection aborted / reset by the host, no process at the other end of the pipe
        10053 | 10054 | 233 => ErrorKind::ConnectionLost,
        // cannot open the login's database: on Azure during a failover, elsewhere a wrong
        // database name, so only retried after a lost connection
        4060 => ErrorKind::Unreachable,
        // login failed, permission denied (object, column)
        18456 | 229 | 230 => ErrorKind::Auth,
        // invalid object name, invalid column name
        208 | 207 => ErrorKind::NotFound,
        // NULL into NOT NULL, duplicate key, conversion failed, overflow, truncation
        515 | 2601 | 2627 | 245 | 8114 | 8115 | 8152 | 2628 => ErrorKind::BadValue,
        _ => ErrorKind::Permanent,
    }
}

/// Opens one connection within `connect_timeout` (TCP connect, TLS and login together).
/// Errors never contain the password. An Azure SQL redirect is followed once.
pub(crate) async fn connect(c: &MssqlConfig) -> Result<MssqlClient> {
    let mut config = Config::new();
    config.host(&c.host);
    config.port(c.port);
    config.database(&c.database);
    config.application_name("etl");
    config.authentication(AuthMethod::sql_server(&c.user, c.password.expose()));
    config.encryption(match c.encrypt {
        Encrypt::Required => EncryptionLevel::Required,
        Encrypt::On => EncryptionLevel::On,
        Encrypt::Off => EncryptionLevel::Off,
        Encrypt::NotSupported => EncryptionLevel::NotSupported,
    });
    if c.trust_server_certificate {
        config.trust_cert();
    }
    let secs = c.connect_timeout.max(1);
    let attempt = async {
        let mut config = config;
        for _ in 0..2 {
            match open(&config).await {
                Err(OpenError::Driver(tiberius::error::Error::Routing { host, port })) => {
                    config.host(&host);
                    config.port(port);
                }
                other => return other,
            }
        }
        open(&config).await
    };
    match tokio::time::timeout(Duration::from_secs(secs), attempt).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Error::driver(
            e.kind(),
            format!("cannot connect to {}", c.describe()),
            e.message(),
        )),
        Err(_) => Err(Error::Connection(format!(
            "cannot connect to {}: no answer within {secs}s (connect_timeout)",
            c.describe()
        ))),
    }
}

enum OpenError {
    Io(std::io::Error),
    Driver(tiberius::error::Error),
}

impl OpenError {
    /// Refused or unanswered is "unreachable"; a refused login is an authentication failure.
    fn kind(&self) -> ErrorKind {
        match self {
            OpenError::Io(e) => crate::error::io_kind(e),
            OpenError::Driver(tiberius::error::Error::Io { kind, .. }) => {
                crate::error::io_kind(&std::io::Error::from(*kind))
            }
            OpenError::Driver(e) => match mssql_kind(e) {
                ErrorKind::Permanent | ErrorKind::ConnectionLost => ErrorKind::Unreachable,
                kind => kind,
            },
        }
    }

    fn message(&self) -> String {
        match self {
            OpenError::Io(e) => full_message(e),
            OpenError::Driver(e) => full_message(e),
        }
    }
}

async fn open(config: &Config) -> std::result::Result<MssqlClient, OpenError> {
    let tcp = TcpStream::connect(config.get_addr())
        .await
        .map_err(OpenError::Io)?;
    tcp.set_nodelay(true).map_err(OpenError::Io)?;
    Client::connect(config.clone(), tcp.compat_write())
        .await
        .map_err(OpenError::Driver)
}

/// Connects and runs `SELECT 1` (`etl check`, and a destination's preflight).
pub(crate) async fn check(c: &MssqlConfig) -> Result<()> {
    let mut client = connect(c).await?;
    exec(&mut client, "SELECT 1", &c.describe()).await?;
    let _ = client.close().await;
    Ok(())
}

/// Runs statements that return no rows.
pub(crate) async fn exec(client: &mut MssqlClient, sql: &str, what: &str) -> Result<()> {
    client
        .simple_query(sql)
        .await
        .map_err(|e| run_err(what, e))?
        .into_results()
        .await
        .map_err(|e| run_err(what, e))?;
    Ok(())
}

/// Base tables of `schema`, without etl's staging tables, in name order.
pub(crate) async fn list_tables(client: &mut MssqlClient, schema: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES \
             WHERE TABLE_SCHEMA = @P1 AND TABLE_TYPE = 'BASE TABLE' \
             AND TABLE_NAME NOT LIKE '\\_etl\\_%' ESCAPE '\\' ORDER BY TABLE_NAME",
            &[&schema],
        )
        .await
        .map_err(|e| run_err("listing tables", e))?
        .into_first_result()
        .await
        .map_err(|e| run_err("listing tables", e))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get::<&str, _>(0).map(str::to_string))
        .collect())
}

/// Row estimates of the schema's tables from `sys.partitions` (heap or clustered index rows,
/// kept by the engine; no scan). Best effort: a failure (e.g. no VIEW DEFINITION permission)
/// gives no estimates rather than failing `discover`.
pub(crate) async fn row_estimates(
    client: &mut MssqlClient,
    schema: &str,
) -> std::collections::HashMap<String, u64> {
    let rows = async {
        client
            .query(
                "SELECT t.name, SUM(p.rows) FROM sys.tables t \
                 JOIN sys.schemas s ON s.schema_id = t.schema_id \
                 JOIN sys.partitions p ON p.object_id = t.object_id AND p.index_id IN (0, 1) \
                 WHERE s.name = @P1 GROUP BY t.name",
                &[&schema],
            )
            .await?
            .into_first_result()
            .await
    }
    .await;
    rows.map(|rows| {
        rows.iter()
            .filter_map(|r| {
                let name = r.get::<&str, _>(0)?.to_string();
                let n = r.get::<i64, _>(1)?;
                Some((name, u64::try_from(n).ok()?))
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Whether base table `schema.table` exists.
pub(crate) async fn table_exists(
    client: &mut MssqlClient,
    schema: &str,
    table: &str,
) -> Result<bool> {
    let what = format!("looking up table `{schema}.{table}`");
    let row = client
        .query(
            "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES \
             WHERE TABLE_SCHEMA = @P1 AND TABLE_NAME = @P2",
            &[&schema, &table],
        )
        .await
        .map_err(|e| run_err(&what, e))?
        .into_row()
        .await
        .map_err(|e| run_err(&what, e))?;
    Ok(row.and_then(|r| r.get::<i32, _>(0)).unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::CursorValue;
    use arrow::datatypes::Schema;

    #[test]
    fn server_codes_map_to_kinds() {
        for (code, kind) in [
            (1205, ErrorKind::Transient),
            (40613, ErrorKind::Transient),
            (10054, ErrorKind::ConnectionLost),
            (40197, ErrorKind::Transient),
            (40501, ErrorKind::Transient),
            (49918, ErrorKind::Transient),
            (49919, ErrorKind::Transient),
            (49920, ErrorKind::Transient),
            (4060, ErrorKind::Unreachable),
            (18456, ErrorKind::Auth),
            (208, ErrorKind::NotFound),
            (2627, ErrorKind::BadValue),
            (102, ErrorKind::Permanent),
        ] {
            assert_eq!(server_code_kind(code), kind, "{code}");
        }
        let io = tiberius::error::Error::Io {
            kind: std::io::ErrorKind::UnexpectedEof,
            message: "eof".into(),
        };
        let e = run_err("reading [t]", io);
        assert!(e.is_transient());
        assert!(
            e.to_string().contains("the server closed the connection"),
            "{e}"
        );
        let refused = OpenError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(refused.kind(), ErrorKind::Unreachable);
    }

    #[test]
    fn identifiers_are_bracketed() {
        assert_eq!(quote("a]b"), "[a]]b]");
        assert_eq!(quote("\"x\""), "[\"x\"]");
        assert_eq!(quote("select"), "[select]");
        assert_eq!(qualified("dbo", "order by"), "[dbo].[order by]");
        assert_eq!(qualified("my]schema", "t"), "[my]]schema].[t]");
    }

    #[test]
    fn ddl_from_arrow() {
        let schema = Schema::new(vec![
            Field::new("a]b", DataType::Utf8, false),
            Field::new("select", DataType::Int64, true),
            Field::new("\"x\"", DataType::Decimal128(12, 2), true),
        ]);
        let sql = MssqlDialect
            .create_table(&qualified("dbo", "t"), &schema, &["a]b".to_string()])
            .unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE [dbo].[t] (\n  [a]]b] NVARCHAR(450) NOT NULL,\n  [select] BIGINT NULL,\n  [\"x\"] DECIMAL(12,2) NULL,\n  PRIMARY KEY ([a]]b])\n)"
        );
    }

    #[test]
    fn swap_and_merge_statements() {
        assert_eq!(
            swap_sql("dbo", "it's", "_etl_stage_it's_x", "_etl_old_it's_x"),
            "SET XACT_ABORT ON; BEGIN TRANSACTION; EXEC sp_rename N'[dbo].[it''s]', N'_etl_old_it''s_x'; EXEC sp_rename N'[dbo].[_etl_stage_it''s_x]', N'it''s'; COMMIT TRANSACTION;"
        );
        assert_eq!(
            rename_sql("s", "st", "a]b"),
            "EXEC sp_rename N'[s].[st]', N'a]b';"
        );
        let cols = vec!["id".to_string(), "v]".to_string()];
        assert_eq!(
            MssqlDialect.merge_sql(&MergeInto::new("[dbo].[t]", "[dbo].[s]", &cols, &["id".to_string()])),
            "SET XACT_ABORT ON; BEGIN TRANSACTION; MERGE INTO [dbo].[t] WITH (HOLDLOCK) AS t USING [dbo].[s] AS s ON (t.[id] = s.[id]) WHEN MATCHED THEN UPDATE SET t.[v]]] = s.[v]]] WHEN NOT MATCHED THEN INSERT ([id], [v]]]) VALUES (s.[id], s.[v]]]); COMMIT TRANSACTION;"
        );
        assert_eq!(
            MssqlDialect.merge_sql(&MergeInto::new("[dbo].[t]", "[dbo].[s]", &cols, &[])),
            "SET XACT_ABORT ON; BEGIN TRANSACTION; INSERT INTO [dbo].[t] ([id], [v]]]) SELECT [id], [v]]] FROM [dbo].[s]; COMMIT TRANSACTION;"
        );
    }

    #[test]
    fn cursor_literals_are_typed() {
        let d = MssqlDialect;
        assert_eq!(
            d.cursor_literal(&CursorValue::Text("it's".into())),
            "N'it''s'"
        );
        assert_eq!(
            d.cursor_literal(&CursorValue::Decimal("-12.50".into())),
            "-12.50"
        );
        assert_eq!(
            d.cursor_literal(&CursorValue::TimestampTz(
                "2024-01-01 00:00:00.000000+00:00".into()
            )),
            "CAST(N'2024-01-01 00:00:00.000000+00:00' AS DATETIMEOFFSET(7))"
        );
        assert_eq!(
            d.cursor_literal(&CursorValue::Date("2024-01-01".into())),
            "CAST(N'2024-01-01' AS DATE)"
        );
        assert_eq!(
            crate::connectors::sql::cursor_predicate(&d, "up]d", &CursorValue::Int(5)),
            "[up]]d] >= 5"
        );
    }
}
