//! deploy/: the Kubernetes manifests and AWS Batch requests validate with other people's
//! validators (scripts/validate-deploy.sh), the scenario they run validates, and the image builds
//! with the README's own install step.

use std::path::Path;
use std::process::Command;

use crate::common;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[ignore = "needs kubectl (its kustomize) and kubernetes-validate and boto3 (scripts/install-deps.sh --tests)"]
#[test]
fn the_manifests_and_batch_requests_validate() {
    let out = common::succeeds(
        Command::new("bash")
            .arg(root().join("scripts/validate-deploy.sh"))
            .env("TICKBENCH_PYTHON", common::python()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("deploy/kubernetes: 9 resources valid"),
        "{text}"
    );
    assert_eq!(text.matches("a valid").count(), 4, "{text}");
}

/// The scenario the Jobs mount, with the values params.env gives it.
#[test]
fn the_deployed_scenario_validates_with_its_parameters() {
    let params = std::fs::read_to_string(root().join("deploy/kubernetes/params.env")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickbench"));
    cmd.args(["scenario", "check"])
        .arg(root().join("deploy/kubernetes/scenario.toml"));
    for line in params
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
    {
        let (k, v) = line.split_once('=').unwrap();
        cmd.env(k, v);
    }
    common::succeeds(&mut cmd);
    // The Jobs' parameters are the CLI's: what params.env sets, a command reads.
    for var in [
        "TICKBENCH_WORKERS",
        "TICKBENCH_RESULTS_TO",
        "TICKBENCH_START_AT",
        "TICKBENCH_METRICS_ADDR",
        "TICKBENCH_LOG_FORMAT",
    ] {
        assert!(params.contains(&format!("\n{var}=")), "{var}");
    }
    let start = params
        .lines()
        .find_map(|l| l.strip_prefix("TICKBENCH_START_AT="))
        .unwrap();
    tickbench::cli::orchestrator::parse_start_at(start).unwrap();
}

/// The image is built by the README's install step, not a second list of packages.
#[test]
fn the_dockerfile_builds_with_the_readmes_install_script() {
    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("bash scripts/install-deps.sh"));
    assert!(
        docker.contains("RUN bash scripts/install-deps.sh"),
        "{docker}"
    );
    assert!(
        !docker
            .lines()
            .any(|l| l.contains("apt-get install") && l.contains("libssl-dev")),
        "the build stage lists packages of its own"
    );
    // The run stage is a slim Debian with libssl.
    assert!(docker.contains("FROM debian:bookworm-slim\n"), "{docker}");
    assert!(docker.contains("libssl3"), "{docker}");
}
