//! A Kinesis / Firehose sink without any network, for benchmarks.

use ferrolake_shared::streams::{Entry, PutError, StreamPut, Target};

/// A sink that accepts every entry without any network: benchmarks measure the path up to
/// the write, not the write.
pub struct AcceptAll;

impl StreamPut for AcceptAll {
    async fn put(
        &self,
        _target: &Target,
        entries: &[Entry<'_>],
    ) -> Result<Vec<Option<String>>, PutError> {
        Ok(vec![None; entries.len()])
    }
}
