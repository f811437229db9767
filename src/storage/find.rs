//! Choosing the image file in a directory listing: by name (long or 8.3) or by scanning for
//! firmware extensions — the same rules on an SD card and in a host directory.
//!
//! Vendor file names are long (`GM02RB6Q_LR8.0.5.13-59577.dup`, `upgdiff_33080-to-39529.dup`), and
//! on a FAT card each also has a generated 8.3 alias (`GM02RB~1.DUP`). Users type either, in any
//! case, so a name matches the long name or the 8.3 name, ignoring ASCII case.
//!
//! A scan looks at the root and (optionally) one folder. Extensions are tried in priority order
//! (`.dup`, then `.elf`): the first extension with any match decides, and two matches of that
//! extension are an error that names both — guessing between two firmware files is how modems get
//! the wrong image. Files that are never firmware are skipped: directories, hidden and system files,
//! and macOS `._*` resource-fork files (a `._CATM1-38638.dup` of 4 KiB appears on every card a Mac
//! has touched).
//!
//! The [`Selector`] is fed one entry at a time (it never holds a directory listing) and keeps at
//! most [`MAX_LISTED`] names for its error messages.

// The error lists file names without allocating, so it is a few hundred bytes; it is built at most
// once per run, before the modem is touched.
#![allow(clippy::result_large_err)]

use core::fmt;

/// How many file names an error lists (the rest are counted).
pub const MAX_LISTED: usize = 6;
/// Longest name kept in a report (longer names are cut at a character boundary and end in `…`).
pub const NAME_CAP: usize = 48;
/// Files shorter than this cannot hold any image header (an ELF header alone is 52 bytes).
pub const MIN_IMAGE_LEN: u32 = 64;

/// A file name as kept in reports.
pub type Name = heapless::String<NAME_CAP>;

/// Copies `s` into a [`Name`], cutting it at a character boundary with a trailing `…` when too long.
pub fn name_of(s: &str) -> Name {
    let mut out = Name::new();
    if out.push_str(s).is_ok() {
        return out;
    }
    let ellipsis = '…';
    let room = NAME_CAP - ellipsis.len_utf8();
    for c in s.chars() {
        if out.len() + c.len_utf8() > room {
            break;
        }
        // Cannot fail: `room` leaves space for this character and the ellipsis.
        let _ = out.push(c);
    }
    let _ = out.push(ellipsis);
    out
}

/// Where a file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Place {
    /// The root directory of the card (or the given host directory).
    Root,
    /// The configured folder ([`FindOptions::folder`]).
    Folder,
}

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindOptions<'a> {
    /// A file name (long or 8.3, any ASCII case). `None` scans for [`Self::extensions`].
    pub name: Option<&'a str>,
    /// One folder that is searched besides the root (long or 8.3 name), e.g. `FIRMWARE`.
    pub folder: Option<&'a str>,
    /// Extensions (without the dot) a scan accepts, in priority order.
    pub extensions: &'a [&'a str],
}

impl<'a> FindOptions<'a> {
    /// Extensions of upgrade images, in the order a scan prefers them: a `.dup` package is the
    /// normal upgrade; a lone `.elf` is a loader or an ELF-only image.
    pub const IMAGE_EXTENSIONS: &'static [&'static str] = &["dup", "elf"];
    /// Extensions of loader files (`updater.elf`, `mtools.elf`).
    pub const LOADER_EXTENSIONS: &'static [&'static str] = &["elf"];

    /// Scan the root for an upgrade image.
    pub const fn image() -> Self {
        Self {
            name: None,
            folder: None,
            extensions: Self::IMAGE_EXTENSIONS,
        }
    }

    /// Look for the file called `name` (long or 8.3 name).
    pub const fn named(name: &'a str) -> Self {
        Self {
            name: Some(name),
            folder: None,
            extensions: Self::IMAGE_EXTENSIONS,
        }
    }

    /// Also search `folder`.
    pub const fn in_folder(mut self, folder: &'a str) -> Self {
        self.folder = Some(folder);
        self
    }
}

/// One directory entry as the selector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'n> {
    /// The long name, when the file system has one.
    pub long_name: Option<&'n str>,
    /// The 8.3 name as `NAME.EXT` (on a host file system: the name itself).
    pub short_name: &'n str,
    /// Size in bytes.
    pub size: u32,
    /// A directory (never selected).
    pub is_dir: bool,
    /// Hidden, system or volume-label entry (never selected, not listed).
    pub hidden: bool,
    /// Where the entry is.
    pub place: Place,
}

