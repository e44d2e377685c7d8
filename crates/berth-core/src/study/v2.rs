//! v2 `local/study_runtime.yaml`: the strict parser and study resolution (spec §7.3).
//!
//! The whole file is validated on every load, whatever study is launched: a bad entry for
//! any study fails every launch, so a typo cannot hide until that study's first job.

use super::names::is_valid_name;
use super::v1::NAME_HINT;
use super::yaml::{self, py_str_list, Node};
use super::{data_mount_target, DataMount, SecretEnvRef, StudyRuntime};
use crate::error::{Error, Result};
use crate::sdk_kwargs::reserved_keys;
use indexmap::IndexMap;
use std::fmt;
use std::path::{Path, PathBuf};

const WHAT: &str = "study runtime file";

/// Which launcher reads the file. Each launcher accepts only its own blocks
/// (`docker_kwargs` for Docker, `pod_template` and secret-mount `items` for Kubernetes,
/// `slurm` for Slurm); berth checks the others structurally only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LauncherMode {
    Process,
    Docker,
    K8s,
    Slurm,
}

impl LauncherMode {
    pub const ALL: [LauncherMode; 4] = [
        LauncherMode::Process,
        LauncherMode::Docker,
        LauncherMode::K8s,
        LauncherMode::Slurm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LauncherMode::Process => "process",
            LauncherMode::Docker => "docker",
            LauncherMode::K8s => "k8s",
            LauncherMode::Slurm => "slurm",
        }
    }

    /// The mode named `name`, or an Invalid "unknown launcher mode" error.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name).ok_or_else(|| {
            let allowed: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
            Error::invalid(format!(
                "unknown launcher mode '{}'; allowed: {}",
                name.escape_debug(),
                py_str_list(&allowed)
            ))
        })
    }
}

impl fmt::Display for LauncherMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const TOP_KEYS: [&str; 2] = ["format_version", "studies"];
const STUDY_KEYS: [&str; 8] = [
    "container",
    "datasets",
    "docker_kwargs",
    "env",
    "pod_template",
    "secret_env",
    "secret_mounts",
    "slurm",
];
const DATASET_KEYS: [&str; 3] = ["mode", "source", "type"];
const SECRET_ENV_KEYS: [&str; 2] = ["key", "source"];
const SECRET_MOUNT_KEYS: [&str; 4] = ["items", "mode", "mount_path", "source"];

/// A validated v2 study runtime file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StudyRuntimeConfig {
    /// Where the file was read from, for messages.
    pub path: PathBuf,
    /// Every study in file order.
    pub studies: IndexMap<String, StudyRuntime>,
}

impl StudyRuntimeConfig {
    /// The runtime for `study`: its entry when the study is named and present, otherwise
    /// an empty runtime. Warns when a named study is missing from a non-empty file.
    pub fn resolve(&self, study: Option<&str>, warnings: &mut Vec<String>) -> StudyRuntime {
        let Some(study) = study.filter(|s| !s.is_empty()) else {
            return StudyRuntime::default();
        };
        if let Some(runtime) = self.studies.get(study) {
            return runtime.clone();
        }
        if !self.studies.is_empty() {
            warnings.push(format!(
                "{WHAT} '{}' has no entry for study '{}'; no study runtime settings will be applied",
                self.path.display(),
                study.escape_debug()
            ));
        }
        StudyRuntime::default()
    }
}

/// Read and validate the whole file for `mode`. The caller checks that it exists.
pub fn load_study_runtime_file(
    path: &Path,
    mode: LauncherMode,
    warnings: &mut Vec<String>,
) -> Result<StudyRuntimeConfig> {
    let text = yaml::read_study_file(path, WHAT)?;
    parse_study_runtime(&text, path, mode, warnings)
}

/// Validate v2 YAML text for `mode`; `path` is used in messages only.
pub fn parse_study_runtime(
    text: &str,
    path: &Path,
    mode: LauncherMode,
    warnings: &mut Vec<String>,
) -> Result<StudyRuntimeConfig> {
    let root = yaml::parse_document(text, path, WHAT)?;
    let parser = Parser {
        shown: path.display().to_string(),
        mode,
    };
    let studies = parser.top_level(&root, warnings)?;
    Ok(StudyRuntimeConfig {
        path: path.to_path_buf(),
        studies,
    })
}

struct Parser {
    shown: String,
    mode: LauncherMode,
}

type Entries = [(Node, Node)];

impl Parser {
    fn err(&self, detail: impl fmt::Display) -> Error {
        Error::invalid(format!("{WHAT} '{}': {detail}", self.shown))
    }

