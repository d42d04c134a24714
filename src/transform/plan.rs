//! A transform block compiled to polars expressions (`Plan`, no schema needed), then bound to
//! the source's schema (`Stage`): the output schema is fixed once and every batch conforms.
//!
//! Per batch, only the columns the expressions read are handed to polars (zero-copy where the
//! layouts match, see `convert`); columns passed through unchanged stay arrow-rs arrays, so
//! their exact types and field metadata are kept, and the filter is applied to them with
//! arrow's filter kernel using polars' mask.

use super::{convert, sql, types, OrderedMap, TransformSpec};
use crate::connectors::BatchStream;
use crate::error::{Error, Result};
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;
use polars::prelude::{
    col, ChunkFull, Column, DataFrame, DataType as PlType, Expr, IntoLazy, IntoSeries, Operator,
    PlSmallStr,
};
use std::collections::HashSet;
use std::sync::Arc;

/// A SQL expression with what it is (for messages) and its polars translation.
#[derive(Clone)]
struct Sql {
    /// `filter`, `derive \`total\` =`, `sql WHERE`, `cast of \`x\` to`, ...
    what: String,
    text: String,
    expr: Expr,
}

impl Sql {
    fn new(what: String, text: &str) -> std::result::Result<Sql, String> {
        let expr = sql::expression(text).map_err(|m| format!("{what} `{text}`: {m}"))?;
        Ok(Sql {
            what,
            text: text.to_string(),
            expr,
        })
    }

    fn label(&self) -> String {
        format!("{} `{}`", self.what, self.text)
    }
}

/// Where an output column comes from.
#[derive(Clone)]
enum Source {
    /// An input column, unchanged.
    Input(String),
    /// An expression, optionally cast to an exact Arrow type.
    Computed(Sql, Option<DataType>),
    /// An input column cast to an exact Arrow type.
    Cast(String, DataType),
}

/// An output column before the schema is known.
struct Item {
    output: String,
    source: Source,
}

enum Columns {
    /// `select`, `rename`, `cast`, `derive`.
    Declarative {
        select: Vec<String>,
        rename: OrderedMap,
        cast: Vec<(String, DataType)>,
        derive: Vec<(String, Sql)>,
    },
    /// A `sql:` SELECT list.
    Sql(Vec<sql::Item>),
}

/// A checked transform, not yet bound to a schema.
pub struct Plan {
    filter: Option<Sql>,
    columns: Columns,
}

fn unique<'a>(
    key: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> std::result::Result<(), String> {
    let mut seen = HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(format!("{key}: `{n}` is named twice"));
        }
    }
    Ok(())
}

