//! Driving validator processes: spawning them, their commands and replies, and the checks
//! the tests make across them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin};
use std::sync::mpsc::{self, Receiver};

use super::*;

pub struct Reply {
    pub state: String,
    pub lookups: u64,
    pub at_ns: u64,
}

pub struct Node {
    pub name: String,
    pub child: Child,
    pub stdin: ChildStdin,
    pub replies: Receiver<String>,
    pub evictions: Receiver<(String, u64)>,
}

impl Node {
    pub fn spawn(kind: &str, store: &str, notify: &str, bound_ms: u64, backoff_ms: u64) -> Node {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "node_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(NODE_ENV, kind)
            .env("REFTOKEN_NODE_STORE", store)
            .env("REFTOKEN_NODE_NOTIFY", notify)
            .env("REFTOKEN_NODE_BOUND_MS", bound_ms.to_string())
            .env("REFTOKEN_NODE_BACKOFF_MS", backoff_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (rtx, replies) = mpsc::channel();
        let (etx, evictions) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("@ e ") {
                    let (k, t) = rest.rsplit_once(' ').unwrap();
                    let _ = etx.send((k.to_owned(), t.parse().unwrap()));
                } else if line.starts_with("@ c ") {
                    // cache cleared (on every (re)connection)
                } else if let Some(rest) = line.strip_prefix("@ ") {
                    let _ = rtx.send(rest.to_owned());
                }
            }
        });
        let mut n = Node {
            name: format!("{kind}#{}", child.id()),
            child,
            stdin,
            replies,
            evictions,
        };
        assert_eq!(n.recv(), "ready");
        n
    }

    pub fn recv(&mut self) -> String {
        match self.replies.recv_timeout(Duration::from_secs(30)) {
            Ok(r) => r,
            Err(e) => panic!("{}: no reply: {e:?}", self.name),
        }
    }

    pub fn cmd(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.recv()
    }

    pub fn validate(&mut self, handle: &str) -> Reply {
        let r = self.cmd(&format!("v {handle}"));
        let parts: Vec<&str> = r.split(' ').collect();
        assert_eq!(parts[0], "v", "{}: {r}", self.name);
        Reply {
            state: parts[1].to_owned(),
            lookups: parts[2].parse().unwrap(),
            at_ns: parts[3].parse().unwrap(),
        }
    }

    pub fn wait_listening(&mut self) {
        let r = self.cmd("w");
        assert_eq!(r, "w ok", "{}: not listening", self.name);
    }

    /// Validates until the state is `want`, for at most `within`; returns how long it took.
    pub fn until(&mut self, handle: &str, want: &str, within: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            let r = self.validate(handle);
            if r.state == want {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < within,
                "{}: still {} after {within:?}, wanted {want}",
                self.name,
                r.state
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "q");
        let _ = self.stdin.flush();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_all(
    kinds: &[&str],
    store: &str,
    notify: &str,
    bound_ms: u64,
    backoff_ms: u64,
) -> Vec<Node> {
    let mut nodes: Vec<Node> = kinds
        .iter()
        .map(|k| Node::spawn(k, store, notify, bound_ms, backoff_ms))
        .collect();
    for n in &mut nodes {
        n.wait_listening();
    }
    nodes
}

/// Every node validates `t` (it is then cached); a second validation takes no lookup.
pub fn cache_everywhere(nodes: &mut [Node], tokens: &[&Issued]) {
    for n in nodes.iter_mut() {
        for t in tokens {
            assert_eq!(n.validate(&t.handle).state, "active", "{}", n.name);
        }
        let before = n.validate(&tokens[0].handle).lookups;
        for t in tokens {
            let r = n.validate(&t.handle);
            assert_eq!(r.state, "active");
            assert_eq!(r.lookups, before, "{}: served from the cache", n.name);
        }
    }
}

/// Validates `t` on every node for `during`, checking that no node calls it active more
/// than `bound` after `deleted_ns`; prints, after `what`, how many stale positives (all within
/// the bound) were seen, and the oldest.
pub fn never_stale_beyond(
    what: &str,
    nodes: &mut [Node],
    t: &Issued,
    deleted_ns: u64,
    bound: Duration,
    during: Duration,
) {
    let t0 = Instant::now();
    let (mut stale, mut oldest) = (0, Duration::ZERO);
    while t0.elapsed() < during {
        for n in nodes.iter_mut() {
            let r = n.validate(&t.handle);
            if r.state == "active" {
                stale += 1;
                let age = Duration::from_nanos(r.at_ns.saturating_sub(deleted_ns));
                oldest = oldest.max(age);
                assert!(
                    age <= bound + SLACK,
                    "{}: served a token {age:?} after its row was deleted (bound {bound:?})",
                    n.name
                );
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    eprintln!(
        "{what}, {stale} stale positives, the oldest {oldest:?} after the delete (bound {bound:?})"
    );
}
