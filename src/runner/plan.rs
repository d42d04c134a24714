//! Work units for running one spec over many processes (Airflow's mapped tasks, a Kubernetes
//! Indexed Job): `etl plan` writes the run's units — a stream, or one key range of a split
//! stream — with a run id; `etl run --plan --unit` stages one unit under that run id without
//! publishing; `etl run --plan --commit` publishes every unit of the run at once and saves the
//! state once per stream.
//!
//! The destination keeps what each unit staged ([`Destination::keep_unit`]); an attempt of a
//! unit replaces the attempt before (an orchestrator's retry duplicates nothing). The commit
//! refuses while any unit of the plan is missing, before publishing anything.

use super::state::{StateLocation, StreamState};
use super::{PlannedStream, RunContext, RunOptions, RunSummary, StreamStatus};
use crate::connectors::{Destination, KeptUnit, KeyRange, Source, Staged};
use crate::contract::BatchStream;
use crate::error::{Error, Result, ResultExt};
use crate::spec::{Mode, Spec};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const PLAN_VERSION: u32 = 1;

/// What `etl plan --json` prints and every worker reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    pub pipeline: String,
    /// Names every unit's staged output; the commit publishes what was staged under it.
    pub run_id: String,
    pub created_at: String,
    pub units: Vec<Unit>,
}

/// One work unit: a stream, or one key range of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// `stream`, or `stream#i` for the i-th range of a split stream.
    pub id: String,
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<KeyRange>,
}

/// The unit an `etl run --plan --unit` process runs.
#[derive(Debug, Clone)]
pub struct UnitRun {
    pub plan_run: String,
    pub unit: String,
    pub index: usize,
    pub range: Option<KeyRange>,
}

impl Plan {
    /// Reads a plan file and checks it belongs to `spec`.
    pub fn load(path: &std::path::Path, spec: &Spec) -> Result<Plan> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::spec(format!("cannot read plan {}: {e}", path.display())))?;
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| {
            Error::spec(format!(
                "plan {} is not a plan written by `etl plan --json` ({e})",
                path.display()
            ))
        })?;
        if plan.version != PLAN_VERSION {
            return Err(Error::spec(format!(
                "plan {} has version {}, this etl reads version {PLAN_VERSION}",
                path.display(),
                plan.version
            )));
        }
        if plan.pipeline != spec.name {
            return Err(Error::spec(format!(
                "plan {} is for pipeline `{}`, the spec is pipeline `{}`",
                path.display(),
                plan.pipeline,
                spec.name
            )));
        }
        Ok(plan)
    }

    /// The unit with this id, and its place in the plan.
    pub fn unit(&self, id: &str) -> Result<UnitRun> {
        let (index, unit) = self
            .units
            .iter()
            .enumerate()
            .find(|(_, u)| u.id == id)
            .ok_or_else(|| {
                let ids: Vec<&str> = self.units.iter().map(|u| u.id.as_str()).collect();
                Error::spec(format!(
                    "--unit {id}: the plan of run {} has no such unit (units: {}){}",
                    self.run_id,
                    ids.join(", "),
                    crate::spec::suggest::hint(id, ids.iter().copied())
                ))
            })?;
        Ok(UnitRun {
            plan_run: self.run_id.clone(),
            unit: unit.id.clone(),
            index,
            range: unit.range.clone(),
        })
    }

    /// The ids of shard `i` of `n`: every n-th unit, starting with the i-th.
    pub fn shard(&self, i: usize, n: usize) -> Vec<String> {
        self.units
            .iter()
            .enumerate()
            .filter(|(k, _)| n > 0 && k % n == i)
            .map(|(_, u)| u.id.clone())
            .collect()
    }
}

/// `--shard I/N`, or `--shard N` with I from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed
/// Job's pod index).
pub fn parse_shard(text: &str, job_index: Option<&str>) -> Result<(usize, usize)> {
    let bad = |why: &str| {
        Error::spec(format!(
            "--shard {text}: {why}; expected I/N (shard I of N, 0 <= I < N) or N with JOB_COMPLETION_INDEX set"
        ))
    };
    let (i, n) = match text.split_once('/') {
        Some((i, n)) => (i.trim().to_string(), n.trim()),
        None => (
            job_index
                .ok_or_else(|| bad("no I given and JOB_COMPLETION_INDEX is not set"))?
                .trim()
                .to_string(),
            text.trim(),
        ),
    };
    let n: usize = n.parse().map_err(|_| bad("N is not a number"))?;
    let i: usize = i.parse().map_err(|_| bad("I is not a number"))?;
    if n == 0 || i >= n {
        return Err(bad("I must be below N"));
    }
    Ok((i, n))
}

