//! The walker: one pass over the input with a [`Scanner`], writing flattened members
//! straight to the output.
//!
//! Invariants every walker function keeps:
//!
//! - **The path buffer.** `path` holds the flattened name of the value being walked:
//!   entering a member or an indexed element pushes its segment (after the separator unless
//!   it starts the path), and the caller truncates back to the prefix length once the value
//!   is done, so every function leaves `path` as it found it. An object inside a kept
//!   array starts from an empty path (its names are its own) and the outer path is put
//!   back after it.
//! - **One key index per level.** `indexes[level]` holds the keys of one output object:
//!   level 0 is the line's object, level n + 1 an object inside a kept array at level n.
//!   Nested objects that are flattened into their parent write into the parent's level, so
//!   `level` counts output objects while `depth` counts input nesting (for `max_depth`).
//!   An index is reset when its object opens (`{` written at `object_start`) and is reused
//!   across objects and calls, so flattening allocates nothing per key. Every member of a
//!   level is recorded with the byte span it occupies in `out`.
//! - **Holes.** Under `Collision::Last` the replaced member stays in `out` until its object
//!   closes: its span is recorded as a hole, the index entry moves to the replacement, and
//!   `close_object` cuts the holes out (and a leading comma left behind) and shifts the
//!   index's positions to the compacted bytes — explode copies the object by them.
//! - **Errors.** Internal results are [`Fallible`] (boxed error). A failure abandons the
//!   call: [`Flattener::flatten`] truncates `out` back to where it started, and the next
//!   call resets all per-call state.

mod explode;
mod observe;

use crate::error::{Fallible, FlattenError};
use crate::key_index::{hash_key, KeyBytes, KeyIndex};
use crate::keys::{cap_key, push_normalized};
use crate::options::{ArrayMode, Collision, Compiled, FlattenOptions, NonObject};
use crate::paths::push_separator;
use crate::scan::{unescape, write_json_string, Scanner};

/// What one flattening call produced besides the output bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlattenSummary {
    /// Output lines (objects, or exploded elements), after drops.
    pub lines: usize,
    /// Objects removed by drop rules.
    pub dropped: usize,
    /// Keys renamed (`suffix`), skipped (`first`) or replaced (`last`) on collision.
    pub collisions: usize,
    /// Values of the watched fields in the first object (strings decoded; `None` if absent or null).
    pub watched: Vec<Option<String>>,
}

/// A value to write for a member.
enum Value<'v> {
    /// Valid compact JSON (a copied scalar, `{}`, `[]`, a minified subtree).
    Raw(&'v [u8]),
    /// Bytes to write as a JSON string.
    Text(&'v [u8]),
}

pub struct Flattener {
    opts: Compiled,
    // Reused buffers.
    path: Vec<u8>,
    key: Vec<u8>,
    candidate: Vec<u8>,
    scratch: Vec<u8>,
    indexes: Vec<KeyIndex>,
    /// Where a left-out member's value is scanned (`Collision::First`).
    discarded: Vec<u8>,
    // Per-call state.
    summary: FlattenSummary,
    capture: bool,
    drop_hit: bool,
    /// The span of the line's array to explode, once found; while it is set no other array
    /// is taken for it (also while its elements are flattened).
    explode_span: Option<(usize, usize)>,
}

/// Write the start of a member, `"key":` (after a comma unless it is the object's first),
/// and say where its key's bytes can be compared later: in `out` when written verbatim
/// (`plain_key`: nothing in it needs escaping), else to be copied. Always inlined: it is
/// the per-member hot path (an out-of-line call measured ~7% slower flattening).
#[inline(always)]
fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &[u8], plain_key: bool) -> KeyBytes {
    if !*first {
        out.push(b',');
    }
    *first = false;
    if plain_key {
        out.reserve(key.len() + 3);
        out.push(b'"');
        let key_start = out.len();
        out.extend_from_slice(key);
        out.extend_from_slice(b"\":");
        KeyBytes::InOutput(key_start)
    } else {
        write_json_string(out, key);
        out.push(b':');
        KeyBytes::Copy
    }
}

#[inline(always)]
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Raw(raw) => out.extend_from_slice(raw),
        Value::Text(text) => write_json_string(out, text),
    }
}

impl Flattener {
    /// A flattener for these options (validated and compiled here, once).
    pub fn new(opts: FlattenOptions) -> Result<Self, FlattenError> {
        Ok(Self {
            opts: Compiled::new(&opts)?,
            path: Vec::new(),
            key: Vec::new(),
            candidate: Vec::new(),
            scratch: Vec::new(),
            indexes: Vec::new(),
            discarded: Vec::new(),
            summary: FlattenSummary::default(),
            capture: false,
            drop_hit: false,
            explode_span: None,
        })
    }

