//! A `local/study_runtime.yaml` (and, separately, a `local/study_data.yaml`) of any content,
//! loaded the way a launch loads it.
#![no_main]

use berth_core::study;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path();
    if std::fs::create_dir_all(root.join("local")).is_err() {
        return;
    }
    // The first line names the study to resolve; the rest is the file.
    let (study_name, text) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => ("s1".to_string(), data),
    };
    if std::fs::write(root.join(study::STUDY_RUNTIME_FILE), text).is_ok() {
        let _ = study::load_runtime_for_launch(root, Some(&study_name), &mut Vec::new());
    }
    let _ = std::fs::remove_file(root.join(study::STUDY_RUNTIME_FILE));
    if std::fs::write(root.join(study::STUDY_DATA_FILE), text).is_ok() {
        let _ = study::load_v1_mounts(root, &study_name, &mut Vec::new());
    }
});
