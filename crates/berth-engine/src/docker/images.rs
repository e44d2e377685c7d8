//! Images: presence, pull, and the admin calls that import and remove them.

use super::DockerRuntime;
use crate::runtime::{EngineError, EngineResult};
use bollard::query_parameters::{CreateImageOptionsBuilder, RemoveImageOptionsBuilder};
use futures::stream::StreamExt;

/// How many times an image import is tried ([`import_until_listed`]).
const IMPORT_ATTEMPTS: u32 = 3;

impl DockerRuntime {
    /// Creates image `tag` (`repo[:tag]`, default tag `latest`) from a root filesystem
    /// tarball (`POST /images/create?fromSrc=-`), and checks that the engine lists it
    /// (see `import_until_listed`). Returns the image id the engine reports, or `tag` when it
    /// reports none. The image has no `CMD`; containers name their command.
    pub async fn import_image(&self, rootfs_tar: Vec<u8>, tag: &str) -> EngineResult<String> {
        let rootfs = bytes::Bytes::from(rootfs_tar);
        import_until_listed(
            tag,
            || self.import_once(rootfs.clone(), tag),
            || exists(self, tag),
        )
        .await
    }

    async fn import_once(&self, rootfs: bytes::Bytes, tag: &str) -> EngineResult<String> {
        let docker = self.client().await?;
        // The whole reference goes in `repo` (the API allows a tag there): Podman's compat
        // import ignores the separate `tag` parameter and would tag the image `latest`.
        let options = CreateImageOptionsBuilder::default().from_src("-").repo(tag);
        let mut answers = docker.create_image(Some(options.build()), Some(bollard::body_full(rootfs)), None);
        let mut id = None;
        while let Some(answer) = answers.next().await {
            let info = answer.map_err(|e| self.err(e))?;
            if let Some(status) = info.status {
                if status.starts_with("sha256:") {
                    id = Some(status);
                }
            }
        }
        Ok(id.unwrap_or_else(|| tag.to_string()))
    }

    /// Removes image `tag` (forced, so stopped containers do not keep it). `NotFound` when it
    /// does not exist.
    pub async fn remove_image(&self, tag: &str) -> EngineResult<()> {
        let docker = self.client().await?;
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        docker
            .remove_image(tag, Some(options), None)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

/// The import's retries, apart from the engine: `import` is tried again while it races
/// another import of the same layer (Podman 4: "layer not known"; the other import has
/// finished by the next try) and while `listed` does not find the image it answered for.
/// An import is done only when the engine lists the image, as every caller launches from it
/// next: on Docker 20.10, with imports of one layer in parallel, a launch once found no
/// image right after its import was answered.
async fn import_until_listed<I, L>(
    tag: &str,
    mut import: impl FnMut() -> I,
    mut listed: impl FnMut() -> L,
) -> EngineResult<String>
where
    I: std::future::Future<Output = EngineResult<String>>,
    L: std::future::Future<Output = EngineResult<bool>>,
{
    for attempt in 1..=IMPORT_ATTEMPTS {
        let last = attempt == IMPORT_ATTEMPTS;
        match import().await {
            Err(EngineError::Api { message, .. }) if message.contains("layer not known") && !last => {
                tracing::debug!(tag, attempt, "image import raced another one: {message}");
            }
            Err(e) => return Err(e),
            Ok(id) => {
                if listed().await? {
                    return Ok(id);
                }
                tracing::warn!(
                    tag,
                    attempt,
                    "the engine answered the image import but does not list the image"
                );
            }
        }
    }
    Err(EngineError::Api {
        status: 500,
        message: format!(
            "the engine answered the import of image '{tag}' {IMPORT_ATTEMPTS} times but does not list the image"
        ),
    })
}

/// `ContainerRuntime::image_exists`.
pub(super) async fn exists(rt: &DockerRuntime, image: &str) -> EngineResult<bool> {
    let docker = rt.client().await?;
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) => match rt.err(e) {
            EngineError::NotFound(_) => Ok(false),
            other => Err(other),
        },
    }
}

/// `ContainerRuntime::pull_image`.
pub(super) async fn pull(rt: &DockerRuntime, image: &str) -> EngineResult<()> {
    let docker = rt.client().await?;
    let (repo, tag) = split_image_ref(image);
    let options = CreateImageOptionsBuilder::default()
        .from_image(&repo)
        .tag(
            tag.as_deref()
                .unwrap_or(if repo.contains('@') { "" } else { "latest" }),
        )
        .build();
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(step) = progress.next().await {
        step.map_err(|e| rt.err(e))?;
    }
    Ok(())
}

