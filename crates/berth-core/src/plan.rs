//! The container plan: site config, job meta, job process args and study files in; the
//! exact Engine API container-create body out (spec §5 steps 1–22, in upstream's order,
//! so the first error a job hits is the one upstream would raise).

use crate::args::{keys, JobProcessArgs, Role};
use crate::config::SiteConfig;
use crate::job_spec::{docker_spec_for_launch, job_container_kwargs};
use crate::parent_url::rewrite_parent_url;
use crate::pyval::{self, Map};
use crate::resources::portable_resources;
use crate::sdk_kwargs;
use crate::study::{self, DataMount, StudyRuntime, STUDY_RUNTIME_FILE};
use crate::workspace::{self, check_mount_source, join_posix, safe_workspace_child_path};
use crate::{labels, names, Error, Result, BERTH_PYTHON_DIR, BERTH_PYTHON_TARGET, WORKSPACE_MOUNT};
use indexmap::IndexMap;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Everything the engine layer needs to create one job container. Plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    /// The container name (`<site>-<job_id>`, sanitised).
    pub name: String,
    pub job_id: String,
    pub site: String,
    pub role: Role,
    pub image: String,
    /// The Docker Engine API `POST /containers/create` body (a JSON object).
    pub create: Value,
    /// `platform` query parameter of the create call, when a site or study set one.
    pub platform: Option<String>,
    /// The job folder as the engine sees it (bind source).
    pub host_job_dir: String,
    /// The job folder as berth reads it (parent view).
    pub parent_job_dir: PathBuf,
    /// Warnings raised while planning (typos, missing study entries, ...).
    pub warnings: Vec<String>,
}

impl ContainerPlan {
    /// The digest of the create body (its plan-digest label).
    pub fn digest(&self) -> Option<&str> {
        self.create.get("Labels")?.get(labels::PLAN_DIGEST)?.as_str()
    }

    /// `{"name": ..., "create": ...}`, as `berth plan` prints it.
    pub fn to_json(&self) -> Value {
        let mut out = json!({"name": self.name, "create": self.create});
        if let Some(p) = &self.platform {
            out["platform"] = json!(p);
        }
        out
    }
}

/// The inputs of one launch.
pub struct PlanRequest<'a> {
    pub site_config: &'a SiteConfig,
    /// The site's name: the parent container's name on the Docker network.
    pub site: &'a str,
    pub role: Role,
    pub job_meta: &'a Map,
    /// `JOB_PROCESS_ARGS`; `None` when the parent supplied none.
    pub job_args: Option<&'a JobProcessArgs>,
    /// The parent's `--set` items, each its own argv item after `--set`.
    pub set_options: &'a [String],
    /// Where berth reads the workspace: study files, custom code, job folders.
    pub parent_root: &'a Path,
    /// Whether a parent workspace object is present (it always is for a real parent and
    /// for the CLI); it decides PYTHONPATH and the job-id name check.
    pub workspace_object: bool,
    /// The launcher process environment (USER, HOME, secret_env sources).
    pub launcher_env: &'a dyn Fn(&str) -> Option<String>,
    /// The launcher process uid and gid; the job runs as them.
    pub uid: u32,
    pub gid: u32,
    /// Make berth's own pure-Python files importable in the job (DESIGN decision 15):
    /// `<host workspace>/.berth-python` mounted read-only at [`BERTH_PYTHON_TARGET`],
    /// which is appended to PYTHONPATH (after upstream's entries, so a copy in the image
    /// or the site's `local/custom` wins). The launcher writes that folder before it
    /// creates the container. Only with a workspace object (which sets PYTHONPATH).
    pub berth_python: bool,
}

