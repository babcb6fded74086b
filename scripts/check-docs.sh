#!/usr/bin/env bash
# Checks the README and docs/ against the code: every `tickbench` command shown parses with the
# real command line, every scenario named validates, every TOML block validates inside a scenario,
# every relative link leads to a file, every docs page is linked from the README, and the README
# stays under 250 lines. The checks are the `docs::` tests (tests/it/docs.rs); `cargo test` and
# .ci/run run them too.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --locked --test it docs:: "$@"
