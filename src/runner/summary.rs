//! The run summary (`--summary FILE.json`): written even when a run fails. Its `totals` and
//! the run's last log line ([`RunSummary::line`]) say the same thing.

use crate::spec::Mode;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Succeeded,
    Failed,
    /// Not started because an earlier stream failed and `fail_fast` is set.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    pub name: String,
    pub status: StreamStatus,
    pub mode: Mode,
    pub rows: u64,
    /// Bytes the destination stored: the sizes of the published files (after compression).
    /// `null` where the destination does not measure it (SQL tables).
    pub bytes_written: Option<u64>,
    /// Bytes read from the source: the sizes of the files read (as stored, compressed).
    /// `null` where the source does not measure it (SQL queries).
    pub bytes_read: Option<u64>,
    /// Published files or the table written.
    pub outputs: Vec<String>,
    pub seconds: f64,
    /// Incremental streams: the saved cursor before the run and after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_before: Option<crate::contract::CursorValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_after: Option<crate::contract::CursorValue>,
    /// Changes made to an existing destination's columns (schema drift), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_changes: Vec<crate::contract::SchemaChange>,
    pub error: Option<String>,
}

/// The run in numbers: what the last log line says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub streams: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Rows of the streams that succeeded (published).
    pub rows: u64,
    /// Files or tables published.
    pub outputs: usize,
    /// Sum over the succeeded streams; `null` when none of them measured it.
    pub bytes_written: Option<u64>,
    pub bytes_read: Option<u64>,
    /// The run's last log line.
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub run_id: String,
    pub started_at: String,
    pub seconds: f64,
    pub source: String,
    pub destination: String,
    /// The state document's location (a path or `s3://` URL).
    pub state: String,
    pub totals: Totals,
    pub streams: Vec<StreamSummary>,
}

/// Sum of the known values; `None` when no value is known.
fn sum_known(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(b)) => Some(a + b),
        (a, None) => a,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl RunSummary {
    /// A summary of `streams`, with its totals computed.
    pub fn new(
        name: String,
        run_id: String,
        started_at: String,
        seconds: f64,
        endpoints: (String, String),
        state: String,
        streams: Vec<StreamSummary>,
    ) -> Self {
        let mut s = RunSummary {
            name,
            run_id,
            started_at,
            seconds,
            source: endpoints.0,
            destination: endpoints.1,
            state,
            totals: Totals::default(),
            streams,
        };
        s.totals = s.compute_totals();
        s
    }

    pub fn succeeded(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.status == StreamStatus::Succeeded)
    }

    fn compute_totals(&self) -> Totals {
        let count = |st: StreamStatus| self.streams.iter().filter(|s| s.status == st).count();
        let done = || {
            self.streams
                .iter()
                .filter(|s| s.status == StreamStatus::Succeeded)
        };
        let mut t = Totals {
            streams: self.streams.len(),
            succeeded: count(StreamStatus::Succeeded),
            failed: count(StreamStatus::Failed),
            skipped: count(StreamStatus::Skipped),
            rows: done().map(|s| s.rows).sum(),
            outputs: done().map(|s| s.outputs.len()).sum(),
            bytes_written: sum_known(done().map(|s| s.bytes_written)),
            bytes_read: sum_known(done().map(|s| s.bytes_read)),
            message: String::new(),
        };
        t.message = self.line(&t);
        t
    }

    /// `3 streams: 2 succeeded, 1 failed (orders: …); published 4000 rows (2 files, 180.2 KiB)`.
    fn line(&self, t: &Totals) -> String {
        let mut line = format!(
            "{}: {} succeeded",
            plural(t.streams, "stream", "streams"),
            t.succeeded
        );
        if t.failed > 0 {
            let why: Vec<String> = self
                .streams
                .iter()
                .filter(|s| s.status == StreamStatus::Failed)
                .map(|s| {
                    let error = s.error.as_deref().unwrap_or("failed");
                    let prefix = format!("stream `{}`: ", s.name);
                    format!(
                        "{}: {}",
                        s.name,
                        error.strip_prefix(&prefix).unwrap_or(error)
                    )
                })
                .collect();
            line.push_str(&format!(", {} failed ({})", t.failed, why.join("; ")));
        }
        if t.skipped > 0 {
            line.push_str(&format!(", {} skipped (fail_fast)", t.skipped));
        }
        if t.succeeded == 0 {
            line.push_str("; nothing published");
            return line;
        }
        let files = matches!(
            self.destination.as_str(),
            "local_file" | "s3" | "gcs" | "azure_blob"
        );
        let what = if files {
            plural(t.outputs, "file", "files")
        } else {
            plural(t.outputs, "table", "tables")
        };
        line.push_str(&format!(
            "; published {} ({what}",
            plural(t.rows as usize, "row", "rows")
        ));
        if let Some(b) = t.bytes_written {
            line.push_str(&format!(", {}", indicatif::HumanBytes(b)));
        }
        line.push(')');
        line
    }

    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, status: StreamStatus, rows: u64, bytes: Option<u64>) -> StreamSummary {
        StreamSummary {
            name: name.into(),
            status,
            mode: Mode::FullRefresh,
            rows,
            bytes_written: bytes,
            bytes_read: None,
            outputs: if status == StreamStatus::Succeeded {
                vec![format!("out/{name}/part-1.parquet")]
            } else {
                Vec::new()
            },
            seconds: 0.0,
            cursor_before: None,
            cursor_after: None,
            schema_changes: Vec::new(),
            error: (status == StreamStatus::Failed)
                .then(|| format!("stream `{name}`: table `nope` not found")),
        }
    }

    fn run(destination: &str, streams: Vec<StreamSummary>) -> RunSummary {
        RunSummary::new(
            "p".into(),
            "r".into(),
            "t".into(),
            0.0,
            ("sqlite".into(), destination.into()),
            "st.json".into(),
            streams,
        )
    }

    #[test]
    fn totals_and_line_agree() {
        let s = run(
            "local_file",
            vec![
                stream("orders", StreamStatus::Failed, 0, None),
                stream("customers", StreamStatus::Succeeded, 1000, Some(2048)),
                stream("items", StreamStatus::Succeeded, 3000, Some(1024)),
            ],
        );
        assert_eq!(
            (s.totals.streams, s.totals.succeeded, s.totals.failed),
            (3, 2, 1)
        );
        assert_eq!(s.totals.rows, 4000);
        assert_eq!(s.totals.bytes_written, Some(3072));
        assert_eq!(s.totals.bytes_read, None);
        assert_eq!(
            s.totals.message,
            "3 streams: 2 succeeded, 1 failed (orders: table `nope` not found); published 4000 rows (2 files, 3.00 KiB)"
        );
        let s = run(
            "postgresql",
            vec![stream("a", StreamStatus::Succeeded, 1, None)],
        );
        assert_eq!(
            s.totals.message,
            "1 stream: 1 succeeded; published 1 row (1 table)"
        );
        let s = run(
            "postgresql",
            vec![
                stream("a", StreamStatus::Failed, 0, None),
                stream("b", StreamStatus::Skipped, 0, None),
            ],
        );
        assert_eq!(
            s.totals.message,
            "2 streams: 0 succeeded, 1 failed (a: table `nope` not found), 1 skipped (fail_fast); nothing published"
        );
    }
}
