//! Criterion benchmarks for the hot paths, each next to the baseline it must beat:
//! `handle_new` against one getrandom(2) call for 32 bytes, `store_key` against one raw
//! SHA-256 of the same bytes. A counting allocator reports heap allocations per operation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use reftoken::grant::{Claim, Token};
use reftoken::instant::Instant;
use reftoken::introspection::{self, Caller, Options};
use reftoken::validation::StoredGrant;
use reftoken::validator::{CacheOptions, Found, Validator};
use reftoken::{grant, handle, key};
use sha2::{Digest, Sha256};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_per_op(mut f: impl FnMut()) -> f64 {
    f(); // warm up lazily initialised state
    let n = 10_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

fn sample_token() -> Token {
    let mut claims = vec![
        Claim::new("client_id", "client1"),
        Claim::new("sub", "818727"),
        Claim::new("sid", "F5B7E4C1A0D2"),
    ];
    for s in [
        "openid",
        "profile",
        "api1.read",
        "api1.write",
        "offline_access",
    ] {
        claims.push(Claim::new("scope", s));
    }
    claims.push(Claim::typed(
        "auth_time",
        "1704067100",
        introspection::VT_INTEGER64,
    ));
    claims.push(Claim::new("idp", "local"));
    claims.push(Claim::new("amr", "pwd"));
    claims.push(Claim::new("role", "admin"));
    claims.push(Claim::new("role", "user"));
    claims.push(Claim::new("jti", "1A6F1C1D8A0E4C5B9B1E7F2D3C4B5A69"));
    Token {
        audiences: vec!["api1".into(), "https://idsvr.test/resources".into()],
        issuer: Some("https://idsvr.test".into()),
        creation_time: reftoken::instant::parse("2024-01-01T00:00:00.1234567Z").unwrap(),
        lifetime: 3600,
        client_id: Some("client1".into()),
        claims,
        ..Token::default()
    }
}

fn benches(c: &mut Criterion) {
    let h = handle::new_handle().unwrap();
    let input = format!("{h}:reference_token");

    let mut g = c.benchmark_group("handle");
    g.bench_function("getrandom_syscall_32_bytes", |b| {
        let mut buf = [0u8; 32];
        // SAFETY: a valid 32-byte buffer.
        b.iter(|| unsafe { libc::getrandom(buf.as_mut_ptr().cast(), 32, 0) });
    });
    g.bench_function("new_handle", |b| {
        b.iter(|| black_box(handle::new_handle().unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("key");
    g.bench_function("raw_sha256_same_bytes", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(input.as_bytes()))))
    });
    g.bench_function("store_key", |b| {
        b.iter(|| black_box(key::store_key(black_box(&h), "reference_token").unwrap()))
    });
    g.finish();

    let token = sample_token();
    let data = grant::seal_data(&token.to_json(), false);
    let scopes = ["api1.read", "api1.write"];
    let caller = Caller::Api {
        name: "api1",
        scopes: &scopes,
    };
    let now = Instant::from_unix_seconds(1_704_067_300);
    let opts = Options::default();
    let mut g = c.benchmark_group("introspection");
    g.bench_function("respond_parsed", |b| {
        b.iter(|| black_box(introspection::respond(&token, &caller, now, &opts).unwrap()))
    });
    g.bench_function("read_data_and_respond", |b| {
        b.iter(|| {
            let t = grant::read_token(black_box(&data)).unwrap();
            black_box(introspection::respond(&t, &caller, now, &opts).unwrap())
        })
    });
    g.bench_function("evaluate", |b| {
        b.iter(|| {
            black_box(
                introspection::evaluate(&token, &caller, now, &opts)
                    .unwrap()
                    .active(),
            )
        })
    });
    // Linear in the claims: 1,000 and 10,000 claims of one type (a long `role` list), and of
    // as many distinct types.
    for n in [1_000, 10_000] {
        let mut one_type = sample_token();
        let mut distinct = sample_token();
        for i in 0..n - one_type.claims.len() {
            one_type
                .claims
                .push(Claim::new("role", format!("role-{i}")));
            distinct.claims.push(Claim::new(format!("claim-{i}"), "v"));
        }
        g.bench_function(format!("respond_{n}_claims_one_type"), |b| {
            b.iter(|| black_box(introspection::respond(&one_type, &caller, now, &opts).unwrap()))
        });
        g.bench_function(format!("respond_{n}_claims_distinct_types"), |b| {
            b.iter(|| black_box(introspection::respond(&distinct, &caller, now, &opts).unwrap()))
        });
    }
    g.finish();

    // A validator with a warm cache: the gateway's hot path, a handle in and the verdict plus
    // the response out, with the response built on every call or kept with the cache entry.
    let h_cached = handle::new_handle().unwrap().to_string();
    let row_key = key::store_key(&h_cached, "reference_token")
        .unwrap()
        .to_string();
    let row = StoredGrant {
        grant_type: "reference_token".into(),
        data: data.clone(),
    };
    let lookup = move |k: &str| Ok((k == row_key).then(|| row.clone()));
    let v = Validator::new(lookup, None, CacheOptions::default());
    let mut g = c.benchmark_group("validator_warm");
    g.bench_function("find_and_respond", |b| {
        b.iter(|| {
            let t = match v.find(black_box(&h_cached), now).unwrap() {
                Found::Token(t) => t,
                Found::NotFound(_) => unreachable!("the token is in the store"),
            };
            let active = introspection::evaluate(&t, &caller, now, &opts)
                .unwrap()
                .active();
            black_box((
                active,
                introspection::respond(&t, &caller, now, &opts).unwrap(),
            ))
        })
    });
    g.bench_function("find_hit_kept_response", |b| {
        b.iter(|| {
            let hit = v.find_hit(black_box(&h_cached), now).unwrap().unwrap();
            let (verdict, body) = hit.introspect(&caller, now, &opts).unwrap();
            black_box((verdict.active(), body))
        })
    });
    g.finish();
    eprintln!(
        "allocations/op: validator_warm find_and_respond {:.2}, find_hit_kept_response {:.2}",
        allocations_per_op(|| {
            if let Found::Token(t) = v.find(&h_cached, now).unwrap() {
                black_box(introspection::respond(&t, &caller, now, &opts).unwrap());
            }
        }),
        allocations_per_op(|| {
            let hit = v.find_hit(&h_cached, now).unwrap().unwrap();
            black_box(hit.introspect(&caller, now, &opts).unwrap().1);
        }),
    );

    eprintln!(
        "allocations/op: new_handle {:.2}, store_key {:.2}, respond_parsed {:.2}, read_data_and_respond {:.2}, evaluate {:.2}",
        allocations_per_op(|| {
            black_box(handle::new_handle().unwrap());
        }),
        allocations_per_op(|| {
            black_box(key::store_key(&h, "reference_token").unwrap());
        }),
        allocations_per_op(|| {
            black_box(introspection::respond(&token, &caller, now, &opts).unwrap());
        }),
        allocations_per_op(|| {
            let t = grant::read_token(&data).unwrap();
            black_box(introspection::respond(&t, &caller, now, &opts).unwrap());
        }),
        allocations_per_op(|| {
            black_box(
                introspection::evaluate(&token, &caller, now, &opts)
                    .unwrap()
                    .active(),
            );
        }),
    );
}

criterion_group!(core, benches);
criterion_main!(core);
