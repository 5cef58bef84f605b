//! One write per commit to SQLite's write-ahead log, for the writer's connection.
//!
//! SQLite appends each page of a commit to the log with two `pwrite` calls: the frame's
//! 24-byte header, then the page. A batch of twenty SCIM creates appends about 150
//! pages, so it made some 300 system calls before its one sync. This VFS wraps the
//! default one and, for log files only, gathers consecutive writes in a buffer that
//! reaches the file in one write before anything that must see the file: a sync, a
//! read, a size, a truncate, a file control, a close, or a write somewhere else. Every
//! other file (the database, the shared index) is the default VFS's own, untouched.
//!
//! Sound only on a connection whose every commit syncs the log (`synchronous=FULL`):
//! other connections read a frame once the commit has published it in the shared
//! index, which SQLite does after that sync, so they never read a frame still in the
//! buffer. [`super::open_sqlite`] refuses this VFS under any other setting.
//!
//! No crate offers this (the VFS crates implement whole file systems, not a layer over
//! SQLite's own), hence the hand-written FFI below, kept to the log file's methods.

use rusqlite::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

/// The name the VFS is registered under.
pub(crate) const NAME: &str = "roster-wal";
const NAME_C: &CStr = c"roster-wal";

/// A buffer larger than this goes to the file before it grows further.
const MAX_BUFFER: usize = 1 << 20;
/// The most one write of the Unix VFS takes: it writes at most 128 KiB less a byte per
/// call (and nothing at all of exactly 128 KiB), so a buffer goes in pieces of 31 frames.
const MAX_WRITE: usize = 31 * (24 + 4096);

/// The log file as SQLite sees it: the methods pointer SQLite calls through, the
/// buffer, and after them (at [`real_offset`]) the default VFS's own file.
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    /// File offset of `buf[0]`.
    start: i64,
    buf: Vec<u8>,
}

const fn real_offset() -> usize {
    let size = std::mem::size_of::<LogFile>();
    let align = 16;
    size.div_ceil(align) * align
}

/// Registers the VFS (once per process) and returns whether it is available. It wraps
/// only the Unix VFS, whose behaviour it relies on; elsewhere it is not registered and
/// connections use the default.
pub(crate) fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find initialises the library and returns the default VFS,
        // which lives as long as the process. The copy is leaked, so the pointer handed
        // to sqlite3_vfs_register stays valid for ever.
        unsafe {
            let base = ffi::sqlite3_vfs_find(std::ptr::null());
            if base.is_null() || CStr::from_ptr((*base).zName) != c"unix" {
                return false;
            }
            let mut vfs = std::ptr::read(base);
            vfs.szOsFile = (real_offset() + (*base).szOsFile as usize) as c_int;
            vfs.pNext = std::ptr::null_mut();
            vfs.zName = NAME_C.as_ptr();
            // The Unix VFS's other entry points ignore the VFS they are called with.
            vfs.pAppData = base.cast::<c_void>();
            vfs.xOpen = Some(open);
            ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0) == ffi::SQLITE_OK
        }
    })
}

unsafe fn real(p: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    p.cast::<u8>().add(real_offset()).cast()
}

unsafe fn methods(real: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real).pMethods
}

/// Calls method `$m` of the default VFS's file behind `$p`, or answers `$missing` when
/// that file has no such method (no panic may cross into SQLite).
macro_rules! forward {
    ($p:expr, $m:ident, $missing:expr $(, $arg:expr)*) => {{
        let inner = real($p);
        match methods(inner).$m {
            Some(f) => f(inner $(, $arg)*),
            None => $missing,
        }
    }};
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = (*vfs).pAppData.cast::<ffi::sqlite3_vfs>();
    let Some(base_open) = (*base).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not the log: the default VFS's file, in place, with its own methods.
        return base_open(base, name, file, flags, out_flags);
    }
    let inner = real(file);
    let rc = base_open(base, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK && (*inner).pMethods.is_null() {
        (*file).pMethods = std::ptr::null();
        return rc;
    }
    let log = file.cast::<LogFile>();
    std::ptr::addr_of_mut!((*log).start).write(0);
    std::ptr::addr_of_mut!((*log).buf).write(Vec::new());
    (*file).pMethods = &LOG_METHODS;
    rc
}

