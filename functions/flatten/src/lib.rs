//! The JSON flattener shared by `firehose-flatten` and `athena-udf`'s `flatten_json`.
//!
//! Streaming: a validating scanner (JSON grammar and UTF-8) walks the input bytes once and
//! writes flattened compact JSON directly — no `serde_json::Value` tree. Numbers and
//! strings are copied verbatim (exact digits, original escapes). Recursion is bounded by
//! `max_depth` (≤ 128); deeper subtrees are copied iteratively as JSON strings, and input
//! nested beyond `hard_max_depth` is rejected, so no input can overflow the stack.
//!
//! Paths in the option lists (`include`, `exclude`, `json_paths`, `renames`,
//! `explode_path`, watched fields) are flattened names: normalised segments joined with the
//! separator, e.g. `user_address_city`. They apply outside arrays.

mod scan;

use rustc_hash::FxHashMap;
use scan::{unescape, write_json_string, Scanner, STRING_SPECIAL};
use std::hash::BuildHasher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayMode {
    /// Arrays stay JSON arrays; objects inside them are flattened (own key namespace).
    Keep,
    /// Elements become `<path>_0`, `<path>_1`, … (the flatten_json convention).
    Index,
    /// The whole array becomes one JSON string.
    Json,
    /// One output line per element of the array at `explode_path` (others are kept).
    Explode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collision {
    /// Later duplicates get `_2`, `_3`, … in document order.
    Suffix,
    /// The record fails.
    Fail,
    /// The first value wins; later duplicates are left out.
    First,
    /// The last value wins; earlier duplicates are removed.
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonObject {
    /// A top-level non-object becomes `{"value": <it>}`.
    Wrap,
    /// A top-level non-object fails the record.
    Fail,
}

#[derive(Debug, Clone)]
pub struct FlattenOptions {
    pub separator: String,
    /// Lowercase, only `[a-z0-9_]`, leading digit prefixed, long names hashed.
    pub normalize_keys: bool,
    pub digit_prefix: String,
    pub max_key_bytes: usize,
    pub array_mode: ArrayMode,
    pub explode_path: Option<String>,
    pub max_array_items: usize,
    pub max_depth: usize,
    pub hard_max_depth: usize,
    pub collision: Collision,
    pub keep_nulls: bool,
    pub keep_empty: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub json_paths: Vec<String>,
    pub renames: Vec<(String, String)>,
    pub non_object: NonObject,
    /// Several JSON values (newline-delimited or concatenated) in one input.
    pub multi_json: bool,
    pub append_newline: bool,
}

impl Default for FlattenOptions {
    fn default() -> Self {
        Self {
            separator: "_".into(),
            normalize_keys: true,
            digit_prefix: "_".into(),
            max_key_bytes: 255,
            array_mode: ArrayMode::Keep,
            explode_path: None,
            max_array_items: 1000,
            max_depth: 32,
            hard_max_depth: 512,
            collision: Collision::Suffix,
            keep_nulls: true,
            keep_empty: false,
            include: Vec::new(),
            exclude: Vec::new(),
            json_paths: Vec::new(),
            renames: Vec::new(),
            non_object: NonObject::Wrap,
            multi_json: true,
            append_newline: true,
        }
    }
}

/// Internal results box the error: it is rare, and a pointer-sized error keeps the hot
/// paths' `Result`s in registers.
pub(crate) type Fallible<T> = Result<T, Box<FlattenError>>;

/// The largest `max_depth` accepted (the flattener recurses up to it).
pub const MAX_DEPTH_LIMIT: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlattenError {
    #[error("invalid JSON at byte {offset}: expected {expected}, found {}", found.map(|c| format!("{c:?}")).unwrap_or_else(|| "the end of the input".into()))]
    Syntax {
        offset: usize,
        expected: &'static str,
        found: Option<char>,
    },
    #[error("not UTF-8 (invalid byte at {offset})")]
    NotUtf8 { offset: usize },
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error(
        "top-level value is {found}, not an object (non-object values are configured to fail)"
    )]
    NotAnObject { found: &'static str },
    #[error("keys collide after normalisation: {key:?} (collisions are configured to fail)")]
    Collision { key: String },
    #[error("array {path:?} has more than {limit} items")]
    TooManyItems { path: String, limit: usize },
    #[error("no JSON value in the input")]
    Empty,
    #[error("more than one JSON value in the input (multi-value input is off)")]
    MultipleValues,
    #[error("invalid flatten option: {0}")]
    Option(String),
}

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

#[derive(Debug, Clone, Copy)]
struct KeyEntry {
    /// Where the key's bytes are: in the output buffer (written verbatim as the member's
    /// key) or, for keys written escaped, in the namespace's arena.
    start: usize,
    len: u32,
    in_output: bool,
    hash: u64,
    member_start: usize,
    member_end: usize,
}

/// Where a new key's bytes can be compared later.
enum KeyBytes {
    /// Already in the output buffer at this position (no copy).
    InOutput(usize),
    /// To be copied into the arena.
    Copy,
}

/// One slot of the open-addressing index: valid only when `generation` matches the
/// namespace's current one, so resetting for the next object is O(1).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    entry: u32,
    hash: u64,
}

/// The keys of one output object: an open-addressing index of their hashes over the key
/// bytes (mostly in the output buffer itself, else in an arena), reused across objects so
/// that flattening allocates and copies nothing per key.
#[derive(Debug, Default, Clone)]
struct Namespace {
    arena: Vec<u8>,
    entries: Vec<KeyEntry>,
    slots: Vec<Slot>,
    generation: u32,
    first: bool,
    object_start: usize,
    holes: Vec<(usize, usize)>,
}

impl Namespace {
    fn reset(&mut self, object_start: usize) {
        self.arena.clear();
        self.entries.clear();
        self.holes.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped around: stale slots could look current again.
            self.slots.iter_mut().for_each(|s| *s = Slot::default());
            self.generation = 1;
        }
        self.first = true;
        self.object_start = object_start;
    }

    #[inline]
    fn find(&self, hash: u64, key: &[u8], out: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(hash, key, out).ok()
    }

    /// The entry with this key, or the free slot where it would go. Needs at least one
    /// slot (see [`Self::reserve_one`]).
    #[inline]
    fn probe(&self, hash: u64, key: &[u8], out: &[u8]) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot.generation != self.generation {
                return Err(i);
            }
            if slot.hash == hash {
                let e = &self.entries[slot.entry as usize];
                let bytes = if e.in_output { out } else { &self.arena };
                if bytes.get(e.start..e.start + e.len as usize) == Some(key) {
                    return Ok(slot.entry as usize);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Make room for one more key, keeping the load factor at or below 1/2.
    #[inline]
    fn reserve_one(&mut self) {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
    }

    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        self.slots = vec![Slot::default(); size];
        let current: Vec<(u64, u32)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.hash, i as u32))
            .collect();
        for (h, i) in current {
            self.place(h, i);
        }
    }

    /// Add a key (not present) at the free slot `probe` returned.
    #[inline]
    fn insert_at(
        &mut self,
        slot: usize,
        hash: u64,
        key: &[u8],
        bytes: KeyBytes,
        member_start: usize,
        member_end: usize,
    ) {
        let (start, in_output) = match bytes {
            KeyBytes::InOutput(start) => (start, true),
            KeyBytes::Copy => {
                let start = self.arena.len();
                self.arena.extend_from_slice(key);
                (start, false)
            }
        };
        let entry = self.entries.len() as u32;
        self.entries.push(KeyEntry {
            start,
            len: key.len() as u32,
            in_output,
            hash,
            member_start,
            member_end,
        });
        self.slots[slot] = Slot {
            generation: self.generation,
            entry,
            hash,
        };
    }

    #[inline]
    fn place(&mut self, hash: u64, entry: u32) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i].generation == self.generation {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot {
            generation: self.generation,
            entry,
            hash,
        };
    }

    #[inline]
    fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        out: &[u8],
        member_start: usize,
        member_end: usize,
    ) {
        self.reserve_one();
        if let Err(slot) = self.probe(hash, key, out) {
            self.insert_at(slot, hash, key, KeyBytes::Copy, member_start, member_end);
        }
    }

    /// Move every position by `delta` (the object was copied elsewhere in the buffer).
    fn shift(&mut self, delta: isize) {
        let moved = |p: usize| (p as isize + delta) as usize;
        self.object_start = moved(self.object_start);
        for e in &mut self.entries {
            e.member_start = moved(e.member_start);
            e.member_end = moved(e.member_end);
            if e.in_output {
                e.start = moved(e.start);
            }
        }
    }
}

