//! Builds the job stub (`../job-stub/src/main.rs`, std only) as a fully static binary with
//! the compiler this build was given, so the image it goes into needs nothing else.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("../job-stub/src/main.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let binary = out_dir.join("job-stub");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "job_stub",
            "--crate-type",
            "bin",
        ])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .args(["-C", "target-feature=+crt-static", "-C", "opt-level=s"])
        .args(["-C", "strip=symbols", "-C", "panic=abort"])
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", rustc.to_string_lossy()));
    if !output.status.success() {
        panic!(
            "building the static job stub failed (it needs the x86_64-unknown-linux-gnu target and a static \
             glibc, libc6-dev):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
