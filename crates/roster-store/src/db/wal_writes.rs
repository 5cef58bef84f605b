//! One write per commit to SQLite's write-ahead log, for the writer's connection.
//!
//! SQLite appends each page of a commit to the log with two `pwrite` calls: the frame's
//! 24-byte header, then the page. A batch of twenty SCIM creates appends about 150
//! pages, so it made some 300 system calls before its one sync. This VFS wraps the
//! default one and, for log files only, gathers consecutive writes in a buffer that
//! reaches the file in one write before anything that must see the file: a sync, a
//! read, a size, a truncate, a file control, or a write somewhere else (a close drops
//! it: it belongs to no commit). Every other file (the database, the shared index) is
//! the default VFS's own, untouched.
//!
//! Sound only on a connection whose every commit syncs the log (`synchronous=FULL`) and
//! whose log frames never straddle a sync (SQLite pads a commit to a sector boundary,
//! across a sync, unless the file reports power-safe overwrites): other connections
//! read a frame once the commit has published it in the shared index, which SQLite
//! does after that sync, so they never read a frame still in the buffer. [`guard`]
//! checks both when the connection opens and refuses any later change of
//! `synchronous`. A transaction rolled back drops what is still buffered: its frames
//! are garbage, and writing them later could overwrite frames another connection has
//! committed meanwhile. A buffer that could not be written fails every sync until the
//! transaction is rolled back, so no commit goes without its frames.
//!
//! No crate offers this (the VFS crates implement whole file systems, not a layer over
//! SQLite's own), hence the hand-written FFI below, kept to the log file's methods.

use rusqlite::ffi;
use std::ffi::{c_char, c_int, c_void, CStr};
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
    /// A write of the buffer failed: syncs fail until the transaction is rolled back.
    lost: bool,
    /// Writes that reached the file (for the tests).
    writes: u64,
}

// SQLite allocates a file's `szOsFile` bytes with 8-byte alignment.
const _: () = assert!(std::mem::align_of::<LogFile>() <= 8);

const fn real_offset() -> usize {
    std::mem::size_of::<LogFile>().div_ceil(8) * 8
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

/// Makes `conn` (opened with this VFS) safe for it, or says why it cannot be: every
/// commit must sync and no frame may straddle a sync; from now on `synchronous` cannot
/// be changed, and a rollback drops what the log still buffers.
pub(crate) fn guard(conn: &rusqlite::Connection) -> Result<(), String> {
    let synchronous: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if synchronous < 2 {
        return Err(format!(
            "the writer's connection must sync every commit (synchronous {synchronous}, not FULL)"
        ));
    }
    let mut psow: c_int = -1;
    // SAFETY: `db` is the open connection's handle; the file control only reads the
    // main file's setting into `psow`, and the hooks installed are plain functions
    // whose argument is that same handle, which outlives them (a connection's hooks
    // go with it).
    unsafe {
        let db = conn.handle();
        let rc = ffi::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_POWERSAFE_OVERWRITE,
            (&raw mut psow).cast(),
        );
        if rc != ffi::SQLITE_OK || psow != 1 {
            return Err("the database file does not report power-safe overwrites".into());
        }
        ffi::sqlite3_rollback_hook(db, Some(rolled_back), db.cast());
        ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut());
    }
    Ok(())
}

/// The log file of `db`'s main database, if this VFS wrote it.
unsafe fn log_of(db: *mut ffi::sqlite3) -> Option<&'static mut LogFile> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    let rc = ffi::sqlite3_file_control(
        db,
        c"main".as_ptr(),
        ffi::SQLITE_FCNTL_JOURNAL_POINTER,
        (&raw mut file).cast(),
    );
    if rc != ffi::SQLITE_OK || file.is_null() || !std::ptr::eq((*file).pMethods, &LOG_METHODS) {
        return None;
    }
    Some(&mut *file.cast::<LogFile>())
}

unsafe extern "C" fn rolled_back(db: *mut c_void) {
    if let Some(log) = log_of(db.cast()) {
        log.buf.clear();
        log.lost = false;
    }
}

