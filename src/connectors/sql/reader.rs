//! The read path every SQL source shares: a read task on its own task (or blocking thread) hands
//! the schema over once, then sends batches cut by a [`Batcher`] into a bounded channel, so a
//! slow destination slows the read instead of growing memory.

use super::builder::ColumnBuilder;
use super::{cursor_predicate, Dialect};
use crate::connectors::Reader;
use crate::contract::CursorValue;
use crate::contract::CHANNEL_CAPACITY;
use crate::error::{Error, Result as EtlResult};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Where a read task sends its batches (and an error that ends the stream).
pub type BatchTx = mpsc::Sender<EtlResult<RecordBatch>>;

/// Where a read task hands over the stream's schema, once, before its first batch.
#[derive(Clone)]
pub struct SchemaSlot(Arc<Mutex<Option<oneshot::Sender<EtlResult<SchemaRef>>>>>);

impl SchemaSlot {
    fn take(&self) -> Option<oneshot::Sender<EtlResult<SchemaRef>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Hands the schema to the runner (later calls do nothing).
    pub fn send(&self, schema: SchemaRef) {
        if let Some(tx) = self.take() {
            let _ = tx.send(Ok(schema));
        }
    }

    /// Reports a read task's error: to the `read` call while it waits for the schema, else as
    /// the batch stream's last item.
    async fn fail(&self, tx: &BatchTx, e: Error) {
        match self.take() {
            Some(stx) => {
                let _ = stx.send(Err(e));
            }
            None => {
                let _ = tx.send(Err(e)).await;
            }
        }
    }
}

/// Runs a source's read on its own task and returns the [`Reader`] once the task has sent the
/// schema. The task sends batches into a channel of [`CHANNEL_CAPACITY`]; an error before the
/// schema fails the `read` call itself, an error after it ends the batch stream. `db` names the
/// database in messages.
pub async fn spawn_reader<F, Fut>(db: &str, task: F) -> EtlResult<Reader>
where
    F: FnOnce(SchemaSlot, BatchTx) -> Fut,
    Fut: Future<Output = EtlResult<()>> + Send + 'static,
{
    let (schema_tx, schema_rx) = oneshot::channel();
    let slot = SchemaSlot(Arc::new(Mutex::new(Some(schema_tx))));
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let fut = task(slot.clone(), tx.clone());
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            slot.fail(&tx, e).await;
        }
    });
    let schema = schema_rx
        .await
        .map_err(|_| Error::run(format!("{db} reader stopped before it produced a schema")))??;
    Ok(Reader::new(
        schema,
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    ))
}

/// [`spawn_reader`] for a blocking driver: `task` runs on a blocking thread and sends with
/// [`Batcher::end_row_blocking`] / [`Batcher::close_blocking`].
pub async fn spawn_blocking_reader<F>(db: &str, task: F) -> EtlResult<Reader>
where
    F: FnOnce(SchemaSlot, BatchTx) -> EtlResult<()> + Send + 'static,
{
    let name = db.to_string();
    spawn_reader(db, move |slot, tx| async move {
        tokio::task::spawn_blocking(move || task(slot, tx))
            .await
            .map_err(|e| Error::run(format!("{name} reader panicked: {e}")))?
    })
    .await
}

/// An incremental read's `SELECT`: the rows of `sql` at or after the saved cursor (>= keeps
/// the rows that share the boundary value); `sql` itself without a cursor. `as_kw` introduces
/// a derived table's alias (`"AS "`; Oracle takes none).
pub fn since_cursor(
    d: &dyn Dialect,
    sql: String,
    cursor: Option<&(String, CursorValue)>,
    as_kw: &str,
) -> String {
    match cursor {
        Some((field, value)) => format!(
            "SELECT * FROM ({sql}) {as_kw}_etl_src WHERE {}",
            cursor_predicate(d, field, value)
        ),
        None => sql,
    }
}

/// Collects a source's rows into batches of `batch_size`: the driver appends a row's values to
/// [`Batcher::builders`] between [`Batcher::start_row`] and [`Batcher::end_row`], which sends
/// each full batch.
pub struct Batcher {
    schema: SchemaRef,
    pub builders: Vec<ColumnBuilder>,
    batch_size: usize,
    in_batch: usize,
    /// Rows seen so far (1-based number of the current row, for messages).
    pub row_no: u64,
    /// How messages name the stream (`table `t``, `query of stream `s``).
    what: String,
}

