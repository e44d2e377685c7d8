//! DockerRuntime against a real engine. These tests need Docker: without a reachable engine
//! they are reported ignored, unless BERTH_REQUIRE_DOCKER=1, where they fail. Every object a
//! test creates has a `berth-test-` name and is removed by its `Cleanup` guard.

use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerEventKind, ContainerRuntime, EngineError, LabelFilter, LogStream};
use berth_testkit::{unique_name, Cleanup};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

/// Generous deadline for one engine step on a loaded 2-core machine.
const STEP: Duration = Duration::from_secs(60);

const RUN_LABEL: &str = "org.berth.test.run";

fn job_body(image: &str, script: &str, run: &str, network: Option<&str>) -> Value {
    let mut host_config = json!({
        "AutoRemove": false,
        "Mounts": [
            {"Target": "/var/tmp/nvflare/workspace", "Source": null, "Type": "tmpfs",
             "ReadOnly": false, "TmpfsOptions": {"Mode": 1023}}
        ]
    });
    if let Some(net) = network {
        host_config["NetworkMode"] = json!(net);
    }
    json!({
        "Image": image,
        "Cmd": ["/usr/local/bin/python", "-u", "-m", "nvflare.private.fed.app.client.worker_process"],
        "Env": [format!("STUB_SCRIPT={script}")],
        "WorkingDir": "/var/tmp/nvflare/workspace/job1",
        "Labels": {RUN_LABEL: run, "org.berth.test.kind": "docker-runtime"},
        "HostConfig": host_config
    })
}

async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

async fn ping_reports_a_supported_version(rt: DockerRuntime) {
    let info = step("ping", rt.ping()).await.unwrap();
    let (major, minor) = info.api_version.split_once('.').unwrap();
    let version = (major.parse::<u32>().unwrap(), minor.parse::<u32>().unwrap());
    assert!(version >= (1, 41), "{info:?}");
    assert!(!info.engine_version.is_empty());
    assert!(!info.platform.is_empty());
}

async fn networks_exist_or_not(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let net = step("create network", cleanup.new_network(&rt)).await.unwrap();
    assert!(step("network exists", rt.network_exists(&net)).await.unwrap());
    assert!(
        !step("missing network", rt.network_exists(&unique_name("missing")))
            .await
            .unwrap()
    );
    assert!(matches!(
        step("create again", rt.create_network(&net)).await,
        Err(EngineError::Conflict(_))
    ));
    step("remove network", rt.remove_network(&net)).await.unwrap();
    assert!(matches!(
        step("remove again", rt.remove_network(&net)).await,
        Err(EngineError::NotFound(_))
    ));
}

async fn images_exist_or_not(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    assert!(step("image exists", rt.image_exists(&image)).await.unwrap());
    let missing = format!("{}:nope", unique_name("img"));
    assert!(!step("missing image", rt.image_exists(&missing)).await.unwrap());
    step("remove image", rt.remove_image(&image)).await.unwrap();
    assert!(!step("removed image", rt.image_exists(&image)).await.unwrap());
    assert!(matches!(
        step("remove again", rt.remove_image(&image)).await,
        Err(EngineError::NotFound(_))
    ));
}

async fn ensure_stub_image_imports_once(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let tag = cleanup.image(&format!("{}:v1", unique_name("ensure")));
    step("ensure", berth_stub_image::ensure_stub_image(&rt, &tag))
        .await
        .unwrap();
    step("ensure again", berth_stub_image::ensure_stub_image(&rt, &tag))
        .await
        .unwrap();
    assert!(rt.image_exists(&tag).await.unwrap());
}

