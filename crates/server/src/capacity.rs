//! How many clients this process can really serve. Every client is a thread and a socket,
//! and the kernel caps both: open files (`RLIMIT_NOFILE`), memory maps (`vm.max_map_count`;
//! each thread takes several), threads system-wide (`kernel.threads-max`,
//! `kernel.pid_max`) and, when one is set, address space (`RLIMIT_AS`). Past any of them, creating a thread fails, and a thread whose stack
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

/// The address space each allocator arena reserves (glibc, 64-bit).
const ARENA_BYTES: u64 = 64 << 20;

/// Address space kept free for the heap and the rest, under an address-space limit.
const SPARE_ADDRESS_SPACE: u64 = 64 << 20;

/// A client thread's address space besides its stack: the signal stack, at most 64 KiB,
/// and the guard pages.
const SIGNAL_STACK_AND_GUARDS: u64 = 64 << 10;

/// The kernel limit that caps the number of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// `RLIMIT_NOFILE`.
    OpenFiles(u64),
    /// `vm.max_map_count`, and the maps each thread takes.
    MapCount { limit: u64, per_thread: u64 },
    /// `kernel.threads-max` or `kernel.pid_max`, whichever is lower.
    Threads(u64),
    /// `RLIMIT_AS`, in bytes.
    AddressSpace(u64),
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
            Bound::AddressSpace(limit) => write!(
                f,
                "the address-space limit ({} MiB; raise it with `ulimit -v`)",
                limit >> 20
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
    /// The limit and the virtual size now, in bytes.
    address_space: Option<(u64, u64)>,
    /// The address space one client thread takes: its stack, its signal stack, guards.
    address_space_per_thread: u64,
}

/// Works out this process's capacity for client threads whose stacks are `stack_bytes`. A
/// limit that can't be read is taken as no limit.
pub fn measure(stack_bytes: usize) -> Capacity {
    let readings = Readings {
        open_files: open_files(),
        maps: read_number("/proc/sys/vm/max_map_count").zip(count_lines("/proc/self/maps")),
        maps_per_thread: MAPS_PER_THREAD,
        cpus: thread::available_parallelism().map_or(1, |cpus| cpus.get() as u64),
        threads: system_threads(),
        address_space: address_space(),
        address_space_per_thread: stack_bytes as u64 + SIGNAL_STACK_AND_GUARDS,
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
    if let Some((limit, used)) = readings.address_space {
        // Every arena the allocator may still make reserves its whole size up front.
        let arenas = readings.cpus * ARENAS_PER_CPU * ARENA_BYTES;
        let per_thread = readings.address_space_per_thread.max(1);
        let free = limit.saturating_sub(used + arenas + SPARE_ADDRESS_SPACE) / per_thread;
        candidates.push((free, Bound::AddressSpace(limit)));
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

/// `RLIMIT_AS` and this process's virtual size (`VmSize`), if a limit is set.
fn address_space() -> Option<(u64, u64)> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::As).current?;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some((limit, kib * 1024))
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
            address_space: None,
            address_space_per_thread: 0,
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
        let limited_space = Readings {
            open_files: None,
            maps: None,
            threads: None,
            address_space: Some((2 << 30, 200 << 20)),
            address_space_per_thread: 320 << 10,
            ..few_files
        };
        let expected = ((2 << 30) - (200 << 20) - 2 * 8 * (64 << 20) - (64 << 20)) / (320 << 10);
        assert_eq!(capacity_from(&limited_space).clients, expected);
    }

    #[test]
    fn this_process_can_be_measured() {
        let capacity = measure(256 * 1024);
        assert!(capacity.clients > 0, "{capacity:?}");
    }
}
