//! The `etl` command line. Library errors become messages on stderr and exit codes:
//! 0 success, 1 a run failed, 2 the spec or the command line is invalid.

use clap::{Parser, Subcommand, ValueEnum};
use etl::connectors::registry;
use etl::runner::state::StateLocation;
use etl::runner::{self, RunOptions, RunSummary};
use etl::spec::{self, Spec};
use etl::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Move tables and files between SQL databases and file/object storage, as a YAML spec says.
///
/// A spec names a source and a destination (each a `connector_type` plus its `config`) and
/// the streams to move. Run `etl connectors` to see every connector and its config keys.
///
/// Exit codes: 0 all streams succeeded; 1 a run failed; 2 the spec or command line is invalid.
#[derive(Parser)]
#[command(name = "etl", version, about, long_about, max_term_width = 100)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Only warnings and errors on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a spec: move every (or every selected) stream from source to destination.
    Run {
        /// The spec file (YAML).
        spec: PathBuf,
        /// Run only this stream (repeat for more).
        #[arg(long = "select", value_name = "STREAM")]
        select: Vec<String>,
        /// Treat every stream as `full_refresh`, whatever its mode says.
        #[arg(long)]
        full_refresh: bool,
        /// Backfill the cursor range START,END (both included) of the selected incremental or
        /// backfill streams, leaving their saved cursor as it is (e.g. `--range 2024-01-01,2024-01-31`).
        #[arg(long, value_name = "START,END")]
        range: Option<String>,
        /// Check each stream's table or query (as `check` does), print the plan (streams, modes,
        /// destinations) and stop; no row is read or written.
        #[arg(long)]
        dry_run: bool,
        /// Where incremental state is kept (overrides `state.path`).
        #[arg(long, value_name = "PATH_OR_URL")]
        state: Option<String>,
        /// Write a JSON summary of the run here, even when the run fails.
        #[arg(long, value_name = "FILE.json")]
        summary: Option<PathBuf>,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Split a run into work units for several processes (Airflow mapped tasks, a Kubernetes
    /// Indexed Job): one per stream, or `--units-per-stream` key ranges of each full-refresh
    /// stream with `partition: {column: ...}`; prints the plan (run id and units).
    Plan {
        spec: PathBuf,
        /// Print the plan as JSON (the file `etl run --plan` reads).
        #[arg(long)]
        json: bool,
        /// Split each partitioned stream into this many key ranges (default 1: one unit per
        /// stream).
        #[arg(long, value_name = "N", default_value_t = 1)]
        units_per_stream: usize,
    },
    /// Parse and validate a spec; no connection is made.
    Validate { spec: PathBuf },
    /// Test the source and the destination, and that each listed stream's table exists and
    /// its query prepares (no row is read); one line each, exit 1 if any fails.
    Check { spec: PathBuf },
    /// List the source's streams with their Arrow schemas.
    Discover {
        spec: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show or reset the saved incremental state of a spec's streams.
    State {
        #[command(subcommand)]
        action: StateAction,
    },
    /// List every connector_type, its role(s) and config keys.
    Connectors {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `etl run --plan PLAN.json` with `--unit`, `--shard` or `--commit`.
#[derive(clap::Args)]
struct PlanArgs {
    /// A plan written by `etl plan --json`: run its units (`--unit`, `--shard`) or publish
    /// them (`--commit`).
    #[arg(long, value_name = "PLAN.json", conflicts_with_all = ["select", "full_refresh", "dry_run"])]
    plan: Option<PathBuf>,
    /// Run this unit of the plan: stage its output under the plan's run id, publish nothing
    /// (repeat for more; a unit run again replaces what it staged before).
    #[arg(long, value_name = "ID", requires = "plan")]
    unit: Vec<String>,
    /// Run every N-th unit of the plan, starting with the I-th (0-based): `I/N`, or `N` with
    /// I taken from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "I/N", requires = "plan", conflicts_with = "unit")]
    shard: Option<String>,
    /// Publish every unit staged for the plan's run at once and save the state; fails,
    /// publishing nothing, while a unit is missing.
    #[arg(long, requires = "plan", conflicts_with_all = ["unit", "shard"])]
    commit: bool,
}

#[derive(Subcommand)]
enum StateAction {
    /// Print the state document (JSON) on stdout.
    Show {
        spec: PathBuf,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Where the state is kept (overrides `state.path`).
        #[arg(long, value_name = "PATH_OR_URL")]
        state: Option<String>,
    },
    /// Forget the saved state: the next run of the stream(s) loads everything again.
    Reset {
        spec: PathBuf,
        /// Only this stream (default: every stream).
        #[arg(long)]
        stream: Option<String>,
        #[arg(long, value_name = "PATH_OR_URL")]
        state: Option<String>,
    },
}

fn init_logging(format: LogFormat, quiet: bool) {
    let level = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ETL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A terminal gets progress bars instead of info lines; logs (cron, Airflow) get lines.
    let bars = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && matches!(cli.log_format, LogFormat::Text)
        && !cli.quiet;
    init_logging(cli.log_format, cli.quiet || bars);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli.command, bars, cli.log_format));
    // Every stream has ended (committed, or failed and cleaned up). A blocking read the run
    // gave up on (a slow SQLite query past `defaults.timeout`) must not hold the exit: dropping
    // the runtime would wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", etl::error::full_message(&e));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

async fn dispatch(command: Command, bars: bool, format: LogFormat) -> Result<u8> {
    match command {
        Command::Run {
            spec,
            select,
            full_refresh,
            range,
            dry_run,
            state,
            summary,
            plan,
        } => {
            let options = RunOptions {
                select,
                full_refresh,
                range: range.as_deref().map(runner::parse_range).transpose()?,
                dry_run,
                progress_bars: bars,
                ..Default::default()
            };
            let output = RunOutput {
                summary: summary.as_deref(),
                format,
            };
            match plan.plan.as_deref() {
                Some(file) => run_plan(&spec, file, &plan, options, state.as_deref(), output).await,
                None => run(&spec, options, state.as_deref(), output).await,
            }
        }
        Command::Plan {
            spec,
            json,
            units_per_stream,
        } => {
            let s = spec::load(&spec)?;
            let source = s.source.build(&s.defaults)?;
            let destination = s.destination.build()?;
            let plan =
                runner::plan::make(&s, source.as_ref(), destination.as_ref(), units_per_stream)
                    .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plan).map_err(Error::run)?
                );
            } else {
                println!("plan for `{}` (run {}):", plan.pipeline, plan.run_id);
                for u in &plan.units {
                    let range = u.range.as_ref().map(|r| {
                        format!(
                            "  {} in [{}, {}){}",
                            r.column,
                            r.from.map_or("-inf".into(), |v| v.to_string()),
                            r.to.map_or("+inf".into(), |v| v.to_string()),
                            if r.nulls { " and NULL" } else { "" }
                        )
                    });
                    println!("  {}{}", u.id, range.unwrap_or_default());
                }
            }
            Ok(0)
        }
        Command::Validate { spec } => {
            let s = spec::load(&spec)?;
            println!(
                "{}: valid (pipeline `{}`, {} -> {}, {})",
                spec.display(),
                s.name,
                s.source.connector_type(),
                s.destination.connector_type(),
                match s.streams.iter().filter(|x| x.pattern().is_some()).count() {
                    _ if s.streams.is_empty() => "every table/file of the source".to_string(),
                    0 => format!("{} stream(s)", s.streams.len()),
                    n => format!(
                        "{} stream(s) and {n} table pattern(s), expanded when the source is read",
                        s.streams.len() - n
                    ),
                }
            );
            Ok(0)
        }
        Command::Check { spec } => {
            let s = spec::load(&spec)?;
            let source = s.source.build(&s.defaults)?;
            let destination = s.destination.build()?;
            let mut ok = true;
            let mut report = |what: String, result: Result<()>| match result {
                Ok(()) => println!("{what}: ok"),
                Err(e) => {
                    ok = false;
                    println!("{what}: FAILED: {}", etl::error::full_message(&e));
                }
            };
            let reachable = source.check().await;
            let source_ok = reachable.is_ok();
            report(format!("source ({})", s.source.connector_type()), reachable);
            // Each listed stream as its read would start: its table or query, without rows.
            let listed = match source_ok && !s.streams.is_empty() {
                true => match spec::select::resolve(&s, source.as_ref()).await {
                    Ok(sel) => {
                        print_patterns(&sel.patterns);
                        sel.streams
                    }
                    Err(e) => {
                        report("  streams".into(), Err(e));
                        Vec::new()
                    }
                },
                false => Vec::new(),
            };
            if !listed.is_empty() {
                match source.check_streams(&listed).await {
                    Ok(results) => {
                        for (st, r) in listed.iter().zip(results) {
                            report(format!("  stream `{}`", st.name), r);
                        }
                    }
                    Err(e) => report("  streams".into(), Err(e)),
                }
            }
            report(
                format!("destination ({})", s.destination.connector_type()),
                destination.check().await,
            );
            Ok(if ok { 0 } else { 1 })
        }
        Command::Discover { spec, json } => {
            let s = spec::load(&spec)?;
            let source = s.source.build(&s.defaults)?;
            let streams = source.discover().await?;
            let patterns = match s.streams.iter().any(|x| x.pattern().is_some()) {
                true => spec::select::resolve(&s, source.as_ref()).await?.patterns,
                false => Vec::new(),
            };
            if json {
                let out: Vec<serde_json::Value> = streams
                    .iter()
                    .map(|st| {
                        serde_json::json!({
                            "name": st.name,
                            "rows_estimate": st.rows_estimate,
                            "columns": st.schema.fields().iter().map(|f| serde_json::json!({
                                "name": f.name(),
                                "type": f.data_type().to_string(),
                                "nullable": f.is_nullable(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                // The patterns' matches go with the streams only when the spec has patterns,
                // so the plain listing keeps its shape.
                let out = if patterns.is_empty() {
                    serde_json::Value::Array(out)
                } else {
                    serde_json::json!({ "streams": out, "patterns": patterns })
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).map_err(Error::run)?
                );
            } else {
                print_patterns(&patterns);
                for st in streams {
                    match st.rows_estimate {
                        Some(n) => println!("{}  (~{n} rows)", st.name),
                        None => println!("{}", st.name),
                    }
                    for f in st.schema.fields() {
                        println!(
                            "  {:<32} {}{}",
                            f.name(),
                            f.data_type(),
                            if f.is_nullable() { "" } else { " NOT NULL" }
                        );
                    }
                }
            }
            Ok(0)
        }
        Command::State { action } => {
            let (path, stream, state_arg, reset) = match action {
                StateAction::Show {
                    spec,
                    stream,
                    state,
                } => (spec, stream, state, false),
                StateAction::Reset {
                    spec,
                    stream,
                    state,
                } => (spec, stream, state, true),
            };
            let s = spec::load(&path)?;
            let location = StateLocation::resolve(
                state_arg.as_deref(),
                s.state.as_ref().map(|x| x.path.as_str()),
                &s.name,
                &StateLocation::spec_dir(&path),
            )?;
            let mut doc = location.load(&s.name).await?;
            if let Some(name) = &stream {
                known_stream(&s, &doc, name, &location)?;
                if !doc.streams.contains_key(name) && !reset {
                    return Err(Error::run(format!(
                        "no state for stream `{name}` in {}",
                        location.display()
                    )));
                }
            }
            if reset {
                let names: Vec<String> = match &stream {
                    Some(name) => vec![name.clone()],
                    None => doc
                        .streams
                        .keys()
                        .cloned()
                        .chain(
                            s.streams
                                .iter()
                                .filter(|x| x.pattern().is_none())
                                .map(|x| x.name.clone()),
                        )
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                };
                let removed: Vec<bool> = names
                    .iter()
                    .map(|n| doc.streams.remove(n).is_some())
                    .collect();
                let had = removed.contains(&true);
                // A destination that keeps commit markers would hand the forgotten cursor back
                // on the next run: the state keeps its newest commit number, so the next run
                // starts over from there.
                let destination = s.destination.build()?;
                for name in &names {
                    let target = etl::connectors::WriteTarget {
                        stream: s
                            .streams
                            .iter()
                            .find(|x| &x.name == name)
                            .cloned()
                            .unwrap_or_else(|| spec::StreamSpec {
                                name: name.clone(),
                                ..Default::default()
                            }),
                        mode: spec::Mode::Incremental,
                        run_id: "state-reset".into(),
                    };
                    if let Some(marker) = destination.last_commit(&target).await? {
                        doc.streams.insert(
                            name.clone(),
                            etl::runner::state::StreamState {
                                commit: Some(marker.seq),
                                run_id: "state-reset".into(),
                                updated_at: chrono::Utc::now().to_rfc3339(),
                                ..Default::default()
                            },
                        );
                    }
                }
                doc.pipeline = s.name.clone();
                doc.version = etl::runner::state::STATE_VERSION;
                location.save(&doc).await?;
                eprintln!(
                    "state of {} reset in {}{}",
                    stream
                        .map(|n| format!("stream `{n}`"))
                        .unwrap_or_else(|| "every stream".into()),
                    location.display(),
                    if had { "" } else { " (there was none)" }
                );
            } else {
                let out = match &stream {
                    Some(name) => serde_json::to_string_pretty(&doc.streams[name]),
                    None => serde_json::to_string_pretty(&doc),
                }
                .map_err(Error::run)?;
                println!("{out}");
            }
            Ok(0)
        }
        Command::Connectors { json } => {
            let list = registry::connectors();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).map_err(Error::run)?
                );
            } else {
                for c in list {
                    for (role, keys) in c.roles {
                        println!("{:<12} {:<12} {}", c.connector_type, role, keys.join(", "));
                    }
                }
            }
            Ok(0)
        }
    }
}

/// What each `table:` pattern matched, as `--dry-run`, `check` and `discover` show it.
fn print_patterns(patterns: &[spec::select::PatternMatch]) {
    let list = |names: &[String]| match names {
        [] => "none".to_string(),
        n => n.join(", "),
    };
    for m in patterns {
        println!(
            "  streams[{}] `table: {}` matched {} stream(s): {}",
            m.entry,
            m.pattern,
            m.streams.len(),
            list(&m.streams)
        );
        for (what, names) in [
            ("excluded", &m.excluded),
            ("overridden", &m.overridden),
            ("disabled", &m.disabled),
        ] {
            if !names.is_empty() {
                println!("    {what}: {}", list(names));
            }
        }
    }
}

/// Where a run reports: the `--summary` file and the log's final line.
struct RunOutput<'a> {
    summary: Option<&'a Path>,
    format: LogFormat,
}

/// `--stream NAME` of `etl state` must name a stream of the spec: one of its `streams:`, or,
/// for a spec without `streams:` (every table of a SQL source, which `etl state` does not
/// connect to list), a stream that has saved state.
fn known_stream(
    s: &Spec,
    doc: &etl::runner::state::PipelineState,
    name: &str,
    location: &StateLocation,
) -> Result<()> {
    let (names, what): (Vec<&str>, String) = if s.streams.is_empty() {
        (
            doc.streams.keys().map(String::as_str).collect(),
            format!(
                "the spec has no `streams:`, so its streams are those with saved state in {}",
                location.display()
            ),
        )
    } else {
        // Streams of a `table:` pattern are known once they have state (`etl state` does not
        // connect to the source to expand the pattern).
        let patterns = s.streams.iter().any(|x| x.pattern().is_some());
        (
            s.streams
                .iter()
                .filter(|x| x.pattern().is_none())
                .map(|x| x.name.as_str())
                .chain(doc.streams.keys().map(String::as_str).filter(|_| patterns))
                .collect(),
            "the spec's streams".to_string(),
        )
    };
    if names.contains(&name) {
        return Ok(());
    }
    let listed = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    Err(Error::spec(format!(
        "--stream {name}: no such stream ({what}: {listed}){}",
        spec::suggest::hint(name, names.iter().copied())
    )))
}

/// Where `spec`'s state lives: `--state`, else `state.path`, else beside the spec at `path`.
fn state_of(spec: &Spec, state: Option<&str>, path: &Path) -> Result<StateLocation> {
    StateLocation::resolve(
        state,
        spec.state.as_ref().map(|s| s.path.as_str()),
        &spec.name,
        &StateLocation::spec_dir(path),
    )
}

/// `etl run --plan`: the units `--unit` / `--shard` name, one after the other (each staged under
/// the plan's run id), or `--commit`.
async fn run_plan(
    path: &Path,
    file: &Path,
    args: &PlanArgs,
    options: RunOptions,
    state: Option<&str>,
    output: RunOutput<'_>,
) -> Result<u8> {
    let spec: Spec = spec::load(path)?;
    let plan = runner::plan::Plan::load(file, &spec)?;
    let state_location = state_of(&spec, state, path)?;
    if args.commit {
        let source = spec.source.build(&spec.defaults)?;
        let destination = spec.destination.build()?;
        let summary = runner::plan::commit(
            &spec,
            source.as_ref(),
            destination.as_ref(),
            &plan,
            &state_location,
        )
        .await?;
        report_totals(&summary, &output, options.progress_bars);
        write_summary(output.summary, &summary)?;
        return Ok(if summary.succeeded() { 0 } else { 1 });
    }
    let ids = match &args.shard {
        Some(shard) => {
            let job_index = std::env::var("JOB_COMPLETION_INDEX").ok();
            let (i, n) = runner::plan::parse_shard(shard, job_index.as_deref())?;
            plan.shard(i, n)
        }
        None if args.unit.is_empty() => {
            return Err(Error::spec(
                "--plan needs --unit ID, --shard I/N or --commit",
            ))
        }
        None => args.unit.clone(),
    };
    let units = ids
        .iter()
        .map(|id| plan.unit(id))
        .collect::<Result<Vec<_>>>()?;
    let mut code = 0;
    for unit in units {
        let stream = plan.units[unit.index].stream.clone();
        let options = RunOptions {
            select: vec![stream],
            unit: Some(unit.clone()),
            ..options.clone()
        };
        // Each attempt stages under its own id; the destination keeps the newest per unit.
        let attempt = format!(
            "{}-u{:05}-{}",
            plan.run_id,
            unit.index,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        code = code.max(run_with_id(&spec, attempt, options, &state_location, &output).await?);
    }
    Ok(code)
}

async fn run(
    path: &Path,
    options: RunOptions,
    state: Option<&str>,
    output: RunOutput<'_>,
) -> Result<u8> {
    let spec: Spec = spec::load(path)?;
    let run_id = runner::new_run_id();
    let state_location = state_of(&spec, state, path)?;
    run_with_id(&spec, run_id, options, &state_location, &output).await
}

async fn run_with_id(
    spec: &Spec,
    run_id: String,
    options: RunOptions,
    state_location: &StateLocation,
    output: &RunOutput<'_>,
) -> Result<u8> {
    let outcome = async {
        let source = spec.source.build(&spec.defaults)?;
        let destination = spec.destination.build()?;
        let (planned, patterns) = runner::plan_selection(
            spec,
            source.as_ref(),
            destination.as_ref(),
            &options,
            &run_id,
        )
        .await?;
        if options.dry_run {
            // What the run will read must be there: its tables, its queries.
            let streams: Vec<_> = planned.iter().map(|p| p.target.stream.clone()).collect();
            for (st, r) in streams.iter().zip(source.check_streams(&streams).await?) {
                r.map_err(|e| e.context(format!("stream `{}`", st.name)))?;
            }
            println!("plan for `{}` (run {run_id}):", spec.name);
            print_patterns(&patterns);
            let incremental = planned
                .iter()
                .any(|p| p.target.mode == etl::spec::Mode::Incremental);
            let state = if incremental {
                Some(state_location.load(&spec.name).await?)
            } else {
                None
            };
            for p in &planned {
                let s = &p.target.stream;
                let from = s
                    .query
                    .as_ref()
                    .map(|q| format!("query `{q}`"))
                    .or_else(|| s.table.as_ref().map(|t| format!("table `{t}`")))
                    .or_else(|| s.file_path.clone())
                    .unwrap_or_else(|| format!("`{}`", s.name));
                let window = match (p.target.mode, &state) {
                    (etl::spec::Mode::Incremental, Some(st)) => match st.streams.get(&s.name) {
                        Some(prev) => match (&s.cursor_field, &prev.cursor) {
                            (Some(f), Some(c)) => format!(" where {f} >= {}", c.text()),
                            _ => format!(" (skipping {} file(s) already read)", prev.files.len()),
                        },
                        None => " (first run: everything)".to_string(),
                    },
                    _ => String::new(),
                };
                println!(
                    "  {:<24} {:<13} {from}{window} -> {}",
                    s.name,
                    p.target.mode.to_string(),
                    p.destination
                );
            }
            println!("  state: {}", state_location.display());
            return Ok(None);
        }
        runner::run(
            spec,
            source.as_ref(),
            destination.as_ref(),
            planned,
            &run_id,
            state_location,
            &options,
        )
        .await
        .map(Some)
    }
    .await;
    match outcome {
        Ok(None) => Ok(0),
        Ok(Some(mut summary)) => {
            if let Some(unit) = &options.unit {
                // A unit publishes nothing: its rows and files wait for the plan's commit.
                summary.totals.message = format!(
                    "unit `{}` of run {}: {}",
                    unit.unit,
                    unit.plan_run,
                    summary
                        .totals
                        .message
                        .replacen("; published ", "; staged for the commit ", 1)
                );
            }
            report_totals(&summary, output, options.progress_bars);
            write_summary(output.summary, &summary)?;
            Ok(if summary.succeeded() { 0 } else { 1 })
        }
        Err(e) => {
            let failed = RunSummary::new(
                spec.name.clone(),
                run_id,
                chrono::Utc::now().to_rfc3339(),
                0.0,
                (
                    spec.source.connector_type().into(),
                    spec.destination.connector_type().into(),
                ),
                state_location.display(),
                Vec::new(),
            );
            if let Some(p) = output.summary {
                let mut v = serde_json::to_value(&failed).map_err(Error::run)?;
                v["error"] = serde_json::Value::String(etl::error::full_message(&e));
                let _ = std::fs::write(p, serde_json::to_vec_pretty(&v).unwrap_or_default());
            }
            Err(e)
        }
    }
}

/// The run's last stderr line: `3 streams: 2 succeeded, 1 failed (orders: …); published …`.
/// An error when a stream failed (so `--quiet` shows it), info otherwise; JSON logs carry the
/// totals as fields too. A terminal, whose info lines give way to progress bars, gets it
/// printed after the bars.
fn report_totals(summary: &RunSummary, output: &RunOutput<'_>, bars: bool) {
    let t = &summary.totals;
    let message = t.message.as_str();
    if bars {
        eprintln!("{message}");
        return;
    }
    let ok = summary.succeeded();
    match output.format {
        LogFormat::Text if ok => tracing::info!("{message}"),
        LogFormat::Text => tracing::error!("{message}"),
        LogFormat::Json => {
            macro_rules! totals {
                ($level:ident) => {
                    tracing::$level!(
                        run_id = %summary.run_id,
                        streams = t.streams,
                        succeeded = t.succeeded,
                        failed = t.failed,
                        skipped = t.skipped,
                        rows = t.rows,
                        outputs = t.outputs,
                        bytes_written = t.bytes_written,
                        bytes_read = t.bytes_read,
                        "{message}"
                    )
                };
            }
            if ok {
                totals!(info)
            } else {
                totals!(error)
            }
        }
    }
}

fn write_summary(path: Option<&Path>, summary: &RunSummary) -> Result<()> {
    if let Some(p) = path {
        summary
            .write(p)
            .map_err(|e| Error::run(format!("cannot write summary {}: {e}", p.display())))?;
    }
    Ok(())
}
