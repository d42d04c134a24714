//! The SQL side of a transform: parsing with sqlparser (the parser polars-sql uses), refusing
//! everything that is not row-wise, and turning expressions into polars expressions.
//!
//! Transforms run batch by batch, so an aggregate, a window function, DISTINCT, ORDER BY,
//! LIMIT or a join would silently be computed per batch: they are refused with a message that
//! says why, when the spec is validated.

use polars::prelude::Expr as PlExpr;
use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, visit_relations, Expr, GroupByExpr, Ident,
    SelectItem, SetExpr, Statement, TableFactor, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;
use std::ops::ControlFlow;

/// Functions that fold many rows into one (polars-sql's aggregate functions).
const AGGREGATES: &[&str] = &[
    "avg",
    "corr",
    "count",
    "covar_pop",
    "covar_samp",
    "covar",
    "first",
    "last",
    "max",
    "median",
    "min",
    "quantile_cont",
    "quantile_disc",
    "stdev",
    "stddev",
    "stdev_samp",
    "stddev_samp",
    "string_agg",
    "listagg",
    "group_concat",
    "sum",
    "total",
    "var",
    "variance",
    "var_samp",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
    "any_value",
];

/// Functions whose value depends on other rows (polars-sql's window functions), or that
/// change the number of rows.
const NOT_ROW_WISE: &[&str] = &[
    "dense_rank",
    "first_value",
    "last_value",
    "lag",
    "lead",
    "rank",
    "row_number",
    "ntile",
    "percent_rank",
    "cume_dist",
    "nth_value",
    "unnest",
    "columns",
];

const WHY: &str =
    "transforms run batch by batch, so it would be computed per batch, not over the stream";

fn parser(text: &str) -> Result<Parser<'static>, String> {
    Parser::new(&GenericDialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())
}

/// Parses one SQL expression (all of `text`).
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    let mut p = parser(text)?;
    let expr = p.parse_expr().map_err(|e| e.to_string())?;
    match p.peek_token().token {
        Token::EOF => Ok(expr),
        t => Err(format!("unexpected `{t}` after the expression")),
    }
}

