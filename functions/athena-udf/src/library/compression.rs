//! `compress` / `decompress`, byte-compatible with athena-udfs: zlib (level 6, zlib
//! header, adler32 trailer — `java.util.zip.Deflater()` defaults) and padded standard
//! base64. Identical bytes need madler zlib's deflate, hence flate2's C zlib backend.

use super::JAVA_DECODER;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("input is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("input is not a zlib stream: {0}")]
    Zlib(#[from] flate2::DecompressError),
    #[error("input is truncated (the zlib stream does not end)")]
    Truncated,
    #[error("zlib stream needs a preset dictionary, which decompress does not take")]
    NeedsDictionary,
    #[error("deflate failed: {0}")]
    Deflate(#[from] flate2::CompressError),
}

/// `compress(varchar) -> varchar`: UTF-8 bytes → zlib level 6 → base64.
pub fn compress(text: Option<&str>) -> Result<Option<String>, CompressionError> {
    let Some(text) = text else { return Ok(None) };
    Ok(Some(STANDARD.encode(zlib(text.as_bytes())?)))
}

thread_local! {
    // zlib's deflate state is ~256 KiB; allocating and clearing it per row would dominate
    // (measured: ~5x slower). deflateReset keeps the level, window and strategy.
    static DEFLATER: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(6), true));
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(true));
}

fn zlib(input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    DEFLATER.with(|cell| {
        let mut deflater = cell.borrow_mut();
        deflater.reset();
        deflate(&mut deflater, input)
    })
}

fn deflate(deflater: &mut Compress, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    // deflateBound-like headroom so one call normally finishes.
    let mut out = Vec::with_capacity(input.len() + input.len() / 1000 + 64);
    loop {
        let consumed = deflater.total_in() as usize;
        let status = deflater.compress_vec(&input[consumed..], &mut out, FlushCompress::Finish)?;
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => out.reserve(out.capacity().max(64)),
        }
    }
}

/// `decompress(varchar) -> varchar`: base64 → zlib inflate → UTF-8 (invalid sequences
/// become U+FFFD, as Java's `new String(bytes)` does). Bytes after the end of the
/// stream are ignored, as `java.util.zip.Inflater` does.
pub fn decompress(text: Option<&str>) -> Result<Option<String>, CompressionError> {
    let Some(text) = text else { return Ok(None) };
    let input = JAVA_DECODER.decode(text)?;
    INFLATER.with(|cell| {
        let mut inflater = cell.borrow_mut();
        inflater.reset(true);
        inflate(&mut inflater, &input).map(Some)
    })
}

fn inflate(inflater: &mut Decompress, input: &[u8]) -> Result<String, CompressionError> {
    let mut out = Vec::with_capacity(input.len() * 4 + 64);
    loop {
        let consumed = inflater.total_in() as usize;
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| {
                if e.needs_dictionary().is_some() {
                    CompressionError::NeedsDictionary
                } else {
                    CompressionError::Zlib(e)
                }
            })?;
        match status {
            Status::StreamEnd => break,
            _ if out.len() == out.capacity() => out.reserve(out.capacity()),
            _ if (inflater.total_in(), inflater.total_out()) == before => {
                return Err(CompressionError::Truncated)
            }
            _ => {}
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_matches_java_util_zip_on_the_athena_udfs_vector() {
        assert_eq!(
            compress(Some("StringToBeCompressed")).unwrap().as_deref(),
            Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==")
        );
        assert_eq!(
            decompress(Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w=="))
                .unwrap()
                .as_deref(),
            Some("StringToBeCompressed")
        );
    }

    #[test]
    fn round_trips_large_and_unicode_text_and_nulls() {
        let big: String = "Zürich → Tōkyō, ".repeat(50_000);
        for text in ["", "a", "ünïcødé 🚀", big.as_str()] {
            let packed = compress(Some(text)).unwrap().unwrap();
            assert_eq!(decompress(Some(&packed)).unwrap().as_deref(), Some(text));
        }
        assert_eq!(compress(None).unwrap(), None);
        assert_eq!(decompress(None).unwrap(), None);
        // Padding is optional on input, trailing bytes after the stream are ignored.
        assert_eq!(
            decompress(Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w"))
                .unwrap()
                .as_deref(),
            Some("StringToBeCompressed")
        );
        let mut with_tail = JAVA_DECODER
            .decode("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9w==")
            .unwrap();
        with_tail.extend_from_slice(b"junk");
        assert_eq!(
            decompress(Some(&STANDARD.encode(with_tail)))
                .unwrap()
                .as_deref(),
            Some("StringToBeCompressed")
        );
        // Non-zero bits after the last byte are ignored, as java.util.Base64 does
        // ('w' and 'x' differ only there).
        assert_eq!(
            decompress(Some("eJwLLinKzEsPyXdKdc7PLShKLS5OTQEAUrEH9x=="))
                .unwrap()
                .as_deref(),
            Some("StringToBeCompressed")
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let cases = [
            // The athena-udfs test inputs. java.util.Base64 decodes the first (37 bytes, its
            // last bits ignored); it fails at the zlib header there too.
            (
                "jklasdfjklasdjfklasdjfklasdjklfjasdklfjasdklfjasdk",
                "input is not a zlib stream",
            ),
            ("78 da 0b 2e 29 ca cc 4b", "input is not base64"),
            ("", "input is truncated"),
            // Valid base64, not zlib.
            ("aGVsbG8gd29ybGQ=", "input is not a zlib stream"),
            // The vector with its last 6 bytes cut.
            ("eJwLLinKzEsPyXdKdc7PLShKLS5O", "input is truncated"),
        ];
        for (input, expected) in cases {
            let err = decompress(Some(input)).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{input:?}: {err}");
        }
    }
}