/// Computes the plan of a run: one unit per stream, and `units_per_stream` key ranges of each
/// full-refresh stream with `partition: {column: ...}` (the range is split once, here, from
/// the column's smallest and largest value; the first unit also takes NULLs, the first and
/// last are open-ended, so the units cover every row whenever they read).
pub async fn make(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    units_per_stream: usize,
) -> Result<Plan> {
    let run_id = super::new_run_id();
    let planned = super::plan(spec, source, destination, &RunOptions::default(), &run_id).await?;
    // Only destinations that can keep staged units take a plan: refuse the others now.
    if let Some(first) = planned.first() {
        destination.kept_units(&first.target, &run_id).await?;
    }
    let mut units = Vec::new();
    for p in planned {
        let stream = &p.target.stream;
        let split = match (&stream.partition, units_per_stream) {
            (_, 0 | 1) | (None, _) => None,
            (Some(part), n) => match (&part.column, stream.mode) {
                (_, Mode::Incremental) => {
                    tracing::warn!(stream = %stream.name, "an incremental stream is one unit (its cursor is one value): not split");
                    None
                }
                (None, _) => {
                    tracing::warn!(stream = %stream.name, "a `partition:` without `column` splits pages, which units reading at different moments cannot share: one unit");
                    None
                }
                (Some(column), _) => Some((column.clone(), n)),
            },
        };
        let ranges = match split {
            None => Vec::new(),
            Some((column, n)) => match source
                .key_bounds(stream, &column)
                .await
                .with_context(|| format!("stream `{}`", stream.name))?
            {
                Some((lo, hi)) => KeyRange::split(&column, lo, hi, n),
                None => Vec::new(),
            },
        };
        if ranges.len() <= 1 {
            units.push(Unit {
                id: stream.name.clone(),
                stream: stream.name.clone(),
                range: None,
            });
        } else {
            units.extend(ranges.into_iter().enumerate().map(|(i, range)| Unit {
                id: format!("{}#{i}", stream.name),
                stream: stream.name.clone(),
                range: Some(range),
            }));
        }
    }
    Ok(Plan {
        version: PLAN_VERSION,
        pipeline: spec.name.clone(),
        run_id,
        created_at: chrono::Utc::now().to_rfc3339(),
        units,
    })
}

/// `piped`, counting the rows that pass when `count` (a unit has no commit report to say).
pub(super) fn count_rows(piped: BatchStream, count: bool) -> (BatchStream, Arc<AtomicU64>) {
    let rows = Arc::new(AtomicU64::new(0));
    if !count {
        return (piped, rows);
    }
    let seen = rows.clone();
    let piped: BatchStream = Box::pin(piped.inspect(move |b| {
        if let Ok(b) = b {
            seen.fetch_add(b.num_rows() as u64, Ordering::SeqCst);
        }
    }));
    (piped, rows)
}

/// Hands a unit's staged write (`None`: it staged nothing, an incremental stream without new
/// rows) to the destination to keep for the plan's commit, with the stream's state after it.
pub(super) async fn keep_unit(
    run: &RunContext<'_>,
    planned: &PlannedStream,
    unit: &UnitRun,
    staged: Option<Box<dyn Staged>>,
    rows: u64,
    next: StreamState,
) -> Result<()> {
    let (data, bytes) = match &staged {
        Some(s) => (s.detach()?, s.bytes_written()),
        None => (serde_json::Value::Null, None),
    };
    let kept = KeptUnit {
        plan_run: unit.plan_run.clone(),
        unit: unit.unit.clone(),
        index: unit.index,
        attempt: planned.target.run_id.clone(),
        rows,
        bytes,
        staged: data,
        state: (planned.target.stream.mode == Mode::Incremental)
            .then(|| serde_json::to_value(&next))
            .transpose()
            .map_err(Error::run)?,
        written_at: chrono::Utc::now().to_rfc3339(),
    };
    crate::fault::point("unit-before-keep");
    if let Err(e) = run.destination.keep_unit(&planned.target, &kept).await {
        if let Some(s) = staged {
            let _ = s.abort().await;
        }
        return Err(e);
    }
    tracing::info!(unit = %unit.unit, run_id = %unit.plan_run, rows, "unit staged; `etl run --plan ... --commit` publishes it with the others");
    Ok(())
}

