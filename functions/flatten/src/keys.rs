//! Key normalisation: what a key segment becomes in a path (lowercase `[a-z0-9_]`, a
//! leading digit prefixed), and the length cap on final keys.

/// What each input byte of a key becomes when normalised: `[a-z0-9_]` kept, `A-Z`
/// lowercased, anything else `_` — except UTF-8 continuation bytes (0 = left out), which
/// belong to a character already replaced.
static NORMAL_KEY_BYTE: [u8; 256] = {
    let mut table = [b'_'; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'_' => byte,
            b'A'..=b'Z' => byte.to_ascii_lowercase(),
            0x80..=0xbf => 0,
            _ => b'_',
        };
        b += 1;
    }
    table
};

/// Append the key segment `key` (decoded) to `path`, normalised: every byte mapped by
/// [`NORMAL_KEY_BYTE`], an empty result becomes `_`, and when the segment starts the path
/// (`at_start`) a leading digit gets `digit_prefix` in front.
#[inline]
pub(crate) fn push_normalized(path: &mut Vec<u8>, key: &[u8], at_start: bool, digit_prefix: &[u8]) {
    let segment_start = path.len();
    // One table lookup per byte (an exact-length extend, no per-byte capacity check);
    // the left-out bytes (0) only occur in non-ASCII keys and are squeezed out after.
    path.extend(key.iter().map(|&b| NORMAL_KEY_BYTE[b as usize]));
    if !key.is_ascii() {
        let mut end = segment_start;
        for i in segment_start..path.len() {
            if path[i] != 0 {
                path[end] = path[i];
                end += 1;
            }
        }
        path.truncate(end);
    }
    if path.len() == segment_start {
        path.push(b'_');
    }
    if at_start && path[0].is_ascii_digit() {
        path.splice(0..0, digit_prefix.iter().copied());
    }
}

/// Cap a key at `max` bytes: keep a prefix and append `_` + 8 hex digits of a hash of the
/// whole key, so distinct long keys stay distinct and the result is deterministic.
pub(crate) fn cap_key(key: &mut Vec<u8>, max: usize) {
    let mut fnv: u32 = 0x811c9dc5;
    for &b in key.iter() {
        fnv ^= b as u32;
        fnv = fnv.wrapping_mul(0x01000193);
    }
    key.truncate(max - 9);
    key.extend_from_slice(format!("_{fnv:08x}").as_bytes());
}
