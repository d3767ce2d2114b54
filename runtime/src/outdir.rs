//! The output folder of a run: checked and locked before the run starts,
//! written as one transaction when it ends.
//!
//! Why: a run that cannot write its results is lost, so everything that can
//! be known before the first step is checked then (the path is a folder we
//! can write, no other run holds it, the disk has room for the recordings
//! whose size is known). When the run ends, every file is first written
//! under a `.partial` name; only when all of them are complete are they
//! renamed into place and the previous run's files removed. A failure
//! (full disk, file-size limit) removes the partial files and leaves the
//! folder as the previous run left it.
//!
//! Which files are circ's is recorded in the folder's `.circ-files`
//! manifest, updated before anything is written: files circ did not write
//! are never touched, and after a crash at any point the next run knows
//! what to clean.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file in an output folder: held (`flock`) for the whole run; it
/// holds the process id of its holder, for the message another run prints.
pub const LOCK_NAME: &str = ".circ-lock";

/// The manifest: the names of the files circ wrote in the folder, one per line.
pub const MANIFEST_NAME: &str = ".circ-files";

/// Why an output folder cannot be used or written.
#[derive(Debug)]
pub enum OutError {
    /// The path exists and is not a folder.
    NotAFolder(PathBuf),
    /// The folder cannot be created or written.
    Unwritable(PathBuf, std::io::Error),
    /// Another process holds the folder's lock.
    Locked(PathBuf, Option<u32>),
    /// The disk has less room than the files need (bytes).
    NoRoom {
        /// The folder.
        dir: PathBuf,
        /// What the files need.
        needed: u64,
        /// What the file system has free.
        free: u64,
        /// Whether `needed` counts only the recordings whose size is known
        /// before the run (spike files come on top).
        before_run: bool,
    },
    /// Writing a file failed; nothing of this run was left in the folder.
    Write {
        /// The file.
        file: PathBuf,
        /// The error.
        error: std::io::Error,
        /// What all files of the run need (bytes).
        needed: u64,
        /// What had been written when it failed (bytes).
        written: u64,
    },
}

/// Megabytes, for messages.
fn mb(bytes: u64) -> String {
    let m = bytes as f64 / 1e6;
    if m >= 100.0 {
        format!("{m:.0} MB")
    } else if m >= 0.1 {
        format!("{m:.1} MB")
    } else {
        format!("{:.1} kB", bytes as f64 / 1e3)
    }
}

impl std::fmt::Display for OutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutError::NotAFolder(p) => write!(
                f,
                "output folder {}: is a file, not a folder; recordings are several files: name a folder (new or circ's own)",
                p.display()
            ),
            OutError::Unwritable(p, e) => {
                write!(f, "output folder {}: cannot write there: {e}", p.display())
            }
            OutError::Locked(p, pid) => write!(
                f,
                "output folder {}: another circ run{} is writing to it; wait for it or choose another folder (--out)",
                p.display(),
                pid.map(|p| format!(" (process {p})")).unwrap_or_default()
            ),
            OutError::NoRoom {
                dir,
                needed,
                free,
                before_run,
            } => write!(
                f,
                "output folder {}: the recordings need {}{} but the disk has {} free{}",
                dir.display(),
                mb(*needed),
                if *before_run {
                    " (spike files not counted)"
                } else {
                    ""
                },
                mb(*free),
                if *before_run {
                    "; the run was not started: free some space, record less (`every`, fewer elements) or choose another --out"
                } else {
                    "; nothing was written: free some space or choose another --out"
                }
            ),
            OutError::Write {
                file,
                error,
                needed,
                written,
            } => write!(
                f,
                "cannot write {}: {error}; the recordings need {} in all ({} were written when it failed); the partial files were removed and the folder is as before the run",
                file.display(),
                mb(*needed),
                mb(*written)
            ),
        }
    }
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
#[allow(unsafe_code)]
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to a
    // statvfs-sized buffer that statvfs fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised the buffer.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// A reserved output folder: locked until dropped.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    /// Held for the folder's lock; released when the process ends, however.
    _lock: File,
    /// Whether this reservation made the folder (and nothing was committed
    /// yet): a run that fails before writing then leaves no folder behind.
    created: std::cell::Cell<bool>,
}

