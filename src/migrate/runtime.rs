//! The runtime copies run on: its own threads at a lower CPU priority (nice 10),
//! so that while many mailboxes are being copied, logins (the password check,
//! hashing) and mail sessions keep their latency. A copy is bulk work that can
//! wait a few milliseconds; a user typing a password cannot.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

/// How much lower copy threads run than the rest of the daemon.
const COPY_NICE: libc::c_int = 10;

/// The handle to spawn copy work on (created at first use, kept for the
/// process's lifetime, like tokio's own blocking pool).
pub fn copies() -> Handle {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("ferrymail-copy")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("cannot start the copy runtime's threads")
    })
    .handle()
    .clone()
}

/// Lowers the calling thread's priority (Linux: `setpriority` on a thread id
/// applies to that thread only). A failure only costs latency, so it is logged.
fn lower_priority() {
    // SAFETY: gettid and setpriority take no pointers.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, COPY_NICE)
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the priority of a copy thread");
    }
}
