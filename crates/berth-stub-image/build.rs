//! Builds the job stub (`../job-stub/src/main.rs`, std only) as a fully static binary for
//! the target this crate is built for (the host's, unless cross-compiling), with the
//! compiler and linker cargo gave this build, so the image it goes into needs nothing else.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("../job-stub/src/main.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");

    // The image runs on a Linux engine of the same architecture as the berth that imports it.
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        panic!(
            "the job stub image needs a Linux target, not {target}; build without it \
             (`cargo build -p berth-cli --no-default-features` leaves out `berth demo`)"
        );
    }

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let binary = out_dir.join("job-stub");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(&rustc);
    command
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "job_stub",
            "--crate-type",
            "bin",
        ])
        .args(["--target", &target])
        .args(["-C", "target-feature=+crt-static", "-C", "opt-level=s"])
        .args(["-C", "strip=symbols", "-C", "panic=abort"]);
    // The linker cargo resolved for this target (`target.<triple>.linker`), when one is set.
    if let Some(linker) = std::env::var_os("RUSTC_LINKER") {
        command
            .arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    let output = command
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", rustc.to_string_lossy()));
    if !output.status.success() {
        panic!(
            "building the static job stub for {target} failed (it needs that target's standard \
             library, `rustup target add {target}`, and a static C runtime, e.g. libc6-dev for \
             glibc):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
