//! manifests (stub)
