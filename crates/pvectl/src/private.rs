//! Files that hold secrets or guest configurations (the config file, the journal, backups):
//! their folders are created 0700 and the files 0600, and an existing folder or file of
//! pvectl's own is tightened to those modes when pvectl writes to it.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Folder mode: only the owner.
pub const DIR_MODE: u32 = 0o700;
/// File mode: only the owner.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and missing parents) with mode 0700, and set 0700 on `dir` itself.
pub fn dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Options that create a file with mode 0600 (the caller adds write, append, create_new...).
pub fn file_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.mode(FILE_MODE);
    opts
}

/// Set 0600 on an existing file.
pub fn tighten(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}
