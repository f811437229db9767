//! A file on a host file system as an [`ImageSource`] (feature `std`).

use super::ImageSource;
use super::find::{
    Entry, FindOptions, FindProblem, Found, NameList, Place, Selector, folder_matches, name_of,
};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A `std::fs::File` read positionally. Sequential reads do not seek.
#[derive(Debug)]
pub struct FileImage {
    file: File,
    len: u32,
    position: u64,
}

impl FileImage {
    /// Opens `path` for reading.
    ///
    /// Fails with [`io::ErrorKind::InvalidData`] for files of 4 GiB or more (no modem image is that large,
    /// and FAT cannot store one).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_file(File::open(path)?)
    }

    /// Wraps an already open file.
    pub fn from_file(file: File) -> io::Result<Self> {
        let bytes = file.metadata()?.len();
        let len = u32::try_from(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is {bytes} bytes; images must be smaller than 4 GiB"),
            )
        })?;
        Ok(Self {
            file,
            len,
            position: 0,
        })
    }
}

impl ImageSource for FileImage {
    type Error = io::Error;

    fn len(&self) -> u32 {
        self.len
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        if self.position != u64::from(offset) {
            self.file.seek(SeekFrom::Start(u64::from(offset)))?;
            self.position = u64::from(offset);
        }
        let want = buf.len().min((self.len - offset) as usize);
        let Some(buf) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.position += n as u64;
        Ok(n)
    }
}

#[allow(clippy::result_large_err)] // see storage::find: name lists without allocation
/// Finds the image in a host directory with the same rules as on a card
/// ([`crate::storage::find`]): by name (ASCII case ignored), or by scanning `dir` and the
/// configured folder for firmware extensions.
///
/// Returns the file's path and what was found. A missing folder, an unreadable directory and the
/// finder's own problems are errors that say what was found.
pub fn find_in_dir(
    dir: impl AsRef<Path>,
    options: &FindOptions<'_>,
) -> Result<(PathBuf, Found), FindInDirError> {
    let dir = dir.as_ref();
    let mut selector = Selector::new(*options);
    let mut chosen: Option<PathBuf> = None;
    let mut folder_path = None;
    let mut folders = NameList::default();
    scan_dir(dir, Place::Root, &mut |path, meta, name, place| {
        if meta.is_dir() {
            if options
                .folder
                .is_some_and(|f| folder_matches(f, None, name))
                && folder_path.is_none()
            {
                folder_path = Some(path.to_path_buf());
            }
            folders.push(name);
        } else {
            offer(&mut selector, &mut chosen, path, meta, name, place);
        }
    })?;
    if let Some(folder) = options.folder {
        let Some(sub) = folder_path else {
            return Err(FindInDirError::Find(FindProblem::FolderNotFound {
                folder: name_of(folder),
                seen: folders,
            }));
        };
        scan_dir(&sub, Place::Folder, &mut |path, meta, name, place| {
            if !meta.is_dir() {
                offer(&mut selector, &mut chosen, path, meta, name, place);
            }
        })?;
    }
    let found = selector.finish().map_err(FindInDirError::Find)?;
    let path = chosen.ok_or_else(|| {
        FindInDirError::Io(
            dir.to_path_buf(),
            io::Error::other("selected file vanished"),
        )
    })?;
    Ok((path, found))
}

fn offer(
    selector: &mut Selector<'_>,
    chosen: &mut Option<PathBuf>,
    path: &Path,
    meta: &std::fs::Metadata,
    name: &str,
    place: Place,
) {
    let entry = Entry {
        long_name: Some(name),
        short_name: name,
        // Larger files are refused later by FileImage::open with their real size.
        size: u32::try_from(meta.len()).unwrap_or(u32::MAX),
        is_dir: false,
        // Dot files are hidden on Unix hosts, like FAT's hidden attribute on the card.
        hidden: name.starts_with('.'),
        place,
    };
    if selector.offer_tracked(&entry) {
        *chosen = Some(path.to_path_buf());
    }
}

#[allow(clippy::result_large_err)]
/// Calls `visit` for each entry of `dir` whose name is valid UTF-8, in name order (so the result
/// does not depend on the directory's internal order).
fn scan_dir(
    dir: &Path,
    place: Place,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata, &str, Place),
) -> Result<(), FindInDirError> {
    let io_err = |e| FindInDirError::Io(dir.to_path_buf(), e);
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        entries.push(entry.path());
    }
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let meta = std::fs::metadata(&path).map_err(|e| FindInDirError::Io(path.clone(), e))?;
        visit(&path, &meta, name, place);
    }
    Ok(())
}

/// Why [`find_in_dir`] found no single image.
#[allow(clippy::large_enum_variant)] // built once per run; see storage::find
#[derive(Debug)]
pub enum FindInDirError {
    /// A directory could not be read.
    Io(PathBuf, io::Error),
    /// The finder's verdict.
    Find(FindProblem),
}

impl std::fmt::Display for FindInDirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(path, e) => write!(f, "cannot read `{}`: {e}", path.display()),
            Self::Find(p) => p.fmt(f),
        }
    }
}

impl std::error::Error for FindInDirError {}
