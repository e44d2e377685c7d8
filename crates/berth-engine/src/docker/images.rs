//! Images: presence, pull, and the admin calls that import and remove them.

use super::DockerRuntime;
use crate::runtime::{EngineError, EngineResult};
use bollard::query_parameters::{CreateImageOptionsBuilder, RemoveImageOptionsBuilder};
use futures::stream::StreamExt;

/// How many times an image import is tried when it races another import (Podman).
const IMPORT_ATTEMPTS: u32 = 3;

impl DockerRuntime {
    /// Creates image `tag` (`repo[:tag]`, default tag `latest`) from a root filesystem
    /// tarball (`POST /images/create?fromSrc=-`). Returns the image id the engine reports,
    /// or `tag` when it reports none. The image has no `CMD`; containers name their command.
    pub async fn import_image(&self, rootfs_tar: Vec<u8>, tag: &str) -> EngineResult<String> {
        let rootfs = bytes::Bytes::from(rootfs_tar);
        let mut attempt = 1;
        loop {
            match self.import_once(rootfs.clone(), tag).await {
                // Podman 4 loses the race when two imports of the same layer overlap
                // ("layer not known"); the other import has finished by the next try.
                Err(EngineError::Api { message, .. })
                    if message.contains("layer not known") && attempt < IMPORT_ATTEMPTS =>
                {
                    tracing::debug!(tag, attempt, "image import raced another one: {message}");
                    attempt += 1;
                }
                answer => return answer,
            }
        }
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
