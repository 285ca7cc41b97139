//! Files the server keeps outside the database (secret keys, audit checkpoints), written so
//! that a crash or a second process never leaves a half-written or replaced file.
//!
//! A file is written under a temporary name unique to the process and the write, synced, and
//! only then given its real name; the directory is synced so that the name survives a power
//! cut. A reader therefore sees a whole file or none.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Creates `path` holding `bytes` with permission bits `mode`, unless it exists already: then
/// nothing is written and the answer is `false`. Two processes racing to create the same file
/// both end up using the one that won.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<bool> {
    let temp = unique_temp_path(path);
    write_synced(&temp, bytes, mode).with_context(|| format!("writing {}", temp.display()))?;
    // A hard link, unlike a rename, refuses to replace a file another process created meanwhile.
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_parent(path)?;
            Ok(true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error).with_context(|| format!("creating {}", path.display())),
    }
}

/// A sibling path no other process or write uses: `.NAME.PID.RANDOM.tmp`.
pub fn unique_temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    path.with_file_name(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Writes a new file (never an existing one) and syncs it to disk.
pub fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename or link in the directory durable.
pub fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}
