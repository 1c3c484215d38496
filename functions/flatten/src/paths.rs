//! Path rules: which flattened names are kept, left out, kept as JSON text, renamed or
//! exploded. A path is the flattened name of a member (normalised segments joined with the
//! separator); the walker applies these rules outside arrays (top-level members) only.

use crate::options::{ArrayMode, FlattenOptions};
use rustc_hash::FxHashMap;

/// The path options compiled to bytes.
#[derive(Debug)]
pub(crate) struct PathRules {
    pub sep: Vec<u8>,
    include: Vec<Vec<u8>>,
    exclude: Vec<Vec<u8>>,
    json_paths: Vec<Vec<u8>>,
    renames: FxHashMap<Vec<u8>, Vec<u8>>,
    /// Only with [`ArrayMode::Explode`].
    explode_path: Option<Vec<u8>>,
}

impl PathRules {
    pub fn new(opts: &FlattenOptions) -> Self {
        let bytes = |list: &[String]| {
            list.iter()
                .map(|s| s.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        Self {
            sep: opts.separator.as_bytes().to_vec(),
            include: bytes(&opts.include),
            exclude: bytes(&opts.exclude),
            json_paths: bytes(&opts.json_paths),
            renames: opts
                .renames
                .iter()
                .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
                .collect(),
            explode_path: match opts.array_mode {
                ArrayMode::Explode => opts.explode_path.as_ref().map(|p| p.as_bytes().to_vec()),
                _ => None,
            },
        }
    }

    #[inline]
    pub fn excluded(&self, path: &[u8]) -> bool {
        self.exclude.iter().any(|p| under(path, p, &self.sep))
    }

    /// With an allow-list: keep a leaf only if it is at or below an allowed path.
    #[inline]
    pub fn allowed_leaf(&self, path: &[u8]) -> bool {
        self.include.is_empty() || self.include.iter().any(|p| under(path, p, &self.sep))
    }

    /// With an allow-list: descend into an object if an allowed path is at, below or above it.
    #[inline]
    pub fn allowed_descend(&self, path: &[u8]) -> bool {
        self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| under(path, p, &self.sep) || under(p, path, &self.sep))
    }

    /// Whether the subtree at `path` is kept as one JSON string.
    #[inline]
    pub fn json_path(&self, path: &[u8]) -> bool {
        self.json_paths.iter().any(|p| p.as_slice() == path)
    }

    /// The configured new name of `path`. (Checking emptiness first saves hashing every key
    /// when there are no renames.)
    #[inline]
    pub fn rename(&self, path: &[u8]) -> Option<&Vec<u8>> {
        (!self.renames.is_empty())
            .then(|| self.renames.get(path))
            .flatten()
    }

    /// Whether `path` is the array to explode.
    #[inline]
    pub fn explode_at(&self, path: &[u8]) -> bool {
        self.explode_path.as_deref() == Some(path)
    }

    /// The explode path (empty without one).
    pub fn explode_path(&self) -> &[u8] {
        self.explode_path.as_deref().unwrap_or_default()
    }
}

/// Whether `path` is `prefix` or below it (on a separator boundary).
fn under(path: &[u8], prefix: &[u8], sep: &[u8]) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len() || path[prefix.len()..].starts_with(sep))
}

/// Append the separator to a path.
#[inline]
pub(crate) fn push_separator(path: &mut Vec<u8>, sep: &[u8]) {
    // The usual one-byte separator without a call to memcpy.
    match sep {
        [byte] => path.push(*byte),
        sep => path.extend_from_slice(sep),
    }
}
