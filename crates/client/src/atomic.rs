//! Durable file writes: temp file → fsync → rename → fsync directory.
//!
//! A reader (the care software polling its import folder, another process of this client)
//! sees either the old file or the complete new one, never a half-written file, and a power
//! cut after `write_atomic` returns does not lose the write.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::ClientError;

/// Write `bytes` to `path` atomically and durably. The temp file lives in the same directory
/// (a rename is atomic only within one file system) and starts with `.` so that folder
/// watchers (ours, and most care software) ignore it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    write_atomic_mode(path, bytes, 0o600)
}

/// [`write_atomic`] with the given Unix permission bits (ignored elsewhere): files dropped
/// into a care software's import folder are `0o644` so that its own account can read them.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ClientError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| ClientError::io(path, std::io::ErrorKind::InvalidInput.into()))?;
    fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = create_new(&tmp, mode)?;
        f.write_all(bytes)?;
        // Data on disk before the rename makes it visible.
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| ClientError::io(path, e))
}

/// Create a new file with `mode` where the platform has such permissions (keystores and
/// credentials must never be world-readable, even for a moment).
fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path)
}

/// Make a rename durable: fsync the directory entry (a no-op where directories cannot be
/// opened, as on Windows).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Move a file, falling back to copy + fsync + remove across file systems.
pub fn move_file(from: &Path, to: &Path) -> Result<(), ClientError> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    }
    match fs::rename(from, to) {
        Ok(()) => {}
        Err(_) => {
            let bytes = fs::read(from).map_err(|e| ClientError::io(from, e))?;
            write_atomic(to, &bytes)?;
            fs::remove_file(from).map_err(|e| ClientError::io(from, e))?;
        }
    }
    if let Some(dir) = to.parent() {
        sync_dir(dir).map_err(|e| ClientError::io(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