    /// Flatten `input` (one JSON value, or several when `multi_json`) and append the result
    /// to `out`: one compact object per line.
    pub fn flatten(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<FlattenSummary, FlattenError> {
        self.summary = FlattenSummary {
            watched: vec![None; self.opts.watch.len()],
            ..Default::default()
        };
        let out_start = out.len();
        let mut sc = Scanner::new(input);
        let mut values = 0usize;
        let result = (|| {
            while !sc.at_end() {
                if values > 0 && !self.opts.multi_json {
                    return Err(FlattenError::MultipleValues);
                }
                self.capture = values == 0;
                self.line(&mut sc, out).map_err(|e| *e)?;
                values += 1;
            }
            if values == 0 {
                return Err(FlattenError::Empty);
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(std::mem::take(&mut self.summary)),
            Err(e) => {
                out.truncate(out_start);
                // The scanner accepts non-ASCII bytes only in strings, validated there, so
                // any input that is not UTF-8 fails; it is reported as such (at its first
                // invalid byte), whatever the scanner met first.
                Err(match std::str::from_utf8(input) {
                    Err(e) => FlattenError::NotUtf8 {
                        offset: e.valid_up_to(),
                    },
                    Ok(_) => e,
                })
            }
        }
    }

    /// One top-level value → one line (or several when exploding).
    fn line(&mut self, sc: &mut Scanner, out: &mut Vec<u8>) -> Fallible<()> {
        let line_start = out.len();
        self.drop_hit = false;
        self.explode_span = None;
        self.path.clear();
        self.index(0).reset(line_start);
        out.push(b'{');
        match sc.peek() {
            Some(b'{') => {
                sc.pos += 1;
                self.members(sc, out, 1, 0, true)?;
            }
            other => {
                let found = match other {
                    Some(b'[') => "an array",
                    Some(b'"') => "a string",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'n') => "null",
                    _ => "a number",
                };
                if self.opts.non_object == NonObject::Fail {
                    // Still report bad JSON as such.
                    self.scratch.clear();
                    sc.minify_value(&mut self.scratch, 0, self.opts.hard_max_depth)?;
                    return Err(Box::new(FlattenError::NotAnObject { found }));
                }
                let mut value = std::mem::take(&mut self.scratch);
                value.clear();
                sc.minify_value(&mut value, 0, self.opts.hard_max_depth)?;
                self.path.extend_from_slice(b"value");
                let result = self.member(out, 0, Value::Raw(&value));
                self.scratch = value;
                result?;
                self.path.clear();
            }
        }
        self.close_object(out, 0);
        if let Some((start, end)) = self.explode_span {
            self.explode(sc.input, start, end, line_start, out)?;
        } else {
            self.finish_line(line_start, out);
        }
        Ok(())
    }

    fn finish_line(&mut self, line_start: usize, out: &mut Vec<u8>) {
        if self.drop_hit {
            out.truncate(line_start);
            self.summary.dropped += 1;
            self.drop_hit = false;
            return;
        }
        if self.opts.append_newline {
            out.push(b'\n');
        }
        self.summary.lines += 1;
    }

    fn index(&mut self, level: usize) -> &mut KeyIndex {
        while self.indexes.len() <= level {
            self.indexes.push(KeyIndex::default());
        }
        &mut self.indexes[level]
    }

    /// Close the object of key index `level`: remove members replaced under `Collision::Last`.
    fn close_object(&mut self, out: &mut Vec<u8>, level: usize) {
        let index = &mut self.indexes[level];
        if index.has_holes() {
            index.remove_holes(out);
        }
        out.push(b'}');
    }

    /// Object members after `{` (consumed), up to and including `}`. Returns whether the
    /// object was empty.
    /// `at_root`: the members are the first segment of their key index's names (the path is
    /// the index's, not a parent object's; an empty key must not hide that).
    fn members(
        &mut self,
        sc: &mut Scanner,
        out: &mut Vec<u8>,
        depth: usize,
        level: usize,
        at_root: bool,
    ) -> Fallible<bool> {
        sc.skip_ws();
        if sc.peek() == Some(b'}') {
            sc.pos += 1;
            return Ok(true);
        }
        loop {
            sc.skip_ws();
            let (ks, ke, escaped) = sc.string()?;
            sc.expect(b':', "':' after an object key")?;
            let prefix_len = self.path.len();
            self.push_segment(&sc.input[ks..ke], escaped, at_root);
            sc.skip_ws();
            self.value(sc, out, depth, level)?;
            self.path.truncate(prefix_len);
            if !sc.more_elements(b'}')? {
                return Ok(false);
            }
        }
    }

    /// Append a key segment (normalised if configured) to the current path.
    fn push_segment(&mut self, raw: &[u8], escaped: bool, at_start: bool) {
        let key: &[u8] = if escaped {
            self.key.clear();
            unescape(raw, &mut self.key);
            &self.key
        } else {
            raw
        };
        if !at_start {
            push_separator(&mut self.path, &self.opts.paths.sep);
        }
        if !self.opts.normalize_keys {
            self.path.extend_from_slice(key);
            return;
        }
        push_normalized(&mut self.path, key, at_start, &self.opts.digit_prefix);
    }

    /// One member's value. Always inlined (into `members` and `indexed`): a call per member
    /// measured ~7% slower flattening.
    #[inline(always)]
    fn value(
        &mut self,
        sc: &mut Scanner,
        out: &mut Vec<u8>,
        depth: usize,
        level: usize,
    ) -> Fallible<()> {
        let top = level == 0;
        match sc.peek() {
            Some(b'{') => {
                if top
                    && (self.opts.paths.excluded(&self.path)
                        || !self.opts.paths.allowed_descend(&self.path))
                {
                    return self.skip(sc);
                }
                if depth >= self.opts.max_depth || (top && self.opts.paths.json_path(&self.path)) {
                    return self.stringified(sc, out, depth, level);
                }
                sc.pos += 1;
                let empty = self.members(sc, out, depth + 1, level, false)?;
                if empty
                    && self.opts.keep_empty
                    && (!top || self.opts.paths.allowed_leaf(&self.path))
                {
                    self.member(out, level, Value::Raw(b"{}"))?;
                }
                Ok(())
            }
            Some(b'[') => {
                if top
                    && (self.opts.paths.excluded(&self.path)
                        || !self.opts.paths.allowed_leaf(&self.path))
                {
                    return self.skip(sc);
                }
                if top && self.opts.paths.explode_at(&self.path) && self.explode_span.is_none() {
                    let start = sc.pos;
                    self.skip(sc)?;
                    self.explode_span = Some((start, sc.pos));
                    return Ok(());
                }
                if depth >= self.opts.max_depth
                    || self.opts.array_mode == ArrayMode::Json
                    || (top && self.opts.paths.json_path(&self.path))
                {
                    return self.stringified(sc, out, depth, level);
                }
                match self.opts.array_mode {
                    ArrayMode::Index => self.indexed(sc, out, depth, level),
                    _ => self.kept_array(sc, out, depth, level),
                }
            }
            Some(b'"') => {
                let (s, e, _) = sc.string()?;
                if top
                    && (self.opts.paths.excluded(&self.path)
                        || !self.opts.paths.allowed_leaf(&self.path))
                {
                    return Ok(());
                }
                self.member(out, level, Value::Raw(&sc.input[s - 1..=e]))
            }
            Some(b'-' | b'0'..=b'9') => {
                let (s, e) = sc.number()?;
                if top
                    && (self.opts.paths.excluded(&self.path)
                        || !self.opts.paths.allowed_leaf(&self.path))
                {
                    return Ok(());
                }
                self.member(out, level, Value::Raw(&sc.input[s..e]))
            }
            _ => {
                let (s, e) = sc.literal()?;
                let raw = &sc.input[s..e];
                if (raw == b"null" && !self.opts.keep_nulls)
                    || (top
                        && (self.opts.paths.excluded(&self.path)
                            || !self.opts.paths.allowed_leaf(&self.path)))
                {
                    return Ok(());
                }
                self.member(out, level, Value::Raw(raw))
            }
        }
    }

    /// Validate and skip the value at `pos`.
    fn skip(&mut self, sc: &mut Scanner) -> Fallible<()> {
        self.scratch.clear();
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = sc.minify_value(&mut scratch, 0, self.opts.hard_max_depth);
        self.scratch = scratch;
        result
    }

    /// The subtree at `pos` as one JSON string member.
    fn stringified(
        &mut self,
        sc: &mut Scanner,
        out: &mut Vec<u8>,
        depth: usize,
        level: usize,
    ) -> Fallible<()> {
        let mut json = std::mem::take(&mut self.scratch);
        json.clear();
        let result = sc
            .minify_value(&mut json, depth, self.opts.hard_max_depth)
            .and_then(|()| self.member(out, level, Value::Text(&json)));
        self.scratch = json;
        result
    }

    /// If the array at `pos` is empty, consume it (a `[]` member only with keep_empty) and
    /// say so; otherwise leave the scanner where it is.
    #[inline]
    fn empty_array(&mut self, sc: &mut Scanner, out: &mut Vec<u8>, level: usize) -> Fallible<bool> {
        let mut after_open = Scanner::new(sc.input);
        after_open.pos = sc.pos + 1;
        after_open.skip_ws();
        if after_open.peek() != Some(b']') {
            return Ok(false);
        }
        sc.pos = after_open.pos + 1;
        if self.opts.keep_empty {
            self.member(out, level, Value::Raw(b"[]"))?;
        }
        Ok(true)
    }

    fn indexed(
        &mut self,
        sc: &mut Scanner,
        out: &mut Vec<u8>,
        depth: usize,
        level: usize,
    ) -> Fallible<()> {
        if self.empty_array(sc, out, level)? {
            return Ok(());
        }
        sc.pos += 1;
        let prefix_len = self.path.len();
        let mut index = 0usize;
        loop {
            if index >= self.opts.max_array_items {
                return Err(Box::new(FlattenError::TooManyItems {
                    path: String::from_utf8_lossy(&self.path[..prefix_len]).into_owned(),
                    limit: self.opts.max_array_items,
                }));
            }
            push_separator(&mut self.path, &self.opts.paths.sep);
            self.path
                .extend_from_slice(itoa::Buffer::new().format(index).as_bytes());
            sc.skip_ws();
            self.value(sc, out, depth + 1, level)?;
            self.path.truncate(prefix_len);
            index += 1;
            if !sc.more_elements(b']')? {
                return Ok(());
            }
        }
    }

    /// `keep`: the array as an array, objects inside flattened in their own key index.
    fn kept_array(
        &mut self,
        sc: &mut Scanner,
        out: &mut Vec<u8>,
        depth: usize,
        level: usize,
    ) -> Fallible<()> {
        // Looked at before a key is written: an empty array is a member only with keep_empty.
        if self.empty_array(sc, out, level)? {
            return Ok(());
        }
        // Written straight after its key (no copy of the array).
        self.member_with(out, level, None, |this, out| {
            this.array_elements(sc, out, depth + 1, level + 1)
        })
    }

    /// Write the array at `pos` to `out` in keep mode.
    fn array_elements(
        &mut self,
        sc: &mut Scanner,
        out: &mut Vec<u8>,
        depth: usize,
        level: usize,
    ) -> Fallible<()> {
        sc.pos += 1;
        out.push(b'[');
        sc.skip_ws();
        if sc.peek() == Some(b']') {
            sc.pos += 1;
            out.push(b']');
            return Ok(());
        }
        let mut first = true;
        loop {
            if !first {
                out.push(b',');
            }
            first = false;
            sc.skip_ws();
            match sc.peek() {
                Some(b'{') if depth < self.opts.max_depth => {
                    sc.pos += 1;
                    let saved_path = std::mem::take(&mut self.path);
                    let object_start = out.len();
                    self.index(level).reset(object_start);
                    out.push(b'{');
                    let result = self.members(sc, out, depth + 1, level, true);
                    self.path = saved_path;
                    result?;
                    self.close_object(out, level);
                }
                Some(b'[') if depth < self.opts.max_depth => {
                    self.array_elements(sc, out, depth + 1, level)?;
                }
                Some(b'{' | b'[') => {
                    self.scratch.clear();
                    let mut json = std::mem::take(&mut self.scratch);
                    let result = sc.minify_value(&mut json, depth, self.opts.hard_max_depth);
                    if result.is_ok() {
                        write_json_string(out, &json);
                    }
                    self.scratch = json;
                    result?;
                }
                _ => sc.minify_value(out, depth, self.opts.hard_max_depth)?,
            }
            if !sc.more_elements(b']')? {
                out.push(b']');
                return Ok(());
            }
        }
    }

    /// Write member `<final key>: value` into the object of key index `level`. Out of line:
    /// inlined into `value`'s call sites, flattening measured ~10% slower.
    #[inline(never)]
    fn member(&mut self, out: &mut Vec<u8>, level: usize, value: Value) -> Fallible<()> {
        self.member_with(out, level, Some(&value), |_, out| {
            write_value(out, &value);
            Ok(())
        })
    }

    /// Write member `<final key>:` into the object of key index `level`, then its value with
    /// `write_value` (which may scan and write a whole array; it leaves the path as it found
    /// it and does not touch key index `level`). `observed`: the value, for watched fields
    /// and drop rules (scalars).
    #[inline(always)]
    fn member_with<W>(
        &mut self,
        out: &mut Vec<u8>,
        level: usize,
        observed: Option<&Value>,
        write_value: W,
    ) -> Fallible<()>
    where
        W: FnOnce(&mut Self, &mut Vec<u8>) -> Fallible<()>,
    {
        let capped = self.opts.normalize_keys && self.path.len() > self.opts.max_key_bytes;
        if self.rename(level).is_none() && !capped {
            // The common case: the path is the key and is new in its object, so it is
            // written straight from the path, without a copy.
            let hash = hash_key(&self.path);
            let index = &mut self.indexes[level];
            index.reserve_one();
            if let Err(slot) = index.probe(hash, &self.path, out) {
                let member_start = out.len();
                let key_bytes = write_key(out, &mut index.first, &self.path, self.opts.keys_plain);
                write_value(self, out)?;
                self.indexes[level].insert_at(
                    slot,
                    hash,
                    &self.path,
                    key_bytes,
                    member_start,
                    out.len(),
                );
                if let Some(value) = observed {
                    if self.observes(level) {
                        let path = std::mem::take(&mut self.path);
                        self.observe(&path, value);
                        self.path = path;
                    }
                }
                return Ok(());
            }
        }
        self.renamed_or_colliding_member(out, level, observed, write_value)
    }

    /// [`Self::member_with`] for a key that is renamed, length-capped or already in its
    /// object (the rare cases, out of line).
    #[inline(never)]
    fn renamed_or_colliding_member<W>(
        &mut self,
        out: &mut Vec<u8>,
        level: usize,
        observed: Option<&Value>,
        write_value: W,
    ) -> Fallible<()>
    where
        W: FnOnce(&mut Self, &mut Vec<u8>) -> Fallible<()>,
    {
        // The final key: renamed, length-capped, or suffixed on a collision.
        let mut key = std::mem::take(&mut self.candidate);
        key.clear();
        match self.rename(level) {
            Some(renamed) => key.extend_from_slice(renamed),
            None => key.extend_from_slice(&self.path),
        }
        if self.opts.normalize_keys && key.len() > self.opts.max_key_bytes {
            cap_key(&mut key, self.opts.max_key_bytes);
        }
        let mut hash = hash_key(&key);
        let mut replaced = None;
        if let Some(existing) = self.indexes[level].find(hash, &key, out) {
            self.summary.collisions += 1;
            match self.opts.collision {
                Collision::Fail => {
                    let key_text = String::from_utf8_lossy(&key).into_owned();
                    self.candidate = key;
                    return Err(Box::new(FlattenError::Collision { key: key_text }));
                }
                Collision::First => {
                    // Left out; a value still to be scanned is scanned into a buffer
                    // that is dropped.
                    self.candidate = key;
                    let mut discarded = std::mem::take(&mut self.discarded);
                    discarded.clear();
                    let result = write_value(self, &mut discarded);
                    self.discarded = discarded;
                    return result;
                }
                Collision::Last => replaced = Some(existing),
                Collision::Suffix => {
                    let base_len = key.len();
                    let mut n = 2usize;
                    loop {
                        key.truncate(base_len);
                        key.push(b'_');
                        key.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                        if self.opts.normalize_keys && key.len() > self.opts.max_key_bytes {
                            let suffix = key[base_len..].to_vec();
                            key.truncate(self.opts.max_key_bytes - suffix.len());
                            key.extend_from_slice(&suffix);
                        }
                        hash = hash_key(&key);
                        if self.indexes[level].find(hash, &key, out).is_none() {
                            break;
                        }
                        n += 1;
                    }
                }
            }
        }
        let index = &mut self.indexes[level];
        let member_start = out.len();
        // Renamed keys need not be plain: written escaped, indexed from the arena.
        write_key(out, &mut index.first, &key, false);
        if let Err(e) = write_value(self, out) {
            self.candidate = key;
            return Err(e);
        }
        let member_end = out.len();
        let index = &mut self.indexes[level];
        match replaced {
            Some(existing) => index.replace(existing, &key, member_start, member_end),
            None => index.insert(hash, &key, out, member_start, member_end),
        }
        if let Some(value) = observed {
            if self.observes(level) {
                self.observe(&key, value);
            }
        }
        self.candidate = key;
        Ok(())
    }

    /// The configured new name of the current path, for a top-level member.
    #[inline]
    fn rename(&self, level: usize) -> Option<&Vec<u8>> {
        (level == 0)
            .then(|| self.opts.paths.rename(&self.path))
            .flatten()
    }
}
