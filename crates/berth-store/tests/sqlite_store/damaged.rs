//! Damaged, foreign and unusable files.

use super::*;

/// A store with some rows, closed cleanly (WAL checkpointed into the main file).
fn populated_store(path: &Path, rows: usize) {
    let store = open(path);
    for k in 0..rows {
        let id = format!("c{k}-{}", "x".repeat(200));
        store.record_launch(&launch(&id, "j", "s", k as i64)).unwrap();
        store.record_outcome(&outcome(&id, "j", 0)).unwrap();
    }
}

fn assert_rebuilt(path: &Path, original: &[u8]) {
    let (store, report) = SqliteStore::open(path).expect("a damaged store is rebuilt, not an error");
    let moved = report
        .rebuilt_from
        .clone()
        .expect("the damaged file was moved aside");
    let name = moved.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("state.db.corrupt-"), "{name}");
    assert_eq!(
        fs::read(&moved).unwrap(),
        original,
        "the damaged file is kept byte for byte"
    );
    assert!(report.created);
    let notice = report.notice().expect("a notice for the operator");
    assert!(notice.contains("rebuilt"), "{notice}");
    assert!(notice.contains("recovered from container labels"), "{notice}");
    assert!(notice.contains(&moved.display().to_string()), "{notice}");

    // The fresh store works and is clean on the next open.
    assert!(store.history(10).unwrap().is_empty());
    store.record_launch(&launch("c", "j", "s", 1)).unwrap();
    store.record_outcome(&outcome("c", "j", 0)).unwrap();
    drop(store);
    let again = open(path);
    assert_eq!(again.history(10).unwrap().len(), 1);
}

#[test]
fn a_file_of_random_bytes_is_moved_aside_and_a_fresh_store_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Deterministic noise, not a SQLite header.
    let noise = berth_testkit::noise(16_384, 0);
    fs::write(&path, &noise).unwrap();
    assert_rebuilt(&path, &noise);
}

#[test]
fn a_truncated_file_is_moved_aside_and_a_fresh_store_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    populated_store(&path, 300);
    let full = fs::read(&path).unwrap();
    assert!(
        full.len() > 64 * 1024,
        "big enough to span many pages: {}",
        full.len()
    );
    let truncated = &full[..full.len() / 2];
    fs::write(&path, truncated).unwrap();
    assert_rebuilt(&path, truncated);
}

#[test]
fn a_file_cut_inside_its_header_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    populated_store(&path, 3);
    let cut = fs::read(&path).unwrap()[..40].to_vec();
    fs::write(&path, &cut).unwrap();
    assert_rebuilt(&path, &cut);
}

#[test]
fn damaged_pages_are_moved_aside_with_their_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    populated_store(&path, 300);
    let mut bytes = fs::read(&path).unwrap();
    // Overwrite the middle pages (b-tree pages of the tables) with a pattern, header intact.
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 8192..mid + 8192] {
        *b = 0xA5;
    }
    fs::write(&path, &bytes).unwrap();
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    fs::write(&wal, b"left-over wal of the damaged store").unwrap();

    let (_store, report) = SqliteStore::open(&path).unwrap();
    let moved = report.rebuilt_from.expect("moved aside");
    assert_eq!(fs::read(&moved).unwrap(), bytes);
    let moved_wal = PathBuf::from(format!("{}-wal", moved.display()));
    assert_eq!(
        fs::read(&moved_wal).unwrap(),
        b"left-over wal of the damaged store"
    );
}

#[test]
fn several_openers_of_a_damaged_file_rebuild_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, vec![0x5A; 8192]).unwrap();
    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let path = path.clone();
                s.spawn(move || {
                    let (store, report) = SqliteStore::open(&path).unwrap();
                    store
                        .record_launch(&launch(&format!("c{i}"), "j", "s", i))
                        .unwrap();
                    report
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(reports.iter().filter(|r| r.rebuilt_from.is_some()).count(), 1);
    let moved_aside = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("-wal")
        })
        .count();
    assert_eq!(moved_aside, 1);
    assert_eq!(
        open(&path).history(10).unwrap().len(),
        4,
        "no writer's launch was lost"
    );
}

#[test]
fn an_empty_file_is_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"").unwrap();
    let (store, report) = SqliteStore::open(&path).unwrap();
    assert!(report.created);
    assert_eq!(report.rebuilt_from, None);
    store.record_launch(&launch("c", "j", "s", 1)).unwrap();
}

#[test]
fn a_store_from_a_newer_berth_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(open(&path));
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO berth_schema (version, applied_at_ms) VALUES (99, 0)",
        [],
    )
    .unwrap();
    drop(raw);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Incompatible { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("newer berth") && text.contains(&path.display().to_string()),
        "{text}"
    );
    assert!(path.is_file());
}

#[test]
fn another_programs_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("PRAGMA application_id = 12345; CREATE TABLE t (x);")
        .unwrap();
    drop(raw);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Incompatible { .. }), "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
}

#[test]
fn a_file_in_the_way_of_the_directory_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".berth"), b"not a directory").unwrap();
    let path = store_path(&dir);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!(err.path(), path.display().to_string());
    assert!(err.to_string().contains("cannot create its directory"), "{err}");
}
