//! Benchmark: revocation latency across validator processes (ignored; run by hand with
//! servers).

use std::sync::mpsc::RecvTimeoutError;

use super::*;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn bench_transport(s: &Servers, transport: &str, revocations: usize) {
    let db = TestDb::create(
        &s.pg,
        &format!("bench_{transport}"),
        transport == "postgres",
    );
    let mut pg = connect(&db.url);
    let notify = if transport == "postgres" {
        db.url.clone()
    } else {
        s.redis.clone()
    };
    let kind = format!("rust-{transport}");
    let mut nodes = spawn_all(&[&kind, &kind, &kind, &kind], &db.url, &notify, 10_000, 100);
    let mut publisher = revocation::redis::Publisher::new(&s.redis).unwrap();
    let mut per_node = Vec::new();
    let mut every_node = Vec::new();
    for _ in 0..revocations {
        let t = issue(&mut pg);
        for n in &mut nodes {
            assert_eq!(n.validate(&t.handle).state, "active");
        }
        let committed = delete(&mut pg, &t.key);
        if transport == "redis" {
            publisher.publish(None, &t.key).unwrap();
        }
        let mut last = 0f64;
        for n in &mut nodes {
            loop {
                match n.evictions.recv_timeout(Duration::from_secs(5)) {
                    Ok((k, at)) if k == t.key => {
                        let ms = (at as f64 - committed as f64) / 1e6;
                        per_node.push(ms);
                        last = last.max(ms);
                        break;
                    }
                    Ok(_) => continue,
                    Err(RecvTimeoutError::Timeout) => {
                        panic!("{}: no eviction of {}", n.name, t.key)
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        every_node.push(last);
    }
    per_node.sort_by(f64::total_cmp);
    every_node.sort_by(f64::total_cmp);
    println!(
        "{transport:8} {revocations} revocations x 4 nodes: per node p50 {:.2} ms, p99 {:.2} ms; all 4 nodes evicted: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&per_node, 0.5),
        percentile(&per_node, 0.99),
        percentile(&every_node, 0.5),
        percentile(&every_node, 0.99),
        every_node.last().unwrap()
    );
}

/// Time from the DELETE's commit (acknowledged to the deleting client) to the eviction on
/// each of 4 validator processes. REFTOKEN_BENCH_REVOCATIONS sets the count (default 500).
#[test]
#[ignore = "benchmark, run by hand with servers: cargo test --release --test revocation -- --ignored --nocapture bench_"]
fn bench_revocation_latency() {
    let (s, _serial) = servers("bench_revocation_latency");
    let n = env_u64("REFTOKEN_BENCH_REVOCATIONS", 500) as usize;
    bench_transport(&s, "postgres", n);
    bench_transport(&s, "redis", n);
}
