//! What filtersets need to know of the workspace, read from cargo
//! metadata: its member packages, their targets (for `package()`,
//! `binary()` and `binary_id()`, which must match something) and the
//! resolved dependency graph (for `deps()` and `rdeps()`). [`Workspace`]
//! is the main type; the graph walks are iterative, so a hostile or huge
//! graph (an archive's metadata is untrusted) cannot overflow the stack,
//! and cycles (dev-dependencies make them) end.

use cargo_metadata::{Metadata, Package, PackageId};
use std::collections::{BTreeSet, HashMap};

/// The workspace as filtersets see it.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    members: Vec<Member>,
    /// `None` when the metadata has no resolve (`cargo metadata --no-deps`,
    /// or an archive made by an older cargo-isolate).
    graph: Option<Graph>,
    /// The configuration's test groups, for `group()`.
    groups: Vec<String>,
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    /// Target names and binary ids, build scripts left out: they have no
    /// tests.
    targets: Vec<(String, String)>,
    /// This member's node in [`Graph::deps`], if the resolve has it.
    node: Option<usize>,
}

/// Edges by node index: `deps[a]` holds every `b` that `a` depends on
/// (normal, build and dev dependencies alike, as nextest's graph).
#[derive(Debug, Clone)]
struct Graph {
    deps: Vec<Vec<usize>>,
    /// The member each node is, if any.
    member_of: Vec<Option<usize>>,
}

/// Which way [`Workspace::closure`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// What the roots depend on (`deps()`).
    Dependencies,
    /// What depends on the roots (`rdeps()`).
    Dependents,
}

impl Workspace {
    /// Reads the members, their targets and the resolve. Package ids that
    /// name nothing (a damaged archive) are left out, never a panic.
    pub fn from_metadata(metadata: &Metadata) -> Workspace {
        let nodes = metadata.resolve.as_ref().map(|r| r.nodes.as_slice());
        let index: HashMap<&PackageId, usize> = nodes
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.id, i))
            .collect();
        let by_id: HashMap<&PackageId, &Package> =
            metadata.packages.iter().map(|p| (&p.id, p)).collect();
        let members: Vec<Member> = metadata
            .workspace_members
            .iter()
            .filter_map(|id| Some(member(by_id.get(id)?, index.get(id).copied())))
            .collect();
        let graph = nodes.map(|nodes| {
            let deps = nodes
                .iter()
                .map(|n| {
                    let ids = n.dependencies.iter().chain(n.deps.iter().map(|d| &d.pkg));
                    let targets: BTreeSet<usize> =
                        ids.filter_map(|id| index.get(id).copied()).collect();
                    targets.into_iter().collect()
                })
                .collect();
            Graph::new(deps, &members)
        });
        Workspace {
            members,
            graph,
            groups: Vec::new(),
        }
    }

    /// With the configuration's test groups, which `group()` matches.
    pub fn with_groups<'a>(mut self, names: impl IntoIterator<Item = &'a String>) -> Workspace {
        self.groups = names.into_iter().cloned().collect();
        self
    }

    /// `@global`, then the configuration's groups.
    pub(super) fn groups(&self) -> impl Iterator<Item = &str> {
        std::iter::once(super::GLOBAL_GROUP).chain(self.groups.iter().map(String::as_str))
    }

    /// A workspace of `members` (name, targets as (name, binary id)),
    /// and, if given, the graph as edges between member indexes.
    #[cfg(test)]
    pub(super) fn from_parts(
        members: &[(&str, &[(&str, &str)])],
        edges: Option<&[(usize, usize)]>,
    ) -> Workspace {
        let members: Vec<Member> = members
            .iter()
            .enumerate()
            .map(|(i, (name, targets))| Member {
                name: (*name).to_owned(),
                targets: targets
                    .iter()
                    .map(|(t, id)| ((*t).to_owned(), (*id).to_owned()))
                    .collect(),
                node: edges.map(|_| i),
            })
            .collect();
        let graph = edges.map(|edges| {
            let mut deps = vec![Vec::new(); members.len()];
            for &(a, b) in edges {
                if a < deps.len() && b < members.len() {
                    deps[a].push(b);
                }
            }
            Graph::new(deps, &members)
        });
        Workspace {
            members,
            graph,
            groups: Vec::new(),
        }
    }

    /// Whether the dependency graph is known.
    pub(super) fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// The member package names, in metadata order.
    pub(super) fn member_names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.name.as_str())
    }

    /// Every target of every member, as (target name, binary id).
    pub(super) fn targets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members
            .iter()
            .flat_map(|m| m.targets.iter().map(|(t, id)| (t.as_str(), id.as_str())))
    }

    /// The members whose name `is_match`, by index.
    pub(super) fn members_matching(&self, is_match: impl Fn(&str) -> bool) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| is_match(&self.members[i].name))
            .collect()
    }

    /// The names of these members (by index).
    pub(super) fn names(&self, members: &[usize]) -> BTreeSet<String> {
        members
            .iter()
            .filter_map(|&m| self.members.get(m))
            .map(|m| m.name.clone())
            .collect()
    }

    /// The names of the members reachable from `roots` (member indexes)
    /// going `direction`, the roots included: nextest's `deps()` and
    /// `rdeps()`. Paths may pass through packages outside the workspace.
    /// Without a graph, only the roots.
    pub(super) fn closure(&self, roots: &[usize], direction: Direction) -> BTreeSet<String> {
        let mut names = self.names(roots);
        let Some(graph) = &self.graph else {
            return names;
        };
        let starts = roots
            .iter()
            .filter_map(|&r| self.members.get(r)?.node)
            .collect();
        let reached = match direction {
            Direction::Dependencies => walk(&graph.deps, starts),
            Direction::Dependents => walk(&graph.reversed(), starts),
        };
        names.extend(
            reached
                .into_iter()
                .filter_map(|n| graph.member_of[n])
                .map(|m| self.members[m].name.clone()),
        );
        names
    }
}

