//! # job-stub
//!
//! A tiny stand-in for a job process, for test images built `FROM scratch`. It uses only the
//! standard library, so one `rustc` call builds it (berth-stub-image builds it statically).
//!
//! In the image it is installed as `/usr/local/bin/python`, because the launcher runs
//! `<python_path> -u -m <module> <flags...>`. Its arguments are therefore ignored for control
//! (they are only reported). What it does comes from a script:
//!
//! 1. the environment variable `STUB_SCRIPT`, when set (lines separated by newlines or `;`);
//! 2. else the file `stub.script` in its working directory (the job folder);
//! 3. else it prints what it sees (argv, cwd, uid/gid) and exits 0.
//!
//! ## Script language
//!
//! One command per line; blank lines and lines starting with `#` are skipped.
//!
//! | line | does |
//! |---|---|
//! | `print <text>` | prints `<text>` to stdout |
//! | `eprint <text>` | prints `<text>` to stderr |
//! | `sleep <seconds>` | sleeps; fractions allowed (`0.5`) |
//! | `write <path> <text>` | writes `<text>` and a newline to `<path>` (relative to the working dir), creating parent dirs |
//! | `exit <code>` | exits with `<code>` |
//! | `probe <output-file> [path...]` | writes a JSON report of what the job sees (below) to `<output-file>` |
//! | `try-read <path>` | prints `try-read <path>: ok <n> bytes` (or `ok <n> entries` for a dir) or `try-read <path>: error <why>` |
//! | `try-write <path>` | prints `try-write <path>: ok` or `try-write <path>: error <why>` |
//! | `alloc <MiB>` | allocates and touches that much memory, and keeps it (for OOM tests) |
//! | `spin <seconds>` | keeps a CPU busy for that long |
//! | `ids` | prints `ids: uid=<real> euid=<effective> nnp=<NoNewPrivs>` (from `/proc/self/status`) |
//! | `try-raw-socket` | opens an IPv4 raw ICMP socket (needs `CAP_NET_RAW`); prints `try-raw-socket: ok` or `try-raw-socket: error <why>` |
//! | `run <program> <script>` | runs `<program>` (e.g. a setuid copy of the stub) with `<script>` as its `STUB_SCRIPT`, commands separated by `\|`; its output passes through, then prints `run <program>: exit <code>` |
//!
//! An unknown command or a malformed argument prints an error to stderr and exits 2.
//! Reaching the end of the script exits 0.
//!
//! ## The probe report
//!
//! A JSON object: `uid`, `gid` (effective, from `/proc/self/status`), `cwd`, `argv`, `env`
//! (object of name -> value), `mounts` (from `/proc/self/mountinfo`: `target`, `fstype`,
//! `source`, `ro`, `options`), `docker_socket` (whether `/var/run/docker.sock` or
//! `/run/docker.sock` exists), and `attempts`, each `{ "ok": bool, "detail": text }`:
//! `workspace_root_mkdir` (create a dir `/var/tmp/nvflare/workspace/probe-<random>`, removed
//! again), `write_startup` and `write_local` (create a file in
//! `/var/tmp/nvflare/workspace/startup` / `local`), `other_entries` (list the workspace root:
//! the detail names entries other than `startup`, `local` and the job's own folder), one
//! `read_other:<name>` per such entry, and one `read:<path>` per extra probe argument.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WORKSPACE_ROOT: &str = "/var/tmp/nvflare/workspace";

fn main() {
    let script = match std::env::var("STUB_SCRIPT") {
        Ok(s) => Some(s.replace(';', "\n")),
        Err(_) => std::fs::read_to_string("stub.script").ok(),
    };
    let Some(script) = script else {
        describe();
        return;
    };
    let mut held: Vec<Vec<u8>> = Vec::new();
    for (number, raw) in script.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(message) = run_line(line, &mut held) {
            eprintln!("job-stub: line {}: {message}: {line}", number + 1);
            flush();
            std::process::exit(2);
        }
    }
    flush();
}

fn flush() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

fn describe() {
    let argv: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let (uid, gid) = ids();
    println!("job-stub: no script (set STUB_SCRIPT or write stub.script)");
    println!("argv: {argv:?}");
    println!("cwd: {cwd}");
    println!("uid: {uid} gid: {gid}");
}

