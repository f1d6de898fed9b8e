//! Support for the suites that run whole `minutes` (and server) processes: free loopback
//! ports, random secrets, log tails for failure messages, and PostgreSQL schemas that are
//! dropped with their guard.

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `bytes` random bytes as hex (secrets handed to a spawned process).
pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// The last `lines` lines of a log file, for a failure message.
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A PostgreSQL schema, dropped with its guard (also when a test panics).
pub struct SchemaGuard {
    pub admin_url: String,
    pub name: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (admin, schema) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: a thread with its own runtime may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(minutes::store::SqlStore::drop_pg_schema(&admin, &schema))
        })
        .join();
    }
}
