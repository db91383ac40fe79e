//! The bare parse ceiling for the import benchmark: read a JSON Lines file and parse every line
//! into a `serde_json::Value` with one thread, nothing else. Import throughput is reported as a
//! ratio to this number, measured in the same run (see BENCHMARKS.md).
//!
//! Usage: `cargo run --release --example parse_ceiling -- FILE`

use std::io::BufRead;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_ceiling FILE.jsonl");
        std::process::exit(2);
    };
    let file = std::fs::File::open(&path)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let started = Instant::now();
    let (mut lines, mut objects) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lines += 1;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
            objects += u64::from(v.is_object());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"lines\": {lines}, \"objects\": {objects}, \"seconds\": {secs:.3}, \"per_second\": {:.0}}}",
        lines as f64 / secs
    );
    Ok(())
}