/// Refuses anything in `expr` that is not computed from one row alone.
pub fn check_row_wise(expr: &Expr) -> Result<(), String> {
    if let ControlFlow::Break(name) = visit_relations(expr, |r| ControlFlow::Break(r.to_string())) {
        return Err(format!(
            "subqueries are not supported (found a reference to table `{name}`): a transform sees one row of the stream at a time"
        ));
    }
    let found = visit_expressions(expr, |e| {
        let msg = match e {
            Expr::Function(f) => {
                let full = f.name.to_string().to_ascii_lowercase();
                let name = full.rsplit('.').next().unwrap_or(&full).to_string();
                if f.over.is_some() {
                    Some(format!("window function `{e}` (OVER) is not supported: {WHY}"))
                } else if AGGREGATES.contains(&name.as_str()) || f.filter.is_some() {
                    Some(format!("aggregate `{e}` is not supported: {WHY}"))
                } else if NOT_ROW_WISE.contains(&name.as_str()) {
                    Some(format!(
                        "`{e}` is not row-wise (it depends on other rows or changes their number): {WHY}"
                    ))
                } else {
                    None
                }
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => Some(format!(
                "subqueries are not supported (`{e}`): a transform sees one row of the stream at a time"
            )),
            _ => None,
        };
        match msg {
            Some(m) => ControlFlow::Break(m),
            None => ControlFlow::Continue(()),
        }
    });
    match found {
        ControlFlow::Break(m) => Err(m),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Parses, checks and translates one expression for polars.
pub fn expression(text: &str) -> Result<PlExpr, String> {
    let expr = parse_expr(text)?;
    check_row_wise(&expr)?;
    to_polars(&expr)
}

fn to_polars(expr: &Expr) -> Result<PlExpr, String> {
    let mut expr = expr.clone();
    decimal_literals(&mut expr)?;
    polars::sql::sql_expr(expr.to_string()).map_err(|e| e.to_string())
}

/// The largest precision polars computes decimals with.
const MAX_DECIMAL_DIGITS: usize = 38;

/// Makes every number literal written with a decimal point an exact decimal, as in SQL:
/// `1.2` becomes `CAST('1.2' AS DECIMAL(2,1))`, so `total * 1.2` stays a decimal when `total`
/// is one (polars would read `1.2` as a float64 and the result would drift). Literals with an
/// exponent (`1.2e3`) stay floating-point.
fn decimal_literals(expr: &mut Expr) -> Result<(), String> {
    let found = visit_expressions_mut(expr, |e| {
        let Expr::Value(v) = e else {
            return ControlFlow::Continue(());
        };
        let Value::Number(text, _) = &v.value else {
            return ControlFlow::Continue(());
        };
        let Some((int, frac)) = text.split_once('.') else {
            return ControlFlow::Continue(());
        };
        if !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit()) {
            return ControlFlow::Continue(()); // 1.2e3
        }
        let int = int.trim_start_matches('0');
        let scale = frac.len();
        let precision = (int.len() + scale).max(1);
        if precision > MAX_DECIMAL_DIGITS {
            return ControlFlow::Break(format!(
                "the literal `{text}` has more than {MAX_DECIMAL_DIGITS} digits, the most a decimal holds; write it with an exponent (`1.5e40`) to use a float"
            ));
        }
        match parse_expr(&format!("CAST('{text}' AS DECIMAL({precision},{scale}))")) {
            Ok(cast) => {
                *e = cast;
                ControlFlow::Continue(())
            }
            Err(m) => ControlFlow::Break(m),
        }
    });
    match found {
        ControlFlow::Break(m) => Err(m),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether `text` (one expression) asks for a floating-point value itself: a `CAST(... AS
/// DOUBLE)` (or `FLOAT`, `REAL`, `::float8`, ...) or a literal with an exponent.
pub fn asks_for_float(text: &str) -> bool {
    let Ok(expr) = parse_expr(text) else {
        return false;
    };
    let found = visit_expressions(&expr, |e| {
        let float = match e {
            Expr::Cast { data_type, .. } => {
                let t = data_type.to_string().to_ascii_lowercase();
                ["float", "double", "real"].iter().any(|f| t.contains(f))
            }
            Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if n.contains(['e', 'E'])),
            _ => false,
        };
        if float {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found.is_break()
}

/// One item of a `sql:` SELECT list.
#[derive(Debug, Clone)]
pub enum Item {
    /// `*`: every column of the input, unchanged.
    Star,
    /// A bare column, maybe renamed: passed through without going through polars.
    Column { input: String, output: String },
    /// Anything else, which must be named with `AS`.
    Computed {
        output: String,
        text: String,
        expr: PlExpr,
    },
}

/// A parsed `sql:` SELECT: its items and its WHERE.
pub struct Select {
    pub items: Vec<Item>,
    /// The WHERE clause: its text and its polars expression.
    pub filter: Option<(String, PlExpr)>,
}

/// Parses `SELECT items FROM input [WHERE condition]` and refuses every other clause.
pub fn select(text: &str) -> Result<Select, String> {
    let mut statements = Parser::parse_sql(&GenericDialect, text).map_err(|e| e.to_string())?;
    if statements.len() != 1 {
        return Err(format!(
            "expected one SELECT statement, found {}",
            statements.len()
        ));
    }
    let Statement::Query(mut query) = statements.remove(0) else {
        return Err("expected a SELECT statement".into());
    };
    let refuse = |what: &str| Err(format!("{what} is not supported: {WHY}"));
    if query.with.is_some() {
        return Err(
            "WITH (common table expressions) is not supported: write one SELECT ... FROM input"
                .into(),
        );
    }
    if query.order_by.is_some() {
        return refuse("ORDER BY");
    }
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return refuse("LIMIT/OFFSET/FETCH");
    }
    if !query.locks.is_empty()
        || query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty()
    {
        return Err("only `SELECT ... FROM input [WHERE ...]` is supported".into());
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(
            "only one plain SELECT is supported (no UNION, INTERSECT, EXCEPT or VALUES)".into(),
        );
    };
    let select = select.as_mut();
    if select.distinct.is_some() {
        return refuse("DISTINCT");
    }
    if select.top.is_some() {
        return refuse("TOP");
    }
    let no_group = match &select.group_by {
        GroupByExpr::Expressions(e, m) => e.is_empty() && m.is_empty(),
        GroupByExpr::All(_) => false,
    };
    if !no_group {
        return refuse("GROUP BY");
    }
    if select.having.is_some() {
        return refuse("HAVING");
    }
    if select.qualify.is_some() || !select.named_window.is_empty() {
        return refuse("QUALIFY/WINDOW");
    }
    if !select.sort_by.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
    {
        return refuse("SORT BY/CLUSTER BY/DISTRIBUTE BY");
    }
    if select.into.is_some()
        || !select.lateral_views.is_empty()
        || select.prewhere.is_some()
        || !select.connect_by.is_empty()
        || select.exclude.is_some()
        || select.value_table_mode.is_some()
    {
        return Err("only `SELECT ... FROM input [WHERE ...]` is supported".into());
    }
    // FROM input [AS alias], nothing else.
    let from_ok = select.from.len() == 1 && select.from[0].joins.is_empty();
    if !from_ok {
        return Err(format!(
            "the query must read `FROM input` only (joins are not supported: {WHY})"
        ));
    }
    let mut qualifiers = vec!["input".to_string()];
    match &select.from[0].relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } if name.to_string().eq_ignore_ascii_case("input") => {
            if let Some(a) = alias {
                if !a.columns.is_empty() {
                    return Err("column aliases on `input` are not supported".into());
                }
                qualifiers.push(a.name.value.to_ascii_lowercase());
            }
        }
        other => {
            return Err(format!(
                "the query must read `FROM input` (the stream), not `{other}`"
            ))
        }
    }
    // `input.col` and `alias.col` mean `col`.
    let _ = visit_expressions_mut(&mut select.projection, |e| {
        unqualify(e, &qualifiers);
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(&mut select.selection, |e| {
        unqualify(e, &qualifiers);
        ControlFlow::<()>::Continue(())
    });
    let filter = match &select.selection {
        None => None,
        Some(w) => {
            check_row_wise(w).map_err(|m| format!("WHERE `{w}`: {m}"))?;
            let text = w.to_string();
            Some((
                text.clone(),
                to_polars(w).map_err(|m| format!("WHERE `{w}`: {m}"))?,
            ))
        }
    };
    let mut items = Vec::new();
    for item in &select.projection {
        items.push(match item {
            SelectItem::Wildcard(o)
                if o.opt_ilike.is_none()
                    && o.opt_exclude.is_none()
                    && o.opt_except.is_none()
                    && o.opt_replace.is_none()
                    && o.opt_rename.is_none()
                    && o.opt_alias.is_none() =>
            {
                Item::Star
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Item::Column {
                input: id.value.clone(),
                output: id.value.clone(),
            },
            SelectItem::ExprWithAlias {
                expr: Expr::Identifier(id),
                alias,
            } => Item::Column {
                input: id.value.clone(),
                output: alias.value.clone(),
            },
            SelectItem::ExprWithAlias { expr, alias } => {
                check_row_wise(expr).map_err(|m| format!("`{expr}`: {m}"))?;
                Item::Computed {
                    output: alias.value.clone(),
                    text: expr.to_string(),
                    expr: to_polars(expr).map_err(|m| format!("`{expr}`: {m}"))?,
                }
            }
            SelectItem::UnnamedExpr(expr) => {
                check_row_wise(expr).map_err(|m| format!("`{expr}`: {m}"))?;
                return Err(format!(
                    "`{expr}` needs a name: write `{expr} AS some_name`"
                ));
            }
            other => {
                return Err(format!(
                    "`{other}` is not supported in the SELECT list (use `*`, columns and `expression AS name`)"
                ))
            }
        });
    }
    Ok(Select { items, filter })
}

/// `q.col` -> `col` when `q` names the input.
fn unqualify(e: &mut Expr, qualifiers: &[String]) {
    if let Expr::CompoundIdentifier(parts) = e {
        if parts.len() == 2 && qualifiers.contains(&parts[0].value.to_ascii_lowercase()) {
            let col: Ident = parts[1].clone();
            *e = Expr::Identifier(col);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str, needle: &str) {
        assert!(
            !needle.is_empty(),
            "{text}: an empty needle matches any message"
        );
        match expression(text) {
            Ok(_) => panic!("{text}: accepted"),
            Err(e) => assert!(e.contains(needle), "{text}: {e}"),
        }
    }

    #[test]
    fn row_wise_expressions_translate() {
        for ok in [
            "a + b * 2",
            "CAST(x AS DECIMAL(18,2))",
            "UPPER(name) || '!'",
            "CASE WHEN a > 1 THEN 'big' ELSE 'small' END",
            "a IS NOT NULL AND b IN (1, 2, 3)",
            "COALESCE(note, '')",
        ] {
            if let Err(e) = expression(ok) {
                panic!("{ok}: {e}");
            }
        }
    }

    #[test]
    fn not_row_wise_is_refused() {
        refused("SUM(a)", "aggregate");
        refused("count(*) + 1", "aggregate");
        refused("row_number() OVER (ORDER BY a)", "window function");
        refused("lag(a)", "not row-wise");
        refused("a IN (SELECT id FROM t)", "subqueries");
        refused("EXISTS (SELECT 1)", "subqueries");
        refused("a +", "Expected: an expression");
        refused("a > 1 b", "unexpected");
        refused("no_such_function(a)", "unsupported function");
    }

    fn select_err(text: &str) -> String {
        select(text).err().unwrap_or_default()
    }

    #[test]
    fn select_accepts_one_row_wise_select() {
        let s = select("SELECT *, a + 1 AS b, c AS d, input.e FROM input WHERE a > 0").unwrap();
        assert!(matches!(s.items[0], Item::Star));
        assert!(matches!(&s.items[1], Item::Computed { output, .. } if output == "b"));
        assert!(
            matches!(&s.items[2], Item::Column { input, output } if input == "c" && output == "d")
        );
        assert!(matches!(&s.items[3], Item::Column { input, .. } if input == "e"));
        assert_eq!(s.filter.unwrap().0, "a > 0");
        select("SELECT i.a FROM input AS i").unwrap();
    }

    #[test]
    fn select_refuses_other_clauses() {
        assert!(select_err("SELECT a FROM input ORDER BY a").contains("ORDER BY"));
        assert!(select_err("SELECT a FROM input LIMIT 3").contains("LIMIT"));
        assert!(select_err("SELECT DISTINCT a FROM input").contains("DISTINCT"));
        assert!(select_err("SELECT a FROM input GROUP BY a").contains("GROUP BY"));
        assert!(select_err("SELECT count(*) AS n FROM input").contains("aggregate"));
        assert!(select_err("SELECT a FROM input JOIN t ON true").contains("joins"));
        assert!(select_err("SELECT a FROM other").contains("FROM input"));
        assert!(select_err("SELECT a FROM input UNION SELECT a FROM input").contains("UNION"));
        assert!(select_err("SELECT a + 1 FROM input").contains("AS some_name"));
        assert!(select_err("SELECT a FROM input; SELECT b FROM input").contains("one SELECT"));
        assert!(select_err("WITH x AS (SELECT 1) SELECT * FROM x").contains("WITH"));
        assert!(
            select_err("SELECT sum(a) OVER (PARTITION BY b) AS s FROM input").contains("window")
        );
        assert!(select_err("SELECT a FROM input WHERE a IN (SELECT 1)").contains("subqueries"));
    }
}