/// Writes the buffer to the file. On failure the buffer is dropped: SQLite treats the
/// error as a failed write of those frames and never publishes them.
unsafe fn flush(p: *mut ffi::sqlite3_file) -> c_int {
    let log = &mut *p.cast::<LogFile>();
    if log.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    let inner = real(p);
    let Some(write) = methods(inner).xWrite else {
        log.buf.clear();
        return ffi::SQLITE_IOERR_WRITE;
    };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = log.start;
    for piece in log.buf.chunks(MAX_WRITE) {
        // A piece is at most MAX_WRITE bytes, well within a c_int.
        rc = write(inner, piece.as_ptr().cast(), piece.len() as c_int, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += piece.len() as i64;
    }
    log.buf.clear();
    if log.buf.capacity() > MAX_BUFFER {
        log.buf.shrink_to(MAX_BUFFER);
    }
    rc
}

unsafe extern "C" fn close(p: *mut ffi::sqlite3_file) -> c_int {
    let flushed = flush(p);
    let closed = forward!(p, xClose, ffi::SQLITE_OK);
    std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p.cast::<LogFile>()).buf));
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn write(p: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    let Ok(n) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let log = &mut *p.cast::<LogFile>();
    let contiguous = !log.buf.is_empty() && log.start + log.buf.len() as i64 == offset;
    if !contiguous || log.buf.len() + n > MAX_BUFFER {
        let rc = flush(p);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let log = &mut *p.cast::<LogFile>();
    if log.buf.is_empty() {
        log.start = offset;
    }
    log.buf
        .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), n));
    ffi::SQLITE_OK
}