/// `registry:5000/repo:tag` -> (`registry:5000/repo`, Some(`tag`)); digests stay in the repo.
fn split_image_ref(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_string(), None);
    }
    let last_segment_start = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_segment_start..].rfind(':') {
        Some(i) => {
            let at = last_segment_start + i;
            (image[..at].to_string(), Some(image[at + 1..].to_string()))
        }
        None => (image.to_string(), None),
    }
}

/// An image reference in Docker's short form: Podman reports short names fully qualified
/// (`docker.io/library/img:1`), Docker as they were given (`img:1`).
pub fn familiar_image_name(image: &str) -> String {
    let short = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the import policy against scripted answers; returns its result and how many
    /// imports it sent.
    fn import_with(imports: Vec<EngineResult<String>>, listed: Vec<bool>) -> (EngineResult<String>, usize) {
        let imports = std::sync::Mutex::new(imports.into_iter());
        let listed = std::sync::Mutex::new(listed.into_iter());
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let result = futures::executor::block_on(import_until_listed(
            "img:1",
            || {
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let next = imports.lock().unwrap().next().expect("an import too many");
                async move { next }
            },
            || {
                let next = listed.lock().unwrap().next().expect("a listing too many");
                async move { Ok(next) }
            },
        ));
        (result, sent.into_inner())
    }

    #[test]
    fn an_import_is_done_when_the_engine_lists_the_image() {
        let (r, sent) = import_with(vec![Ok("sha256:a".into())], vec![true]);
        assert_eq!((r, sent), (Ok("sha256:a".into()), 1));

        // Answered, but not listed: imported again.
        let (r, sent) = import_with(
            vec![Ok("sha256:a".into()), Ok("sha256:b".into())],
            vec![false, true],
        );
        assert_eq!((r, sent), (Ok("sha256:b".into()), 2));

        // Never listed: an error that names the image, after every attempt.
        let ok = || Ok("sha256:a".to_string());
        let (r, sent) = import_with(vec![ok(), ok(), ok()], vec![false, false, false]);
        assert_eq!(sent, IMPORT_ATTEMPTS as usize);
        assert!(
            matches!(&r, Err(EngineError::Api { message, .. }) if message.contains("'img:1'") && message.contains("does not list")),
            "{r:?}"
        );
    }

    #[test]
    fn an_import_that_races_another_is_tried_again_and_other_errors_are_not() {
        let raced = || {
            Err(EngineError::Api {
                status: 500,
                message: "layer not known".into(),
            })
        };
        let (r, sent) = import_with(vec![raced(), Ok("sha256:a".into())], vec![true]);
        assert_eq!((r, sent), (Ok("sha256:a".into()), 2));

        let (r, sent) = import_with(vec![raced(), raced(), raced()], vec![]);
        assert_eq!((r, sent), (raced(), IMPORT_ATTEMPTS as usize));

        let (r, sent) = import_with(vec![Err(EngineError::Unreachable("gone".into()))], vec![]);
        assert_eq!((r, sent), (Err(EngineError::Unreachable("gone".into())), 1));
    }

    #[test]
    fn image_refs_split() {
        assert_eq!(split_image_ref("a"), ("a".into(), None));
        assert_eq!(split_image_ref("a:1"), ("a".into(), Some("1".into())));
        assert_eq!(
            split_image_ref("reg:5000/ns/a:1"),
            ("reg:5000/ns/a".into(), Some("1".into()))
        );
        assert_eq!(split_image_ref("reg:5000/ns/a"), ("reg:5000/ns/a".into(), None));
        assert_eq!(split_image_ref("a@sha256:ab"), ("a@sha256:ab".into(), None));
    }

    #[test]
    fn podman_image_names_read_like_docker_ones() {
        assert_eq!(familiar_image_name("docker.io/library/img:1"), "img:1");
        assert_eq!(familiar_image_name("docker.io/team/img:1"), "team/img:1");
        assert_eq!(familiar_image_name("localhost/img:1"), "localhost/img:1");
        assert_eq!(familiar_image_name("reg:5000/a/img"), "reg:5000/a/img");
    }
}
