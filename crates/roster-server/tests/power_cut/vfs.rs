//! A power switch under SQLite: a VFS layer over the Unix VFS that remembers, for every
//! file, what each write since the file's last sync overwrote, and can cut the power at
//! the n-th write or sync.
//!
//! It is registered as the process's default VFS under the Unix VFS's own name, so that
//! every connection the store opens goes through it, the writer's log layer included
//! (that layer sits only on a VFS named `unix`, and this one behaves as the Unix VFS,
//! which it calls for everything).
//!
//! A cut turns the machine off: the write or sync it falls on does not happen, and every
//! file handle opened before it fails all further I/O (reads, writes, syncs, deletes), so
//! nothing more reaches the disk whatever the connections still try. [`restore`] then
//! puts every file back as the disk would hold it after the power came back: each write
//! not followed by a sync of its file undone, newest first, and the shared-memory index
//! (memory, not disk) gone. Syncs are not passed to the disk: here a sync only decides
//! what survives the cut, which keeps thousands of cuts quick.

use rusqlite::ffi;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

/// What a write, truncate or size hint replaced: the bytes it overwrote (those within the
/// old size) and the size the file had.
struct Undo {
    offset: u64,
    old: Vec<u8>,
    old_size: u64,
}

#[derive(Default)]
struct Power {
    /// Cut at this event (1-based); events are counted only while armed.
    cut_at: Option<u64>,
    events: u64,
    off: bool,
    /// Handles opened in an earlier generation were alive when the power went.
    generation: u64,
    /// Unsynced changes, by file path, oldest first.
    unsynced: HashMap<String, Vec<Undo>>,
    open_handles: usize,
}

static POWER: Mutex<Option<Power>> = Mutex::new(None);

/// The Unix VFS, which does the work. (Not the VFS a call comes with: a layer over this
/// one, the writer's log layer, copies its entry points and calls them with its own.)
static UNIX: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(std::ptr::null_mut());

fn power() -> MutexGuard<'static, Option<Power>> {
    POWER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on the switch's state (installing the layer is what creates it).
fn with<T>(f: impl FnOnce(&mut Power) -> T) -> T {
    let mut guard = power();
    f(guard.get_or_insert_with(Power::default))
}

/// Installs the layer as the default VFS, once per process, before any connection opens.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        with(|_| ());
        // SAFETY: the Unix VFS lives as long as the process; the copy is leaked, so the
        // pointer registered stays valid for ever.
        unsafe {
            let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
            assert!(!unix.is_null(), "the Unix VFS is built in");
            UNIX.store(unix, Ordering::SeqCst);
            let mut vfs = std::ptr::read(unix);
            vfs.szOsFile = (real_offset() + (*unix).szOsFile as usize) as c_int;
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            vfs.xDelete = Some(delete);
            let rc = ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 1);
            assert_eq!(rc, ffi::SQLITE_OK, "register the power-cut layer");
        }
    });
}

/// Counts writes and syncs from now on and cuts the power at the `n`-th (1-based).
pub fn arm(n: u64) {
    with(|p| {
        p.cut_at = Some(n);
        p.events = 0;
    });
}

/// Stops counting; returns the events counted and whether the power was cut.
pub fn disarm() -> (u64, bool) {
    with(|p| {
        p.cut_at = None;
        (p.events, p.off)
    })
}

/// The disk as it is now is the disk as it was synced: forgets what writes replaced.
pub fn all_synced() {
    with(|p| p.unsynced.clear());
}

/// File handles still open, of any generation.
pub fn open_handles() -> usize {
    with(|p| p.open_handles)
}

/// Brings the power back with the disk as the cut left it: when `lose_unsynced`, every
/// write no sync of its file followed is undone (a power cut); otherwise what was written
/// stays (a crash of the process alone). The shared-memory index at `shm` goes when the
/// power does. Handles from before stay dead.
pub fn restore(lose_unsynced: bool, shm: &std::path::Path) -> std::io::Result<()> {
    let unsynced = with(|p| {
        p.off = false;
        p.generation += 1;
        std::mem::take(&mut p.unsynced)
    });
    if lose_unsynced {
        for (path, undo) in unsynced {
            let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
                continue; // deleted since: nothing to restore
            };
            for u in undo.iter().rev() {
                file.write_all_at(&u.old, u.offset)?;
                file.set_len(u.old_size)?;
            }
        }
        match std::fs::remove_file(shm) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// One write or sync: whether it may happen (the power is on and this is not the cut).
fn event(p: &mut Power) -> bool {
    if p.off {
        return false;
    }
    if let Some(cut) = p.cut_at {
        p.events += 1;
        if p.events == cut {
            p.off = true;
            return false;
        }
    }
    true
}

#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    /// The file's path; `None` for SQLite's nameless temporary files.
    path: Option<String>,
    generation: u64,
}

