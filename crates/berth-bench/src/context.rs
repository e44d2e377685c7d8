//! What every scenario works with: the engine clients, the launchers under test and the
//! planner, and the arms being compared.

use crate::site::Planner;
use crate::stats::Rng;
use berth_engine::docker::DockerRuntime;
use berth_launcher::Launcher;
use serde::Serialize;
use std::sync::Arc;

/// One side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The plain Engine API call sequence.
    Raw,
    /// berth's launcher with its durable SQLite store (what a site runs).
    BerthSqlite,
    /// berth's launcher with the in-memory store (what the store costs, by difference).
    BerthMemory,
}

impl Arm {
    pub fn label(self) -> &'static str {
        match self {
            Arm::Raw => "raw Engine API",
            Arm::BerthSqlite => "berth (SQLite store)",
            Arm::BerthMemory => "berth (memory store)",
        }
    }
}

pub struct Ctx {
    /// The baseline's client. berth's launchers each have their own client (and so their
    /// own connection pool), as they would in a separate process.
    pub raw: Arc<DockerRuntime>,
    pub sqlite: Launcher,
    pub memory: Option<Launcher>,
    pub planner: Planner,
    pub rng: Rng,
}

impl Ctx {
    /// The launcher of a berth arm.
    pub fn launcher(&self, arm: Arm) -> Option<&Launcher> {
        match arm {
            Arm::Raw => None,
            Arm::BerthSqlite => Some(&self.sqlite),
            Arm::BerthMemory => self.memory.as_ref(),
        }
    }

    /// The arms to interleave: raw, berth with SQLite and, when enabled, berth in memory.
    pub fn arms(&self) -> Vec<Arm> {
        let mut arms = vec![Arm::Raw, Arm::BerthSqlite];
        if self.memory.is_some() {
            arms.push(Arm::BerthMemory);
        }
        arms
    }

    /// `per_arm` of each arm, in a random order.
    pub fn schedule(&mut self, arms: &[Arm], per_arm: usize) -> Vec<Arm> {
        let mut order: Vec<Arm> = arms
            .iter()
            .flat_map(|a| std::iter::repeat_n(*a, per_arm))
            .collect();
        self.rng.shuffle(&mut order);
        order
    }

    /// `rounds` blocks, each holding every arm once in a random order: for scenarios with
    /// few, long samples, so that no arm gets all the early (or late) slots.
    pub fn blocks(&mut self, arms: &[Arm], rounds: usize) -> Vec<Arm> {
        let mut order = Vec::with_capacity(arms.len() * rounds);
        for _ in 0..rounds {
            let mut block = arms.to_vec();
            self.rng.shuffle(&mut block);
            order.extend(block);
        }
        order
    }
}
