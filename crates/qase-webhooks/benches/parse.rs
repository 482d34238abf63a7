//! Parse-and-validate cost per event against an untyped parse of the same bytes.
//!
//! `typed`: `Envelope::parse` (UTF-8, JSON, envelope rules) then
//! `Envelope::event` (the payload typed by its event name).
//! `untyped`: `serde_json::from_slice::<serde_json::Value>`, which checks
//! nothing beyond JSON syntax. The target is typed/untyped <= 1.0.
//!
//! Input: Qase's documented examples from ../shared/qase/examples when that
//! folder exists (or QASE_EXAMPLES_DIR), otherwise this crate's fixtures.
//! Each iteration parses the whole set; divide by the count printed at the
//! start for ns/event (BENCHMARKS.md does).

use std::path::{Path, PathBuf};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qase_webhooks::Envelope;

fn corpus() -> (String, Vec<Vec<u8>>) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = std::env::var_os("QASE_EXAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/qase/examples"));
    let dir = if examples.is_dir() {
        examples
    } else {
        manifest.join("tests/fixtures")
    };
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    bodies.sort();
    (dir.display().to_string(), bodies)
}

fn parse(c: &mut Criterion) {
    let (source, bodies) = corpus();
    eprintln!("corpus: {} events from {source}", bodies.len());
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(bodies.len() as u64));
    group.bench_function("typed", |b| {
        b.iter(|| {
            for body in &bodies {
                let envelope = Envelope::parse(black_box(body)).unwrap();
                black_box(envelope.event().unwrap());
            }
        })
    });
    group.bench_function("untyped", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