impl Plan {
    /// Parses and checks every expression and type; needs no schema.
    pub fn compile(t: &TransformSpec) -> std::result::Result<Plan, String> {
        if let Some(text) = &t.sql {
            if !t.select.is_empty()
                || !t.rename.is_empty()
                || !t.cast.is_empty()
                || t.filter.is_some()
                || !t.derive.is_empty()
            {
                return Err("`sql` replaces `select`, `rename`, `cast`, `filter` and `derive`: give either `sql` or those keys".into());
            }
            let s = sql::select(text).map_err(|m| format!("sql `{text}`: {m}"))?;
            let filter = s.filter.map(|(text, expr)| Sql {
                what: "sql WHERE".into(),
                text,
                expr,
            });
            let names = s.items.iter().filter_map(|i| match i {
                sql::Item::Star => None,
                sql::Item::Column { output, .. } | sql::Item::Computed { output, .. } => {
                    Some(output.as_str())
                }
            });
            unique("sql", names)?;
            return Ok(Plan {
                filter,
                columns: Columns::Sql(s.items),
            });
        }
        if t.select.is_empty()
            && t.rename.is_empty()
            && t.cast.is_empty()
            && t.filter.is_none()
            && t.derive.is_empty()
        {
            return Err(
                "is empty: give `select`, `rename`, `cast`, `filter`, `derive` or `sql`".into(),
            );
        }
        unique("select", t.select.iter().map(String::as_str))?;
        unique("rename", t.rename.0.iter().map(|(_, to)| to.as_str()))?;
        let filter = t
            .filter
            .as_deref()
            .map(|f| Sql::new("filter".into(), f))
            .transpose()?;
        let derive = t
            .derive
            .0
            .iter()
            .map(|(name, e)| Ok((name.clone(), Sql::new(format!("derive `{name}` ="), e)?)))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let cast = t
            .cast
            .0
            .iter()
            .map(|(name, ty)| {
                let arrow = types::parse(ty).map_err(|m| format!("cast of `{name}`: {m}"))?;
                types::to_polars(&arrow).map_err(|m| format!("cast of `{name}`: {m}"))?;
                Ok((name.clone(), arrow))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(Plan {
            filter,
            columns: Columns::Declarative {
                select: t.select.clone(),
                rename: t.rename.clone(),
                cast,
                derive,
            },
        })
    }

    /// The output columns over an input with columns `names`.
    fn items(&self, names: &[&str]) -> std::result::Result<Vec<Item>, String> {
        let listed = |kind: &str, n: &str| {
            format!(
                "{kind}: unknown column `{n}` (the source's columns: {})",
                names.join(", ")
            )
        };
        match &self.columns {
            Columns::Sql(items) => {
                let mut out = Vec::new();
                for i in items {
                    match i {
                        sql::Item::Star => out.extend(names.iter().map(|n| Item {
                            output: n.to_string(),
                            source: Source::Input(n.to_string()),
                        })),
                        sql::Item::Column { input, output } => {
                            if !names.contains(&input.as_str()) {
                                return Err(listed("sql", input));
                            }
                            out.push(Item {
                                output: output.clone(),
                                source: Source::Input(input.clone()),
                            })
                        }
                        sql::Item::Computed { output, text, expr } => out.push(Item {
                            output: output.clone(),
                            source: Source::Computed(
                                Sql {
                                    what: format!("sql `{output}` ="),
                                    text: text.clone(),
                                    expr: expr.clone(),
                                },
                                None,
                            ),
                        }),
                    }
                }
                Ok(out)
            }
            Columns::Declarative {
                select,
                rename,
                cast,
                derive,
            } => {
                let derived = |n: &str| derive.iter().find(|(d, _)| d == n).map(|(_, s)| s);
                let known = |n: &str| names.contains(&n) || derived(n).is_some();
                for (n, _) in cast {
                    if !known(n) {
                        return Err(listed("cast", n));
                    }
                }
                for (n, _) in &rename.0 {
                    if !known(n) {
                        return Err(listed("rename", n));
                    }
                }
                let chosen: Vec<&str> = if select.is_empty() {
                    let mut all: Vec<&str> = names.to_vec();
                    all.extend(
                        derive
                            .iter()
                            .map(|(d, _)| d.as_str())
                            .filter(|d| !names.contains(d)),
                    );
                    all
                } else {
                    select.iter().map(String::as_str).collect()
                };
                chosen
                    .into_iter()
                    .map(|n| {
                        let to = cast.iter().find(|(c, _)| c == n).map(|(_, t)| t.clone());
                        let source = match (derived(n), to) {
                            (Some(s), to) => Source::Computed(s.clone(), to),
                            (None, None) if names.contains(&n) => Source::Input(n.to_string()),
                            (None, Some(to)) if names.contains(&n) => {
                                Source::Cast(n.to_string(), to)
                            }
                            _ => return Err(listed("select", n)),
                        };
                        Ok(Item {
                            output: rename.get(n).unwrap_or(n).to_string(),
                            source,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Fixes the transform over the source's `schema`: unknown columns, expressions polars
    /// cannot type over these columns, and a non-boolean filter are errors here, before any
    /// batch is read.
    pub fn bind(self, schema: &SchemaRef) -> std::result::Result<Stage, String> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let items = self.items(&names)?;
        unique("output", items.iter().map(|i| i.output.as_str()))?;
        let mut read: Vec<usize> = Vec::new();
        let mut uses = |s: &Sql| -> std::result::Result<(), String> {
            for root in s.expr.clone().meta().root_names() {
                let i = schema.index_of(root.as_str()).map_err(|_| {
                    format!(
                        "{}: unknown column `{root}` (the source's columns: {})",
                        s.label(),
                        names.join(", ")
                    )
                })?;
                if !read.contains(&i) {
                    read.push(i);
                }
            }
            Ok(())
        };
        if let Some(f) = &self.filter {
            uses(f)?;
        }
        let mut outputs = Vec::new();
        let mut computed = Vec::new();
        for item in items {
            match item.source {
                Source::Input(n) => {
                    let i = schema.index_of(&n).map_err(|e| e.to_string())?;
                    let field = schema.field(i).clone().with_name(item.output);
                    outputs.push((Out::Pass(i), field));
                }
                source => {
                    // A cast of a source column keeps its nullability; anything else may be null.
                    let (s, to, nullable) = match source {
                        Source::Cast(n, to) => {
                            let nullable = schema
                                .field_with_name(&n)
                                .map(|f| f.is_nullable())
                                .unwrap_or(true);
                            let sql = Sql {
                                what: format!("cast of `{n}` to"),
                                text: to.to_string(),
                                expr: col(n.as_str()),
                            };
                            (sql, Some(to), nullable)
                        }
                        Source::Computed(s, to) => (s, to, true),
                        Source::Input(_) => unreachable!("handled above"),
                    };
                    uses(&s)?;
                    let alias =
                        PlSmallStr::from_string(format!("__etl_transform_{}", computed.len()));
                    let mut expr = s.expr.clone();
                    if let Some(to) = &to {
                        let pl = types::to_polars(to).map_err(|m| format!("{}: {m}", s.label()))?;
                        expr = expr.strict_cast(pl);
                    }
                    outputs.push((
                        Out::Computed(computed.len()),
                        Field::new(item.output, to.clone().unwrap_or(DataType::Null), nullable),
                    ));
                    computed.push(Computed {
                        sql: s,
                        alias: alias.clone(),
                        expr: expr.alias(alias),
                        declared: to,
                    });
                }
            }
        }
        read.sort_unstable();
        let mut stage = Stage {
            schema: Arc::new(Schema::empty()),
            input: schema.clone(),
            read,
            filter: self.filter,
            computed,
            outputs: Vec::new(),
        };
        // Type every computed column by running the real code on an empty batch.
        let empty = RecordBatch::new_empty(schema.clone());
        let columns = stage.frame(&empty)?;
        for c in &mut stage.computed {
            c.expr = exact_products(c.expr.clone(), &columns)
                .map_err(|m| format!("{}: {m}", c.sql.label()))?;
        }
        if let Some(f) = &mut stage.filter {
            f.expr = exact_products(f.expr.clone(), &columns)
                .map_err(|m| format!("{}: {m}", f.label()))?;
        }
        if let Some(f) = &stage.filter {
            let mask = stage.mask_series(&stage.frame(&empty)?, f)?;
            if !matches!(mask.dtype(), PlType::Boolean | PlType::Null) {
                return Err(format!(
                    "{}: is not a boolean condition (it gives {})",
                    f.label(),
                    mask.dtype()
                ));
            }
        }
        let (frame, _) = stage.evaluate(&empty).map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        for (out, field) in outputs {
            let field = match out {
                Out::Computed(k) if stage.computed[k].declared.is_none() => {
                    let c = &stage.computed[k];
                    let s = frame
                        .as_ref()
                        .and_then(|f| f.column(c.alias.as_str()).ok())
                        .map(|c| c.as_materialized_series().clone())
                        .ok_or_else(|| format!("{}: no result", c.sql.label()))?;
                    let t =
                        convert::arrow_type(&s).map_err(|m| format!("{}: {m}", c.sql.label()))?;
                    no_float_drift(&c.sql, &t, schema)?;
                    field.with_data_type(types::natural(&t))
                }
                _ => field,
            };
            stage.outputs.push(out);
            fields.push(field);
        }
        stage.schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        Ok(stage)
    }
}

/// Makes every decimal × decimal product exact. polars computes a product at the larger of
/// its operands' scales, rounding (`999.99 * 1.2` -> `1199.99`); with the left operand first
/// cast to the sum of the scales, the product keeps every digit (`1199.988`), as SQL's does.
/// `columns` is an empty frame of the columns the expression reads (to type its operands).
fn exact_products(expr: Expr, columns: &DataFrame) -> std::result::Result<Expr, String> {
    let dtype = |e: &Expr| -> Option<PlType> {
        let schema = columns
            .clone()
            .lazy()
            .select([e.clone()])
            .collect_schema()
            .ok()?;
        let first = schema.iter_values().next().cloned();
        first
    };
    let mut error = None;
    let out = expr.map_expr(|e| {
        let Expr::BinaryExpr {
            left,
            op: Operator::Multiply,
            right,
        } = &e
        else {
            return e;
        };
        let (Some(PlType::Decimal(_, s1)), Some(PlType::Decimal(_, s2))) =
            (dtype(left), dtype(right))
        else {
            return e;
        };
        let scale = s1 + s2;
        if s1 == 0 || s2 == 0 {
            return e; // the larger scale is already the sum
        }
        if scale > MAX_DECIMAL_SCALE {
            error = Some(format!(
                "a product of decimals with scales {s1} and {s2} needs {scale} fractional digits, more than the {MAX_DECIMAL_SCALE} a decimal holds; CAST an operand to a smaller scale"
            ));
            return e;
        }
        Expr::BinaryExpr {
            left: Arc::new(
                left.as_ref()
                    .clone()
                    .strict_cast(PlType::Decimal(MAX_DECIMAL_SCALE, scale)),
            ),
            op: Operator::Multiply,
            right: right.clone(),
        }
    });
    match error {
        Some(m) => Err(m),
        None => Ok(out),
    }
}

/// The most digits (and so fractional digits) a polars decimal holds.
const MAX_DECIMAL_SCALE: usize = 38;

/// Refuses a computed column that reads a decimal column but comes out as a float (a decimal
/// times a float column, or a float function of it) unless the expression asks for a float
/// itself (`CAST(... AS DOUBLE)`, a literal with an exponent): the value would drift silently
/// (`1256.6 * 1.2` -> `1507.9199999999998`). Literals with a decimal point are decimals (see
/// `sql::decimal_literals`), so `total * 1.2` stays exact and is not refused.
fn no_float_drift(s: &Sql, t: &DataType, schema: &Schema) -> std::result::Result<(), String> {
    if !matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64) {
        return Ok(());
    }
    let roots = s.expr.clone().meta().root_names();
    let of_type = |pick: fn(&DataType) -> bool| -> Vec<String> {
        roots
            .iter()
            .filter_map(|r| schema.field_with_name(r.as_str()).ok())
            .filter(|f| pick(f.data_type()))
            .map(|f| format!("`{}`", f.name()))
            .collect()
    };
    let decimals = of_type(|t| matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)));
    if decimals.is_empty() || sql::asks_for_float(&s.text) {
        return Ok(());
    }
    let floats = of_type(|t| t.is_floating());
    let operand = if floats.is_empty() {
        "the floating-point part".to_string()
    } else {
        format!("the float column {}", floats.join(", "))
    };
    Err(format!(
        "{}: computes decimal column {} as a floating-point {t}, which is inexact; CAST {operand} AS DECIMAL(p,s) to keep the arithmetic decimal, or CAST the expression AS DOUBLE to accept a float",
        s.label(),
        decimals.join(", "),
    ))
}

/// An output column of a bound stage.
#[derive(Clone, Copy)]
enum Out {
    /// The input column at this index, filtered.
    Pass(usize),
    /// The computed column at this index of `Stage::computed`.
    Computed(usize),
}

struct Computed {
    sql: Sql,
    alias: PlSmallStr,
    /// `sql.expr`, cast if declared, aliased.
    expr: Expr,
    declared: Option<DataType>,
}

/// A transform bound to its input schema: turns each input batch into one output batch.
pub struct Stage {
    schema: SchemaRef,
    input: SchemaRef,
    /// Input columns the expressions read, in schema order.
    read: Vec<usize>,
    filter: Option<Sql>,
    computed: Vec<Computed>,
    outputs: Vec<Out>,
}

const MASK: &str = "__etl_transform_filter";

/// A polars error on one line (a log line per failure): its paragraphs joined.
fn one_line(e: &polars::prelude::PolarsError) -> String {
    let text = e.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join(" ")
}

impl Stage {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The columns the expressions read, as a polars frame of the batch's height.
    fn frame(&self, batch: &RecordBatch) -> std::result::Result<DataFrame, String> {
        let columns = self
            .read
            .iter()
            .map(|&i| {
                convert::to_polars(self.input.field(i).name(), batch.column(i).as_ref())
                    .map(Column::from)
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        DataFrame::new(batch.num_rows(), columns).map_err(|e| e.to_string())
    }

    fn mask_series(
        &self,
        frame: &DataFrame,
        f: &Sql,
    ) -> std::result::Result<polars::prelude::Series, String> {
        frame
            .clone()
            .lazy()
            .with_column(f.expr.clone().alias(MASK))
            .collect()
            .and_then(|df| df.column(MASK).map(|c| c.as_materialized_series().clone()))
            .map_err(|e| format!("{}: {}", f.label(), one_line(&e)))
    }

    /// Filters and computes: the computed columns (None when there are none) and the mask.
    fn evaluate(&self, batch: &RecordBatch) -> Result<(Option<DataFrame>, Option<BooleanArray>)> {
        let value = |m: String| Error::Value(m);
        let mut frame = self.frame(batch).map_err(value)?;
        let mut mask = None;
        if let Some(f) = &self.filter {
            let m = self.mask_series(&frame, f).map_err(value)?;
            let m = match m.dtype() {
                PlType::Null => polars::prelude::BooleanChunked::full(
                    PlSmallStr::from_static(MASK),
                    false,
                    frame.height(),
                ),
                _ => m
                    .bool()
                    .map_err(|e| value(format!("{}: {e}", f.label())))?
                    .clone(),
            };
            if !(m.null_count() == 0 && m.all()) {
                frame = frame
                    .filter(&m)
                    .map_err(|e| value(format!("{}: {e}", f.label())))?;
                // The same mask for the columns that stay in Arrow; NULL counts as false, as
                // in SQL's WHERE.
                let arrow = convert::to_arrow(&m.into_series()).map_err(value)?;
                let arrow = arrow
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| value(format!("{}: the mask is not boolean", f.label())))?;
                mask = Some(if arrow.null_count() > 0 {
                    arrow::compute::prep_null_mask_filter(arrow)
                } else {
                    arrow.clone()
                });
            }
        }
        if self.computed.is_empty() {
            return Ok((None, mask));
        }
        let exprs: Vec<Expr> = self.computed.iter().map(|c| c.expr.clone()).collect();
        match frame.clone().lazy().with_columns(exprs).collect() {
            Ok(df) => Ok((Some(df), mask)),
            // Name the expression that failed: retry them one by one (errors only).
            Err(all) => {
                for c in &self.computed {
                    if let Err(e) = frame.clone().lazy().with_column(c.expr.clone()).collect() {
                        return Err(value(format!("{}: {}", c.sql.label(), one_line(&e))));
                    }
                }
                Err(value(format!("transform: {}", one_line(&all))))
            }
        }
    }

    /// Turns one input batch into one output batch of exactly `self.schema`.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let (frame, mask) = self.evaluate(batch)?;
        let rows = match (&mask, &frame) {
            (Some(m), _) => m.true_count(),
            (None, _) => batch.num_rows(),
        };
        let filter = mask
            .as_ref()
            .map(|m| arrow::compute::FilterBuilder::new(m).optimize().build());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.outputs.len());
        for (out, field) in self.outputs.iter().zip(self.schema.fields()) {
            let array = match *out {
                Out::Pass(i) => {
                    let array = match &filter {
                        Some(p) => p.filter(batch.column(i).as_ref())?,
                        None => batch.column(i).clone(),
                    };
                    // A source whose batches drift from its declared schema still conforms.
                    if array.data_type() == field.data_type() {
                        array
                    } else {
                        arrow::compute::cast(&array, field.data_type())?
                    }
                }
                Out::Computed(k) => {
                    let c = &self.computed[k];
                    let series = frame
                        .as_ref()
                        .and_then(|f| f.column(c.alias.as_str()).ok())
                        .map(|c| c.as_materialized_series().clone())
                        .ok_or_else(|| Error::run(format!("{}: no result", c.sql.label())))?;
                    let array = convert::to_arrow(&series)
                        .map_err(|m| Error::run(format!("{}: {m}", c.sql.label())))?;
                    if array.data_type() == field.data_type() {
                        array
                    } else {
                        let options = CastOptions {
                            safe: false,
                            ..Default::default()
                        };
                        arrow::compute::cast_with_options(&array, field.data_type(), &options)
                            .map_err(|e| {
                                Error::Value(format!(
                                    "{}: column `{}` ({} to {}): {e}",
                                    c.sql.label(),
                                    field.name(),
                                    array.data_type(),
                                    field.data_type()
                                ))
                            })?
                    }
                }
            };
            columns.push(array);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }

    /// Runs the stage on every batch in a blocking thread of its own (polars is CPU work), as
    /// one more step of the pipeline: source -> transform -> destination, each bounded.
    pub fn pipe(self, batches: BatchStream) -> BatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel(crate::contract::CHANNEL_CAPACITY);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut batches = batches;
            while let Some(item) = handle.block_on(batches.next()) {
                let out = item.and_then(|b| {
                    // A panic must not look like the end of the stream: make it an error.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.apply(&b)))
                        .unwrap_or_else(|p| {
                            let why = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            Err(Error::run(format!("transform failed: {why}")))
                        })
                });
                let failed = out.is_err();
                if tx.blocking_send(out).is_err() || failed {
                    break;
                }
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::TimeUnit;
    use std::collections::HashMap;

    fn spec(yaml: &str) -> TransformSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn input() -> RecordBatch {
        let id = Field::new("id", DataType::Int64, false)
            .with_metadata(HashMap::from([("comment".to_string(), "kept".to_string())]));
        let schema = Schema::new(vec![
            id,
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(12, 2), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("c"),
                    Some("12"),
                ])),
                Arc::new(
                    Decimal128Array::from(vec![Some(150), Some(-5), None, Some(99999)])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(0), Some(1), None, Some(3)])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap()
    }

    fn run(yaml: &str) -> std::result::Result<RecordBatch, String> {
        let b = input();
        let stage = Plan::compile(&spec(yaml))?.bind(&b.schema())?;
        let out = stage.apply(&b).map_err(|e| e.to_string())?;
        assert_eq!(
            out.schema(),
            stage.schema(),
            "the batch has the bound schema"
        );
        Ok(out)
    }

    #[test]
    fn declarative_steps_give_exact_types() {
        let out = run(r#"
filter: "price > 0 OR price IS NULL"
derive: {upper: "UPPER(name)", double: "price * 2"}
cast: {price: "decimal(18,3)", upper: string}
select: [id, price, double, upper, at]
rename: {id: key}
"#)
        .unwrap();
        assert_eq!(out.num_rows(), 3, "NULL price kept, -0.05 dropped");
        let s = out.schema();
        assert_eq!(s.field(0).name(), "key");
        assert_eq!(s.field(0).metadata()["comment"], "kept");
        assert!(!s.field(0).is_nullable());
        assert_eq!(s.field(1).data_type(), &DataType::Decimal128(18, 3));
        assert!(matches!(s.field(2).data_type(), DataType::Decimal128(_, 2)));
        assert_eq!(s.field(3).data_type(), &DataType::Utf8);
        assert_eq!(
            s.field(4).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let price = out
            .column(1)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(price.value(0), 1500);
        assert!(price.is_null(1));
        let upper = out
            .column(3)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(upper.value(0), "A");
        assert_eq!(upper.value(1), "C");
    }

    #[test]
    fn sql_select_passes_columns_through() {
        let out = run("sql: SELECT *, id * 10 AS tens FROM input WHERE name IS NOT NULL").unwrap();
        assert_eq!(out.num_rows(), 3);
        assert_eq!(out.num_columns(), 5);
        assert_eq!(out.schema().field(0).metadata()["comment"], "kept");
        let tens = out.column(4).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(tens.values().to_vec(), vec![10, 30, 40]);
    }

    #[test]
    fn filter_keeping_nothing_gives_an_empty_batch() {
        let out = run("filter: id > 100\nderive: {x: id + 1}").unwrap();
        assert_eq!(out.num_rows(), 0);
        assert_eq!(out.num_columns(), 5);
    }

    #[test]
    fn binding_names_the_expression_and_the_column() {
        let e = run("filter: nope > 1").unwrap_err();
        assert!(
            e.contains("filter `nope > 1`: unknown column `nope`"),
            "{e}"
        );
        assert!(e.contains("id, name, price, at"), "{e}");
        let e = run("select: [id, nope]").unwrap_err();
        assert!(e.contains("select: unknown column `nope`"), "{e}");
        let e = run("filter: id + 1").unwrap_err();
        assert!(e.contains("not a boolean"), "{e}");
        let e = run("rename: {id: name}").unwrap_err();
        assert!(e.contains("`name` is named twice"), "{e}");
    }

    #[test]
    fn a_failed_cast_names_the_column() {
        let e = run("cast: {name: int64}").unwrap_err();
        assert!(e.contains("cast of `name`"), "{e}");
        let e = run("derive: {n: \"CAST(name AS INTEGER)\"}").unwrap_err();
        assert!(e.contains("derive `n`") && e.contains("name"), "{e}");
    }

    #[test]
    fn decimal_arithmetic_stays_decimal() {
        // price is decimal(12,2): 1.50, -0.05, NULL, 999.99
        let out = run("derive: {x: \"price * 1.2\", y: \"price + 0.005\", z: \"id * 1.5\"}\nselect: [x, y, z]").unwrap();
        let s = out.schema();
        assert_eq!(s.field(0).data_type(), &DataType::Decimal128(38, 3));
        let x = out
            .column(0)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(x.value(0), 1800, "1.50 * 1.2 = 1.800 exactly");
        assert_eq!(
            x.value(3),
            1_199_988,
            "999.99 * 1.2 = 1199.988, not rounded"
        );
        // A quotient keeps the larger scale, rounded half to even: 1.50 / 3.0 = 0.50.
        let out = run("derive: {q: \"price / 3.0\"}\nselect: [q]").unwrap();
        let q = out
            .column(0)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!((q.value(0), q.value(3)), (50, 33333), "0.50, 333.33");
        assert!(x.is_null(2));
        assert!(
            matches!(s.field(1).data_type(), DataType::Decimal128(_, 3)),
            "{s:?}"
        );
        assert!(
            matches!(s.field(2).data_type(), DataType::Decimal128(_, 1)),
            "{s:?}"
        );
        // A literal with an exponent is a float, and the expression says so: accepted.
        let out = run("derive: {f: \"price * 1.2e0\"}\nselect: [f]").unwrap();
        assert_eq!(out.schema().field(0).data_type(), &DataType::Float64);
        let out = run("derive: {f: \"CAST(price AS DOUBLE) * 2\"}\nselect: [f]").unwrap();
        assert_eq!(out.schema().field(0).data_type(), &DataType::Float64);
    }

    #[test]
    fn decimal_drifting_to_float_is_refused() {
        let b = input();
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("rate", DataType::Float64, true));
        let schema = Arc::new(Schema::new(fields));
        let e = Plan::compile(&spec("derive: {t: \"price * rate\"}"))
            .unwrap()
            .bind(&schema)
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("derive `t` = `price * rate`")
                && e.contains("decimal column `price`")
                && e.contains("CAST the float column `rate` AS DECIMAL(p,s)"),
            "{e}"
        );
        let e = Plan::compile(&spec("sql: SELECT sqrt(price) AS r FROM input"))
            .unwrap()
            .bind(&schema)
            .err()
            .unwrap_or_default();
        assert!(e.contains("AS DOUBLE"), "{e}");
    }

    #[test]
    fn literal_only_derive_has_the_batch_height() {
        let out = run("derive: {one: \"1\"}\nselect: [one]").unwrap();
        assert_eq!(out.num_rows(), 4);
    }
}
