//! How many clients this process can really serve. Every client is a thread and a socket,
//! and the kernel caps both: open files (`RLIMIT_NOFILE`), memory maps (`vm.max_map_count`;
//! each thread takes several) and threads system-wide (`kernel.threads-max`,
//! `kernel.pid_max`). Past any of them, creating a thread fails, and a thread whose stack
//! guard can't be mapped aborts the whole process; so the server works out its capacity at
//! start, with headroom, and turns connections beyond it away as `server full`.

use std::fmt;
use std::fs;
use std::thread;

/// Descriptors kept free for everything but clients (listener, epoll, log, accepting a
/// connection only to refuse it), or a quarter of a lower limit.
const SPARE_FILES: u64 = 64;

/// Memory maps kept free for everything but client threads (the allocator's arenas, say).
const SPARE_MAPS: u64 = 2048;

/// Threads (system-wide) kept free for the rest of the machine.
const SPARE_THREADS: u64 = 512;

/// The memory maps a client thread takes: its stack and the stack's guard page, and its
/// signal stack and that one's guard page (measured: 4,073 maps with 1,000 clients, 2,072
/// with 500).
const MAPS_PER_THREAD: u64 = 4;

/// The memory maps each of the allocator's arenas takes; glibc makes up to eight arenas
/// per CPU, one for each of the first threads that allocate.
const MAPS_PER_ARENA: u64 = 2;
const ARENAS_PER_CPU: u64 = 8;

/// The kernel limit that caps the number of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// `RLIMIT_NOFILE`.
    OpenFiles(u64),
    /// `vm.max_map_count`, and the maps each thread takes.
    MapCount { limit: u64, per_thread: u64 },
    /// `kernel.threads-max` or `kernel.pid_max`, whichever is lower.
    Threads(u64),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::OpenFiles(limit) => write!(
                f,
                "the open-file limit ({limit}; raise it with `ulimit -n` or LimitNOFILE=)"
            ),
            Bound::MapCount { limit, per_thread } => write!(
                f,
                "vm.max_map_count ({limit}, and each client's thread takes {per_thread} maps; \
                 raise it with `sysctl -w vm.max_map_count=262144`)"
            ),
            Bound::Threads(limit) => write!(
                f,
                "the system's thread limit ({limit}; raise kernel.threads-max and kernel.pid_max \
                 with sysctl)"
            ),
        }
    }
}

/// How many clients fit, and which limit decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub clients: usize,
    pub bound: Bound,
}

/// What is in use now and what the kernel allows; `None` where it couldn't be read.
#[derive(Debug, Clone, Default)]
struct Readings {
    open_files: Option<(u64, u64)>,
    maps: Option<(u64, u64)>,
    maps_per_thread: u64,
    cpus: u64,
    threads: Option<(u64, u64)>,
}

/// Works out this process's capacity for client threads. A limit that can't be read is
/// taken as no limit.
pub fn measure() -> Capacity {
    let readings = Readings {
        open_files: open_files(),
        maps: read_number("/proc/sys/vm/max_map_count").zip(count_lines("/proc/self/maps")),
        maps_per_thread: MAPS_PER_THREAD,
        cpus: thread::available_parallelism().map_or(1, |cpus| cpus.get() as u64),
        threads: system_threads(),
    };
    capacity_from(&readings)
}

fn capacity_from(readings: &Readings) -> Capacity {
    let mut candidates = Vec::new();
    if let Some((limit, used)) = readings.open_files {
        let free = limit.saturating_sub(used + SPARE_FILES.min(limit / 4));
        candidates.push((free, Bound::OpenFiles(limit)));
    }
    if let Some((limit, used)) = readings.maps {
        let per_thread = readings.maps_per_thread.max(1);
        let arenas = readings.cpus * ARENAS_PER_CPU * MAPS_PER_ARENA;
        let free = limit.saturating_sub(used + SPARE_MAPS + arenas) / per_thread;
        candidates.push((free, Bound::MapCount { limit, per_thread }));
    }
    if let Some((limit, used)) = readings.threads {
        let free = limit.saturating_sub(used + SPARE_THREADS);
        candidates.push((free, Bound::Threads(limit)));
    }
    let (clients, bound) = candidates
        .into_iter()
        .min_by_key(|(free, _)| *free)
        .unwrap_or((u64::MAX, Bound::Threads(u64::MAX)));
    Capacity {
        clients: usize::try_from(clients).unwrap_or(usize::MAX),
        bound,
    }
}

fn open_files() -> Option<(u64, u64)> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    let used = fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some((limit, used))
}

/// Threads on the whole system (`/proc/loadavg`'s `running/total`) against the lower of
/// `kernel.threads-max` and `kernel.pid_max`.
fn system_threads() -> Option<(u64, u64)> {
    let threads_max = read_number("/proc/sys/kernel/threads-max");
    let pid_max = read_number("/proc/sys/kernel/pid_max");
    let limit = match (threads_max, pid_max) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let loadavg = fs::read_to_string("/proc/loadavg").ok()?;
    let total = loadavg.split_whitespace().nth(3)?.split_once('/')?.1;
    Some((limit, total.parse().ok()?))
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn count_lines(path: &str) -> Option<u64> {
    Some(fs::read_to_string(path).ok()?.lines().count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_limit_decides_with_headroom() {
        let readings = Readings {
            open_files: Some((1_000_000, 10)),
            maps: Some((65_530, 100)),
            maps_per_thread: 4,
            cpus: 2,
            threads: Some((32_768, 300)),
        };
        let capacity = capacity_from(&readings);
        assert_eq!(capacity.clients, (65_530 - 100 - 2048 - 32) / 4);
        assert!(matches!(
            capacity.bound,
            Bound::MapCount { limit: 65_530, .. }
        ));
        assert!(capacity.bound.to_string().contains("vm.max_map_count"));

        let few_files = Readings {
            open_files: Some((100, 12)),
            ..readings
        };
        assert_eq!(capacity_from(&few_files).clients, 100 - 12 - 25);
        assert!(capacity_from(&Readings::default()).clients > 1 << 40);
    }

    #[test]
    fn this_process_can_be_measured() {
        let capacity = measure();
        assert!(capacity.clients > 0, "{capacity:?}");
    }
}
