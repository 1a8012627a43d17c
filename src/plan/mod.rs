//! The plan: a sealed petgraph DAG of stage instances built from a checked IR, plus its
//! renderings (text, Graphviz DOT, Mermaid).
//!
//! Invariants: a `Plan` can only be built from an `ir::Pipeline` (which is acyclic) and
//! the confinement its file parameters were checked against, is never mutated
//! afterwards, and exposes nodes in a deterministic topological order (ties broken by
//! instance name) so runs, logs and lock files are stable; every input of every node
//! names a node of the plan (an IR that breaks this is refused, [`PlanError`]).

use crate::confine::Confinement;
use crate::ir;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Index of a node in the plan.
pub type NodeId = NodeIndex;

/// One stage instance in the DAG.
#[derive(Debug, Clone)]
pub struct Node {
    pub stage: ir::Stage,
}

/// Why an IR cannot become a plan. Lowering checks every input, so this is an internal
/// error of sieve, not a mistake in the pipeline file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "internal error: input `{slot}` of stage `{consumer}` reads `{missing}`, which is not a stage of the pipeline"
    )]
    MissingProducer {
        consumer: String,
        slot: String,
        missing: String,
    },
}

/// The sealed DAG.
#[derive(Debug, Clone)]
pub struct Plan {
    pub pipeline: String,
    /// The folders stages may read and write; relative file parameters start at its
    /// project folder (the pipeline file's).
    pub files: Confinement,
    /// The top-level pipeline file (canonical), when the plan came from one.
    pub file: Option<std::path::PathBuf>,
    graph: DiGraph<Node, ()>,
    order: Vec<NodeId>,
    by_instance: HashMap<String, NodeId>,
}

impl Plan {
    /// Builds the DAG, confined to `files`. The IR is acyclic by construction; an input
    /// naming an instance the IR does not have is refused (lowering never produces one).
    pub fn build(p: &ir::Pipeline, files: Confinement) -> Result<Plan, PlanError> {
        let mut graph = DiGraph::new();
        let mut by_instance = HashMap::new();
        for st in p.stages.values() {
            let id = graph.add_node(Node { stage: st.clone() });
            by_instance.insert(st.instance.clone(), id);
        }
        for st in p.stages.values() {
            let to = by_instance[&st.instance];
            for inp in &st.inputs {
                for src in &inp.sources {
                    let Some(&from) = by_instance.get(src) else {
                        return Err(PlanError::MissingProducer {
                            consumer: st.instance.clone(),
                            slot: inp.slot.clone(),
                            missing: src.clone(),
                        });
                    };
                    graph.update_edge(from, to, ());
                }
            }
        }
        let order = stable_topo(&graph);
        Ok(Plan {
            pipeline: p.name.clone(),
            files,
            file: p.file.clone(),
            graph,
            order,
            by_instance,
        })
    }

    /// Nodes in deterministic topological order.
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id]
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn find(&self, instance: &str) -> Option<NodeId> {
        self.by_instance.get(instance).copied()
    }

    /// Direct producers of a node's inputs.
    pub fn deps(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.graph.neighbors_directed(id, Direction::Incoming)
    }

    /// Direct consumers of a node's output.
    pub fn dependents(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.graph.neighbors_directed(id, Direction::Outgoing)
    }

    /// Instances matching a name: an exact instance name, or every instance of a family.
    pub fn select(&self, name: &str) -> Vec<NodeId> {
        if let Some(id) = self.find(name) {
            return vec![id];
        }
        self.order
            .iter()
            .copied()
            .filter(|&id| self.graph[id].stage.name == name)
            .collect()
    }

    /// Plain text: one line per stage in run order, with its inputs.
    pub fn render_text(&self) -> String {
        let mut out = format!("pipeline {} ({} stages)\n", self.pipeline, self.len());
        for &id in &self.order {
            let st = &self.graph[id].stage;
            let _ = write!(out, "{} = {}", st.instance, st.kind);
            let inputs: Vec<String> = st
                .inputs
                .iter()
                .map(|i| format!("{}: {}", i.slot, i.sources.join(" ")))
                .collect();
            if !inputs.is_empty() {
                let _ = write!(out, "  <- {}", inputs.join("; "));
            }
            out.push('\n');
        }
        out
    }

    /// Graphviz DOT.
    pub fn render_dot(&self) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
            esc(&self.pipeline)
        );
        for &id in &self.order {
            let st = &self.graph[id].stage;
            let _ = writeln!(
                out,
                "  n{} [label=\"{}\\n{}\"];",
                id.index(),
                esc(&st.instance),
                esc(&st.kind)
            );
        }
        for e in self.graph.edge_indices() {
            if let Some((a, b)) = self.graph.edge_endpoints(e) {
                let _ = writeln!(out, "  n{} -> n{};", a.index(), b.index());
            }
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart.
    pub fn render_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for &id in &self.order {
            let st = &self.graph[id].stage;
            let label = format!("{}<br/>{}", st.instance, st.kind).replace('"', "#quot;");
            let _ = writeln!(out, "  n{}[\"{}\"]", id.index(), label);
        }
        for e in self.graph.edge_indices() {
            if let Some((a, b)) = self.graph.edge_endpoints(e) {
                let _ = writeln!(out, "  n{} --> n{}", a.index(), b.index());
            }
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Kahn's algorithm with a name-ordered ready set: deterministic topological order.
fn stable_topo(g: &DiGraph<Node, ()>) -> Vec<NodeId> {
    use std::collections::BTreeSet;
    let mut indeg: Vec<usize> = g
        .node_indices()
        .map(|n| g.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BTreeSet<(&str, NodeId)> = g
        .node_indices()
        .filter(|n| indeg[n.index()] == 0)
        .map(|n| (g[n].stage.instance.as_str(), n))
        .collect();
    let mut order = Vec::with_capacity(g.node_count());
    while let Some(first) = ready.pop_first() {
        let n = first.1;
        order.push(n);
        for m in g.neighbors_directed(n, Direction::Outgoing) {
            indeg[m.index()] -= 1;
            if indeg[m.index()] == 0 {
                ready.insert((g[m].stage.instance.as_str(), m));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowered(text: &str) -> ir::Pipeline {
        let file = crate::dsl::parser::parse_file(text, 0).expect("parse");
        crate::ir::lower(&file, &[]).unwrap_or_else(|d| panic!("{d:?}"))
    }

    fn confinement() -> Confinement {
        Confinement::of_pipeline(std::path::Path::new("t.sieve")).expect("confinement")
    }

    #[test]
    fn an_input_without_its_producer_is_an_error_naming_both() {
        let text = "pipeline p {\n  stage src = t.source(n = 1)\n  stage m = t.model()\n  stage tr = t.train(m, src)\n}";
        let mut ir = lowered(text);
        let plan = Plan::build(&ir, confinement()).expect("a lowered pipeline plans");
        assert_eq!(plan.deps(plan.find("tr").unwrap()).count(), 2);
        // An IR whose input names no stage (lowering never makes one) is refused, not
        // planned without that edge.
        let tr = ir.stages.get_mut("tr").unwrap();
        let slot = tr.inputs[1].slot.clone();
        tr.inputs[1].sources = vec!["ghost".into()];
        assert_eq!(
            Plan::build(&ir, confinement()).unwrap_err(),
            PlanError::MissingProducer {
                consumer: "tr".into(),
                slot,
                missing: "ghost".into()
            }
        );
    }
}