/// A value to write for a member.
enum Value<'v> {
    /// Valid compact JSON (a copied scalar, `{}`, `[]`, a minified subtree).
    Raw(&'v [u8]),
    /// Bytes to write as a JSON string.
    Text(&'v [u8]),
}

pub struct Flattener {
    opts: FlattenOptions,
    sep: Vec<u8>,
    include: Vec<Vec<u8>>,
    exclude: Vec<Vec<u8>>,
    json_paths: Vec<Vec<u8>>,
    renames: FxHashMap<Vec<u8>, Vec<u8>>,
    explode_path: Option<Vec<u8>>,
    watch: Vec<Vec<u8>>,
    drop_rules: Vec<(Vec<u8>, Vec<u8>)>,
    // Reused buffers.
    path: Vec<u8>,
    key: Vec<u8>,
    candidate: Vec<u8>,
    /// Normalised paths contain only `[a-z0-9_]`, the separator and the digit prefix; when
    /// those need no escaping either, keys are written without an escape scan.
    keys_plain: bool,
    scratch: Vec<u8>,
    namespaces: Vec<Namespace>,
    /// Where a left-out member's value is scanned (`Collision::First`).
    discarded: Vec<u8>,
    // Per-call state.
    summary: FlattenSummary,
    capture: bool,
    drop_hit: bool,
    explode_span: Option<(usize, usize)>,
}

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

#[inline]
fn push_separator(path: &mut Vec<u8>, sep: &[u8]) {
    // The usual one-byte separator without a call to memcpy.
    match sep {
        [byte] => path.push(*byte),
        sep => path.extend_from_slice(sep),
    }
}

fn hash_key(key: &[u8]) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(key)
}