impl Entry<'_> {
    /// The name users know the file by.
    pub fn display_name(&self) -> &str {
        self.long_name.unwrap_or(self.short_name)
    }
}

/// The chosen file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its long name (or 8.3 name when it has none).
    pub name: Name,
    /// Its 8.3 name (`NAME.EXT`), which opens it on a FAT card.
    pub short_name: heapless::String<12>,
    /// Its size in bytes.
    pub size: u32,
    /// Where it is.
    pub place: Place,
}

/// Names kept for an error message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList {
    /// The first [`MAX_LISTED`] names.
    pub names: heapless::Vec<Name, MAX_LISTED>,
    /// How many more there were.
    pub more: u16,
}

impl NameList {
    /// Adds `name` (or counts it when the list is full).
    pub fn push(&mut self, name: &str) {
        if self.names.push(name_of(name)).is_err() {
            self.more = self.more.saturating_add(1);
        }
    }

    /// Total number of names seen.
    pub fn len(&self) -> usize {
        self.names.len() + usize::from(self.more)
    }

    /// `true` when no name was seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no files");
        }
        for (i, n) in self.names.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{n}`")?;
        }
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        Ok(())
    }
}

/// Why no single image file could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindProblem {
    /// The named file, or any file with an accepted extension, is not there.
    NotFound {
        /// The name asked for (`None` for a scan).
        wanted: Option<Name>,
        /// The folder searched besides the root, if any.
        folder: Option<Name>,
        /// The files that are there.
        seen: NameList,
    },
    /// The configured folder does not exist.
    FolderNotFound {
        /// The folder asked for.
        folder: Name,
        /// The folders that are in the root.
        seen: NameList,
    },
    /// More than one file qualifies.
    Ambiguous {
        /// The extension (scan) or name that several files matched.
        matched: Name,
        /// The candidates.
        candidates: NameList,
    },
    /// The chosen file holds no bytes.
    Empty {
        /// The file.
        name: Name,
    },
    /// The chosen file is too short to be any image.
    Truncated {
        /// The file.
        name: Name,
        /// Its size.
        size: u32,
        /// The least an image can be ([`MIN_IMAGE_LEN`]).
        minimum: u32,
    },
}

impl fmt::Display for FindProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound {
                wanted,
                folder,
                seen,
            } => {
                match wanted {
                    Some(w) => write!(f, "no file named `{w}` in the root")?,
                    None => f.write_str("no .dup or .elf firmware file in the root")?,
                }
                if let Some(folder) = folder {
                    write!(f, " or in `{folder}/`")?;
                }
                write!(
                    f,
                    "; the card holds {seen}. Copy the firmware file to the card's root (the name \
                     may be long), or give its exact name"
                )
            }
            Self::FolderNotFound { folder, seen } => write!(
                f,
                "no folder `{folder}` in the root (folders there: {seen}); create it and put the \
                 firmware in it, or leave the folder setting empty to use the root"
            ),
            Self::Ambiguous {
                matched,
                candidates,
            } => write!(
                f,
                "{} files match {matched}: {candidates}; give the name of the one to flash, or \
                 remove the others from the card",
                candidates.len()
            ),
            Self::Empty { name } => write!(
                f,
                "`{name}` is empty (0 bytes): the copy to the card failed or was cut short; copy \
                 the file again and eject the card safely before removing it"
            ),
            Self::Truncated {
                name,
                size,
                minimum,
            } => write!(
                f,
                "`{name}` is only {size} bytes, shorter than any firmware image ({minimum} bytes at \
                 least): the copy was cut short or this is not the firmware file; copy it again"
            ),
        }
    }
}

impl core::error::Error for FindProblem {}

/// Picks the image from directory entries offered one at a time.
#[derive(Debug)]
pub struct Selector<'a> {
    options: FindOptions<'a>,
    /// Best priority seen so far (index into `extensions`; 0 for a name match).
    best_rank: Option<usize>,
    first: Option<Found>,
    candidates: NameList,
    seen: NameList,
}

impl<'a> Selector<'a> {
    /// A selector for `options`.
    pub fn new(options: FindOptions<'a>) -> Self {
        Self {
            options,
            best_rank: None,
            first: None,
            candidates: NameList::default(),
            seen: NameList::default(),
        }
    }

    /// Looks at one entry.
    pub fn offer(&mut self, entry: &Entry<'_>) {
        let _ = self.offer_tracked(entry);
    }

    /// Looks at one entry; `true` when it became the selector's current choice (callers that
    /// need more than [`Found`] to open the file keep their own handle for it).
    pub fn offer_tracked(&mut self, entry: &Entry<'_>) -> bool {
        if entry.is_dir || entry.hidden || is_resource_fork(entry.display_name()) {
            return false;
        }
        self.seen.push(entry.display_name());
        let Some(rank) = self.rank(entry) else {
            return false;
        };
        match self.best_rank {
            Some(best) if rank > best => false,
            Some(best) if rank == best => {
                self.candidates.push(entry.display_name());
                false
            }
            _ => {
                self.best_rank = Some(rank);
                self.candidates = NameList::default();
                self.candidates.push(entry.display_name());
                self.first = Some(Found {
                    name: name_of(entry.display_name()),
                    short_name: short_of(entry.short_name),
                    size: entry.size,
                    place: entry.place,
                });
                true
            }
        }
    }

    /// The verdict: exactly one file, non-empty and long enough to be an image.
    pub fn finish(self) -> Result<Found, FindProblem> {
        let Some(found) = self.first else {
            return Err(FindProblem::NotFound {
                wanted: self.options.name.map(name_of),
                folder: self.options.folder.map(name_of),
                seen: self.seen,
            });
        };
        if self.candidates.len() > 1 {
            let matched = match (self.options.name, self.best_rank) {
                (Some(n), _) => name_of(n),
                (None, Some(rank)) => {
                    let ext = self.options.extensions.get(rank).copied().unwrap_or("");
                    let mut m = Name::new();
                    let _ = m.push_str("*.");
                    let _ = m.push_str(ext);
                    m
                }
                (None, None) => Name::new(),
            };
            return Err(FindProblem::Ambiguous {
                matched,
                candidates: self.candidates,
            });
        }
        if found.size == 0 {
            return Err(FindProblem::Empty { name: found.name });
        }
        if found.size < MIN_IMAGE_LEN {
            return Err(FindProblem::Truncated {
                name: found.name,
                size: found.size,
                minimum: MIN_IMAGE_LEN,
            });
        }
        Ok(found)
    }

    /// Priority of `entry` (lower is better), `None` when it does not qualify.
    fn rank(&self, entry: &Entry<'_>) -> Option<usize> {
        match self.options.name {
            Some(wanted) => {
                let hit = entry
                    .long_name
                    .is_some_and(|l| l.eq_ignore_ascii_case(wanted))
                    || entry.short_name.eq_ignore_ascii_case(wanted);
                hit.then_some(0)
            }
            None => {
                let ext = extension(entry.display_name())?;
                self.options
                    .extensions
                    .iter()
                    .position(|e| e.eq_ignore_ascii_case(ext))
            }
        }
    }
}

/// `true` when `name` matches `folder` as a long or 8.3 name (ASCII case ignored).
pub fn folder_matches(folder: &str, long_name: Option<&str>, short_name: &str) -> bool {
    long_name.is_some_and(|l| l.eq_ignore_ascii_case(folder))
        || short_name.eq_ignore_ascii_case(folder)
}

fn extension(name: &str) -> Option<&str> {
    name.rsplit_once('.').map(|(_, ext)| ext)
}

/// macOS writes `._NAME` AppleDouble files next to every file it copies to a FAT card.
fn is_resource_fork(name: &str) -> bool {
    name.starts_with("._")
}

fn short_of(s: &str) -> heapless::String<12> {
    let mut out = heapless::String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'n>(long: &'n str, short: &'n str, size: u32) -> Entry<'n> {
        Entry {
            long_name: Some(long),
            short_name: short,
            size,
            is_dir: false,
            hidden: false,
            place: Place::Root,
        }
    }

    fn select(options: FindOptions<'_>, entries: &[Entry<'_>]) -> Result<Found, FindProblem> {
        let mut s = Selector::new(options);
        for e in entries {
            s.offer(e);
        }
        s.finish()
    }

    const CARD: &[Entry<'static>] = &[
        Entry {
            long_name: Some("System Volume Information"),
            short_name: "SYSTEM~1",
            size: 0,
            is_dir: true,
            hidden: true,
            place: Place::Root,
        },
        Entry {
            long_name: Some("._GM02RB6Q_LR8.0.5.13-59577.dup"),
            short_name: "_GM02R~1.DUP",
            size: 4096,
            is_dir: false,
            hidden: false,
            place: Place::Root,
        },
        Entry {
            long_name: Some("GM02RB6Q_LR8.0.5.13-59577.dup"),
            short_name: "GM02RB~1.DUP",
            size: 7_020_424,
            is_dir: false,
            hidden: false,
            place: Place::Root,
        },
        Entry {
            long_name: Some("updater-37781.elf"),
            short_name: "UPDATE~1.ELF",
            size: 300_000,
            is_dir: false,
            hidden: false,
            place: Place::Root,
        },
        Entry {
            long_name: None,
            short_name: "README.TXT",
            size: 100,
            is_dir: false,
            hidden: false,
            place: Place::Root,
        },
    ];

    #[test]
    fn scan_prefers_dup_and_skips_resource_forks() {
        let f = select(FindOptions::image(), CARD).unwrap();
        assert_eq!(f.name, "GM02RB6Q_LR8.0.5.13-59577.dup");
        assert_eq!(f.short_name, "GM02RB~1.DUP");
        assert_eq!(f.size, 7_020_424);
    }

    #[test]
    fn names_match_long_or_short_in_any_case() {
        for wanted in [
            "gm02rb6q_lr8.0.5.13-59577.DUP",
            "GM02RB~1.DUP",
            "gm02rb~1.dup",
        ] {
            let f = select(FindOptions::named(wanted), CARD).unwrap();
            assert_eq!(f.short_name, "GM02RB~1.DUP", "{wanted}");
        }
        let loader = FindOptions {
            extensions: FindOptions::LOADER_EXTENSIONS,
            ..FindOptions::image()
        };
        assert_eq!(select(loader, CARD).unwrap().name, "updater-37781.elf");
    }

    #[test]
    fn not_found_lists_what_is_there() {
        let err = select(FindOptions::named("CATM1-38638.dup"), CARD).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no file named `CATM1-38638.dup`")
                && text.contains("`GM02RB6Q_LR8.0.5.13-59577.dup`")
                && text.contains("`README.TXT`")
                && !text.contains("._GM02")
                && !text.contains("System Volume"),
            "{text}"
        );
    }

    #[test]
    fn two_candidates_are_named() {
        let mut entries = CARD.to_vec();
        entries.push(file(
            "upgdiff_33080-to-39529.dup",
            "UPGDIF~1.DUP",
            2_000_000,
        ));
        let err = select(FindOptions::image(), &entries).unwrap_err();
        assert!(matches!(err, FindProblem::Ambiguous { .. }));
        let text = err.to_string();
        assert!(
            text.starts_with("2 files match *.dup")
                && text.contains("`GM02RB6Q_LR8.0.5.13-59577.dup`")
                && text.contains("`upgdiff_33080-to-39529.dup`"),
            "{text}"
        );
    }

    #[test]
    fn same_name_in_root_and_folder_is_ambiguous() {
        let mut in_folder = file("CATM1-38638.dup", "CATM1-~1.DUP", 5_996_938);
        in_folder.place = Place::Folder;
        let root = file("CATM1-38638.dup", "CATM1-~1.DUP", 5_996_938);
        let err = select(
            FindOptions::named("CATM1-38638.dup").in_folder("FW"),
            &[root, in_folder],
        )
        .unwrap_err();
        assert!(matches!(err, FindProblem::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn empty_and_truncated_files_are_refused() {
        let err = select(FindOptions::image(), &[file("a.dup", "A.DUP", 0)]).unwrap_err();
        assert_eq!(
            err,
            FindProblem::Empty {
                name: name_of("a.dup")
            }
        );
        let err = select(FindOptions::image(), &[file("a.dup", "A.DUP", 10)]).unwrap_err();
        assert!(err.to_string().contains("only 10 bytes"), "{err}");
    }

    #[test]
    fn lists_are_bounded_and_names_cut_safely() {
        let mut s = Selector::new(FindOptions::named("x.dup"));
        for _ in 0..100 {
            s.offer(&file("a.bin", "A.BIN", 1));
        }
        let FindProblem::NotFound { seen, .. } = s.finish().unwrap_err() else {
            panic!("expected NotFound");
        };
        assert_eq!((seen.names.len(), seen.more), (MAX_LISTED, 94));
        assert!(seen.to_string().ends_with("and 94 more"));
        let long = "é".repeat(100);
        let cut = name_of(&long);
        assert!(cut.ends_with('…') && cut.len() <= NAME_CAP);
    }
}
