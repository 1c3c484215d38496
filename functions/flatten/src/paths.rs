//! Path rules: which flattened names are kept, left out, kept as JSON text, renamed or
//! exploded. A path is the flattened name of a member (normalised segments joined with the
//! separator); the walker applies these rules outside arrays (top-level members) only.

use rustc_hash::FxHashMap;

/// The path options compiled to bytes (built by the options' compiled form, so this module
/// needs nothing from `options`).
#[derive(Debug)]
pub(crate) struct PathRules {
    pub sep: Vec<u8>,
    pub include: Vec<Vec<u8>>,
    pub exclude: Vec<Vec<u8>>,
    pub json_paths: Vec<Vec<u8>>,
    pub renames: FxHashMap<Vec<u8>, Vec<u8>>,
    /// Only with the explode array mode.
    pub explode_path: Option<Vec<u8>>,
}

impl PathRules {
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