unsafe extern "C" fn authorize(
    _: *mut c_void,
    action: c_int,
    name: *const c_char,
    value: *const c_char,
    _: *const c_char,
    _: *const c_char,
) -> c_int {
    let sets_synchronous = action == ffi::SQLITE_PRAGMA
        && !name.is_null()
        && !value.is_null()
        && CStr::from_ptr(name).to_bytes().eq_ignore_ascii_case(b"synchronous");
    if sets_synchronous {
        ffi::SQLITE_DENY
    } else {
        ffi::SQLITE_OK
    }
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
    (*inner).pMethods = std::ptr::null();
    let rc = base_open(base, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK && (*inner).pMethods.is_null() {
        (*file).pMethods = std::ptr::null();
        return rc;
    }
    let log = file.cast::<LogFile>();
    std::ptr::addr_of_mut!((*log).start).write(0);
    std::ptr::addr_of_mut!((*log).buf).write(Vec::new());
    std::ptr::addr_of_mut!((*log).lost).write(false);
    std::ptr::addr_of_mut!((*log).writes).write(0);
    (*file).pMethods = &LOG_METHODS;
    rc
}

/// Writes the buffer to the file. On failure the buffer is dropped and the file marked
/// `lost`: the transaction those frames belong to can no longer commit.
unsafe fn flush(p: *mut ffi::sqlite3_file) -> c_int {
    let log = &mut *p.cast::<LogFile>();
    if log.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    let inner = real(p);
    let mut rc = ffi::SQLITE_IOERR_WRITE;
    if let Some(write) = methods(inner).xWrite {
        let mut offset = log.start;
        for piece in log.buf.chunks(MAX_WRITE) {
            // A piece is at most MAX_WRITE bytes, well within a c_int.
            rc = write(inner, piece.as_ptr().cast(), piece.len() as c_int, offset);
            if rc != ffi::SQLITE_OK {
                break;
            }
            log.writes += 1;
            offset += piece.len() as i64;
        }
    }
    log.buf.clear();
    if log.buf.capacity() > 2 * MAX_BUFFER {
        log.buf = Vec::new();
    }
    if rc != ffi::SQLITE_OK {
        log.lost = true;
    }
    rc
}

/// Closes the log, dropping whatever is still buffered. A commit syncs, and a sync
/// writes the buffer first, so what is left was never part of a commit: frames of a
/// transaction the connection abandoned by closing mid-way, whose write lock is already
/// released (and whose rollback hook could no longer find the log). Written now, they
/// could overwrite frames another connection has committed since; dropped, the file is
/// as a power cut at this point would leave it.
unsafe extern "C" fn close(p: *mut ffi::sqlite3_file) -> c_int {
    std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p.cast::<LogFile>()).buf));
    forward!(p, xClose, ffi::SQLITE_OK)
}