fn run_line(line: &str, held: &mut Vec<Vec<u8>>) -> Result<(), String> {
    let (command, rest) = match line.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim_start()),
        None => (line, ""),
    };
    match command {
        "print" => {
            println!("{rest}");
            flush();
        }
        "eprint" => {
            eprintln!("{rest}");
            flush();
        }
        "sleep" => std::thread::sleep(seconds(rest)?),
        "spin" => {
            let end = Instant::now() + seconds(rest)?;
            let mut x: u64 = 1;
            while Instant::now() < end {
                for _ in 0..10_000 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
            }
            std::hint::black_box(x);
        }
        "write" => {
            let (path, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if path.is_empty() {
                return Err("write needs a path".into());
            }
            let path = Path::new(path);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(path, format!("{}\n", text.trim_start()))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        "exit" => {
            let code: i32 = rest
                .trim()
                .parse()
                .map_err(|_| format!("bad exit code {rest:?}"))?;
            flush();
            std::process::exit(code);
        }
        "try-read" => {
            let result = try_read(Path::new(rest.trim()));
            println!("try-read {}: {}", rest.trim(), outcome_text(&result));
            flush();
        }
        "try-write" => {
            let result = try_write(Path::new(rest.trim()));
            println!("try-write {}: {}", rest.trim(), outcome_text(&result));
            flush();
        }
        "alloc" => {
            let mib: usize = rest
                .trim()
                .parse()
                .map_err(|_| format!("bad MiB count {rest:?}"))?;
            for _ in 0..mib {
                let mut block = vec![0u8; 1 << 20];
                for i in (0..block.len()).step_by(4096) {
                    block[i] = 1;
                }
                held.push(std::hint::black_box(block));
            }
            println!("allocated {mib} MiB");
            flush();
        }
        "probe" => {
            let mut args = rest.split_whitespace();
            let out = args.next().ok_or("probe needs an output file")?;
            let extra: Vec<&str> = args.collect();
            let report = probe(&extra);
            let out = Path::new(out);
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            std::fs::write(out, report).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!("probe written to {}", out.display());
            flush();
        }
        "ids" => {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            let uid = field("Uid:");
            let nnp = field("NoNewPrivs:");
            let at = |v: &Vec<&str>, i: usize| v.get(i).copied().unwrap_or("?").to_string();
            println!(
                "ids: uid={} euid={} nnp={}",
                at(&uid, 0),
                at(&uid, 1),
                at(&nnp, 0)
            );
            flush();
        }
        "try-raw-socket" => {
            println!("try-raw-socket: {}", outcome_text(&try_raw_socket()));
            flush();
        }
        "run" => {
            let (program, script) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if program.is_empty() {
                return Err("run needs a program".into());
            }
            flush();
            let status = std::process::Command::new(program)
                .env("STUB_SCRIPT", script.replace('|', ";"))
                .status();
            match status {
                Ok(s) => println!("run {program}: exit {}", s.code().unwrap_or(-1)),
                Err(e) => println!("run {program}: error {e}"),
            }
            flush();
        }
        other => return Err(format!("unknown command {other:?}")),
    }
    Ok(())
}

// The one call std does not offer. The stub is a test program for job images; berth
// itself has no unsafe code.
extern "C" {
    fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
}

/// Open (and close) an `AF_INET`, `SOCK_RAW`, `IPPROTO_ICMP` socket: the kernel allows it
/// only with `CAP_NET_RAW` in the process's effective set.
fn try_raw_socket() -> Result<String, String> {
    use std::os::fd::{FromRawFd, OwnedFd};
    const AF_INET: i32 = 2;
    const SOCK_RAW: i32 = 3;
    const IPPROTO_ICMP: i32 = 1;
    // SAFETY: socket(2) takes three integers and returns a new descriptor or -1; no memory
    // is shared with the kernel.
    let fd = unsafe { socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: `fd` was just opened by this process and nothing else owns it; dropping the
    // OwnedFd closes it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(String::new())
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("bad seconds {text:?}"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad seconds {text:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn outcome_text(result: &Result<String, String>) -> String {
    match result {
        Ok(detail) => format!("ok {detail}").trim_end().to_string(),
        Err(why) => format!("error {why}"),
    }
}

fn try_read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| e.to_string())?;
        let names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        Ok(format!("{} entries", names.len()))
    } else {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        Ok(format!("{} bytes", bytes.len()))
    }
}

fn try_write(path: &Path) -> Result<String, String> {
    std::fs::write(path, b"job-stub\n").map_err(|e| e.to_string())?;
    Ok(String::new())
}

/// Effective uid and gid from `/proc/self/status`.
fn ids() -> (String, String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().nth(1))
            .unwrap_or("unknown")
            .to_string()
    };
    (field("Uid:"), field("Gid:"))
}

