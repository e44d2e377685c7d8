//! Removing what the demo created, and only that.

use super::*;

/// What cleanup did.
#[derive(Debug, Default)]
pub(super) struct Cleaned {
    pub(super) containers_removed: usize,
    pub(super) network_removed: bool,
    pub(super) image_removed: bool,
    pub(super) workdir_removed: bool,
    pub(super) problems: Vec<String>,
}

/// Remove what the demo created: leftover containers always; the network (only when the
/// demo created it), the image (only when it imported it) and the work dir unless `keep`.
pub(super) fn clean_up(
    engine_rt: &tokio::runtime::Runtime,
    docker: &DockerRuntime,
    created: &Created,
    keep: bool,
) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let containers = created
        .containers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    engine_rt.block_on(async {
        for id in &containers {
            // The launcher removes each container after recording its outcome; this only
            // catches one it could not, and waits for removals still in flight.
            match docker.remove(id, true).await {
                Ok(()) | Err(EngineError::NotFound(_)) | Err(EngineError::Conflict(_)) => {}
                Err(e) => cleaned.problems.push(format!("container {id}: {e}")),
            }
            let deadline = Instant::now() + NETWORK_RELEASE;
            while Instant::now() < deadline {
                match docker.inspect(id).await {
                    Err(EngineError::NotFound(_)) => break,
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            cleaned.containers_removed += 1;
        }
        if keep {
            return;
        }
        if let Some(network) = &created.network {
            let deadline = Instant::now() + NETWORK_RELEASE;
            loop {
                match docker.remove_network(network).await {
                    Ok(()) | Err(EngineError::NotFound(_)) => {
                        cleaned.network_removed = true;
                        break;
                    }
                    Err(e) if Instant::now() >= deadline => {
                        cleaned.problems.push(format!(
                            "network {network}: {e} (remove it with: docker network rm {network})"
                        ));
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
                }
            }
        }
        if let Some(image) = &created.image {
            match docker.remove_image(image).await {
                Ok(()) | Err(EngineError::NotFound(_)) => cleaned.image_removed = true,
                Err(e) => cleaned
                    .problems
                    .push(format!("image {image}: {e} (remove it with: docker rmi {image})")),
            }
        }
    });
    if keep {
        return cleaned;
    }
    if let Some(root) = &created.workdir_root {
        match std::fs::remove_dir_all(root) {
            Ok(()) => cleaned.workdir_removed = true,
            Err(e) => cleaned.problems.push(format!("{}: {e}", root.display())),
        }
    } else if let Some(layout) = &created.layout {
        let data_root = layout.root.join("data");
        for dir in [&layout.workspace, &data_root, &layout.logs] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => cleaned.problems.push(format!("{}: {e}", dir.display())),
            }
        }
        cleaned.workdir_removed = true;
    }
    cleaned
}