impl Graph {
    fn new(deps: Vec<Vec<usize>>, members: &[Member]) -> Graph {
        let mut member_of = vec![None; deps.len()];
        for (m, member) in members.iter().enumerate() {
            if let Some(slot) = member.node.and_then(|n| member_of.get_mut(n)) {
                *slot = Some(m);
            }
        }
        Graph { deps, member_of }
    }

    fn reversed(&self) -> Vec<Vec<usize>> {
        let mut rdeps = vec![Vec::new(); self.deps.len()];
        for (a, bs) in self.deps.iter().enumerate() {
            for &b in bs {
                rdeps[b].push(a);
            }
        }
        rdeps
    }
}

/// A member package: its name, its targets but build scripts (they have
/// no tests), and its node.
fn member(p: &Package, node: Option<usize>) -> Member {
    let name = p.name.to_string();
    let targets = p
        .targets
        .iter()
        .filter_map(|t| {
            let kind = binary_kind(&t.kind.first()?.to_string())?;
            let id = crate::model::binary_id(&name, &t.name, kind);
            Some((t.name.clone(), id))
        })
        .collect();
    Member {
        name,
        targets,
        node,
    }
}

/// Every node reachable from `starts` along `edges`, the starts included.
/// Iterative, with a visited set: deep chains and cycles are fine.
fn walk(edges: &[Vec<usize>], starts: Vec<usize>) -> BTreeSet<usize> {
    let mut seen = vec![false; edges.len()];
    let mut stack = starts;
    let mut reached = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n >= edges.len() || std::mem::replace(&mut seen[n], true) {
            continue;
        }
        reached.insert(n);
        stack.extend(
            edges[n]
                .iter()
                .copied()
                .filter(|&m| !seen.get(m).unwrap_or(&true)),
        );
    }
    reached
}

/// A target's kind as nextest's binary ids name it; `None` for a build
/// script, which has no tests.
fn binary_kind(cargo_kind: &str) -> Option<&'static str> {
    Some(match cargo_kind {
        "custom-build" => return None,
        "bin" => "bin",
        "test" => "test",
        "bench" => "bench",
        "example" => "example",
        "proc-macro" => "proc-macro",
        // lib, rlib, dylib, cdylib, staticlib
        _ => "lib",
    })
}
