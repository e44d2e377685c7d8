//! One module per subcommand.

pub mod audit;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod lifecycle;
pub mod logs;
pub mod plan;
pub mod ps;
pub mod recover;
pub mod shell;