impl Drop for OutDir {
    fn drop(&mut self) {
        // Removed while still held: a run waiting on this file finds it
        // gone when it gets the lock and takes a new one (`lock_folder`).
        let _ = std::fs::remove_file(self.dir.join(LOCK_NAME));
        if self.created.get() {
            // Only if empty: never removes anything else.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Opens and locks `dir`'s lock file. A lock file its holder removed
/// between our open and our lock is not the folder's lock any more, so the
/// lock is taken only on the file the name still points at.
fn lock_folder(dir: &Path) -> Result<File, OutError> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(LOCK_NAME);
    let unwritable = |e| OutError::Unwritable(dir.to_path_buf(), e);
    loop {
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(unwritable)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                return Err(OutError::Locked(
                    dir.to_path_buf(),
                    text.trim().parse().ok(),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(unwritable(e)),
        }
        let held = lock.metadata().map_err(unwritable)?;
        match std::fs::metadata(&path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(lock),
            _ => continue,
        }
    }
}

impl OutDir {
    /// Checks that `dir` is (or can be made) a folder this process can
    /// write, locks it against other runs, cleans what an interrupted
    /// earlier run left half-written, and checks that the disk has room for
    /// `expected` bytes (what is known before the run).
    pub fn reserve(dir: &Path, expected: u64) -> Result<OutDir, OutError> {
        if dir.exists() && !dir.is_dir() {
            return Err(OutError::NotAFolder(dir.to_path_buf()));
        }
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| OutError::Unwritable(dir.to_path_buf(), e))?;
        let mut lock = lock_folder(dir)?;
        let pid = std::process::id().to_string();
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(pid.as_bytes()))
            .map_err(|e| OutError::Unwritable(dir.to_path_buf(), e))?;
        let out = OutDir {
            dir: dir.to_path_buf(),
            _lock: lock,
            created: std::cell::Cell::new(created),
        };
        // A run killed while writing leaves `.partial` files of names in
        // the manifest: remove them now, not next to this run's files.
        for name in out.manifest() {
            let _ = std::fs::remove_file(out.dir.join(partial_name(&name)));
        }
        out.check_room(expected)?;
        Ok(out)
    }

    /// Checks that the disk has room for `expected` bytes of recordings
    /// (what is known before the run starts).
    pub fn check_room(&self, expected: u64) -> Result<(), OutError> {
        match free_bytes(&self.dir) {
            Some(free) if free < expected => Err(OutError::NoRoom {
                dir: self.dir.clone(),
                needed: expected,
                free,
                before_run: true,
            }),
            _ => Ok(()),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The names in the folder's manifest (empty when there is none).
    fn manifest(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.dir.join(MANIFEST_NAME))
            .map(|t| {
                t.lines()
                    .filter(|l| is_plain_name(l))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes the manifest atomically.
    fn set_manifest(&self, names: &BTreeSet<String>) -> std::io::Result<()> {
        let mut text = String::new();
        for n in names {
            text.push_str(n);
            text.push('\n');
        }
        write_atomic(&self.dir.join(MANIFEST_NAME), text.as_bytes())
    }

    /// Replaces the previous run's files with `files` (name, bytes), all or
    /// nothing; returns the paths written.
    pub fn commit(&self, files: &[(String, Vec<u8>)]) -> Result<Vec<PathBuf>, OutError> {
        let needed: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
        if let Some(free) = free_bytes(&self.dir)
            && free < needed
        {
            return Err(OutError::NoRoom {
                dir: self.dir.clone(),
                needed,
                free,
                before_run: false,
            });
        }
        let old = self.manifest();
        let new: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
        // The manifest covers old and new before anything is written, so a
        // crash at any point leaves nothing unaccounted for.
        let union: BTreeSet<String> = old.union(&new).cloned().collect();
        let unwritable = |e| OutError::Unwritable(self.dir.clone(), e);
        self.set_manifest(&union).map_err(unwritable)?;
        let mut written = 0u64;
        for (k, (name, bytes)) in files.iter().enumerate() {
            let tmp = self.dir.join(partial_name(name));
            if let Err(error) = write_synced(&tmp, bytes) {
                for (n, _) in &files[..=k] {
                    let _ = std::fs::remove_file(self.dir.join(partial_name(n)));
                }
                let _ = self.set_manifest(&old);
                return Err(OutError::Write {
                    file: self.dir.join(name),
                    error,
                    needed,
                    written,
                });
            }
            written += bytes.len() as u64;
        }
        let mut paths = Vec::with_capacity(files.len());
        for (name, _) in files {
            let path = self.dir.join(name);
            std::fs::rename(self.dir.join(partial_name(name)), &path).map_err(unwritable)?;
            paths.push(path);
        }
        for gone in old.difference(&new) {
            let _ = std::fs::remove_file(self.dir.join(gone));
        }
        self.created.set(false);
        self.set_manifest(&new).map_err(unwritable)?;
        // Make the renames durable too.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(paths)
    }
}

/// A name with no folder part (what a manifest may hold: a damaged or
/// hostile manifest must not make circ remove files elsewhere).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && name != LOCK_NAME
        && name != MANIFEST_NAME
}

/// Where a file is written before it is complete.
fn partial_name(name: &str) -> String {
    format!("{name}.partial")
}

/// Writes and syncs `bytes` to `path`.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `bytes` to `path` atomically (a `.partial` file, then rename); on
/// failure the partial file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(partial_name(&name));
    if let Err(e) = write_synced(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("circ-outdir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_run_replaces_the_old_files_and_keeps_foreign_ones() {
        let d = temp("replace");
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("notes.txt"), "mine").expect("write");
        {
            let o = OutDir::reserve(&d, 0).expect("reserve");
            o.commit(&[("a.npy".into(), vec![1]), ("b.npy".into(), vec![2])])
                .expect("commit");
        }
        let o = OutDir::reserve(&d, 0).expect("reserve");
        o.commit(&[("b.npy".into(), vec![3]), ("c.npy".into(), vec![4])])
            .expect("commit");
        assert_eq!(
            names(&d),
            [".circ-files", ".circ-lock", "b.npy", "c.npy", "notes.txt"]
        );
        assert_eq!(std::fs::read(d.join("b.npy")).expect("b"), [3]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_second_reservation_is_refused_while_the_first_holds() {
        let d = temp("lock");
        let first = OutDir::reserve(&d, 0).expect("reserve");
        match OutDir::reserve(&d, 0) {
            Err(OutError::Locked(_, pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        assert!(OutDir::reserve(&d, 0).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_or_an_unwritable_place_is_refused() {
        let d = temp("file");
        std::fs::write(&d, "x").expect("write");
        assert!(matches!(
            OutDir::reserve(&d, 0),
            Err(OutError::NotAFolder(_))
        ));
        let _ = std::fs::remove_file(&d);
        // /proc refuses new folders even to root.
        assert!(matches!(
            OutDir::reserve(Path::new("/proc/circ-out"), 0),
            Err(OutError::Unwritable(..))
        ));
    }

    #[test]
    fn more_than_the_disk_holds_is_refused_before_writing() {
        let d = temp("room");
        let err = OutDir::reserve(&d, u64::MAX).expect_err("no room");
        assert!(err.to_string().contains("the run was not started"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_hostile_manifest_removes_nothing_outside() {
        let d = temp("hostile");
        std::fs::create_dir_all(&d).expect("mkdir");
        let outside = temp("hostile-victim");
        std::fs::write(&outside, "keep").expect("write");
        std::fs::write(
            d.join(MANIFEST_NAME),
            format!(
                "../{}\n",
                outside.file_name().expect("name").to_string_lossy()
            ),
        )
        .expect("manifest");
        let o = OutDir::reserve(&d, 0).expect("reserve");
        o.commit(&[("a.npy".into(), vec![1])]).expect("commit");
        assert!(outside.exists());
        let _ = std::fs::remove_file(&outside);
        let _ = std::fs::remove_dir_all(&d);
    }
}