fn random_suffix() -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let uuid = uuid.trim().replace('-', "");
    if uuid.is_empty() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{}-{nanos}", std::process::id())
    } else {
        uuid[..12.min(uuid.len())].to_string()
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn attempt_json(result: &Result<String, String>) -> String {
    match result {
        Ok(detail) => format!("{{\"ok\":true,\"detail\":{}}}", json_str(detail)),
        Err(why) => format!("{{\"ok\":false,\"detail\":{}}}", json_str(why)),
    }
}

/// One mount from a `/proc/self/mountinfo` line.
fn mount_json(line: &str) -> Option<String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let dash = fields.iter().position(|f| *f == "-")?;
    let target = unescape_mount(fields.get(4)?);
    let options = fields.get(5)?;
    let fstype = fields.get(dash + 1).copied().unwrap_or("");
    let source = unescape_mount(fields.get(dash + 2).copied().unwrap_or(""));
    let super_options = fields.get(dash + 3).copied().unwrap_or("");
    let ro = options.split(',').any(|o| o == "ro");
    Some(format!(
        "{{\"target\":{},\"fstype\":{},\"source\":{},\"ro\":{ro},\"options\":{},\"super_options\":{}}}",
        json_str(&target),
        json_str(fstype),
        json_str(&source),
        json_str(options),
        json_str(super_options)
    ))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn probe(extra_reads: &[&str]) -> String {
    let (uid, gid) = ids();
    let cwd = std::env::current_dir().unwrap_or_default();
    let argv: Vec<String> = std::env::args().collect();
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
        .collect();
    env.sort();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounts: Vec<String> = mountinfo.lines().filter_map(mount_json).collect();
    let docker_socket = ["/var/run/docker.sock", "/run/docker.sock"]
        .iter()
        .any(|p| std::fs::symlink_metadata(p).is_ok());

    let root = Path::new(WORKSPACE_ROOT);
    let suffix = random_suffix();
    let mut attempts: Vec<(String, Result<String, String>)> = Vec::new();

    let probe_dir = root.join(format!("probe-{suffix}"));
    let mkdir = std::fs::create_dir(&probe_dir)
        .map(|_| {
            let _ = std::fs::remove_dir(&probe_dir);
            probe_dir.display().to_string()
        })
        .map_err(|e| format!("{}: {e}", probe_dir.display()));
    attempts.push(("workspace_root_mkdir".into(), mkdir));

    for (name, dir) in [("write_startup", "startup"), ("write_local", "local")] {
        let path = root.join(dir).join(format!("probe-{suffix}"));
        let result = std::fs::write(&path, b"job-stub\n")
            .map(|_| {
                let _ = std::fs::remove_file(&path);
                path.display().to_string()
            })
            .map_err(|e| format!("{}: {e}", path.display()));
        attempts.push((name.into(), result));
    }

    let own = own_job_dir(&cwd);
    let mut others: Vec<PathBuf> = Vec::new();
    let listing = std::fs::read_dir(root)
        .map(|entries| {
            let mut names: Vec<String> = Vec::new();
            for entry in entries.filter_map(|e| e.ok()) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == "startup" || name == "local" || Some(&name) == own.as_ref() {
                    continue;
                }
                others.push(entry.path());
                names.push(name);
            }
            names.sort();
            names.join(",")
        })
        .map_err(|e| format!("{WORKSPACE_ROOT}: {e}"));
    attempts.push(("other_entries".into(), listing));
    others.sort();
    for path in &others {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        attempts.push((format!("read_other:{name}"), read_tree(path)));
    }
    for path in extra_reads {
        attempts.push((format!("read:{path}"), try_read(Path::new(path))));
    }

    let mut out = String::from("{");
    let _ = write!(out, "\"uid\":{},\"gid\":{},", json_str(&uid), json_str(&gid));
    let _ = write!(out, "\"cwd\":{},", json_str(&cwd.display().to_string()));
    let argv_json: Vec<String> = argv.iter().map(|a| json_str(a)).collect();
    let _ = write!(out, "\"argv\":[{}],", argv_json.join(","));
    let env_json: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
        .collect();
    let _ = write!(out, "\"env\":{{{}}},", env_json.join(","));
    let _ = write!(out, "\"mounts\":[{}],", mounts.join(","));
    let _ = write!(out, "\"docker_socket\":{docker_socket},");
    let attempts_json: Vec<String> = attempts
        .iter()
        .map(|(k, r)| format!("{}:{}", json_str(k), attempt_json(r)))
        .collect();
    let _ = write!(out, "\"attempts\":{{{}}}", attempts_json.join(","));
    out.push_str("}\n");
    out
}

/// The job's own folder name when the working dir is directly under the workspace root.
fn own_job_dir(cwd: &Path) -> Option<String> {
    if cwd.parent() == Some(Path::new(WORKSPACE_ROOT)) {
        cwd.file_name().map(|n| n.to_string_lossy().into_owned())
    } else {
        None
    }
}

/// Lists a directory and reads the files directly in it; a file is read.
fn read_tree(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return try_read(path);
    }
    let entries = std::fs::read_dir(path).map_err(|e| e.to_string())?;
    let mut read = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match try_read(&p) {
            Ok(detail) => read.push(format!("{name}: {detail}")),
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    read.sort();
    Ok(read.join("; "))
}