/// Publishes every unit of `plan`: refuses, publishing nothing, while any unit is missing;
/// then per stream one publish of all its units' files (with the commit marker of an
/// incremental stream) and one save of its state.
pub async fn commit(
    spec: &Spec,
    source: &dyn Source,
    destination: &dyn Destination,
    plan: &Plan,
    state_location: &StateLocation,
) -> Result<RunSummary> {
    let started = chrono::Utc::now();
    let t0 = std::time::Instant::now();
    let mut names: Vec<String> = Vec::new();
    for u in &plan.units {
        if !names.contains(&u.stream) {
            names.push(u.stream.clone());
        }
    }
    let options = RunOptions {
        select: names.clone(),
        ..Default::default()
    };
    let planned = super::plan(spec, source, destination, &options, &plan.run_id).await?;
    tracing::info!(run_id = %plan.run_id, pipeline = %spec.name, streams = planned.len(), state = %state_location.display(), "commit started");
    // Every unit must be there before anything is published.
    let mut todo = Vec::new();
    let mut missing = Vec::new();
    for p in &planned {
        let kept = destination
            .kept_units(&p.target, &plan.run_id)
            .await
            .with_context(|| format!("stream `{}`", p.target.stream.name))?;
        if kept.committed {
            tracing::info!(stream = %p.target.stream.name, run_id = %plan.run_id, "already committed");
            continue;
        }
        let mut units = Vec::new();
        for (index, u) in plan.units.iter().enumerate() {
            if u.stream != p.target.stream.name {
                continue;
            }
            match kept
                .units
                .iter()
                .find(|k| k.index == index && k.unit == u.id)
            {
                Some(k) => units.push(k.clone()),
                None => missing.push(u.id.clone()),
            }
        }
        todo.push((p, units));
    }
    if !missing.is_empty() {
        return Err(Error::run(format!(
            "run {}: {} unit(s) not staged: {}; run them (`etl run SPEC --plan PLAN --unit ID`), then commit again — nothing was published",
            plan.run_id,
            missing.len(),
            missing.join(", ")
        )));
    }
    let tracks_state = todo
        .iter()
        .any(|(p, _)| p.target.stream.mode == Mode::Incremental);
    let state = tokio::sync::Mutex::new(if tracks_state {
        state_location.load(&spec.name).await?
    } else {
        Default::default()
    });
    for (p, _) in &todo {
        destination
            .preflight(&p.target)
            .await
            .with_context(|| format!("stream `{}`", p.target.stream.name))?;
    }
    let run = RunContext {
        spec,
        source,
        destination,
        state: &state,
        state_location,
        started: chrono::Utc::now(),
        unit: None,
    };
    let mut streams = Vec::new();
    let mut failed = false;
    for (p, units) in todo {
        let name = p.target.stream.name.clone();
        let t = std::time::Instant::now();
        let mut summary = super::new_summary(&name, p.target.mode);
        match commit_stream(&run, p, &units).await {
            Ok((report, bytes, before, after)) => {
                tracing::info!(stream = %name, rows = report.rows, units = units.len(), "stream committed");
                summary.rows = report.rows;
                summary.outputs = report.outputs;
                summary.bytes_written = bytes;
                summary.cursor_before = before;
                summary.cursor_after = after;
            }
            Err(e) => {
                failed = true;
                let message = crate::error::full_message(&e.context(format!("stream `{name}`")));
                tracing::error!(stream = %name, "commit failed: {message}");
                summary.status = StreamStatus::Failed;
                summary.error = Some(message);
            }
        }
        summary.seconds = t.elapsed().as_secs_f64();
        streams.push(summary);
        if failed && spec.defaults.fail_fast {
            break;
        }
    }
    Ok(super::run_summary(
        spec,
        &plan.run_id,
        started,
        t0,
        state_location,
        streams,
    ))
}

