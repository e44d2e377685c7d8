//! berth-launcher: the job lifecycle.
