//! What a site needs before its first job, checked the way a launch would check it, as
//! structured findings with their fixes (`berth doctor` prints them).
//!
//! The checks run in the order a site would hit them: the engine and network, the
//! workspace layout, the study files, the images, the container options, what the engine
//! makes of a plan, and the user jobs run as. A check that cannot run because an earlier
//! one failed is skipped, not failed twice. Every rule a check applies is the one a launch
//! applies: the site object, the core's study-file and container-option functions, the
//! audit's promises; this module only words the findings.
//!
//! The site config itself is the front end's to load and report (it names the front's own
//! inputs); [`check_site`] takes the site when it loaded.

mod engine;
mod promises;
mod workspace;

use crate::Site;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Works, but worth knowing; does not fail the run.
    Warn,
    Fail,
    /// Not checked because something it needs failed first.
    Skip,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable name for scripts (`engine`, `network`, `startup_dir`, ...).
    pub id: &'static str,
    /// The heading it is printed under.
    pub group: &'static str,
    pub status: Status,
    pub summary: String,
    /// For a failure: what to do. For a warning: what it means.
    pub fix: Option<String>,
}

/// The findings, in the order they were made.
#[derive(Debug, Default)]
pub struct Checklist {
    pub checks: Vec<Check>,
}

impl Checklist {
    fn add(
        &mut self,
        id: &'static str,
        group: &'static str,
        status: Status,
        summary: String,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id,
            group,
            status,
            summary,
            fix,
        });
    }

    pub fn pass(&mut self, id: &'static str, group: &'static str, summary: String) {
        self.add(id, group, Status::Pass, summary, None);
    }

    pub fn warn(&mut self, id: &'static str, group: &'static str, summary: String, note: String) {
        self.add(id, group, Status::Warn, summary, Some(note));
    }

    pub fn fail(&mut self, id: &'static str, group: &'static str, summary: String, fix: String) {
        self.add(id, group, Status::Fail, summary, Some(fix));
    }

    /// A failure in the words of the core's error: its message, and its hint as the fix
    /// (`fix` when it has none).
    pub fn fail_with(&mut self, id: &'static str, group: &'static str, e: &berth_core::Error, fix: String) {
        let fix = e.hint().map_or(fix, str::to_string);
        self.fail(id, group, e.message().to_string(), fix);
    }

    pub fn skip(&mut self, id: &'static str, group: &'static str, summary: String) {
        self.add(id, group, Status::Skip, summary, None);
    }

    /// The site, or a skip of check `id` ("<what>: the site config did not load").
    fn site_or_skip<'a>(
        &mut self,
        site: Option<&'a Site>,
        id: &'static str,
        group: &'static str,
        what: &str,
    ) -> Option<&'a Site> {
        if site.is_none() {
            self.skip(id, group, format!("{what}: the site config did not load"));
        }
        site
    }

    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// The headings checks are printed under.
pub const CONFIG: &str = "Site config";
const ENGINE: &str = "Engine";
const WORKSPACE: &str = "Workspace";
const STUDY: &str = "Study files";
const IMAGES: &str = "Images";
const OPTIONS: &str = "Container options";
const USER: &str = "Job user";
const ENGINE_PROMISES: &str = "What the engine makes of a plan";

/// Every check after the site config, appended to `list`; `site` is `None` when the config
/// did not load. Contacts the engine named by `DOCKER_HOST` (or the local socket), each
/// request under the site's `engine_timeout`; writes only a probe file in the store dir and
/// the throwaway job's folder, both removed.
pub fn check_site(list: &mut Checklist, site: Option<&Site>) {
    let engine = engine::check_engine(list, site);
    engine::check_network(list, site, engine.as_ref());
    let local_ok = workspace::check_workspace(list, site);
    let studies = workspace::check_study_files(list, site, local_ok);
    engine::check_images(list, site, engine.as_ref(), studies.as_ref());
    workspace::check_container_options(list, site, studies.as_ref());
    promises::check_engine_promises(list, site, engine.as_ref(), local_ok);
    workspace::check_job_user(list, site);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_fail_and_warnings_do_not() {
        let mut list = Checklist::default();
        list.pass("a", ENGINE, "ok".into());
        list.warn("b", USER, "root".into(), "note".into());
        assert!(!list.failed());
        list.fail("c", ENGINE, "bad".into(), "fix".into());
        assert!(list.failed());
        assert_eq!(list.count(Status::Pass), 1);
    }
}
