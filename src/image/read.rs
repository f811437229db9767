//! Bounded positional reads shared by the container, flash-image and ELF checks.

use super::problem::{ContainerRef, Problem, ProblemKind};
use crate::storage::{ImageSource, ReadExactError, read_exact_at};

/// Why a check stopped: the source failed (abort everything) or the image is malformed.
#[derive(Debug)]
pub(crate) enum Fail<E> {
    Io(E),
    Bad(Problem),
}

pub(crate) type Checked<T, E> = Result<T, Fail<E>>;

/// A problem at `offset`, optionally inside `container`.
pub(crate) fn bad<T, E>(
    offset: u32,
    container: Option<&ContainerRef>,
    kind: ProblemKind,
) -> Checked<T, E> {
    Err(Fail::Bad(Problem {
        offset,
        container: container.cloned(),
        kind,
    }))
}

/// Reads exactly `N` bytes at `offset`; a short source becomes [`ProblemKind::SourceEnded`].
pub(crate) fn read_array<S: ImageSource, const N: usize>(
    src: &mut S,
    offset: u32,
) -> Checked<[u8; N], S::Error> {
    let mut out = [0u8; N];
    read_into(src, offset, &mut out)?;
    Ok(out)
}

/// Fills `buf` from `offset`; a short source becomes [`ProblemKind::SourceEnded`].
pub(crate) fn read_into<S: ImageSource>(
    src: &mut S,
    offset: u32,
    buf: &mut [u8],
) -> Checked<(), S::Error> {
    match read_exact_at(src, offset, buf) {
        Ok(()) => Ok(()),
        Err(ReadExactError::Source(e)) => Err(Fail::Io(e)),
        Err(ReadExactError::UnexpectedEnd { offset: at }) => {
            bad(at, None, ProblemKind::SourceEnded { at })
        }
    }
}

/// `N` bytes at `at` of a header array (zeros if out of range, which the callers' constant offsets
/// never are).
pub(crate) fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

/// Little-endian `u16` at `at` of a header array.
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes_at(b, at))
}

/// Little-endian `u32` at `at` of a header array.
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, at))
}