async fn a_container_runs_from_create_to_destroy(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    let net = step("network", cleanup.new_network(&rt)).await.unwrap();
    let name = cleanup.container_name();
    let run = unique_name("run");

    // Subscribe first; the die event comes a second after start.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut events = rt.events(&[LabelFilter::eq(RUN_LABEL, &run)]);
    let listener = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let body = job_body(&image, "print hello;sleep 1;exit 3", &run, Some(&net));
    let id = step("create", rt.create(&name, &body, None)).await.unwrap();
    assert_eq!(id.len(), 64, "{id}");

    let created = step("inspect", rt.inspect(&name)).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.name, name);
    assert_eq!(created.status, "created");
    assert_eq!(created.image, image);
    assert_eq!(created.labels.get(RUN_LABEL), Some(&run));
    assert_eq!(created.started_at, None);

    step("start", rt.start(&id)).await.unwrap();
    let listed = step("list", rt.list(&[LabelFilter::eq(RUN_LABEL, &run)], true))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].name, name);
    assert!(listed[0].created > 0);

    assert_eq!(step("wait", rt.wait_exit(&id)).await.unwrap(), 3);
    let exited = step("inspect", rt.inspect(&id)).await.unwrap();
    assert_eq!(exited.status, "exited");
    assert_eq!(exited.exit_code, Some(3));
    assert!(!exited.oom_killed);
    assert!(exited.started_at.is_some() && exited.finished_at.is_some());

    let running = step(
        "list running",
        rt.list(&[LabelFilter::eq(RUN_LABEL, &run)], false),
    )
    .await
    .unwrap();
    assert!(running.is_empty(), "{running:?}");

    step("remove", rt.remove(&id, false)).await.unwrap();
    assert!(matches!(
        step("inspect removed", rt.inspect(&id)).await,
        Err(EngineError::NotFound(_))
    ));

    let mut kinds = Vec::new();
    while !kinds.contains(&ContainerEventKind::Destroy) {
        let event = step("events", rx.recv())
            .await
            .expect("event stream ended")
            .unwrap();
        assert_eq!(event.id, id);
        assert_eq!(event.labels.get(RUN_LABEL), Some(&run));
        assert!(event.time_nano > 0);
        kinds.push(event.kind);
    }
    listener.abort();
    assert_eq!(
        kinds,
        vec![
            ContainerEventKind::Start,
            ContainerEventKind::Die { exit_code: Some(3) },
            ContainerEventKind::Destroy
        ]
    );
}

async fn the_tmpfs_mount_and_network_are_applied(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    let net = step("network", cleanup.new_network(&rt)).await.unwrap();
    let name = cleanup.container_name();
    let body = job_body(
        &image,
        "probe /var/tmp/nvflare/workspace/job1/p.json;exit 0",
        &unique_name("run"),
        Some(&net),
    );
    let id = step("create", rt.create(&name, &body, None)).await.unwrap();
    step("start", rt.start(&id)).await.unwrap();
    assert_eq!(step("wait", rt.wait_exit(&id)).await.unwrap(), 0);
    let out: Vec<_> = step("logs", rt.logs(&id, false).collect::<Vec<_>>()).await;
    let text: String = out
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.unwrap().bytes).into_owned())
        .collect();
    assert!(text.contains("probe written"), "{text}");
    // The engine's view of the container.
    let inspect = step("inspect", rt.inspect_raw(&id)).await.unwrap();
    // Podman reports `NetworkMode: bridge` for a named network; both list it here.
    let networks = &inspect["NetworkSettings"]["Networks"];
    assert!(networks.get(&net).is_some(), "{networks}");
    let host_config = &inspect["HostConfig"];
    // Docker keeps the tmpfs in `Mounts`; Podman turns it into a `Tmpfs` entry.
    match host_config["Mounts"].as_array().and_then(|m| m.first()) {
        Some(mount) => {
            assert_eq!(mount["Type"], json!("tmpfs"));
            assert_eq!(mount["TmpfsOptions"]["Mode"], json!(1023));
        }
        None => {
            let options = host_config["Tmpfs"]["/var/tmp/nvflare/workspace"]
                .as_str()
                .unwrap_or_else(|| panic!("no workspace tmpfs in {host_config}"));
            assert!(options.split(',').any(|o| o == "mode=1777"), "{options}");
        }
    }
    assert_eq!(host_config["AutoRemove"], json!(false));
}

/// A stop with no grace, or a kill: both answer once the container has stopped.
async fn halt(rt: &DockerRuntime, id: &str, kill: bool) -> Result<(), EngineError> {
    if kill {
        rt.kill(id).await
    } else {
        rt.stop(id, 0).await
    }
}

/// What a stop or kill of a container that is not running answers: `Ok` (or, for a stop,
/// the engine's 304 as `NotModified`); with `exact`, only `Ok`.
fn not_running_is_no_error(answer: Result<(), EngineError>, exact: bool) {
    match answer {
        Ok(()) => {}
        Err(EngineError::NotModified) if !exact => {}
        other => panic!("expected no error, got {other:?}"),
    }
}

