//! One module per subcommand.

pub mod demo;
pub mod doctor;
pub mod lifecycle;
pub mod plan;
pub mod ps;
