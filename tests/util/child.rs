//! `neardup serve` as a child process on 127.0.0.1:0, with its log kept for assertions.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::neardup;

/// A running `neardup serve`.
pub struct Served {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// `host:port` of its metrics, if it serves them.
    pub metrics_addr: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts `neardup serve --listen 127.0.0.1:0 ARGS` with `NEARDUP_LOG=log_filter`, and
    /// waits until it says it is listening (panics with its log if it exits first).
    pub fn start(args: &[&str], log_filter: &str) -> Served {
        Served::start_on("127.0.0.1:0", args, log_filter)
    }

    /// [`Served::start`] on another address.
    pub fn start_on(listen: &str, args: &[&str], log_filter: &str) -> Served {
        let mut child = neardup()
            .args(["serve", "--listen", listen])
            .args(args)
            .env("NEARDUP_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut metrics_addr = None;
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "serve exited before listening: {:?}\n{}",
                    child.wait(),
                    log.lock().unwrap().join("\n")
                );
            };
            if let Some(m) = line.strip_prefix("neardup: metrics on http://") {
                metrics_addr = Some(m.trim_end_matches("/metrics").to_string());
            }
            if let Some(addr) = line.strip_prefix("neardup: listening on ") {
                break addr.to_string();
            }
            log.lock().unwrap().push(line);
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Served {
            child,
            addr,
            metrics_addr,
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` (libc::SIGHUP…).
    pub fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to `timeout` for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Its resident set size now, in bytes (Linux `VmRSS`).
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid())
    }

    /// SIGTERM, then its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        self.child.wait().unwrap()
    }
}

/// `VmRSS` of a process, in bytes (0 once it is gone).
pub fn rss_bytes(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
