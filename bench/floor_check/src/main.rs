// The floor: base64 → serde_json::Value → serialize → base64 per record, on the
// bench's own 1 MB / 3 MB Firehose documents. Built with and without preserve_order.
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    for name in ["firehose-1MB.json", "firehose-3MB.json"] {
        let doc = std::fs::read(format!("{dir}/{name}")).unwrap();
        let b64 = base64_simd::STANDARD;
        let mut best = f64::MAX;
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let event: serde_json::Value = serde_json::from_slice(&doc).unwrap();
            let mut total = 0;
            for r in event["records"].as_array().unwrap() {
                let bytes = b64.decode_to_vec(r["data"].as_str().unwrap()).unwrap();
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let out = serde_json::to_vec(&value).unwrap();
                total += b64.encode_to_string(out).len();
            }
            std::hint::black_box(total);
            let s = t.elapsed().as_secs_f64();
            best = best.min(s);
            times.push(s);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{name}: median {:.0} MB/s, best {:.0} MB/s", doc.len() as f64 / times[15] / 1e6, doc.len() as f64 / best / 1e6);
    }
}
