//! Site study files: v1 `local/study_data.yaml` and v2 `local/study_runtime.yaml` (spec §7).
//!
//! Both files are read from the parent view of the workspace and re-read on every launch;
//! nothing is cached. The v1 file only maps datasets to host paths. The v2 file is strict
//! and also carries the study's image, environment, secret references and container
//! options. A site uses one or the other, never both.
//!
//! Mount *sources* (dataset and secret-mount host paths) are only checked to be non-empty
//! strings here; the plan builder applies berth's path policy to them.

mod names;
mod v1;
mod v2;
mod yaml;

pub use names::{is_valid_name, should_mount_study_data, MAX_NAME_LEN};
pub use v1::{load_study_data_file, parse_study_data, StudyData, StudyDataset};
pub use v2::{load_study_runtime_file, parse_study_runtime, LauncherMode, StudyRuntimeConfig};
pub use yaml::MAX_STUDY_FILE_BYTES;

use crate::error::{Error, Result};
use crate::pyval::Map;
use crate::sdk_kwargs;
use std::io::ErrorKind as IoErrorKind;
use std::path::Path;

/// The v2 study runtime file, relative to the workspace root.
pub const STUDY_RUNTIME_FILE: &str = "local/study_runtime.yaml";
/// The v1 (legacy) study data file, relative to the workspace root.
pub const STUDY_DATA_FILE: &str = "local/study_data.yaml";
/// Where datasets appear in a job container: `/data/<study>/<dataset>`.
pub const DATA_MOUNT_ROOT: &str = "/data";

/// A read-only or read-write bind mount a study asks for (a dataset or a secret mount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMount {
    /// Path inside the job container.
    pub target: String,
    /// Host path, as the engine sees it. Not checked here.
    pub source: String,
    pub read_only: bool,
}

/// An environment variable whose value is read from the launcher's own environment at
/// launch (`secret_env`), so the secret never sits in a site file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnvRef {
    /// The variable's name in the job container.
    pub name: String,
    /// The variable in the launcher's environment that holds the value.
    pub source: String,
}

/// What a v2 study contributes to a job container. An empty value (the default) means the
/// file exists but has nothing for this study.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StudyRuntime {
    /// `container.image`: used when the job names no image.
    pub image: Option<String>,
    /// Dataset mounts in file order, targets `/data/<study>/<dataset>`.
    pub datasets: Vec<DataMount>,
    /// Plain env values in file order, already rendered as text (`true`, `5432`).
    pub env: Vec<(String, String)>,
    /// Env values read from the launcher's environment, in file order.
    pub secret_env: Vec<SecretEnvRef>,
    /// Secret mounts in file order; always read-only.
    pub secret_mounts: Vec<DataMount>,
    /// Container options in the Python Docker SDK's names; never a launcher-owned key.
    pub docker_kwargs: Map,
}

/// `/data/<study>/<dataset>`.
pub fn data_mount_target(study: &str, dataset: &str) -> String {
    format!("{DATA_MOUNT_ROOT}/{study}/{dataset}")
}

/// Whether `path` exists (a directory counts, as upstream's existence check). An error
/// other than "not there" (say, a permission error on `local/`) is reported rather than
/// read as "absent", so a study's settings cannot silently disappear.
fn site_file_exists(path: &Path, what: &str) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.kind(), IoErrorKind::NotFound | IoErrorKind::NotADirectory) => Ok(false),
        Err(e) => Err(Error::invalid(format!(
            "Could not read {what} '{}': {e}",
            path.display()
        ))),
    }
}

const COMBINED_HINT: &str =
    "move the legacy datasets into studies.<study>.datasets of the runtime file, then remove the legacy file";
const SDK_KWARGS_HINT: &str =
    "use the keyword names of the Python Docker SDK's containers.run (for example shm_size, ipc_mode)";

/// The rule that a site uses one study file, never both: Refused "cannot be combined" when
/// the runtime file and the legacy study data file both exist under `parent_root`. A file
/// that cannot be looked at is an error too.
pub fn refuse_both_study_files(parent_root: &Path) -> Result<()> {
    let runtime_path = parent_root.join(STUDY_RUNTIME_FILE);
    let legacy_path = parent_root.join(STUDY_DATA_FILE);
    if site_file_exists(&runtime_path, "study runtime file")?
        && site_file_exists(&legacy_path, "study data file")?
    {
        return Err(Error::refused(format!(
            "study runtime file '{}' cannot be combined with the legacy study data file '{}'; \
             use one of them",
            runtime_path.display(),
            legacy_path.display()
        ))
        .with_hint(COMBINED_HINT));
    }
    Ok(())
}