/// NVFlare's workspace object refuses job ids outside this alphabet.
fn is_valid_workspace_job_id(job_id: &str) -> bool {
    let mut chars = job_id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Build the plan for one job, or the first error upstream would raise for it.
pub fn build_plan(req: &PlanRequest<'_>) -> Result<ContainerPlan> {
    let mut warnings = Vec::new();
    let site = req.site;

    // 1–3: required inputs.
    let job_id = match pyval::truthy(req.job_meta.get("job_id")) {
        None => {
            return Err(Error::refused("missing JOB_ID in job_meta")
                .with_hint("the job's meta.json must carry its job_id"))
        }
        Some(Value::String(s)) if s.contains('\0') => {
            return Err(Error::invalid(format!(
                "job_id '{}' in job_meta contains a NUL byte",
                pyval::shorten(&s.escape_debug().to_string(), 200)
            ))
            .with_hint("a job id is a folder name: letters, digits, '.', '_' and '-'"))
        }
        Some(Value::String(s)) => s.clone(),
        // An input error, as a non-string job id fails upstream's path handling with a
        // ValueError class error before any container exists.
        Some(other) => {
            return Err(Error::invalid(format!(
                "job_id in job_meta must be a string, got {}",
                pyval::repr(other)
            ))
            .with_hint("write the job id as a JSON string in meta.json"))
        }
    };
    let job_args = match req.job_args {
        Some(a) if !a.is_empty() => a,
        _ => {
            return Err(Error::refused("missing __job_process_args__ in FLContext")
                .with_hint("pass the job process args (name -> [flag, value]) with --args"))
        }
    };
    let exe_module = match job_args.pair(keys::EXE_MODULE).map_err(|e| e.into_kind(crate::ErrorKind::Refused))? {
        Some((_, module)) if pyval::is_truthy(&module) => pyval::python_str(&module).unwrap_or_default(),
        _ => {
            return Err(Error::refused("missing exe_module in JOB_PROCESS_ARGS")
                .with_hint("the args must name the job module, e.g. \"exe_module\": [\"-m\", \"nvflare.private.fed.app.client.worker_process\"]"))
        }
    };

    // 5–9: the job's Docker spec (allowlist, image type, python_path, BYOC).
    let docker = docker_spec_for_launch(
        req.job_meta,
        site,
        &req.site_config.default_python_path,
        &mut warnings,
    )?;
    // 10: portable resources.
    let portable = portable_resources(req.job_meta, site)?;
    // 11
    let name = names::container_name(site, &job_id);
    // 12
    let study_name = match req.job_meta.get("study") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()).filter(|s| !s.is_empty()),
        Some(other) => {
            return Err(Error::invalid(format!(
                "job meta 'study' must be a string, got {}",
                pyval::repr(other)
            )))
        }
    };
    // 13: the study runtime, re-read on every launch.
    let runtime = study::load_runtime_for_launch(req.parent_root, study_name, &mut warnings)?;
    // 14–15: the image.
    let (image, image_from) = match (&docker.image, runtime.as_ref().and_then(|r| r.image.as_ref())) {
        (Some(image), _) => (
            image.clone(),
            format!("launcher_spec docker image for site '{site}' in the job meta"),
        ),
        (None, Some(image)) => (
            image.clone(),
            format!(
                "studies.{}.container.image in local/study_runtime.yaml",
                study_name.unwrap_or_default()
            ),
        ),
        (None, None) => return Err(no_image_error(site, &job_id)),
    };
    // Before anything is created or pulled.
    req.site_config.allowed_images.check(&image, &image_from)?;
    // 16
    let host_workspace = match req.site_config.workspace.as_deref() {
        Some(ws) if !ws.is_empty() => workspace::normpath(ws),
        _ => {
            return Err(Error::invalid(
                "workspace must be set to the host path of the NVFlare workspace, or set the NVFL_DOCKER_WORKSPACE environment variable",
            )
            .with_hint("add \"workspace\": \"/host/path/to/workspace\" to the launcher args"))
        }
    };
    // 17–18: the parent URL.
    let rewrite = rewrite_parent_url(job_args, site)?;
    if let Some(dir) = &rewrite.shared_file_dir {
        if workspace::is_within(dir, WORKSPACE_MOUNT) || workspace::is_within(WORKSPACE_MOUNT, dir) {
            return Err(Error::invalid(format!(
                "shared-file parent directory {dir} overlaps the container workspace mount {WORKSPACE_MOUNT}"
            )));
        }
        check_mount_source(dir, "shared-file parent directory", &host_workspace)?;
    }
    // 19: the command.
    let mut cmd = vec![docker.python_path.clone(), "-u".into(), "-m".into(), exe_module];
    cmd.extend(rewrite.args.module_argv(req.role)?);
    if !req.set_options.is_empty() {
        cmd.push("--set".into());
        cmd.extend(req.set_options.iter().cloned());
    }
    // An argument with a NUL cannot be passed to exec; refuse it here rather than let the
    // container fail to start.
    if let Some(arg) = cmd.iter().find(|a| a.contains('\0')) {
        return Err(Error::invalid(format!(
            "command-line argument '{}' contains a NUL byte",
            pyval::shorten(&arg.escape_debug().to_string(), 200)
        )));
    }
    // 20: the environment.
    let env = build_env(req, &job_id, runtime.as_ref(), study_name, job_args)?;
    // 21: container options, site -> study -> job, then resources.
    let engine = container_options(
        req.site_config,
        runtime.as_ref(),
        study_name,
        &docker.spec,
        &portable,
    )?;
    // 22: workspace paths and data mounts.
    let host_job = safe_workspace_child_path(&host_workspace, &job_id, false, req.parent_root)?;
    let host_startup = safe_workspace_child_path(&host_workspace, "startup", true, req.parent_root)?;
    let host_local = safe_workspace_child_path(&host_workspace, "local", true, req.parent_root)?;
    let data_mounts = match (&runtime, study_name) {
        (Some(rt), _) => rt.datasets.clone(),
        (None, Some(s)) => study::load_v1_mounts(req.parent_root, s, &mut warnings)?,
        (None, None) => Vec::new(),
    };

    let job_target = join_posix(WORKSPACE_MOUNT, &job_id);
    let mut mounts = vec![
        bind(&host_startup, &join_posix(WORKSPACE_MOUNT, "startup"), true),
        bind(&host_local, &join_posix(WORKSPACE_MOUNT, "local"), true),
        bind(&host_job, &job_target, false),
    ];
    let secret_mounts = runtime
        .as_ref()
        .map(|r| r.secret_mounts.as_slice())
        .unwrap_or_default();
    check_study_mounts(&data_mounts, secret_mounts, &host_workspace)?;
    for m in &data_mounts {
        mounts.push(bind(&m.source, &m.target, m.read_only));
    }
    if let Some(dir) = &rewrite.shared_file_dir {
        mounts.push(bind(dir, dir, false));
    }
    if req.berth_python && req.workspace_object {
        let source = join_posix(&host_workspace, BERTH_PYTHON_DIR);
        mounts.push(bind(&source, BERTH_PYTHON_TARGET, true));
    }
    for m in secret_mounts {
        mounts.push(bind(&m.source, &m.target, true));
    }
    check_unique_targets(&mounts)?;

    let mut plan = ContainerPlan {
        name,
        job_id: job_id.clone(),
        site: site.to_string(),
        role: req.role,
        image: image.clone(),
        create: Value::Null,
        platform: engine.platform.clone(),
        host_job_dir: host_job,
        parent_job_dir: req.parent_root.join(&job_id),
        warnings,
    };
    plan.create = create_body(req, &plan, &host_workspace, cmd, env, engine, mounts, &job_target)?;
    Ok(plan)
}

