//! Watched fields and drop rules: they look at scalar values of top-level members as they
//! are written.

use super::{Flattener, Value};
use crate::scan::unescape;

impl Flattener {
    /// Whether members of key index `level` are looked at by watched fields or drop rules.
    #[inline]
    pub(super) fn observes(&self, level: usize) -> bool {
        level == 0 && (!self.opts.watch.is_empty() || !self.opts.drop_rules.is_empty())
    }

    /// Watched fields and drop rules look at scalar values of top-level members.
    pub(super) fn observe(&mut self, key: &[u8], value: &Value) {
        // Most members are neither watched nor in a drop rule: compare names before
        // decoding anything.
        let watched = self.capture && self.opts.watch.iter().any(|f| f.as_slice() == key);
        if !watched
            && !self
                .opts
                .drop_rules
                .iter()
                .any(|(f, _)| f.as_slice() == key)
        {
            return;
        }
        let decoded: Option<Vec<u8>> = match value {
            Value::Raw(raw) if raw.first() == Some(&b'"') => {
                let mut text = Vec::with_capacity(raw.len());
                unescape(&raw[1..raw.len() - 1], &mut text);
                Some(text)
            }
            Value::Raw(raw)
                if *raw == b"null" || raw.first().is_some_and(|b| *b == b'{' || *b == b'[') =>
            {
                None
            }
            Value::Raw(raw) => Some(raw.to_vec()),
            Value::Text(text) => Some(text.to_vec()),
        };
        let Some(decoded) = decoded else { return };
        if self.capture {
            for (i, field) in self.opts.watch.iter().enumerate() {
                if field.as_slice() == key && self.summary.watched[i].is_none() {
                    self.summary.watched[i] = Some(String::from_utf8_lossy(&decoded).into_owned());
                }
            }
        }
        if self
            .opts
            .drop_rules
            .iter()
            .any(|(f, v)| f.as_slice() == key && *v == decoded)
        {
            self.drop_hit = true;
        }
    }
}