    fn unknown_keys(&self, entries: &Entries, allowed: &[&str], at: &str) -> Result<()> {
        match yaml::unknown_keys(entries, allowed) {
            None => Ok(()),
            Some(list) => Err(self.err(format!(
                "{at} has unknown key(s) {list}; allowed: {}",
                py_str_list(allowed)
            ))),
        }
    }

    /// A mapping at `at`; an explicit null counts as an empty mapping (an empty section).
    fn optional_map<'n>(&self, value: Option<&'n Node>, at: &str) -> Result<&'n Entries> {
        match value {
            None | Some(Node::Null) => Ok(&[]),
            Some(Node::Map(entries)) => Ok(entries),
            Some(other) => Err(self.err(format!("{at} must be a mapping, got {}.", other.type_name()))),
        }
    }

    fn non_empty_str<'n>(&self, value: Option<&'n Node>, at: &str) -> Result<&'n str> {
        match value {
            Some(Node::Str(s)) if !s.is_empty() => Ok(s),
            _ => Err(self.err(format!("{at} must be a non-empty string."))),
        }
    }

    fn top_level(&self, root: &Node, warnings: &mut Vec<String>) -> Result<IndexMap<String, StudyRuntime>> {
        let Node::Map(entries) = root else {
            return Err(self.err("file content must be a mapping."));
        };
        self.unknown_keys(entries, &TOP_KEYS, "top level")?;
        match yaml::get(entries, "format_version") {
            // Python compares with `== 2`, which 2.0 also satisfies.
            Some(Node::Int(2)) => {}
            Some(Node::Float(f)) if *f == 2.0 => {}
            other => {
                let got = other.map_or_else(|| "None".to_string(), Node::repr);
                return Err(self.err(format!("format_version must be 2, got {got}")));
            }
        }
        let studies = match yaml::get(entries, "studies") {
            None | Some(Node::Null) => &[][..],
            Some(Node::Map(studies)) => studies,
            Some(other) => {
                return Err(self.err(format!("studies must be a mapping, got {}.", other.type_name())))
            }
        };
        if studies.is_empty() {
            warnings.push(format!("{WHAT} '{}' has no study entries", self.shown));
        }
        let mut out = IndexMap::with_capacity(studies.len());
        for (name, value) in studies {
            let (name, runtime) = self.study(name, value)?;
            out.insert(name, runtime);
        }
        Ok(out)
    }

    fn study(&self, name_node: &Node, value: &Node) -> Result<(String, StudyRuntime)> {
        // 1. name
        let study = match name_node.as_str() {
            Some(s) if is_valid_name(s) => s,
            _ => {
                return Err(self
                    .err(format!("study name {} is not a valid name.", name_node.repr()))
                    .with_hint(NAME_HINT))
            }
        };
        let at = format!("studies.{study}");
        // 2. mapping
        let Some(entries) = value.as_map() else {
            return Err(self.err(format!("{at} must be a mapping, got {}.", value.type_name())));
        };
        // 3. unknown keys
        self.unknown_keys(entries, &STUDY_KEYS, &at)?;
        // 4. slurm
        if let Some(slurm) = yaml::get(entries, "slurm") {
            if self.mode != LauncherMode::Slurm {
                return Err(self.err(format!(
                    "{at}.slurm is Slurm-only and is not supported by this launcher."
                )));
            }
            self.optional_map(Some(slurm), &format!("{at}.slurm"))?;
        }
        let mut runtime = StudyRuntime {
            // 5. container
            image: self.container(yaml::get(entries, "container"), &at)?,
            ..StudyRuntime::default()
        };
        // 6. pod_template
        if let Some(template) = yaml::get(entries, "pod_template") {
            if self.mode != LauncherMode::K8s {
                return Err(self.err(format!(
                    "{at}.pod_template is Kubernetes-only and is not supported by this launcher."
                )));
            }
            match template {
                Node::Map(_) => {}
                Node::Str(s) if !s.is_empty() => {}
                _ => return Err(self.err(format!("{at}.pod_template must be a mapping or a file name."))),
            }
        }
        // 7. docker_kwargs
        if let Some(kwargs) = yaml::get(entries, "docker_kwargs") {
            runtime.docker_kwargs = self.docker_kwargs(kwargs, &at)?;
        }
        // 8. datasets
        runtime.datasets = self.datasets(study, yaml::get(entries, "datasets"), &at)?;
        // 9. env
        runtime.env = self.env(yaml::get(entries, "env"), &at)?;
        // 10. secret_env
        runtime.secret_env = self.secret_env(yaml::get(entries, "secret_env"), &at)?;
        // 11. env / secret_env collision
        let mut both: Vec<&str> = runtime
            .secret_env
            .iter()
            .map(|r| r.name.as_str())
            .filter(|name| runtime.env.iter().any(|(n, _)| n == name))
            .collect();
        if !both.is_empty() {
            both.sort_unstable();
            return Err(self.err(format!(
                "{at} defines {} in both env and secret_env.",
                py_str_list(&both)
            )));
        }
        // 12. secret_mounts
        runtime.secret_mounts = self.secret_mounts(yaml::get(entries, "secret_mounts"), &at)?;
        Ok((study.to_string(), runtime))
    }

    fn container(&self, value: Option<&Node>, at: &str) -> Result<Option<String>> {
        let at = format!("{at}.container");
        let entries = match value {
            None | Some(Node::Null) => return Ok(None),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                return Err(self.err(format!("{at} must be a mapping, got {}.", other.type_name())))
            }
        };
        self.unknown_keys(entries, &["image"], &at)?;
        match yaml::get(entries, "image") {
            Some(Node::Str(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            _ => Err(self.err(format!("{at}.image must be a non-empty string."))),
        }
    }

    fn docker_kwargs(&self, value: &Node, at: &str) -> Result<crate::pyval::Map> {
        let at = format!("{at}.docker_kwargs");
        if self.mode != LauncherMode::Docker {
            return Err(self.err(format!(
                "{at} is Docker-only and is not supported by this launcher."
            )));
        }
        let entries = self.optional_map(Some(value), &at)?;
        let reserved = reserved_keys(entries.iter().filter_map(|(k, _)| k.as_str()));
        if !reserved.is_empty() {
            return Err(self
                .err(format!(
                    "{at} must not contain launcher-owned key(s) {}",
                    py_str_list(&reserved)
                ))
                .with_hint("the launcher sets these itself; remove them from the study"));
        }
        let mut out = crate::pyval::Map::new();
        for (k, v) in entries {
            let key = match k.as_str() {
                Some(s) if !s.is_empty() => s,
                _ => return Err(self.err(format!("{at} keys must be non-empty strings, got {}.", k.repr()))),
            };
            let json = yaml::to_json(v, &format!("{at}.{}", k.path_segment())).map_err(|d| self.err(d))?;
            out.insert(key.to_string(), json);
        }
        Ok(out)
    }

    fn datasets(&self, study: &str, value: Option<&Node>, at: &str) -> Result<Vec<DataMount>> {
        let at = format!("{at}.datasets");
        let entries = self.optional_map(value, &at)?;
        let mut out = Vec::with_capacity(entries.len());
        for (name_node, entry) in entries {
            let dataset = match name_node.as_str() {
                Some(s) if is_valid_name(s) => s,
                _ => {
                    return Err(self
                        .err(format!(
                            "{at}: dataset name {} is not a valid name.",
                            name_node.repr()
                        ))
                        .with_hint(NAME_HINT))
                }
            };
            let here = format!("{at}.{dataset}");
            let Some(fields) = entry.as_map() else {
                return Err(self.err(format!("{here} must be a mapping, got {}.", entry.type_name())));
            };
            match yaml::get(fields, "type") {
                None => {}
                Some(Node::Str(t)) if t == "mount" => {}
                Some(Node::Str(t)) if t == "databricks" => {
                    return Err(self.err(format!("{here}.type 'databricks' is not yet supported.")))
                }
                Some(other) => {
                    return Err(self.err(format!(
                        "{here} has unknown type {}; allowed: 'mount'.",
                        other.repr()
                    )))
                }
            }
            self.unknown_keys(fields, &DATASET_KEYS, &here)?;
            let source = self.non_empty_str(yaml::get(fields, "source"), &format!("{here}.source"))?;
            let read_only = match yaml::get(fields, "mode") {
                Some(Node::Str(m)) if m == "ro" => true,
                Some(Node::Str(m)) if m == "rw" => false,
                _ => return Err(self.err(format!("{here}.mode must be 'ro' or 'rw'."))),
            };
            out.push(DataMount {
                target: data_mount_target(study, dataset),
                source: source.to_string(),
                read_only,
            });
        }
        Ok(out)
    }

    /// A study env or secret_env name: a non-empty string the launcher does not own.
    fn env_name<'n>(&self, node: &'n Node, section: &str) -> Result<&'n str> {
        let name = match node.as_str() {
            Some(s) if !s.is_empty() => s,
            _ => {
                return Err(self.err(format!(
                    "{section} names must be non-empty strings, got {}.",
                    node.repr()
                )))
            }
        };
        // berth: `A=B` would be sent as `A=B=<value>` and set `A`, which could smuggle a
        // launcher-owned name past the check below.
        if name.contains(['=', '\0']) {
            return Err(self.err(format!(
                "{section} name {} must not contain '=' or a NUL character.",
                node.repr()
            )));
        }
        if crate::security::is_launcher_owned_env(name) {
            return Err(self.err(format!(
                "{section}.{name} is launcher-owned and cannot be set in study config."
            )));
        }
        Ok(name)
    }

    fn env(&self, value: Option<&Node>, at: &str) -> Result<Vec<(String, String)>> {
        let at = format!("{at}.env");
        let entries = self.optional_map(value, &at)?;
        let mut out = Vec::with_capacity(entries.len());
        for (name_node, v) in entries {
            let name = self.env_name(name_node, &at)?;
            let here = format!("{at}.{name}");
            let text = match v {
                Node::Bool(b) => b.to_string(),
                Node::Int(i) => i.to_string(),
                Node::Float(f) => yaml::python_float_str(*f),
                Node::Str(s) => s.clone(),
                Node::Null | Node::Seq(_) | Node::Map(_) => {
                    return Err(self.err(format!("{here} must be a scalar value.")))
                }
            };
            if text.is_empty() && self.mode != LauncherMode::Slurm {
                return Err(self.err(format!(
                    "{here} must not be empty; set a value or remove the key."
                )));
            }
            if text.contains('\0') {
                return Err(self.err(format!("{here} must not contain a NUL character.")));
            }
            out.push((name.to_string(), text));
        }
        Ok(out)
    }

    fn secret_env(&self, value: Option<&Node>, at: &str) -> Result<Vec<SecretEnvRef>> {
        let at = format!("{at}.secret_env");
        let entries = self.optional_map(value, &at)?;
        let mut out = Vec::with_capacity(entries.len());
        for (name_node, v) in entries {
            let name = self.env_name(name_node, &at)?;
            let here = format!("{at}.{name}");
            let Some(fields) = v.as_map() else {
                return Err(self.err(format!("{here} must be a mapping, got {}.", v.type_name())));
            };
            self.unknown_keys(fields, &SECRET_ENV_KEYS, &here)?;
            let source = self.non_empty_str(yaml::get(fields, "source"), &format!("{here}.source"))?;
            // For Docker the source names a variable of the launcher's own environment.
            if source.contains(['=', '\0']) {
                return Err(self.err(format!(
                    "{here}.source must name an environment variable; it must not contain '=' or a NUL \
                     character."
                )));
            }
            // Docker ignores `key`, but the format requires it everywhere except Slurm.
            match (yaml::get(fields, "key"), self.mode) {
                (None | Some(Node::Null), LauncherMode::Slurm) => {}
                (key, _) => {
                    self.non_empty_str(key, &format!("{here}.key"))?;
                }
            }
            out.push(SecretEnvRef {
                name: name.to_string(),
                source: source.to_string(),
            });
        }
        Ok(out)
    }

    fn secret_mounts(&self, value: Option<&Node>, at: &str) -> Result<Vec<DataMount>> {
        let at = format!("{at}.secret_mounts");
        let entries = self.optional_map(value, &at)?;
        let mut out = Vec::with_capacity(entries.len());
        for (name_node, entry) in entries {
            let mount = match name_node.as_str() {
                Some(s) if is_valid_name(s) => s,
                _ => {
                    return Err(self
                        .err(format!(
                            "{at}: secret mount name {} is not a valid name.",
                            name_node.repr()
                        ))
                        .with_hint(NAME_HINT))
                }
            };
            let here = format!("{at}.{mount}");
            let Some(fields) = entry.as_map() else {
                return Err(self.err(format!("{here} must be a mapping, got {}.", entry.type_name())));
            };
            self.unknown_keys(fields, &SECRET_MOUNT_KEYS, &here)?;
            match yaml::get(fields, "mode") {
                None => {}
                Some(Node::Str(m)) if m == "ro" => {}
                Some(_) => {
                    return Err(self.err(format!(
                        "{here}.mode must be 'ro'; secret mounts are always read-only."
                    )))
                }
            }
            let mount_path = match yaml::get(fields, "mount_path") {
                Some(Node::Str(p)) if p.starts_with('/') && !p.contains('\0') => p,
                _ => return Err(self.err(format!("{here}.mount_path must be an absolute path."))),
            };
            match yaml::get(fields, "items") {
                None | Some(Node::Null) => {}
                Some(items) if self.mode == LauncherMode::K8s => {
                    if items.as_map().is_none() {
                        return Err(self.err(format!("{here}.items must be a mapping.")));
                    }
                }
                Some(_) => {
                    return Err(self.err(format!(
                        "{here}.items is Kubernetes-only and is not supported by this launcher; point \
                         source at a directory containing only the intended files."
                    )))
                }
            }
            let source = self.non_empty_str(yaml::get(fields, "source"), &format!("{here}.source"))?;
            out.push(DataMount {
                target: mount_path.clone(),
                source: source.to_string(),
                read_only: true,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
