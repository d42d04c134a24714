//! The run summary (`--summary FILE.json`): written even when a run fails.

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
    /// Arrow in-memory bytes moved (a measure of volume, not of file size).
    pub bytes: u64,
    /// Published files or the table written.
    pub outputs: Vec<String>,
    pub seconds: f64,
    /// Incremental streams: the saved cursor before the run and after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_before: Option<crate::contract::CursorValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_after: Option<crate::contract::CursorValue>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub run_id: String,
    pub started_at: String,
    pub seconds: f64,
    pub source: String,
    pub destination: String,
    pub streams: Vec<StreamSummary>,
}

impl RunSummary {
    pub fn succeeded(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.status == StreamStatus::Succeeded)
    }

    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, path)
    }
}
