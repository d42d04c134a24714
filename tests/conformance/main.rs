//! One SQL conformance suite that every database runs, in the manner of object_store's
//! `integration.rs`: each scenario (scenarios.rs) is written once over the [`db::TestDb`]
//! trait, and each database (sqlite_db.rs, postgres_db.rs, mysql_db.rs, mssql_db.rs,
//! oracle_db.rs) implements that trait with its own client. The macro below makes one
//! `#[test]` per (database, scenario), named `<database>::<scenario>`.
//!
//! SQLite, PostgreSQL and MariaDB always run (an unreachable server fails the tests); SQL
//! Server and Oracle run only with `ETL_TEST_MSSQL_URL` / `ETL_TEST_ORACLE_DSN` set, otherwise
//! each test prints `SKIPPED: <test>: <reason>`. A scenario a database cannot do (SQLite has no
//! connection to end) prints `SKIPPED:` with the database's reason instead of passing silently.
//! The fault-point scenarios need `--features fault-injection` (`make test` enables it).

#[path = "../common/arrow_gen.rs"]
mod arrow_gen;
#[path = "../common/mod.rs"]
mod common;
mod db;
#[cfg(feature = "mssql")]
mod mssql_db;
mod mysql_db;
#[cfg(feature = "oracle")]
mod oracle_db;
mod postgres_db;
mod props;
mod scenarios;
mod sqlite_db;

/// One module per database with one test per scenario.
macro_rules! per_database {
    ($database:ident, $backend:path, [$($scenario:ident),* $(,)?]) => {
        mod $database {
            $(
                #[test]
                fn $scenario() {
                    let test = concat!(stringify!($database), "::", stringify!($scenario));
                    if let Some(open) = $backend(test) {
                        crate::scenarios::$scenario(test, &*open);
                    }
                }
            )*
        }
    };
}

macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        per_database!(sqlite, crate::sqlite_db::backend, [$($scenario),*]);
        per_database!(postgresql, crate::postgres_db::backend, [$($scenario),*]);
        per_database!(mysql, crate::mysql_db::backend, [$($scenario),*]);
        #[cfg(feature = "mssql")]
        per_database!(mssql, crate::mssql_db::backend, [$($scenario),*]);
        #[cfg(feature = "oracle")]
        per_database!(oracle, crate::oracle_db::backend, [$($scenario),*]);
    };
}

conformance!(
    every_type_round_trips_through_parquet,
    full_refresh_replaces_the_table,
    failed_full_refresh_keeps_the_old_table,
    incremental_merge_with_boundary_rows,
    killed_mid_read_then_rerun,
    killed_before_commit_then_rerun,
    killed_before_publish_then_rerun,
    killed_after_commit_then_rerun,
    empty_table,
    nested_values_load_as_json,
    quoted_reserved_and_mixed_case_identifiers,
    timeout_fails_without_publishing,
    discover_and_check,
    check_finds_missing_tables_schemas_and_bad_queries,
    wrong_login_is_refused_and_never_printed,
    source_connection_ended_mid_read_is_retried,
    source_connection_ended_mid_read_without_retries_fails,
    destination_connection_ended_mid_load_is_retried,
    destination_connection_ended_mid_load_without_retries_fails,
    schema_change_column_added,
    schema_change_column_dropped,
    schema_change_int_to_bigint,
    schema_change_varchar_widened,
    schema_change_decimal_widened,
    schema_change_narrowing_refused,
    schema_change_freeze_refuses,
    schema_change_discard_new_columns,
    schema_change_not_null_column_dropped,
    truncate_keeps_the_table,
    snapshot_appends_with_the_load_time,
    backfill_merges_the_range_and_keeps_the_state,
    definition_only_creates_an_empty_table,
    merge_strategy_update_insert,
    merge_strategy_delete_insert,
    merge_strategy_insert_only,
    merge_strategy_update_only,
    delete_missing_hard,
    delete_missing_soft,
    pre_and_post_sql_hooks,
    run_hooks,
    delete_missing_killed_before_publish_then_rerun,
    column_casing_maps_columns_and_keys,
    // props.rs: property-based round trips of random batches.
    random_batches_round_trip,
    float_limits_round_trip,
    text_edges_round_trip,
);