unsafe extern "C" fn write(p: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    let Ok(n) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if n == 0 {
        return ffi::SQLITE_OK;
    }
    let log = &mut *p.cast::<LogFile>();
    let contiguous = !log.buf.is_empty() && log.start + log.buf.len() as i64 == offset;
    if !contiguous || log.buf.len() + n > MAX_BUFFER {
        let rc = flush(p);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let log = &mut *p.cast::<LogFile>();
    if log.buf.try_reserve(n).is_err() {
        return ffi::SQLITE_IOERR_NOMEM;
    }
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
        return rc;
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
    if (*p.cast::<LogFile>()).lost {
        return ffi::SQLITE_IOERR_FSYNC;
    }
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

    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch() -> (Scratch, String) {
        let dir = std::env::temp_dir().join(format!("roster-wal-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db").to_str().unwrap().to_string();
        (Scratch(dir), path)
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

    /// Writes of the writer's log that reached the file, and bytes still buffered.
    fn log_state(conn: &rusqlite::Connection) -> (u64, usize) {
        // SAFETY: the connection is open and used by this thread alone.
        let log = unsafe { super::log_of(conn.handle()) }.expect("the log is written through this VFS");
        (log.writes, log.buf.len())
    }

    fn facts(conn: &rusqlite::Connection) -> (i64, i64, String) {
        conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(body)), 0), (SELECT integrity_check FROM pragma_integrity_check) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    fn insert(conn: &rusqlite::Connection, id: i64, size: i64) {
        conn.execute("INSERT INTO t (id, body) VALUES (?1, randomblob(?2))", [id, size])
            .unwrap();
    }

    /// Rows `ids` of `size` random bytes each, in one commit.
    fn insert_all(conn: &rusqlite::Connection, ids: std::ops::Range<i64>, size: i64) {
        conn.execute_batch("BEGIN").unwrap();
        for id in ids {
            insert(conn, id, size);
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn the_writer_writes_each_commit_at_once_and_others_read_it() {
        let (dir, path) = scratch();
        let writer = open_sqlite_writer(&path, PRAGMAS).unwrap();
        assert_eq!(vfs_of(&writer), super::NAME);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .unwrap();
        // One commit of about 3 MB: past the buffer's limit several times over, each
        // flush in pieces of the largest write the Unix VFS takes.
        insert_all(&writer, 0..3_000, 1_000);
        // Then small commits of a few pages each: one write apiece, where SQLite alone
        // makes two per page.
        let (before, _) = log_state(&writer);
        for i in 3_000..3_500 {
            insert(&writer, i, 100);
        }
        let (after, buffered) = log_state(&writer);
        assert_eq!(buffered, 0, "a commit leaves nothing in the buffer");
        assert!(
            (500..=505).contains(&(after - before)),
            "one write per commit, not {} for 500",
            after - before
        );
        let expected = (3_500, 3_000 * 1_000 + 500 * 100, "ok".to_string());
        // A connection of the default VFS reads every committed frame from the file.
        let reader = open_sqlite(&path, &[]).unwrap();
        assert_eq!(vfs_of(&reader), "unix");
        assert_eq!(facts(&reader), expected);
        // The log read back by a checkpoint on the writer, and started over.
        let busy: i64 = writer
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0);
        insert(&writer, 4_000, 10);
        drop(reader);
        // The files as written, copied while the writer is open and recovered by a
        // connection that never saw the shared index: every commit is in the log file.
        let copy = dir.0.join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(format!("{path}-wal"), dir.0.join("copy.db-wal")).unwrap();
        let recovered = open_sqlite(copy.to_str().unwrap(), &[]).unwrap();
        assert_eq!(facts(&recovered), (3_501, expected.1 + 10, "ok".to_string()));
    }

    #[test]
    fn a_rolled_back_transaction_leaves_nothing_to_write_over_another_commit() {
        let (_dir, path) = scratch();
        let writer = open_sqlite_writer(&path, PRAGMAS).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .unwrap();
        insert_all(&writer, 0..2_000, 1_000);
        // With the log copied back, and a cache of 10 pages, the update spills its
        // pages into the log before it ends: some written, the last still buffered when
        // it is rolled back (a read of the log writes the buffer first).
        writer
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size = 10; BEGIN")
            .unwrap();
        let (before, _) = log_state(&writer);
        writer.execute("UPDATE t SET body = randomblob(1000)", []).unwrap();
        let (during, buffered) = log_state(&writer);
        assert!(during > before && buffered > 0, "the update spilled into the log");
        writer.execute_batch("ROLLBACK").unwrap();
        assert_eq!(log_state(&writer).1, 0, "a rollback drops what is buffered");
        // Another connection commits into the log over where the spilled frames went;
        // the writer then reads the log (a checkpoint) and writes again.
        let other = open_sqlite(&path, &["PRAGMA synchronous = FULL"]).unwrap();
        insert_all(&other, 10_000..13_000, 1_000);
        let busy: i64 = writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0);
        insert(&writer, 20_000, 10);
        let (rows, bytes, check) = facts(&other);
        assert_eq!((rows, check.as_str()), (5_001, "ok"));
        assert_eq!(bytes, 5_000 * 1_000 + 10);
    }

    #[test]
    fn a_connection_closed_mid_transaction_writes_nothing_more_to_the_log() {
        let (_dir, path) = scratch();
        let writer = open_sqlite_writer(&path, PRAGMAS).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .unwrap();
        insert_all(&writer, 0..2_000, 1_000);
        // Another connection keeps the log in place when the writer closes.
        let other = open_sqlite(&path, &["PRAGMA synchronous = FULL"]).unwrap();
        assert_eq!(facts(&other).0, 2_000);
        let log = format!("{path}-wal");
        let log_len = || std::fs::metadata(&log).unwrap().len();
        // With a cache of 10 pages the update spills into the log before it ends; the
        // last of it is still buffered when the connection closes, never committed.
        writer
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size = 10; BEGIN")
            .unwrap();
        writer.execute("UPDATE t SET body = randomblob(1000)", []).unwrap();
        let (_, buffered) = log_state(&writer);
        assert!(buffered > 0, "the transaction's last frames are buffered");
        let before = log_len();
        drop(writer);
        assert_eq!(log_len(), before, "the abandoned frames never reached the log");
        let (rows, bytes, check) = facts(&other);
        assert_eq!((rows, bytes, check.as_str()), (2_000, 2_000 * 1_000, "ok"));
        // The database takes new commits as usual.
        let again = open_sqlite_writer(&path, PRAGMAS).unwrap();
        insert_all(&again, 5_000..5_010, 10);
        assert_eq!(facts(&other).0, 2_010);
    }

    #[test]
    fn the_writer_refuses_commits_that_do_not_sync() {
        let (_dir, path) = scratch();
        let refused = open_sqlite_writer(&path, &["PRAGMA synchronous = NORMAL;"]);
        assert!(
            refused.is_err_and(|e| e.to_string().contains("sync every commit")),
            "a log buffered until a sync that never comes would hide commits from readers"
        );
        let writer = open_sqlite_writer(&path, PRAGMAS).unwrap();
        assert!(writer.execute_batch("PRAGMA synchronous = NORMAL").is_err());
        assert!(writer.execute_batch("PRAGMA main.synchronous = OFF").is_err());
        let synchronous: i64 = writer.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(synchronous, 2, "reading the setting is allowed, and it is unchanged");
    }
}
