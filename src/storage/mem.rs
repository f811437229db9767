//! An image held in memory (tests, simulators, images in MCU flash).

use super::ImageSource;

/// A byte slice as an [`ImageSource`].
///
/// Slices longer than `u32::MAX` bytes are seen as their first `u32::MAX` bytes.
#[derive(Debug, Clone, Copy)]
pub struct MemImage<'a> {
    bytes: &'a [u8],
}

impl<'a> MemImage<'a> {
    /// Wraps `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let len = bytes.len().min(u32::MAX as usize);
        Self {
            bytes: bytes.get(..len).unwrap_or_default(),
        }
    }

    /// The wrapped bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl ImageSource for MemImage<'_> {
    type Error = core::convert::Infallible;

    fn len(&self) -> u32 {
        // `new` caps the slice at u32::MAX bytes.
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }

    fn read_at(&mut self, offset: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(avail) = self.bytes.get(start..) else {
            return Ok(0);
        };
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ReadExactError, read_exact_at};

    #[test]
    fn reads_are_positional_and_bounded() {
        let data = [1u8, 2, 3, 4, 5];
        let mut img = MemImage::new(&data);
        let mut buf = [0u8; 3];
        assert_eq!(img.read_at(3, &mut buf), Ok(2));
        assert_eq!(&buf[..2], &[4, 5]);
        assert_eq!(img.read_at(5, &mut buf), Ok(0));
        assert_eq!(img.read_at(u32::MAX, &mut buf), Ok(0));
        assert_eq!(read_exact_at(&mut img, 1, &mut buf), Ok(()));
        assert_eq!(buf, [2, 3, 4]);
        assert_eq!(
            read_exact_at(&mut img, 4, &mut buf),
            Err(ReadExactError::UnexpectedEnd { offset: 5 })
        );
    }
}