fn no_image_error(site: &str, job_id: &str) -> Error {
    Error::refused(format!(
        "no job image was specified for job {job_id} on site '{site}'; set one of: \
         launcher_spec['{site}']['docker']['image'] (preferred), launcher_spec['default']['docker']['image'], \
         resource_spec['{site}']['docker']['image'] (legacy), or studies.<study>.container.image in local/study_runtime.yaml"
    ))
    .with_hint("name the image the job should run in its meta.json, or give its study a container.image")
}

fn bind(source: &str, target: &str, read_only: bool) -> Value {
    json!({"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only})
}

/// berth's path policy for a study's mounts (DESIGN decision 12): every dataset and secret
/// mount source, then every secret mount's container path. Launch and `berth doctor` both
/// call this, so a study file a launch refuses fails doctor with the same message.
pub fn check_study_mounts(
    datasets: &[DataMount],
    secret_mounts: &[DataMount],
    host_workspace: &str,
) -> Result<()> {
    for m in datasets {
        check_mount_source(
            &m.source,
            &format!("dataset source for {}", m.target),
            host_workspace,
        )?;
    }
    for m in secret_mounts {
        check_mount_source(
            &m.source,
            &format!("secret mount source for {}", m.target),
            host_workspace,
        )?;
        check_secret_target(&m.target)?;
    }
    Ok(())
}

/// A secret mount may not land in the workspace, the data tree or a system directory.
fn check_secret_target(target: &str) -> Result<()> {
    for site_folder in ["startup", "local"] {
        let folder = join_posix(WORKSPACE_MOUNT, site_folder);
        if workspace::is_within(&workspace::normpath(target), &folder) {
            return Err(Error::invalid(format!(
                "secret mount_path '{}' would land over the site's {site_folder}/ folder ({folder}), which the job sees read-only",
                pyval::shorten(target, 200)
            ))
            .with_hint("use a dedicated path such as /var/run/nvflare/secrets/<name>"));
        }
    }
    let bad = workspace::normpath(target) != target
        || target == "/"
        || workspace::is_within(target, WORKSPACE_MOUNT)
        || workspace::is_within(WORKSPACE_MOUNT, target)
        || workspace::is_within(target, "/data")
        || ["/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib"]
            .iter()
            .any(|t| workspace::is_within(target, t));
    if bad {
        return Err(Error::invalid(format!(
            "secret mount_path '{}' is not allowed: it must be a normalised absolute path outside {WORKSPACE_MOUNT}, /data and system directories",
            pyval::shorten(target, 200)
        ))
        .with_hint("use a dedicated path such as /var/run/nvflare/secrets/<name>"));
    }
    Ok(())
}

fn check_unique_targets(mounts: &[Value]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for m in mounts {
        let target = m["Target"].as_str().unwrap_or_default();
        if !seen.insert(target.to_string()) {
            return Err(
                Error::invalid(format!("two mounts share the container path {target}"))
                    .with_hint("give each dataset and secret mount its own mount path"),
            );
        }
    }
    Ok(())
}

/// Spec §6.5: layers in order, each later one overwriting earlier keys (a key keeps the
/// position where it first appeared, as a Python dict does). `None` is a bare `KEY`.
fn build_env(
    req: &PlanRequest<'_>,
    job_id: &str,
    runtime: Option<&StudyRuntime>,
    study_name: Option<&str>,
    job_args: &JobProcessArgs,
) -> Result<IndexMap<String, Option<String>>> {
    let mut env: IndexMap<String, Option<String>> = IndexMap::new();
    for (k, v) in &req.site_config.default_job_env {
        env.insert(k.clone(), pyval::python_str(v));
    }
    if let Some(rt) = runtime {
        for (k, v) in &rt.env {
            env.insert(k.clone(), Some(v.clone()));
        }
        for secret in &rt.secret_env {
            let value = (req.launcher_env)(&secret.source).ok_or_else(|| {
                Error::refused(format!(
                    "secret_env '{}' for study '{}' requires env var '{}' in the launcher environment, but it is not set",
                    secret.name,
                    study_name.unwrap_or_default(),
                    secret.source
                ))
                .with_hint(format!("export {} in the environment berth (the site parent) runs in", secret.source))
            })?;
            env.insert(secret.name.clone(), Some(value));
        }
    }
    env.insert(
        "USER".into(),
        Some((req.launcher_env)("USER").unwrap_or_else(|| "nvflare".into())),
    );
    env.insert(
        "HOME".into(),
        Some((req.launcher_env)("HOME").unwrap_or_else(|| "/tmp".into())),
    );
    for (k, v) in job_args.credential_env()? {
        env.insert(k, Some(v));
    }
    if req.workspace_object {
        env.insert("PYTHONPATH".into(), Some(python_path(req, job_id)?));
    }
    for (k, v) in &env {
        if v.as_deref().is_some_and(|v| v.contains('\0')) {
            return Err(Error::invalid(format!(
                "environment variable {k} contains a NUL byte"
            )));
        }
    }
    Ok(env)
}

/// Job custom code first, then the site's `local/custom` when it exists, each mapped from
/// the parent view onto the container workspace by prefix (DESIGN decision 7).
fn python_path(req: &PlanRequest<'_>, job_id: &str) -> Result<String> {
    if !is_valid_workspace_job_id(job_id) {
        return Err(Error::invalid(format!(
            "invalid job_id '{}': it must start with a letter or digit and contain only letters, digits, '.', '_' and '-'",
            pyval::shorten(&job_id.escape_debug().to_string(), 200)
        )));
    }
    let root = req.parent_root;
    let root_real = workspace::realpath_lenient(root);
    let map = |p: &Path| -> String {
        workspace::replace_prefix(p, root, WORKSPACE_MOUNT)
            .or_else(|| workspace::replace_prefix(p, &root_real, WORKSPACE_MOUNT))
            .unwrap_or_else(|| p.to_string_lossy().into_owned())
    };
    let job_dir = workspace::realpath_lenient(&root.join(job_id));
    if !job_dir.starts_with(&root_real) {
        return Err(Error::invalid(format!(
            "invalid job_id '{job_id}': its folder escapes root {}",
            root.display()
        )));
    }
    let mut items = vec![map(&job_dir.join(req.role.app_dir_name(req.site)).join("custom"))];
    let site_custom = root.join("local").join("custom");
    if site_custom.is_dir() {
        items.push(map(&site_custom));
    }
    if req.berth_python {
        items.push(BERTH_PYTHON_TARGET.to_string());
    }
    Ok(items.join(":"))
}

/// The site's container options (`default_job_container_kwargs`) translated on their own,
/// as a launch translates them before merging: errors name the site config's field.
pub fn translate_site_options(site: &SiteConfig) -> Result<sdk_kwargs::EngineFields> {
    sdk_kwargs::translate(&site.default_job_container_kwargs, "default_job_container_kwargs")
}

/// One study's `docker_kwargs` translated on their own, as a launch of that study translates
/// them before merging: errors name the study and its file.
pub fn translate_study_options(study: &str, kwargs: &Map) -> Result<sdk_kwargs::EngineFields> {
    let source = format!("studies.{study}.docker_kwargs in {STUDY_RUNTIME_FILE}");
    sdk_kwargs::translate(kwargs, &source)
}

/// Spec §6.6: merge site -> study -> job container options, apply GPU / CPU / memory, and
/// translate the result into Engine API fields.
fn container_options(
    site: &SiteConfig,
    runtime: Option<&StudyRuntime>,
    study_name: Option<&str>,
    job_spec: &Map,
    portable: &crate::resources::PortableResources,
) -> Result<sdk_kwargs::EngineFields> {
    // Validate each layer on its own first, so an error names the file it came from.
    translate_site_options(site)?;
    let mut merged = Map::new();
    if let Some(rt) = &site.runtime {
        merged.insert("runtime".into(), json!(rt));
    }
    merged.extend(site.default_job_container_kwargs.clone());
    if let Some(rt) = runtime {
        translate_study_options(study_name.unwrap_or_default(), &rt.docker_kwargs)?;
        merged.extend(rt.docker_kwargs.clone());
    }
    merged.extend(job_container_kwargs(job_spec));

    let job_gpus = job_spec.get("num_of_gpus").and_then(pyval::as_int);
    let gpus = job_gpus.or(portable.num_of_gpus).unwrap_or(0);
    let gpus_specified = job_spec.contains_key("num_of_gpus") || portable.num_of_gpus.is_some();
    if gpus != 0 {
        merged.insert(
            "device_requests".into(),
            json!([{"Count": gpus, "Capabilities": [["gpu"]]}]),
        );
    } else if gpus_specified {
        merged.shift_remove("device_requests");
    }
    if let Some(cpus) = portable.num_of_cpus {
        let nano = cpus.checked_mul(1_000_000_000).ok_or_else(|| {
            Error::invalid(format!(
                "resource num_of_cpus {cpus} is too large for the engine's nano-CPU limit"
            ))
        })?;
        merged.insert("nano_cpus".into(), json!(nano));
    }
    if let Some(bytes) = portable.memory_bytes {
        merged.insert("mem_limit".into(), json!(bytes));
    }
    site.security_profile.apply(&mut merged);
    sdk_kwargs::translate(&merged, "the job's container options")
}

#[allow(clippy::too_many_arguments)]
fn create_body(
    req: &PlanRequest<'_>,
    plan: &ContainerPlan,
    host_workspace: &str,
    cmd: Vec<String>,
    env: IndexMap<String, Option<String>>,
    engine: sdk_kwargs::EngineFields,
    mounts: Vec<Value>,
    job_target: &str,
) -> Result<Value> {
    let mut body = Map::new();
    body.insert("Image".into(), json!(plan.image));
    body.insert("Cmd".into(), json!(cmd));
    let env: Vec<String> = env
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k,
        })
        .collect();
    body.insert("Env".into(), json!(env));
    body.insert("WorkingDir".into(), json!(job_target));
    body.insert("User".into(), json!(format!("{}:{}", req.uid, req.gid)));
    // Placeholder that keeps the labels next to the other create-level fields.
    body.insert("Labels".into(), Value::Null);

    let mut config = engine.config;
    let mut label_map = match config.shift_remove("Labels") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(k) = label_map.keys().find(|k| k.starts_with(labels::PREFIX)) {
        return Err(Error::invalid(format!(
            "container label '{k}' uses berth's reserved prefix {}",
            labels::PREFIX
        ))
        .with_hint("remove it from the site or study labels; berth sets these itself"));
    }
    label_map.insert(labels::MANAGED.into(), json!("true"));
    label_map.insert(labels::SITE.into(), json!(plan.site));
    label_map.insert(labels::ROLE.into(), json!(plan.role.as_str()));
    label_map.insert(labels::JOB_ID.into(), json!(plan.job_id));
    label_map.insert(labels::WORKSPACE.into(), json!(host_workspace));
    for (k, v) in config {
        body.insert(k, v);
    }

    let mut host = engine.host_config;
    let mut tmpfs = match host.shift_remove("Tmpfs") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    // Compared after normalisation: the engine cleans `/a/../b` before mounting.
    if let Some(clash) = tmpfs.keys().find(|t| {
        let t = workspace::normpath(t);
        workspace::is_within(&t, WORKSPACE_MOUNT) || workspace::is_within(WORKSPACE_MOUNT, &t)
    }) {
        return Err(Error::invalid(format!(
            "site tmpfs mount {clash} overlaps the job workspace {WORKSPACE_MOUNT}"
        ))
        .with_hint("move that tmpfs elsewhere; berth mounts the workspace root itself"));
    }
    // DESIGN decision 10: a tmpfs owned by the job's uid:gid, so a non-root job can
    // create folders at the workspace root.
    tmpfs.insert(
        WORKSPACE_MOUNT.into(),
        json!(format!("mode=1777,uid={},gid={}", req.uid, req.gid)),
    );
    let mut host_config = Map::new();
    host_config.insert("AutoRemove".into(), json!(false));
    host_config.insert("NetworkMode".into(), json!(req.site_config.network));
    host_config.insert("Mounts".into(), json!(mounts));
    host_config.insert("Tmpfs".into(), Value::Object(tmpfs));
    for (k, v) in host {
        host_config.entry(k).or_insert(v);
    }
    body.insert("HostConfig".into(), Value::Object(host_config));

    // The digest covers everything but itself.
    body.insert("Labels".into(), Value::Object(label_map.clone()));
    let digest = format!(
        "{:016x}",
        names::fnv1a64(Value::Object(body.clone()).to_string().as_bytes())
    );
    label_map.insert(labels::PLAN_DIGEST.into(), json!(digest));
    body.insert("Labels".into(), Value::Object(label_map));
    Ok(Value::Object(body))
}