unsafe extern "C" fn read(p: *mut ffi::sqlite3_file, data: *mut c_void, amount: c_int, offset: i64) -> c_int {
    let rc = flush(p);
    if rc != ffi::SQLITE_OK {
        return ffi::SQLITE_IOERR_READ;
    }
    forward!(p, xRead, ffi::SQLITE_IOERR_READ, data, amount, offset)
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let rc = flush(p);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    forward!(p, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

unsafe extern "C" fn sync(p: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let rc = flush(p);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    forward!(p, xSync, ffi::SQLITE_IOERR_FSYNC, flags)
}

unsafe extern "C" fn file_size(p: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    let rc = flush(p);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    forward!(p, xFileSize, ffi::SQLITE_IOERR_FSTAT, size)
}

unsafe extern "C" fn file_control(p: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    let rc = flush(p);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    forward!(p, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

// The rest pass straight through to the default VFS's file.

unsafe extern "C" fn lock(p: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(p, xLock, ffi::SQLITE_IOERR_LOCK, level)
}

unsafe extern "C" fn unlock(p: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(p, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}

unsafe extern "C" fn check_reserved_lock(p: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    forward!(p, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, out)
}

unsafe extern "C" fn sector_size(p: *mut ffi::sqlite3_file) -> c_int {
    forward!(p, xSectorSize, 4096)
}

unsafe extern "C" fn device_characteristics(p: *mut ffi::sqlite3_file) -> c_int {
    forward!(p, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn shm_map(
    p: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward!(p, xShmMap, ffi::SQLITE_IOERR_SHMMAP, region, size, extend, out)
}

unsafe extern "C" fn shm_lock(p: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    forward!(p, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn shm_barrier(p: *mut ffi::sqlite3_file) {
    forward!(p, xShmBarrier, ());
}

unsafe extern "C" fn shm_unmap(p: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward!(p, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn fetch(p: *mut ffi::sqlite3_file, offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int {
    // The log is never memory-mapped: answer "read it instead", as SQLite expects of a
    // file it cannot map.
    let _ = (p, offset, amount);
    *out = std::ptr::null_mut();
    ffi::SQLITE_OK
}

unsafe extern "C" fn unfetch(p: *mut ffi::sqlite3_file, offset: i64, page: *mut c_void) -> c_int {
    let _ = (p, offset, page);
    ffi::SQLITE_OK
}

static LOG_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use crate::db::{open_sqlite, open_sqlite_writer};

    const PRAGMAS: &[&str] = &["PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL;"];

    fn scratch() -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("roster-wal-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db").to_str().unwrap().to_string();
        (dir, path)
    }

    fn vfs_of(conn: &rusqlite::Connection) -> String {
        let mut vfs: *mut rusqlite::ffi::sqlite3_vfs = std::ptr::null_mut();
        // SAFETY: the handle is the open connection's; SQLITE_FCNTL_VFS_POINTER writes the
        // connection's VFS pointer, which lives as long as the process.
        unsafe {
            let rc = rusqlite::ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                rusqlite::ffi::SQLITE_FCNTL_VFS_POINTER,
                (&raw mut vfs).cast(),
            );
            assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
            std::ffi::CStr::from_ptr((*vfs).zName).to_str().unwrap().to_string()
        }
    }

    fn facts(conn: &rusqlite::Connection) -> (i64, i64, String) {
        conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(body)), 0), (SELECT integrity_check FROM pragma_integrity_check) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    #[test]
    fn the_writer_writes_the_log_through_this_vfs_and_others_read_it() {
        let (dir, path) = scratch();
        let writer = open_sqlite_writer(&path, PRAGMAS).unwrap();
        assert_eq!(vfs_of(&writer), super::NAME);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .unwrap();
        // One commit of about 3 MB: past the buffer's limit several times over, each
        // flush in pieces of the largest write the Unix VFS takes.
        writer.execute_batch("BEGIN").unwrap();
        for i in 0..3_000 {
            writer
                .execute("INSERT INTO t (id, body) VALUES (?1, randomblob(1000))", [i])
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        // Then many small commits, each appended to the log just after the last.
        for i in 3_000..3_500 {
            writer
                .execute("INSERT INTO t (id, body) VALUES (?1, randomblob(100))", [i])
                .unwrap();
        }
        let expected = (3_500, 3_000 * 1_000 + 500 * 100, "ok".to_string());
        // A connection of the default VFS reads every committed frame from the file.
        let reader = open_sqlite(&path, &[]).unwrap();
        assert_eq!(vfs_of(&reader), "unix");
        assert_eq!(facts(&reader), expected);
        // A rolled-back transaction leaves nothing behind, and the next commit's frames
        // are written where SQLite puts them.
        writer.execute_batch("BEGIN; DELETE FROM t; ROLLBACK;").unwrap();
        writer
            .execute("INSERT INTO t (id, body) VALUES (4000, randomblob(10))", [])
            .unwrap();
        let expected = (3_501, expected.1 + 10, "ok".to_string());
        assert_eq!(facts(&reader), expected);
        // The log read back by a checkpoint on the writer, and started over.
        let (busy, _, _): (i64, i64, i64) = writer
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(busy, 0);
        writer
            .execute("INSERT INTO t (id, body) VALUES (4001, randomblob(10))", [])
            .unwrap();
        drop(reader);
        // The files as written, copied while the writer is open and recovered by a
        // connection that never saw the shared index: every commit is in the log file.
        let copy = dir.join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(format!("{path}-wal"), dir.join("copy.db-wal")).unwrap();
        let recovered = open_sqlite(copy.to_str().unwrap(), &[]).unwrap();
        assert_eq!(facts(&recovered), (3_502, expected.1 + 10, "ok".to_string()));
        drop((recovered, writer));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_writer_refuses_commits_that_do_not_sync() {
        let (dir, path) = scratch();
        let refused = open_sqlite_writer(&path, &["PRAGMA synchronous = NORMAL;"]);
        assert!(
            refused.is_err_and(|e| e.to_string().contains("sync every commit")),
            "a log buffered until a sync that never comes would hide commits from readers"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
