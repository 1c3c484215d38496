//! Explode: one output line per element of the array at the explode path, each a copy of
//! the line's other members plus the element flattened under the path.

use super::Flattener;
use crate::error::{Fallible, FlattenError};
use crate::scan::Scanner;

impl Flattener {
    /// Replace the base line at `line_start` with one line per element of the array at
    /// `input[start..end]`, each with the base members plus the element under the path.
    pub(super) fn explode(
        &mut self,
        input: &[u8],
        start: usize,
        end: usize,
        line_start: usize,
        out: &mut Vec<u8>,
    ) -> Fallible<()> {
        let base: Vec<u8> = out[line_start..].to_vec();
        let base_index = self.indexes[0].clone();
        let base_drop = self.drop_hit;
        let path = self.opts.paths.explode_path().to_vec();
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
            let mut index = base_index.clone();
            index.shift(element_line as isize - line_start as isize);
            self.indexes[0] = index;
            self.drop_hit = base_drop;
            self.path.clear();
            self.path.extend_from_slice(&path);
            sc.skip_ws();
            // The element flattens as if it were the value at the explode path (with
            // `explode_span` still set, an array element is kept, not exploded again).
            self.value(&mut sc, out, 2, 0)?;
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
