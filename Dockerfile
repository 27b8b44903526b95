# syntax=docker/dockerfile:1.7
# kubepve images. `make docker-build` (or `docker build -t IMAGE .`) builds the operator; the
# `pvectl` target builds the CLI:  docker build --target pvectl -t IMAGE-pvectl .
#
# builder: the workspace, compiled once with the same toolchain the project uses (Rust 1.95).
# runtime: distroless/cc (glibc, libgcc, CA certificates; no shell, no package manager), running
# as the numeric non-root user 65532, with only the one binary.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY src ./src
COPY crates ./crates
COPY examples ./examples
# --locked: the image is built from exactly the dependency versions in Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kubepve -p pvectl --bin kubepve --bin pvectl \
    && mkdir -p /out \
    && cp target/release/kubepve target/release/pvectl /out/ \
    && /out/kubepve --version

FROM ${RUNTIME_IMAGE} AS pvectl
COPY --from=builder /out/pvectl /usr/local/bin/pvectl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pvectl"]

# Last stage: what a plain `docker build .` produces.
FROM ${RUNTIME_IMAGE} AS kubepve
LABEL org.opencontainers.image.title="kubepve" \
      org.opencontainers.image.description="Kubernetes operator for Proxmox VE guests" \
      org.opencontainers.image.source="https://github.com/kubepve/kubepve" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/kubepve /usr/local/bin/kubepve
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kubepve"]
CMD ["run"]
