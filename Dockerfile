# tickbench's image, for the workers deploy/kubernetes/ and deploy/aws-batch/ start.
#   docker build -t tickbench .
# The build stage installs exactly what the README's install step does (scripts/install-deps.sh:
# a C toolchain, OpenSSL's headers, and the pinned Rust by rustup), so the two cannot drift.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
ENV PATH=/root/.cargo/bin:$PATH
COPY . .
RUN cargo build --release --locked && cp target/release/tickbench /usr/local/bin/tickbench

# The run stage: a slim Debian with OpenSSL (TLS to MSK) and the CA store (S3, Glue, MSK IAM).
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 tickbench
COPY --from=build /usr/local/bin/tickbench /usr/local/bin/tickbench
COPY scenarios /scenarios
USER tickbench
WORKDIR /home/tickbench
ENTRYPOINT ["tickbench"]
CMD ["--help"]
