//! v1 `local/study_data.yaml` (frozen format): `study -> dataset -> {source, mode}` (spec §7.2).

use super::names::is_valid_name;
use super::yaml::{self, Node};
use super::{data_mount_target, DataMount};
use crate::error::{Error, Result};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

const WHAT: &str = "study data file";

/// One dataset of a v1 study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyDataset {
    /// Host path to bind-mount (not checked here; the plan builder applies path policy).
    pub source: String,
    pub read_only: bool,
}

/// A validated v1 study data file: every study and dataset name passed the name rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StudyData {
    /// Where the file was read from, for messages.
    pub path: PathBuf,
    /// Studies in file order, each with its datasets in file order.
    pub studies: IndexMap<String, IndexMap<String, StudyDataset>>,
}

/// Load and validate the whole file. A missing file is not an error: it adds a warning
/// and gives an empty map. Every study is validated, not only the one being launched.
pub fn load_study_data_file(path: &Path, warnings: &mut Vec<String>) -> Result<StudyData> {
    if !super::site_file_exists(path, WHAT)? {
        warnings.push(format!(
            "{WHAT} '{}' was not found; no study data mounts will be configured",
            path.display()
        ));
        return Ok(StudyData {
            path: path.to_path_buf(),
            studies: IndexMap::new(),
        });
    }
    let text = yaml::read_study_file(path, WHAT)?;
    parse_study_data(&text, path, warnings)
}

/// Validate v1 YAML text; `path` is used in messages only.
pub fn parse_study_data(text: &str, path: &Path, warnings: &mut Vec<String>) -> Result<StudyData> {
    let shown = path.display();
    let root = yaml::parse_document(text, path, WHAT)?;
    let entries: &[(Node, Node)] = match &root {
        Node::Null => &[],
        Node::Map(entries) => entries,
        _ => {
            return Err(Error::invalid(format!(
                "{WHAT} '{shown}' does not contain a dictionary."
            )))
        }
    };
    if entries.is_empty() {
        warnings.push(format!("{WHAT} '{shown}' has no study entries"));
    }
    let mut studies = IndexMap::with_capacity(entries.len());
    for (name_node, value) in entries {
        let study = match name_node.as_str() {
            Some(s) if is_valid_name(s) => s,
            _ => {
                return Err(Error::invalid(format!(
                    "study name {} in '{shown}' is not a valid study-data path component.",
                    name_node.repr()
                ))
                .with_hint(NAME_HINT))
            }
        };
        let Some(datasets) = value.as_map() else {
            return Err(Error::invalid(format!(
                "study '{study}' in '{shown}' maps to a {}; the file must map study -> dataset -> \
                 {{source, mode}}.",
                value.type_name()
            )));
        };
        let mut parsed = IndexMap::with_capacity(datasets.len());
        for (ds_node, entry) in datasets {
            let dataset = match ds_node.as_str() {
                Some(s) if is_valid_name(s) => s,
                _ => {
                    return Err(Error::invalid(format!(
                        "dataset name {} for study '{study}' in '{shown}' is not a valid study-data path \
                         component.",
                        ds_node.repr()
                    ))
                    .with_hint(NAME_HINT))
                }
            };
            let where_ = format!("dataset '{dataset}' for study '{study}' in '{shown}'");
            let Some(fields) = entry.as_map() else {
                return Err(Error::invalid(format!(
                    "{where_} must be a dictionary with source and mode."
                )));
            };
            let source = match yaml::get(fields, "source").and_then(Node::as_str) {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => {
                    return Err(Error::invalid(format!(
                        "{where_} must define a non-empty source."
                    )))
                }
            };
            let read_only = match yaml::get(fields, "mode").and_then(Node::as_str) {
                Some("ro") => true,
                Some("rw") => false,
                _ => return Err(Error::invalid(format!("{where_} must set mode to 'ro' or 'rw'."))),
            };
            // Extra keys are ignored in the frozen v1 format.
            parsed.insert(dataset.to_string(), StudyDataset { source, read_only });
        }
        studies.insert(study.to_string(), parsed);
    }
    Ok(StudyData {
        path: path.to_path_buf(),
        studies,
    })
}