async fn stopping_or_killing_a_container_that_is_not_running_is_no_error(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    let kills = step("engine", rt.engine()).await.unwrap().kill_is_quickest_stop();
    for (kill, how) in [(false, "stop"), (true, "kill")] {
        // Docker's kill answers a container that is not running with a 409, which the kill
        // reads as `Ok`; a stop's 304 may reach the caller as `NotModified`.
        let exact = kill && kills;
        let never_started = cleanup.container_name();
        let body = job_body(&image, "exit 0", &unique_name("run"), None);
        step("create", rt.create(&never_started, &body, None))
            .await
            .unwrap();
        // Not running: no error (one request; the engine's 304 or 409 reads as success).
        not_running_is_no_error(
            step(&format!("{how} created"), halt(&rt, &never_started, kill)).await,
            exact,
        );

        let finished = cleanup.container_name();
        step("create", rt.create(&finished, &body, None)).await.unwrap();
        step("start", rt.start(&finished)).await.unwrap();
        assert_eq!(step("wait", rt.wait_exit(&finished)).await.unwrap(), 0);
        not_running_is_no_error(
            step(&format!("{how} exited"), halt(&rt, &finished, kill)).await,
            exact,
        );

        let sleeper = cleanup.container_name();
        let body = job_body(&image, "sleep 60", &unique_name("run"), None);
        step("create", rt.create(&sleeper, &body, None)).await.unwrap();
        step("start", rt.start(&sleeper)).await.unwrap();
        step(&format!("{how} running"), halt(&rt, &sleeper, kill))
            .await
            .unwrap();
        // Answered only once the container has stopped.
        let state = step("inspect", rt.inspect(&sleeper)).await.unwrap();
        assert_eq!(state.status, "exited", "after the {how}");
        assert_eq!(state.exit_code, Some(137), "after the {how}");
        not_running_is_no_error(
            step(&format!("{how} again"), halt(&rt, &sleeper, kill)).await,
            exact,
        );

        assert!(matches!(
            step(
                &format!("{how} missing"),
                halt(&rt, &unique_name("missing"), kill)
            )
            .await,
            Err(EngineError::NotFound(_))
        ));
    }
}

async fn removing_a_missing_container_is_not_found(rt: DockerRuntime) {
    let err = step("remove", rt.remove(&unique_name("missing"), true))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotFound(_)), "{err:?}");
}

async fn a_taken_name_is_a_conflict(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    let name = cleanup.container_name();
    let body = job_body(&image, "exit 0", &unique_name("run"), None);
    step("create", rt.create(&name, &body, None)).await.unwrap();
    let err = step("create again", rt.create(&name, &body, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Conflict(m) if m.contains(&name)),
        "{err:?}"
    );
}

async fn logs_keep_stdout_and_stderr_apart(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    let name = cleanup.container_name();
    let body = job_body(
        &image,
        "print out one;eprint err one;print out two;exit 1",
        &unique_name("run"),
        None,
    );
    let id = step("create", rt.create(&name, &body, None)).await.unwrap();

    // Following from before the start sees everything until the container stops.
    let follow = rt.logs(&id, true);
    step("start", rt.start(&id)).await.unwrap();
    let followed: Vec<_> = step("follow", follow.collect::<Vec<_>>()).await;
    assert_eq!(step("wait", rt.wait_exit(&id)).await.unwrap(), 1);

    let after: Vec<_> = step("logs", rt.logs(&id, false).collect::<Vec<_>>()).await;
    for chunks in [followed, after] {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        for chunk in chunks {
            let chunk = chunk.unwrap();
            match chunk.stream {
                LogStream::Stdout => stdout.extend(chunk.bytes),
                LogStream::Stderr => stderr.extend(chunk.bytes),
            }
        }
        assert_eq!(String::from_utf8_lossy(&stdout), "out one\nout two\n");
        assert_eq!(String::from_utf8_lossy(&stderr), "err one\n");
    }

    let missing: Vec<_> = step(
        "logs of missing",
        rt.logs(&unique_name("missing"), false).collect::<Vec<_>>(),
    )
    .await;
    assert!(
        matches!(missing.as_slice(), [Err(EngineError::NotFound(_))]),
        "{missing:?}"
    );
}

async fn wait_exit_returns_each_code(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    for code in [0, 9, 2] {
        let name = cleanup.container_name();
        let script = if code == 2 {
            "no-such-command".to_string()
        } else {
            format!("exit {code}")
        };
        let id = step(
            "create",
            rt.create(&name, &job_body(&image, &script, &unique_name("run"), None), None),
        )
        .await
        .unwrap();
        step("start", rt.start(&id)).await.unwrap();
        assert_eq!(step("wait", rt.wait_exit(&id)).await.unwrap(), code);
    }
    assert!(matches!(
        step("wait missing", rt.wait_exit(&unique_name("missing"))).await,
        Err(EngineError::NotFound(_))
    ));
}