const _: () = assert!(std::mem::align_of::<File>() <= 8);

const fn real_offset() -> usize {
    std::mem::size_of::<File>().div_ceil(8) * 8
}

unsafe fn real(p: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    p.cast::<u8>().add(real_offset()).cast()
}

unsafe fn this<'a>(p: *mut ffi::sqlite3_file) -> &'a File {
    &*p.cast::<File>()
}

/// Whether the handle was opened before the last cut, or the power is off now.
fn dead(p: &Power, f: &File) -> bool {
    p.off || f.generation != p.generation
}

macro_rules! forward {
    ($p:expr, $m:ident, $missing:expr $(, $arg:expr)*) => {{
        let inner = real($p);
        match (*(*inner).pMethods).$m {
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
    let _ = vfs;
    let unix = UNIX.load(Ordering::SeqCst);
    let Some(unix_open) = (*unix).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let mut guard = power();
    let Some(p) = guard.as_mut() else {
        return ffi::SQLITE_CANTOPEN;
    };
    (*file).pMethods = std::ptr::null();
    if p.off {
        return ffi::SQLITE_CANTOPEN;
    }
    let inner = real(file);
    (*inner).pMethods = std::ptr::null();
    let rc = unix_open(unix, name, inner, flags, out_flags);
    if (*inner).pMethods.is_null() {
        return rc;
    }
    let path = (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned());
    let f = file.cast::<File>();
    std::ptr::addr_of_mut!((*f).path).write(path);
    std::ptr::addr_of_mut!((*f).generation).write(p.generation);
    p.open_handles += 1;
    (*file).pMethods = &METHODS;
    rc
}

unsafe extern "C" fn delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    let _ = vfs;
    let unix = UNIX.load(Ordering::SeqCst);
    let mut guard = power();
    let Some(p) = guard.as_mut() else {
        return ffi::SQLITE_IOERR_DELETE;
    };
    if p.off {
        return ffi::SQLITE_IOERR_DELETE;
    }
    let Some(unix_delete) = (*unix).xDelete else {
        return ffi::SQLITE_IOERR_DELETE;
    };
    let rc = unix_delete(unix, name, sync_dir);
    if rc == ffi::SQLITE_OK && !name.is_null() {
        p.unsynced.remove(CStr::from_ptr(name).to_string_lossy().as_ref());
    }
    rc
}

unsafe extern "C" fn close(p: *mut ffi::sqlite3_file) -> c_int {
    with(|power| power.open_handles -= 1);
    std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p.cast::<File>()).path));
    forward!(p, xClose, ffi::SQLITE_OK)
}

/// The file's size and `len` bytes from `offset` (those within the size), read through
/// the Unix VFS.
unsafe fn before(p: *mut ffi::sqlite3_file, offset: i64, len: usize) -> Option<Undo> {
    let mut size: i64 = 0;
    if forward!(p, xFileSize, ffi::SQLITE_IOERR_FSTAT, &raw mut size) != ffi::SQLITE_OK {
        return None;
    }
    let keep = usize::try_from((size - offset).max(0)).ok()?.min(len);
    let mut old = vec![0u8; keep];
    if keep > 0
        && forward!(
            p,
            xRead,
            ffi::SQLITE_IOERR_READ,
            old.as_mut_ptr().cast(),
            keep as c_int,
            offset
        ) != ffi::SQLITE_OK
    {
        return None;
    }
    Some(Undo {
        offset: u64::try_from(offset.min(size)).ok()?,
        old,
        old_size: u64::try_from(size).ok()?,
    })
}