/// Study runtime discovery for a Docker launch (spec §7.1), reading from `parent_root`.
///
/// - No v2 file: `Ok(None)`; the caller then mounts v1 data with [`load_v1_mounts`].
/// - v2 and v1 files both present: Refused "cannot be combined".
/// - v2 file present: the whole file is validated for Docker (Invalid on any error) and
///   the study is resolved; an absent or unknown study gives an empty runtime, never
///   `None`. docker_kwargs keys of the resolved study that the Python Docker SDK does not
///   know are Refused.
///
/// Warnings (no study entries, no entry for the study) are appended to `warnings`. Does
/// not read `secret_env` sources or check mount sources; the plan builder does both.
pub fn load_runtime_for_launch(
    parent_root: &Path,
    study: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Option<StudyRuntime>> {
    let runtime_path = parent_root.join(STUDY_RUNTIME_FILE);
    if !site_file_exists(&runtime_path, "study runtime file")? {
        return Ok(None);
    }
    refuse_both_study_files(parent_root)?;
    let config = load_study_runtime_file(&runtime_path, LauncherMode::Docker, warnings)?;
    let runtime = config.resolve(study, warnings);
    check_docker_kwargs_known(&runtime, &runtime_path)?;
    Ok(Some(runtime))
}

/// A study's docker_kwargs keys that the Python Docker SDK does not know are Refused.
fn check_docker_kwargs_known(runtime: &StudyRuntime, runtime_path: &Path) -> Result<()> {
    let mut unknown = sdk_kwargs::unknown_keys(&runtime.docker_kwargs);
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(Error::refused(format!(
        "study runtime file '{}': docker_kwargs key(s) {} are not supported by the installed Docker SDK",
        runtime_path.display(),
        yaml::py_str_list(&unknown)
    ))
    .with_hint(SDK_KWARGS_HINT))
}

/// A site's study files, parsed and checked as launches would check them.
#[derive(Debug, Clone, Default)]
pub struct SiteStudies {
    /// `local/study_runtime.yaml`, when the site has one.
    pub runtime: Option<StudyRuntimeConfig>,
    /// `local/study_data.yaml`, when the site has one and no runtime file.
    pub legacy: Option<StudyData>,
}

impl SiteStudies {
    /// The study names the site's file knows, in file order.
    pub fn names(&self) -> Vec<&str> {
        match (&self.runtime, &self.legacy) {
            (Some(rt), _) => rt.studies.keys().map(String::as_str).collect(),
            (None, Some(data)) => data.studies.keys().map(String::as_str).collect(),
            (None, None) => Vec::new(),
        }
    }

    /// The file the studies come from, relative to the workspace.
    pub fn file(&self) -> Option<&'static str> {
        match (&self.runtime, &self.legacy) {
            (Some(_), _) => Some(STUDY_RUNTIME_FILE),
            (None, Some(_)) => Some(STUDY_DATA_FILE),
            (None, None) => None,
        }
    }
}

/// Everything a launch checks in the site's study files, for every study at once (what
/// `berth doctor` runs): the two files not combined, the file parsed strictly, each
/// study's docker_kwargs keys, and each study's mount sources and secret mount paths under
/// berth's path policy ([`crate::plan::check_study_mounts`]). The first error is the one a
/// launch of that study would give, word for word. Does not read `secret_env` sources (the
/// launcher's environment at launch time decides those).
pub fn validate_site_studies(
    parent_root: &Path,
    host_workspace: &str,
    warnings: &mut Vec<String>,
) -> Result<SiteStudies> {
    let studies = load_site_studies(parent_root, warnings)?;
    if let Some(config) = &studies.runtime {
        for runtime in config.studies.values() {
            check_docker_kwargs_known(runtime, &config.path)?;
            crate::plan::check_study_mounts(&runtime.datasets, &runtime.secret_mounts, host_workspace)?;
        }
    }
    if let Some(data) = &studies.legacy {
        for study in data.studies.keys() {
            let mounts = data.resolve_mounts(study, &mut Vec::new());
            crate::plan::check_study_mounts(&mounts, &[], host_workspace)?;
        }
    }
    Ok(studies)
}

/// The study upstream gives a job whose meta names none. A site whose study file has no
/// entry for it is normal, so it is never "unknown".
pub const DEFAULT_STUDY: &str = "default";

/// A job that names a study the site's study file does not have is refused (berth's CLI;
/// upstream only warns and launches without the study's data and settings, so a misspelled
/// name surfaces later as "no job image" or a job without its data). Not an error: no
/// study, [`DEFAULT_STUDY`], a site without study files, or a study file that does not
/// parse (planning reports that itself).
pub fn check_study_known(parent_root: &Path, study: Option<&str>) -> Result<()> {
    let Some(study) = study.filter(|s| !s.is_empty() && *s != DEFAULT_STUDY) else {
        return Ok(());
    };
    let mut ignored = Vec::new();
    let Ok(studies) = load_site_studies(parent_root, &mut ignored) else {
        return Ok(());
    };
    let Some(file) = studies.file() else {
        return Ok(());
    };
    let names = studies.names();
    if names.contains(&study) {
        return Ok(());
    }
    let known = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    Err(Error::invalid(format!(
        "unknown study '{}' (job meta 'study'): {} has these studies: {known}",
        crate::pyval::shorten(&study.escape_debug().to_string(), 100),
        parent_root.join(file).display()
    ))
    .with_hint(format!(
        "name one of the site's studies in the job's meta.json, or add the study to {file}"
    )))
}

/// The site's study files, parsed strictly as a launch parses them (the two files are
/// never combined), without the mount policy.
pub fn load_site_studies(parent_root: &Path, warnings: &mut Vec<String>) -> Result<SiteStudies> {
    let mut out = SiteStudies::default();
    let path = parent_root.join(STUDY_RUNTIME_FILE);
    if site_file_exists(&path, "study runtime file")? {
        refuse_both_study_files(parent_root)?;
        out.runtime = Some(load_study_runtime_file(&path, LauncherMode::Docker, warnings)?);
    } else {
        let legacy_path = parent_root.join(STUDY_DATA_FILE);
        if site_file_exists(&legacy_path, "study data file")? {
            out.legacy = Some(load_study_data_file(&legacy_path, warnings)?);
        }
    }
    Ok(out)
}

/// The v1 data mounts for `study` at launch (used only when there is no v2 file). No
/// study, or a missing file (with a warning), gives no mounts; a bad file is Invalid.
pub fn load_v1_mounts(parent_root: &Path, study: &str, warnings: &mut Vec<String>) -> Result<Vec<DataMount>> {
    if !should_mount_study_data(Some(study)) {
        return Ok(Vec::new());
    }
    let data = load_study_data_file(&parent_root.join(STUDY_DATA_FILE), warnings)?;
    Ok(data.resolve_mounts(study, warnings))
}

#[cfg(test)]
mod tests;