/// Whether `path` is `prefix` or below it (on a separator boundary).
fn under(path: &[u8], prefix: &[u8], sep: &[u8]) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len() || path[prefix.len()..].starts_with(sep))
}

impl Flattener {
    pub fn new(opts: FlattenOptions) -> Result<Self, FlattenError> {
        if opts.separator.is_empty() {
            return Err(FlattenError::Option(
                "the separator must not be empty".into(),
            ));
        }
        if opts.max_depth == 0 || opts.max_depth > MAX_DEPTH_LIMIT {
            return Err(FlattenError::Option(format!(
                "max depth must be 1..={MAX_DEPTH_LIMIT}, got {}",
                opts.max_depth
            )));
        }
        if opts.hard_max_depth < opts.max_depth {
            return Err(FlattenError::Option(
                "the hard depth limit must be at least the max depth".into(),
            ));
        }
        if opts.max_key_bytes < 16 {
            return Err(FlattenError::Option(
                "max key bytes must be at least 16".into(),
            ));
        }
        if opts.array_mode == ArrayMode::Explode && opts.explode_path.is_none() {
            return Err(FlattenError::Option(
                "array mode explode needs an explode path".into(),
            ));
        }
        let bytes = |list: &[String]| {
            list.iter()
                .map(|s| s.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        Ok(Self {
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
            watch: Vec::new(),
            drop_rules: Vec::new(),
            path: Vec::new(),
            key: Vec::new(),
            candidate: Vec::new(),
            keys_plain: opts.normalize_keys
                && !opts
                    .separator
                    .bytes()
                    .chain(opts.digit_prefix.bytes())
                    .any(|b| STRING_SPECIAL[b as usize]),
            scratch: Vec::new(),
            namespaces: Vec::new(),
            discarded: Vec::new(),
            summary: FlattenSummary::default(),
            capture: false,
            drop_hit: false,
            explode_span: None,
            opts,
        })
    }

    pub fn options(&self) -> &FlattenOptions {
        &self.opts
    }

    /// Report the values of these flattened fields (first object) in [`FlattenSummary::watched`].
    pub fn watch(mut self, fields: &[String]) -> Self {
        self.watch = fields.iter().map(|f| f.as_bytes().to_vec()).collect();
        self
    }

    /// Leave out objects whose flattened `field` equals `value` (strings compared decoded).
    pub fn drop_where(mut self, rules: &[(String, String)]) -> Self {
        self.drop_rules = rules
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        self
    }

    /// Flatten `input` (one JSON value, or several when `multi_json`) and append the result
    /// to `out`: one compact object per line.
    pub fn flatten(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<FlattenSummary, FlattenError> {
        self.summary = FlattenSummary {
            watched: vec![None; self.watch.len()],
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
        self.ns(0).reset(line_start);
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
        if let Some((start, end)) = self.explode_span.take() {
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

    fn ns(&mut self, level: usize) -> &mut Namespace {
        while self.namespaces.len() <= level {
            self.namespaces.push(Namespace::default());
        }
        &mut self.namespaces[level]
    }

    /// Close the object of namespace `level`: remove members replaced under `Collision::Last`.
    fn close_object(&mut self, out: &mut Vec<u8>, level: usize) {
        let ns = &mut self.namespaces[level];
        if !ns.holes.is_empty() {
            let start = ns.object_start;
            let mut holes = std::mem::take(&mut ns.holes);
            holes.sort_unstable();
            let mut kept = Vec::with_capacity(out.len() - start);
            let mut at = start;
            for &(s, e) in &holes {
                kept.extend_from_slice(&out[at..s]);
                at = e;
            }
            kept.extend_from_slice(&out[at..]);
            // Members are written with a leading comma after the first; removing the first
            // member leaves `{,` behind.
            let comma_removed = kept.get(1) == Some(&b',');
            if comma_removed {
                kept.remove(1);
            }
            out.truncate(start);
            out.extend_from_slice(&kept);
            // Keep the index's positions true for the compacted object (explode copies it).
            let moved = |p: usize| {
                let removed: usize = holes
                    .iter()
                    .filter(|&&(_, end)| end <= p)
                    .map(|&(s, e)| e - s)
                    .sum();
                let p = p - removed;
                if comma_removed && p > start + 1 {
                    p - 1
                } else {
                    p
                }
            };
            for e in &mut ns.entries {
                e.member_start = moved(e.member_start);
                e.member_end = moved(e.member_end);
                if e.in_output {
                    e.start = moved(e.start);
                }
            }
        }
        out.push(b'}');
    }

    /// Object members after `{` (consumed), up to and including `}`. Returns whether the
    /// object was empty.
    /// `at_root`: the members are the first segment of their namespace's names (the path is
    /// the namespace's, not a parent object's; an empty key must not hide that).
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
            push_separator(&mut self.path, &self.sep);
        }
        if !self.opts.normalize_keys {
            self.path.extend_from_slice(key);
            return;
        }
        let segment_start = self.path.len();
        // One table lookup per byte (an exact-length extend, no per-byte capacity check);
        // the left-out bytes (0) only occur in non-ASCII keys and are squeezed out after.
        self.path
            .extend(key.iter().map(|&b| NORMAL_KEY_BYTE[b as usize]));
        if !key.is_ascii() {
            let mut end = segment_start;
            for i in segment_start..self.path.len() {
                if self.path[i] != 0 {
                    self.path[end] = self.path[i];
                    end += 1;
                }
            }
            self.path.truncate(end);
        }
        if self.path.len() == segment_start {
            self.path.push(b'_');
        }
        if at_start && self.path[0].is_ascii_digit() {
            let prefix = self.opts.digit_prefix.as_bytes();
            self.path.splice(0..0, prefix.iter().copied());
        }
    }

    #[inline]
    fn excluded(&self) -> bool {
        self.exclude.iter().any(|p| under(&self.path, p, &self.sep))
    }

    /// With an allow-list: keep a leaf only if it is at or below an allowed path.
    #[inline]
    fn allowed_leaf(&self) -> bool {
        self.include.is_empty() || self.include.iter().any(|p| under(&self.path, p, &self.sep))
    }

    /// With an allow-list: descend into an object if an allowed path is at, below or above it.
    #[inline]
    fn allowed_descend(&self) -> bool {
        self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| under(&self.path, p, &self.sep) || under(p, &self.path, &self.sep))
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
                if top && (self.excluded() || !self.allowed_descend()) {
                    return self.skip(sc);
                }
                if depth >= self.opts.max_depth || (top && self.json_paths.contains(&self.path)) {
                    return self.stringified(sc, out, depth, level);
                }
                sc.pos += 1;
                let empty = self.members(sc, out, depth + 1, level, false)?;
                if empty && self.opts.keep_empty && (!top || self.allowed_leaf()) {
                    self.member(out, level, Value::Raw(b"{}"))?;
                }
                Ok(())
            }
            Some(b'[') => {
                if top && (self.excluded() || !self.allowed_leaf()) {
                    return self.skip(sc);
                }
                if top
                    && self.explode_path.as_deref() == Some(self.path.as_slice())
                    && self.explode_span.is_none()
                {
                    let start = sc.pos;
                    self.skip(sc)?;
                    self.explode_span = Some((start, sc.pos));
                    return Ok(());
                }
                if depth >= self.opts.max_depth
                    || self.opts.array_mode == ArrayMode::Json
                    || (top && self.json_paths.contains(&self.path))
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
                if top && (self.excluded() || !self.allowed_leaf()) {
                    return Ok(());
                }
                self.member(out, level, Value::Raw(&sc.input[s - 1..=e]))
            }
            Some(b'-' | b'0'..=b'9') => {
                let (s, e) = sc.number()?;
                if top && (self.excluded() || !self.allowed_leaf()) {
                    return Ok(());
                }
                self.member(out, level, Value::Raw(&sc.input[s..e]))
            }
            _ => {
                let (s, e) = sc.literal()?;
                let raw = &sc.input[s..e];
                if (raw == b"null" && !self.opts.keep_nulls)
                    || (top && (self.excluded() || !self.allowed_leaf()))
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
            push_separator(&mut self.path, &self.sep);
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

    /// `keep`: the array as an array, objects inside flattened in their own namespace.
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
                    self.ns(level).reset(object_start);
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

    /// Write member `<final key>: value` into the object of namespace `level`. Out of line:
    /// inlined into `value`'s call sites, flattening measured ~10% slower.
    #[inline(never)]
    fn member(&mut self, out: &mut Vec<u8>, level: usize, value: Value) -> Fallible<()> {
        self.member_with(out, level, Some(&value), |_, out| {
            write_value(out, &value);
            Ok(())
        })
    }

    /// Write member `<final key>:` into the object of namespace `level`, then its value with
    /// `write_value` (which may scan and write a whole array; it leaves the path as it found
    /// it and does not touch namespace `level`). `observed`: the value, for watched fields
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
            let ns = &mut self.namespaces[level];
            ns.reserve_one();
            if let Err(slot) = ns.probe(hash, &self.path, out) {
                let member_start = out.len();
                let key_bytes = write_key(out, &mut ns.first, &self.path, self.keys_plain);
                write_value(self, out)?;
                self.namespaces[level].insert_at(
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
        if let Some(existing) = self.namespaces[level].find(hash, &key, out) {
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
                        if self.namespaces[level].find(hash, &key, out).is_none() {
                            break;
                        }
                        n += 1;
                    }
                }
            }
        }
        let ns = &mut self.namespaces[level];
        if let Some(existing) = replaced {
            let e = ns.entries[existing];
            ns.holes.push((e.member_start, e.member_end));
        }
        let member_start = out.len();
        // Renamed keys need not be plain: written escaped, indexed from the arena.
        write_key(out, &mut ns.first, &key, false);
        if let Err(e) = write_value(self, out) {
            self.candidate = key;
            return Err(e);
        }
        let member_end = out.len();
        let ns = &mut self.namespaces[level];
        if let Some(existing) = replaced {
            // The replacement keeps the key's place in the index; its bytes move to the
            // arena, as the replaced member becomes a hole.
            let arena_start = ns.arena.len();
            ns.arena.extend_from_slice(&key);
            let e = &mut ns.entries[existing];
            e.start = arena_start;
            e.in_output = false;
            e.member_start = member_start;
            e.member_end = member_end;
        } else {
            ns.insert(hash, &key, out, member_start, member_end);
        }
        if let Some(value) = observed {
            if self.observes(level) {
                self.observe(&key, value);
            }
        }
        self.candidate = key;
        Ok(())
    }

    /// The configured new name of the current path, for a top-level member. (Checking
    /// emptiness first saves hashing every key when there are no renames.)
    #[inline]
    fn rename(&self, level: usize) -> Option<&Vec<u8>> {
        (level == 0 && !self.renames.is_empty())
            .then(|| self.renames.get(&self.path))
            .flatten()
    }

    /// Whether members of namespace `level` are looked at by watched fields or drop rules.
    #[inline]
    fn observes(&self, level: usize) -> bool {
        level == 0 && (!self.watch.is_empty() || !self.drop_rules.is_empty())
    }

    /// Watched fields and drop rules look at scalar values of top-level members.
    fn observe(&mut self, key: &[u8], value: &Value) {
        // Most members are neither watched nor in a drop rule: compare names before
        // decoding anything.
        let watched = self.capture && self.watch.iter().any(|f| f.as_slice() == key);
        if !watched && !self.drop_rules.iter().any(|(f, _)| f.as_slice() == key) {
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
            for (i, field) in self.watch.iter().enumerate() {
                if field.as_slice() == key && self.summary.watched[i].is_none() {
                    self.summary.watched[i] = Some(String::from_utf8_lossy(&decoded).into_owned());
                }
            }
        }
        if self
            .drop_rules
            .iter()
            .any(|(f, v)| f.as_slice() == key && *v == decoded)
        {
            self.drop_hit = true;
        }
    }

    /// Replace the base line at `line_start` with one line per element of the array at
    /// `input[start..end]`, each with the base members plus the element under the path.
    fn explode(
        &mut self,
        input: &[u8],
        start: usize,
        end: usize,
        line_start: usize,
        out: &mut Vec<u8>,
    ) -> Fallible<()> {
        let base: Vec<u8> = out[line_start..].to_vec();
        let base_ns = self.namespaces[0].clone();
        let base_drop = self.drop_hit;
        let path = self.explode_path.clone().unwrap_or_default();
        out.truncate(line_start);
        let mut sc = Scanner::new(&input[..end]);
        sc.pos = start + 1;
        sc.skip_ws();
        if sc.peek() == Some(b']') {
            // An empty array keeps the record (as SQL's OUTER explode would).
            out.extend_from_slice(&base);
            self.finish_line(line_start, out);
            return Ok(());
        }
        let mut count = 0usize;
        loop {
            if count >= self.opts.max_array_items {
                return Err(Box::new(FlattenError::TooManyItems {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    limit: self.opts.max_array_items,
                }));
            }
            let element_line = out.len();
            out.extend_from_slice(&base[..base.len() - 1]);
            let mut ns = base_ns.clone();
            ns.shift(element_line as isize - line_start as isize);
            self.namespaces[0] = ns;
            self.drop_hit = base_drop;
            self.path.clear();
            self.path.extend_from_slice(&path);
            sc.skip_ws();
            // The element flattens as if it were the value at the explode path.
            let saved = self.explode_path.take();
            let result = self.value(&mut sc, out, 2, 0);
            self.explode_path = saved;
            result?;
            self.close_object(out, 0);
            self.finish_line(element_line, out);
            self.capture = false;
            count += 1;
            if !sc.more_elements(b']')? {
                return Ok(());
            }
        }
    }
}

/// Cap a key at `max` bytes: keep a prefix and append `_` + 8 hex digits of a hash of the
/// whole key, so distinct long keys stay distinct and the result is deterministic.
fn cap_key(key: &mut Vec<u8>, max: usize) {
    let mut fnv: u32 = 0x811c9dc5;
    for &b in key.iter() {
        fnv ^= b as u32;
        fnv = fnv.wrapping_mul(0x01000193);
    }
    key.truncate(max - 9);
    key.extend_from_slice(format!("_{fnv:08x}").as_bytes());
}

#[cfg(test)]
mod tests;
