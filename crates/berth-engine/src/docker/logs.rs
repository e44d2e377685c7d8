//! Logs: a container's output, stdout and stderr apart.

use super::connection::map_error;
use super::DockerRuntime;
use crate::runtime::{EngineError, EngineResult, LogChunk, LogStream};
use bollard::query_parameters::LogsOptionsBuilder;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

pub(super) fn open(rt: &DockerRuntime, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
    let this = rt.clone();
    let id = id.to_string();
    let opened = async move {
        let docker = this.client().await?.clone();
        let options = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .tail("all")
            .build();
        let chunks = docker
            .logs(&id, Some(options))
            .map_err(move |e| map_error(e, &this.inner.endpoint))
            .try_filter_map(|output| async move {
                use bollard::container::LogOutput;
                Ok(match output {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => Some(LogChunk {
                        stream: LogStream::Stdout,
                        bytes: message.to_vec(),
                    }),
                    LogOutput::StdErr { message } => Some(LogChunk {
                        stream: LogStream::Stderr,
                        bytes: message.to_vec(),
                    }),
                    LogOutput::StdIn { .. } => None,
                })
            });
        Ok::<_, EngineError>(chunks)
    };
    stream::once(opened).try_flatten().boxed()
}