/// Records what a change to `len` bytes from `offset` replaces, for a named file.
unsafe fn remember(power: &mut Power, p: *mut ffi::sqlite3_file, offset: i64, len: usize) -> bool {
    let Some(path) = this(p).path.clone() else {
        return true;
    };
    match before(p, offset, len) {
        Some(undo) => {
            power.unsynced.entry(path).or_default().push(undo);
            true
        }
        None => false,
    }
}

unsafe extern "C" fn write(p: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    let mut guard = power();
    let Some(power) = guard.as_mut() else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if dead(power, this(p)) || !event(power) {
        return ffi::SQLITE_IOERR_WRITE;
    }
    if !remember(power, p, offset, usize::try_from(amount).unwrap_or(0)) {
        return ffi::SQLITE_IOERR_WRITE;
    }
    forward!(p, xWrite, ffi::SQLITE_IOERR_WRITE, data, amount, offset)
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let mut guard = power();
    let Some(power) = guard.as_mut() else {
        return ffi::SQLITE_IOERR_TRUNCATE;
    };
    if dead(power, this(p)) || !event(power) {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    if !remember(power, p, size, usize::MAX >> 1) {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    forward!(p, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

unsafe extern "C" fn sync(p: *mut ffi::sqlite3_file, _flags: c_int) -> c_int {
    let mut guard = power();
    let Some(power) = guard.as_mut() else {
        return ffi::SQLITE_IOERR_FSYNC;
    };
    if dead(power, this(p)) || !event(power) {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    if let Some(path) = &this(p).path {
        power.unsynced.remove(path);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn read(p: *mut ffi::sqlite3_file, data: *mut c_void, amount: c_int, offset: i64) -> c_int {
    if with(|power| dead(power, this(p))) {
        return ffi::SQLITE_IOERR_READ;
    }
    forward!(p, xRead, ffi::SQLITE_IOERR_READ, data, amount, offset)
}

unsafe extern "C" fn file_size(p: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    if with(|power| dead(power, this(p))) {
        return ffi::SQLITE_IOERR_FSTAT;
    }
    forward!(p, xFileSize, ffi::SQLITE_IOERR_FSTAT, size)
}

unsafe extern "C" fn file_control(p: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    let mut guard = power();
    let Some(power) = guard.as_mut() else {
        return ffi::SQLITE_IOERR;
    };
    if dead(power, this(p)) {
        return ffi::SQLITE_IOERR;
    }
    if op == ffi::SQLITE_FCNTL_SIZE_HINT {
        // The Unix VFS grows the file to the hint: undone as an empty write at its end.
        if !remember(power, p, i64::MAX, 0) {
            return ffi::SQLITE_IOERR;
        }
    }
    forward!(p, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

// Locks and the shared-memory index live in memory: they pass through, except that a
// dead handle's index cannot be reached.

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
    if with(|power| dead(power, this(p))) {
        return ffi::SQLITE_IOERR_SHMMAP;
    }
    forward!(p, xShmMap, ffi::SQLITE_IOERR_SHMMAP, region, size, extend, out)
}

unsafe extern "C" fn shm_lock(p: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    // Unlocking stays possible: a dead connection lets go of what it held.
    if flags & ffi::SQLITE_SHM_LOCK != 0 && with(|power| dead(power, this(p))) {
        return ffi::SQLITE_IOERR_SHMLOCK;
    }
    forward!(p, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn shm_barrier(p: *mut ffi::sqlite3_file) {
    forward!(p, xShmBarrier, ());
}

unsafe extern "C" fn shm_unmap(p: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    // A dead handle never deletes the index file: the machine is off.
    let delete = if with(|power| dead(power, this(p))) { 0 } else { delete };
    forward!(p, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn fetch(p: *mut ffi::sqlite3_file, offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int {
    // No memory-mapped reads: every read goes through `read`, where the switch is.
    let _ = (p, offset, amount);
    *out = std::ptr::null_mut();
    ffi::SQLITE_OK
}

unsafe extern "C" fn unfetch(p: *mut ffi::sqlite3_file, offset: i64, page: *mut c_void) -> c_int {
    let _ = (p, offset, page);
    ffi::SQLITE_OK
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
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

/// Whether the power is off (cut and not yet restored).
pub fn is_off() -> bool {
    with(|p| p.off)
}
