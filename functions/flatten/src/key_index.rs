//! The key index of one output object: which final keys it has (collision checks), where
//! each member's bytes are in the output (`Collision::Last` replaces members, explode copies
//! objects), and the holes replaced members leave until the object is closed.

use std::hash::BuildHasher;

/// The hash every key is indexed by.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(key)
}

#[derive(Debug, Clone, Copy)]
struct KeyEntry {
    /// Where the key's bytes are: in the output buffer (written verbatim as the member's
    /// key) or, for keys written escaped, in the index's arena.
    start: usize,
    len: u32,
    in_output: bool,
    hash: u64,
    member_start: usize,
    member_end: usize,
}

/// Where a new key's bytes can be compared later.
pub(crate) enum KeyBytes {
    /// Already in the output buffer at this position (no copy).
    InOutput(usize),
    /// To be copied into the arena.
    Copy,
}

/// One slot of the open-addressing index: valid only when `generation` matches the
/// index's current one, so resetting for the next object is O(1).
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
pub(crate) struct KeyIndex {
    arena: Vec<u8>,
    entries: Vec<KeyEntry>,
    slots: Vec<Slot>,
    generation: u32,
    /// No member written yet (the next one is written without a leading comma).
    pub(crate) first: bool,
    /// Where the object's `{` is in the output.
    object_start: usize,
    /// Byte spans of replaced members, removed when the object is closed.
    holes: Vec<(usize, usize)>,
}

impl KeyIndex {
    pub(crate) fn reset(&mut self, object_start: usize) {
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
    pub(crate) fn find(&self, hash: u64, key: &[u8], out: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(hash, key, out).ok()
    }

    /// The entry with this key, or the free slot where it would go. Needs at least one
    /// slot (see [`Self::reserve_one`]).
    #[inline]
    pub(crate) fn probe(&self, hash: u64, key: &[u8], out: &[u8]) -> Result<usize, usize> {
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
    pub(crate) fn reserve_one(&mut self) {
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
    pub(crate) fn insert_at(
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
    pub(crate) fn insert(
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
    pub(crate) fn shift(&mut self, delta: isize) {
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

    /// Point the entry `existing` at its replacement, the member now at
    /// `member_start..member_end` (`Collision::Last`): the replaced member becomes a hole,
    /// and the key keeps its place in the index, its bytes moved to the arena.
    pub(crate) fn replace(
        &mut self,
        existing: usize,
        key: &[u8],
        member_start: usize,
        member_end: usize,
    ) {
        let e = self.entries[existing];
        self.holes.push((e.member_start, e.member_end));
        let arena_start = self.arena.len();
        self.arena.extend_from_slice(key);
        let e = &mut self.entries[existing];
        e.start = arena_start;
        e.in_output = false;
        e.member_start = member_start;
        e.member_end = member_end;
    }

    #[inline]
    pub(crate) fn has_holes(&self) -> bool {
        !self.holes.is_empty()
    }

    /// Remove the holes from the open object (from its `{` to the end of `out`), and keep
    /// the index's positions true for the compacted object (explode copies it).
    pub(crate) fn remove_holes(&mut self, out: &mut Vec<u8>) {
        let start = self.object_start;
        let mut holes = std::mem::take(&mut self.holes);
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
        for e in &mut self.entries {
            e.member_start = moved(e.member_start);
            e.member_end = moved(e.member_end);
            if e.in_output {
                e.start = moved(e.start);
            }
        }
    }
}