impl Batcher {
    /// Builders for `schema`'s columns; `what` names the stream in messages.
    pub fn new(schema: SchemaRef, batch_size: usize, what: &str) -> EtlResult<Self> {
        let builders = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type(), batch_size))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::run(format!("{what}: {e}")))?;
        Ok(Batcher {
            schema,
            builders,
            batch_size: batch_size.max(1),
            in_batch: 0,
            row_no: 0,
            what: what.to_string(),
        })
    }

    /// Call before appending a row's values.
    #[inline]
    pub fn start_row(&mut self) {
        self.row_no += 1;
    }

    /// Call after a row's values were appended: a full batch, when there is one.
    #[inline]
    pub fn row_done(&mut self) -> EtlResult<Option<RecordBatch>> {
        self.in_batch += 1;
        if self.in_batch < self.batch_size {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    /// [`Batcher::row_done`], sending a full batch into `tx`; `Ok(false)` when the receiver
    /// went away (the read should stop quietly).
    #[inline]
    pub async fn end_row(&mut self, tx: &BatchTx) -> EtlResult<bool> {
        match self.row_done()? {
            Some(batch) => Ok(tx.send(Ok(batch)).await.is_ok()),
            None => Ok(true),
        }
    }

    /// [`Batcher::end_row`] from a blocking thread.
    #[inline]
    pub fn end_row_blocking(&mut self, tx: &BatchTx) -> EtlResult<bool> {
        match self.row_done()? {
            Some(batch) => Ok(tx.blocking_send(Ok(batch)).is_ok()),
            None => Ok(true),
        }
    }

    /// The last, partial batch (none when it would be empty).
    pub fn finish(&mut self) -> EtlResult<Option<RecordBatch>> {
        if self.in_batch == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    /// Sends the last, partial batch into `tx`; `Ok(false)` when the receiver went away.
    pub async fn close(&mut self, tx: &BatchTx) -> EtlResult<bool> {
        match self.finish()? {
            Some(batch) => Ok(tx.send(Ok(batch)).await.is_ok()),
            None => Ok(true),
        }
    }

    /// [`Batcher::close`] from a blocking thread.
    pub fn close_blocking(&mut self, tx: &BatchTx) -> EtlResult<bool> {
        match self.finish()? {
            Some(batch) => Ok(tx.blocking_send(Ok(batch)).is_ok()),
            None => Ok(true),
        }
    }

    fn flush(&mut self) -> EtlResult<RecordBatch> {
        self.in_batch = 0;
        let cols = self
            .builders
            .iter_mut()
            .map(|b| b.finish())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), cols)?)
    }

    /// `{what}, column `name`, row N: {e}` for a value that does not fit column `i`.
    pub fn value_error(&self, i: usize, e: impl std::fmt::Display) -> Error {
        let name = self
            .schema
            .fields()
            .get(i)
            .map(|f| f.name().as_str())
            .unwrap_or("?");
        Error::Value(format!(
            "{}, column `{name}`, row {}: {e}",
            self.what, self.row_no
        ))
    }

    /// How messages name the stream.
    pub fn what(&self) -> &str {
        &self.what
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};

    #[test]
    fn batcher_cuts_full_batches_and_a_last_partial_one() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let mut b = Batcher::new(schema, 2, "table `t`").unwrap();
        let mut sizes = Vec::new();
        for v in 0..5 {
            b.start_row();
            b.builders[0].append_i64(v).unwrap();
            if let Some(batch) = b.row_done().unwrap() {
                sizes.push(batch.num_rows());
            }
        }
        sizes.extend(b.finish().unwrap().map(|x| x.num_rows()));
        assert_eq!(sizes, vec![2, 2, 1]);
        assert!(b.finish().unwrap().is_none());
        let e = b.value_error(0, "too big");
        assert_eq!(e.to_string(), "table `t`, column `n`, row 5: too big");
    }

    #[test]
    fn builders_refuse_values_of_another_type() {
        let mut b = ColumnBuilder::new(&DataType::Int32, 2).unwrap();
        let e = b.append_i64(1).unwrap_err();
        assert!(e.contains("i64") && e.contains("Int32"), "{e}");
        b.append_i32(7).unwrap();
        b.append_null();
        let a = b.finish().unwrap();
        assert_eq!(a.as_primitive::<Int32Type>().value(0), 7);
        assert!(a.is_null(1));
        assert!(ColumnBuilder::new(&DataType::Float16, 1)
            .err()
            .is_some_and(|e| e.contains("no reader")));
    }

    #[test]
    fn lists_collect_their_items() {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let mut b = ColumnBuilder::new(&DataType::List(item), 3).unwrap();
        let items = b.list_items().unwrap();
        items.append_str("a").unwrap();
        items.append_null();
        b.end_list(2).unwrap();
        b.append_null();
        b.end_list(0).unwrap();
        assert!(b.append_str("x").is_err());
        let a = b.finish().unwrap();
        let l = a.as_list::<i32>();
        assert_eq!((l.len(), l.value(0).len(), l.value(2).len()), (3, 2, 0));
        assert!(l.is_null(1) && !l.is_null(2));
        assert_eq!(l.value(0).as_string::<i32>().value(0), "a");
        // A new batch starts empty.
        b.end_list(0).unwrap();
        assert_eq!(b.finish().unwrap().len(), 1);
    }
}
