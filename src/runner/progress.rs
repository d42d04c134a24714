//! What a person or a scheduler sees while a run goes on. On a terminal: one indicatif bar per
//! running stream (rows, rate, elapsed). Otherwise (cron, Airflow, a log file): a log
//! line when a stream starts and finishes and one every 30 s while it runs — never animation.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a non-terminal run logs a line for a long stream.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    /// Bars when `bars` is set (the CLI sets it for a terminal), log lines otherwise.
    pub fn new(bars: bool) -> Self {
        Progress {
            bars: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn stream(&self, name: &str) -> StreamProgress {
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let (bar, ticker) = match &self.bars {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:24} {msg} [{elapsed_precise}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                (Some(bar), None)
            }
            None => {
                let (c, n) = (counters.clone(), name.to_string());
                let ticker = tokio::spawn(async move {
                    let mut every = tokio::time::interval(LOG_EVERY);
                    every.tick().await;
                    loop {
                        every.tick().await;
                        let rows = c.rows.load(Ordering::Relaxed);
                        let secs = started.elapsed().as_secs_f64();
                        tracing::info!(stream = %n, rows, rows_per_sec = format!("{:.0}", rows as f64 / secs), "stream running");
                    }
                });
                (None, Some(ticker))
            }
        };
        StreamProgress {
            bar,
            ticker,
            counters,
            started,
        }
    }
}

#[derive(Default)]
pub struct Counters {
    pub rows: AtomicU64,
}

pub struct StreamProgress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    pub counters: Arc<Counters>,
    started: Instant,
}

/// A cheap handle the batch pump updates.
#[derive(Clone)]
pub struct Tick {
    bar: Option<ProgressBar>,
    counters: Arc<Counters>,
    started: Instant,
}

impl Tick {
    pub fn add(&self, rows: u64) {
        let rows = self.counters.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        if let Some(bar) = &self.bar {
            let rate = rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{rows} rows ({rate:.0} rows/s)"));
        }
    }
}

impl StreamProgress {
    pub fn tick(&self) -> Tick {
        Tick {
            bar: self.bar.clone(),
            counters: self.counters.clone(),
            started: self.started,
        }
    }

    /// Ends the bar (or the periodic log) with a final word.
    pub fn finish(self, message: String) {
        if let Some(t) = self.ticker {
            t.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_with_message(message);
        }
    }
}
