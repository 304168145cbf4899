//! Compiling a parsed filterset against the [`Workspace`], as nextest's
//! `compile.rs` does against its package graph: `package()`, `deps()` and
//! `rdeps()` become the set of workspace packages they select, and a
//! workspace predicate that matches nothing is an error on its matcher.
//!
//! The walk recurses over the expression tree, whose depth the parser
//! bounds (`not` and parentheses count against `MAX_DEPTH`; chains of
//! operators are flat), so it cannot overflow the stack.

use super::parser::Diag;
use super::workspace::{Direction, Workspace};
use super::{Expr, Field, WorkspaceLeaf, WorkspacePredicate};

/// How many package names an error lists before "and N more".
const NAMES_SHOWN: usize = 8;

/// `expr` with every workspace predicate resolved; without a workspace
/// (the configuration), names are matched as they are and the graph
/// predicates are an error.
pub(super) fn compile(
    expr: &Expr,
    source: &str,
    workspace: Option<&Workspace>,
) -> Result<Expr, Diag> {
    Ok(match expr {
        Expr::Workspace(leaf) => match workspace {
            Some(ws) => leaf_in(leaf, source, ws)?,
            None => leaf_without_workspace(leaf)?,
        },
        Expr::Not(inner) => Expr::Not(Box::new(compile(inner, source, workspace)?)),
        Expr::And(terms) => Expr::And(all(terms, source, workspace)?),
        Expr::Or(terms) => Expr::Or(all(terms, source, workspace)?),
        other => other.clone(),
    })
}

fn all(terms: &[Expr], source: &str, workspace: Option<&Workspace>) -> Result<Vec<Expr>, Diag> {
    terms
        .iter()
        .map(|t| compile(t, source, workspace))
        .collect()
}

fn leaf_without_workspace(leaf: &WorkspaceLeaf) -> Result<Expr, Diag> {
    let field = match leaf.predicate {
        WorkspacePredicate::Package => Field::Package,
        WorkspacePredicate::Binary => Field::Binary,
        WorkspacePredicate::BinaryId => Field::BinaryId,
        WorkspacePredicate::Group => {
            return Err(Diag {
                message: "group() is only for -E on the command line, as in nextest: the overrides are what put a test in a group".to_string(),
                span: leaf.span.clone(),
            });
        }
        WorkspacePredicate::Deps | WorkspacePredicate::Rdeps => {
            return Err(Diag {
                message: format!(
                    "{}() needs the dependency graph, which only -E expressions get (the configuration is read before the build)",
                    leaf.predicate.name()
                ),
                span: leaf.span.clone(),
            });
        }
    };
    Ok(Expr::Leaf(field, leaf.matcher.clone()))
}

fn leaf_in(leaf: &WorkspaceLeaf, source: &str, ws: &Workspace) -> Result<Expr, Diag> {
    let name = leaf.predicate.name();
    let written = source.get(leaf.arg.clone()).unwrap_or_default();
    let no_match = |what: &str, hint: String| Diag {
        message: format!(
            "{name}(): no {what} matches '{}'{hint}",
            written.escape_debug()
        ),
        span: leaf.arg.clone(),
    };
    let direction = match leaf.predicate {
        WorkspacePredicate::Binary | WorkspacePredicate::BinaryId => {
            let by_id = leaf.predicate == WorkspacePredicate::BinaryId;
            let found = ws
                .targets()
                .any(|(target, id)| leaf.matcher.is_match(if by_id { id } else { target }));
            if !found {
                let what = if by_id {
                    "workspace binary id"
                } else {
                    "workspace binary"
                };
                return Err(no_match(what, String::new()));
            }
            let field = if by_id {
                Field::BinaryId
            } else {
                Field::Binary
            };
            return Ok(Expr::Leaf(field, leaf.matcher.clone()));
        }
        WorkspacePredicate::Group => {
            if !ws.groups().any(|g| leaf.matcher.is_match(g)) {
                let defined: Vec<String> = ws
                    .groups()
                    .skip(1)
                    .take(NAMES_SHOWN)
                    .map(|g| g.escape_debug().to_string())
                    .collect();
                let defined = match defined.is_empty() {
                    true => "the configuration defines no [test-groups]".to_string(),
                    false => format!("groups: {}", defined.join(", ")),
                };
                let global = super::GLOBAL_GROUP;
                return Err(no_match(
                    "test group",
                    format!(" ({defined}; a test in none is in {global})"),
                ));
            }
            return Ok(Expr::Leaf(Field::Group, leaf.matcher.clone()));
        }
        WorkspacePredicate::Package => None,
        WorkspacePredicate::Deps => Some(Direction::Dependencies),
        WorkspacePredicate::Rdeps => Some(Direction::Dependents),
    };
    if direction.is_some() && !ws.has_graph() {
        return Err(Diag {
            message: format!(
                "{name}() needs the dependency graph, which cargo metadata did not give for this build (see why with `cargo metadata --format-version 1 --filter-platform host-tuple`; an archive made by an older cargo-isolate has none: make it again)"
            ),
            span: leaf.span.clone(),
        });
    }
    let roots = ws.members_matching(|p| leaf.matcher.is_match(p));
    if roots.is_empty() {
        return Err(no_match("workspace package", members_hint(ws)));
    }
    Ok(Expr::Packages(match direction {
        Some(direction) => ws.closure(&roots, direction),
        None => ws.names(&roots),
    }))
}

/// " (members: a, b, c)", shortened past [`NAMES_SHOWN`].
fn members_hint(ws: &Workspace) -> String {
    let names: Vec<&str> = ws.member_names().collect();
    if names.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = names
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| n.escape_debug().to_string())
        .collect();
    let more = names.len().saturating_sub(NAMES_SHOWN);
    match more {
        0 => format!(" (members: {})", shown.join(", ")),
        n => format!(" (members: {} and {n} more)", shown.join(", ")),
    }
}