type Committed = (
    crate::connectors::WriteReport,
    Option<u64>,
    Option<crate::contract::CursorValue>,
    Option<crate::contract::CursorValue>,
);

/// One stream of a commit: reconcile with the destination's commit log, publish every unit
/// together, record the marker and save the state, then forget the units.
async fn commit_stream(
    run: &RunContext<'_>,
    planned: &PlannedStream,
    units: &[KeptUnit],
) -> Result<Committed> {
    let stream = &planned.target.stream;
    let tracked = stream.mode == Mode::Incremental;
    let previous = super::previous_state(run, planned).await?;
    let next: Option<StreamState> = match units {
        [one] if tracked => one
            .state
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::run(format!("unit `{}`: unreadable state ({e})", one.unit)))?,
        _ if tracked => {
            return Err(Error::run(format!(
                "an incremental stream is one unit, the plan has {} for it: plan again",
                units.len()
            )))
        }
        _ => None,
    };
    if let Some(next) = &next {
        // The unit read from the cursor the state had then: a commit since then would make
        // this one publish rows twice.
        if next.commit != previous.commit {
            return Err(Error::run(format!(
                "the stream was committed by another run since unit `{}` read it; plan and run its unit again",
                units[0].unit
            )));
        }
    }
    let cursor_before = previous.cursor.clone();
    if tracked && units.iter().all(|u| u.staged.is_null()) {
        tracing::info!(stream = %stream.name, "no new rows");
        run.destination
            .forget_units(&planned.target, &units[0].plan_run)
            .await?;
        return Ok((
            Default::default(),
            None,
            cursor_before.clone(),
            cursor_before,
        ));
    }
    let staged = run.destination.resume_units(&planned.target, units).await?;
    let bytes = staged.bytes_written();
    crate::fault::point("before-commit");
    let report = staged.commit().await?;
    crate::fault::point("after-commit");
    let mut cursor_after = None;
    if let Some(mut next) = next {
        next.commit = None;
        next.run_id = planned.target.run_id.clone();
        next.updated_at = chrono::Utc::now().to_rfc3339();
        cursor_after = super::save_committed(run, planned, previous.commit, next, &report).await?;
    }
    let plan_run = &planned.target.run_id;
    run.destination
        .forget_units(&planned.target, plan_run)
        .await
        .context("the run was published, but its unit records could not be removed")?;
    Ok((report, bytes, cursor_before, cursor_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_value_once() {
        let r = KeyRange::split("id", 1, 10, 4);
        assert_eq!(r.len(), 4);
        assert_eq!((r[0].from, r[0].to, r[0].nulls), (None, Some(4), true));
        assert_eq!((r[1].from, r[1].to, r[1].nulls), (Some(4), Some(7), false));
        assert_eq!((r[3].from, r[3].to), (Some(10), None));
        for v in -5..20i64 {
            let n = r
                .iter()
                .filter(|k| k.from.is_none_or(|f| v >= f) && k.to.is_none_or(|t| v < t))
                .count();
            assert_eq!(n, 1, "value {v}");
        }
        assert_eq!(KeyRange::split("id", 5, 5, 8).len(), 1);
        assert_eq!(KeyRange::split("id", i64::MIN, i64::MAX, 3).len(), 3);
    }

    #[test]
    fn shards_take_every_nth_unit() {
        let plan = Plan {
            version: 1,
            pipeline: "p".into(),
            run_id: "r".into(),
            created_at: "t".into(),
            units: (0..5)
                .map(|i| Unit {
                    id: format!("s#{i}"),
                    stream: "s".into(),
                    range: None,
                })
                .collect(),
        };
        assert_eq!(plan.shard(1, 2), ["s#1", "s#3"]);
        assert_eq!(plan.shard(0, 2), ["s#0", "s#2", "s#4"]);
        assert_eq!(parse_shard("1/4", None).unwrap(), (1, 4));
        assert_eq!(parse_shard("4", Some("3")).unwrap(), (3, 4));
        assert!(parse_shard("4/4", None).is_err());
        assert!(parse_shard("4", None)
            .unwrap_err()
            .to_string()
            .contains("JOB_COMPLETION_INDEX"));
        assert!(plan.unit("s#9").is_err());
        assert_eq!(plan.unit("s#2").unwrap().index, 2);
    }
}