pub(crate) const NAME_HINT: &str =
    "names are 1-63 characters of a-z, 0-9, '-' and '_', starting and ending with a letter or digit";

impl StudyData {
    /// The data mounts for `study`, in file order (`/data/<study>/<dataset>`). An unknown
    /// study gives no mounts, with a warning when the file has any entries.
    pub fn resolve_mounts(&self, study: &str, warnings: &mut Vec<String>) -> Vec<DataMount> {
        let shown = self.path.display();
        let Some(datasets) = self.studies.get(study) else {
            if !self.studies.is_empty() {
                warnings.push(format!(
                    "{WHAT} '{shown}' has no entry for study '{study}'; no study data mounts will be \
                     configured"
                ));
            }
            return Vec::new();
        };
        if datasets.is_empty() {
            warnings.push(format!(
                "{WHAT} '{shown}': entry for study '{study}' has no datasets"
            ));
            return Vec::new();
        }
        datasets
            .iter()
            .map(|(dataset, ds)| DataMount {
                target: data_mount_target(study, dataset),
                source: ds.source.clone(),
                read_only: ds.read_only,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StudyData> {
        parse_study_data(text, Path::new("/ws/local/study_data.yaml"), &mut Vec::new())
    }

    fn parse_warn(text: &str) -> (Result<StudyData>, Vec<String>) {
        let mut w = Vec::new();
        let r = parse_study_data(text, Path::new("/ws/local/study_data.yaml"), &mut w);
        (r, w)
    }

    fn err(text: &str) -> Error {
        let e = parse(text).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{e}");
        e
    }

    #[test]
    fn missing_file_warns_and_gives_an_empty_map() {
        // C205, C206
        let dir = tempfile::tempdir().unwrap();
        let mut w = Vec::new();
        let data = load_study_data_file(&dir.path().join("nope.yaml"), &mut w).unwrap();
        assert!(data.studies.is_empty());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("was not found"));
        assert!(w[0].contains("no study data mounts will be configured"));
    }

    #[test]
    fn empty_file_warns_no_study_entries() {
        // C207
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("study_data.yaml");
        std::fs::write(&path, "").unwrap();
        let mut w = Vec::new();
        let data = load_study_data_file(&path, &mut w).unwrap();
        assert!(data.studies.is_empty());
        assert!(w.iter().any(|m| m.contains("has no study entries")), "{w:?}");
        let (r, w) = parse_warn("{}");
        assert!(r.unwrap().studies.is_empty());
        assert!(w[0].contains("has no study entries"));
    }

    #[test]
    fn unreadable_file_is_a_read_error() {
        // C208 (a directory where the file is expected stands in for a permission error)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("study_data.yaml");
        std::fs::create_dir(&path).unwrap();
        let e = load_study_data_file(&path, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Invalid);
        assert!(e.message().contains("Could not read study data file"), "{e}");
    }

    #[test]
    fn malformed_yaml_is_a_parse_error() {
        // C209
        assert!(err("study-a: [")
            .message()
            .contains("Could not parse study data file"));
    }

    #[test]
    fn nested_mapping_is_accepted_unchanged() {
        // C210
        let data = parse("study-a:\n  training:\n    source: /data/train\n    mode: ro\n").unwrap();
        assert_eq!(data.studies.len(), 1);
        assert_eq!(
            data.studies["study-a"]["training"],
            StudyDataset {
                source: "/data/train".into(),
                read_only: true
            }
        );
    }

    #[test]
    fn shape_errors() {
        assert!(err("[]").message().contains("dictionary")); // C211
        assert!(err("just text").message().contains("dictionary"));
        assert!(err("study-a: /data/train").message().contains("study -> dataset")); // C212
        assert!(err("study-a: null").message().contains("study -> dataset"));
        assert!(err("study-a:\n  training:\n    mode: ro\n")
            .message()
            .contains("source")); // C213
        assert!(err("study-a:\n  training: {source: '', mode: ro}\n")
            .message()
            .contains("non-empty source"));
        assert!(err("study-a:\n  training: {source: 5, mode: ro}\n")
            .message()
            .contains("source"));
        let e = err("study-a:\n  training: {source: /d, mode: read-only}\n"); // C214
        assert!(e.message().contains("mode"), "{e}");
        assert!(err("study-a:\n  training: /d\n")
            .message()
            .contains("dictionary with source and mode"));
    }

    #[test]
    fn names_follow_the_strict_rule() {
        let e = err("Study_A: {}\n");
        assert!(e.message().contains("study name 'Study_A'"), "{e}");
        assert!(e.message().contains("study-data path component"), "{e}");
        assert!(err("123: {}\n").message().contains("study name 123"));
        assert!(err("\"study-a\\n\": {}\n").message().contains("study name"));
        let e = err("study-a:\n  Bad/Name: {source: /d, mode: ro}\n");
        assert!(e.message().contains("dataset name 'Bad/Name'"), "{e}");
    }

    #[test]
    fn every_study_is_validated_and_extra_keys_are_ignored() {
        let e = err("study-a: {}\nother: {x: {source: /d, mode: bad}}\n");
        assert!(e.message().contains("dataset 'x' for study 'other'"), "{e}");
        let data = parse("study-a:\n  t: {source: /d, mode: rw, note: ignored}\n").unwrap();
        assert!(!data.studies["study-a"]["t"].read_only);
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let e = err("study-a:\n  t: {source: /a, mode: ro}\n  t: {source: /b, mode: ro}\n");
        assert!(e.message().contains("study-a has duplicate key 't'"), "{e}");
        assert!(e.message().contains("study_data.yaml"), "{e}");
    }

    #[test]
    fn resolve_returns_mounts_in_file_order() {
        // C215
        let data = parse(concat!(
            "study-a:\n",
            "  training: {source: /data/train, mode: ro}\n",
            "  output: {source: /data/out, mode: rw}\n",
        ))
        .unwrap();
        let mounts = data.resolve_mounts("study-a", &mut Vec::new());
        let targets: Vec<_> = mounts.iter().map(|m| m.target.as_str()).collect();
        let sources: Vec<_> = mounts.iter().map(|m| m.source.as_str()).collect();
        let ro: Vec<_> = mounts.iter().map(|m| m.read_only).collect();
        assert_eq!(targets, ["/data/study-a/training", "/data/study-a/output"]);
        assert_eq!(sources, ["/data/train", "/data/out"]);
        assert_eq!(ro, [true, false]);
    }

    #[test]
    fn resolve_missing_or_empty_studies() {
        // C216: empty map, no warning
        let mut w = Vec::new();
        assert!(StudyData::default().resolve_mounts("study-a", &mut w).is_empty());
        assert!(w.is_empty());
        // C217
        let data = parse("other-study: {}\n").unwrap();
        let mut w = Vec::new();
        assert!(data.resolve_mounts("study-a", &mut w).is_empty());
        assert!(w[0].contains("has no entry for study 'study-a'"), "{w:?}");
        // C218: an invalid name that is absent is simply no mounts
        let mut w = Vec::new();
        assert!(StudyData::default().resolve_mounts("Study_A", &mut w).is_empty());
        assert!(w.is_empty());
        // C219, C220
        let data = parse("study-a: {}\n").unwrap();
        let mut w = Vec::new();
        assert!(data.resolve_mounts("study-a", &mut w).is_empty());
        assert!(
            w[0].contains("entry for study 'study-a' has no datasets"),
            "{w:?}"
        );
    }

    #[test]
    fn resolve_default_study() {
        // C221
        let data = parse("default:\n  training: {source: /data/train, mode: ro}\n").unwrap();
        let mounts = data.resolve_mounts("default", &mut Vec::new());
        assert_eq!(
            mounts,
            [DataMount {
                target: "/data/default/training".into(),
                source: "/data/train".into(),
                read_only: true
            }]
        );
    }
}