async fn oom_is_reported(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import", cleanup.new_stub_image(&rt)).await.unwrap();
    let name = cleanup.container_name();
    let mut body = job_body(&image, "alloc 256;sleep 5", &unique_name("run"), None);
    body["HostConfig"]["Memory"] = json!(32 * 1024 * 1024);
    body["HostConfig"]["MemorySwap"] = json!(32 * 1024 * 1024);
    let id = step("create", rt.create(&name, &body, None)).await.unwrap();
    step("start", rt.start(&id)).await.unwrap();
    assert_eq!(step("wait", rt.wait_exit(&id)).await.unwrap(), 137);
    let state = step("inspect", rt.inspect(&id)).await.unwrap();
    assert_eq!(state.exit_code, Some(137), "{state:?}");
    // Podman before 5 never sets the flag (berth_engine::dialect).
    let reports_oom = rt.engine().await.unwrap().reports_oom_kills();
    assert_eq!(state.oom_killed, reports_oom, "{state:?}");
}

async fn a_missing_image_is_not_found(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let name = cleanup.container_name();
    let image = format!("{}:absent", unique_name("img"));
    let err = step(
        "create",
        rt.create(&name, &job_body(&image, "exit 0", "r", None), None),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, EngineError::NotFound(m) if m.contains(&image)),
        "{err:?}"
    );
}

async fn a_body_field_the_client_would_drop_is_refused_before_sending(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let name = cleanup.container_name();
    let mut body = job_body("whatever:1", "exit 0", "r", None);
    body["HostConfig"]["Bogus"] = json!(true);
    let err = step("create", rt.create(&name, &body, None)).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Api { status: 0, message } if message.contains("HostConfig.Bogus")),
        "{err:?}"
    );
    assert!(matches!(
        step("inspect", rt.inspect(&name)).await,
        Err(EngineError::NotFound(_))
    ));
}

async fn a_create_body_that_is_not_an_object_is_refused_before_sending(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let name = cleanup.container_name();
    let body = json!([job_body("whatever:1", "exit 0", "r", None)]);
    let err = step("create", rt.create(&name, &body, None)).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Api { status: 0, message } if message.contains("JSON object")),
        "{err:?}"
    );
    assert!(matches!(
        step("inspect", rt.inspect(&name)).await,
        Err(EngineError::NotFound(_))
    ));
}

async fn an_unreachable_engine_says_where_it_looked() {
    // Needs no engine.
    let socket = format!("/tmp/{}/docker.sock", unique_name("nowhere"));
    let rt = DockerRuntime::connect(&format!("unix://{socket}")).unwrap();
    let err = step("ping", rt.ping()).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Unreachable(m) if m.contains(&socket)),
        "{err:?}"
    );
    let err = step("inspect", rt.inspect("x")).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Unreachable(m) if m.contains(&socket)),
        "{err:?}"
    );
    let events: Vec<_> = step("events", rt.events(&[]).collect::<Vec<_>>()).await;
    assert!(
        matches!(events.as_slice(), [Err(EngineError::Unreachable(_))]),
        "{events:?}"
    );

    // A port nothing listens on.
    let rt = DockerRuntime::connect("tcp://127.0.0.1:9").unwrap();
    let err = step("ping", rt.ping()).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Unreachable(m) if m.contains("127.0.0.1:9")),
        "{err:?}"
    );
}

async fn the_cleanup_guard_removes_objects_when_a_test_panics(rt: DockerRuntime) {
    let name = unique_name("c");
    let (rt2, name2) = (rt.clone(), name.clone());
    let failed = tokio::spawn(async move {
        let cleanup = Cleanup::new(&rt2);
        let image = cleanup.new_stub_image(&rt2).await.unwrap();
        let net = cleanup.new_network(&rt2).await.unwrap();
        cleanup.container(&name2);
        let body = job_body(&image, "sleep 60", "r", Some(&net));
        rt2.create(&name2, &body, None).await.unwrap();
        rt2.start(&name2).await.unwrap();
        panic!("a failing test (expected)");
    })
    .await;
    assert!(failed.unwrap_err().is_panic());
    assert!(matches!(
        step("inspect", rt.inspect(&name)).await,
        Err(EngineError::NotFound(_))
    ));
}

berth_testkit::test_main!(
    ping_reports_a_supported_version,
    networks_exist_or_not,
    images_exist_or_not,
    ensure_stub_image_imports_once,
    a_container_runs_from_create_to_destroy,
    the_tmpfs_mount_and_network_are_applied,
    stopping_or_killing_a_container_that_is_not_running_is_no_error,
    removing_a_missing_container_is_not_found,
    a_taken_name_is_a_conflict,
    logs_keep_stdout_and_stderr_apart,
    wait_exit_returns_each_code,
    oom_is_reported,
    a_missing_image_is_not_found,
    a_body_field_the_client_would_drop_is_refused_before_sending,
    a_create_body_that_is_not_an_object_is_refused_before_sending,
    an_unreachable_engine_says_where_it_looked,
    the_cleanup_guard_removes_objects_when_a_test_panics,
);
