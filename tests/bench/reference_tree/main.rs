// Side-by-side measurement of sglang-router 0.3.2's tree (src/policies/tree.rs,
// unmodified) on bench-tree's cold workload: 16 tenants, 200 shared 2 KiB
// prefixes (half the prompt below 4 KiB) + unique suffix; a decision is
// prefix_match_with_counts + insert, as its cache_aware policy does.
mod tree;
use std::time::Instant;
use tree::Tree;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 { self.0 ^= self.0 << 13; self.0 ^= self.0 >> 7; self.0 ^= self.0 << 17; self.0 }
    fn below(&mut self, n: u64) -> u64 { self.next() % n }
}
const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,0123456789";

fn main() {
    let mut rng = Rng(42);
    let prefixes: Vec<String> = (0..200).map(|_| (0..2048).map(|_| CHARS[rng.below(CHARS.len() as u64) as usize] as char).collect()).collect();
    let pool: String = (0..(32 << 20)).map(|_| CHARS[rng.below(CHARS.len() as u64) as usize] as char).collect();
    let tenants: Vec<String> = (0..16).map(|i| format!("http://10.0.0.{}:8000", i + 1)).collect();
    for (size, count) in [(1024usize, 40000usize), (4096, 20000), (65536, 2000)] {
        let warm = count / 10; // as bench-tree --cold
        let plen = std::cmp::min(size / 2, 2048);
        let gen = |rng: &mut Rng| -> String {
            let mut s = String::with_capacity(size);
            s.push_str(&prefixes[rng.below(200) as usize][..plen]);
            let r = rng.next();
            for i in 0..16 { s.push(b"0123456789abcdef"[((r >> (4 * i)) & 15) as usize] as char); }
            let rest = size - plen - 16;
            let off = rng.below((pool.len() - rest) as u64) as usize;
            s.push_str(&pool[off..off + rest]);
            s
        };
        let t = Tree::new();
        for tn in &tenants { t.insert("", tn); }
        let mut rr = 0usize;
        let mut decide = |t: &Tree, text: &str| {
            let res = t.prefix_match_with_counts(text);
            let rate = if res.input_char_count == 0 { 0.0 } else { res.matched_char_count as f32 / res.input_char_count as f32 };
            let tenant: String = if rate > 0.5 { res.tenant.to_string() } else { rr += 1; tenants[rr % 16].clone() };
            t.insert(text, &tenant);
        };
        for _ in 0..warm { let p = gen(&mut rng); decide(&t, &p); }
        let prompts: Vec<String> = (0..count).map(|_| gen(&mut rng)).collect();
        let t0 = Instant::now();
        for p in &prompts { decide(&t, p); }
        let ns = t0.elapsed().as_nanos() as f64;
        println!("REF decision_ns_per_byte_{}k {:.3} ns/byte ({:.1} us/decision)", size / 1024, ns / (count * size) as f64, ns / count as f64 / 1000.0);
    }
}
