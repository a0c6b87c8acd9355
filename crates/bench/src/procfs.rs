//! Process measurements from /proc (Linux): resident memory and CPU time of a process tree.

/// Resident set size of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// A `kB` field of /proc/<pid>/status in KiB: `VmRSS`, or its parts `RssAnon` (heap, stacks) and
/// `RssFile` (mapped files: an mmap'ed database counts here, once per mapping).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, stat_fields(p)?.get(1)?.parse().ok()?)))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// Open file descriptors of `pid` (entries of /proc/<pid>/fd) by kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fds {
    pub total: usize,
    pub sockets: usize,
    /// Paths: the database, its WAL and shared memory, logs…
    pub files: usize,
    /// Pipes, eventfds, epoll and other anonymous inodes.
    pub other: usize,
}

pub fn open_fds(pid: u32) -> Fds {
    let mut fds = Fds::default();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        fds.total += 1;
        match std::fs::read_link(entry.path()) {
            Ok(target) if target.starts_with("/") => fds.files += 1,
            Ok(target) if target.to_string_lossy().starts_with("socket:") => fds.sockets += 1,
            _ => fds.other += 1,
        }
    }
    fds
}

/// Threads of `pid`.
pub fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

pub fn tree_rss_kib(pid: u32) -> u64 {
    tree(pid).into_iter().map(rss_kib).sum()
}

/// The fields of /proc/<pid>/stat after the command name (state is index 0, ppid 1, utime 11).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

pub use e2e::cpu_time;

/// Descriptors a process needs besides its sockets: its database and logs, pipes, epoll.
pub const FD_HEADROOM: u64 = 1024;

/// Raises this process's open-file limit (children inherit it: the host holds the server side of
/// every socket) to what `sockets` sockets and [`FD_HEADROOM`] need, or at least to the hard
/// limit: the common default of 1024 holds too few. Past the hard limit only with
/// CAP_SYS_RESOURCE (root, usually); returns the limit it got.
pub fn raise_fd_limit(sockets: usize) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        let wanted = sockets as u64 + FD_HEADROOM;
        if limit.rlim_max != libc::RLIM_INFINITY && limit.rlim_max < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: wanted,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return wanted;
            }
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// Bytes `pid` has caused to be written to storage (`write_bytes` of /proc/<pid>/io: the WAL, the
/// database, checkpoints).
pub fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Times the threads of `pid` blocked (voluntary context switches: waiting for a lock, a sleep,
/// I/O, a socket), summed over its threads.
pub fn voluntary_switches(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}
